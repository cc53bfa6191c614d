"""The fidelity stage: does stateless DiGiT-TC output look like stateful search?

The statistics live in ``analytics/`` (no Dagster there); this asset reads every stored
conversation, runs them, replaces the fidelity tables in one transaction (``store/fidelity``) and
writes the dashboard.
"""

import json
import math
import time
from pathlib import Path

import dagster as dg
import polars as pl

from analytics.dashboard import claims_markdown, headline_metrics, summary_markdown, write_dashboard
from analytics.divergence import SYNTHESIS_VARIANTS, DivergenceSettings, analyze
from analytics.extract import extract_stored
from analytics.features import NUMERIC_FEATURES, compute_features, source_profiles
from analytics.realism import measure, overall, realism_markdown, stored_conversations
from digit_assets import settings
from digit_assets.defs.baselines.assets import imported_baselines, stateful_search_baselines
from digit_assets.defs.resources import StoreResource
from digit_assets.defs.settings_config import config_from, settings_of
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.funnel import funnel_rows
from digit_assets.store.fidelity import distribution_rows, replace_fidelity_tables
from digit_assets.store.realism import load_realism_metrics, replace_realism_metrics
from digit_assets.store.synthesis import funnel_events


class FidelityConfig(config_from(DivergenceSettings)):
    """Knobs of the comparison: the engine's ``DivergenceSettings``. They are hashed into every row's config hash."""

    def divergence_settings(self) -> DivergenceSettings:
        return settings_of(self, DivergenceSettings)

    def hashed(self) -> dict[str, object]:
        # Every knob: the length-controlled analysis and the claim tests made earlier hashes obsolete.
        return self.model_dump()


def dashboard_path() -> Path:
    return settings.data_dir() / "fidelity" / "dashboard.html"


def synthesis_funnel(conn) -> pl.DataFrame:
    """The acceptance funnel of the stored synthesis attempts, in pipeline stage order."""
    return pl.DataFrame(
        funnel_rows(funnel_events(conn)),
        schema={"variant": pl.String, "level": pl.String, "stage": pl.String, "attempted": pl.Int64, "accepted": pl.Int64, "rejected": pl.Int64},
    )


@dg.asset(
    group_name="fidelity",
    deps=[synthetic_conversations, stateful_search_baselines, imported_baselines, dg.AssetKey("realism_metrics")],
    kinds={"duckdb", "plotly"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Features, raw and length-controlled divergences with BCa intervals (every variant vs every "
    "baseline, pooled and per domain), the claim tests and the dashboard.",
)
def fidelity_analysis(
    context: dg.AssetExecutionContext, config: FidelityConfig, store: StoreResource
) -> dg.MaterializeResult:
    provenance = Provenance.for_config(context.run.run_id, config.seed, config.hashed())
    started = time.perf_counter()
    with store.store().connect() as conn:
        tables = extract_stored(conn)
        funnel = synthesis_funnel(conn)
        realism = load_realism_metrics(conn)
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
                "fidelity_distributions": distribution_rows(features),
                "fidelity_divergences": results.divergences,
                "fidelity_scores": results.scores,
                "fidelity_claims": results.claims,
                "fidelity_sources": sources,
            },
            provenance,
        )
    path = write_dashboard(features, results, sources, funnel, dashboard_path(), realism=realism)
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


class RealismConfig(dg.Config):
    """The measurement has no knobs besides the seed stamped on its rows (it is deterministic)."""

    seed: int = 0


def _realism_examples_markdown(examples: dict[tuple[str, str], list[dict[str, str]]]) -> str:
    lines = []
    for (variant, metric), shown in sorted(examples.items()):
        for example in shown:
            lines.append(f"- **{variant} / {metric}**: `{json.dumps(example, ensure_ascii=False)[:400]}`")
    return "\n".join(lines) or "no flagged item"


@dg.asset(
    group_name="fidelity",
    deps=[synthetic_conversations, stateful_search_baselines, imported_baselines],
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Realism of every source as a fine-tuning user reads it: parameter names and system ids in "
    "requests, hidden writes, writes reflected, contradictions, advice in errors, error rate, repeated successes.",
)
def realism_metrics(context: dg.AssetExecutionContext, config: RealismConfig, store: StoreResource) -> dg.MaterializeResult:
    provenance = Provenance.for_config(context.run.run_id, config.seed, config.model_dump())
    started = time.perf_counter()
    with store.store().connect() as conn:
        result = measure(stored_conversations(conn))
    if result.metrics.is_empty():
        raise dg.Failure("realism_metrics: no stored conversation to measure; materialize synthesis and the baselines first")
    with store.store().transaction() as conn:
        written = replace_realism_metrics(conn, result.metrics, provenance)
    headline = {
        f"{row['variant']}.{row['metric']}": dg.MetadataValue.float(row["value"])
        for row in overall(result.metrics).iter_rows(named=True)
        if row["value"] is not None
    }
    return dg.MaterializeResult(
        metadata={
            "realism": dg.MetadataValue.md(realism_markdown(result.metrics, SYNTHESIS_VARIANTS)),
            "flagged_examples": dg.MetadataValue.md(_realism_examples_markdown(result.examples)),
            "rows": written,
            "seconds": round(time.perf_counter() - started, 2),
            **headline,
        }
    )
