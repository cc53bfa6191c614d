"""Divergences against hand-computed values; bootstrap intervals seeded and sensible."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp

from analytics.divergence import (
    DIVERGENCE_SCHEMA,
    DivergenceSettings,
    analyze,
    compare,
    default_pairs,
    js_divergence,
    smoothed_kl,
)
from analytics.extract import CALL_SCHEMA, CONVERSATION_SCHEMA, EDGE_SCHEMA, FlatTables
from analytics.features import FidelityFeatures, compute_features


def features_of(groups: dict[tuple[str, str], list[list[tuple[int, bool]]]]) -> FidelityFeatures:
    """Features of conversations given per (source, variant) as lists of calls ``(turn, is_write)``.

    Turns of a conversation = its last call's turn + 1; calls chain (each consumes the previous output)."""
    conversations, calls, edges = [], [], []
    for (source, variant), members in groups.items():
        for index, member in enumerate(members):
            cid = f"{variant}-{index:04d}"
            turns = member[-1][0] + 1 if member else 1
            conversations.append((cid, source, variant, "d", turns, len(member), len(member), True))
            for position, (turn, is_write) in enumerate(member):
                tool = "w" if is_write else "r"
                calls.append((cid, source, variant, "d", turn, position, tool, False, is_write, 0, 1, 1, 1, 0, 0))
                if position:
                    before = member[position - 1][0]
                    edges.append((cid, position - 1, position, before, turn, before < turn, 1))
    tables = FlatTables(
        pl.DataFrame(conversations, schema=CONVERSATION_SCHEMA, orient="row"),
        pl.DataFrame(calls, schema=CALL_SCHEMA, orient="row"),
        pl.DataFrame(edges, schema=EDGE_SCHEMA, orient="row"),
    )
    return compute_features(tables)


def row(
    divergences: pl.DataFrame, metric: str, kind: str, variant: str = "digit_tc", baseline: str = "search",
    control: str = "raw", domain: str = "all",
) -> dict[str, object]:
    return divergences.filter(
        metric=metric, kind=kind, variant=variant, baseline=baseline, control=control, domain=domain
    ).row(0, named=True)


def test_smoothed_kl_of_known_counts() -> None:
    # p = (3, 1, 0), q = (1, 1, 2), +0.5 each: p~ = (3.5, 1.5, 0.5)/5.5, q~ = (1.5, 1.5, 2.5)/5.5
    expected = (
        (3.5 / 5.5) * math.log2(3.5 / 1.5) + (1.5 / 5.5) * math.log2(1.5 / 1.5) + (0.5 / 5.5) * math.log2(0.5 / 2.5)
    )
    assert smoothed_kl(np.array([3, 1, 0]), np.array([1, 1, 2]), 0.5) == pytest.approx(expected)
    assert expected == pytest.approx(0.566802, abs=1e-6)
    assert smoothed_kl(np.array([2, 2]), np.array([5, 5]), 0.5) == pytest.approx(0.0)
    # Laplace (+1): p~ = (2, 1)/3, q~ = (1, 2)/3 -> (2/3 - 1/3) * log2(2) = 1/3
    assert smoothed_kl(np.array([1, 0]), np.array([0, 1]), 1.0) == pytest.approx(1 / 3)


def test_js_divergence_of_known_distributions() -> None:
    assert js_divergence(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)  # disjoint: 1 bit
    assert js_divergence(np.array([3, 3]), np.array([1, 1])) == pytest.approx(0.0)
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4)
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * math.log2(1 / 0.75)
    assert js_divergence(np.array([1, 1]), np.array([2, 0])) == pytest.approx(expected)
    assert expected == pytest.approx(0.311278, abs=1e-6)


def test_compare_turn_histograms_by_hand() -> None:
    # turns: digit_tc (1, 1, 1, 2), search (1, 2, 2, 3) -> shared support {1, 2, 3}: p = (3, 1, 0), q = (1, 2, 1)
    features = features_of({
        ("digit_tc", "digit_tc"): [[(0, False)], [(0, False)], [(0, False)], [(1, False)]],
        ("stateful_search", "search"): [[(0, False)], [(1, False)], [(1, False)], [(2, False)]],
    })
    divergences = compare(features, settings=DivergenceSettings(n_bootstrap=50))
    kl_pq = (3.5 / 5.5) * math.log2(3.5 / 1.5) + (1.5 / 5.5) * math.log2(1.5 / 2.5) + (0.5 / 5.5) * math.log2(0.5 / 1.5)
    kl_qp = (1.5 / 5.5) * math.log2(1.5 / 3.5) + (2.5 / 5.5) * math.log2(2.5 / 1.5) + (1.5 / 5.5) * math.log2(1.5 / 0.5)
    # p = (.75, .25, 0), q = (.25, .5, .25), m = (.5, .375, .125): KL(p||m) + KL(q||m) = 0.5 exactly
    assert row(divergences, "turns", "kl_pq")["value"] == pytest.approx(kl_pq)
    assert row(divergences, "turns", "kl_qp")["value"] == pytest.approx(kl_qp)
    assert row(divergences, "turns", "js")["value"] == pytest.approx(0.25)
    assert (row(divergences, "turns", "js")["n_variant"], row(divergences, "turns", "js")["n_baseline"]) == (4, 4)
    assert row(divergences, "turns", "mean_diff")["value"] == pytest.approx(1.25 - 2.0)
    assert row(divergences, "turns", "js")["family"] == "length"


def test_pooled_distributions_compare_on_the_union_support() -> None:
    # read/write bigrams: digit_tc START->read, read->END (x2); search START->write, write->END (x2)
    features = features_of({
        ("digit_tc", "digit_tc"): [[(0, False)], [(0, False)]],
        ("stateful_search", "search"): [[(0, True)], [(0, True)]],
    })
    divergences = compare(features, settings=DivergenceSettings(n_bootstrap=20))
    js = row(divergences, "rw_bigrams", "js")
    assert js["value"] == pytest.approx(1.0) and js["family"] == "transitions"
    # 4 categories, counts (2, 2, 0, 0) vs (0, 0, 2, 2), +0.5: p~ = (2.5, 2.5, .5, .5)/6, q~ reversed
    expected = 2 * (2.5 / 6) * math.log2(2.5 / 0.5) + 2 * (0.5 / 6) * math.log2(0.5 / 2.5)
    assert row(divergences, "rw_bigrams", "kl_pq")["value"] == pytest.approx(expected)


def test_default_pairs_are_synthesis_variants_against_every_baseline() -> None:
    features = features_of({
        ("digit_tc", "no_bt"): [[(0, False)]],
        ("digit_tc", "digit_tc"): [[(0, False)]],
        ("digit_tc", "experimental"): [[(0, False)]],
        ("stateful_search", "search"): [[(0, False)]],
        ("import", "imported"): [[(0, False)]],
    })
    assert default_pairs(features) == [
        ("digit_tc", "imported"), ("digit_tc", "search"), ("no_bt", "imported"), ("no_bt", "search"),
    ]
    assert compare(features, []).schema == pl.Schema(DIVERGENCE_SCHEMA)


def random_groups(seed: int, n: int = 300) -> FidelityFeatures:
    rng = np.random.default_rng(seed)

    def conversations(length_mean: float, write_share: float) -> list[list[tuple[int, bool]]]:
        lengths = 1 + rng.poisson(length_mean, n)
        return [[(0, bool(rng.random() < write_share)) for _ in range(length)] for length in lengths]

    return features_of({
        ("digit_tc", "digit_tc"): conversations(2.0, 0.3),
        ("stateful_search", "search"): conversations(3.0, 0.5),
    })


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded() -> None:
    features = random_groups(1)
    settings = DivergenceSettings(n_bootstrap=200, seed=11)
    first = compare(features, settings=settings)
    assert first.equals(compare(features, settings=settings))
    for metric, kind in (
        ("depth", "js"), ("nodes", "kl_pq"), ("rw_bigrams", "js"),
        ("depth", "mean_diff"), ("calls_per_turn", "mean_diff"),
    ):
        estimate = row(first, metric, kind)
        assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"], (metric, kind)
    other = compare(features, settings=DivergenceSettings(n_bootstrap=200, seed=12))
    estimates = pl.col("kind") != "perm_p"  # the only seeded point estimate
    assert other.filter(estimates)["value"].equals(first.filter(estimates)["value"])
    assert not other["ci_low"].equals(first["ci_low"])


def test_continuous_tests_match_scipy_and_detect_shifts() -> None:
    features = random_groups(2)
    divergences = compare(features, settings=DivergenceSettings(n_bootstrap=50, permutation_resamples=499))
    values = features.conversations.drop_nulls("calls_per_turn")
    x = values.filter(pl.col("variant") == "digit_tc")["calls_per_turn"].to_numpy()
    y = values.filter(pl.col("variant") == "search")["calls_per_turn"].to_numpy()
    reference = ks_2samp(x, y)
    assert row(divergences, "calls_per_turn", "ks_stat")["value"] == pytest.approx(reference.statistic)
    assert row(divergences, "calls_per_turn", "ks_p")["value"] == pytest.approx(reference.pvalue)
    assert row(divergences, "calls_per_turn", "perm_p")["value"] < 0.01
    assert row(divergences, "calls_per_turn", "perm_p")["ci_low"] is None

    same = compare(features, [("digit_tc", "digit_tc")], DivergenceSettings(n_bootstrap=20, permutation_resamples=99))
    assert row(same, "calls_per_turn", "perm_p", baseline="digit_tc")["value"] == pytest.approx(1.0)
    assert row(same, "depth", "js", baseline="digit_tc")["value"] == pytest.approx(0.0)
    assert set(divergences["kind"]) == {"kl_pq", "kl_qp", "js", "mean_diff", "ks_stat", "ks_p", "perm_p", "coverage"}


def length_only_groups(seed: int, n: int = 300) -> FidelityFeatures:
    """Variants whose turns differ from the baseline's while every turn looks the same (2 chained calls)."""
    rng = np.random.default_rng(seed)

    def conversations(turn_shares: list[float]) -> list[list[tuple[int, bool]]]:
        turns = rng.choice([1, 2, 3], n, p=turn_shares)
        return [[(turn, bool(rng.random() < 0.3)) for turn in range(count) for _ in range(2)] for count in turns]

    return features_of({
        ("digit_tc", "digit_tc"): conversations([0.6, 0.3, 0.1]),
        ("digit_tc", "no_impl"): conversations([0.1, 0.3, 0.6]),
        ("stateful_search", "search"): conversations([0.1, 0.3, 0.6]),
    })


def test_length_control_removes_a_pure_length_difference() -> None:
    results = analyze(length_only_groups(3), settings=DivergenceSettings(n_bootstrap=50, permutation_resamples=99))
    divergences = results.divergences
    raw, controlled = (row(divergences, "depth", "js", control=c) for c in ("raw", "length"))
    assert raw["value"] > 0.1
    assert controlled["value"] == pytest.approx(0.0, abs=1e-12)  # depth is 2 x turns - 1: fixed by the strata
    assert row(divergences, "length_strata", "coverage", control="length")["value"] == pytest.approx(1.0)
    # raw, digit_tc is farther than no_impl only because of its length; controlled, the gap is gone
    claims = results.claims.filter(reference="no_impl", family="dependency_graph", domain="all")
    raw_claim, controlled_claim = (claims.filter(control=c).row(0, named=True) for c in ("raw", "length"))
    assert raw_claim["difference"] > 0.05 and raw_claim["ci_low"] > 0 and not raw_claim["holds"]
    assert controlled_claim["difference"] == pytest.approx(0.0, abs=1e-12) and not controlled_claim["holds"]
    transitions = results.claims.filter(reference="no_impl", family="transitions", domain="all", control="length")
    same_process = transitions.row(0, named=True)  # both variants write 30% of calls, like the baseline
    assert same_process["ci_low"] < 0 < same_process["ci_high"] and same_process["perm_p"] > 0.05
    assert set(results.claims["family"]) == {"dependency_graph", "transitions", "recovery", "sequence", "length"}


def test_a_baseline_without_outputs_gets_reasons_not_divergences() -> None:
    features = length_only_groups(4, n=60)
    call_only = features.conversations.with_columns(
        has_outputs=pl.col("variant") != "search",
        has_user_text=pl.col("variant") != "search",
        **{name: pl.when(pl.col("variant") == "search").then(None).otherwise(pl.col(name)) for name in ("edges", "depth")},
    )
    features = FidelityFeatures(call_only, features.counts, features.categories)
    results = analyze(features, settings=DivergenceSettings(n_bootstrap=30, permutation_resamples=19))
    depth = row(results.divergences, "depth", "js")
    assert depth["value"] is None and depth["reason"] == "search has no tool outputs (call-only records)"
    discovered = row(results.divergences, "discovered_share", "js")
    assert discovered["value"] is None and "search has no" in discovered["reason"]
    assert results.divergences.filter(pl.col("reason").is_not_null())["value"].is_null().all()
    assert results.divergences.filter(metric="depth", kind="kl_pq").is_empty()


def test_closer_holds_only_where_interval_and_permutation_test_both_say_so():
    from analytics.divergence import claim_verdict

    assert claim_verdict(-0.004, 0.005, 0.95) == (True, None)
    # The default run's dependency graph against no_impl: the interval is below zero, the test is not.
    holds, reason = claim_verdict(-0.009, 0.06, 0.95)
    assert not holds and reason == "permutation p 0.060 is above 0.05"
    holds, reason = claim_verdict(0.003, 0.001, 0.95)
    assert not holds and "interval reaches +0.0030" in reason
    assert claim_verdict(None, 0.001, 0.95) == (False, "no interval")
