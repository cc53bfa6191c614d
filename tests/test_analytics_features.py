"""Features against hand-computed values, and the vectorized graph metrics against networkx."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest

from analytics.extract import CALL_SCHEMA, CONVERSATION_SCHEMA, EDGE_SCHEMA, FlatTables, extract
from analytics.features import compute_features
from digit_assets.engine.records import ConversationRecord

DATA = Path(__file__).parent / "data" / "analytics"


def load(name: str) -> ConversationRecord:
    return ConversationRecord.model_validate_json((DATA / name).read_text())


def one(features: pl.DataFrame, conversation_id: str) -> dict[str, object]:
    return features.filter(pl.col("conversation_id") == conversation_id).row(0, named=True)


def pooled(features, distribution: str) -> dict[str, int]:
    return dict(features.pooled(distribution).select("category", "count").iter_rows())


def flat_tables(conversations: list[dict]) -> FlatTables:
    """Flat tables from ``{"id", "turns", "calls": [(turn, tool, is_error, is_write)], "edges": [(from, to)]}``."""
    conversation_rows, call_rows, edge_rows = [], [], []
    for c in conversations:
        variant = c.get("variant", "v")
        n_calls = len(c["calls"])
        conversation_rows.append((c["id"], "import", variant, c.get("domain"), c["turns"], n_calls, n_calls, True))
        for position, (turn, tool, is_error, is_write) in enumerate(c["calls"]):
            keys = (c["id"], "import", variant, c.get("domain"))
            call_rows.append((*keys, turn, position, tool, is_error, is_write, 0, 1, 1, 1, 0, 0))
        for producer, consumer in c.get("edges", []):
            turns = (c["calls"][producer][0], c["calls"][consumer][0])
            edge_rows.append((c["id"], producer, consumer, *turns, turns[0] < turns[1], 1))
    return FlatTables(
        pl.DataFrame(conversation_rows, schema=CONVERSATION_SCHEMA, orient="row"),
        pl.DataFrame(call_rows, schema=CALL_SCHEMA, orient="row"),
        pl.DataFrame(edge_rows, schema=EDGE_SCHEMA, orient="row"),
    )


def test_dependency_graph_of_the_two_turn_conversation() -> None:
    # edges by hand: list->details, details->cancel, details->restock (turn 2), cancel->email (turn 2), restock->email
    row = one(compute_features(extract([load("two_turn_order.json")])).conversations, "order-two-turns")
    assert row["nodes"] == 5
    assert row["edges"] == 5
    assert row["depth"] == 3  # list -> details -> cancel -> email
    assert row["max_fan_in"] == 2  # email consumes the cancellation and the restock
    assert row["max_fan_out"] == 2  # details feeds cancel and restock
    assert row["roots"] == 1  # only list_orders feeds without consuming
    assert row["cross_turn_edges"] == 2
    # sum in*out = 1*2 + 1*1 + 1*1: list-details-cancel, list-details-restock,
    # details-cancel-email, details-restock-email
    assert row["chain_motifs"] == 4
    assert row["fan_in_motifs"] == 1 and row["fan_out_motifs"] == 1
    # no informative value in the user text: details, cancel, restock (list_orders and send_email have the email)
    assert row["discovered_share"] == pytest.approx(3 / 5)
    # a value from an earlier output the user never wrote: every call but list_orders
    assert row["output_fed_share"] == pytest.approx(4 / 5)
    assert row["turns"] == 2 and row["calls_per_turn"] == pytest.approx(2.5)
    assert row["errors"] == 0 and row["error_rate"] == 0.0
    assert row["recovered_share"] is None and row["recovery_length_mean"] is None


def test_read_write_and_tool_bigrams_per_turn() -> None:
    features = compute_features(extract([load("two_turn_order.json")]))
    # turn 1: START read read write END; turn 2: START write write END
    assert pooled(features, "rw_bigrams") == {
        "START->read": 1, "read->read": 1, "read->write": 1, "write->END": 2, "START->write": 1, "write->write": 1,
    }
    assert pooled(features, "tool_bigrams:shop") == {
        "START->list_orders": 1, "list_orders->get_order_details": 1, "get_order_details->cancel_order": 1,
        "cancel_order->END": 1, "START->add_stock": 1, "add_stock->send_email": 1, "send_email->END": 1,
    }
    assert pooled(features, "call_outcomes") == {"ok": 5}


def test_recovery_statistics_of_a_crafted_error_and_fix_conversation() -> None:
    features = compute_features(extract([load("booking_recovery.json")]))
    row = one(features.conversations, "booking-recovery")
    # errors: book_table (the next book_table succeeds), get_weather (never retried), update_booking (the
    # update_booking two calls later succeeds), modify_booking (no later success of modify_booking; the
    # same-turn fix is update_booking, same arguments, both writes), send_email (never retried)
    assert row["errors"] == 5
    assert row["error_rate"] == pytest.approx(5 / 9)
    assert row["recovered_share"] == pytest.approx(2 / 5)  # same tool succeeds later: book_table, update_booking
    assert row["recovered_same_turn_share"] == pytest.approx(3 / 5)  # ... and modify_booking by intent
    assert row["abandoned"] == 3
    assert row["recovery_length_mean"] == pytest.approx((1 + 2) / 2)
    assert pooled(features, "error_outcomes") == {"recovered_same_turn": 3, "not_recovered": 2}
    assert pooled(features, "recovery_length") == {"1": 1, "2": 1}
    assert pooled(features, "call_outcomes") == {"ok": 4, "error": 5}


def test_unigram_entropy_of_the_recovery_conversation() -> None:
    row = one(compute_features(extract([load("booking_recovery.json")])).conversations, "booking-recovery")
    # 9 calls: book_table x2, update_booking x2, five tools once
    expected = -(2 * (2 / 9) * math.log2(2 / 9) + 5 * (1 / 9) * math.log2(1 / 9))
    assert row["unigram_entropy"] == pytest.approx(expected)


def test_ngram_entropy_of_a_known_sequence() -> None:
    tables = flat_tables([
        {"id": "abab", "turns": 1, "calls": [(0, tool, False, False) for tool in "ABAB"]},
        {"id": "single", "turns": 1, "calls": [(0, "A", False, False)]},
    ])
    features = compute_features(tables).conversations
    abab = one(features, "abab")
    assert abab["unigram_entropy"] == pytest.approx(1.0)  # A, B twice each
    # AB twice, BA once
    assert abab["bigram_entropy"] == pytest.approx(-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3))
    assert abab["trigram_entropy"] == pytest.approx(1.0)  # ABA, BAB
    single = one(features, "single")
    assert single["unigram_entropy"] == 0.0
    assert single["bigram_entropy"] is None and single["trigram_entropy"] is None


def test_silent_turns_and_conversations_without_calls() -> None:
    tables = flat_tables([
        {"id": "chat", "turns": 2, "calls": []},
        {"id": "mixed", "turns": 3, "domain": "d", "calls": [(1, "get_a", False, False)]},
    ])
    features = compute_features(tables)
    chat = one(features.conversations, "chat")
    assert chat["nodes"] == 0 and chat["depth"] == 0 and chat["calls_per_turn"] == 0.0
    assert chat["discovered_share"] is None and chat["error_rate"] is None and chat["unigram_entropy"] is None
    assert pooled(features, "rw_bigrams") == {"START->END": 4, "START->read": 1, "read->END": 1}
    assert pooled(features, "tool_bigrams:d") == {"START->END": 2, "START->get_a": 1, "get_a->END": 1}


def test_backward_and_dangling_edges_are_ignored() -> None:
    tables = flat_tables([
        {"id": "c", "turns": 1, "calls": [(0, "a", False, False), (0, "b", False, False)], "edges": [(0, 1)]},
    ])
    corrupt = pl.DataFrame(
        [("c", 1, 0, 0, 0, False, 1), ("c", 0, 7, 0, 0, False, 1), ("unknown", 0, 1, 0, 0, False, 1)],
        schema=EDGE_SCHEMA, orient="row",
    )
    with_corrupt = FlatTables(tables.conversations, tables.calls, pl.concat([tables.edges, corrupt]))
    row = compute_features(with_corrupt).conversations.row(0, named=True)
    assert (row["edges"], row["depth"]) == (1, 1)


def test_graph_features_match_networkx_on_random_dags() -> None:
    rng = np.random.default_rng(7)
    specs = []
    for index in range(300):
        n = int(rng.integers(0, 12))
        edges = sorted({(int(p), c) for c in range(1, n) for p in rng.choice(c, size=int(rng.integers(0, 3)))})
        calls = [(int(k // 4), f"t{int(rng.integers(0, 5))}", False, False) for k in range(n)]
        specs.append({"id": f"c{index:03d}", "turns": max(1, (n + 3) // 4), "calls": calls, "edges": edges})
    features = compute_features(flat_tables(specs)).conversations
    for spec in specs:
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(spec["calls"])))
        graph.add_edges_from(spec["edges"])
        row = one(features, spec["id"])
        ins = [graph.in_degree(v) for v in graph]
        outs = [graph.out_degree(v) for v in graph]
        assert row["depth"] == (nx.dag_longest_path_length(graph) if graph.number_of_nodes() else 0)
        assert row["edges"] == graph.number_of_edges()
        assert row["max_fan_in"] == max(ins, default=0) and row["max_fan_out"] == max(outs, default=0)
        assert row["roots"] == sum(1 for v in graph if graph.in_degree(v) == 0 and graph.out_degree(v) > 0)
        assert row["chain_motifs"] == sum(1 for a, b in graph.edges for _ in graph.successors(b))
        assert row["fan_in_motifs"] == sum(d * (d - 1) // 2 for d in ins)
        assert row["fan_out_motifs"] == sum(d * (d - 1) // 2 for d in outs)


def test_variants_are_contiguous_blocks_and_order_independent() -> None:
    records = [load("booking_recovery.json"), load("two_turn_order.json")]
    forward = compute_features(extract(records)).conversations
    backward = compute_features(extract(records[::-1])).conversations
    assert forward.equals(backward)
    assert forward["variant"].to_list() == sorted(forward["variant"].to_list())
    assert forward["conv"].to_list() == list(range(forward.height))


def test_no_conversations_at_all() -> None:
    features = compute_features(extract([]))
    assert features.conversations.height == 0 and features.counts.height == 0
    assert features.pooled("rw_bigrams").height == 0


def test_recovery_in_a_later_turn_and_after_another_step() -> None:
    tables = flat_tables([
        {"id": "later", "turns": 2, "calls": [
            (0, "get_a", True, False), (0, "set_b", False, True), (1, "get_a", False, False),
        ]},
    ])
    row = one(compute_features(tables).conversations, "later")
    # the first success after the error is another tool: not a same-turn recovery, but get_a succeeds later
    assert row["recovered_same_turn_share"] == 0.0
    assert row["recovered_share"] == 1.0 and row["abandoned"] == 0
    assert row["recovery_length_mean"] == 2.0
    assert pooled(compute_features(tables), "error_outcomes") == {"recovered_later": 1}


def test_read_write_transition_entropy_and_first_write() -> None:
    tables = flat_tables([
        # classes r w r w: every read is followed by a write and vice versa: H(next | previous) = 0
        {"id": "alternating", "turns": 1, "calls": [(0, t, False, t == "w") for t in "rwrw"]},
        # r r w r: after r comes r once and w once (1 bit), after w comes r: H = (2/3) * 1 + (1/3) * 0
        {"id": "mixed", "turns": 1, "calls": [(0, t, False, t == "w") for t in "rrwr"]},
        {"id": "reads", "turns": 1, "calls": [(0, "r", False, False)]},
    ])
    features = compute_features(tables).conversations
    assert one(features, "alternating")["rw_transition_entropy"] == pytest.approx(0.0)
    assert one(features, "mixed")["rw_transition_entropy"] == pytest.approx(2 / 3)
    assert one(features, "alternating")["first_write_position"] == pytest.approx(1 / 4)
    assert one(features, "mixed")["first_write_position"] == pytest.approx(2 / 4)
    reads = one(features, "reads")
    assert reads["first_write_position"] is None and reads["rw_transition_entropy"] is None


def test_call_only_records_have_no_output_or_user_text_features() -> None:
    tables = flat_tables([{"id": "calls-only", "turns": 1, "calls": [(0, "get_a", False, False), (0, "set_b", False, True)]}])
    tables = FlatTables(
        tables.conversations.with_columns(n_results=pl.lit(0, pl.Int32), has_user_text=pl.lit(False)),
        tables.calls,
        tables.edges,
    )
    features = compute_features(tables)
    row = one(features.conversations, "calls-only")
    assert row["has_outputs"] is False
    for name in ("edges", "depth", "errors", "error_rate", "abandoned", "discovered_share", "output_fed_share"):
        assert row[name] is None, name
    assert row["nodes"] == 2 and row["bigram_entropy"] == 0.0  # what the calls alone define stays
    assert features.pooled("call_outcomes").is_empty()
