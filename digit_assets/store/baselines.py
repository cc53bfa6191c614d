"""Stateful-search goals in and out of the ``baseline_attempts`` table, solved or not."""

from __future__ import annotations

from dataclasses import asdict

import duckdb

from digit_assets.engine.baselines.search import Attempt
from digit_assets.engine.provenance import Provenance
from digit_assets.store import provenance_columns


def attempt_rows(attempts: list[Attempt], provenance: Provenance) -> list[dict[str, object]]:
    rows = []
    for attempt in attempts:
        row = asdict(attempt)
        row["status"] = "solved" if row.pop("solved") else "unsolved"
        rows.append({**row, **provenance_columns(provenance)})
    return rows


def attempts_per_domain(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(domain, solved, unsolved) turns per searched domain."""
    return conn.execute(
        "SELECT domain, count(*) FILTER (WHERE status = 'solved'), count(*) FILTER (WHERE status = 'unsolved')"
        " FROM baseline_attempts GROUP BY domain ORDER BY domain"
    ).fetchall()
