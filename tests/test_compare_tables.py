"""scripts/compare_tables.py: volatile columns are ignored, every other difference is reported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import pytest

_SPEC = importlib.util.spec_from_file_location("compare_tables", Path(__file__).resolve().parent.parent / "scripts" / "compare_tables.py")
assert _SPEC is not None and _SPEC.loader is not None
compare_tables = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compare_tables)


def _store(path: Path, rows: list[tuple], extra_table: bool = False) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE conversations (id VARCHAR, body JSON, config_hash VARCHAR, run_id VARCHAR, created_at TIMESTAMP)")
        con.executemany("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", rows)
        if extra_table:
            con.execute("CREATE TABLE extra (x INTEGER)")
    finally:
        con.close()
    return path


def test_run_ids_timestamps_and_order_do_not_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _store(tmp_path / "a.duckdb", [("c1", '{"k": 1}', "h1", "run-a", "2026-01-01 00:00:00"), ("c2", None, "h1", "run-a", "2026-01-01 00:00:01")])
    after = _store(tmp_path / "b.duckdb", [("c2", None, "h1", "run-b", "2026-02-02 00:00:00"), ("c1", '{"k": 1}', "h1", "run-b", "2026-02-02 00:00:05")])
    assert compare_tables.compare(before, after)
    assert "conversations: rows 2 vs 2, identical yes" in capsys.readouterr().out


def test_a_changed_value_a_config_hash_and_a_missing_table_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _store(tmp_path / "a.duckdb", [("c1", '{"k": 1}', "h1", "run-a", None), ("c2", '{"k": 2}', "h1", "run-a", None)])
    after = _store(tmp_path / "b.duckdb", [("c1", '{"k": 1}', "h2", "run-a", None), ("c2", '{"k": 3}', "h1", "run-a", None)], extra_table=True)
    assert not compare_tables.compare(before, after)
    out = capsys.readouterr().out
    assert "conversations: rows 2 vs 2, identical no" in out
    assert "2 rows only before, 2 only after" in out
    assert "'config_hash': 'h2'" in out and '{"k": 3}' in out
    assert "extra: only in after" in out
