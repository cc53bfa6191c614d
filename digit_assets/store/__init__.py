"""The DuckDB store: one database file, schema by migrations applied on open, explicit SQL only.

Values always travel as bound parameters or as an Arrow table registered on the connection;
identifiers (table and column names) come from code and are checked before they reach SQL.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from digit_assets import settings

from digit_assets.engine.provenance import Provenance

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every bundled migration, in order."""
    found = []
    for entry in resources.files("digit_assets.store").joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration versions in digit_assets/store/migrations: {sorted(versions)}")
    return sorted(found)


def apply_migrations(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this database has not seen; returns the versions applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    newly = []
    for version, name, sql in migrations():
        if version in applied:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        newly.append(version)
    return newly


log = logging.getLogger(__name__)
# While waiting for another process's lock, a line is logged at most this often.
_LOCK_LOG_EVERY_S = 5.0


class StoreLockedError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than the store waits."""


def _is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "Could not set lock on file" in str(error)


class Store:
    """A DuckDB database file. Every connection is closed on exit, whatever happens inside.

    DuckDB admits one process per file (any mode) while a writer holds it; a connection attempt
    that meets another process's lock waits (exponential backoff, up to ``lock_timeout_s``) since
    the holder is usually a run finishing its transaction. The wait is logged while it lasts; its
    bound is ``DIGIT_TC_LOCK_TIMEOUT_S`` unless given.
    """

    def __init__(self, path: str | Path, lock_timeout_s: float | None = None):
        self.path = Path(path)
        self.lock_timeout_s = settings.lock_timeout_s() if lock_timeout_s is None else lock_timeout_s

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        retrying = Retrying(
            retry=retry_if_exception(_is_lock_conflict),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(self.lock_timeout_s),
            before_sleep=self._log_wait(),
            reraise=True,
        )
        try:
            return retrying(duckdb.connect, str(self.path), read_only=read_only)
        except duckdb.IOException as error:
            if not _is_lock_conflict(error):
                raise
            raise StoreLockedError(
                f"DuckDB store {self.path} stayed locked by another process for {self.lock_timeout_s:.0f}s: {error}"
            ) from error

    def _log_wait(self) -> Callable[[RetryCallState], None]:
        last_logged = [float("-inf")]

        def log_wait(state: RetryCallState) -> None:
            now = time.monotonic()
            if now - last_logged[0] >= _LOCK_LOG_EVERY_S:
                last_logged[0] = now
                log.warning(
                    "DuckDB store %s is locked by another process; waited %.1fs of %.0fs (DIGIT_TC_LOCK_TIMEOUT_S)",
                    self.path, state.seconds_since_start, self.lock_timeout_s,
                )

        return log_wait

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"DuckDB store {self.path} does not exist yet: materialize the pipeline first")
            conn = self._open(read_only=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._open(read_only=False)
        try:
            if not read_only:
                apply_migrations(conn)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert dict rows by column name through a registered Arrow table (fast, no SQL literals).

    Nested values (dicts, lists) must already be JSON strings for JSON columns.
    """
    if not rows:
        return 0
    columns = list(rows[0].keys())
    for row in rows:
        if list(row.keys()) != columns:
            raise ValueError(f"rows for {table} do not share one column list: {columns} vs {list(row.keys())}")
    return insert_frame(conn, table, pa.Table.from_pylist(list(rows)))


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: Any) -> int:
    """Insert a polars (or any Arrow-exportable) frame by column name; columns the table does not
    name are an error, columns the frame lacks take their defaults."""
    arrow = frame.to_arrow() if hasattr(frame, "to_arrow") else frame
    if arrow.num_rows == 0:
        return 0
    view = f"_incoming_{_identifier(table)}"
    conn.register(view, arrow)
    try:
        column_sql = ", ".join(_identifier(c) for c in arrow.column_names)
        conn.execute(f"INSERT INTO {_identifier(table)} ({column_sql}) SELECT {column_sql} FROM {view}")
    finally:
        conn.unregister(view)
    return arrow.num_rows


def delete_where(conn: duckdb.DuckDBPyConnection, table: str, **equals: Any) -> None:
    """DELETE rows matching every column = value; used to make partition writes idempotent."""
    if not equals:
        raise ValueError(f"refusing to delete every row of {table}")
    clause = " AND ".join(f"{_identifier(column)} = ?" for column in equals)
    conn.execute(f"DELETE FROM {_identifier(table)} WHERE {clause}", list(equals.values()))


def provenance_columns(provenance: Provenance) -> dict[str, object]:
    """The reproducibility stamps every generated row carries."""
    return {"run_id": provenance.run_id, "seed": provenance.seed, "config_hash": provenance.config_hash}
