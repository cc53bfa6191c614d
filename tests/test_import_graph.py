"""The import graph of the project, read from the source with ``ast``: imports point down.

Every import counts, also those inside functions (a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("digit_assets", "analytics")
LLM_PORT = "digit_assets.engine.llm"
# What the LLM port may depend on inside the project besides itself.
LLM_PORT_MAY_IMPORT = frozenset({"digit_assets.engine.schema_refs"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules ``name`` imports: ``from a.b import c`` is ``a.b.c`` when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    sources = _sources()
    modules = set(sources)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in sources.items():
        graph.add_edges_from((name, target) for target in _imports(name, path, modules))
    return graph


def test_the_graph_is_read(graph: nx.DiGraph) -> None:
    assert graph.has_edge("digit_assets.engine.offline.dispatch", "digit_assets.engine.synthesis.roles")
    assert graph.has_edge("digit_assets.engine.synthesis.rollout", "digit_assets.engine.llm")
    assert graph.number_of_nodes() > 80


def test_no_import_cycles(graph: nx.DiGraph) -> None:
    cycles = [sorted(component) for component in nx.strongly_connected_components(graph) if len(component) > 1]
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_llm_port_is_a_leaf(graph: nx.DiGraph) -> None:
    """The port and the real client need nothing of the method, the offline engine, the store or Dagster."""
    port_modules = {name for name in graph if name == LLM_PORT or name.startswith(LLM_PORT + ".")}
    assert {"digit_assets.engine.llm.port", "digit_assets.engine.llm.openai_chat"} <= port_modules
    upward = {
        name: sorted(dependency for dependency in nx.descendants(graph, name) if dependency not in port_modules | LLM_PORT_MAY_IMPORT)
        for name in sorted(port_modules)
    }
    assert not any(upward.values()), f"the LLM port depends on modules above it: {upward}"


def test_the_method_does_not_import_the_offline_engine(graph: nx.DiGraph) -> None:
    """The method's rules must hold for any LLM, so they cannot lean on the offline algorithms."""
    method = sorted(name for name in graph if name.startswith("digit_assets.engine.synthesis"))
    offline = {name for name in graph if name.startswith("digit_assets.engine.offline")}
    leaning = {name: sorted(nx.descendants(graph, name) & offline) for name in method}
    assert not any(leaning.values()), f"method modules that depend on the offline engine: {leaning}"


def test_the_lexicon_stands_alone(graph: nx.DiGraph) -> None:
    assert not set(graph.successors("digit_assets.engine.lexicon"))


def test_a_cycle_and_an_upward_import_are_caught(tmp_path: Path) -> None:
    """The reading itself: a planted circle and a planted upward import are seen."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from pkg.a import g\n")
    (package / "c.py").write_text("from . import a\n")
    modules = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    planted = nx.DiGraph()
    for name in ("a", "b", "c"):
        planted.add_edges_from((f"pkg.{name}", target) for target in _imports(f"pkg.{name}", package / f"{name}.py", modules))
    assert set(planted.edges) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.a"), ("pkg.c", "pkg.a")}
    assert [sorted(c) for c in nx.strongly_connected_components(planted) if len(c) > 1] == [["pkg.a", "pkg.b"]]


def test_the_back_translator_does_not_read_with_the_writers_tables(graph: nx.DiGraph) -> None:
    """Back-translation is an independent check: it must not import the request writer, directly or not."""
    reader = "digit_assets.engine.offline.back_translator"
    writer = "digit_assets.engine.offline.request_writer"
    assert graph.has_node(reader) and graph.has_node(writer)
    assert writer not in nx.descendants(graph, reader)
