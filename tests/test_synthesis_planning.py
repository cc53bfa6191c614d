"""Scenarios, turn plans, plan filters and hidden calls (method.md steps 1-3) on a hand-made shop."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from digit_assets.engine.synthesis.roles import PlanTurnRequest, SimulateToolRequest
from digit_assets.engine.synthesis.model import ExecutedCall, Link, PlannedCall, Scenario, ToolView, TurnPlan
from digit_assets.engine.synthesis.planning import choose_hidden, hidden_call_problems, largest_connected_plan, plan_problems, plannable_field, reference_path, sample_scenario
from digit_assets.engine.offline.planner import plan_turn_offline
from digit_assets.engine.synthesis.simulation import argument_problems, resolve_arguments
from digit_assets.engine.offline.simulator import simulate_tool_offline

SEEDS = range(40)
STRING = {"type": "string"}
ORDER_ID = {"type": "string", "pattern": "^ORD-\\d{5}$"}
EMAIL = {"type": "string", "format": "email"}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


LIST_ORDERS = ToolView(
    name="list_orders",
    description="List the orders placed on a date.",
    parameters=_obj({"date": {"type": "string", "format": "date"}, "limit": {"type": "integer", "minimum": 1}}, ("date",)),
    output_schema=_obj(
        {
            "orders": {
                "type": "array",
                "items": _obj({"order_id": ORDER_ID, "note": STRING, "total": {"type": "number"}}, ("order_id", "total")),
            },
            "cursor": STRING,
        },
        ("orders",),
    ),
)
GET_ORDER = ToolView(
    name="get_order",
    description="Get an order with its customer.",
    parameters=_obj({"order_id": ORDER_ID}, ("order_id",)),
    output_schema=_obj(
        {"order_id": ORDER_ID, "status": STRING, "customer": _obj({"email": EMAIL, "phone": STRING}, ("email",))},
        ("order_id", "customer"),
    ),
)
CANCEL_ORDER = ToolView(
    name="cancel_order",
    description="Cancel an order.",
    parameters=_obj({"order_id": ORDER_ID, "reason": STRING, "notify": {"type": "boolean"}}, ("order_id", "reason")),
    output_schema=_obj({"order_id": ORDER_ID, "status": {"type": "string", "enum": ["cancelled"]}}, ("order_id", "status")),
)
SEND_EMAIL = ToolView(
    name="send_email",
    description="Send an email.",
    parameters=_obj({"email": EMAIL, "subject": STRING, "body": STRING}, ("email", "subject")),
    output_schema=_obj({"message_id": STRING}, ("message_id",)),
)
GET_WEATHER = ToolView(
    name="get_weather",
    description="Weather for a city: no data flow with the shop.",
    parameters=_obj({"city": STRING}, ("city",)),
    output_schema=_obj({"summary": STRING}, ("summary",)),
)
TOOLS = [LIST_ORDERS, GET_ORDER, CANCEL_ORDER, SEND_EMAIL, GET_WEATHER]
LINKS = [
    Link(src_tool="list_orders", src_field="orders[].order_id", dst_tool="get_order", dst_param="order_id"),
    Link(src_tool="list_orders", src_field="orders[].order_id", dst_tool="cancel_order", dst_param="order_id"),
    Link(src_tool="get_order", src_field="order_id", dst_tool="cancel_order", dst_param="order_id"),
    Link(src_tool="get_order", src_field="customer.email", dst_tool="send_email", dst_param="email"),
    Link(src_tool="cancel_order", src_field="order_id", dst_tool="get_order", dst_param="order_id"),
]
# Links a plan may not rely on: an optional field, a field outside the schema, a nullable container.
UNPLANNABLE_LINKS = [
    Link(src_tool="list_orders", src_field="cursor", dst_tool="send_email", dst_param="subject"),
    Link(src_tool="get_order", src_field="customer.phone", dst_tool="send_email", dst_param="body"),
    Link(src_tool="list_orders", src_field="orders[].note", dst_tool="cancel_order", dst_param="reason"),
]
SCENARIO = Scenario(namespace="shop", tools=TOOLS, links=LINKS, persona="Dana Reyes, shop owner", today="2025-06-01")
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def _call(ref: str, tool: str, **arguments: Any) -> PlannedCall:
    return PlannedCall(ref=ref, tool=tool, arguments=arguments)


def _request(
    earlier_calls: Sequence[ExecutedCall] = (),
    earlier_turns: Sequence[TurnPlan] = (),
    *,
    min_calls: int = 2,
    max_calls: int = 4,
) -> PlanTurnRequest:
    next_ref = 1 + max((int(call.ref.lstrip("$")) for call in earlier_calls), default=0)
    return PlanTurnRequest(
        scenario=SCENARIO,
        earlier_turns=list(earlier_turns),
        earlier_calls=list(earlier_calls),
        next_ref=next_ref,
        min_calls=min_calls,
        max_calls=max_calls,
    )


def _execute(calls: list[PlannedCall], earlier: list[ExecutedCall], turn: int, seed: int) -> list[ExecutedCall]:
    """Run a plan through the offline simulator, as the rollout does."""
    by_ref = {call.ref: call for call in earlier}
    executed = []
    for call in calls:
        arguments = resolve_arguments(call, by_ref)
        assert argument_problems(TOOLS_BY_NAME[call.tool], arguments) == []
        output = simulate_tool_offline(
            SimulateToolRequest(tool=TOOLS_BY_NAME[call.tool], arguments=arguments, history=earlier + executed, today=SCENARIO.today),
            random.Random(seed),
        ).output
        done = ExecutedCall(ref=call.ref, tool=call.tool, arguments=arguments, output=output, turn=turn)
        executed.append(done)
        by_ref[call.ref] = done
    return executed


def _turn0(seed: int) -> tuple[list[PlannedCall], list[ExecutedCall]]:
    calls = plan_turn_offline(_request(), random.Random(seed)).calls
    return calls, _execute(calls, [], 0, seed)


EARLIER = [
    ExecutedCall(
        ref="$1",
        tool="list_orders",
        arguments={"date": "2025-05-30"},
        output={"orders": [{"order_id": "ORD-12345", "total": 20.5}]},
        turn=0,
    ),
    ExecutedCall(
        ref="$2",
        tool="get_order",
        arguments={"order_id": "ORD-12345"},
        output={"order_id": "ORD-12345", "customer": {"email": "ann@example.com"}},
        turn=0,
    ),
]


# --- Step 1: scenario -----------------------------------------------------------------------------


def test_reference_path_indexes_array_items() -> None:
    assert reference_path("orders[].order_id") == "orders[0].order_id"
    assert reference_path("tags[]") == "tags[0]"
    assert reference_path("customer.email") == "customer.email"
    assert reference_path("order-id") is None


@pytest.mark.parametrize("link", LINKS)
def test_links_to_required_fields_are_plannable(link: Link) -> None:
    assert plannable_field(link, TOOLS_BY_NAME[link.src_tool], TOOLS_BY_NAME[link.dst_tool]) is not None


@pytest.mark.parametrize("link", UNPLANNABLE_LINKS)
def test_links_to_optional_fields_are_not_plannable(link: Link) -> None:
    assert plannable_field(link, TOOLS_BY_NAME[link.src_tool], TOOLS_BY_NAME[link.dst_tool]) is None


def test_nullable_or_possibly_empty_containers_are_not_plannable() -> None:
    nullable = GET_ORDER.model_copy(
        update={"output_schema": _obj({"customer": {"type": ["object", "null"], "properties": {"email": EMAIL}, "required": ["email"]}}, ("customer",))}
    )
    empty = LIST_ORDERS.model_copy(
        update={"output_schema": _obj({"orders": {"type": "array", "maxItems": 0, "items": _obj({"order_id": ORDER_ID}, ("order_id",))}}, ("orders",))}
    )
    assert plannable_field(LINKS[3], nullable, SEND_EMAIL) is None
    assert plannable_field(LINKS[0], empty, GET_ORDER) is None


def test_type_mismatch_between_field_and_parameter_is_not_plannable() -> None:
    numeric_ids = GET_ORDER.model_copy(update={"output_schema": _obj({"order_id": {"type": "integer"}}, ("order_id",))})
    assert plannable_field(LINKS[2], numeric_ids, CANCEL_ORDER) is None


def test_refs_and_all_of_are_followed_to_required_fields() -> None:
    schema = {
        "$defs": {"customer": _obj({"email": EMAIL}, ("email",))},
        "allOf": [_obj({"order_id": ORDER_ID}, ("order_id",)), _obj({"customer": {"$ref": "#/$defs/customer"}}, ("customer",))],
    }
    referenced = GET_ORDER.model_copy(update={"output_schema": schema})
    assert plannable_field(LINKS[3], referenced, SEND_EMAIL) is not None


@pytest.mark.parametrize("seed", SEEDS)
def test_scenario_grows_along_links_inside_the_namespace(seed: int) -> None:
    scenario = sample_scenario("shop", TOOLS, LINKS + UNPLANNABLE_LINKS, random.Random(seed), min_tools=3, max_tools=4)
    assert scenario is not None
    names = {tool.name for tool in scenario.tools}
    assert 3 <= len(names) <= 4 and names <= set(TOOLS_BY_NAME)
    assert "get_weather" not in names, "no link reaches the unrelated tool"
    assert scenario.links and all(link.src_tool in names and link.dst_tool in names for link in scenario.links)
    assert all(link in LINKS for link in scenario.links), "only plannable links are kept"
    assert "2025-01-01" <= scenario.today <= "2026-12-31"
    assert scenario.persona.split(",")[0].strip() and " at " in scenario.persona


def test_scenario_is_none_without_links() -> None:
    assert sample_scenario("shop", TOOLS, [], random.Random(0)) is None
    assert sample_scenario("shop", TOOLS, UNPLANNABLE_LINKS, random.Random(0)) is None


def test_small_link_component_is_padded_with_namespace_tools() -> None:
    scenario = sample_scenario("shop", TOOLS, [LINKS[3]], random.Random(3), min_tools=3, max_tools=3)
    assert scenario is not None
    names = {tool.name for tool in scenario.tools}
    assert len(names) == 3 and {"get_order", "send_email"} <= names
    assert scenario.links == [LINKS[3]]


def test_scenarios_are_deterministic_and_varied() -> None:
    draws = [sample_scenario("shop", TOOLS, LINKS, random.Random(seed)) for seed in SEEDS]
    assert draws[0] == sample_scenario("shop", TOOLS, LINKS, random.Random(0))
    assert len({d.persona for d in draws}) > len(draws) // 2
    assert len({d.today for d in draws}) > len(draws) // 2


# --- Step 2: the offline planner --------------------------------------------------------------------


def _consumed_refs(call: PlannedCall) -> set[str]:
    return {producer for producer, _ in call.references().values()}


@pytest.mark.parametrize("seed", SEEDS)
def test_first_turn_plan_chains_through_guaranteed_fields(seed: int) -> None:
    request = _request(min_calls=2, max_calls=4)
    calls = plan_turn_offline(request, random.Random(seed)).calls
    assert 2 <= len(calls) <= 4
    assert [call.ref for call in calls] == [f"${i}" for i in range(1, len(calls) + 1)]
    assert calls[0].references() == {}, "turn 0 starts from literals"
    for index, call in enumerate(calls[1:], start=1):
        earlier = {c.ref for c in calls[:index]}
        assert _consumed_refs(call) and _consumed_refs(call) <= earlier
    assert plan_problems(calls, SCENARIO, [], turn_index=0, min_calls=2, max_calls=4) == []
    for call in calls:
        tool = TOOLS_BY_NAME[call.tool]
        assert set(tool.parameters["required"]) <= set(call.arguments)
        for value in call.literals().values():
            assert "$" not in str(value)


@pytest.mark.parametrize("seed", SEEDS)
def test_plans_execute_with_the_simulator(seed: int) -> None:
    """Referenced fields exist in every simulated output and substituted calls validate."""
    calls, executed = _turn0(seed)
    assert len(executed) == len(calls)


@pytest.mark.parametrize("seed", SEEDS)
def test_later_turn_consumes_an_earlier_turn(seed: int) -> None:
    first, executed = _turn0(seed)
    request = _request(executed, [TurnPlan(calls=first)])
    calls = plan_turn_offline(request, random.Random(seed + 1000)).calls
    assert calls, "the shop always allows a cross-turn call"
    assert calls[0].ref == f"${len(first) + 1}"
    earlier_refs = {call.ref for call in executed}
    assert _consumed_refs(calls[0]) & earlier_refs, "a later turn starts from an earlier output"
    assert all(_consumed_refs(call) for call in calls), "every call of a later turn consumes something"
    problems = plan_problems(calls, SCENARIO, executed, turn_index=1, min_calls=2, max_calls=4)
    if len(calls) >= 2:
        assert problems == []
        _execute(calls, executed, 1, seed)
    else:  # the earlier turn used up the chains: an honest short plan the length filter rejects
        assert problems == ["The plan length is 1; it must be between 2 and 4 calls."]


def test_later_turns_reach_the_target_length_while_objects_are_left_to_act_on() -> None:
    """After a lookup-only first turn (nothing cancelled yet), later plans pass the filters."""
    accepted = 0
    for seed in SEEDS:
        calls = plan_turn_offline(_request(EARLIER, min_calls=2, max_calls=3), random.Random(seed)).calls
        accepted += not plan_problems(calls, SCENARIO, EARLIER, turn_index=1, min_calls=2, max_calls=3)
    assert accepted >= 0.9 * len(SEEDS)


def test_a_later_turn_acts_on_other_listed_items() -> None:
    """Every item of an earlier list can be consumed, not only the first."""
    listed = ExecutedCall(
        ref="$1",
        tool="list_orders",
        arguments={"date": "2025-05-30"},
        output={"orders": [{"order_id": "ORD-10001", "total": 1.0}, {"order_id": "ORD-10002", "total": 2.0}]},
        turn=0,
    )
    references = {
        call.arguments.get("order_id")
        for seed in SEEDS
        for call in plan_turn_offline(_request([listed]), random.Random(seed)).calls[:1]
    }
    assert references == {"$1.orders[0].order_id", "$1.orders[1].order_id"}


@pytest.mark.parametrize("seed", SEEDS)
def test_later_turn_does_not_repeat_an_action_on_the_same_object(seed: int) -> None:
    """An order cancelled in turn 0 is not cancelled again, even through a lookup that echoes its id."""
    first, executed = _turn0(seed)
    cancelled = {call.arguments["order_id"] for call in executed if call.tool == "cancel_order"}
    later = plan_turn_offline(_request(executed, [TurnPlan(calls=first)]), random.Random(seed)).calls
    if len(later) < 2:
        return
    for call in _execute(later, executed, 1, seed):
        if call.tool == "cancel_order":
            assert call.arguments["order_id"] not in cancelled


def test_literals_reuse_earlier_values() -> None:
    """A cancellation reason the conversation already used is the one a later literal takes."""
    fetched = ExecutedCall(ref="$1", tool="get_order", arguments={"order_id": "ORD-11111"}, output={"order_id": "ORD-11111", "customer": {"email": "a@b.io"}}, turn=0)
    cancelled = ExecutedCall(ref="$2", tool="cancel_order", arguments={"order_id": "ORD-22222", "reason": "Ordered twice"}, output={"order_id": "ORD-22222", "status": "cancelled"}, turn=0)
    reasons = [
        call.arguments["reason"]
        for seed in SEEDS
        for call in plan_turn_offline(_request([fetched, cancelled]), random.Random(seed)).calls
        if call.tool == "cancel_order"
    ]
    assert reasons and set(reasons) == {"Ordered twice"}


def test_plans_are_deterministic_per_seed_and_varied_across_seeds() -> None:
    request = _request()
    assert plan_turn_offline(request, random.Random(7)) == plan_turn_offline(request, random.Random(7))
    shapes = {tuple(call.tool for call in plan_turn_offline(request, random.Random(seed)).calls) for seed in SEEDS}
    lengths = {len(shape) for shape in shapes}
    assert len(shapes) >= 4 and len(lengths) >= 2


def test_plan_stops_at_the_longest_chain_when_links_run_out() -> None:
    pair = Scenario(namespace="shop", tools=[LIST_ORDERS, GET_ORDER], links=[LINKS[0]], persona="p", today="2025-06-01")
    request = PlanTurnRequest(scenario=pair, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=3, max_calls=3)
    calls = plan_turn_offline(request, random.Random(0)).calls
    assert [call.tool for call in calls] == ["list_orders", "get_order"]
    assert calls[1].arguments["order_id"].startswith("$1.orders[")


def test_an_identifier_the_user_cannot_know_is_never_a_literal() -> None:
    """get_order needs an order id: with no tool to discover one, no plan starts from it."""
    pair = Scenario(namespace="shop", tools=[GET_ORDER, SEND_EMAIL], links=[LINKS[3]], persona="p", today="2025-06-01")
    request = PlanTurnRequest(scenario=pair, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=2, max_calls=3)
    for seed in SEEDS:
        assert plan_turn_offline(request, random.Random(seed)).calls == []
    full = PlanTurnRequest(scenario=SCENARIO, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=2, max_calls=4)
    for seed in SEEDS:
        for call in plan_turn_offline(full, random.Random(seed)).calls:
            assert "order_id" not in call.literals(), call


# --- Step 2: plan filters ---------------------------------------------------------------------------

GOOD = [
    _call("$1", "list_orders", date="2025-05-30"),
    _call("$2", "get_order", order_id="$1.orders[0].order_id"),
    _call("$3", "send_email", email="$2.customer.email", subject="Your order"),
]


def _problems(calls: list[PlannedCall], earlier: Sequence[ExecutedCall] = (), turn_index: int = 0, **lengths: int) -> list[str]:
    return plan_problems(
        calls,
        SCENARIO,
        list(earlier),
        turn_index=turn_index,
        min_calls=lengths.get("min_calls", 2),
        max_calls=lengths.get("max_calls", 4),
    )


def test_a_good_plan_passes() -> None:
    assert _problems(GOOD) == []


def test_a_good_later_turn_passes() -> None:
    later = [
        _call("$3", "cancel_order", order_id="$2.order_id", reason="Ordered twice"),
        _call("$4", "get_order", order_id="$3.order_id"),
    ]
    assert _problems(later, EARLIER, turn_index=1) == []


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ([GOOD[0], _call("$2", "refund_order", order_id="$1.orders[0].order_id")], "$2 refund_order: refund_order is not a tool of the scenario"),
        ([GOOD[0], _call("$2", "cancel_order", order_id="$1.orders[0].order_id")], "$2 cancel_order: missing required parameter reason"),
        ([GOOD[0], _call("$2", "get_order", order_id="$1.orders[0].order_id", verbose=True)], "$2 get_order: unknown parameter verbose"),
        ([GOOD[0], _call("$2", "cancel_order", order_id="$1.orders[0].order_id", reason=42)], "$2 cancel_order arguments at reason: 42 is not of type"),
        ([GOOD[0], _call("$2", "get_order", order_id="12345")], "$2 get_order arguments at order_id"),
        ([GOOD[0], _call("$2", "get_order", order_id="$3.order_id"), _call("$3", "cancel_order", order_id="$2.order_id", reason="x")], "refers to $3, which is neither an earlier call"),
        ([GOOD[0], _call("$2", "get_order", order_id="$2.order_id")], "refers to $2, which is neither an earlier call"),
        ([GOOD[0], _call("$2", "get_order", order_id="$1.orders[0].note")], "does not guarantee"),
        ([GOOD[0], _call("$2", "get_order", order_id="$1.orders[1].order_id")], "does not guarantee"),
        ([GOOD[0], _call("$2", "get_order", order_id="$1.orders[].order_id")], "is not a valid reference"),
        ([GOOD[0], _call("$2", "send_email", email="dana@shop.io", subject="Hi")], "$2 send_email takes no value from an earlier output"),
        ([GOOD[0], GOOD[1], _call("$3", "get_weather", city="Oslo")], "$3 get_weather takes no value from an earlier output"),
        ([GOOD[0], _call("$1", "get_order", order_id="$1.orders[0].order_id")], "repeats the ref"),
        ([*GOOD, _call("$4", "cancel_order", order_id="$2.order_id", reason="x"), _call("$5", "get_order", order_id="$4.order_id")], "The plan length is 5"),
        ([GOOD[0]], "The plan length is 1"),
    ],
)
def test_each_filter_rejects_a_crafted_bad_plan(calls: list[PlannedCall], expected: str) -> None:
    problems = _problems(calls)
    assert any(expected in problem for problem in problems), problems


def test_disconnected_calls_are_rejected_and_trimmed() -> None:
    stray = [GOOD[0], GOOD[1], _call("$3", "list_orders", date="2025-05-01"), _call("$4", "cancel_order", order_id="$3.orders[0].order_id", reason="x")]
    stray.append(_call("$5", "send_email", email="$2.customer.email", subject="Update"))
    problems = _problems(stray, max_calls=5)
    assert "$3 list_orders is not connected to the rest of the plan." in problems
    assert "$4 cancel_order is not connected to the rest of the plan." in problems
    kept = largest_connected_plan(stray)
    assert [call.ref for call in kept] == ["$1", "$2", "$5"]
    assert _problems(kept) == []


def test_calls_sharing_an_earlier_output_are_connected() -> None:
    later = [
        _call("$3", "cancel_order", order_id="$1.orders[0].order_id", reason="Late"),
        _call("$4", "send_email", email="$2.customer.email", subject="Cancelled", body="$3.status"),
        _call("$5", "get_order", order_id="$1.orders[0].order_id"),
    ]
    assert largest_connected_plan(later) == later
    assert _problems(later, EARLIER, turn_index=1) == []


def test_later_turn_without_cross_turn_dependency_is_rejected() -> None:
    problems = _problems([_call("$3", "list_orders", date="2025-06-01"), _call("$4", "get_order", order_id="$3.orders[0].order_id")], EARLIER, turn_index=1)
    assert problems == ["No call of turn 1 consumes an output of an earlier turn."]


def test_references_into_earlier_outputs_are_checked_against_the_real_output() -> None:
    missing = [_call("$3", "send_email", email="$1.orders[0].email", subject="x"), _call("$4", "get_order", order_id="$2.order_id")]
    problems = _problems(missing, EARLIER, turn_index=1)
    assert any("$3 send_email: argument email='$1.orders[0].email' reads a field that the output of $1 list_orders does not contain" in p for p in problems)
    wrong_type = [_call("$3", "cancel_order", order_id="$1.orders[0].total", reason="x"), _call("$4", "get_order", order_id="$3.order_id")]
    assert any("$3 cancel_order arguments at order_id: 20.5 is not of type" in p for p in _problems(wrong_type, EARLIER, turn_index=1))


def test_a_later_turn_may_not_reuse_an_earlier_ref() -> None:
    clash = [_call("$2", "cancel_order", order_id="$1.orders[0].order_id", reason="x"), _call("$3", "get_order", order_id="$2.order_id")]
    assert any("$2 cancel_order reuses the ref of a call of an earlier turn" in p for p in _problems(clash, EARLIER, turn_index=1))


def test_dollar_amounts_are_literals_not_malformed_references() -> None:
    priced = [GOOD[0], _call("$2", "cancel_order", order_id="$1.orders[0].order_id", reason="Charged $3.50 twice")]
    assert _problems(priced) == []


def test_problems_are_sentences_naming_ref_and_tool() -> None:
    bad = [GOOD[0], _call("$2", "cancel_order", order_id="$9.order_id", reason=5, extra=1)]
    problems = _problems(bad)
    assert problems and all(p.startswith("$2 cancel_order") and p.endswith(".") for p in problems)


# --- Step 3: hidden calls ---------------------------------------------------------------------------

DAG = [
    _call("$4", "list_orders", date="2025-05-30"),
    _call("$5", "get_order", order_id="$4.orders[0].order_id"),
    _call("$6", "cancel_order", order_id="$5.order_id", reason="Damaged"),
    _call("$7", "send_email", email="$5.customer.email", subject="Cancelled"),
]


def test_hidden_calls_are_producers_from_the_roots_down() -> None:
    chosen = {tuple(choose_hidden(DAG, random.Random(seed), TOOLS_BY_NAME)) for seed in SEEDS}
    assert chosen == {("$4",), ("$4", "$5")}, "producers only, 1..all, roots first"


def test_hidden_calls_go_generation_by_generation_not_in_plan_order() -> None:
    two_roots = [
        _call("$1", "list_orders", date="2025-05-30"),
        _call("$2", "get_order", order_id="$1.orders[0].order_id"),
        _call("$3", "get_order", order_id="ORD-10000"),
        _call("$4", "cancel_order", order_id="$3.order_id", reason="x"),
        _call("$5", "send_email", email="$2.customer.email", subject="Hi", body="$4.status"),
    ]
    chosen = {tuple(choose_hidden(two_roots, random.Random(seed), TOOLS_BY_NAME)) for seed in SEEDS}
    assert chosen == {("$1",), ("$1", "$3"), ("$1", "$3", "$2")}, "the cancellation feeds the email but acts: never hidden"


def test_no_producers_no_hidden_calls() -> None:
    assert choose_hidden([DAG[0]], random.Random(0), TOOLS_BY_NAME) == []
    assert choose_hidden([_call("$3", "get_order", order_id="$1.order_id"), _call("$4", "cancel_order", order_id="$1.order_id", reason="x")], random.Random(0), TOOLS_BY_NAME) == []


def test_a_plan_whose_only_producer_acts_has_no_hidden_call() -> None:
    """Cancelling, then mailing the new status: the cancellation feeds the email but the user must ask for it."""
    acting = [_call("$1", "cancel_order", order_id="ORD-10000", reason="Damaged"), _call("$2", "send_email", email="a@b.co", subject="x", body="$1.status")]
    assert all(choose_hidden(acting, random.Random(seed), TOOLS_BY_NAME) == [] for seed in SEEDS)


PLACE_ORDER = ToolView(
    name="place_order",
    description="Place an order for a product.",
    parameters=_obj({"product_id": STRING, "quantity": {"type": "integer"}}, ("product_id", "quantity")),
    output_schema=_obj({"order_id": ORDER_ID}, ("order_id",)),
)


def test_the_hidden_call_filter_rejects_a_hidden_write_from_an_llm_plan() -> None:
    """A model asked to fix the hidden calls of 'cancel the order I just placed' hides the purchase itself."""
    tools = {**TOOLS_BY_NAME, "place_order": PLACE_ORDER}
    plan = TurnPlan(
        calls=[
            _call("$1", "place_order", product_id="P-100", quantity=1),
            _call("$2", "get_order", order_id="$1.order_id"),
            _call("$3", "cancel_order", order_id="$2.order_id", reason="Ordered by mistake"),
        ],
        hidden=["$1", "$2"],
    )
    problems = hidden_call_problems(plan, tools)
    assert len(problems) == 1 and problems[0].startswith("hidden call $1 place_order changes state (state_changing)")
    assert hidden_call_problems(plan.model_copy(update={"hidden": ["$2"]}), tools) == []


def test_the_hidden_call_filter_rejects_hidden_calls_that_produce_nothing_or_are_not_in_the_plan() -> None:
    plan = TurnPlan(calls=[_call("$1", "list_orders", date="2025-05-30"), _call("$2", "get_order", order_id="$1.orders[0].order_id")], hidden=["$2", "$9"])
    assert hidden_call_problems(plan, TOOLS_BY_NAME) == [
        "hidden call $2 get_order feeds no later call of the plan; only producers are hidden.",
        "hidden call $9 is not a call of the plan.",
    ]


def test_hidden_calls_of_offline_plans_are_producers() -> None:
    for seed in SEEDS:
        calls = plan_turn_offline(_request(), random.Random(seed)).calls
        hidden = choose_hidden(calls, random.Random(seed), TOOLS_BY_NAME)
        producers = {producer for call in calls for producer in _consumed_refs(call)}
        readers = {call.ref for call in calls if TOOLS_BY_NAME[call.tool].read_only}
        assert set(hidden) <= producers & readers
        assert bool(hidden) == bool(producers & readers)


def test_a_later_turn_does_not_redo_an_identical_call() -> None:
    """The order EARLIER fetched is in the conversation already: no plan fetches it again."""
    for seed in SEEDS:
        calls = plan_turn_offline(_request(EARLIER), random.Random(seed)).calls
        assert all(call.tool != "get_order" for call in calls), calls


def test_required_parameters_the_schema_does_not_declare_are_filled_and_accepted() -> None:
    loose = ToolView(
        name="send_email",
        description="Send an email; the schema forgot to declare 'subject'.",
        parameters={"type": "object", "properties": {"email": EMAIL}, "required": ["email", "subject"]},
        output_schema=SEND_EMAIL.output_schema,
    )
    scenario = SCENARIO.model_copy(update={"tools": [LIST_ORDERS, GET_ORDER, loose], "links": [LINKS[0], LINKS[3]]})
    request = PlanTurnRequest(scenario=scenario, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=3, max_calls=3)
    calls = plan_turn_offline(request, random.Random(0)).calls
    assert [call.tool for call in calls] == ["list_orders", "get_order", "send_email"] and "subject" in calls[2].arguments
    assert plan_problems(calls, scenario, [], turn_index=0, min_calls=3, max_calls=3) == []


def test_offline_turns_mostly_start_with_a_lookup_so_something_can_be_hidden() -> None:
    firsts = [plan_turn_offline(_request(), random.Random(seed)).calls[0].tool for seed in range(200)]
    lookups = sum(TOOLS_BY_NAME[tool].read_only for tool in firsts)
    # Here every action needs an order id the user cannot know, so every turn starts by finding it.
    assert lookups / len(firsts) >= 0.7


def test_scenarios_are_drawn_so_a_plan_of_the_allowed_length_finds_every_identifier() -> None:
    """A library hold needs the member, the branch and the title looked up first: in two-call plans
    a subset whose only link ends at the hold cannot be used, so it is drawn again."""
    from digit_assets.local_model import local_catalog

    catalog = local_catalog()
    tools, links = catalog.tools["library"], catalog.links["library"]

    def longest_plan(scenario) -> int:
        request = PlanTurnRequest(scenario=scenario, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=2, max_calls=2)
        return max(len(plan_turn_offline(request, random.Random(seed)).calls) for seed in range(5))

    unbounded = [sample_scenario("library", tools, links, random.Random(seed), min_tools=3, max_tools=3) for seed in range(30)]
    bounded = [sample_scenario("library", tools, links, random.Random(seed), min_tools=3, max_tools=3, max_calls=2) for seed in range(30)]
    assert any(longest_plan(scenario) < 2 for scenario in unbounded)  # the trap is real
    assert all(longest_plan(scenario) == 2 for scenario in bounded)


SEARCH_CUSTOMERS = ToolView(
    name="search_customers",
    description="Search customers by name.",
    parameters=_obj({"query": STRING}, ("query",)),
    output_schema=_obj({"customers": {"type": "array", "items": _obj({"customer_id": {"type": "string", "pattern": "^CUS-\\d{5}$"}, "name": STRING}, ("customer_id", "name"))}}, ("customers",)),
)
CREATE_TICKET = ToolView(
    name="create_ticket",
    description="Open a support ticket for a customer.",
    parameters=_obj(
        {"customer_id": {"type": "string", "pattern": "^CUS-\\d{5}$"}, "subject": STRING, "description": STRING, "priority": {"type": "string", "enum": ["low", "urgent"]}},
        ("customer_id", "subject", "description"),
    ),
    output_schema=_obj({"ticket_id": {"type": "string", "pattern": "^TIC-\\d{5}$"}, "status": STRING}, ("ticket_id",)),
)
GET_TICKET = ToolView(
    name="get_ticket",
    description="Get a ticket.",
    parameters=_obj({"ticket_id": {"type": "string", "pattern": "^TIC-\\d{5}$"}}, ("ticket_id",)),
    output_schema=_obj({"ticket_id": {"type": "string", "pattern": "^TIC-\\d{5}$"}, "subject": STRING}, ("ticket_id", "subject")),
)
HELPDESK = Scenario(
    namespace="helpdesk", tools=[SEARCH_CUSTOMERS, CREATE_TICKET, GET_TICKET],
    links=[
        Link(src_tool="search_customers", src_field="customers[].customer_id", dst_tool="create_ticket", dst_param="customer_id"),
        Link(src_tool="create_ticket", src_field="ticket_id", dst_tool="get_ticket", dst_param="ticket_id"),
    ],
    persona="Sam Lee, support agent", today="2025-06-01",
)

# Turn 0 of the help desk: a customer found, a ticket opened for them.
TICKET_TURN = (
    ExecutedCall(
        ref="$1", tool="search_customers", arguments={"query": "Garza"},
        output={"customers": [{"customer_id": "CUS-10001", "name": "Ana Garza"}]}, turn=0,
    ),
    ExecutedCall(
        ref="$2", tool="create_ticket",
        arguments={"customer_id": "CUS-10001", "subject": "Printer jam", "description": "The printer jams on every page.", "priority": "urgent"},
        output={"ticket_id": "TIC-20001", "status": "open"}, turn=0,
    ),
)


def test_a_later_turn_does_not_create_what_an_earlier_turn_created() -> None:
    """A person does not ask for a second ticket with the first one's customer, subject and text."""
    searched, created = TICKET_TURN
    creates = 0
    for seed in range(60):
        request = PlanTurnRequest(
            scenario=HELPDESK, earlier_turns=[TurnPlan(calls=[])], earlier_calls=[searched, created], next_ref=3, min_calls=1, max_calls=2,
        )
        for call in plan_turn_offline(request, random.Random(seed)).calls:
            if call.tool != "create_ticket":
                continue
            creates += 1
            arguments = resolve_arguments(call, {"$1": searched, "$2": created})
            assert [arguments.get(name) for name in ("customer_id", "subject", "description")] != [
                "CUS-10001", "Printer jam", "The printer jams on every page."
            ], seed
    assert creates > 10  # the planner still creates tickets, other ones


def test_the_plan_filter_refuses_a_second_creation_of_the_same_thing_and_a_second_cancel() -> None:
    """A model's plan is held to the rule the offline planner follows."""
    searched, created = TICKET_TURN
    again = [
        _call("$3", "create_ticket", customer_id="$1.customers[0].customer_id", subject="Printer jam", description="The printer jams on every page."),
        _call("$4", "get_ticket", ticket_id="$3.ticket_id"),
    ]
    problems = plan_problems(again, HELPDESK, [searched, created], turn_index=1, min_calls=1, max_calls=3)
    assert problems == ["$3 create_ticket does again what $2 create_ticket did in turn 0, with the same values."]
    other = [_call("$3", "create_ticket", customer_id="$1.customers[0].customer_id", subject="Invoice missing", description="I got no invoice for May."), again[1]]
    assert plan_problems(other, HELPDESK, [searched, created], turn_index=1, min_calls=1, max_calls=3) == []

    listed = ExecutedCall(ref="$1", tool="list_orders", arguments={"date": "2025-05-30"}, output={"orders": [{"order_id": "ORD-10001", "total": 1.0}]}, turn=0)
    cancelled = ExecutedCall(ref="$2", tool="cancel_order", arguments={"order_id": "ORD-10001", "reason": "late"}, output={"order_id": "ORD-10001", "status": "cancelled"}, turn=0)
    twice = [_call("$3", "get_order", order_id="$1.orders[0].order_id"), _call("$4", "cancel_order", order_id="$3.order_id", reason="changed my mind")]
    direct = [_call("$3", "cancel_order", order_id="$1.orders[0].order_id", reason="changed my mind"), _call("$4", "get_order", order_id="$3.order_id")]
    assert plan_problems(direct, SCENARIO, [listed, cancelled], turn_index=1, min_calls=2, max_calls=3) == [
        "$3 cancel_order does again what $2 cancel_order did in turn 0, with the same values."
    ]
    # through a call of the same plan the value is not known before it runs: the simulator's session answers it
    assert plan_problems(twice, SCENARIO, [listed, cancelled], turn_index=1, min_calls=2, max_calls=3) == []


def test_execution_refuses_a_once_only_action_the_plan_reached_through_a_fresh_call() -> None:
    """Known only once run: this turn's listing hands back the order turn 0 cancelled."""
    from digit_assets.engine.offline.dispatch import default_offline_llm
    from digit_assets.engine.synthesis.rollout import Catalog, ConversationBuilder, SynthesisSettings, TurnFailed

    cancelled = ExecutedCall(ref="$1", tool="cancel_order", arguments={"order_id": "ORD-10001", "reason": "late"},
                             output={"order_id": "ORD-10001", "status": "cancelled"}, turn=0)
    builder = ConversationBuilder(Catalog(tools={"shop": TOOLS}, links={"shop": LINKS}), default_offline_llm(), SynthesisSettings(), 3, "t-1")
    plan = TurnPlan(calls=[_call("$2", "get_order", order_id="ORD-10001"), _call("$3", "cancel_order", order_id="$2.order_id", reason="other")])
    with pytest.raises(TurnFailed, match=r"\$3 cancel_order does again what \$1 cancel_order did, with the same values"):
        builder._execute(plan, TOOLS_BY_NAME, [cancelled], "2025-06-01", 1)
    other = TurnPlan(calls=[_call("$2", "get_order", order_id="ORD-10002"), _call("$3", "cancel_order", order_id="$2.order_id", reason="other")])
    assert [call.tool for call in builder._execute(other, TOOLS_BY_NAME, [cancelled], "2025-06-01", 1)] == ["get_order", "cancel_order"]


UPDATE_ADDRESS = ToolView(
    name="update_shipping_address",
    description="Change where an order ships.",
    parameters=_obj({"order_id": ORDER_ID, "street": STRING}, ("order_id", "street")),
    output_schema=_obj({"order_id": ORDER_ID, "street": STRING}, ("order_id", "street")),
)
RESTORE_ORDER = ToolView(
    name="restore_order",
    description="Restore a cancelled order.",
    parameters=_obj({"order_id": ORDER_ID}, ("order_id",)),
    output_schema=_obj({"order_id": ORDER_ID, "status": STRING}, ("order_id", "status")),
)


def test_nothing_changes_an_object_an_earlier_turn_cancelled_but_it_may_be_read_or_restored() -> None:
    from digit_assets.engine.synthesis.planning import closed_object

    listed = ExecutedCall(ref="$1", tool="list_orders", arguments={"date": "2025-05-30"},
                          output={"orders": [{"order_id": "ORD-10001", "total": 1.0}, {"order_id": "ORD-10002", "total": 2.0}]}, turn=0)
    cancelled = ExecutedCall(ref="$2", tool="cancel_order", arguments={"order_id": "ORD-10001", "reason": "late"},
                             output={"order_id": "ORD-10001", "status": "cancelled"}, turn=0)
    earlier = [listed, cancelled]
    assert closed_object("update_shipping_address", {"order_id": "ORD-10001", "street": "1 Main St"}, earlier) is cancelled
    assert closed_object("update_shipping_address", {"order_id": "ORD-10002", "street": "1 Main St"}, earlier) is None
    assert closed_object("get_order", {"order_id": "ORD-10001"}, earlier) is None
    assert closed_object("restore_order", {"order_id": "ORD-10001"}, earlier) is None

    shop = SCENARIO.model_copy(update={
        "tools": [*TOOLS, UPDATE_ADDRESS, RESTORE_ORDER],
        "links": [*LINKS, Link(src_tool="get_order", src_field="order_id", dst_tool="update_shipping_address", dst_param="order_id")],
    })
    late = [_call("$3", "update_shipping_address", order_id="$1.orders[0].order_id", street="1 Main St"), _call("$4", "get_order", order_id="$3.order_id")]
    assert plan_problems(late, shop, earlier, turn_index=1, min_calls=2, max_calls=3) == [
        "$3 update_shipping_address changes what $2 cancel_order ended in turn 0."
    ]
    other = [_call("$3", "update_shipping_address", order_id="$1.orders[1].order_id", street="1 Main St"), _call("$4", "get_order", order_id="$3.order_id")]
    assert plan_problems(other, shop, earlier, turn_index=1, min_calls=2, max_calls=3) == []


def test_execution_refuses_a_change_to_an_object_cancelled_before() -> None:
    from digit_assets.engine.offline.dispatch import default_offline_llm
    from digit_assets.engine.synthesis.rollout import Catalog, ConversationBuilder, SynthesisSettings, TurnFailed

    cancelled = ExecutedCall(ref="$1", tool="cancel_order", arguments={"order_id": "ORD-10001", "reason": "late"},
                             output={"order_id": "ORD-10001", "status": "cancelled"}, turn=0)
    tools = {**TOOLS_BY_NAME, UPDATE_ADDRESS.name: UPDATE_ADDRESS}
    builder = ConversationBuilder(Catalog(tools={"shop": list(tools.values())}, links={"shop": LINKS}), default_offline_llm(), SynthesisSettings(), 3, "t-2")
    plan = TurnPlan(calls=[_call("$2", "get_order", order_id="ORD-10001"), _call("$3", "update_shipping_address", order_id="$2.order_id", street="1 Main St")])
    with pytest.raises(TurnFailed, match=r"\$3 update_shipping_address changes what \$1 cancel_order ended"):
        builder._execute(plan, tools, [cancelled], "2025-06-01", 1)
