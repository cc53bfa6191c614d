"""The dashboard file is self-contained and well-formed; headline numbers are the documented means."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from analytics.dashboard import claims_markdown, headline_metrics, summary_markdown, write_dashboard
from analytics.divergence import (
    CLAIM_SCHEMA,
    DIVERGENCE_SCHEMA,
    SCORE_SCHEMA,
    DivergenceSettings,
    FidelityResults,
    analyze,
)
from analytics.extract import extract
from analytics.features import compute_features, source_profiles
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
    tables = extract(records)
    features = compute_features(tables)
    results = analyze(features, settings=DivergenceSettings(n_bootstrap=20, permutation_resamples=99))
    return features, results, source_profiles(tables, features)


def test_dashboard_is_self_contained_and_well_formed(analysed: tuple, tmp_path: Path) -> None:
    features, results, sources = analysed
    funnel = pl.DataFrame({
        "variant": ["digit_tc"] * 2, "level": ["turn"] * 2, "stage": ["plan", "verify"],
        "attempted": [10, 8], "accepted": [8, 6], "rejected": [2, 2],
    })
    path = write_dashboard(features, results, sources, funnel, tmp_path / "out" / "fidelity.html")
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
    assert "structural test data" in text and "length-controlled" in text
    # the one-conversation samples: the baseline has no errors, so recovery shares are not applicable, with the reason
    assert "shop_search has no errors" in text

    without_funnel = write_dashboard(features, results, sources, None, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "Synthesis acceptance funnel" not in without_funnel


def test_dashboard_with_nothing_to_compare(analysed: tuple, tmp_path: Path) -> None:
    features, _, sources = analysed
    empty = FidelityResults(
        pl.DataFrame(schema=DIVERGENCE_SCHEMA), pl.DataFrame(schema=SCORE_SCHEMA), pl.DataFrame(schema=CLAIM_SCHEMA)
    )
    text = write_dashboard(features, empty, sources, None, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "Every comparison is applicable." in text and "The claim, per family" in text


def claim_rows() -> pl.DataFrame:
    rows = []
    for family, (controlled, raw) in {
        "dependency_graph": ((-0.02, -0.03, -0.01, 0.002, True), (-0.03, -0.04, -0.02, 0.001, True)),
        "sequence": ((0.01, -0.01, 0.03, 0.4, False), (0.05, 0.03, 0.07, 0.9, False)),
    }.items():
        for control, (difference, low, high, p, holds) in (("length", controlled), ("raw", raw)):
            rows.append({
                "baseline": "search", "domain": "all", "family": family, "control": control, "variant": "digit_tc",
                "reference": "no_impl", "difference": difference, "ci_low": low, "ci_high": high, "perm_p": p,
                "n_metrics": 3, "n_variant": 100, "n_reference": 90, "n_baseline": 80, "holds": holds, "reason": None,
            })
    return pl.DataFrame(rows, schema=CLAIM_SCHEMA)


def test_claims_markdown_shows_every_family_controlled_then_raw() -> None:
    assert claims_markdown(claim_rows()).splitlines() == [
        "| baseline | digit_tc minus | family | controlled difference [95% CI] | p | holds | raw difference [95% CI] | p (raw) |",
        "|---|---|---|---|---|---|---|---|",
        "| search | no_impl | dependency graph | -0.020 [-0.030, -0.010] | 0.002 | yes | -0.030 [-0.040, -0.020] | 0.001 |",
        "| search | no_impl | sequence | +0.010 [-0.010, +0.030] | 0.400 | no | +0.050 [+0.030, +0.070] | 0.900 |",
    ]


def test_headline_metrics_are_controlled_pooled_numbers(analysed: tuple) -> None:
    _, results, _ = analysed
    metrics = headline_metrics(FidelityResults(results.divergences, results.scores, claim_rows()))
    assert metrics["claim.search.no_impl.dependency_graph"] == pytest.approx(-0.02)
    assert metrics["claim.search.no_impl.sequence"] == pytest.approx(0.01)
    raw_only = FidelityResults(results.divergences, results.scores.with_columns(control=pl.lit("length")), claim_rows())
    raw = results.scores.filter(control="raw", domain="all", variant="digit_tc", family="sequence")
    assert headline_metrics(raw_only)["digit_tc_vs_shop_search.sequence.js_mean"] == pytest.approx(raw["value"].item())
    # one conversation each, in different length strata: no controlled score, and the reason says why
    controlled = results.scores.filter(control="length", domain="all", variant="digit_tc", family="sequence").row(0, named=True)
    assert controlled["value"] is None and "no conversation in any length stratum" in controlled["reason"]
    assert "digit_tc_vs_shop_search.sequence.js_mean" not in metrics
    assert "| variant | baseline |" in summary_markdown(results.scores)
