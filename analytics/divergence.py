"""Divergences between a synthesis variant and a stateful baseline: raw and length-controlled, with
bias-corrected bootstrap intervals, and the method's claim as a test of a difference.

Conventions (every number in the fidelity tables follows them; ``docs/fidelity.md`` explains why):

- Every metric is a discrete distribution compared on the shared support: the pooled category
  counts of ``FidelityFeatures.counts`` (read/write and tool bigrams, call and error outcomes,
  recovery lengths) and one histogram per numeric feature (a category per integer value, capped at
  :data:`INTEGER_CAP`; continuous features rounded to the step in :data:`BIN_STEPS`). So every family
  has a JS, including sequence entropies and shares.
- ``js`` is the Jensen-Shannon divergence in bits (mean KL of each side to their mixture, unsmoothed); ``kl_pq`` = KL(variant || baseline), ``kl_qp`` = KL(baseline || variant), in bits,
  with additive smoothing ``smoothing`` on the shared support (p_i = (c_i + a) / (N + a K)); ``mean_diff`` = mean(variant) -
  mean(baseline) over conversations where the feature is defined.
- ``control``: ``raw`` compares the samples as they are; ``length`` reweights each variant's
  conversations to the baseline's joint distribution of (turns, rounded calls per turn) strata (turns
  capped at ``max_turns_stratum``, calls per turn at ``max_calls_per_turn_stratum``): weight =
  baseline share of the stratum / variant share of it. Baseline strata the variant never reaches
  cannot be matched; their share is reported as ``length_strata`` ``coverage`` (1 = all matched).
- Intervals: BCa bootstrap. Each sample's conversations are resampled with replacement
  (``n_bootstrap`` times, seeded per sample, so a sample's replicate b is the same in every pair and
  difference); the length weights are recomputed inside every replicate. The bias correction comes
  from the replicates, the acceleration from a delete-a-group jackknife (``jackknife_groups`` groups per
  sample, every sample in turn). ``bias_corrected`` = 2 x estimate - mean of the replicates (a plug-in
  JS is biased upward by about (categories - 1) / n).
- ``ks_stat`` / ``ks_p`` (``scipy.stats.ks_2samp``) and ``perm_p`` (two-sided permutation test of the
  mean difference on at most ``permutation_max_n`` conversations per side) for continuous features,
  raw and pooled over domains only; they have no interval.
- Applicability: a metric that one side never defines (no tool outputs, no errors, no user text, no
  conversation in the domain) gets ``value`` null and ``reason`` saying which side lacks what.
- Claims (:func:`analyze`, ``claims``): per baseline, family and control, the family score difference
  JS(digit_tc) - JS(reference) for reference ``no_impl`` and ``no_bt`` (a family score is the mean JS
  over the metrics applicable to both pairs), its BCa interval from resampling all three samples, and
  a one-sided permutation p-value (labels of digit_tc and the reference shuffled ``claim_permutations``
  times; within length strata for the controlled comparison), on at most ``permutation_max_n``
  conversations per variant. The claim
  holds where the whole interval is below zero and the permutation p is at most 1 - confidence.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sparse
from scipy.special import ndtr, ndtri, rel_entr
from scipy.stats import ks_2samp, permutation_test

from analytics.features import (
    FAMILIES,
    INTEGER_FEATURES,
    NEEDS_ERRORS,
    NEEDS_OUTPUTS,
    NEEDS_USER_TEXT,
    NUMERIC_FEATURES,
    TOOL_BIGRAMS_PREFIX,
    FidelityFeatures,
    family_of,
)

SYNTHESIS_VARIANTS: tuple[str, ...] = ("digit_tc", "no_impl", "no_bt")
CLAIM_REFERENCES: tuple[str, ...] = ("no_impl", "no_bt")
BASELINE_SOURCES: tuple[str, ...] = ("stateful_search", "import")
CONTROLS: tuple[str, ...] = ("raw", "length")
POOLED_DOMAIN = "all"
CONTINUOUS_FEATURES: tuple[str, ...] = tuple(f for f in NUMERIC_FEATURES if f not in INTEGER_FEATURES)
INTEGER_CAP = 64
BIN_STEPS: dict[str, float] = {
    name: 0.25 if name.endswith("entropy") else 0.5 if name in ("calls_per_turn", "recovery_length_mean") else 0.1
    for name in CONTINUOUS_FEATURES
}
DIVERGENCE_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "family": pl.String(),
    "kind": pl.String(),
    "variant": pl.String(),
    "baseline": pl.String(),
    "domain": pl.String(),
    "control": pl.String(),
    "value": pl.Float64(),
    "bias_corrected": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n_variant": pl.Int64(),
    "n_baseline": pl.Int64(),
    "reason": pl.String(),
}
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "variant": pl.String(),
    "baseline": pl.String(),
    "domain": pl.String(),
    "control": pl.String(),
    "family": pl.String(),
    "score": pl.String(),
    "value": pl.Float64(),
    "bias_corrected": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n_metrics": pl.Int64(),
    "reason": pl.String(),
}
CLAIM_SCHEMA: dict[str, pl.DataType] = {
    "baseline": pl.String(),
    "domain": pl.String(),
    "family": pl.String(),
    "control": pl.String(),
    "variant": pl.String(),
    "reference": pl.String(),
    "difference": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "perm_p": pl.Float64(),
    "n_metrics": pl.Int64(),
    "n_variant": pl.Int64(),
    "n_reference": pl.Int64(),
    "n_baseline": pl.Int64(),
    "holds": pl.Boolean(),
    "reason": pl.String(),
}
FAMILY_ORDER: tuple[str, ...] = ("dependency_graph", "transitions", "recovery", "sequence", "length")
MIN_DOMAIN_CONVERSATIONS = 20
NUMERICAL_ZERO = 1e-9  # an interval must end below -1e-9 to be below zero (float32 counts leave ~1e-16 noise)
_BATCH = 16  # weight rows per sparse product: amortizes it, bounds the stacked weights to 16 x n
_PERMUTATION_BATCH = 64  # label assignments per product (on at most 2 x permutation_max_n conversations)


@dataclass(frozen=True)
class DivergenceSettings:
    """Knobs of :func:`analyze`; part of the results' provenance (hash it into the config hash)."""

    n_bootstrap: int = 200
    confidence: float = 0.95
    smoothing: float = 0.5
    seed: int = 0
    permutation_resamples: int = 999
    permutation_max_n: int = 1_000
    claim_permutations: int = 199
    jackknife_groups: int = 20
    max_turns_stratum: int = 5
    max_calls_per_turn_stratum: int = 6
    per_domain: bool = True


@dataclass(frozen=True)
class FidelityResults:
    """Long-format results: per-metric divergences, family scores and the claim tests."""

    divergences: pl.DataFrame
    scores: pl.DataFrame
    claims: pl.DataFrame


def smoothed_kl(p_counts: np.ndarray, q_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """KL(p || q) in bits after adding ``smoothing`` to every count (last axis = categories)."""
    p = np.asarray(p_counts, float) + smoothing
    q = np.asarray(q_counts, float) + smoothing
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p / p.sum(axis=-1, keepdims=True)
        q = q / q.sum(axis=-1, keepdims=True)
        return rel_entr(p, q).sum(axis=-1) / np.log(2)


def js_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits of two count vectors (last axis): the mean KL of each to their
    mixture, clipped at 0 (rounding can leave -1e-17 for identical inputs, whose square root, as in
    ``scipy.spatial.distance.jensenshannon``, would be NaN). NaN where a side has no mass."""
    p, q = np.asarray(p_counts, float), np.asarray(q_counts, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p / p.sum(axis=-1, keepdims=True)
        q = q / q.sum(axis=-1, keepdims=True)
        m = (p + q) / 2
        js = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2 * np.log(2))
    return np.maximum(js, 0.0)


def _js_by_distribution(p: np.ndarray, q: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """JS (bits) of every distribution at once: columns are consecutive distributions starting at
    ``starts``; rows of p are compared with rows of q (or its single row). rows x distributions."""
    width = np.diff(np.append(starts, p.shape[1]))
    owner = np.repeat(np.arange(starts.size), width)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p / np.add.reduceat(p, starts, axis=1)[:, owner]
        q = q / np.add.reduceat(q, starts, axis=1)[:, owner]
        m = (p + q) / 2
        js = np.add.reduceat(rel_entr(p, m) + rel_entr(q, m), starts, axis=1) / (2 * np.log(2))
    return np.maximum(js, 0.0)


def bca_interval(
    estimate: float, replicates: np.ndarray, jackknife: Sequence[np.ndarray], confidence: float
) -> tuple[float | None, float | None]:
    """BCa bootstrap interval (Efron 1987) from replicates and delete-a-group jackknife values.

    ``jackknife`` holds one array per resampled sample (each group of that sample deleted in turn);
    the acceleration sums the centred jackknife values of every sample. Undefined replicates (an empty
    resample) are dropped; with fewer than 10 left there is no interval."""
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size < 10 or not np.isfinite(estimate):
        return None, None
    below = (np.count_nonzero(replicates < estimate) + 0.5 * np.count_nonzero(replicates == estimate)) / replicates.size
    edge = 0.5 / replicates.size
    z0 = ndtri(min(max(below, edge), 1 - edge))
    centred = np.concatenate(
        [[], *(values.mean() - values for values in (v[np.isfinite(v)] for v in jackknife) if values.size)]
    )
    spread = float(np.sum(centred**2))
    acceleration = float(np.sum(centred**3)) / (6 * spread**1.5) if spread > 0 else 0.0
    z = ndtri(np.array([(1 - confidence) / 2, (1 + confidence) / 2]))
    levels = ndtr(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))
    low, high = np.quantile(replicates, np.clip(levels, 0, 1))
    return float(low), float(high)


def default_pairs(features: FidelityFeatures) -> list[tuple[str, str]]:
    """Every synthesis variant present (digit_tc, no_impl, no_bt) against every baseline present."""
    sources = features.conversations.select("variant", "source").unique()
    variants = set(sources["variant"])
    baselines = sorted(sources.filter(pl.col("source").is_in(BASELINE_SOURCES))["variant"].unique())
    return [(variant, baseline) for variant in SYNTHESIS_VARIANTS if variant in variants for baseline in baselines]


def analyze(
    features: FidelityFeatures,
    variant_pairs: Sequence[tuple[str, str]] | None = None,
    settings: DivergenceSettings = DivergenceSettings(),
) -> FidelityResults:
    """Divergences, family scores and claims of every pair, pooled and (with ``per_domain``) per domain.

    A domain is analysed where both sides of a pair have at least :data:`MIN_DOMAIN_CONVERSATIONS`."""
    pairs = list(default_pairs(features) if variant_pairs is None else variant_pairs)
    space = _DiscreteSpace.of(features)
    strata = _strata(features, settings)
    divergences, scores, claims = [], [], []
    domains: list[str | None] = [None]
    if settings.per_domain:
        domains += sorted(d for d in features.conversations["domain"].unique().to_list() if d is not None)
    for domain in domains:
        analysis = _DomainAnalysis.of_features(features, space, strata, settings, domain)
        of_domain = [pair for pair in pairs if analysis.has(pair[0]) and analysis.has(pair[1])]
        if domain is not None and not of_domain:
            continue
        for variant, baseline in of_domain:
            pair_divergences, pair_scores = analysis.pair_rows(variant, baseline)
            divergences += pair_divergences
            scores += pair_scores
        if domain is None:
            divergences += continuous_tests(features, of_domain, settings)
        baselines = sorted({baseline for _, baseline in of_domain})
        for baseline in baselines:
            for reference in CLAIM_REFERENCES:
                if analysis.has("digit_tc") and analysis.has(reference) and ("digit_tc", baseline) in of_domain:
                    claims += analysis.claim_rows("digit_tc", reference, baseline)
    return FidelityResults(
        divergences=pl.DataFrame(divergences, schema=DIVERGENCE_SCHEMA).sort(
            "domain", "family", "metric", "kind", "control", "variant", "baseline"
        ),
        scores=pl.DataFrame(scores, schema=SCORE_SCHEMA).sort("domain", "baseline", "variant", "family", "control"),
        claims=pl.DataFrame(claims, schema=CLAIM_SCHEMA).sort("domain", "baseline", "reference", "family", "control"),
    )


def compare(
    features: FidelityFeatures,
    variant_pairs: Sequence[tuple[str, str]] | None = None,
    settings: DivergenceSettings = DivergenceSettings(),
) -> pl.DataFrame:
    """The divergences of :func:`analyze` only; columns as :data:`DIVERGENCE_SCHEMA`."""
    return analyze(features, variant_pairs, settings).divergences


def claim_verdict(ci_high: float | None, perm_p: float, confidence: float) -> tuple[bool, str | None]:
    """Whether "closer" holds, and why not: both the interval must lie below zero and the permutation
    test reject at the same level (near the boundary they disagree, and a referee reads the weaker)."""
    alpha = 1 - confidence
    if ci_high is None:
        return False, "no interval"
    if ci_high >= -NUMERICAL_ZERO:
        return False, f"interval reaches {ci_high:+.4f}, not below zero"
    if perm_p > alpha:
        return False, f"permutation p {perm_p:.3f} is above {alpha:.2f}"
    return True, None


@dataclass(frozen=True)
class _DiscreteSpace:
    """Per-conversation counts of every compared distribution as one sparse matrix (conversation x category):
    the pooled distributions of the features, then one histogram per numeric feature."""

    matrix: sparse.csr_matrix
    names: list[str]
    slices: list[slice]
    values: np.ndarray  # numeric features (NaN = undefined), row = conv, columns = value_names
    value_names: tuple[str, ...] = NUMERIC_FEATURES

    @classmethod
    def of(cls, features: FidelityFeatures) -> _DiscreteSpace:
        conversations = features.conversations.sort("conv")
        n = conversations.height
        counts, categories = features.counts, features.categories
        bounds = (
            categories.group_by("distribution")
            .agg(start=pl.col("category_id").min(), stop=pl.col("category_id").max() + 1, n=pl.len())
            .sort("start")
        )
        if (bounds["stop"] - bounds["start"] != bounds["n"]).any():
            raise ValueError("category ids of a distribution must be contiguous")
        names = bounds["distribution"].to_list()
        slices = [slice(start, stop) for start, stop in zip(bounds["start"], bounds["stop"])]
        rows = [counts["conv"].to_numpy().astype(np.int64)]
        columns = [counts["category_id"].to_numpy().astype(np.int64)]
        data = [counts["count"].to_numpy().astype(np.float32)]
        offset = categories.height
        values = conversations.select(pl.col(NUMERIC_FEATURES).cast(pl.Float64)).to_numpy()
        for index, name in enumerate(NUMERIC_FEATURES):
            column = values[:, index]
            defined = np.flatnonzero(~np.isnan(column))
            if name in INTEGER_FEATURES:
                code = np.clip(column[defined], 0, INTEGER_CAP).astype(np.int64)
            else:
                code = np.clip(np.rint(column[defined] / BIN_STEPS[name]), 0, INTEGER_CAP).astype(np.int64)
            width = int(code.max()) + 1 if code.size else 1
            rows.append(defined)
            columns.append(offset + code)
            data.append(np.ones(defined.size, dtype=np.float32))
            names.append(name)
            slices.append(slice(offset, offset + width))
            offset += width
        matrix = sparse.csr_matrix(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(columns))), shape=(n, offset), dtype=np.float32
        )
        return cls(matrix, names, slices, values)

    def restricted(self, rows: np.ndarray) -> _DiscreteSpace:
        """The same space with only the categories these conversations use (a domain uses a fraction of
        the tool bigrams); distributions they never use are left out."""
        used = np.unique(self.matrix[rows].indices)
        names, slices, columns = [], [], []
        for name, where in zip(self.names, self.slices):
            inside = used[(used >= where.start) & (used < where.stop)]
            if inside.size:
                names.append(name)
                slices.append(slice(len(columns), len(columns) + inside.size))
                columns.extend(inside.tolist())
        return _DiscreteSpace(self.matrix[:, np.asarray(columns, dtype=np.int64)], names, slices, self.values, self.value_names)

    @property
    def starts(self) -> np.ndarray:
        return np.array([columns.start for columns in self.slices], dtype=np.int64)

    def membership(self) -> sparse.csr_matrix:
        """category x distribution indicator, to count the conversations that have a distribution."""
        index = np.empty(self.matrix.shape[1], dtype=np.int64)
        for position, columns in enumerate(self.slices):
            index[columns] = position
        return sparse.csr_matrix(
            (np.ones(index.size), (np.arange(index.size), index)), shape=(index.size, len(self.slices))
        )


def _strata(features: FidelityFeatures, settings: DivergenceSettings) -> np.ndarray:
    """Length stratum of each conversation (row = conv): capped turns x capped rounded calls per turn."""
    conversations = features.conversations.sort("conv")
    turns = conversations["turns"].to_numpy()
    per_turn = conversations["calls_per_turn"].fill_null(0).to_numpy()
    capped_turns = np.clip(turns, 0, settings.max_turns_stratum)
    capped_rate = np.clip(np.rint(per_turn), 0, settings.max_calls_per_turn_stratum).astype(np.int64)
    raw = capped_turns * (settings.max_calls_per_turn_stratum + 1) + capped_rate
    return np.unique(raw, return_inverse=True)[1].ravel()


@dataclass(frozen=True)
class _Totals:
    """Per weight row and length stratum: category counts ``counts`` (R x K x C), feature sums and
    defined counts ``sums`` (R x K x 2F) and conversations ``sizes`` (R x K).

    Rows of a sample's totals: 0 the sample itself, 1..B bootstrap resamples, then one row per deleted
    jackknife group."""

    counts: np.ndarray
    sums: np.ndarray
    sizes: np.ndarray

    @classmethod
    def of(cls, weights_batches, rows: np.ndarray, space: _DiscreteSpace, strata: np.ndarray, k: int) -> _Totals:
        """Totals of the conversations ``rows`` under each batch of weight rows (an iterable of r x n)."""
        matrix = space.matrix[rows]
        values = space.values[rows]
        defined = ~np.isnan(values)
        per_conversation = np.hstack([np.where(defined, values, 0.0), defined, np.ones((rows.size, 1))])
        stratum = strata[rows]
        counts, sums = [], []
        for weights in weights_batches:
            r, n = weights.shape
            stacked = sparse.csr_matrix(
                (weights.ravel(), (np.repeat(np.arange(r), n) * k + np.tile(stratum, r), np.tile(np.arange(n), r))),
                shape=(r * k, n),
                dtype=np.float32,
            )
            counts.append((stacked @ matrix).toarray().reshape(r, k, -1))
            sums.append((stacked @ per_conversation).reshape(r, k, -1))
        counts_all, sums_all = np.concatenate(counts), np.concatenate(sums)
        return cls(counts_all, sums_all[:, :, :-1], sums_all[:, :, -1])

    def weighted(self, rows: np.ndarray, target: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Counts (len(rows) x C) and sums (len(rows) x 2F) of the given rows, reweighted to ``target``
        stratum sizes (len(rows) x K) when given: weight = target share / own share of the stratum."""
        counts, sums, sizes = self.counts[rows], self.sums[rows], self.sizes[rows]
        if target is None:
            return counts.sum(axis=1, dtype=np.float64), sums.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            own = sizes / sizes.sum(axis=1, keepdims=True)
            wanted = target / target.sum(axis=1, keepdims=True)
            weight = np.where(own > 0, wanted / own, 0.0)
        weighted_counts = np.matmul(weight[:, None, :].astype(np.float32), counts)[:, 0, :].astype(np.float64)
        return weighted_counts, np.matmul(weight[:, None, :], sums)[:, 0, :]


@dataclass(frozen=True)
class _Sample:
    """One variant's conversations (in one domain or all) and their totals under every weight row."""

    name: str
    rows: np.ndarray
    totals: _Totals
    n_bootstrap: int
    groups: int
    has_outputs: bool
    has_user_text: bool
    has_errors: bool
    present: np.ndarray  # per distribution, conversations with any count in it

    @classmethod
    def draw(
        cls, name: str, domain: str | None, rows: np.ndarray, space: _DiscreteSpace, strata: np.ndarray,
        k: int, settings: DivergenceSettings, features: np.ndarray,
    ) -> _Sample:
        n = rows.size
        rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode()), zlib.crc32(str(domain).encode())])
        groups = min(settings.jackknife_groups, n)
        group_of = rng.permutation(n) % max(groups, 1)

        def batches():
            yield np.ones((1, n))
            for first in range(0, settings.n_bootstrap, _BATCH):
                size = min(_BATCH, settings.n_bootstrap - first)
                draws = rng.integers(0, n, size=(size, n))
                yield np.stack([np.bincount(draw, minlength=n) for draw in draws]).astype(np.float64)
            for first in range(0, groups, _BATCH):
                deleted = np.arange(first, min(first + _BATCH, groups))
                yield (group_of[None, :] != deleted[:, None]).astype(np.float64)

        totals = _Totals.of(batches(), rows, space, strata, k)
        has = features[rows]
        present = np.asarray(((space.matrix[rows] != 0) @ space.membership() != 0).sum(axis=0)).ravel()
        return cls(name, rows, totals, settings.n_bootstrap, groups, bool(has[:, 0].any()), bool(has[:, 1].any()),
                   bool(has[:, 2].any()), present)

    def boot(self) -> np.ndarray:
        return np.arange(1, self.n_bootstrap + 1)

    def jack(self) -> np.ndarray:
        return np.arange(self.n_bootstrap + 1, self.n_bootstrap + 1 + self.groups)

    def lacks(self, metric: str) -> str | None:
        """Why this sample cannot define ``metric`` (the applicability rule), or None."""
        if metric in NEEDS_OUTPUTS and not self.has_outputs:
            return f"{self.name} has no tool outputs (call-only records)"
        if metric in NEEDS_USER_TEXT and not self.has_user_text:
            return f"{self.name} has no user text"
        if metric in NEEDS_ERRORS and not self.has_errors:
            return f"{self.name} has no errors"
        return None


class _DomainAnalysis:
    """Samples of one domain (or all) and the rows of every pair and claim in it."""

    def __init__(
        self, space: _DiscreteSpace, strata: np.ndarray, settings: DivergenceSettings, domain: str | None,
        rows: dict[str, np.ndarray], flags: np.ndarray,
    ) -> None:
        """``rows``: each variant's conversation rows; ``flags``: per conversation (has outputs, has user
        text, has errors), what the applicability rule reads."""
        self.domain = domain
        self.label = POOLED_DOMAIN if domain is None else domain
        self.space, self.strata, self.settings = space, strata, settings
        self.k = int(strata.max()) + 1 if strata.size else 1
        minimum = 1 if domain is None else MIN_DOMAIN_CONVERSATIONS
        self.rows = {name: members for name, members in rows.items() if members.size >= minimum}
        self.flags = flags
        self.samples: dict[str, _Sample] = {}

    @classmethod
    def of_features(
        cls, features: FidelityFeatures, space: _DiscreteSpace, strata: np.ndarray,
        settings: DivergenceSettings, domain: str | None,
    ) -> _DomainAnalysis:
        every = features.conversations.sort("conv")
        flags = np.column_stack(
            [
                every["has_outputs"].to_numpy() & (every["nodes"].fill_null(0).to_numpy() > 0),
                every["has_user_text"].to_numpy(),
                every["errors"].fill_null(0).to_numpy() > 0,
            ]
        )
        of_domain = every if domain is None else every.filter(pl.col("domain") == domain)
        rows = {
            name: group["conv"].to_numpy().astype(np.int64)
            for (name,), group in of_domain.group_by("variant", maintain_order=True)
        }
        if domain is not None:
            space = space.restricted(of_domain["conv"].to_numpy().astype(np.int64))
        return cls(space, strata, settings, domain, rows, flags)

    def has(self, name: str) -> bool:
        return name in self.rows

    def sample(self, name: str) -> _Sample:
        if name not in self.samples:
            self.samples[name] = _Sample.draw(
                name, self.domain, self.rows[name], self.space, self.strata, self.k, self.settings, self.flags
            )
        return self.samples[name]

    def _js_kl(
        self, variant: _Sample, baseline: _Sample, variant_rows: np.ndarray, baseline_rows: np.ndarray, control: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """JS, KL both ways (rows x metrics), mean differences (rows x features) and the controlled
        coverage (rows) of the variant rows against the paired baseline rows."""
        target = baseline.totals.sizes[baseline_rows] if control == "length" else None
        p, p_sums = variant.totals.weighted(variant_rows, target)
        q, q_sums = baseline.totals.weighted(baseline_rows, None)
        support = (variant.totals.counts[0].sum(axis=0) + baseline.totals.counts[0].sum(axis=0)) > 0
        smoothing = self.settings.smoothing
        js = _js_by_distribution(p, q, self.space.starts)
        kl_pq, kl_qp = [], []
        for columns in self.space.slices:
            keep = np.flatnonzero(support[columns]) + columns.start
            ps, qs = p[:, keep], q[:, keep]
            with np.errstate(invalid="ignore", divide="ignore"):
                kl_pq.append(smoothed_kl(ps, qs, smoothing) if keep.size else np.full(len(ps), np.nan))
                kl_qp.append(smoothed_kl(qs, ps, smoothing) if keep.size else np.full(len(ps), np.nan))
        f = len(self.space.value_names)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_diff = p_sums[:, :f] / p_sums[:, f:] - q_sums[:, :f] / q_sums[:, f:]
        coverage = np.ones(len(variant_rows))
        if target is not None:
            own = variant.totals.sizes[variant_rows]
            with np.errstate(invalid="ignore", divide="ignore"):
                coverage = (target * (own > 0)).sum(axis=1) / target.sum(axis=1)
        return js, np.column_stack(kl_pq), np.column_stack(kl_qp), mean_diff, coverage

    def _not_applicable(self, variant: _Sample, baseline: _Sample, metric: str, index: int) -> str | None:
        reason = baseline.lacks(metric) or variant.lacks(metric)
        if reason is None and metric.startswith(TOOL_BIGRAMS_PREFIX):
            domain = metric.removeprefix(TOOL_BIGRAMS_PREFIX)
            columns = self.space.slices[index]
            ours, theirs = (side.totals.counts[0].sum(axis=0)[columns] for side in (variant, baseline))
            for side, counts in ((baseline, theirs), (variant, ours)):
                if counts.sum() == 0:
                    return f"{side.name} has no conversation in domain {domain}"
            if not np.any((ours > 0) & (theirs > 0)):
                return f"{baseline.name} and {variant.name} share no tool bigram in domain {domain} (different tool catalogs)"
        if reason is None:
            mass = (variant.totals.counts[0].sum(axis=0)[self.space.slices[index]].sum(),
                    baseline.totals.counts[0].sum(axis=0)[self.space.slices[index]].sum())
            if mass[1] == 0:
                reason = f"{baseline.name} never defines {metric}"
            elif mass[0] == 0:
                reason = f"{variant.name} never defines {metric}"
        return reason

    def pair_rows(self, variant_name: str, baseline_name: str) -> tuple[list[dict], list[dict]]:
        """Divergence rows and family-score rows of one pair, both controls."""
        variant, baseline = self.sample(variant_name), self.sample(baseline_name)
        zeros_b, zeros_v = np.zeros(baseline.groups, dtype=np.int64), np.zeros(variant.groups, dtype=np.int64)
        variant_rows = np.concatenate([[0], variant.boot(), variant.jack(), zeros_b])
        baseline_rows = np.concatenate([[0], baseline.boot(), zeros_v, baseline.jack()])
        split = [variant.groups]
        names = self.space.names
        reasons = [self._not_applicable(variant, baseline, name, index) for index, name in enumerate(names)]
        divergence_rows, score_rows = [], []
        for control in CONTROLS:
            js, kl_pq, kl_qp, mean_diff, coverage = self._js_kl(variant, baseline, variant_rows, baseline_rows, control)
            base = {"variant": variant_name, "baseline": baseline_name, "domain": self.label, "control": control}
            unmatched = control == "length" and not coverage[0] > 0
            for index, name in enumerate(names):
                n = (variant.present[index], baseline.present[index])
                reason = reasons[index] or (
                    f"{variant_name} has no conversation in any length stratum of {baseline_name}" if unmatched else None
                )
                if reason is None and not np.isfinite(js[0, index]):
                    reason = f"{variant_name} defines {name} only outside the length strata of {baseline_name}"
                if reason is not None:
                    divergence_rows.append(_row(base, name, "js", None, n, reason))
                    continue
                for kind, values in (("js", js), ("kl_pq", kl_pq), ("kl_qp", kl_qp)):
                    divergence_rows.append(_estimated(base, name, kind, values[:, index], split, n, self.settings))
            for index, name in enumerate(self.space.value_names):
                position = names.index(name) if name in names else None
                if position is not None and reasons[position] is None and not unmatched:
                    n = (variant.present[position], baseline.present[position])
                    divergence_rows.append(_estimated(base, name, "mean_diff", mean_diff[:, index], split, n, self.settings))
            if control == "length":
                n = (len(variant.rows), len(baseline.rows))
                divergence_rows.append(_estimated(base, "length_strata", "coverage", coverage, split, n, self.settings))
            for family in FAMILY_ORDER:
                members = [i for i, name in enumerate(names) if family_of(name) == family]
                usable = [i for i in members if reasons[i] is None and not unmatched]
                row = {**base, "family": family, "score": "js_mean", "n_metrics": len(usable)}
                if not usable:
                    why = sorted({reasons[i] for i in members if reasons[i]}) or ["no metric of this family"]
                    if unmatched:
                        why = [f"{variant_name} has no conversation in any length stratum of {baseline_name}"]
                    score_rows.append({**row, "reason": "; ".join(why)})
                    continue
                score = _row_mean(js[:, usable])
                estimate = _estimated(base, family, "js_mean", score, split, (0, 0), self.settings)
                score_rows.append({**row, **{k: estimate[k] for k in ("value", "bias_corrected", "ci_low", "ci_high")}})
        return divergence_rows, score_rows

    def claim_rows(self, variant_name: str, reference_name: str, baseline_name: str) -> list[dict]:
        """JS(variant) - JS(reference) against one baseline, per family and control, with interval and p."""
        variant, reference, baseline = (self.sample(n) for n in (variant_name, reference_name, baseline_name))
        g_v, g_r, g_b = variant.groups, reference.groups, baseline.groups
        zeros = lambda size: np.zeros(size, dtype=np.int64)  # noqa: E731
        v_rows = np.concatenate([[0], variant.boot(), variant.jack(), zeros(g_r), zeros(g_b)])
        r_rows = np.concatenate([[0], reference.boot(), zeros(g_v), reference.jack(), zeros(g_b)])
        b_rows = np.concatenate([[0], baseline.boot(), zeros(g_v), zeros(g_r), baseline.jack()])
        split = [g_v, g_v + g_r]
        names = self.space.names
        usable_metric = [
            self._not_applicable(variant, baseline, name, i) is None
            and self._not_applicable(reference, baseline, name, i) is None
            for i, name in enumerate(names)
        ]
        permuted = {control: self._permuted(variant, reference, baseline, control) for control in CONTROLS}
        rows = []
        for control in CONTROLS:
            js_v = self._js_kl(variant, baseline, v_rows, b_rows, control)[0]
            js_r = self._js_kl(reference, baseline, r_rows, b_rows, control)[0]
            for family in FAMILY_ORDER:
                usable = [i for i, name in enumerate(names) if family_of(name) == family and usable_metric[i]]
                row = {
                    "baseline": baseline_name, "domain": self.label, "family": family, "control": control,
                    "variant": variant_name, "reference": reference_name, "n_metrics": len(usable),
                    "n_variant": len(variant.rows), "n_reference": len(reference.rows), "n_baseline": len(baseline.rows),
                }
                if not usable:
                    rows.append({**row, "holds": False, "reason": "no metric of this family applies to both variants"})
                    continue
                difference = _row_mean(js_v[:, usable]) - _row_mean(js_r[:, usable])
                low, high = bca_interval(
                    difference[0], difference[1 : 1 + variant.n_bootstrap],
                    np.split(difference[1 + variant.n_bootstrap :], split), self.settings.confidence,
                )
                observed, null = permuted[control](usable)
                perm_p = (1 + np.count_nonzero(null <= observed + 1e-12)) / (null.size + 1)
                holds, reason = claim_verdict(high, float(perm_p), self.settings.confidence)
                rows.append({**row, "difference": float(difference[0]), "ci_low": low, "ci_high": high,
                             "perm_p": float(perm_p), "holds": holds, "reason": reason})
        return rows

    def _permuted(self, variant: _Sample, reference: _Sample, baseline: _Sample, control: str):
        """A function of the usable metrics -> (observed difference, permutation null differences).

        Labels of the two variants' conversations (seeded subsamples of at most ``permutation_max_n``
        each) are shuffled ``claim_permutations`` times; within length strata for ``length``."""
        settings = self.settings
        rng = np.random.default_rng([settings.seed, zlib.crc32(f"{variant.name}|{reference.name}|{self.label}|{control}".encode())])
        cap = settings.permutation_max_n
        ours = variant.rows if variant.rows.size <= cap else np.sort(rng.choice(variant.rows, cap, replace=False))
        theirs = reference.rows if reference.rows.size <= cap else np.sort(rng.choice(reference.rows, cap, replace=False))
        pooled = np.concatenate([ours, theirs])
        labels = np.concatenate([np.ones(ours.size), np.zeros(theirs.size)])
        stratum = self.strata[pooled]
        by_stratum = np.argsort(stratum, kind="stable")

        def assignments():
            yield labels[None, :]
            for first in range(0, settings.claim_permutations, _PERMUTATION_BATCH):
                size = min(_PERMUTATION_BATCH, settings.claim_permutations - first)
                if control == "length":  # shuffle inside each stratum: sort by (stratum, random key)
                    keys = rng.random((size, pooled.size))
                    order = np.lexsort((keys, np.broadcast_to(stratum, keys.shape)), axis=-1)
                    block = np.empty((size, pooled.size))
                    np.put_along_axis(block, order, np.broadcast_to(labels[by_stratum], keys.shape), axis=1)
                    yield block
                else:
                    yield rng.permuted(np.broadcast_to(labels, (size, pooled.size)), axis=1)

        target = baseline.totals.sizes[:1] if control == "length" else None
        q, _ = baseline.totals.weighted(np.zeros(1, dtype=np.int64), None)
        # raw needs no strata: one stratum makes every product k times smaller
        strata, k = (self.strata, self.k) if control == "length" else (np.zeros_like(self.strata), 1)
        everyone = _Totals.of([np.ones((1, pooled.size))], pooled, self.space, strata, k)
        starts = self.space.starts
        js_ours, js_theirs = [], []
        for block in assignments():  # one batch at a time: memory does not grow with the resamples
            rows = np.arange(block.shape[0])
            batch_target = None if target is None else np.repeat(target, block.shape[0], axis=0)
            ours = _Totals.of([block], pooled, self.space, strata, k)
            theirs = _Totals(everyone.counts - ours.counts, everyone.sums - ours.sums, everyone.sizes - ours.sizes)
            js_ours.append(_js_by_distribution(ours.weighted(rows, batch_target)[0], q, starts))
            js_theirs.append(_js_by_distribution(theirs.weighted(rows, batch_target)[0], q, starts))
        js_ours, js_theirs = np.concatenate(js_ours), np.concatenate(js_theirs)

        def differences(usable: list[int]) -> tuple[float, np.ndarray]:
            difference = _row_mean(js_ours[:, usable]) - _row_mean(js_theirs[:, usable])
            null = difference[1:]
            return float(difference[0]), null[np.isfinite(null)]

        return differences


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean of each row's defined values (NaN where a row has none): a family score per replicate."""
    defined = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, values, 0.0).sum(axis=1) / defined.sum(axis=1)


def _row(base: dict, metric: str, kind: str, value: float | None, n: tuple[int, int], reason: str | None) -> dict:
    family = family_of(metric) if metric in FAMILIES or ":" in metric else "length"
    return {**base, "metric": metric, "family": family,
            "kind": kind, "value": value, "n_variant": int(n[0]), "n_baseline": int(n[1]), "reason": reason}


def _estimated(
    base: dict, metric: str, kind: str, values: np.ndarray, split: list[int], n: tuple[int, int],
    settings: DivergenceSettings,
) -> dict:
    """A row with the estimate (values[0]), its BCa interval and bias-corrected estimate."""
    boot = values[1 : 1 + settings.n_bootstrap]
    low, high = bca_interval(values[0], boot, np.split(values[1 + settings.n_bootstrap :], split), settings.confidence)
    estimate = float(values[0])
    finite = boot[np.isfinite(boot)]
    row = _row(base, metric, kind, estimate if np.isfinite(estimate) else None, n, None)
    corrected = 2 * estimate - float(finite.mean()) if finite.size and np.isfinite(estimate) else None
    return {**row, "bias_corrected": corrected, "ci_low": low, "ci_high": high}


def continuous_tests(features: FidelityFeatures, pairs: Sequence[tuple[str, str]], settings: DivergenceSettings) -> list[dict]:
    """KS statistic and p-value and the permutation p-value of the mean difference, raw, pooled over domains."""
    rows = []
    for variant, baseline in pairs:
        x_all = features.conversations.filter(pl.col("variant") == variant)
        y_all = features.conversations.filter(pl.col("variant") == baseline)
        base = {"variant": variant, "baseline": baseline, "domain": POOLED_DOMAIN, "control": "raw"}
        for metric in CONTINUOUS_FEATURES:
            x = x_all[metric].drop_nulls().to_numpy().astype(float)
            y = y_all[metric].drop_nulls().to_numpy().astype(float)
            if x.size < 2 or y.size < 2:
                continue
            n = (x.size, y.size)
            ks = ks_2samp(x, y)
            stream = zlib.crc32(f"{metric}|{variant}|{baseline}".encode())
            rng = np.random.default_rng([settings.seed, stream])
            rows.append(_row(base, metric, "ks_stat", float(ks.statistic), n, None))
            rows.append(_row(base, metric, "ks_p", float(ks.pvalue), n, None))
            rows.append(_row(base, metric, "perm_p", _permutation_p(x, y, settings, rng), n, None))
    return rows


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
