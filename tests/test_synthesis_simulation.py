"""Stateless execution: the offline simulator, reference substitution and schema validation."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from digit_assets.engine.synthesis.roles import SimulateToolRequest
from digit_assets.engine.offline.fields import is_placeholder, leaves, parse_moment
from digit_assets.engine.offline.judge import impossible_result_problems, temporal_problems
from digit_assets.engine.synthesis.model import ExecutedCall, PlannedCall, ToolView
from digit_assets.engine.synthesis.simulation import ReferenceResolutionError, argument_problems, output_problems, resolve_arguments
from digit_assets.engine.offline.simulator import simulate_tool_offline

TODAY = "2025-06-01"
SEEDS = range(60)

ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-\\d{5}$"},
        "customer_id": {"type": "string"},
        "order_date": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": ["pending", "shipped", "delivered", "cancelled"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "unit_price": {"type": "number", "minimum": 0},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["sku", "unit_price", "quantity"],
            },
        },
        "shipping": {"type": "number", "minimum": 0},
        "total": {"type": "number", "minimum": 0},
    },
    "required": ["order_id", "order_date", "status", "items", "total"],
}

LIST_ORDERS = ToolView(
    name="list_orders",
    description="List a customer's orders, optionally on one date or within a date range.",
    parameters={
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "start_date": {"type": "string", "format": "date"},
            "end_date": {"type": "string", "format": "date"},
            "limit": {"type": "integer", "minimum": 1},
        },
        "required": ["customer_id"],
    },
    output_schema={
        "type": "object",
        "properties": {"orders": {"type": "array", "items": ORDER}, "count": {"type": "integer", "minimum": 0}},
        "required": ["orders", "count"],
    },
)
GET_ORDER = ToolView(
    name="get_order",
    description="Get one order by id.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    output_schema=ORDER,
)
CANCEL_ORDER = ToolView(
    name="cancel_order",
    description="Cancel an order that has not shipped.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "reason": {"type": "string", "enum": ["changed_mind", "late", "duplicate"]}},
        "required": ["order_id"],
    },
    output_schema={
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "cancelled", "cancellation_failed"]},
            "cancelled_at": {"type": "string", "format": "date-time"},
            "refund_amount": {"type": "number", "minimum": 0},
        },
        "required": ["order_id", "status", "cancelled_at"],
    },
)
GET_ORDER_STATUS = ToolView(
    name="get_order_status",
    description="Get the shipping status of an order.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    output_schema={
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}},
        "required": ["order_id", "status"],
    },
)
GET_CUSTOMER = ToolView(
    name="get_customer",
    description="Look up a customer by email.",
    parameters={"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]},
    output_schema={
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "phone": {"type": "string"},
            "member_since": {"type": "string", "format": "date"},
            "website": {"type": "string", "format": "uri"},
        },
        "required": ["customer_id", "name", "email", "member_since"],
    },
)
BOOK_HOTEL = ToolView(
    name="book_hotel",
    description="Book a hotel room for a stay.",
    parameters={
        "type": "object",
        "properties": {
            "hotel_id": {"type": "string"},
            "check_in": {"type": "string", "format": "date"},
            "check_out": {"type": "string", "format": "date"},
            "guests": {"type": "integer", "minimum": 1, "maximum": 6},
        },
        "required": ["hotel_id", "check_in", "check_out"],
    },
    output_schema={
        "$defs": {
            "stay": {
                "type": "object",
                "properties": {
                    "check_in": {"type": "string", "format": "date"},
                    "check_out": {"type": "string", "format": "date"},
                    "check_in_time": {"type": "string", "format": "time"},
                },
                "required": ["check_in", "check_out"],
            }
        },
        "type": "object",
        "properties": {
            "booking_id": {"type": "string", "format": "uuid"},
            "hotel_id": {"type": "string"},
            "stay": {"$ref": "#/$defs/stay"},
            "status": {"type": "string", "enum": ["confirmed", "waitlisted", "failed"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "allOf": [{"required": ["booking_id", "stay", "status", "created_at", "updated_at"]}],
    },
)
CREATE_TICKET = ToolView(
    name="create_ticket",
    description="Open a support ticket about an order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "subject": {"type": "string"}},
        "required": ["order_id", "subject"],
    },
    output_schema={
        "type": "object",
        "properties": {
            "ticket_id": {"type": "string"},
            "order_id": {"type": "string"},
            "subject": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4, "uniqueItems": True},
        },
        "required": ["ticket_id", "order_id", "status", "tags"],
    },
)
SHOP_TOOLS = [LIST_ORDERS, GET_ORDER, CANCEL_ORDER, GET_ORDER_STATUS, GET_CUSTOMER, CREATE_TICKET]


def simulate(tool: ToolView, arguments: dict[str, Any], history: list[ExecutedCall] | None = None, seed: int = 0) -> dict[str, Any]:
    request = SimulateToolRequest(tool=tool, arguments=arguments, history=history or [], today=TODAY)
    return simulate_tool_offline(request, random.Random(seed)).output


def executed(ref: str, tool: ToolView, arguments: dict[str, Any], output: dict[str, Any], turn: int = 0) -> ExecutedCall:
    return ExecutedCall(ref=ref, tool=tool.name, arguments=arguments, output=output, turn=turn)


def listed_orders(seed: int = 0) -> ExecutedCall:
    arguments = {"customer_id": "CUS-40213"}
    return executed("$1", LIST_ORDERS, arguments, simulate(LIST_ORDERS, arguments, seed=seed))


# --- The simulator -------------------------------------------------------------------------------

CASES = [
    (LIST_ORDERS, {"customer_id": "CUS-40213"}),
    (LIST_ORDERS, {"customer_id": "CUS-40213", "date": "2025-05-03", "limit": 2}),
    (GET_ORDER, {"order_id": "ORD-12087"}),
    (CANCEL_ORDER, {"order_id": "ORD-12087", "reason": "late"}),
    (GET_ORDER_STATUS, {"order_id": "ORD-12087"}),
    (GET_CUSTOMER, {"email": "kim.lee@example.org"}),
    (BOOK_HOTEL, {"hotel_id": "HOT-77120", "check_in": "2025-07-10", "check_out": "2025-07-14", "guests": 2}),
    (CREATE_TICKET, {"order_id": "ORD-12087", "subject": "Damaged parcel"}),
]


@pytest.mark.parametrize(("tool", "arguments"), CASES, ids=[f"{t.name}-{i}" for i, (t, _) in enumerate(CASES)])
def test_outputs_validate_against_the_output_schema(tool: ToolView, arguments: dict[str, Any]) -> None:
    history = [listed_orders(7)]
    for seed in SEEDS:
        for earlier in ([], history):
            output = simulate(tool, arguments, earlier, seed)
            assert output_problems(tool, output) == [], (seed, output)


UNUSUAL = ToolView(
    name="get_report",
    description="A report with a recursive tree and unusual keywords.",
    parameters={"type": "object", "properties": {}},
    output_schema={
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["name", "children"],
            }
        },
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/$defs/node"},
            "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "step": {"type": "integer", "multipleOf": 5, "minimum": 10, "maximum": 40},
            "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
            "meta": {"type": "object"},
            "contact": {"oneOf": [{"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]}, {"type": "null"}]},
            "kind": {"const": "report"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
            "nothing": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": True},
        },
        "required": ["tree", "score", "step", "grid", "meta", "contact", "kind", "code", "nothing", "tags"],
    },
)


def test_unusual_schemas_recursion_and_keywords_still_validate() -> None:
    for seed in range(100):
        output = simulate(UNUSUAL, {}, seed=seed)
        assert output_problems(UNUSUAL, output) == [], seed
        assert output["kind"] == "report" and output["nothing"] == []


@pytest.mark.parametrize(("tool", "arguments"), CASES, ids=[f"{t.name}-{i}" for i, (t, _) in enumerate(CASES)])
def test_outputs_carry_no_placeholders_and_pass_the_judges_temporal_and_arithmetic_rules(tool: ToolView, arguments: dict[str, Any]) -> None:
    for seed in SEEDS:
        output = simulate(tool, arguments, [listed_orders(seed)], seed)
        assert not [value for _, _, value in leaves(output) if is_placeholder(value)]
        call = executed("$2", tool, arguments, output)
        assert temporal_problems(date.fromisoformat(TODAY), [call]) == [], output
        assert impossible_result_problems([call]) == [], output


def test_the_same_seed_gives_the_same_output_and_seeds_differ() -> None:
    history = [listed_orders(3)]
    first = [simulate(GET_CUSTOMER, {"email": "kim.lee@example.org"}, history, seed) for seed in range(10)]
    again = [simulate(GET_CUSTOMER, {"email": "kim.lee@example.org"}, history, seed) for seed in range(10)]
    assert first == again
    assert len({repr(output) for output in first}) == 10


def test_a_list_shows_no_known_object_that_contradicts_its_filter() -> None:
    listing = listed_orders(5)  # orders of CUS-40213
    theirs = {order["order_id"] for order in listing.output["orders"]}
    for seed in range(20):
        again = simulate(LIST_ORDERS, {"customer_id": "CUS-40213"}, [listing], seed)["orders"]
        assert {order["order_id"] for order in again} <= theirs  # the same customer's orders, as known
        other = simulate(LIST_ORDERS, {"customer_id": "CUS-99881"}, [listing], seed)["orders"]
        assert not {order["order_id"] for order in other} & theirs


def test_arguments_are_echoed_where_the_result_describes_them() -> None:
    for seed in SEEDS:
        assert simulate(GET_ORDER, {"order_id": "ORD-12087"}, seed=seed)["order_id"] == "ORD-12087"
        stay = simulate(BOOK_HOTEL, CASES[6][1], seed=seed)["stay"]
        assert (stay["check_in"], stay["check_out"]) == ("2025-07-10", "2025-07-14")
        orders = simulate(LIST_ORDERS, {"customer_id": "CUS-40213", "date": "2025-05-03"}, seed=seed)["orders"]
        assert all(order["order_date"] == "2025-05-03" for order in orders)  # a date filter reaches order_date
        assert all(order.get("customer_id", "CUS-40213") == "CUS-40213" for order in orders)


def test_a_generic_id_field_restates_the_key_argument_only_at_the_top() -> None:
    tool = ToolView(
        name="get_invoice",
        description="",
        parameters={"type": "object", "properties": {"invoice_id": {"type": "string"}}},
        output_schema={
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "lines": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
            },
            "required": ["id", "lines"],
        },
    )
    for seed in range(20):
        output = simulate(tool, {"invoice_id": "INV-31337"}, seed=seed)
        assert output["id"] == "INV-31337"
        assert all(line["id"] != "INV-31337" for line in output["lines"])


def test_a_fetched_object_keeps_what_the_history_says_about_it() -> None:
    for seed in range(20):
        listing = listed_orders(seed)
        known = listing.output["orders"][0]
        fetched = simulate(GET_ORDER, {"order_id": known["order_id"]}, [listing], seed)
        for field in ("order_date", "status", "items", "total"):
            assert fetched[field] == known[field], field


def test_an_action_leaves_its_mark_and_later_reads_see_it() -> None:
    listing = listed_orders(1)
    order_id = listing.output["orders"][0]["order_id"]
    for seed in range(20):
        cancelled = simulate(CANCEL_ORDER, {"order_id": order_id}, [listing], seed)
        assert cancelled["status"] == "cancelled"
        assert cancelled["cancelled_at"].startswith(TODAY)
        history = [listing, executed("$2", CANCEL_ORDER, {"order_id": order_id}, cancelled)]
        assert simulate(GET_ORDER, {"order_id": order_id}, history, seed)["status"] == "cancelled"
        assert simulate(GET_ORDER_STATUS, {"order_id": order_id}, history, seed)["status"] == "cancelled"


def test_values_seen_in_the_history_are_reused_for_same_named_fields() -> None:
    customer = executed(
        "$1",
        GET_CUSTOMER,
        {"email": "kim.lee@example.org"},
        {"customer_id": "CUS-40213", "name": "Kim Lee", "email": "kim.lee@example.org", "member_since": "2023-01-09"},
    )
    for seed in range(20):
        orders = simulate(LIST_ORDERS, {"date": "2025-05-03"}, [customer], seed)["orders"]
        assert {order.get("customer_id", "CUS-40213") for order in orders} == {"CUS-40213"}


def test_a_created_object_gets_a_new_id_and_list_items_get_distinct_ids() -> None:
    history = [listed_orders(seed) for seed in range(3)]
    seen_ids = {order["order_id"] for call in history for order in call.output["orders"]}
    for seed in SEEDS:
        ticket = simulate(CREATE_TICKET, {"order_id": "ORD-12087", "subject": "Damaged parcel"}, history, seed)
        assert ticket["ticket_id"] not in seen_ids
        assert ticket["status"] == "open"
        assert len(set(ticket["tags"])) == len(ticket["tags"]) >= 2
        orders = simulate(LIST_ORDERS, {"customer_id": "CUS-40213"}, history, seed)["orders"]
        assert len({order["order_id"] for order in orders}) == len(orders)


def test_lists_hold_at_least_one_item_and_respect_the_requested_limit() -> None:
    for seed in SEEDS:
        output = simulate(LIST_ORDERS, {"customer_id": "CUS-40213", "limit": 1}, seed=seed)
        assert len(output["orders"]) == 1
        assert output["count"] >= 1
        assert all(order["items"] for order in simulate(LIST_ORDERS, {"customer_id": "CUS-1"}, seed=seed)["orders"])


def test_list_items_fall_inside_a_requested_date_range() -> None:
    for seed in SEEDS:
        orders = simulate(LIST_ORDERS, {"customer_id": "CUS-1", "start_date": "2025-04-01", "end_date": "2025-04-20"}, seed=seed)["orders"]
        assert all("2025-04-01" <= order["order_date"] <= "2025-04-20" for order in orders)


def test_repairs_keep_totals_dates_and_counts_consistent() -> None:
    for seed in SEEDS:
        output = simulate(LIST_ORDERS, {"customer_id": "CUS-1"}, seed=seed)
        assert output["count"] >= len(output["orders"])
        for order in output["orders"]:
            lines = sum(item["unit_price"] * item["quantity"] for item in order["items"])
            assert order["total"] == pytest.approx(lines + order.get("shipping", 0), abs=0.02)
            assert order["order_date"] <= TODAY  # an order's date records the past
        booking = simulate(BOOK_HOTEL, {"hotel_id": "HOT-1", "check_in": "2025-07-10", "check_out": "2025-07-14"}, seed=seed)
        created, updated = parse_moment(booking["created_at"]), parse_moment(booking["updated_at"])
        assert created <= updated and created.date() <= date.fromisoformat(TODAY)


# --- Reference substitution ----------------------------------------------------------------------


def test_references_are_substituted_from_simulated_outputs() -> None:
    listing = listed_orders(2)
    call = PlannedCall(ref="$2", tool="get_order", arguments={"order_id": "$1.orders[0].order_id", "note": "as listed"})
    assert resolve_arguments(call, {"$1": listing}) == {"order_id": listing.output["orders"][0]["order_id"], "note": "as listed"}
    whole = PlannedCall(ref="$2", tool="x", arguments={"items": "$1.orders[0].items"})
    assert resolve_arguments(whole, {"$1": listing})["items"] == listing.output["orders"][0]["items"]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("$1.orders[0].tracking_id", r"\$1 \(list_orders\) has no orders\[0\]\.tracking_id"),
        ("$1.orders[99].order_id", r"\$1 \(list_orders\) has no orders\[99\]\.order_id"),
        ("$1.count.value", r"has no count\.value"),
        ("$7.order_id", r"refers to \$7, which has no simulated output"),
    ],
)
def test_a_missing_reference_raises_an_error_naming_the_ref_and_path(reference: str, expected: str) -> None:
    call = PlannedCall(ref="$2", tool="get_order", arguments={"order_id": reference})
    with pytest.raises(ReferenceResolutionError, match=expected):
        resolve_arguments(call, {"$1": listed_orders(2)})


def test_a_reference_to_a_failed_call_is_unresolvable() -> None:
    failed = ExecutedCall(ref="$1", tool="list_orders", arguments={}, error="Error: try again", turn=0)
    with pytest.raises(ReferenceResolutionError, match=r"\$2 get_order"):
        resolve_arguments(PlannedCall(ref="$2", tool="get_order", arguments={"order_id": "$1.orders[0].order_id"}), {"$1": failed})


# --- Schema validation ---------------------------------------------------------------------------


def test_valid_arguments_and_outputs_have_no_problems() -> None:
    assert argument_problems(BOOK_HOTEL, {"hotel_id": "HOT-1", "check_in": "2025-07-10", "check_out": "2025-07-12"}) == []
    stay = {"check_in": "2025-07-10", "check_out": "2025-07-12", "check_in_time": "14:30"}  # lenient "time"
    output = {"booking_id": "2f1c7a4e-8d1b-4c55-9d7e-3b2a1f0e9c8d", "stay": stay, "status": "confirmed", "created_at": "2025-06-01T09:00:00Z", "updated_at": "2025-06-01T09:00:00Z"}
    assert output_problems(BOOK_HOTEL, output) == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"check_in": "2025-07-10", "check_out": "2025-07-12"}, r"book_hotel arguments at the top level: .*hotel_id.* is a required property"),
        ({"hotel_id": "HOT-1", "check_in": "July 10", "check_out": "2025-07-12"}, r"book_hotel arguments at check_in: .*is not a \"date\""),
        ({"hotel_id": "HOT-1", "check_in": "2025-07-10", "check_out": "2025-07-12", "guests": 9}, r"at guests: 9 is greater than the maximum of 6"),
        ({"hotel_id": 17, "check_in": "2025-07-10", "check_out": "2025-07-12"}, r"at hotel_id: 17 is not of type \"string\""),
    ],
)
def test_invalid_arguments_are_rejected_with_the_tool_and_path(arguments: dict[str, Any], expected: str) -> None:
    problems = argument_problems(BOOK_HOTEL, arguments)
    assert problems and any(__import__("re").search(expected, p) for p in problems), problems


def test_invalid_outputs_are_rejected_with_the_nested_path() -> None:
    output = simulate(LIST_ORDERS, {"customer_id": "CUS-1"}, seed=4)
    output["orders"][0]["items"][0]["quantity"] = "two"
    output["orders"][0]["status"] = "lost"
    problems = output_problems(LIST_ORDERS, output)
    assert any(p.startswith("list_orders output at orders[0].items[0].quantity:") for p in problems), problems
    assert any(p.startswith("list_orders output at orders[0].status:") for p in problems), problems
    assert output_problems(CANCEL_ORDER, {"order_id": "ORD-1", "status": "cancelled", "cancelled_at": "2025-06-01"}) != []


def test_an_unusable_schema_is_reported_not_raised() -> None:
    broken = ToolView(name="broken", description="", parameters={"type": "object", "properties": {"q": {"type": "strin"}}}, output_schema={})
    assert argument_problems(broken, {"q": "x"})[0].startswith("broken: the arguments schema is not valid JSON Schema")


def test_equal_schemas_in_different_objects_validate_alike() -> None:
    copy = ToolView.model_validate(GET_ORDER.model_dump())
    assert copy.output_schema is not GET_ORDER.output_schema
    output = simulate(GET_ORDER, {"order_id": "ORD-12087"})
    assert output_problems(copy, output) == output_problems(GET_ORDER, output) == []
    assert output_problems(copy, {**output, "total": -1}) != []


def test_cancelling_refunds_the_order_total_the_session_knows() -> None:
    from digit_assets.engine.synthesis.simulation import consistency_problems

    schema = CANCEL_ORDER.output_schema
    refunding = ToolView(
        name="cancel_order", description=CANCEL_ORDER.description, parameters=CANCEL_ORDER.parameters,
        output_schema={**schema, "required": [*schema["required"], "refund_amount"]},
    )
    for seed in range(20):
        listing = listed_orders(seed)
        order = listing.output["orders"][0]
        cancelled = simulate(refunding, {"order_id": order["order_id"]}, [listing], seed)
        assert cancelled["refund_amount"] == order["total"]
        assert consistency_problems(refunding, {"order_id": order["order_id"]}, cancelled, [listing]) == []


def test_a_refund_larger_than_the_order_total_is_refused() -> None:
    from digit_assets.engine.synthesis.simulation import consistency_problems

    listing = listed_orders(3)
    order = listing.output["orders"][0]
    arguments = {"order_id": order["order_id"]}
    too_much = {"order_id": order["order_id"], "status": "cancelled", "cancelled_at": f"{TODAY}T10:00:00Z", "refund_amount": order["total"] + 228.25}
    [problem] = consistency_problems(CANCEL_ORDER, arguments, too_much, [listing])
    assert "refund_amount" in problem and f"{order['total']:g}" in problem
    # Without the session knowing the total there is nothing to hold the refund to.
    assert consistency_problems(CANCEL_ORDER, arguments, too_much, []) == []
    # A return refunds part of its order: within the total it passes.
    partial = {**too_much, "refund_amount": round(order["total"] / 2, 2)}
    assert consistency_problems(CANCEL_ORDER, arguments, partial, [listing]) == []
