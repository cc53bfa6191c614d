"""The fidelity stage: does stateless DiGiT-TC output look like stateful search?

The statistics live in ``analytics/`` (no Dagster there); this asset reads every stored
conversation, runs them, replaces the fidelity tables in one transaction (``store/fidelity``) and
writes the dashboard.
"""

import math
import time
from pathlib import Path

import dagster as dg
import polars as pl

from analytics.dashboard import claims_markdown, headline_metrics, summary_markdown, write_dashboard
from analytics.divergence import DivergenceSettings, analyze
from analytics.extract import extract_stored
from analytics.features import NUMERIC_FEATURES, FidelityFeatures, compute_features, source_profiles
from digit_assets import settings
from digit_assets.defs.baselines.assets import imported_baselines, stateful_search_baselines
from digit_assets.defs.resources import StoreResource
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.funnel import funnel_rows
from digit_assets.store.fidelity import replace_fidelity_tables


class FidelityConfig(dg.Config):
    """Knobs of the comparison; they are hashed into every row's config hash."""

    n_bootstrap: int = 200
    confidence: float = 0.95
    smoothing: float = 0.5
    seed: int = 0
    permutation_resamples: int = 999
    claim_permutations: int = 199
    jackknife_groups: int = 20
    max_turns_stratum: int = 5
    max_calls_per_turn_stratum: int = 6
    per_domain: bool = True

    def divergence_settings(self) -> DivergenceSettings:
        return DivergenceSettings(
            n_bootstrap=self.n_bootstrap,
            confidence=self.confidence,
            smoothing=self.smoothing,
            seed=self.seed,
            permutation_resamples=self.permutation_resamples,
            claim_permutations=self.claim_permutations,
            jackknife_groups=self.jackknife_groups,
            max_turns_stratum=self.max_turns_stratum,
            max_calls_per_turn_stratum=self.max_calls_per_turn_stratum,
            per_domain=self.per_domain,
        )


def dashboard_path() -> Path:
    return settings.data_dir() / "fidelity" / "dashboard.html"


def synthesis_funnel(conn) -> pl.DataFrame:
    """The acceptance funnel of the stored synthesis attempts, in pipeline stage order."""
    events = conn.execute("SELECT variant, turn, stage, accepted FROM synthesis_attempts").fetchall()
    return pl.DataFrame(
        funnel_rows(events),
        schema={"variant": pl.String, "level": pl.String, "stage": pl.String, "attempted": pl.Int64, "accepted": pl.Int64, "rejected": pl.Int64},
    )


def _distributions(features: FidelityFeatures) -> pl.DataFrame:
    names = features.categories["distribution"].unique().sort().to_list()
    return pl.concat(
        [features.pooled(name).with_columns(distribution=pl.lit(name)) for name in names]
        or [pl.DataFrame(schema={"variant": pl.String, "category": pl.String, "count": pl.Int64, "share": pl.Float64, "distribution": pl.String})]
    ).select("distribution", "variant", "category", "count", "share")


@dg.asset(
    group_name="fidelity",
    deps=[synthetic_conversations, stateful_search_baselines, imported_baselines],
    kinds={"duckdb", "plotly"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Features, raw and length-controlled divergences with BCa intervals (every variant vs every "
    "baseline, pooled and per domain), the claim tests and the dashboard.",
)
def fidelity_analysis(
    context: dg.AssetExecutionContext, config: FidelityConfig, store: StoreResource
) -> dg.MaterializeResult:
    provenance = Provenance.for_config(context.run.run_id, config.seed, config.model_dump())
    started = time.perf_counter()
    with store.store().connect() as conn:
        tables = extract_stored(conn)
        funnel = synthesis_funnel(conn)
    context.log.info(f"extracted {tables.conversations.height} conversations, {tables.calls.height} calls in {time.perf_counter() - started:.1f}s")
    features = compute_features(tables)
    results = analyze(features, settings=config.divergence_settings())
    sources = source_profiles(tables, features)
    context.log.info(f"{results.divergences.height} divergence rows after {time.perf_counter() - started:.1f}s")
    with store.store().transaction() as conn:
        written = replace_fidelity_tables(
            conn,
            {
                "fidelity_features": features.conversations.drop("conv"),
                "fidelity_distributions": _distributions(features),
                "fidelity_divergences": results.divergences,
                "fidelity_scores": results.scores,
                "fidelity_claims": results.claims,
                "fidelity_sources": sources,
            },
            provenance,
        )
    path = write_dashboard(features, results, sources, funnel, dashboard_path())
    per_variant = dict(features.conversations.group_by("variant").len().sort("variant").iter_rows())
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(summary_markdown(results.scores)),
            "claims": dg.MetadataValue.md(claims_markdown(results.claims)),
            "dashboard": dg.MetadataValue.path(str(path)),
            "dashboard_url": dg.MetadataValue.url(path.resolve().as_uri()),
            "conversations_per_variant": dg.MetadataValue.json(per_variant),
            "rows_written": dg.MetadataValue.json(written),
            "features": len(NUMERIC_FEATURES),
            "seconds": round(time.perf_counter() - started, 2),
            # Headline numbers as floats so the UI plots them across materializations.
            **{name: dg.MetadataValue.float(value) for name, value in headline_metrics(results).items() if math.isfinite(value)},
        }
    )
