"""The fidelity dashboard (one self-contained HTML file) and the headline numbers of a comparison.

The dashboard puts every source and variant side by side on the same axes: dependency-graph
features, read/write transitions, recovery, sequence entropy; then the divergences of each variant
from each baseline with their bootstrap intervals, and the synthesis acceptance funnel when given.
Plots are drawn from aggregates (shares per value, binned histograms), never from raw rows, so the
file stays small for a million conversations. plotly.js is embedded once; the file needs no network.

Headline numbers are *family scores*: per (variant, baseline) and feature family, the mean JS
divergence over the family's discrete distributions and the mean KS statistic over its continuous
features. Lower is closer to the baseline; a DiGiT-TC score below the ``no_impl`` score on the
dependency-graph family is the method's claim in one number.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analytics.divergence import SYNTHESIS_VARIANTS
from analytics.features import (
    CALL_OUTCOMES,
    ERROR_OUTCOMES,
    INTEGER_FEATURES,
    RECOVERY_LENGTH,
    RW_BIGRAMS,
    FidelityFeatures,
)
from analytics.realism import realism_section

FAMILY_ORDER: tuple[str, ...] = ("dependency_graph", "transitions", "recovery", "sequence")
SCORE_KINDS: dict[str, str] = {"js": "js_mean", "ks_stat": "ks_mean"}
HEADLINE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("depth", "js", "depth JS"),
    ("discovered_share", "mean_diff", "discovered share Δ"),
    ("rw_bigrams", "js", "read/write bigrams JS"),
    ("error_outcomes", "js", "error outcomes JS"),
)
GRAPH_PANELS: tuple[str, ...] = (
    "nodes", "edges", "depth", "max_fan_in", "max_fan_out", "roots", "cross_turn_edges", "chain_motifs",
    "fan_in_motifs", "fan_out_motifs", "discovered_share",
)
SEQUENCE_PANELS: tuple[str, ...] = ("turns", "calls_per_turn", "unigram_entropy", "bigram_entropy", "trigram_entropy")
RECOVERY_PANELS: tuple[str, ...] = ("errors", "error_rate", "recovered_share", "abandoned", "recovery_length_mean")
DISPLAY_CAP = 15
BINS = 20


def family_scores(divergences: pl.DataFrame) -> pl.DataFrame:
    """Per (variant, baseline, family): mean JS over discrete metrics and mean KS over continuous ones.

    Columns ``variant, baseline, family, score (js_mean | ks_mean), value, n_metrics``."""
    return (
        divergences.filter(pl.col("kind").is_in(list(SCORE_KINDS)))
        .group_by("variant", "baseline", "family", "kind")
        .agg(value=pl.col("value").mean(), n_metrics=pl.len())
        .with_columns(score=pl.col("kind").replace_strict(SCORE_KINDS))
        .select("variant", "baseline", "family", "score", "value", "n_metrics")
        .sort("baseline", "variant", "family", "score")
    )


def headline_metrics(divergences: pl.DataFrame) -> dict[str, float]:
    """Flat ``{"<variant>_vs_<baseline>.<family>.<js_mean|ks_mean>": value}`` for run-over-run plots."""
    return {
        f"{row['variant']}_vs_{row['baseline']}.{row['family']}.{row['score']}": float(row["value"])
        for row in family_scores(divergences).iter_rows(named=True)
    }


def summary_markdown(divergences: pl.DataFrame) -> str:
    """A markdown table: one row per (variant, baseline), family JS scores and key metrics with 95% CIs."""
    scores = family_scores(divergences).filter(pl.col("score") == "js_mean")
    families = [family for family in FAMILY_ORDER if family in set(scores["family"])]
    header = [
        "variant", "baseline",
        *(f"{family.replace('_', ' ')} JS" for family in families),
        *(label for _, _, label in HEADLINE_COLUMNS),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, baseline in _ordered_pairs(divergences):
        of_pair = divergences.filter((pl.col("variant") == variant) & (pl.col("baseline") == baseline))
        of_pair_scores = scores.filter((pl.col("variant") == variant) & (pl.col("baseline") == baseline))
        pair_scores = dict(of_pair_scores.select("family", "value").iter_rows())
        cells = [variant, baseline, *(_number(pair_scores.get(family)) for family in families)]
        for metric, kind, _ in HEADLINE_COLUMNS:
            match = of_pair.filter((pl.col("metric") == metric) & (pl.col("kind") == kind))
            cells.append(_with_interval(match.row(0, named=True)) if match.height else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ordered_pairs(divergences: pl.DataFrame) -> list[tuple[str, str]]:
    """Pairs by baseline, then synthesis variants in method order (digit_tc, no_impl, no_bt)."""
    rank = {variant: index for index, variant in enumerate(SYNTHESIS_VARIANTS)}
    pairs = divergences.select("variant", "baseline").unique().iter_rows()
    return sorted(pairs, key=lambda pair: (pair[1], rank.get(pair[0], len(rank)), pair[0]))


def _number(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _with_interval(row: dict[str, object]) -> str:
    if row["ci_low"] is None:
        return _number(row["value"])
    return f"{_number(row['value'])} [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"


def write_dashboard(
    features: FidelityFeatures,
    divergences: pl.DataFrame,
    funnel: pl.DataFrame | None,
    path: Path,
    realism: pl.DataFrame | None = None,
) -> Path:
    """Write the dashboard to ``path`` (parents created) and return it; ``realism`` is the
    ``realism_metrics`` table, shown in its own section when given."""
    colors = _variant_colors(features)
    sections: list[tuple[str, str, list[go.Figure]]] = [
        (
            "Dependency graphs",
            "Share of conversations per value, per source and variant.",
            [_feature_grid(features, GRAPH_PANELS, colors)],
        ),
        (
            "State transitions",
            "Per-turn read/write bigrams (START/END included), pooled over conversations.",
            [_pooled_figure(features, [RW_BIGRAMS], colors)],
        ),
        (
            "Recovery",
            "Errors per conversation, what follows an error, and how many calls the fix took.",
            [
                _pooled_figure(features, [CALL_OUTCOMES, ERROR_OUTCOMES, RECOVERY_LENGTH], colors),
                _feature_grid(features, RECOVERY_PANELS, colors),
            ],
        ),
        (
            "Sequences",
            "Turns, calls per turn and the entropy (bits) of each conversation's tool n-grams.",
            [_feature_grid(features, SEQUENCE_PANELS, colors)],
        ),
        (
            "Divergences from the baselines",
            "Point estimates with 95% bootstrap intervals; lower is closer to the baseline.",
            _divergence_figures(divergences, colors),
        ),
    ]
    sections.extend(realism_section(realism, colors, SYNTHESIS_VARIANTS))
    if funnel is not None and funnel.height:
        caption = "Attempts accepted and rejected at each stage."
        sections.append(("Synthesis acceptance funnel", caption, [_funnel_figure(funnel)]))
    parts: list[str] = []
    plotly_embedded = False
    for title, caption, figures in sections:
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>")
        for figure in figures:
            parts.append(figure.to_html(full_html=False, include_plotlyjs=not plotly_embedded))
            plotly_embedded = True
    document = _PAGE.format(summary=_markdown_table_html(summary_markdown(divergences)), body="\n".join(parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>digit-tc fidelity</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}</style></head>
<body><h1>Does stateless DiGiT-TC look like stateful search?</h1>
<p>JS = Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint); Δ = variant mean minus baseline mean;
brackets are 95% bootstrap intervals.</p>
{summary}
{body}
</body></html>
"""


def _markdown_table_html(markdown: str) -> str:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if not line.startswith("|---")]
    if len(rows) < 2:
        return "<p>No variant/baseline pair to compare.</p>"
    head = "".join(f"<th>{html.escape(cell.strip())}</th>" for cell in rows[0])
    cells = ("".join(f"<td>{html.escape(cell.strip())}</td>" for cell in row) for row in rows[1:])
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f"<table><tr>{head}</tr>{body}</table>"


def _variant_colors(features: FidelityFeatures) -> dict[str, str]:
    """One colour per variant, synthesis variants first, the same in every figure."""
    variants = features.conversations["variant"].unique().to_list()
    ordered = [v for v in SYNTHESIS_VARIANTS if v in variants]
    ordered += sorted(v for v in variants if v not in SYNTHESIS_VARIANTS)
    palette = qualitative.Plotly
    return {variant: palette[index % len(palette)] for index, variant in enumerate(ordered)}


def _bars(
    figure: go.Figure, shares: pl.DataFrame, x: str, colors: dict[str, str], row: int, col: int, legend: bool
) -> None:
    """One bar trace per variant (grouped), sharing the variant's colour and legend entry across panels."""
    for variant, color in colors.items():
        rows = shares.filter(pl.col("variant") == variant)
        figure.add_trace(
            go.Bar(
                x=rows[x].to_list(), y=rows["share"].to_list(), name=variant, marker_color=color,
                legendgroup=variant, showlegend=legend,
            ),
            row=row,
            col=col,
        )


def _feature_grid(
    features: FidelityFeatures, names: tuple[str, ...], colors: dict[str, str], columns: int = 4
) -> go.Figure:
    """One panel per feature: share of conversations per value (integers) or per bin (continuous)."""
    rows = -(-len(names) // columns)
    titles = [name.replace("_", " ") for name in names]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, vertical_spacing=0.5 / (rows + 1))
    figure.update_layout(
        height=280 * rows + 80, barmode="group", legend_title_text="source / variant", margin={"t": 60}
    )
    for index, name in enumerate(names):
        shares = _integer_shares(features, name) if name in INTEGER_FEATURES else _binned_shares(features, name)
        row, col = index // columns + 1, index % columns + 1
        _bars(figure, shares, "label", colors, row, col, legend=index == 0)
        # Plotly orders categories by first appearance across traces; pin the numeric order.
        order = shares.sort("position")["label"].unique(maintain_order=True).to_list()
        figure.update_xaxes(categoryorder="array", categoryarray=order, row=row, col=col)
    return figure


def _integer_shares(features: FidelityFeatures, name: str) -> pl.DataFrame:
    """Share of each variant's conversations per value, values above :data:`DISPLAY_CAP` pooled."""
    capped = pl.col("value") == DISPLAY_CAP
    return (
        features.conversations.drop_nulls(name)
        .group_by("variant", value=pl.col(name).clip(upper_bound=DISPLAY_CAP))
        .agg(count=pl.len())
        .with_columns(share=pl.col("count") / pl.col("count").sum().over("variant"))
        .sort("variant", "value")
        .with_columns(
            label=pl.when(capped).then(pl.lit(f"{DISPLAY_CAP}+")).otherwise(pl.col("value").cast(pl.String)),
            position=pl.col("value").cast(pl.Float64),
        )
    )


def _binned_shares(features: FidelityFeatures, name: str) -> pl.DataFrame:
    """Share of each variant's conversations per bin, :data:`BINS` equal bins over the pooled range."""
    values = features.conversations.drop_nulls(name).select("variant", name)
    if values.is_empty():
        return pl.DataFrame(schema={"variant": pl.String, "label": pl.String, "share": pl.Float64, "position": pl.Float64})
    low, high = float(values[name].min()), float(values[name].max())
    width = (high - low) / BINS if high > low else 1.0
    bin_index = ((pl.col(name) - low) / width).floor().clip(0, BINS - 1).cast(pl.Int64)
    return (
        values.group_by("variant", bin=bin_index)
        .agg(count=pl.len())
        .with_columns(share=pl.col("count") / pl.col("count").sum().over("variant"))
        .sort("variant", "bin")
        .with_columns(
            label=(low + (pl.col("bin") + 0.5) * width).round(3).cast(pl.String), position=pl.col("bin").cast(pl.Float64)
        )
    )


def _pooled_figure(features: FidelityFeatures, distributions: list[str], colors: dict[str, str]) -> go.Figure:
    """Pooled category shares per variant, one panel per distribution."""
    figure = make_subplots(rows=1, cols=len(distributions), subplot_titles=[d.replace("_", " ") for d in distributions])
    figure.update_layout(height=380, barmode="group", legend_title_text="source / variant")
    for index, distribution in enumerate(distributions):
        pooled = features.pooled(distribution)
        if distribution == RECOVERY_LENGTH:
            pooled = pooled.sort(pl.col("category").cast(pl.Int64))
        _bars(figure, pooled, "category", colors, 1, index + 1, legend=index == 0)
    return figure


_DIVERGENCE_PANELS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("js",), "JS divergence (bits)"),
    (("kl_pq", "kl_qp"), "KL(variant‖baseline) (circles) and KL(baseline‖variant) (diamonds), bits"),
    (("mean_diff",), "mean difference (variant − baseline)"),
)


def _divergence_figures(divergences: pl.DataFrame, colors: dict[str, str]) -> list[go.Figure]:
    """Per baseline: JS and both KLs of every discrete metric, and mean differences of every feature."""
    figures = []
    for baseline in sorted(divergences["baseline"].unique().to_list()):
        for kinds, title in _DIVERGENCE_PANELS:
            rows = divergences.filter((pl.col("baseline") == baseline) & pl.col("kind").is_in(kinds))
            rows = rows.sort("family", "metric")
            if rows.is_empty():
                continue
            metrics = rows["metric"].unique(maintain_order=True).to_list()
            figure = go.Figure()
            for variant in [v for v in colors if v in set(rows["variant"])]:
                for kind in kinds:
                    of_kind = rows.filter((pl.col("variant") == variant) & (pl.col("kind") == kind))
                    figure.add_trace(_interval_trace(of_kind, variant, kind, colors[variant]))
            figure.update_layout(
                title=f"{title} — baseline: {baseline}",
                height=120 + 26 * len(metrics),
                yaxis={"categoryorder": "array", "categoryarray": metrics[::-1]},
                legend_title_text="variant",
            )
            if kinds == ("mean_diff",):
                figure.add_vline(x=0, line_color="#888")
            figures.append(figure)
    return figures


def _interval_trace(rows: pl.DataFrame, variant: str, kind: str, color: str) -> go.Scatter:
    """Point estimates with asymmetric error bars (none where the row has no interval)."""
    value = rows["value"].to_numpy()
    has_interval = rows["ci_low"].is_not_null().to_numpy()
    low = rows["ci_low"].fill_null(0.0).to_numpy()
    high = rows["ci_high"].fill_null(0.0).to_numpy()
    return go.Scatter(
        x=value,
        y=rows["metric"].to_list(),
        mode="markers",
        name=variant if kind in ("js", "mean_diff") else f"{variant} {kind}",
        marker={"color": color, "symbol": "diamond-open" if kind == "kl_qp" else "circle", "size": 9},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": np.where(has_interval, high - value, 0.0),
            "arrayminus": np.where(has_interval, value - low, 0.0),
        },
    )


def _funnel_figure(funnel: pl.DataFrame) -> go.Figure:
    """Accepted and rejected attempts per stage, one panel per variant when the funnel has several."""
    variants = funnel["variant"].unique(maintain_order=True).to_list() if "variant" in funnel.columns else [None]
    figure = make_subplots(rows=len(variants), cols=1, subplot_titles=[v or "" for v in variants], shared_xaxes=True)
    figure.update_layout(height=300 * len(variants) + 60, barmode="stack")
    for index, variant in enumerate(variants):
        rows = funnel if variant is None else funnel.filter(pl.col("variant") == variant)
        stages = (rows["level"] + ": " + rows["stage"] if "level" in rows.columns else rows["stage"]).to_list()
        for column, color in (("accepted", "#2ca02c"), ("rejected", "#d62728")):
            figure.add_trace(
                go.Bar(
                    x=stages, y=rows[column].to_list(), name=column, marker_color=color, legendgroup=column,
                    showlegend=index == 0, customdata=rows["attempted"].to_list(),
                    hovertemplate="%{x}: %{y} of %{customdata}<extra>" + column + "</extra>",
                ),
                row=index + 1,
                col=1,
            )
    return figure
