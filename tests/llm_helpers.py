"""Shared pieces of the remote-LLM tests: a catalog built once, a one-shard synthesis run, store dumps."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from digit_assets.defs.resources import LLMResource
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.engine.synthesis.rollout import Catalog
from digit_assets.store import Store
from digit_assets.store.catalog import load_dataflow_edges, load_enriched_tools
from tests.conftest import REPO_SPECS
from tests.pipeline_helpers import build_catalog, resources


def build_catalog_database(root: Path) -> Path:
    """Specs ingested, enriched (offline) and linked into ``root/catalog.duckdb``; copy it per test."""
    database = root / "catalog.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGIT_TC_DATA_DIR", str(root / "data"))
        patch.setenv("DIGIT_TC_SPECS_DIR", str(REPO_SPECS))
        build_catalog(dg.DagsterInstance.ephemeral(), database, REPO_SPECS)
    return database


def catalog_of(database: Path) -> Catalog:
    """The catalog the synthesis asset reads from ``database``: what the fake server restores prompts with."""
    with Store(database).connect() as conn:
        return Catalog.build(load_enriched_tools(conn), load_dataflow_edges(conn))


def fresh_copy(database: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(database, directory / database.name))


def openai_resource(base_url: str, **fields) -> LLMResource:
    """Fast retries for loopback tests: a scripted 429 says ``Retry-After: 0``, backoff is milliseconds."""
    options = {"provider": "openai", "model": "fake-model", "base_url": base_url, "api_key": "sk-test",
               "timeout_s": 5.0, "backoff_s": 0.005, "max_backoff_s": 0.05}
    return LLMResource(**{**options, **fields})


def synthesize_shard(
    instance: dg.DagsterInstance, database: Path, llm: LLMResource, *, conversations: int, shard: int = 0, **knobs
) -> dg.ExecuteInProcessResult:
    """One partition of ``synthetic_conversations`` (DiGiT-TC only unless ``ablations=True``)."""
    config = {"conversations": conversations, "ablations": False, **knobs}
    return dg.materialize(
        [synthetic_conversations],
        partition_key=str(shard),
        run_config={"ops": {"synthetic_conversations": {"config": config}}},
        instance=instance,
        resources=resources(database, llm),
    )


def table_rows(database: Path, query: str) -> list[tuple]:
    with Store(database).connect() as conn:
        return conn.execute(query).fetchall()


def dump_every_table(database: Path) -> str:
    """Every row of every table and view as text, to search for what must not be there."""
    with Store(database).connect() as conn:
        names = [row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(f"{name}: {conn.execute(f'SELECT * FROM {name}').fetchall()!r}" for name in names)
