"""Coverage of the fidelity intervals on simulated data whose truth is known.

Each simulation draws three samples (digit_tc, no_impl, baseline) of conversations with one category
each from known distributions and runs the production path (:class:`analytics.divergence._DomainAnalysis`,
BCa intervals from resampling all three samples). The share of intervals that contain the true value
must be near the nominal 95%. With S simulations the share's binomial standard error at p = 0.95 is
sqrt(0.95 * 0.05 / S) (0.017 at S = 160); the test accepts 0.95 +- 3 SE below (an interval that
covers too rarely would make the claim look stronger than it is) and up to 0.995 above (a mildly
conservative interval is acceptable; one that always covers would not be an interval).
Measured on this code: 0.98 for the difference with equal distributions, 0.95 for a shifted one,
0.945 for a single JS of 0.047 bits. A single plug-in JS whose truth is near zero (below its own
upward bias, about (categories - 1)(1/n + 1/m) / (8 ln 2)) is covered less often (0.885 at 0.005
bits with n = 300): that is why the claim is tested on the difference, where the bias cancels, and
why each JS row also carries ``bias_corrected``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sparse

from analytics.divergence import DivergenceSettings, _DiscreteSpace, _DomainAnalysis, js_divergence

CATEGORIES = 5
N = 300
SIMULATIONS = 160
SETTINGS = DivergenceSettings(n_bootstrap=199, permutation_resamples=19, jackknife_groups=20)
BASELINE = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
LOWEST = 0.95 - 3 * math.sqrt(0.95 * 0.05 / SIMULATIONS)


def simulated(p_variant: np.ndarray, p_reference: np.ndarray, seed: int) -> _DomainAnalysis:
    rng = np.random.default_rng(seed)
    category = np.concatenate([rng.choice(CATEGORIES, N, p=p) for p in (p_variant, p_reference, BASELINE)])
    total = category.size
    matrix = sparse.csr_matrix((np.ones(total, np.float32), (np.arange(total), category)), shape=(total, CATEGORIES))
    space = _DiscreteSpace(matrix, ["rw_bigrams"], [slice(0, CATEGORIES)], np.zeros((total, 0)), ())
    rows = {"digit_tc": np.arange(N), "no_impl": np.arange(N, 2 * N), "search": np.arange(2 * N, 3 * N)}
    return _DomainAnalysis(space, np.zeros(total, np.int64), SETTINGS, None, rows, np.ones((total, 3), bool))


def coverage(p_variant: np.ndarray, p_reference: np.ndarray) -> tuple[float, float]:
    """Coverage of the difference's interval and of no_impl's JS interval over the simulations."""
    true_difference = float(js_divergence(p_variant, BASELINE) - js_divergence(p_reference, BASELINE))
    true_js = float(js_divergence(p_reference, BASELINE))
    difference_hits = js_hits = 0
    for seed in range(SIMULATIONS):
        analysis = simulated(p_variant, p_reference, seed)
        claim = next(
            row for row in analysis.claim_rows("digit_tc", "no_impl", "search")
            if row["family"] == "transitions" and row["control"] == "raw"
        )
        difference_hits += claim["ci_low"] <= true_difference <= claim["ci_high"]
        divergences, _ = analysis.pair_rows("no_impl", "search")
        js = next(row for row in divergences if row["kind"] == "js" and row["control"] == "raw")
        js_hits += js["ci_low"] <= true_js <= js["ci_high"]
    return difference_hits / SIMULATIONS, js_hits / SIMULATIONS


def test_difference_interval_covers_zero_when_both_variants_are_equally_far() -> None:
    same = np.array([0.25, 0.25, 0.20, 0.15, 0.15])
    difference, _ = coverage(same, same)
    assert LOWEST <= difference <= 0.995, difference


def test_difference_interval_covers_a_known_shift() -> None:
    closer, farther = np.array([0.28, 0.25, 0.20, 0.15, 0.12]), np.array([0.15, 0.20, 0.20, 0.20, 0.25])
    difference, js = coverage(closer, farther)
    assert LOWEST <= difference <= 0.995, difference
    assert LOWEST <= js <= 0.995, js


@pytest.mark.parametrize("seed", [0, 1])
def test_claim_holds_only_with_a_real_gap(seed: int) -> None:
    closer, farther = np.array([0.30, 0.25, 0.20, 0.15, 0.10]), np.array([0.10, 0.15, 0.20, 0.25, 0.30])
    gap = next(
        row for row in simulated(closer, farther, seed).claim_rows("digit_tc", "no_impl", "search")
        if row["control"] == "raw" and row["family"] == "transitions"
    )
    assert gap["holds"] and gap["ci_high"] < 0 and gap["perm_p"] <= 0.05
    same = next(
        row for row in simulated(farther, farther, seed).claim_rows("digit_tc", "no_impl", "search")
        if row["control"] == "raw" and row["family"] == "transitions"
    )
    assert same["ci_low"] < 0 < same["ci_high"] and not same["holds"] and "not below zero" in same["reason"]
