"""Per-conversation fidelity features, computed from the flat tables identically for every source.

Everything here is vectorized over all conversations at once: the call table is sorted by
conversation and position, and per-conversation values are numpy reductions (``bincount``,
``reduceat``) into arrays indexed by the conversation's row. The only Python loop is the longest-path
sweep, which runs once per call *position* (conversation length), never once per conversation.

Every feature is defined once, in ``docs/fidelity.md`` (the reference); the short form:

- dependency graph: calls (``nodes``), data-flow ``edges``, longest path ``depth``, fan-in/out,
  ``roots``, ``cross_turn_edges``, motif counts; ``discovered_share`` = share of calls with an
  informative argument of which *none* is in the user text; ``output_fed_share`` = share of calls
  with an informative argument from an earlier output that the user never wrote.
- length: ``turns`` and ``calls_per_turn`` (what the length-controlled comparison holds fixed).
- transitions: per-turn START/read/write/END bigrams, and tool-name bigrams per domain.
- recovery: ``errors``, ``error_rate`` (errors per call), ``recovered_share`` (errors followed later
  in the conversation by a success of the same tool), ``recovered_same_turn_share`` (the first success
  after the error, in its turn, is the same tool or intent), ``abandoned`` (errors never followed by
  a success of the same tool), ``recovery_length_mean`` (calls from an error to that success).
- sequence: entropy of tool-name 1/2/3-grams, read/write transition entropy H(next | previous) over
  consecutive calls, relative position of the first write.

Applicability: output-based features are null for a conversation with calls but no tool results
(call-only ground truth), user-text features are null without user text; a comparison where one
side has no defined value is reported as not applicable with the reason, never as a divergence.
Undefined per-conversation values (a share without a denominator) are null, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import entr

from analytics.extract import FlatTables

GRAPH_FEATURES: tuple[str, ...] = (
    "nodes", "edges", "depth", "max_fan_in", "max_fan_out", "roots", "cross_turn_edges",
    "chain_motifs", "fan_in_motifs", "fan_out_motifs", "discovered_share", "output_fed_share",
)
LENGTH_FEATURES: tuple[str, ...] = ("turns", "calls_per_turn")
SEQUENCE_FEATURES: tuple[str, ...] = (
    "unigram_entropy", "bigram_entropy", "trigram_entropy", "rw_transition_entropy", "first_write_position",
)
RECOVERY_FEATURES: tuple[str, ...] = (
    "errors", "error_rate", "recovered_share", "recovered_same_turn_share", "abandoned", "recovery_length_mean",
)
NUMERIC_FEATURES: tuple[str, ...] = GRAPH_FEATURES + LENGTH_FEATURES + SEQUENCE_FEATURES + RECOVERY_FEATURES
INTEGER_FEATURES: tuple[str, ...] = (
    "nodes", "edges", "depth", "max_fan_in", "max_fan_out", "roots", "cross_turn_edges",
    "chain_motifs", "fan_in_motifs", "fan_out_motifs", "turns", "errors", "abandoned",
)
RW_BIGRAMS = "rw_bigrams"
TOOL_BIGRAMS_PREFIX = "tool_bigrams:"
CALL_OUTCOMES = "call_outcomes"
ERROR_OUTCOMES = "error_outcomes"
RECOVERY_LENGTH = "recovery_length"
FAMILIES: dict[str, str] = {
    **{name: "dependency_graph" for name in GRAPH_FEATURES},
    **{name: "length" for name in LENGTH_FEATURES},
    **{name: "sequence" for name in SEQUENCE_FEATURES},
    **{name: "recovery" for name in RECOVERY_FEATURES},
    RW_BIGRAMS: "transitions",
    CALL_OUTCOMES: "recovery",
    ERROR_OUTCOMES: "recovery",
    RECOVERY_LENGTH: "recovery",
}
NEEDS_OUTPUTS: frozenset[str] = frozenset(
    {
        "edges", "depth", "max_fan_in", "max_fan_out", "roots", "cross_turn_edges", "chain_motifs",
        "fan_in_motifs", "fan_out_motifs", "output_fed_share", *RECOVERY_FEATURES, CALL_OUTCOMES,
        ERROR_OUTCOMES, RECOVERY_LENGTH,
    }
)
NEEDS_USER_TEXT: frozenset[str] = frozenset({"discovered_share", "output_fed_share"})
NEEDS_ERRORS: frozenset[str] = frozenset(
    {"recovered_share", "recovered_same_turn_share", "recovery_length_mean", ERROR_OUTCOMES, RECOVERY_LENGTH}
)
STATES: tuple[str, ...] = ("START", "read", "write", "END")
OUTCOMES: tuple[str, ...] = ("recovered_same_turn", "recovered_later", "not_recovered")
_SAME_TURN, _LATER, _NOT_RECOVERED = range(3)
_KEYS = ("conversation_id", "source", "variant", "domain")


def family_of(metric: str) -> str:
    """The feature family a metric belongs to: dependency_graph, transitions, recovery, sequence or length."""
    return "transitions" if metric.startswith(TOOL_BIGRAMS_PREFIX) else FAMILIES[metric]


@dataclass(frozen=True)
class FidelityFeatures:
    """Per-conversation features plus per-conversation counts of the pooled categorical distributions.

    - ``conversations``: ``conv`` (row number), the keys and :data:`NUMERIC_FEATURES`, sorted by
      variant then conversation id, so a variant is one contiguous block of rows;
    - ``counts``: ``conv, category_id, count``, one row per conversation and category it has;
    - ``categories``: ``category_id, distribution, category``; a distribution's ids are contiguous.
    """

    conversations: pl.DataFrame
    counts: pl.DataFrame
    categories: pl.DataFrame

    def pooled(self, distribution: str) -> pl.DataFrame:
        """A distribution's counts summed per variant: ``variant, category, count, share``."""
        labels = self.categories.filter(pl.col("distribution") == distribution).select("category_id", "category")
        return (
            self.counts.join(labels, on="category_id")
            .join(self.conversations.select("conv", "variant"), on="conv")
            .group_by("variant", "category")
            .agg(pl.col("count").sum())
            .with_columns(share=pl.col("count") / pl.col("count").sum().over("variant"))
            .sort("variant", "category")
        )


def compute_features(tables: FlatTables) -> FidelityFeatures:
    """All features of all conversations in the flat tables (any mix of sources and variants).

    Call positions must be 0..n-1 per conversation, as :func:`analytics.extract.extract` writes them.
    """
    conversations = (
        tables.conversations.select(
            *_KEYS,
            turns=pl.col("n_turns").cast(pl.Int64),
            has_outputs=(pl.col("n_results") > 0) | (pl.col("n_calls") == 0),
            has_user_text=pl.col("has_user_text"),
        )
        .sort("variant", "conversation_id")
        .with_row_index("conv")
    )
    arrays = _CallArrays.of(tables.calls, conversations)
    source, target, cross_turn = _edge_nodes(tables.edges, conversations, arrays)
    outcome, length = _error_outcomes(arrays)
    values = {
        **_graph_features(arrays, source, target, cross_turn),
        **_length_features(arrays),
        **_sequence_features(arrays),
        **_recovery_features(arrays, outcome, length),
    }
    has_outputs = conversations["has_outputs"].to_numpy()
    has_user_text = conversations["has_user_text"].to_numpy()
    for name in NUMERIC_FEATURES:
        applicable = (has_outputs if name in NEEDS_OUTPUTS else True) & (has_user_text if name in NEEDS_USER_TEXT else True)
        if applicable is not True:
            values[name] = np.where(applicable, values[name], np.nan)
    features = conversations.select("conv", *_KEYS, "has_outputs", "has_user_text").with_columns(
        pl.Series(name, values[name], dtype=pl.Int64 if name in INTEGER_FEATURES else pl.Float64, nan_to_null=True)
        for name in NUMERIC_FEATURES
    )
    outcome_counts = _outcome_counts(arrays, outcome, length, has_outputs)
    counts, categories = _assemble([*_transition_counts(arrays), *outcome_counts])
    return FidelityFeatures(features, counts, categories)


SYNTHESIS_SOURCE = "digit_tc"


def source_profiles(tables: FlatTables, features: FidelityFeatures) -> pl.DataFrame:
    """Per variant: conversations, how many have tool outputs, user text and errors, the tools it calls
    and how many of them the generator (source ``digit_tc``) also calls; ``shares_generator_catalog``
    when every tool it calls is one the generator calls too."""
    generator = set(tables.calls.filter(pl.col("source") == SYNTHESIS_SOURCE)["tool"].unique().to_list())
    tools = tables.calls.group_by("variant").agg(
        tools=pl.col("tool").n_unique(), generator_tools=pl.col("tool").filter(pl.col("tool").is_in(list(generator))).n_unique()
    )
    return (
        features.conversations.group_by("variant", "source")
        .agg(
            conversations=pl.len(),
            with_outputs=(pl.col("has_outputs") & (pl.col("nodes") > 0)).sum(),
            with_user_text=pl.col("has_user_text").sum(),
            with_errors=(pl.col("errors").fill_null(0) > 0).sum(),
        )
        .join(tools, on="variant", how="left")
        .with_columns(pl.col("tools", "generator_tools").fill_null(0).cast(pl.Int64))
        .with_columns(shares_generator_catalog=(pl.col("tools") > 0) & (pl.col("generator_tools") == pl.col("tools")))
        .with_columns(pl.col("conversations", "with_outputs", "with_user_text", "with_errors").cast(pl.Int64))
        .sort("source", "variant")
    )


@dataclass(frozen=True)
class _CallArrays:
    """The call table (sorted by conversation and position) as numpy arrays, plus per-conversation sizes."""

    conv: np.ndarray
    turn: np.ndarray
    position: np.ndarray
    is_error: np.ndarray
    is_write: np.ndarray
    signature: np.ndarray
    tool: np.ndarray
    tool_names: list[str]
    discovered: np.ndarray
    informative: np.ndarray
    output_fed: np.ndarray
    n_calls: np.ndarray
    first_call: np.ndarray
    turns: np.ndarray
    domain: np.ndarray
    domain_names: list[str]

    @classmethod
    def of(cls, calls: pl.DataFrame, conversations: pl.DataFrame) -> _CallArrays:
        """Calls of known conversations, ordered by conversation row and position (gathered column by
        column: cheaper in time and memory than joining and sorting the whole frame)."""
        conv = _conversation_rows(calls["conversation_id"], conversations)
        position = calls["position"].to_numpy().astype(np.int64)
        known = np.flatnonzero(conv >= 0)
        order = known[np.argsort((conv[known] << 32) | position[known], kind="stable")]
        conv = conv[order]
        n_calls = np.bincount(conv, minlength=conversations.height)
        tool, tool_names = _dense_codes(calls["tool"])
        domain, domain_names = _dense_codes(conversations["domain"])
        return cls(
            conv=conv,
            turn=calls["turn"].to_numpy()[order].astype(np.int32),
            position=position[order].astype(np.int32),
            is_error=calls["is_error"].to_numpy()[order].astype(bool),
            is_write=calls["is_write"].to_numpy()[order].astype(bool),
            signature=calls["arg_signature"].to_numpy()[order],
            tool=tool[order],
            tool_names=tool_names,
            discovered=((calls["n_args_in_user_text"] == 0) & (calls["n_args_informative"] > 0)).to_numpy()[order],
            informative=(calls["n_args_informative"] > 0).to_numpy()[order],
            output_fed=(calls["n_args_from_outputs_only"] > 0).to_numpy()[order],
            n_calls=n_calls,
            first_call=np.cumsum(n_calls) - n_calls,
            turns=conversations["turns"].to_numpy().astype(np.int64),
            domain=domain,
            domain_names=domain_names,
        )

    @property
    def n(self) -> int:
        return self.conv.size

    def total(self, weights: np.ndarray) -> np.ndarray:
        """Per-conversation sum of a per-call value."""
        return np.bincount(self.conv, weights=weights, minlength=self.n_calls.size)

    def largest(self, values: np.ndarray) -> np.ndarray:
        """Per-conversation maximum of a non-negative per-call value (0 without calls)."""
        result = np.zeros(self.n_calls.size, dtype=values.dtype)
        has_calls = self.n_calls > 0
        if self.n:
            result[has_calls] = np.maximum.reduceat(values, self.first_call[has_calls])
        return result

    def last_of_turn(self) -> np.ndarray:
        """Calls after which their turn ends (the next call is in another turn or conversation)."""
        last = np.ones(self.n, dtype=bool)
        last[:-1] = (self.conv[1:] != self.conv[:-1]) | (self.turn[1:] != self.turn[:-1])
        return last


def _dense_codes(column: pl.Series) -> tuple[np.ndarray, list[str]]:
    """0..k-1 codes of a string column (nulls -> -1) and the string of each code."""
    physical = column.cast(pl.Categorical).to_physical()
    present = physical.drop_nulls().unique().sort()
    lookup = np.full(int(present.max()) + 1 if present.len() else 1, -1, dtype=np.int64)
    lookup[present.to_numpy()] = np.arange(present.len())
    codes = np.where(physical.is_null().to_numpy(), -1, lookup[physical.fill_null(0).to_numpy()])
    example = np.zeros(present.len(), dtype=np.int64)
    example[codes[codes >= 0]] = np.flatnonzero(codes >= 0)
    return codes, column.gather(example).to_list()


def _conversation_rows(conversation_ids: pl.Series, conversations: pl.DataFrame) -> np.ndarray:
    """The ``conv`` row of each id (-1 for ids the conversations table does not have).

    The flat tables list a conversation's rows together, so ids are joined once per run of equal ids."""
    if conversation_ids.is_empty():
        return np.zeros(0, dtype=np.int64)
    run_starts = np.flatnonzero(conversation_ids.ne_missing(conversation_ids.shift(1)).fill_null(True).to_numpy())
    runs = conversation_ids.gather(run_starts).to_frame("conversation_id").join(
        conversations.select("conversation_id", "conv"), on="conversation_id", how="left", maintain_order="left"
    )
    run_rows = runs["conv"].cast(pl.Int64).fill_null(-1).to_numpy()
    return np.repeat(run_rows, np.diff(np.append(run_starts, conversation_ids.len())))


def _edge_nodes(
    edges: pl.DataFrame, conversations: pl.DataFrame, arrays: _CallArrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges as (producer, consumer) call rows; edges of unknown conversations or calls, or pointing
    backwards (only corrupt input has them, and a cycle would make depth undefined) are dropped."""
    conv = _conversation_rows(edges["conversation_id"], conversations)
    producer = edges["producer"].to_numpy().astype(np.int64)
    consumer = edges["consumer"].to_numpy().astype(np.int64)
    valid = (conv >= 0) & (producer >= 0) & (producer < consumer)
    valid &= consumer < arrays.n_calls[np.maximum(conv, 0)]
    conv, producer, consumer = conv[valid], producer[valid], consumer[valid]
    return (
        arrays.first_call[conv] + producer,
        arrays.first_call[conv] + consumer,
        edges["cross_turn"].to_numpy().astype(bool)[valid],
    )


def _longest_path_levels(source: np.ndarray, target: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Edges on the longest path ending at each call.

    Producers always sit at an earlier position than their consumers, so sweeping the edges by the
    consumer's position finalizes every producer's level before it is read: one pass per position.
    """
    level = np.zeros(position.size, dtype=np.int64)
    if source.size == 0:
        return level
    consumer_position = position[target]
    sort_key = consumer_position.astype(np.uint16) if consumer_position.max() < 2**16 else consumer_position
    order = np.argsort(sort_key, kind="stable")
    source, target = source[order], target[order]
    boundaries = np.flatnonzero(np.diff(consumer_position[order])) + 1
    for sources, targets in zip(np.split(source, boundaries), np.split(target, boundaries)):
        np.maximum.at(level, targets, level[sources] + 1)
    return level


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN (null) where the denominator is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _graph_features(
    arrays: _CallArrays, source: np.ndarray, target: np.ndarray, cross_turn: np.ndarray
) -> dict[str, np.ndarray]:
    in_degree = np.bincount(target, minlength=arrays.n)
    out_degree = np.bincount(source, minlength=arrays.n)
    edge_conv = arrays.conv[target]
    n_conv = arrays.n_calls.size
    return {
        "nodes": arrays.n_calls,
        "edges": np.bincount(edge_conv, minlength=n_conv),
        "depth": arrays.largest(_longest_path_levels(source, target, arrays.position)),
        "max_fan_in": arrays.largest(in_degree),
        "max_fan_out": arrays.largest(out_degree),
        "roots": arrays.total((in_degree == 0) & (out_degree > 0)),
        "cross_turn_edges": np.bincount(edge_conv, weights=cross_turn, minlength=n_conv),
        "chain_motifs": arrays.total(in_degree * out_degree),
        "fan_in_motifs": arrays.total(in_degree * (in_degree - 1) // 2),
        "fan_out_motifs": arrays.total(out_degree * (out_degree - 1) // 2),
        "discovered_share": _ratio(arrays.total(arrays.discovered), arrays.total(arrays.informative)),
        "output_fed_share": _ratio(arrays.total(arrays.output_fed), arrays.total(arrays.informative)),
    }


def _error_outcomes(arrays: _CallArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per call: outcome code of an error (-1 for a successful call) and its recovery length (0 unless
    recovered by the same tool).

    ``recovered_same_turn``: the first success after the error, in its turn, is the same tool or intent
    (same read/write class and argument names); ``recovered_later``: otherwise a later call of the same
    tool in the conversation succeeds; ``not_recovered``: neither. The length counts calls from the
    error to the next success of the same tool (1 = the very next call)."""
    index = np.arange(arrays.n)
    success_at = np.where(arrays.is_error, arrays.n, index)
    next_success = np.minimum.accumulate(success_at[::-1])[::-1]
    fix = np.minimum(next_success, max(arrays.n - 1, 0))
    found = (next_success < arrays.n) & (arrays.conv[fix] == arrays.conv) & (arrays.turn[fix] == arrays.turn)
    same_intent = (arrays.tool[fix] == arrays.tool) | (
        (arrays.signature[fix] == arrays.signature) & (arrays.is_write[fix] == arrays.is_write)
    )
    later = _next_success_of_same_tool(arrays)
    outcome = np.where(found & same_intent, _SAME_TURN, np.where(later >= 0, _LATER, _NOT_RECOVERED))
    outcome = np.where(arrays.is_error, outcome, -1)
    return outcome, np.where(arrays.is_error & (later >= 0), later - index, 0)


def _next_success_of_same_tool(arrays: _CallArrays) -> np.ndarray:
    """Per call, the row of the next successful call of the same tool in its conversation (-1 if none).

    Rows are sorted by (conversation, tool, position); a reverse running minimum of ``group * n + row``
    over successes finds the next success, and it belongs to the same group exactly when one exists."""
    result = np.full(arrays.n, -1, dtype=np.int64)
    if arrays.n == 0:
        return result
    order = np.lexsort((arrays.position, arrays.tool, arrays.conv))
    group_key = _pair_codes(arrays.conv[order], arrays.tool[order] + 1)
    group = np.cumsum(np.append(True, group_key[1:] != group_key[:-1])) - 1
    encoded = np.where(arrays.is_error[order], np.iinfo(np.int64).max, group * arrays.n + order)
    following = np.append(np.minimum.accumulate(encoded[::-1])[::-1][1:], np.iinfo(np.int64).max)
    found = (following != np.iinfo(np.int64).max) & (following // arrays.n == group)
    result[order[found]] = following[found] % arrays.n
    return result


def _recovery_features(arrays: _CallArrays, outcome: np.ndarray, length: np.ndarray) -> dict[str, np.ndarray]:
    errors = arrays.total(arrays.is_error)
    recovered = arrays.total(length > 0)
    return {
        "errors": errors,
        "error_rate": _ratio(errors, arrays.n_calls),
        "recovered_share": _ratio(recovered, errors),
        "recovered_same_turn_share": _ratio(arrays.total(outcome == _SAME_TURN), errors),
        "abandoned": errors - recovered,
        "recovery_length_mean": _ratio(arrays.total(length), recovered),
    }


def _pair_codes(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """One order-preserving int64 code per (high, low) pair: packed, or dense ranks if packing overflows."""
    high, low = high.astype(np.int64), low.astype(np.int64)
    base = int(low.max()) + 1 if low.size else 1
    if high.size == 0 or int(high.max()) < 2**62 // base:
        return high * base + low
    return np.unique(np.stack([high, low], axis=1), axis=0, return_inverse=True)[1].ravel().astype(np.int64)


def _conversation_keyed(conv: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, int]:
    """``conv * base + code`` (decodable with divmod), densifying ``code`` when the product would overflow."""
    if code.size and int(conv.max()) >= 2**62 // (int(code.max()) + 1):
        code = np.unique(code, return_inverse=True)[1].ravel()
    base = int(code.max()) + 1 if code.size else 1
    return conv * base + code, base


def _ngram_entropy(arrays: _CallArrays, n: int) -> np.ndarray:
    """Entropy (bits) of each conversation's tool n-gram counts; NaN with fewer than n calls."""
    start = np.flatnonzero(arrays.position + n <= arrays.n_calls[arrays.conv])
    gram = arrays.tool[start]
    for offset in range(1, n):
        gram = _pair_codes(gram, arrays.tool[start + offset])
    key, base = _conversation_keyed(arrays.conv[start], gram)
    distinct, counts = np.unique(key, return_counts=True)
    owner = distinct // base
    n_conv = arrays.n_calls.size
    grams = np.bincount(owner, weights=counts, minlength=n_conv)
    share = counts / grams[owner]
    entropy = np.bincount(owner, weights=entr(share), minlength=n_conv) / math.log(2)
    return np.where(grams > 0, entropy, np.nan)


def _length_features(arrays: _CallArrays) -> dict[str, np.ndarray]:
    return {"turns": arrays.turns, "calls_per_turn": _ratio(arrays.n_calls, arrays.turns)}


def _rw_transition_entropy(arrays: _CallArrays) -> np.ndarray:
    """H(class of call k+1 | class of call k) in bits over consecutive calls; NaN with fewer than 2 calls."""
    n_conv = arrays.n_calls.size
    follows = np.flatnonzero(arrays.position[1:] > 0) + 1  # calls with a predecessor in their conversation
    previous, current = arrays.is_write[follows - 1].astype(np.int64), arrays.is_write[follows].astype(np.int64)
    joint = np.bincount(arrays.conv[follows] * 4 + previous * 2 + current, minlength=4 * n_conv).reshape(n_conv, 4)
    pairs = joint.sum(axis=1)
    marginal = joint.reshape(n_conv, 2, 2).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        joint_entropy = entr(joint / pairs[:, None]).sum(axis=1)
        previous_entropy = entr(marginal / pairs[:, None]).sum(axis=1)
    return np.where(pairs > 0, (joint_entropy - previous_entropy) / math.log(2), np.nan)


def _first_write_position(arrays: _CallArrays) -> np.ndarray:
    """Position of the first write divided by the number of calls (0 = first call); NaN without a write."""
    big = np.iinfo(np.int32).max
    first = np.full(arrays.n_calls.size, big, dtype=np.int64)
    np.minimum.at(first, arrays.conv[arrays.is_write], arrays.position[arrays.is_write])
    return np.where(first < big, _ratio(first, arrays.n_calls), np.nan)


def _sequence_features(arrays: _CallArrays) -> dict[str, np.ndarray]:
    return {
        "unigram_entropy": _ngram_entropy(arrays, 1),
        "bigram_entropy": _ngram_entropy(arrays, 2),
        "trigram_entropy": _ngram_entropy(arrays, 3),
        "rw_transition_entropy": _rw_transition_entropy(arrays),
        "first_write_position": _first_write_position(arrays),
    }


@dataclass(frozen=True)
class _Counts:
    """One or more distributions' per-conversation counts; ``local`` indexes ``labels``."""

    labels: list[tuple[str, str]]
    conv: np.ndarray
    local: np.ndarray
    count: np.ndarray


def _count(conv: np.ndarray, category: np.ndarray, label: Callable[[int], tuple[str, str]]) -> _Counts:
    """Occurrences counted per (conversation, category); ``label(i)`` names the category of occurrence i.

    Category codes must sort each distribution's categories together (distribution-major codes)."""
    codes = pl.DataFrame({"code": category}, schema={"code": pl.Int64})
    categories = codes.unique().sort("code").with_row_index("local")
    local = codes.join(categories, on="code", how="left", maintain_order="left")["local"].to_numpy().astype(np.int64)
    example = np.zeros(categories.height, dtype=np.int64)
    example[local] = np.arange(local.size)
    key, base = _conversation_keyed(conv, local)
    pairs, count = np.unique(key, return_counts=True)
    return _Counts([label(int(i)) for i in example], pairs // base, pairs % base, count)


def _transition_counts(arrays: _CallArrays) -> list[_Counts]:
    """Per-turn START/END bigrams: read/write classes always, tool names where the conversation has a domain."""
    last = arrays.last_of_turn()
    first = np.ones(arrays.n, dtype=bool)
    first[1:] = last[:-1]
    silent = arrays.turns - np.bincount(arrays.conv[last], minlength=arrays.turns.size)
    silent_conv = np.repeat(np.arange(silent.size), np.maximum(silent, 0))
    conv = np.concatenate([arrays.conv, arrays.conv[last], silent_conv])

    state = np.where(arrays.is_write, 2, 1)
    before = np.concatenate([np.where(first, 0, np.roll(state, 1)), state[last], np.zeros(silent_conv.size, np.int64)])
    after = np.concatenate([state, np.full(int(last.sum()), 3), np.full(silent_conv.size, 3)])
    rw = _count(conv, before * 4 + after, lambda i: (RW_BIGRAMS, f"{STATES[before[i]]}->{STATES[after[i]]}"))

    start, end = len(arrays.tool_names), len(arrays.tool_names) + 1
    names = [*arrays.tool_names, "START", "END"]
    tool_before = np.concatenate(
        [np.where(first, start, np.roll(arrays.tool, 1)), arrays.tool[last], np.full(silent_conv.size, start)]
    )
    tool_after = np.concatenate([arrays.tool, np.full(int(last.sum()), end), np.full(silent_conv.size, end)])
    domain = arrays.domain[conv]
    keep = domain >= 0
    conv, domain, tool_before, tool_after = conv[keep], domain[keep], tool_before[keep], tool_after[keep]
    tools = _count(
        conv,
        _pair_codes(_pair_codes(domain, tool_before), tool_after),
        lambda i: (
            TOOL_BIGRAMS_PREFIX + arrays.domain_names[domain[i]],
            f"{names[tool_before[i]]}->{names[tool_after[i]]}",
        ),
    )
    return [rw, tools]


def _outcome_counts(
    arrays: _CallArrays, outcome: np.ndarray, length: np.ndarray, has_outputs: np.ndarray
) -> list[_Counts]:
    """Pooled recovery distributions: ok/error per call, outcome per error, length per recovered error;
    only conversations with tool results count (without them no call is known to succeed or fail)."""
    observed = has_outputs[arrays.conv]
    is_error = arrays.is_error.astype(np.int64)[observed]
    errored = arrays.is_error & observed
    errors = outcome[errored]
    recovered = length > 0
    lengths = length[recovered]
    return [
        _count(arrays.conv[observed], is_error, lambda i: (CALL_OUTCOMES, ("ok", "error")[is_error[i]])),
        _count(arrays.conv[errored], errors, lambda i: (ERROR_OUTCOMES, OUTCOMES[errors[i]])),
        _count(arrays.conv[recovered], lengths, lambda i: (RECOVERY_LENGTH, str(lengths[i]))),
    ]


def _assemble(parts: list[_Counts]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``counts`` and ``categories`` frames of all parts, category ids offset part by part."""
    offsets = np.cumsum([0, *(len(part.labels) for part in parts)])
    labels = [label for part in parts for label in part.labels]
    category_ids = np.concatenate([part.local + offset for part, offset in zip(parts, offsets)])
    counts = pl.DataFrame(
        {
            "conv": np.concatenate([part.conv for part in parts]).astype(np.uint32),
            "category_id": category_ids.astype(np.uint32),
            "count": np.concatenate([part.count for part in parts]).astype(np.uint32),
        }
    )
    categories = pl.DataFrame(
        {
            "category_id": np.arange(len(labels), dtype=np.uint32),
            "distribution": [distribution for distribution, _ in labels],
            "category": [category for _, category in labels],
        },
        schema={"category_id": pl.UInt32, "distribution": pl.String, "category": pl.String},
    )
    return counts, categories
