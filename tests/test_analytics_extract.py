"""Extraction: flat calls and data-flow edges of hand-analysed conversations."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from analytics.extract import (
    extract,
    extract_stored,
    informative_leaves,
    is_write_by_name,
    normalize_value,
    write_hint,
)
from digit_assets.engine.records import ConversationRecord, is_error_content

DATA = Path(__file__).parent / "data" / "analytics"
MIGRATION = Path(__file__).parents[1] / "digit_assets" / "store" / "migrations" / "0002_conversations.sql"


def load(name: str) -> ConversationRecord:
    return ConversationRecord.model_validate_json((DATA / name).read_text())


def test_calls_of_the_two_turn_conversation_match_the_hand_analysis() -> None:
    calls = extract([load("two_turn_order.json")]).calls
    assert calls["tool"].to_list() == ["list_orders", "get_order_details", "cancel_order", "add_stock", "send_email"]
    assert calls["turn"].to_list() == [0, 0, 0, 1, 1]
    assert calls["position"].to_list() == [0, 1, 2, 3, 4]
    assert calls["is_error"].to_list() == [False] * 5
    assert calls["is_write"].to_list() == [False, False, True, True, True]
    # notify=True and quantity=1 are arguments but carry no informative value
    assert calls["n_args"].to_list() == [2, 1, 2, 3, 3]
    assert calls["n_args_informative"].to_list() == [2, 1, 1, 2, 3]
    # the e-mail and the date are in the user's words; the order, item and references are discovered
    assert calls["n_args_in_user_text"].to_list() == [2, 0, 0, 0, 1]
    assert calls["n_args_from_outputs"].to_list() == [0, 1, 1, 2, 2]
    assert set(calls["variant"]) == {"shop_search"} and set(calls["domain"]) == {"shop"}


def test_edges_credit_the_latest_output_carrying_a_value_and_mark_cross_turn_flows() -> None:
    edges = extract([load("two_turn_order.json")]).edges
    rows = {
        (e["producer"], e["consumer"]): (e["cross_turn"], e["n_shared_values"]) for e in edges.iter_rows(named=True)
    }
    # ORD-5521 reaches cancel_order through get_order_details (the latest result showing it), not list_orders
    assert rows == {
        (0, 1): (False, 1),
        (1, 2): (False, 1),
        (1, 3): (True, 2),  # item id and warehouse, both from the first turn's details
        (2, 4): (True, 1),
        (3, 4): (False, 1),
    }


def test_conversation_rows_count_turns_and_calls_even_without_calls() -> None:
    silent = ConversationRecord(
        conversation_id="chat-only", source="import", variant="traj", messages=[
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"}, {"role": "assistant", "content": "bye"},
        ], tools=[],
    )
    tables = extract([load("two_turn_order.json"), silent])
    assert tables.conversations.select("conversation_id", "n_turns", "n_calls", "n_results", "has_user_text").rows() == [
        ("order-two-turns", 2, 5, 5, True),
        ("chat-only", 2, 0, 0, True),
    ]
    assert tables.calls.height == 5
    # per call: informative arguments from an earlier output that the user never wrote
    # (send_email's "to" is in the user text and also came from no output; its two references did)
    assert tables.calls.select("tool", "n_args_from_outputs_only").rows() == [
        ("list_orders", 0), ("get_order_details", 1), ("cancel_order", 1), ("add_stock", 2), ("send_email", 2),
    ]


def test_call_only_records_have_no_results_and_no_user_text() -> None:
    record = ConversationRecord(
        conversation_id="gt-1", source="import", variant="gt", messages=[
            {"role": "user", "content": ""},
            {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_user", "arguments": '{"user_id": "U-1203"}'}},
            ]},
        ], tools=[],
    )
    row = extract([record]).conversations.row(0, named=True)
    assert (row["n_calls"], row["n_results"], row["has_user_text"]) == (1, 0, False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, None),
        (None, None),
        ("", None),
        ("x", None),
        ("Yes", None),
        (7, None),
        (-99, None),
        (1.0, None),
        (1200, "1200"),
        ("1200", "1200"),
        (1200.0, "1200"),
        (149.5, "149 5"),
        ("007", "007"),
        ("2024-05-03", "2024 05 03"),
        ("  Berlin   North ", "berlin north"),
        ("alice@Example.com", "alice example com"),
    ],
)
def test_value_normalization_and_trivial_values(value: object, expected: str | None) -> None:
    assert normalize_value(value) == expected


def test_informative_leaves_walk_values_not_keys() -> None:
    output = {"order_id": "A-100", "items": [{"sku": "SKU-1", "qty": 2}], "ok": True}
    assert informative_leaves(output) == {"a 100", "sku 1"}


@pytest.mark.parametrize(
    ("name", "writes"),
    [
        ("getOrderDetails", False),
        ("list_orders", False),
        ("orders.search", False),
        ("order_status", False),
        ("weather", False),
        ("cancel_order", True),
        ("place_order", True),
        ("BookFlight", True),
        ("send-email", True),
    ],
)
def test_read_write_name_heuristic(name: str, writes: bool) -> None:
    assert is_write_by_name(name) is writes


def test_spec_hints_take_precedence_over_the_name() -> None:
    destructive = {"name": "get_x", "annotations": {"destructiveHint": True}}
    assert write_hint({"type": "function", "function": destructive}) is True
    assert write_hint({"name": "delete_cache_entry", "annotations": {"readOnlyHint": True}}) is False
    assert write_hint({"type": "function", "function": {"name": "orders", "x-http-method": "POST"}}) is True
    assert write_hint({"type": "function", "function": {"name": "orders", "x-http-method": "get"}}) is False
    assert write_hint({"type": "function", "function": {"name": "cancel_order"}}) is None
    record = load("two_turn_order.json")
    record.tools[2]["function"]["annotations"] = {"readOnlyHint": True}  # cancel_order declared read-only
    assert extract([record]).calls["is_write"].to_list() == [False, False, False, True, True]


@pytest.mark.parametrize(
    "content",
    ['{"ok": 1}', '{"error": "x"}', "Error: nope", "  error - bad", "[1, 2]", "plain text", '"Error"', "", '{"broken'],
)
def test_error_detection_agrees_with_the_record_definition(content: str) -> None:
    record = ConversationRecord(
        conversation_id="c", source="import", variant="v", messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "1", "name": "f", "content": content},
        ], tools=[],
    )
    assert extract([record]).calls["is_error"].to_list() == [is_error_content(content)]


def test_extraction_from_the_duckdb_conversations_table_matches_records() -> None:
    records = [load("two_turn_order.json"), load("booking_recovery.json")]
    connection = duckdb.connect()
    connection.execute(MIGRATION.read_text())
    for r in records:
        connection.execute(
            "INSERT INTO conversations (conversation_id, source, variant, domain, shard, n_turns, n_calls,"
            " n_errors, messages, tools, meta, run_id, seed, config_hash)"
            " VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 'run', 1, 'h')",
            [r.conversation_id, r.source, r.variant, r.domain, r.n_turns(), len(r.tool_calls()), r.n_errors(),
             json.dumps(r.messages), json.dumps(r.tools), json.dumps(r.meta)],
        )
    stored = extract_stored(connection)
    direct = extract(sorted(records, key=lambda r: r.conversation_id))
    for name in ("conversations", "calls", "edges"):
        assert getattr(stored, name).equals(getattr(direct, name))
    only_digit = extract_stored(connection, "variant = 'digit_tc'")
    assert only_digit.conversations["conversation_id"].to_list() == ["booking-recovery"]
