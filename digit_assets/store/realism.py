"""Rows of the ``realism_metrics`` table: the realism shares of every source, stamped with provenance."""

from __future__ import annotations

import duckdb
import polars as pl

from digit_assets.engine.provenance import Provenance
from digit_assets.store import insert_frame


def replace_realism_metrics(conn: duckdb.DuckDBPyConnection, metrics: pl.DataFrame, provenance: Provenance) -> int:
    """Replace the table with ``metrics`` (the latest measurement only); returns the rows written.

    Run inside a transaction so readers never see the table empty."""
    conn.execute("DELETE FROM realism_metrics")
    stamped = metrics.with_columns(
        run_id=pl.lit(provenance.run_id), seed=pl.lit(provenance.seed, pl.Int64), config_hash=pl.lit(provenance.config_hash)
    )
    return insert_frame(conn, "realism_metrics", stamped)


def load_realism_metrics(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stored realism rows (empty when the realism asset has not run yet)."""
    return pl.from_arrow(
        conn.sql(
            "SELECT source, variant, metric, tool, basis, numerator, denominator, value, ci_low, ci_high"
            " FROM realism_metrics ORDER BY source, variant, metric, tool NULLS FIRST"
        ).to_arrow_table()
    )
