"""Error recovery (wrong call -> hint) and turn summaries."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from digit_assets.engine.llm.port import LLMError
from digit_assets.engine.synthesis.roles import SummarizeTurnRequest, WrongCallRequest
from digit_assets.engine.synthesis.model import ExecutedCall, ToolView
from digit_assets.engine.synthesis.recovery import choose_recovery_positions, wrong_call_problems
from digit_assets.engine.offline.mistakes import propose_wrong_call_offline
from digit_assets.engine.synthesis.simulation import argument_problems
from digit_assets.engine.offline.summarizer import summarize_turn_offline
from digit_assets.engine.synthesis.summaries import summary_problems
from digit_assets.engine.synthesis.text import find_value
from tests.test_synthesis_simulation import (
    BOOK_HOTEL,
    CANCEL_ORDER,
    GET_ORDER,
    GET_ORDER_STATUS,
    LIST_ORDERS,
    SHOP_TOOLS,
    executed,
    listed_orders,
    simulate,
)

SEEDS = range(200)
NAMES = [t.name for t in [*SHOP_TOOLS, BOOK_HOTEL]] + [p for t in [*SHOP_TOOLS, BOOK_HOTEL] for p in t.parameters["properties"]]


def conversation(seed: int = 0) -> tuple[list[ExecutedCall], ExecutedCall]:
    """A listing of two orders, then the gold call that cancels the first (with a reason)."""
    listing = listed_orders(seed)
    while len(listing.output["orders"]) < 2:
        seed += 1000
        listing = listed_orders(seed)
    arguments = {"order_id": listing.output["orders"][0]["order_id"], "reason": "late"}
    gold = executed("$2", CANCEL_ORDER, arguments, simulate(CANCEL_ORDER, arguments, [listing], seed))
    return [listing], gold


def propose(gold: ExecutedCall, history: list[ExecutedCall], tools: list[ToolView], seed: int):
    request = WrongCallRequest(tools=tools, request="Cancel my order from May, it came late.", history=history, gold=gold)
    return propose_wrong_call_offline(request, random.Random(seed))


def names_no_identifier(hint: str) -> bool:
    lowered = hint.lower()
    return not any(re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered) for name in NAMES if "_" in name)


# --- Proposals -----------------------------------------------------------------------------------


def test_wrong_calls_are_schema_valid_differ_from_gold_and_hint_without_names() -> None:
    tools = [*SHOP_TOOLS, BOOK_HOTEL]
    by_name = {t.name: t for t in tools}
    for seed in SEEDS:
        history, gold = conversation(seed)
        wrong = propose(gold, history, tools, seed)
        assert argument_problems(by_name[wrong.tool], wrong.arguments) == []
        assert (wrong.tool, wrong.arguments) != (gold.tool, gold.arguments)
        assert wrong.hint.startswith("Error: ") and names_no_identifier(wrong.hint), wrong.hint
        assert "$" not in wrong.hint
        assert wrong_call_problems(wrong.tool, wrong.arguments, wrong.hint, gold, tools) == []


def test_proposals_vary_between_neighbouring_tools_and_changed_arguments() -> None:
    history, gold = conversation(0)
    siblings = {order["order_id"] for order in history[0].output["orders"]} - {gold.arguments["order_id"]}
    kinds: Counter[str] = Counter()
    for seed in SEEDS:
        wrong = propose(gold, history, SHOP_TOOLS, seed)
        if wrong.tool != gold.tool:
            kinds["neighbouring tool"] += 1
            assert wrong.tool in {"get_order", "get_order_status", "list_orders"}
        elif wrong.arguments.get("order_id") in siblings:
            kinds["sibling id"] += 1
        elif wrong.arguments.get("reason") in ("changed_mind", "duplicate"):
            kinds["neighbouring option"] += 1
        elif "reason" not in wrong.arguments:
            kinds["left-out detail"] += 1
    assert set(kinds) == {"neighbouring tool", "sibling id", "neighbouring option", "left-out detail"}, kinds


def test_a_date_argument_is_shifted_by_a_few_days() -> None:
    arguments = {"hotel_id": "HOT-77120", "check_in": "2025-07-10", "check_out": "2025-07-14"}
    gold = executed("$1", BOOK_HOTEL, arguments, simulate(BOOK_HOTEL, arguments))
    shifted = set()
    for seed in SEEDS:
        wrong = propose(gold, [], [BOOK_HOTEL], seed)
        for param in ("check_in", "check_out"):
            if wrong.arguments[param] != arguments[param]:
                shifted.add(param)
                assert re.fullmatch(r"2025-07-\d\d", wrong.arguments[param])
    assert shifted == {"check_in", "check_out"}


def test_proposals_are_deterministic_per_seed() -> None:
    history, gold = conversation(3)
    assert [propose(gold, history, SHOP_TOOLS, s) for s in range(20)] == [propose(gold, history, SHOP_TOOLS, s) for s in range(20)]


def test_no_possible_mistake_is_an_error_not_a_fake_proposal() -> None:
    ping = ToolView(name="ping", description="", parameters={"type": "object", "properties": {}}, output_schema={"type": "object"})
    gold = executed("$1", ping, {}, {})
    with pytest.raises(LLMError, match="no schema-valid mistake differs from \\$1 ping"):
        propose(gold, [], [ping], 0)


# --- The filter ----------------------------------------------------------------------------------


def test_the_filter_accepts_a_good_wrong_call() -> None:
    _, gold = conversation(0)
    hint = "Error: no order matches that reference; use the one from the earlier result."
    assert wrong_call_problems("cancel_order", {"order_id": "ORD-55555"}, hint, gold, SHOP_TOOLS) == []


def test_the_filter_rejects_an_identical_call() -> None:
    _, gold = conversation(0)
    problems = wrong_call_problems(gold.tool, dict(gold.arguments), "Error: try again later.", gold, SHOP_TOOLS)
    assert problems == ["the wrong call before $2 is identical to the gold call"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("cancel_order", {"reason": "late"}, r"cancel_order arguments at the top level: .*order_id.* is a required property"),
        ("cancel_order", {"order_id": "ORD-1", "reason": "bored"}, r"cancel_order arguments at reason: .*is not one of"),
        ("refund_order", {"order_id": "ORD-1"}, r"uses 'refund_order', which is not in the tool subset"),
    ],
)
def test_the_filter_rejects_an_invalid_call(tool: str, arguments: dict, expected: str) -> None:
    _, gold = conversation(0)
    problems = wrong_call_problems(tool, arguments, "Error: not found.", gold, SHOP_TOOLS)
    assert any(re.search(expected, p) for p in problems), problems


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("Error: use get_order_status instead.", "names the identifier 'get_order_status'"),
        ("Error: the order_id is unknown.", "names the identifier 'order_id'"),
        ("Error: take it from $1.", "leaks a $k reference"),
        ("  ", "is empty"),
    ],
)
def test_the_filter_rejects_a_leaking_or_empty_hint(hint: str, expected: str) -> None:
    _, gold = conversation(0)
    problems = wrong_call_problems("cancel_order", {"order_id": "ORD-55555"}, hint, gold, SHOP_TOOLS)
    assert any(expected in p for p in problems), problems


# --- Positions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_calls", [0, 1, 2, 3, 6])
def test_positions_respect_the_bounds(n_calls: int) -> None:
    rng = random.Random(n_calls)
    for _ in range(500):
        positions = choose_recovery_positions(n_calls, rng, 1.0)
        assert positions == sorted(set(positions))
        assert all(0 <= p < n_calls for p in positions)
        assert (1 <= len(positions) <= min(3, n_calls)) if n_calls else positions == []


def test_positions_follow_the_rate() -> None:
    rng = random.Random(7)
    assert all(choose_recovery_positions(4, rng, 0.0) == [] for _ in range(500))
    draws = [choose_recovery_positions(4, rng, 0.3) for _ in range(4000)]
    assert 0.27 < sum(1 for d in draws if d) / len(draws) < 0.33
    assert {len(d) for d in draws if d} == {1, 2, 3}


# --- Summaries -----------------------------------------------------------------------------------


def test_summaries_mention_key_values_and_no_tool_or_parameter_names() -> None:
    history, gold = conversation(0)
    status = executed("$3", GET_ORDER_STATUS, {"order_id": gold.arguments["order_id"]}, simulate(GET_ORDER_STATUS, {"order_id": gold.arguments["order_id"]}, [*history, gold]))
    calls = [*history, gold, status]
    summaries = set()
    for seed in range(50):
        summary = summarize_turn_offline(SummarizeTurnRequest(request="Cancel my late order.", calls=calls), random.Random(seed)).summary
        summaries.add(summary)
        assert find_value(summary, gold.arguments["order_id"]) >= 0
        assert find_value(summary, "cancelled") >= 0
        assert summary_problems(summary, [t.name for t in SHOP_TOOLS], NAMES) == []
        assert names_no_identifier(summary)
    assert len(summaries) >= 5  # phrasing varies


def test_a_summary_names_amounts_and_dates_of_the_final_result() -> None:
    listing = executed("$1", LIST_ORDERS, {"customer_id": "CUS-1"}, {"orders": [{"order_id": "ORD-1"}], "count": 1})
    fetched = executed("$2", GET_ORDER, {"order_id": "ORD-1"}, {"order_id": "ORD-1", "order_date": "2025-05-03", "total": 67.5, "status": "shipped"})
    summary = summarize_turn_offline(SummarizeTurnRequest(request="What did order ORD-1 cost?", calls=[listing, fetched]), random.Random(1)).summary
    for value in ("ORD-1", "67.5", "2025-05-03", "shipped"):
        assert find_value(summary, value) >= 0, summary
    assert re.search(r"\b(listed|looked up)\b", summary)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("", "the summary is empty"),
        ("I called cancel_order for you.", "the summary names the identifier 'cancel_order'"),
        ("I cancelled it; the order_id was ORD-1.", "the summary names the identifier 'order_id'"),
        ("I reused $1 for that.", "the summary leaks a $k reference"),
        ("The order is cancelled.", "the summary is not written in the first person"),
        ("I did it. Then more. And more. And even more.", "the summary is longer than three sentences"),
    ],
)
def test_summary_rules_reject_bad_summaries(summary: str, expected: str) -> None:
    assert expected in summary_problems(summary, ["cancel_order", "list_orders"], ["order_id", "reason"])


def test_summary_rules_accept_a_good_summary() -> None:
    text = "Done: I cancelled your order ORD-1. Key details: status cancelled and refund amount 67.5."
    assert summary_problems(text, ["cancel_order", "list_orders"], ["order_id", "reason"]) == []
