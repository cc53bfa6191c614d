"""The dashboard file is self-contained and well-formed; headline numbers are the documented means."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from analytics.dashboard import family_scores, headline_metrics, summary_markdown, write_dashboard
from analytics.divergence import DIVERGENCE_SCHEMA, DivergenceSettings, compare
from analytics.extract import extract
from analytics.features import compute_features
from digit_assets.engine.records import ConversationRecord

DATA = Path(__file__).parent / "data" / "analytics"


class _Structure(HTMLParser):
    """Counts plot containers and checks that every opened element is closed in order."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.plots = 0
        self.external_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.external_scripts.append(attributes["src"] or "")
        if "plotly-graph-div" in (attributes.get("class") or ""):
            self.plots += 1
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


@pytest.fixture(scope="module")
def analysed() -> tuple:
    records = []
    for name, variant, source in (
        ("two_turn_order.json", "shop_search", "stateful_search"),
        ("booking_recovery.json", "digit_tc", "digit_tc"),
        ("two_turn_order.json", "no_impl", "digit_tc"),
    ):
        record = ConversationRecord.model_validate_json((DATA / name).read_text())
        update = {"variant": variant, "source": source, "conversation_id": f"{variant}-1"}
        records.append(record.model_copy(update=update))
    features = compute_features(extract(records))
    return features, compare(features, settings=DivergenceSettings(n_bootstrap=20, permutation_resamples=99))


def test_dashboard_is_self_contained_and_well_formed(analysed: tuple, tmp_path: Path) -> None:
    features, divergences = analysed
    funnel = pl.DataFrame({
        "variant": ["digit_tc"] * 2, "level": ["turn"] * 2, "stage": ["plan", "verify"],
        "attempted": [10, 8], "accepted": [8, 6], "rejected": [2, 2],
    })
    path = write_dashboard(features, divergences, funnel, tmp_path / "out" / "fidelity.html")
    text = path.read_text(encoding="utf-8")
    assert "plotly.js v" in text  # the library itself is embedded ...
    assert text.count("plotly.js v") == 1  # ... once
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", text)
    structure = _Structure()
    structure.feed(text)
    structure.close()
    assert structure.open == [] and structure.external_scripts == []
    assert structure.plots == text.count("Plotly.newPlot(") >= 7
    assert "Synthesis acceptance funnel" in text and "Divergences from the baselines" in text
    assert "digit_tc" in text and "shop_search" in text

    without_funnel = write_dashboard(features, divergences, None, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "Synthesis acceptance funnel" not in without_funnel


def test_dashboard_with_nothing_to_compare(analysed: tuple, tmp_path: Path) -> None:
    features, _ = analysed
    path = write_dashboard(features, pl.DataFrame(schema=DIVERGENCE_SCHEMA), None, tmp_path / "empty.html")
    text = path.read_text(encoding="utf-8")
    assert "No variant/baseline pair to compare." in text


def divergence_rows() -> pl.DataFrame:
    rows = [
        ("depth", "dependency_graph", "js", "digit_tc", "search", 0.1, 0.05, 0.2),
        ("edges", "dependency_graph", "js", "digit_tc", "search", 0.3, 0.2, 0.4),
        ("discovered_share", "dependency_graph", "ks_stat", "digit_tc", "search", 0.4, None, None),
        ("discovered_share", "dependency_graph", "mean_diff", "digit_tc", "search", -0.05, -0.07, -0.03),
        ("rw_bigrams", "transitions", "js", "digit_tc", "search", 0.02, 0.01, 0.03),
        ("depth", "dependency_graph", "js", "no_impl", "search", 0.5, 0.4, 0.6),
    ]
    return pl.DataFrame(
        [(*r, 100, 120) for r in rows], schema=DIVERGENCE_SCHEMA, orient="row"
    )


def test_family_scores_and_headline_metrics_are_family_means() -> None:
    divergences = divergence_rows()
    assert headline_metrics(divergences) == pytest.approx({
        "digit_tc_vs_search.dependency_graph.js_mean": 0.2,
        "digit_tc_vs_search.dependency_graph.ks_mean": 0.4,
        "digit_tc_vs_search.transitions.js_mean": 0.02,
        "no_impl_vs_search.dependency_graph.js_mean": 0.5,
    })
    scores = family_scores(divergences).filter(pl.col("score") == "js_mean")
    graph = scores.filter(pl.col("variant") == "digit_tc", pl.col("family") == "dependency_graph")
    assert graph["n_metrics"].item() == 2


def test_summary_markdown_table() -> None:
    assert summary_markdown(divergence_rows()).splitlines() == [
        "| variant | baseline | dependency graph JS | transitions JS | depth JS | discovered share Δ"
        " | read/write bigrams JS | error outcomes JS |",
        "|---|---|---|---|---|---|---|---|",
        "| digit_tc | search | 0.200 | 0.020 | 0.100 [0.050, 0.200] | -0.050 [-0.070, -0.030]"
        " | 0.020 [0.010, 0.030] | – |",
        "| no_impl | search | 0.500 | – | 0.500 [0.400, 0.600] | – | – | – |",
    ]
