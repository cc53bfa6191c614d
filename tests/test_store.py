"""The DuckDB store: idempotent migrations, transactions, parameterized writes, closed connections."""

from __future__ import annotations

import duckdb
import pytest

from digit_assets.store import Store, apply_migrations, delete_where, insert_rows, migrations


def _row(name: str = "get_order") -> dict[str, object]:
    return {
        "namespace": "shop",
        "name": name,
        "description": "x",
        "parameters": '{"type": "object"}',
        "output_schema": None,
        "source_file": "shop.json",
        "source_format": "openai",
        "position": "[0]",
        "run_id": "r1",
        "seed": 1,
        "config_hash": "abc",
    }


def test_migrations_apply_once_and_record_versions(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with store.connect() as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
        assert versions == [v for v, _, _ in migrations()]
        assert apply_migrations(conn) == []  # second pass applies nothing


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            insert_rows(conn, "tool_specs", [_row()])
            raise RuntimeError("boom")
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM tool_specs").fetchone()[0] == 0


def test_insert_and_delete_by_partition(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with store.transaction() as conn:
        insert_rows(conn, "tool_specs", [_row("a"), _row("b")])
        delete_where(conn, "tool_specs", name="a")
    with store.connect() as conn:
        assert conn.execute("SELECT name FROM tool_specs").fetchall() == [("b",)]


def test_values_never_become_sql(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    hostile = "x'); DROP TABLE tool_specs; --"
    with store.transaction() as conn:
        insert_rows(conn, "tool_specs", [_row(hostile)])
    with store.connect() as conn:
        assert conn.execute("SELECT name FROM tool_specs").fetchone()[0] == hostile


def test_identifiers_are_checked(tmp_path):
    with Store(tmp_path / "s.duckdb").connect() as conn:
        with pytest.raises(ValueError, match="identifier"):
            delete_where(conn, "tool_specs; DROP TABLE quarantine", name="a")
        with pytest.raises(ValueError, match="every row"):
            delete_where(conn, "tool_specs")


def test_connection_is_closed_after_use(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with store.connect() as conn:
        pass
    with pytest.raises(duckdb.ConnectionException):
        conn.execute("SELECT 1")
    # and the file can be opened by another connection (no lock left behind)
    duckdb.connect(str(tmp_path / "s.duckdb")).close()


def test_read_only_requires_existing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize"):
        with Store(tmp_path / "missing.duckdb").connect(read_only=True):
            pass
