"""A synthesis run killed with SIGKILL (no cleanup, no rollback handler) leaves the store either as it
was or fully written, and re-running gives exactly the rows of an uninterrupted run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from store_runs import (
    Watcher,
    catalog_store,
    copy_store,
    reference_synthesis,
    run_ids_by_shard,
    snapshot,
    start_materialize,
)

CONVERSATIONS = 160  # 40 per shard and variant: a write of a few hundred rows
SHARD = "1"


def synthesis_finished_in_second_pass(watcher: Watcher) -> bool:
    """The second pass's last variant line: the shard's write transaction starts right after it."""
    return sum(f"shard {SHARD} no_bt" in line for line in watcher.stderr) >= 2


def test_sigkill_during_a_rewrite_leaves_old_or_new_rows_and_a_rerun_matches(tmp_path: Path):
    catalog = catalog_store(tmp_path)
    reference = snapshot(reference_synthesis(catalog, tmp_path / "reference.duckdb", CONVERSATIONS, [SHARD]))
    assert reference["conversations"] and reference["synthesis_attempts"]
    database = copy_store(catalog, tmp_path / "crashed" / "store.duckdb")

    # Pass 1 commits the shard; pass 2 rewrites it and is killed as its synthesis ends (or wherever it is).
    process = start_materialize(database, CONVERSATIONS, [SHARD, SHARD])
    watcher = Watcher(process, synthesis_finished_in_second_pass)
    while not watcher.fired.wait(timeout=0.05) and process.poll() is None:
        pass
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    watcher.join()
    first_run = next(line.split()[-1] for line in watcher.stdout if line.startswith("done 1"))
    assert any(line.startswith("pass 2") for line in watcher.stdout), watcher.stderr[-20:]

    after_kill = run_ids_by_shard(database)[int(SHARD)]
    if not killed:
        phase = "after the run (it finished before the kill)"
    elif after_kill == {first_run}:
        phase = "inside the write: synthesis done, transaction not committed"
    else:
        phase = "after the commit, before the process ended"
    print(f"SIGKILL landed: {phase}")
    # One run's rows in every table of the shard, never a mix or a half-deleted set; content as if never interrupted.
    assert len(after_kill) == 1, after_kill
    assert snapshot(database) == reference

    # The operator re-runs the shard: the same rows, once.
    rerun = start_materialize(database, CONVERSATIONS, [SHARD])
    _, errors = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, errors[-2000:]
    assert snapshot(database) == reference
    (rerun_ids,) = run_ids_by_shard(database).values()
    assert len(rerun_ids) == 1 and rerun_ids != {first_run}
