"""The fidelity dashboard (one self-contained HTML file) and the headline numbers of a comparison.

The page opens with what is measured and the claim tests (per baseline and family: the
length-controlled difference JS(digit_tc) - JS(no_impl), and - JS(no_bt), with its 95% BCa interval
and permutation p-value, raw beside it), then the family scores of every pair, what is not
applicable and why, which sources share the generator's tool catalog, per-domain claims, every
distribution side by side, the divergences with their intervals and the synthesis funnel. Plots are
drawn from aggregates, never raw rows, so the file stays small for a million conversations; plotly.js
is embedded once and the file needs no network.

The page is a list of :class:`Section` values; a new section is one more entry in
:func:`dashboard_sections`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from analytics.divergence import FAMILY_ORDER, POOLED_DOMAIN, SYNTHESIS_VARIANTS, FidelityResults
from analytics.features import (
    CALL_OUTCOMES,
    ERROR_OUTCOMES,
    INTEGER_FEATURES,
    LENGTH_FEATURES,
    RECOVERY_FEATURES,
    RECOVERY_LENGTH,
    RW_BIGRAMS,
    SEQUENCE_FEATURES,
    FidelityFeatures,
)
from analytics.realism import realism_section

HEADLINE_CONTROL = "length"
GRAPH_PANELS: tuple[str, ...] = (
    "nodes", "edges", "depth", "max_fan_in", "max_fan_out", "roots", "cross_turn_edges", "chain_motifs",
    "fan_in_motifs", "fan_out_motifs", "discovered_share", "output_fed_share",
)
SEQUENCE_PANELS: tuple[str, ...] = LENGTH_FEATURES + SEQUENCE_FEATURES
RECOVERY_PANELS: tuple[str, ...] = RECOVERY_FEATURES
DISPLAY_CAP = 15
BINS = 20
WHAT_IS_MEASURED = (
    "Each source's conversations are reduced to the same features (dependency graph of data flow between "
    "calls, read/write transitions, error recovery, call sequences, length; definitions in docs/fidelity.md). "
    "A family's score is the mean Jensen-Shannon divergence (bits; 0 = identical, 1 = disjoint) between a "
    "variant's and a baseline's distributions of the family's features. The headline is length-controlled: "
    "each variant is reweighted to the baseline's distribution of turns per conversation and calls per turn, "
    "so a difference in conversation length cannot pass for a difference in structure. The claim of the "
    "method is that DiGiT-TC is closer to stateful search than its ablations: per family, the difference "
    "JS(digit_tc) - JS(no_impl) (and - JS(no_bt)) with a 95% BCa bootstrap interval (all three samples "
    "resampled) and a one-sided permutation p-value. It holds only where the whole interval is below zero and the permutation p is at most 0.05. "
    "Every family is shown, including where it does not hold."
)
OFFLINE_NOTE = (
    "Generated with the embedded offline engine (the default), the synthetic conversations are structural "
    "test data made by seeded algorithms: they exercise the pipeline and the method's structure and are not a "
    "substitute for conversations written by an LLM. Point the pipeline at a real model to measure that."
)


@dataclass(frozen=True)
class Section:
    """One titled part of the page: an HTML fragment and/or plotly figures."""

    title: str
    caption: str
    html: str = ""
    figures: list[go.Figure] = field(default_factory=list)


def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
    def number(x: float | None) -> str:
        if x is None or not np.isfinite(x):
            return "–"
        return f"{x:+.3f}" if signed else f"{x:.3f}"

    if low is None:
        return number(value)
    return f"{number(value)} [{number(low)}, {number(high)}]"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _ordered_pairs(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """Pairs by baseline (stateful search first), then synthesis variants in method order."""
    rank = {variant: index for index, variant in enumerate(SYNTHESIS_VARIANTS)}
    pairs = frame.select("variant", "baseline").unique().iter_rows()
    return sorted(pairs, key=lambda pair: (pair[1] != "stateful_search", pair[1], rank.get(pair[0], len(rank)), pair[0]))


def summary_markdown(scores: pl.DataFrame, domain: str = POOLED_DOMAIN) -> str:
    """One row per (variant, baseline): each family's JS score, length-controlled [95% BCa] then raw."""
    scores = scores.filter(pl.col("domain") == domain)
    families = [family for family in FAMILY_ORDER if family in set(scores["family"])]
    header = ["variant", "baseline", *(f"{family.replace('_', ' ')} JS controlled / raw" for family in families)]
    rows = []
    for variant, baseline in _ordered_pairs(scores):
        of_pair = scores.filter((pl.col("variant") == variant) & (pl.col("baseline") == baseline))
        cells = [variant, baseline]
        for family in families:
            parts = []
            for control in (HEADLINE_CONTROL, "raw"):
                match = of_pair.filter((pl.col("family") == family) & (pl.col("control") == control))
                row = match.row(0, named=True) if match.height else None
                parts.append("n/a" if row is None or row["value"] is None else _interval(row["value"], row["ci_low"], row["ci_high"]))
            cells.append(" / ".join(parts))
        rows.append(cells)
    return _markdown(header, rows)


def claims_markdown(claims: pl.DataFrame, domain: str = POOLED_DOMAIN) -> str:
    """Per baseline, reference and family: the controlled and raw difference with interval, p, verdict."""
    claims = claims.filter(pl.col("domain") == domain)
    header = ["baseline", "digit_tc minus", "family", "controlled difference [95% CI]", "p", "holds", "raw difference [95% CI]", "p (raw)"]
    rows = []
    for (baseline, reference), group in claims.group_by("baseline", "reference", maintain_order=True):
        for family in FAMILY_ORDER:
            of_family = group.filter(pl.col("family") == family)
            cells = {}
            for control in (HEADLINE_CONTROL, "raw"):
                match = of_family.filter(pl.col("control") == control)
                cells[control] = match.row(0, named=True) if match.height else None
            head = cells[HEADLINE_CONTROL]
            if head is None:
                continue
            raw = cells["raw"] or {}
            rows.append([
                baseline, reference, family.replace("_", " "),
                _interval(head["difference"], head["ci_low"], head["ci_high"], signed=True) if head["n_metrics"] else "n/a",
                _cell(head["perm_p"]), "yes" if head["holds"] else "no",
                _interval(raw.get("difference"), raw.get("ci_low"), raw.get("ci_high"), signed=True) if raw.get("n_metrics") else "n/a",
                _cell(raw.get("perm_p")),
            ])
    rows.sort(key=lambda cells: (cells[0] != "stateful_search", cells[0], cells[1] != "no_impl", cells[1], [f.replace("_", " ") for f in FAMILY_ORDER].index(cells[2])))
    return _markdown(header, rows)


def headline_metrics(results: FidelityResults) -> dict[str, float]:
    """Flat numbers for run-over-run plots: ``claim.<baseline>.<reference>.<family>`` (controlled
    difference, pooled) and ``<variant>_vs_<baseline>.<family>.js_mean`` (controlled score, pooled)."""
    claims = results.claims.filter((pl.col("domain") == POOLED_DOMAIN) & (pl.col("control") == HEADLINE_CONTROL))
    scores = results.scores.filter((pl.col("domain") == POOLED_DOMAIN) & (pl.col("control") == HEADLINE_CONTROL))
    numbers = {
        f"claim.{row['baseline']}.{row['reference']}.{row['family']}": row["difference"]
        for row in claims.iter_rows(named=True) if row["difference"] is not None
    }
    numbers.update({
        f"{row['variant']}_vs_{row['baseline']}.{row['family']}.js_mean": row["value"]
        for row in scores.iter_rows(named=True) if row["value"] is not None
    })
    return {name: float(value) for name, value in numbers.items()}


def not_applicable_markdown(divergences: pl.DataFrame) -> str:
    """Which comparisons have no value, and why (one row per baseline, reason and the metrics it hits)."""
    missing = (
        divergences.filter((pl.col("domain") == POOLED_DOMAIN) & pl.col("reason").is_not_null() & (pl.col("control") == "raw"))
        .group_by("baseline", "reason")
        .agg(metrics=pl.col("metric").unique().sort(), variants=pl.col("variant").unique().sort())
        .sort("baseline", "reason")
    )
    rows = [
        [row["baseline"], row["reason"], ", ".join(row["metrics"]), ", ".join(row["variants"])]
        for row in missing.iter_rows(named=True)
    ]
    return _markdown(["baseline", "why not applicable", "metrics", "variants"], rows) if rows else ""


def sources_markdown(sources: pl.DataFrame) -> str:
    """Every source: what its records provide and whether it uses the generator's tool catalog."""
    rows = [
        [
            row["variant"], row["source"], str(row["conversations"]), str(row["with_outputs"]), str(row["with_user_text"]),
            str(row["with_errors"]), f"{row['generator_tools']} of {row['tools']}",
            "yes" if row["shares_generator_catalog"] else "no",
        ]
        for row in sources.iter_rows(named=True)
    ]
    header = ["variant", "source", "conversations", "with tool outputs", "with user text", "with errors",
              "tools also called by the generator", "shares the generator's catalog"]
    return _markdown(header, rows)


def dashboard_sections(
    features: FidelityFeatures,
    results: FidelityResults,
    sources: pl.DataFrame,
    funnel: pl.DataFrame | None,
    realism: pl.DataFrame | None = None,
) -> list[Section]:
    """The page, top to bottom; ``realism`` is the ``realism_metrics`` table, shown when given."""
    colors = _variant_colors(features)
    domains = sorted(set(results.claims["domain"]) - {POOLED_DOMAIN})
    sections = [
        Section("What is measured", "", html=f"<p>{html.escape(WHAT_IS_MEASURED)}</p><p><b>{html.escape(OFFLINE_NOTE)}</b></p>"),
        Section(
            "The claim, per family",
            "Negative = DiGiT-TC closer to the baseline than the ablation. 'holds' only where the whole "
            "controlled interval is below zero and p is at most 0.05. p: one-sided permutation test (labels shuffled within length "
            "strata for the controlled comparison).",
            html=_markdown_table_html(claims_markdown(results.claims)),
        ),
        Section(
            "Family scores",
            "Mean JS over the family's applicable metrics, length-controlled [95% BCa] / raw; lower is closer.",
            html=_markdown_table_html(summary_markdown(results.scores)),
        ),
        Section(
            "Sources, and which share the generator's tool catalog",
            "A baseline that calls tools the generator never calls (another catalog) can only be compared on "
            "tool-agnostic features; per-domain tool bigrams exist only where both use the domain.",
            html=_markdown_table_html(sources_markdown(sources)),
        ),
        Section(
            "Not applicable",
            "Comparisons without a value: one side lacks what the feature needs. They are left out of the "
            "family scores, never counted as a divergence.",
            html=_markdown_table_html(not_applicable_markdown(results.divergences)) or "<p>Every comparison is applicable.</p>",
        ),
    ]
    for domain in domains:
        sections.append(Section(
            f"Domain {domain}",
            f"The claim and the family scores on the conversations of domain {domain} only.",
            html=_markdown_table_html(claims_markdown(results.claims, domain))
            + _markdown_table_html(summary_markdown(results.scores, domain)),
        ))
    sections += [
        Section("Dependency graphs", "Share of conversations per value, per source and variant.",
                figures=[_feature_grid(features, GRAPH_PANELS, colors)]),
        Section("State transitions", "Per-turn read/write bigrams (START/END included), pooled over conversations.",
                figures=[_pooled_figure(features, [RW_BIGRAMS], colors)]),
        Section(
            "Recovery",
            "Errors per conversation, what follows an error, and how many calls the recovery took.",
            figures=[
                _pooled_figure(features, [CALL_OUTCOMES, ERROR_OUTCOMES, RECOVERY_LENGTH], colors),
                _feature_grid(features, RECOVERY_PANELS, colors),
            ],
        ),
        Section("Length and sequences",
                "Turns, calls per turn, tool n-gram entropies, read/write transition entropy, first write position.",
                figures=[_feature_grid(features, SEQUENCE_PANELS, colors)]),
        Section(
            "Divergences from the baselines",
            "Length-controlled JS (filled) and raw JS (open) with 95% BCa intervals, pooled over domains; lower is "
            "closer to the baseline.",
            figures=_divergence_figures(results.divergences, colors),
        ),
    ]
    sections += [Section(title, caption, figures=figures) for title, caption, figures in realism_section(realism, colors, SYNTHESIS_VARIANTS)]
    if funnel is not None and funnel.height:
        sections.append(Section("Synthesis acceptance funnel", "Attempts accepted and rejected at each stage.",
                                figures=[_funnel_figure(funnel)]))
    return sections


def write_dashboard(
    features: FidelityFeatures,
    results: FidelityResults,
    sources: pl.DataFrame,
    funnel: pl.DataFrame | None,
    path: Path,
    realism: pl.DataFrame | None = None,
) -> Path:
    """Write the dashboard to ``path`` (parents created) and return it."""
    parts: list[str] = []
    plotly_embedded = False
    for section in dashboard_sections(features, results, sources, funnel, realism):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.caption:
            parts.append(f"<p>{html.escape(section.caption)}</p>")
        parts.append(section.html)
        for figure in section.figures:
            parts.append(figure.to_html(full_html=False, include_plotlyjs=not plotly_embedded))
            plotly_embedded = True
    document = _PAGE.format(body="\n".join(parts))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>digit-tc fidelity</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f4f4f4}}</style></head>
<body><h1>Does stateless DiGiT-TC look like stateful search?</h1>
{body}
</body></html>
"""


def _markdown_table_html(markdown: str) -> str:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if not line.startswith("|---")]
    if len(rows) < 2:
        return ""
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


_DIVERGENCE_PANELS: tuple[tuple[str, str], ...] = (
    ("js", "JS divergence (bits), length-controlled (filled) and raw (open)"),
    ("mean_diff", "mean difference (variant − baseline), length-controlled (filled) and raw (open)"),
)


def _divergence_figures(divergences: pl.DataFrame, colors: dict[str, str]) -> list[go.Figure]:
    """Per baseline: JS of every applicable metric and mean differences, both controls, pooled over domains."""
    figures = []
    pooled = divergences.filter((pl.col("domain") == POOLED_DOMAIN) & pl.col("value").is_not_null())
    for baseline in sorted(pooled["baseline"].unique().to_list()):
        for kind, title in _DIVERGENCE_PANELS:
            rows = pooled.filter((pl.col("baseline") == baseline) & (pl.col("kind") == kind)).sort("family", "metric")
            if rows.is_empty():
                continue
            metrics = rows["metric"].unique(maintain_order=True).to_list()
            figure = go.Figure()
            for variant in [v for v in colors if v in set(rows["variant"])]:
                for control in (HEADLINE_CONTROL, "raw"):
                    of_control = rows.filter((pl.col("variant") == variant) & (pl.col("control") == control))
                    figure.add_trace(_interval_trace(of_control, variant, control, colors[variant]))
            figure.update_layout(
                title=f"{title} — baseline: {baseline}",
                height=140 + 22 * len(metrics),
                yaxis={"categoryorder": "array", "categoryarray": metrics[::-1]},
                legend_title_text="variant",
            )
            if kind == "mean_diff":
                figure.add_vline(x=0, line_color="#888")
            figures.append(figure)
    return figures


def _interval_trace(rows: pl.DataFrame, variant: str, control: str, color: str) -> go.Scatter:
    """Point estimates with asymmetric error bars (none where the row has no interval)."""
    value = rows["value"].to_numpy()
    has_interval = rows["ci_low"].is_not_null().to_numpy()
    low = rows["ci_low"].fill_null(0.0).to_numpy()
    high = rows["ci_high"].fill_null(0.0).to_numpy()
    return go.Scatter(
        x=value,
        y=rows["metric"].to_list(),
        mode="markers",
        name=f"{variant} ({'controlled' if control == HEADLINE_CONTROL else 'raw'})",
        legendgroup=variant,
        marker={"color": color, "symbol": "circle" if control == HEADLINE_CONTROL else "circle-open", "size": 8},
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
