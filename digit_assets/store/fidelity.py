"""The fidelity tables: each holds the latest analysis only, replaced whole in one transaction."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from digit_assets.engine.provenance import Provenance
from digit_assets.store import insert_frame

FIDELITY_TABLES: tuple[str, ...] = (
    "fidelity_features",
    "fidelity_distributions",
    "fidelity_divergences",
    "fidelity_scores",
    "fidelity_claims",
    "fidelity_sources",
)


def stamped(frame: pl.DataFrame, provenance: Provenance) -> pl.DataFrame:
    """The frame with the run id, seed and config hash every generated row carries."""
    return frame.with_columns(
        run_id=pl.lit(provenance.run_id), seed=pl.lit(provenance.seed, pl.Int64), config_hash=pl.lit(provenance.config_hash)
    )


def replace_fidelity_tables(
    conn: duckdb.DuckDBPyConnection, frames: Mapping[str, pl.DataFrame], provenance: Provenance
) -> dict[str, int]:
    """Delete every fidelity table and insert the given frames (by table name); rows written per table.

    Call inside a transaction, so readers never see a half-written analysis."""
    unknown = sorted(set(frames) - set(FIDELITY_TABLES))
    if unknown:
        raise ValueError(f"not fidelity tables: {unknown}")
    for table in FIDELITY_TABLES:
        conn.execute(f"DELETE FROM {table}")
    return {table: insert_frame(conn, table, stamped(frame, provenance)) for table, frame in frames.items()}
