"""Imports point down: engine < store < defs < runner < cli/local-model runner. Read from the source, every
import (also those inside functions), so a late import cannot hide an upward edge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "digit_assets"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("digit_assets")}


IMPORTS = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}

# (modules under this prefix, must import nothing under these prefixes)
RULES = [
    ("digit_assets.engine", ("digit_assets.store", "digit_assets.defs", "digit_assets.runner", "digit_assets.cli", "digit_assets.local_model")),
    ("digit_assets.store", ("digit_assets.defs", "digit_assets.runner", "digit_assets.cli", "digit_assets.local_model")),
    ("digit_assets.defs", ("digit_assets.runner", "digit_assets.cli", "digit_assets.local_model")),
    ("digit_assets.runner", ("digit_assets.cli", "digit_assets.local_model")),
    ("digit_assets.local_model", ("digit_assets.cli",)),
]


@pytest.mark.parametrize(("layer", "above"), RULES, ids=[layer for layer, _ in RULES])
def test_no_module_imports_a_layer_above_it(layer, above):
    upward = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if module == layer or module.startswith(layer + ".")
        for name in names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in above)
    )
    assert upward == []


def test_the_rules_see_the_modules_they_govern():
    # A rule over a renamed or empty layer would pass without checking anything.
    for layer, _ in RULES:
        assert any(module == layer or module.startswith(layer + ".") for module in IMPORTS), layer
    assert "digit_assets.store" in IMPORTS["digit_assets.store.llm_cache"]
    assert "digit_assets.runner" in IMPORTS["digit_assets.local_model"]
