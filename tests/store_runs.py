"""Synthesis materializations in separate processes against one DuckDB file, and table snapshots to
compare stores row for row (provenance run ids and timestamps aside)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import dagster as dg

from digit_assets.defs.ingestion.assets import dataflow_graph
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.store import Store
from pipeline_helpers import build_catalog, resources

REPO = Path(__file__).resolve().parents[1]

# What the synthesis stage writes; run_id and created_at differ between runs by design.
SYNTHESIS_TABLES = ("conversations", "synthesis_attempts", "llm_usage", "quarantine")
SHARDED_TABLES = ("conversations", "synthesis_attempts", "llm_usage")
VOLATILE_COLUMNS = {"run_id", "created_at"}

# One process: materialize the given shards of synthetic_conversations, one run each, in order,
# announcing each run on stdout ("pass <n> shard <k>") before it starts.
MATERIALIZE_SHARDS = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from digit_assets.defs.ingestion.assets import dataflow_graph
    from digit_assets.defs.resources import LLMResource, StoreResource
    from digit_assets.defs.synthesis.assets import synthetic_conversations

    database, conversations, *shards = sys.argv[1:]
    config = {"ops": {"synthetic_conversations": {"config": {"conversations": int(conversations)}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        for n, shard in enumerate(shards, start=1):
            print(f"pass {n} shard {shard}", flush=True)
            result = dg.materialize(
                [dataflow_graph, synthetic_conversations],
                selection=[synthetic_conversations],
                partition_key=shard,
                run_config=config,
                instance=instance,
                resources={"store": StoreResource(database=database), "llm": LLMResource()},
            )
            print(f"done {n} shard {shard} run {result.run_id}", flush=True)
    """
)


def start_materialize(database: Path, conversations: int, shards: list[str]) -> subprocess.Popen:
    """The script above in its own process; stdout carries the pass markers, stderr Dagster's log."""
    return subprocess.Popen(
        [sys.executable, "-c", MATERIALIZE_SHARDS, str(database), str(conversations), *shards],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def catalog_store(directory: Path) -> Path:
    """A store holding the shipped specs' catalog (what synthesis reads), built in-process once."""
    database = directory / "catalog.duckdb"
    build_catalog(dg.DagsterInstance.ephemeral(), database, REPO / "specs")
    return database


def copy_store(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def reference_synthesis(catalog: Path, target: Path, conversations: int, shards: list[str]) -> Path:
    """The shards synthesized in-process, one run after the other: the uninterrupted result."""
    database = copy_store(catalog, target)
    config = {"ops": {"synthetic_conversations": {"config": {"conversations": conversations}}}}
    for shard in shards:
        dg.materialize(
            [dataflow_graph, synthetic_conversations],
            selection=[synthetic_conversations],
            partition_key=shard,
            run_config=config,
            instance=dg.DagsterInstance.ephemeral(),
            resources=resources(database),
        )
    return database


def snapshot(database: Path, tables: tuple[str, ...] = SYNTHESIS_TABLES, shards: list[int] | None = None) -> dict[str, list[tuple]]:
    """Sorted rows of each table without the volatile columns (only the given shards where a table has them)."""
    rows = {}
    with Store(database).connect(read_only=True) as conn:
        for table in tables:
            columns = [c[0] for c in conn.execute(f"DESCRIBE {table}").fetchall() if c[0] not in VOLATILE_COLUMNS]
            where = ""
            if shards is not None and "shard" in columns:
                where = f" WHERE shard IN ({', '.join(str(int(s)) for s in shards)})"
            rows[table] = conn.execute(f"SELECT {', '.join(columns)} FROM {table}{where} ORDER BY ALL").fetchall()
    return rows


def run_ids_by_shard(database: Path, tables: tuple[str, ...] = SHARDED_TABLES) -> dict[int, set[str]]:
    """The run ids found in each shard's rows, over all the given tables together."""
    by_shard: dict[int, set[str]] = {}
    with Store(database).connect(read_only=True) as conn:
        for table in tables:
            found = conn.execute(f"SELECT shard, run_id FROM {table} WHERE shard IS NOT NULL GROUP BY ALL").fetchall()
            for shard, run_id in found:
                by_shard.setdefault(shard, set()).add(run_id)
    return by_shard


class Watcher:
    """Reads a process's stdout and stderr as they come; ``fired`` is set on the trigger line."""

    def __init__(self, process, trigger):
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.fired = threading.Event()
        self._trigger = trigger
        self._threads = [
            threading.Thread(target=self._read, args=(process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(process.stderr, self.stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)
            if self._trigger(self):
                self.fired.set()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)
