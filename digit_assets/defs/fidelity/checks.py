"""One check per property of the fidelity analysis."""

import re

import dagster as dg
import polars as pl

from analytics.divergence import SYNTHESIS_VARIANTS
from analytics.realism import METRIC_LABELS, RULES, Rule, format_share, ordered_variants, share_of
from digit_assets.defs.fidelity.assets import dashboard_path, fidelity_analysis, realism_metrics
from digit_assets.defs.resources import StoreResource
from digit_assets.store.fidelity import (
    compared_pairs,
    divergence_count,
    feature_sources,
    not_applicable_reasons,
    not_applicable_violations,
    out_of_range_divergences,
    pooled_claims,
)
from digit_assets.store.realism import load_realism_metrics

_EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']https?://", re.IGNORECASE)


@dg.asset_check(
    asset=fidelity_analysis,
    description="Every synthesis variant present is compared with every baseline present, on non-empty samples.",
)
def every_variant_compared_with_every_baseline(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        sources = feature_sources(conn)
        pairs = compared_pairs(conn)
    variants = sorted(set(sources.filter(pl.col("source") == "digit_tc")["variant"]))
    baselines = sorted(set(sources.filter(pl.col("source") != "digit_tc")["variant"]))
    missing = [f"{v} vs {b}" for v in variants for b in baselines if (v, b) not in pairs]
    return dg.AssetCheckResult(
        passed=bool(variants) and bool(baselines) and not missing,
        metadata={"variants": variants, "baselines": baselines, "missing_pairs": missing},
    )


@dg.asset_check(
    asset=fidelity_analysis,
    description="Divergences are in range: JS in [0, 1] bits, KL >= 0, KS statistic in [0, 1], p-values in [0, 1].",
)
def divergences_in_range(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        out_of_range = out_of_range_divergences(conn)
        total = divergence_count(conn)
    return dg.AssetCheckResult(
        passed=total > 0 and out_of_range.is_empty(),
        metadata={"rows": total, "out_of_range": out_of_range.height, "examples": out_of_range.head(10).to_dicts()},
    )


@dg.asset_check(
    asset=fidelity_analysis,
    description="The method's claim, length-controlled and pooled over domains: for every baseline and family, "
    "JS(digit_tc) - JS(no_impl) has its whole 95% interval below zero. Says per family where it holds; warns "
    "where it does not.",
)
def digit_tc_closer_than_no_impl(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        claims = pooled_claims(conn, "no_impl")
    if claims.is_empty():
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"reason": "digit_tc and no_impl are not both compared"}
        )
    tested = claims.filter(pl.col("n_metrics") > 0)
    lines = ["| baseline | family | difference [95% CI] | p | holds |", "|---|---|---|---|---|"]
    for row in claims.iter_rows(named=True):
        interval = "n/a" if row["ci_low"] is None else f"{row['difference']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]"
        p_value = "–" if row["perm_p"] is None else f"{row['perm_p']:.3f}"
        lines.append(f"| {row['baseline']} | {row['family']} | {interval} | {p_value} | {'yes' if row['holds'] else 'no'} |")
    holds = [f"{row['baseline']}/{row['family']}" for row in tested.filter(pl.col("holds")).iter_rows(named=True)]
    fails = [f"{row['baseline']}/{row['family']}" for row in tested.filter(~pl.col("holds")).iter_rows(named=True)]
    return dg.AssetCheckResult(
        passed=not fails and bool(holds),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"claims": dg.MetadataValue.md("\n".join(lines)), "holds_for": holds, "does_not_hold_for": fails},
    )


@dg.asset_check(
    asset=fidelity_analysis,
    description="No comparison lacking the data is reported as a divergence: every not-applicable row has no "
    "value and a reason, and no JS of 1.0 comes from a side without any defined value.",
)
def not_applicable_comparisons_have_reasons(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        bad = not_applicable_violations(conn)
        reasons = not_applicable_reasons(conn)
    return dg.AssetCheckResult(
        passed=bad.is_empty(),
        metadata={"violations": bad.height, "examples": bad.head(10).to_dicts(), "not_applicable": reasons.to_dicts()},
    )


@dg.asset_check(asset=fidelity_analysis, description="The dashboard exists, embeds plotly.js and loads nothing from the network.")
def dashboard_is_self_contained() -> dg.AssetCheckResult:
    path = dashboard_path()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    external = _EXTERNAL_SCRIPT.findall(text)
    embedded = "plotly.js v" in text  # the banner of the embedded library
    return dg.AssetCheckResult(
        passed=bool(text) and embedded and not external,
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": len(text.encode()), "external_scripts": len(external), "plotly_embedded": embedded},
    )


def _realism_check(rule: Rule, store: StoreResource) -> dg.AssetCheckResult:
    """One realism rule over the synthesis variants present. A warning, not a failure: the figures are
    what the team reads while the generator is brought up to the rule."""
    with store.store().connect() as conn:
        metrics = load_realism_metrics(conn)
    variants = [v for v in SYNTHESIS_VARIANTS if v in set(metrics["variant"].to_list())]
    verdicts = {variant: rule.holds(metrics, variant) for variant in variants}
    shown = ordered_variants(metrics, SYNTHESIS_VARIANTS)
    figures = {variant: format_share(share_of(metrics, variant, rule.metric)) for variant in shown}
    return dg.AssetCheckResult(
        # a variant without the data (no_impl has no hidden call) neither keeps nor breaks the rule
        passed=any(ok is not None for ok in verdicts.values()) and not any(ok is False for ok in verdicts.values()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rule": f"{METRIC_LABELS[rule.metric]} {rule.describe()}",
            "per_source": dg.MetadataValue.json(figures),
            "variants_breaking_the_rule": [v for v, ok in verdicts.items() if ok is False],
            "variants_without_data": [v for v, ok in verdicts.items() if ok is None],
            **{
                f"{variant}.{rule.metric}": dg.MetadataValue.float(row["value"])
                for variant in shown
                if (row := share_of(metrics, variant, rule.metric)) is not None and row["value"] is not None
            },
        },
    )


_RULES = {rule.metric: rule for rule in RULES}


@dg.asset_check(asset=realism_metrics, description="Hidden calls only discover: no hidden call changes state.")
def hidden_calls_are_read_only(store: StoreResource) -> dg.AssetCheckResult:
    return _realism_check(_RULES["hidden_calls_state_changing"], store)


@dg.asset_check(asset=realism_metrics, description="Simulated writes show their change: >= 95% of checkable writes reflected.")
def simulated_writes_reflected(store: StoreResource) -> dg.AssetCheckResult:
    return _realism_check(_RULES["writes_reflected"], store)


@dg.asset_check(asset=realism_metrics, description="Requests do not name parameters: <= 5% of user messages.")
def requests_name_no_parameters(store: StoreResource) -> dg.AssetCheckResult:
    return _realism_check(_RULES["parameter_named_messages"], store)


@dg.asset_check(
    asset=realism_metrics,
    description="Requests carry system identifiers no more often than stateful search does (within 10 points).",
)
def requests_system_identifiers_like_stateful_search(store: StoreResource) -> dg.AssetCheckResult:
    return _realism_check(_RULES["system_identifier_messages"], store)


@dg.asset_check(asset=realism_metrics, description="Errors state a cause: <= 5% of error texts give advice.")
def error_texts_state_causes(store: StoreResource) -> dg.AssetCheckResult:
    return _realism_check(_RULES["error_texts_with_advice"], store)
