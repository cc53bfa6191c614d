"""One check per property of the fidelity analysis."""

import re

import dagster as dg
import polars as pl

from analytics.divergence import SYNTHESIS_VARIANTS
from digit_assets.defs.fidelity.assets import dashboard_path, fidelity_analysis
from digit_assets.defs.resources import StoreResource
from digit_assets.store.fidelity import compared_pairs, divergence_count, family_score_values, feature_sources, out_of_range_divergences

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
    description="DiGiT-TC is closer to each baseline than no_impl on the dependency-graph features (mean JS), "
    "the method's claim; warns when it is not.",
)
def digit_tc_closer_than_no_impl_on_dependency_graph(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        scores = family_score_values(conn, "dependency_graph", "js_mean")
    table = scores.pivot(on="variant", index="baseline", values="value") if scores.height else pl.DataFrame()
    needed = {"digit_tc", "no_impl"}
    if not needed <= set(table.columns):
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"reason": "digit_tc and no_impl are not both compared"}
        )
    worse = table.filter(pl.col("digit_tc") > pl.col("no_impl"))
    shown = [v for v in SYNTHESIS_VARIANTS if v in table.columns]
    lines = ["| baseline | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
    lines += ["| " + " | ".join([row["baseline"], *(f"{row[v]:.4f}" for v in shown)]) + " |" for row in table.iter_rows(named=True)]
    return dg.AssetCheckResult(
        passed=worse.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"dependency_graph_js": dg.MetadataValue.md("\n".join(lines)), "baselines_where_worse": worse["baseline"].to_list()},
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
