"""One check per property of the fidelity analysis."""

import re

import dagster as dg
import polars as pl

from digit_assets.defs.fidelity.assets import dashboard_path, fidelity_analysis
from digit_assets.defs.resources import StoreResource

_EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']https?://", re.IGNORECASE)


def _frame(store: StoreResource, query: str) -> pl.DataFrame:
    with store.store().connect() as conn:
        return pl.from_arrow(conn.sql(query).to_arrow_table())


@dg.asset_check(
    asset=fidelity_analysis,
    description="Every synthesis variant present is compared with every baseline present, on non-empty samples.",
)
def every_variant_compared_with_every_baseline(store: StoreResource) -> dg.AssetCheckResult:
    sources = _frame(store, "SELECT DISTINCT source, variant FROM fidelity_features")
    variants = sorted(set(sources.filter(pl.col("source") == "digit_tc")["variant"]))
    baselines = sorted(set(sources.filter(pl.col("source") != "digit_tc")["variant"]))
    compared = _frame(store, "SELECT DISTINCT variant, baseline FROM fidelity_divergences WHERE n_variant > 0 AND n_baseline > 0")
    pairs = set(compared.iter_rows())
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
    out_of_range = _frame(
        store,
        """
        SELECT metric, kind, variant, baseline, value FROM fidelity_divergences
        WHERE value IS NOT NULL AND (
            isnan(value)
            OR (kind IN ('js', 'ks_stat', 'ks_p', 'perm_p', 'coverage') AND (value < -1e-12 OR value > 1 + 1e-12))
            OR (kind LIKE 'kl_%' AND value < -1e-12))
        """,
    )
    total = _frame(store, "SELECT count(*) AS n FROM fidelity_divergences")["n"][0]
    return dg.AssetCheckResult(
        passed=total > 0 and out_of_range.is_empty(),
        metadata={"rows": int(total), "out_of_range": out_of_range.height, "examples": out_of_range.head(10).to_dicts()},
    )


@dg.asset_check(
    asset=fidelity_analysis,
    description="The method's claim, length-controlled and pooled over domains: for every baseline and family, "
    "JS(digit_tc) - JS(no_impl) has its whole 95% interval below zero. Says per family where it holds; warns "
    "where it does not.",
)
def digit_tc_closer_than_no_impl(store: StoreResource) -> dg.AssetCheckResult:
    claims = _frame(
        store,
        "SELECT baseline, family, difference, ci_low, ci_high, perm_p, holds, reason, n_metrics FROM fidelity_claims "
        "WHERE reference = 'no_impl' AND control = 'length' AND domain = 'all' ORDER BY baseline, family",
    )
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
    bad = _frame(
        store,
        "SELECT metric, kind, variant, baseline, domain, control, value, reason FROM fidelity_divergences "
        "WHERE (reason IS NOT NULL AND value IS NOT NULL) OR (value IS NULL AND reason IS NULL AND kind = 'js') "
        "OR (kind = 'js' AND (n_variant = 0 OR n_baseline = 0) AND value IS NOT NULL)",
    )
    reasons = _frame(
        store,
        "SELECT baseline, reason, count(DISTINCT metric) AS metrics FROM fidelity_divergences "
        "WHERE reason IS NOT NULL AND domain = 'all' GROUP BY ALL ORDER BY ALL",
    )
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
