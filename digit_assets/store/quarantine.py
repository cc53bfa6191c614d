"""Rejected items in and out of the ``quarantine`` table, for every stage that rejects."""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.specs import Rejection
from digit_assets.store import provenance_columns


def quarantine_rows(rejections: list[Rejection], provenance: Provenance) -> list[dict[str, object]]:
    return [{**rejection.model_dump(), **provenance_columns(provenance)} for rejection in rejections]


def _in(stages: Collection[str]) -> tuple[str, list[str]]:
    stages = sorted(stages)
    return ", ".join("?" for _ in stages), stages


def counts_by_source(conn: duckdb.DuckDBPyConnection, stages: Collection[str]) -> list[tuple[str, str, int]]:
    """(stage, source, items) of the given stages, sorted."""
    marks, params = _in(stages)
    return conn.execute(
        f"SELECT stage, source, count(*) FROM quarantine WHERE stage IN ({marks}) GROUP BY stage, source ORDER BY stage, source",
        params,
    ).fetchall()


def first_reasons(conn: duckdb.DuckDBPyConnection, stages: Collection[str], limit: int = 20) -> list[str]:
    """The reasons of the first quarantined items of the given stages, in the order they were stored."""
    marks, params = _in(stages)
    rows = conn.execute(
        f"SELECT reason FROM quarantine WHERE stage IN ({marks}) ORDER BY created_at, source, position LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [row[0] for row in rows]
