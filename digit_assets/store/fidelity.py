"""The fidelity tables in and out of the store: each holds the latest analysis only, replaced whole in
one transaction, and read back here for the asset checks."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from analytics.features import FidelityFeatures
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


def distribution_rows(features: FidelityFeatures) -> pl.DataFrame:
    """Every pooled categorical distribution, long format: one row per (distribution, variant, category)."""
    names = features.categories["distribution"].unique().sort().to_list()
    return pl.concat(
        [features.pooled(name).with_columns(distribution=pl.lit(name)) for name in names]
        or [pl.DataFrame(schema={"variant": pl.String, "category": pl.String, "count": pl.Int64, "share": pl.Float64, "distribution": pl.String})]
    ).select("distribution", "variant", "category", "count", "share")


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


def _frame(conn: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(conn.sql(query, params=params).to_arrow_table())


def feature_sources(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(source, variant) of every conversation the features were computed on."""
    return _frame(conn, "SELECT DISTINCT source, variant FROM fidelity_features")


def compared_pairs(conn: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(variant, baseline) pairs with divergences on non-empty samples."""
    rows = conn.execute("SELECT DISTINCT variant, baseline FROM fidelity_divergences WHERE n_variant > 0 AND n_baseline > 0").fetchall()
    return set(rows)


def divergence_count(conn: duckdb.DuckDBPyConnection) -> int:
    return int(conn.execute("SELECT count(*) FROM fidelity_divergences").fetchone()[0])


def out_of_range_divergences(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Divergence values outside their metric's range: JS, KS, p-values and coverage in [0, 1], KL >= 0, never NaN."""
    return _frame(
        conn,
        """
        SELECT metric, kind, variant, baseline, value FROM fidelity_divergences
        WHERE value IS NOT NULL AND (
            isnan(value)
            OR (kind IN ('js', 'ks_stat', 'ks_p', 'perm_p', 'coverage') AND (value < -1e-12 OR value > 1 + 1e-12))
            OR (kind LIKE 'kl_%' AND value < -1e-12))
        """,
    )


def pooled_claims(conn: duckdb.DuckDBPyConnection, reference: str, control: str = "length") -> pl.DataFrame:
    """The claim rows against one ablation, pooled over domains, one per (baseline, family)."""
    return _frame(
        conn,
        "SELECT baseline, family, difference, ci_low, ci_high, perm_p, holds, reason, n_metrics FROM fidelity_claims "
        "WHERE reference = ? AND control = ? AND domain = 'all' ORDER BY baseline, family",
        [reference, control],
    )


def not_applicable_violations(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Rows breaking the not-applicable rule: a reason with a value, a JS with neither, or a JS over an empty side."""
    return _frame(
        conn,
        "SELECT metric, kind, variant, baseline, domain, control, value, reason FROM fidelity_divergences "
        "WHERE (reason IS NOT NULL AND value IS NOT NULL) OR (value IS NULL AND reason IS NULL AND kind = 'js') "
        "OR (kind = 'js' AND (n_variant = 0 OR n_baseline = 0) AND value IS NOT NULL)",
    )


def not_applicable_reasons(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per baseline and reason, how many metrics (pooled over domains) have no value."""
    return _frame(
        conn,
        "SELECT baseline, reason, count(DISTINCT metric) AS metrics FROM fidelity_divergences "
        "WHERE reason IS NOT NULL AND domain = 'all' GROUP BY ALL ORDER BY ALL",
    )
