"""Error recovery (wrong call -> the error a real API returns -> the repair) and turn summaries."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from digit_assets.engine.llm.port import LLMError
from digit_assets.engine.synthesis.roles import SummarizeTurnRequest, WrongCallRequest
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.synthesis.audit import invalid_arguments
from digit_assets.engine.synthesis.model import ExecutedCall, ToolError, ToolView, Turn, TurnPlan
from digit_assets.engine.synthesis.rollout import chat_messages
from digit_assets.engine.synthesis.recovery import advice_in, choose_recovery_positions, wrong_call_problems
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


def names_no_identifier(text: str) -> bool:
    lowered = text.lower()
    return not any(re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered) for name in NAMES if "_" in name)


def tool_named(text: str) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(t.name)}(?![\w])", text) for t in [*SHOP_TOOLS, BOOK_HOTEL])


def error(code: int, status: str, message: str) -> ToolError:
    return ToolError(code=code, status=status, message=message)


# --- Proposals -----------------------------------------------------------------------------------


def test_wrong_calls_fail_like_real_apis_and_the_gold_call_repairs_them() -> None:
    tools = [*SHOP_TOOLS, BOOK_HOTEL]
    by_name = {t.name: t for t in tools}
    for seed in SEEDS:
        history, gold = conversation(seed)
        wrong = propose(gold, history, tools, seed)
        assert wrong.tool == gold.tool and wrong.arguments != gold.arguments
        assert wrong.error.code in (400, 404, 409) and re.fullmatch(r"[A-Z_]+", wrong.error.status)
        assert advice_in(wrong.error.message) is None and not tool_named(wrong.error.message), wrong.error
        assert all((call.tool, call.arguments) != (wrong.tool, wrong.arguments) for call in history)
        changed = {p for p in wrong.arguments.keys() | gold.arguments.keys() if wrong.arguments.get(p) != gold.arguments.get(p)}
        assert len(changed) == 1
        (param,) = changed
        assert param in wrong.error.message or str(wrong.arguments.get(param)) in wrong.error.message, wrong.error
        if argument_problems(by_name[wrong.tool], wrong.arguments):
            assert wrong.error.code == 400
        assert wrong_call_problems(wrong.tool, wrong.arguments, wrong.error, gold, tools, history) == []
        rendered = json.loads(ExecutedCall(ref="$2!", tool=wrong.tool, arguments=wrong.arguments, error=wrong.error.render(), turn=0).error)
        assert rendered == {"error": wrong.error.model_dump()}


def test_proposals_vary_over_the_kinds_of_failure() -> None:
    history, gold = conversation(0)
    customer = history[0].arguments["customer_id"]
    seen: Counter[str] = Counter()
    for seed in SEEDS:
        wrong = propose(gold, history, SHOP_TOOLS, seed)
        message = wrong.error.message
        if wrong.error.status == "NOT_FOUND" and wrong.arguments["order_id"] == customer:
            seen["an id of another kind of record"] += 1
            assert customer in message
        elif wrong.error.status == "NOT_FOUND":
            seen["a mis-copied id"] += 1
            assert sorted(wrong.arguments["order_id"]) == sorted(gold.arguments["order_id"])
        elif "order_id" not in wrong.arguments:
            seen["a required argument left out"] += 1
            assert message == "missing required field 'order_id'"
        elif wrong.arguments.get("reason") == "LATE" or wrong.arguments.get("reason") == "Late":
            seen["an option as a person writes it"] += 1
            assert message.startswith("invalid value for 'reason': must be one of changed_mind, late, duplicate; got ")
    assert set(seen) == {"an id of another kind of record", "a mis-copied id", "a required argument left out", "an option as a person writes it"}, seen


def test_a_once_only_action_on_a_record_already_acted_on_is_a_conflict() -> None:
    history, gold = conversation(0)
    other = history[0].output["orders"][1]["order_id"]
    # cancelled earlier for another reason: the same call again would repeat a success, which the rules refuse
    first = executed("$2", CANCEL_ORDER, {"order_id": other, "reason": "duplicate"}, simulate(CANCEL_ORDER, {"order_id": other, "reason": "duplicate"}, history))
    gold = gold.model_copy(update={"ref": "$3"})
    conflicts = [propose(gold, [*history, first], SHOP_TOOLS, seed) for seed in SEEDS]
    conflicts = [wrong for wrong in conflicts if wrong.error.code == 409]
    assert conflicts, "the cancelled order is a plausible wrong record"
    for wrong in conflicts:
        assert wrong.arguments["order_id"] == other and wrong.error.status == "CONFLICT"
        assert f"'{other}'" in wrong.error.message and "already cancelled" in wrong.error.message


def test_dates_numbers_and_ranges_are_sent_in_the_wrong_form() -> None:
    arguments = {"hotel_id": "HOT-77120", "check_in": "2025-07-10", "check_out": "2025-07-14", "guests": 6}
    gold = executed("$1", BOOK_HOTEL, arguments, simulate(BOOK_HOTEL, arguments))
    messages = {propose(gold, [], [BOOK_HOTEL], seed).error.message for seed in SEEDS}
    assert "invalid value for 'check_in': expected a date in YYYY-MM-DD format, got '07/10/2025'" in messages
    assert "invalid value for 'guests': must be an integer, got string '6'" in messages
    assert "invalid value for 'guests': must be at most 6, got 7" in messages
    assert "missing required field 'hotel_id'" in messages


def test_proposals_are_deterministic_per_seed() -> None:
    history, gold = conversation(3)
    assert [propose(gold, history, SHOP_TOOLS, s) for s in range(20)] == [propose(gold, history, SHOP_TOOLS, s) for s in range(20)]


def test_no_possible_mistake_is_an_error_not_a_fake_proposal() -> None:
    ping = ToolView(name="ping", description="", parameters={"type": "object", "properties": {}}, output_schema={"type": "object"})
    gold = executed("$1", ping, {}, {})
    with pytest.raises(LLMError, match="no plausible mistake on \\$1 ping passes the recovery rules"):
        propose(gold, [], [ping], 0)


# --- The filter, on what a model could answer ----------------------------------------------------


def test_the_filter_accepts_a_real_api_error_and_its_repair() -> None:
    history, gold = conversation(0)
    assert wrong_call_problems("cancel_order", {**gold.arguments, "order_id": "ORD-55555"}, error(404, "NOT_FOUND", "order 'ORD-55555' not found"), gold, SHOP_TOOLS, history) == []
    invalid = {**gold.arguments, "reason": "too slow"}
    assert wrong_call_problems("cancel_order", invalid, error(400, "INVALID_ARGUMENT", "'reason' must be one of changed_mind, late, duplicate; got 'too slow'"), gold, SHOP_TOOLS, history) == []


@pytest.mark.parametrize(
    "message",
    [
        # the advising templates the offline engine used to write, and what a model writes when asked for a hint
        "no order matches that reference; use the one from the earlier result.",
        "order 'ORD-55555' not found. Please check the order number and try again.",
        "order 'ORD-55555' not found; did you mean one of the orders listed before?",
        "order 'ORD-55555' does not match the request; you should cancel the order the user asked about.",
        "Unknown order 'ORD-55555'. Make sure to pass an id returned by the listing.",
        "order 'ORD-55555' not found. Look it up again and use the exact reference.",
    ],
)
def test_the_filter_rejects_an_error_that_gives_advice(message: str) -> None:
    history, gold = conversation(0)
    problems = wrong_call_problems("cancel_order", {**gold.arguments, "order_id": "ORD-55555"}, error(404, "NOT_FOUND", message), gold, SHOP_TOOLS, history)
    assert any("gives advice" in p for p in problems), problems


def test_the_filter_rejects_a_wrong_call_that_repeats_a_success() -> None:
    """A model told to make a mistake re-sends the status lookup that just worked and calls it a failure."""
    history, gold = conversation(0)
    order = gold.arguments["order_id"]
    status = executed("$2", GET_ORDER_STATUS, {"order_id": order}, {"order_id": order, "status": "processing"})
    gold = executed("$3", GET_ORDER_STATUS, {"order_id": order}, {"order_id": order, "status": "processing"}).model_copy(update={"arguments": {"order_id": order}})
    later = gold.model_copy(update={"arguments": {"order_id": "ORD-99999"}})
    problems = wrong_call_problems("get_order_status", {"order_id": order}, error(503, "UNAVAILABLE", f"order {order!r} is temporarily unavailable"), later, SHOP_TOOLS, [*history, status])
    assert "the wrong call before $3 repeats $2 get_order_status, which succeeded: the same call would succeed again" in problems


def test_the_filter_rejects_a_repair_that_leaves_the_offending_argument() -> None:
    """The error blames the order id, but the next call only changes the reason: the cause is not repaired."""
    history, gold = conversation(0)
    wrong = {"order_id": gold.arguments["order_id"], "reason": "duplicate"}
    problems = wrong_call_problems("cancel_order", wrong, error(404, "NOT_FOUND", f"order '{gold.arguments['order_id']}' not found"), gold, SHOP_TOOLS, history)
    assert problems == ["the repair $2 does not change what the error of the wrong call before $2 names (order_id); it changes reason"]


def test_the_filter_rejects_an_error_that_names_nothing_of_the_call() -> None:
    history, gold = conversation(0)
    problems = wrong_call_problems("cancel_order", {**gold.arguments, "order_id": "ORD-55555"}, error(404, "NOT_FOUND", "resource not found"), gold, SHOP_TOOLS, history)
    assert problems == ["the error of the wrong call before $2 names no argument or value of the call: 'resource not found'"]


def test_the_filter_rejects_an_identical_call() -> None:
    history, gold = conversation(0)
    problems = wrong_call_problems(gold.tool, dict(gold.arguments), error(500, "INTERNAL", f"order {gold.arguments['order_id']!r} failed"), gold, SHOP_TOOLS, history)
    assert "the wrong call before $2 is identical to the gold call" in problems


@pytest.mark.parametrize(
    ("tool", "arguments", "err", "expected"),
    [
        # a schema break reported as something else
        ("cancel_order", {"reason": "late"}, error(404, "NOT_FOUND", "order not found; reason 'late'"), r"breaks the parameter schema .*order_id.* but its error is a 404"),
        ("refund_order", {"order_id": "ORD-1"}, error(404, "NOT_FOUND", "order 'ORD-1' not found"), r"uses 'refund_order', which is not in the tool subset"),
        # another tool instead of the gold one: it would not fail, it would do something else
        ("get_order", {"order_id": "ORD-1"}, error(404, "NOT_FOUND", "order 'ORD-1' not found"), r"calls get_order, not cancel_order"),
        ("cancel_order", {"order_id": "ORD-1", "reason": "late"}, error(404, "not found", "order 'ORD-1' not found"), r"has status 'not found', not a status word"),
        ("cancel_order", {"order_id": "ORD-1", "reason": "late"}, error(404, "NOT_FOUND", "cancel_order: order 'ORD-1' not found"), r"names the tool 'cancel_order'"),
        ("cancel_order", {"order_id": "ORD-1", "reason": "late"}, error(404, "NOT_FOUND", "order 'ORD-1' not found in $1"), r"leaks a \$k reference"),
    ],
)
def test_the_filter_rejects_an_invalid_call_or_error(tool: str, arguments: dict, err: ToolError, expected: str) -> None:
    history, gold = conversation(0)
    problems = wrong_call_problems(tool, arguments, err, gold, SHOP_TOOLS, history)
    assert any(re.search(expected, p) for p in problems), problems


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
    sizes = Counter(len(d) for d in draws if d)
    assert set(sizes) == {1, 2, 3}
    assert 0.70 < sizes[1] / sum(sizes.values()) < 0.80, "about three turns in four with an error have one"


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


def test_a_summary_says_a_named_action_in_its_own_verb() -> None:
    """``restore_file`` was "restored", ``reply_to_ticket`` "replied to": never "handled the restore file"."""
    calls = [
        executed("$1", ToolView(name="restore_file", description="Restore a file.", parameters={"type": "object"}, output_schema={"type": "object"}), {"file_id": "f_0412"}, {"file_id": "f_0412", "in_trash": False}),
        executed("$2", ToolView(name="reply_to_ticket", description="Reply.", parameters={"type": "object"}, output_schema={"type": "object"}), {"ticket_id": "T-1"}, {"message_id": "M-10442"}),
    ]
    for seed in range(10):
        summary = summarize_turn_offline(SummarizeTurnRequest(request="Restore it and reply.", calls=calls), random.Random(seed)).summary
        assert re.search(r"\brestored (?:the|your) file\b", summary) and re.search(r"\breplied to (?:the|your) ticket\b", summary), summary
        assert "handled" not in summary, summary


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


# --- The exported record: schema breaks only where the error reports them -------------------------


def _record(wrong_arguments: dict, err: ToolError) -> ConversationRecord:
    history, gold = conversation(0)
    turn = Turn(
        user="Cancel my order from May, it came late.",
        plan=TurnPlan(calls=[]),
        calls=[*history, ExecutedCall(ref="$2!", tool="cancel_order", arguments=wrong_arguments, error=err.render(), turn=0), gold],
        summary="I cancelled your order.",
    )
    return ConversationRecord(
        conversation_id="c", source="digit_tc", variant="digit_tc", messages=chat_messages([turn]),
        tools=[{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}} for t in SHOP_TOOLS],
    )


def test_the_audit_accepts_a_schema_break_only_where_a_400_reports_it() -> None:
    missing = {"reason": "late"}
    reported = _record(missing, error(400, "INVALID_ARGUMENT", "missing required field 'order_id'"))
    assert invalid_arguments(reported) == []
    assert json.loads(reported.messages[4]["content"])["error"]["status"] == "INVALID_ARGUMENT"
    misreported = _record(missing, error(404, "NOT_FOUND", "order not found"))
    assert invalid_arguments(misreported) == ['c cancel_order arguments at the top level: "order_id" is a required property']
