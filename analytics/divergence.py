"""Divergences between a synthesis variant and a stateful baseline, with bootstrap confidence intervals.

Conventions (every number in the fidelity tables follows them):

- Discrete distributions are the pooled category counts of ``FidelityFeatures.counts``
  (read/write and tool bigrams, call and error outcomes, recovery lengths) and the histograms of the
  integer features (one category per observed value). They are compared on their *shared support*:
  the union of the categories either side observed.
- ``kl_pq`` = KL(variant || baseline) and ``kl_qp`` = KL(baseline || variant), in bits, use additive
  (Lidstone) smoothing: every count on the shared support gets ``+smoothing`` (default 0.5, the
  Jeffreys / Krichevsky-Trofimov prior) before normalizing, so p_i = (c_i + a) / (N + a K). Without it
  one unseen category makes KL infinite. Computed by ``scipy.stats.entropy(p, q, base=2)``.
- ``js`` is the Jensen-Shannon *divergence* in bits (in [0, 1]): the square of
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, which returns the JS distance. JS is finite
  without smoothing, so it is computed on the unsmoothed empirical distributions.
- Continuous features (shares, rates, means, entropies) get ``ks_stat`` / ``ks_p`` from
  ``scipy.stats.ks_2samp`` and ``perm_p`` from ``scipy.stats.permutation_test`` on the difference of
  means (two-sided). The permutation test runs on a seeded subsample of at most
  ``permutation_max_n`` conversations per side: beyond that the KS test and the bootstrap interval
  already resolve any difference, and the cost grows with n times the number of resamples.
- ``mean_diff`` = mean(variant) - mean(baseline) for every numeric feature, over conversations where
  the feature is defined.
- Confidence intervals are bootstrap percentile intervals: each side's conversations are resampled
  with replacement (``n_bootstrap`` times, independently per side, seeded by ``seed`` and the variant
  name so a variant gets the same resamples in every pair), and the statistic is recomputed on each
  resample. Discrete distributions are resampled as whole conversations (a conversation's bigrams
  stay together). For an integer feature's histogram the resampled counts are drawn directly from
  the multinomial distribution that resampling conversations induces on it (exactly the same
  bootstrap, at a cost independent of n). Tests' p-values and ``ks_stat`` have no interval (null).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sparse
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, ks_2samp, permutation_test

from analytics.features import INTEGER_FEATURES, NUMERIC_FEATURES, FidelityFeatures, family_of

SYNTHESIS_VARIANTS: tuple[str, ...] = ("digit_tc", "no_impl", "no_bt")
BASELINE_SOURCES: tuple[str, ...] = ("stateful_search", "import")
CONTINUOUS_FEATURES: tuple[str, ...] = tuple(f for f in NUMERIC_FEATURES if f not in INTEGER_FEATURES)
DIVERGENCE_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "family": pl.String(),
    "kind": pl.String(),
    "variant": pl.String(),
    "baseline": pl.String(),
    "value": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n_variant": pl.Int64(),
    "n_baseline": pl.Int64(),
}
_BOOTSTRAP_BATCH = 16  # replicates per sparse product: amortizes it, bounds the weights to 16 x n


@dataclass(frozen=True)
class DivergenceSettings:
    """Knobs of :func:`compare`; part of the results' provenance (hash it into the config hash)."""

    n_bootstrap: int = 200
    confidence: float = 0.95
    smoothing: float = 0.5
    seed: int = 0
    permutation_resamples: int = 999
    permutation_max_n: int = 1_000


def smoothed_kl(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """KL(p || q) in bits after adding ``smoothing`` to every count (last axis = categories)."""
    return entropy(np.asarray(p_counts, float) + smoothing, np.asarray(q_counts, float) + smoothing, base=2, axis=-1)


def js_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits (the squared JS distance) of two count vectors."""
    return jensenshannon(np.asarray(p_counts, float), np.asarray(q_counts, float), base=2, axis=-1) ** 2


def default_pairs(features: FidelityFeatures) -> list[tuple[str, str]]:
    """Every synthesis variant present (digit_tc, no_impl, no_bt) against every baseline present."""
    sources = features.conversations.select("variant", "source").unique()
    variants = set(sources["variant"])
    baselines = sorted(sources.filter(pl.col("source").is_in(BASELINE_SOURCES))["variant"].unique())
    return [(variant, baseline) for variant in SYNTHESIS_VARIANTS if variant in variants for baseline in baselines]


def compare(
    features: FidelityFeatures,
    variant_pairs: Sequence[tuple[str, str]] | None = None,
    settings: DivergenceSettings = DivergenceSettings(),
) -> pl.DataFrame:
    """Long-format divergences of every (variant, baseline) pair; columns as :data:`DIVERGENCE_SCHEMA`."""
    pairs = list(default_pairs(features) if variant_pairs is None else variant_pairs)
    if not pairs:
        return pl.DataFrame(schema=DIVERGENCE_SCHEMA)
    space = _PooledSpace.of(features)
    names = sorted({name for pair in pairs for name in pair})
    samples = {name: _Sample.draw(name, features, space, settings) for name in names}
    rows: list[dict[str, object]] = []
    for variant, baseline in pairs:
        pair = _PairRows(samples[variant], samples[baseline], settings)
        pair.add_pooled(space)
        pair.add_histograms()
        pair.add_continuous()
        rows += pair.rows
    return pl.DataFrame(rows, schema=DIVERGENCE_SCHEMA).sort("family", "metric", "kind", "variant", "baseline")


@dataclass(frozen=True)
class _PooledSpace:
    """Per-conversation counts of every pooled distribution as one sparse matrix (conversation x category)."""

    matrix: sparse.csr_matrix
    names: list[str]
    slices: list[slice]

    @classmethod
    def of(cls, features: FidelityFeatures) -> _PooledSpace:
        counts, categories = features.counts, features.categories
        matrix = sparse.coo_matrix(
            (
                counts["count"].to_numpy().astype(np.float64),
                (counts["conv"].to_numpy().astype(np.int64), counts["category_id"].to_numpy().astype(np.int64)),
            ),
            shape=(int(features.conversations["conv"].max()) + 1, categories.height),
        ).tocsr()
        bounds = (
            categories.group_by("distribution")
            .agg(start=pl.col("category_id").min(), stop=pl.col("category_id").max() + 1, n=pl.len())
            .sort("start")
        )
        if (bounds["stop"] - bounds["start"] != bounds["n"]).any():
            raise ValueError("category ids of a distribution must be contiguous")
        slices = [slice(start, stop) for start, stop in zip(bounds["start"], bounds["stop"])]
        return cls(matrix, bounds["distribution"].to_list(), slices)

    def membership(self) -> sparse.csr_matrix:
        """category x distribution indicator, to count the conversations that have a distribution."""
        index = np.empty(self.matrix.shape[1], dtype=np.int64)
        for position, columns in enumerate(self.slices):
            index[columns] = position
        return sparse.csr_matrix(
            (np.ones(index.size), (np.arange(index.size), index)), shape=(index.size, len(self.slices))
        )


@dataclass(frozen=True)
class _Histogram:
    """An integer feature's histogram over its observed values, with bootstrap replicates."""

    support: np.ndarray
    counts: np.ndarray
    replicates: np.ndarray

    @classmethod
    def draw(cls, values: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> _Histogram:
        """Resampling n conversations with replacement gives each value (and 'undefined') a
        multinomial count with the observed shares: drawn directly, it is the same bootstrap."""
        defined = values[~np.isnan(values)]
        support, counts = np.unique(defined, return_counts=True)
        shares = np.append(counts, values.size - defined.size) / values.size
        return cls(support, counts, rng.multinomial(values.size, shares, size=n_bootstrap)[:, :-1])

    def aligned(self, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and replicates spread onto a larger support (zeros where this side saw nothing)."""
        index = np.searchsorted(support, self.support)
        counts = np.zeros(support.size)
        counts[index] = self.counts
        replicates = np.zeros((self.replicates.shape[0], support.size))
        replicates[:, index] = self.replicates
        return counts, replicates


@dataclass(frozen=True)
class _Sample:
    """One variant's conversations: full-sample statistics and their bootstrap replicates."""

    name: str
    values: np.ndarray
    pooled: np.ndarray
    present: np.ndarray
    pooled_replicates: np.ndarray
    mean_replicates: np.ndarray
    histograms: dict[str, _Histogram]

    @classmethod
    def draw(cls, name: str, features: FidelityFeatures, space: _PooledSpace, settings: DivergenceSettings) -> _Sample:
        conversations = features.conversations.filter(pl.col("variant") == name)
        if conversations.is_empty():
            raise ValueError(f"no conversations of variant {name!r}")
        values = conversations.select(pl.col(NUMERIC_FEATURES).cast(pl.Float64)).to_numpy()  # null -> NaN
        matrix = space.matrix[conversations["conv"].to_numpy().astype(np.int64)]
        rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode())])
        pooled_replicates, mean_replicates = _resample(matrix, values, settings.n_bootstrap, rng)
        return cls(
            name=name,
            values=values,
            pooled=np.asarray(matrix.sum(axis=0)).ravel(),
            present=np.asarray(((matrix != 0) @ space.membership() != 0).sum(axis=0)).ravel(),
            pooled_replicates=pooled_replicates,
            mean_replicates=mean_replicates,
            histograms={
                feature: _Histogram.draw(values[:, NUMERIC_FEATURES.index(feature)], settings.n_bootstrap, rng)
                for feature in INTEGER_FEATURES
            },
        )


def _resample(
    matrix: sparse.csr_matrix, values: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of the pooled counts and of the feature means (over defined values).

    A replicate draws n conversations with replacement; as weights (how often each was drawn) every
    statistic is a weighted sum of per-conversation columns, so a batch of replicates is two sparse
    products: counts in float32 (exact integers up to 2**24, several times faster), feature sums and
    defined-value counts in float64. scipy's sparse products run on one thread, so the cost does not
    collapse when another process competes for the cores (multi-threaded BLAS does)."""
    n, n_features = values.shape
    defined = ~np.isnan(values)
    per_conversation = sparse.csr_matrix(np.hstack([np.where(defined, values, 0.0), defined]))
    counts = matrix.astype(np.float32)
    pooled = np.empty((n_bootstrap, matrix.shape[1]))
    sums = np.empty((n_bootstrap, 2 * n_features))
    weights = np.empty((_BOOTSTRAP_BATCH, n))
    for first in range(0, n_bootstrap, _BOOTSTRAP_BATCH):
        size = min(_BOOTSTRAP_BATCH, n_bootstrap - first)
        for row, draw in enumerate(rng.integers(0, n, size=(size, n), dtype=np.int32 if n < 2**31 else np.int64)):
            weights[row] = np.bincount(draw, minlength=n)
        pooled[first : first + size] = weights[:size].astype(np.float32) @ counts
        sums[first : first + size] = weights[:size] @ per_conversation
    with np.errstate(invalid="ignore", divide="ignore"):
        return pooled, sums[:, :n_features] / sums[:, n_features:]


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite replicates (a replicate can be undefined, e.g. an empty resample)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None, None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class _PairRows:
    """The long-format rows of one (variant, baseline) pair."""

    variant: _Sample
    baseline: _Sample
    settings: DivergenceSettings
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(
        self, metric: str, kind: str, value: float, n: tuple[int, int], replicates: np.ndarray | None = None
    ) -> None:
        low, high = (None, None) if replicates is None else _interval(replicates, self.settings.confidence)
        self.rows.append(
            {
                "metric": metric,
                "family": family_of(metric),
                "kind": kind,
                "variant": self.variant.name,
                "baseline": self.baseline.name,
                "value": float(value),
                "ci_low": low,
                "ci_high": high,
                "n_variant": int(n[0]),
                "n_baseline": int(n[1]),
            }
        )

    def add_discrete(
        self, metric: str, p: np.ndarray, q: np.ndarray, boot_p: np.ndarray, boot_q: np.ndarray, n: tuple[int, int]
    ) -> None:
        """KL both ways and JS of two count vectors on their shared support, with bootstrap intervals."""
        if p.sum() == 0 or q.sum() == 0:
            return
        support = (p + q) > 0
        p, q, boot_p, boot_q = p[support], q[support], boot_p[:, support], boot_q[:, support]
        smoothing = self.settings.smoothing
        with np.errstate(invalid="ignore", divide="ignore"):
            self.add(metric, "kl_pq", smoothed_kl(p, q, smoothing), n, smoothed_kl(boot_p, boot_q, smoothing))
            self.add(metric, "kl_qp", smoothed_kl(q, p, smoothing), n, smoothed_kl(boot_q, boot_p, smoothing))
            self.add(metric, "js", js_divergence(p, q), n, js_divergence(boot_p, boot_q))

    def add_pooled(self, space: _PooledSpace) -> None:
        variant, baseline = self.variant, self.baseline
        for position, (metric, columns) in enumerate(zip(space.names, space.slices)):
            self.add_discrete(
                metric,
                variant.pooled[columns],
                baseline.pooled[columns],
                variant.pooled_replicates[:, columns],
                baseline.pooled_replicates[:, columns],
                (variant.present[position], baseline.present[position]),
            )

    def add_histograms(self) -> None:
        for metric in INTEGER_FEATURES:
            ours, theirs = self.variant.histograms[metric], self.baseline.histograms[metric]
            support = np.union1d(ours.support, theirs.support)
            (p, boot_p), (q, boot_q) = ours.aligned(support), theirs.aligned(support)
            self.add_discrete(metric, p, q, boot_p, boot_q, (ours.counts.sum(), theirs.counts.sum()))

    def add_continuous(self) -> None:
        for column, metric in enumerate(NUMERIC_FEATURES):
            x, y = self.variant.values[:, column], self.baseline.values[:, column]
            x, y = x[~np.isnan(x)], y[~np.isnan(y)]
            if x.size == 0 or y.size == 0:
                continue
            n = (x.size, y.size)
            replicates = self.variant.mean_replicates[:, column] - self.baseline.mean_replicates[:, column]
            self.add(metric, "mean_diff", x.mean() - y.mean(), n, replicates)
            if metric not in CONTINUOUS_FEATURES or x.size < 2 or y.size < 2:
                continue
            ks = ks_2samp(x, y)
            self.add(metric, "ks_stat", ks.statistic, n)
            self.add(metric, "ks_p", ks.pvalue, n)
            stream = zlib.crc32(f"{metric}|{self.variant.name}|{self.baseline.name}".encode())
            rng = np.random.default_rng([self.settings.seed, stream])
            self.add(metric, "perm_p", _permutation_p(x, y, self.settings, rng), n)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _permutation_p(x: np.ndarray, y: np.ndarray, settings: DivergenceSettings, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value of the mean difference on at most ``permutation_max_n`` values per side."""
    if x.size > settings.permutation_max_n:
        x = rng.choice(x, settings.permutation_max_n, replace=False)
    if y.size > settings.permutation_max_n:
        y = rng.choice(y, settings.permutation_max_n, replace=False)
    result = permutation_test(
        (x, y), _mean_difference, vectorized=True, n_resamples=settings.permutation_resamples, batch=250, rng=rng
    )
    return float(result.pvalue)
