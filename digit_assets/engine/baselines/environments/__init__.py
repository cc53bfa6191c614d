"""The bundled executable domains: tool implementations, their MCP specs and shipped seed states."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import ModuleType

from digit_assets.engine.baselines.environments import files, retail, travel
from digit_assets.engine.baselines.environments.base import Environment, State, Tool, ToolError, load_seed

DOMAINS: dict[str, ModuleType] = {"files": files, "retail": retail, "travel": travel}
SEED_DIR = Path(__file__).parent / "data"


def seed_path(domain: str) -> Path:
    return SEED_DIR / f"{domain}_seed.json"


@cache
def load_environment(domain: str) -> Environment:
    """The domain's tools over its shipped seed state (loaded once per process)."""
    if domain not in DOMAINS:
        raise KeyError(f"unknown domain {domain!r}; bundled: {sorted(DOMAINS)}")
    return Environment(domain, DOMAINS[domain].TOOLS, load_seed(seed_path(domain)))


__all__ = ["DOMAINS", "Environment", "State", "Tool", "ToolError", "load_environment", "seed_path"]
