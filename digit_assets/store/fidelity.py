"""The fidelity tables in and out of the store: features, pooled distributions, divergences, family scores."""

from __future__ import annotations

import duckdb
import polars as pl

from analytics.features import FidelityFeatures
from digit_assets.engine.provenance import Provenance
from digit_assets.store import insert_frame

FIDELITY_TABLES = ("fidelity_features", "fidelity_distributions", "fidelity_divergences", "fidelity_scores")


def _stamped(frame: pl.DataFrame, provenance: Provenance) -> pl.DataFrame:
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
    conn: duckdb.DuckDBPyConnection,
    features: FidelityFeatures,
    divergences: pl.DataFrame,
    scores: pl.DataFrame,
    provenance: Provenance,
) -> None:
    """One analysis replaces the previous one in every fidelity table; call inside a transaction."""
    for table in FIDELITY_TABLES:
        conn.execute(f"DELETE FROM {table}")
    insert_frame(conn, "fidelity_features", _stamped(features.conversations.drop("conv"), provenance))
    insert_frame(conn, "fidelity_distributions", _stamped(distribution_rows(features), provenance))
    insert_frame(conn, "fidelity_divergences", _stamped(divergences, provenance))
    insert_frame(conn, "fidelity_scores", _stamped(scores, provenance))


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
    """Divergence values outside their metric's range: JS, KS and p-values in [0, 1], KL >= 0, never NaN."""
    return _frame(
        conn,
        """
        SELECT metric, kind, variant, baseline, value FROM fidelity_divergences
        WHERE value IS NOT NULL AND (
            isnan(value)
            OR (kind IN ('js', 'ks_stat', 'ks_p', 'perm_p') AND (value < -1e-12 OR value > 1 + 1e-12))
            OR (kind LIKE 'kl_%' AND value < -1e-12))
        """,
    )


def family_score_values(conn: duckdb.DuckDBPyConnection, family: str, score: str) -> pl.DataFrame:
    """(variant, baseline, value) of one family score."""
    return _frame(conn, "SELECT variant, baseline, value FROM fidelity_scores WHERE family = ? AND score = ?", [family, score])
