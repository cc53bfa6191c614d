"""Several processes on one DuckDB file: a connection waits for another process's lock, and two
materializations started together both succeed with the same rows as when run one after the other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from digit_assets.store import Store, StoreLockedError
from store_runs import Watcher, catalog_store, copy_store, reference_synthesis, run_ids_by_shard, snapshot, start_materialize

CONVERSATIONS = 80

# A second process that opens the store, writes a row inside an open transaction, says so, and
# keeps the file locked until its stdin closes.
HOLDER = textwrap.dedent(
    """
    import sys
    from digit_assets.store import Store
    with Store(sys.argv[1]).transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS holder_marks (mark VARCHAR)")
        conn.execute("INSERT INTO holder_marks VALUES ('written while holding the lock')")
        print("locked", flush=True)
        sys.stdin.read()
    print("released", flush=True)
    """
)


def start_holder(database: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_connect_waits_for_another_process_lock_then_sees_its_commit(tmp_path):
    database = tmp_path / "store.duckdb"
    holder = start_holder(database)
    try:
        # The holder lets go a second after this test starts waiting for the file.
        threading.Timer(1.0, holder.stdin.close).start()
        with Store(database, lock_timeout_s=60).connect() as conn:
            marks = conn.execute("SELECT mark FROM holder_marks").fetchall()
        # Connecting succeeded only once the holder had committed and let go of the file.
        assert marks == [("written while holding the lock",)]
        assert holder.wait(timeout=60) == 0 and holder.stdout.read().strip() == "released"
    finally:
        holder.kill()


def test_a_lock_held_past_the_timeout_names_the_file(tmp_path):
    database = tmp_path / "store.duckdb"
    holder = start_holder(database)
    try:
        with pytest.raises(StoreLockedError, match="store.duckdb stayed locked by another process") as raised:
            with Store(database, lock_timeout_s=1).connect(read_only=True):
                pass
        assert "Could not set lock on file" in str(raised.value.__cause__)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_two_materializations_at_once_both_wait_then_write_the_right_rows(tmp_path):
    """Two synthesis runs start while a third process holds the file: both wait, then take turns."""
    catalog = catalog_store(tmp_path)
    shards = ["0", "2"]
    reference = snapshot(reference_synthesis(catalog, tmp_path / "reference.duckdb", CONVERSATIONS, shards))
    database = copy_store(catalog, tmp_path / "shared" / "store.duckdb")
    holder = start_holder(database)
    runs = [start_materialize(database, CONVERSATIONS, [shard]) for shard in shards]
    try:
        # Both runs are inside their step (about to read the catalog) before the file is released.
        watchers = [Watcher(run, lambda w: any("STEP_START" in line for line in w.stderr)) for run in runs]
        for watcher, run in zip(watchers, runs):
            while not watcher.fired.wait(timeout=0.1):
                assert run.poll() is None, "".join(watcher.stderr[-20:])
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
        for watcher, run in zip(watchers, runs):
            assert run.wait(timeout=300) == 0, "".join(watcher.stderr[-20:])
            watcher.join()
    finally:
        for process in (holder, *runs):
            process.kill()
    assert snapshot(database) == reference
    assert set(run_ids_by_shard(database)) == {int(shard) for shard in shards}
