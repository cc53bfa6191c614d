"""Step 5: the offline back-translation re-derives plans from requests alone, and the check that
decides whether the derived plan replaces the original."""

from __future__ import annotations

import random
import re
import time

import pytest

from digit_assets.engine.synthesis.roles import BackTranslateRequest, WriteRequestRequest
from digit_assets.engine.synthesis.model import Link, PlannedCall, ToolView, TurnPlan
from digit_assets.engine.offline.request_writer import write_request_offline
from digit_assets.engine.synthesis.verification import align_hidden, verification_problems
from digit_assets.engine.offline.back_translator import back_translate_offline, derive_plan, read_values
from tests.test_synthesis_requests import (
    LIMITED,
    CANCEL_PLAN,
    CREATE_REFUND,
    CUSTOMER,
    EARLIER_CALLS,
    EARLIER_REQUESTS,
    GET_ORDER,
    LINKS,
    PERSONAS,
    SCENARIO,
    SHAPES,
    TOOLS,
    Shape,
    build_plan,
    write,
)

SEEDS = range(40)


def translate(
    text: str, *, earlier: int = 0, tools: list[ToolView] | None = None, links: list[Link] | None = None
) -> list[PlannedCall]:
    request = reading_request(text, earlier=earlier, tools=tools, links=links)
    return back_translate_offline(request, random.Random(0)).calls


def reading_request(
    text: str, *, earlier: int = 0, tools: list[ToolView] | None = None, links: list[Link] | None = None
) -> BackTranslateRequest:
    """What the back-translator is given: the text, the history (the first ``earlier`` calls) and the tools."""
    return BackTranslateRequest(
        tools=tools or TOOLS,
        links=links or LINKS,
        earlier_requests=EARLIER_REQUESTS if earlier else [],
        earlier_calls=EARLIER_CALLS[:earlier],
        request=text,
        next_ref=earlier + 1,
    )


def check(plan: TurnPlan, derived: list[PlannedCall], text: str, *, earlier: int = 0) -> list[str]:
    return verification_problems(plan, derived, text, TOOLS, EARLIER_CALLS[:earlier])


def summary(calls: list[PlannedCall]) -> list[tuple[str, dict]]:
    return [(call.tool, call.arguments) for call in calls]


# --- Re-deriving written requests ------------------------------------------------------------------


def test_written_requests_are_back_translated_for_a_high_share_of_seeds() -> None:
    """Every shape of the writer's test set, every seed: the honest reading re-derives the plan."""
    outcomes = []
    for shape in SHAPES:
        for seed in SEEDS:
            plan = build_plan(shape, seed)
            text = write(plan, seed, earlier=shape.earlier, persona=PERSONAS[seed % len(PERSONAS)])
            derived = translate(text, earlier=shape.earlier)
            outcomes.append((shape.name, not check(plan, derived, text, earlier=shape.earlier)))
    share = sum(ok for _, ok in outcomes) / len(outcomes)
    assert share >= 0.95, [name for name, ok in outcomes if not ok]


@pytest.mark.parametrize("shape", [s for s in SHAPES if s.hidden], ids=lambda shape: shape.name)
def test_hidden_lookups_are_rediscovered_and_stay_hidden_after_alignment(shape: Shape) -> None:
    rediscovered = 0
    for seed in SEEDS:
        plan = build_plan(shape, seed)
        text = write(plan, seed, earlier=shape.earlier)
        derived = translate(text, earlier=shape.earlier)
        if check(plan, derived, text, earlier=shape.earlier):
            continue
        aligned = align_hidden(plan, derived)
        hidden_tools = sorted(call.tool for call in plan.calls if call.ref in plan.hidden)
        assert sorted(call.tool for call in aligned.calls if call.ref in aligned.hidden) == hidden_tools
        rediscovered += 1
    assert rediscovered >= 0.9 * len(SEEDS)


def test_a_hidden_listing_is_found_from_the_date_alone() -> None:
    text = 'Please cancel my order with the reason "late_delivery". It\'s the one from the date 2026-05-03.'
    derived = translate(text)
    assert summary(derived) == [
        ("list_orders", {"date": "2026-05-03"}),
        ("cancel_order", {"order_id": "$1.orders[0].order_id", "reason": "late_delivery"}),
    ]
    assert check(CANCEL_PLAN, derived, text) == []
    assert align_hidden(CANCEL_PLAN, derived).hidden == ["$1"]


def test_a_lookup_by_id_is_found_when_another_goal_needs_its_output() -> None:
    """The order id alone would do for the cancellation; the email address needs the order looked up."""
    text = 'Send an email with the subject "Sorry" and cancel my order with the reason "duplicate_order". Order id ORD-12345.'
    assert summary(translate(text)) == [
        ("get_order", {"order_id": "ORD-12345"}),
        ("send_email", {"email": "$1.customer.email", "subject": "Sorry"}),
        ("cancel_order", {"order_id": "$1.order_id", "reason": "duplicate_order"}),
    ]


def test_later_turns_draw_on_earlier_outputs() -> None:
    text = (
        "Thanks! Now create a refund for that order with the amount 25.5, "
        'then send an email to the same customer with the subject "Refund".'
    )
    assert summary(translate(text, earlier=2)) == [
        ("create_refund", {"order_id": "$2.order_id", "amount": 25.5}),
        ("send_email", {"email": "$2.customer.email", "subject": "Refund"}),
    ]


def test_values_of_many_shapes_are_read_and_typed() -> None:
    text = (
        'Send an email with the subject "Hi there" and the cc a@x.com and b@y.org. '
        "Order id ORD-12345, amount 12.5, on 2026-05-03T10:30:00Z."
    )
    spans, masked = read_values(text)
    assert [(span.text, span.kind) for span in spans] == [
        ("Hi there", "quoted"),
        ("a@x.com", "email"),
        ("b@y.org", "email"),
        ("ORD-12345", "id"),
        ("12.5", "number"),
        ("2026-05-03T10:30:00Z", "datetime"),
    ]
    assert "ORD-12345" not in masked and len(masked) == len(text)
    derived = translate('Send an email to jane@x.com with the subject "Hi" and the cc a@x.com and b@y.org. Order id ORD-12345.')
    email = next(call for call in derived if call.tool == "send_email")
    assert email.arguments["cc"] == ["a@x.com", "b@y.org"]
    assert email.arguments["email"] == "jane@x.com"


def test_switches_set_in_words_reach_boolean_parameters() -> None:
    text = 'Cancel my order with the reason "changed_mind" and with notify customer turned off. The date 2026-05-03.'
    cancel = next(call for call in translate(text) if call.tool == "cancel_order")
    assert cancel.arguments["notify_customer"] is False


def test_settings_choices_and_counts_said_in_words_are_read_back() -> None:
    """What the writer says and people write: "without notifying the customer", "late delivery" for
    ``late_delivery``, "only the five newest" for a limit of 5."""
    tools = [LIMITED, *[tool for tool in TOOLS if tool.name != "list_orders"]]
    text = 'Cancel my order because "late delivery", without notifying the customer. It\'s among my orders from 2026-05-03, only the five newest.'
    derived = translate(text, tools=tools)
    cancel = next(call for call in derived if call.tool == "cancel_order")
    listed = next(call for call in derived if call.tool == "list_orders")
    assert cancel.arguments["notify_customer"] is False and cancel.arguments["reason"] == "late_delivery"
    assert listed.arguments == {"date": "2026-05-03", "limit": 5}
    notify = next(call for call in translate('Cancel my order because "changed mind" and notify the customer. The date 2026-05-03.') if call.tool == "cancel_order")
    assert notify.arguments["notify_customer"] is True and notify.arguments["reason"] == "changed_mind"


def test_objects_are_written_as_groups_and_read_back() -> None:
    place_order = ToolView(
        name="place_order",
        description="Place an order.",
        parameters={
            "type": "object",
            "properties": {
                "customer_id": {"type": "string"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"product_id": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
                        "required": ["product_id", "quantity"],
                    },
                },
            },
            "required": ["customer_id", "items"],
        },
        output_schema={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    )
    items = [{"product_id": "P2981", "quantity": 1}, {"product_id": "P4882", "quantity": 5}]
    plan = TurnPlan(calls=[PlannedCall(ref="$1", tool="place_order", arguments={"customer_id": "CUS-12345", "items": items})])
    scenario = SCENARIO.model_copy(update={"tools": [*TOOLS, place_order]})
    for seed in range(10):
        request = WriteRequestRequest(scenario=scenario, plan=plan, earlier_requests=[])
        text = write_request_offline(request, random.Random(seed)).request
        assert "(product id P2981, quantity 1)" in text
        derived = translate(text, tools=[*TOOLS, place_order])
        assert summary(derived) == [("place_order", {"customer_id": "CUS-12345", "items": items})]


def test_one_of_several_required_sets_is_filled() -> None:
    """``anyOf: [{required: [name]}, {required: [email]}]``: the email is looked up."""
    find_customers = ToolView(
        name="find_customers",
        description="Find customers by name or email.",
        parameters={
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
            "anyOf": [{"required": ["name"]}, {"required": ["email"]}],
        },
        output_schema={
            "type": "object",
            "properties": {"customers": {"type": "array", "items": CUSTOMER}},
            "required": ["customers"],
        },
    )
    links = [*LINKS, Link(src_tool="get_order", src_field="customer.email", dst_tool="find_customers", dst_param="email")]
    assert summary(translate("Please find the customers. Order id ORD-12345.", tools=[*TOOLS, find_customers], links=links)) == [
        ("get_order", {"order_id": "ORD-12345"}),
        ("find_customers", {"email": "$1.customer.email"}),
    ]


def test_a_clause_pointing_back_fills_an_optional_parameter_from_the_earlier_turn() -> None:
    list_tickets = ToolView(
        name="list_tickets",
        description="List support tickets.",
        parameters={
            "type": "object",
            "properties": {"customer_id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]}},
        },
        output_schema={
            "type": "object",
            "properties": {"tickets": {"type": "array", "items": {"type": "object"}}},
            "required": ["tickets"],
        },
    )
    links = [*LINKS, Link(src_tool="get_order", src_field="customer.customer_id", dst_tool="list_tickets", dst_param="customer_id")]
    text = 'Thanks! Now list the tickets for that customer with the status "open".'
    assert summary(translate(text, earlier=2, tools=[*TOOLS, list_tickets], links=links)) == [
        ("list_tickets", {"customer_id": "$2.customer.customer_id", "status": "open"})
    ]


def test_values_go_to_the_goal_whose_clause_holds_them() -> None:
    create_invoice = CREATE_REFUND.model_copy(update={"name": "create_invoice", "description": "Invoice an order."})
    links = [*LINKS, Link(src_tool="list_orders", src_field="orders[].order_id", dst_tool="create_invoice", dst_param="order_id")]
    text = "Please create an invoice, then create a refund with the amount 20. It's the one from the date 2026-05-03."
    # The amount is the refund's, though the invoice comes first and takes an amount too.
    assert summary(translate(text, tools=[*TOOLS, create_invoice], links=links)) == [
        ("list_orders", {"date": "2026-05-03"}),
        ("create_invoice", {"order_id": "$1.orders[0].order_id"}),
        ("create_refund", {"order_id": "$1.orders[0].order_id", "amount": 20}),
    ]


def test_bare_enum_words_are_values_only_where_a_cue_names_them() -> None:
    assert summary(translate("Please list my orders from the date 2026-05-03 with the status shipped.")) == [
        ("list_orders", {"date": "2026-05-03", "status": "shipped"})
    ]
    derived = translate('Cancel an order that has not shipped with the reason "late_delivery". The date 2026-05-03.')
    assert summary(derived) == [
        ("list_orders", {"date": "2026-05-03"}),
        ("cancel_order", {"order_id": "$1.orders[0].order_id", "reason": "late_delivery"}),
    ]


def test_an_action_is_only_taken_for_values_the_user_gave_for_it() -> None:
    """A hidden cancellation is re-derived when its reason is in the text, never invented without it."""
    plan = TurnPlan(
        calls=[
            PlannedCall(ref="$1", tool="cancel_order", arguments={"order_id": "ORD-12345", "reason": "late_delivery"}),
            PlannedCall(ref="$2", tool="create_refund", arguments={"order_id": "$1.order_id", "amount": 20}),
        ],
        hidden=["$1"],
    )
    links = [*LINKS, Link(src_tool="cancel_order", src_field="order_id", dst_tool="create_refund", dst_param="order_id")]
    text = 'Create a refund with the amount 20. Order id ORD-12345, reason "late_delivery".'
    derived = translate(text, links=links)
    assert summary(derived) == [
        ("cancel_order", {"order_id": "ORD-12345", "reason": "late_delivery"}),
        ("create_refund", {"order_id": "$1.order_id", "amount": 20}),
    ]
    assert check(plan, derived, text) == []
    assert [call.tool for call in translate("Create a refund with the amount 20. Order id ORD-12345.", links=links)] == [
        "create_refund"
    ]


# --- Honest failures ---------------------------------------------------------------------------------

RETRIEVE_ORDER = GET_ORDER.model_copy(update={"name": "retrieve_order", "description": "Retrieve one order."})


def test_an_ambiguous_goal_is_not_guessed() -> None:
    """"look up my order" fits get_order and retrieve_order equally: neither is picked."""
    tools = [*TOOLS, RETRIEVE_ORDER]
    text = "Please look up my order with the order id ORD-12345."
    derived, notes = derive_plan(reading_request(text, tools=tools))
    assert derived == []
    assert any("get_order and retrieve_order equally well" in note for note in notes)
    plan = TurnPlan(calls=[PlannedCall(ref="$1", tool="get_order", arguments={"order_id": "ORD-12345"})])
    assert verification_problems(plan, derived, text, tools, []) == ["The back-translation derived no calls."]
    # The tool's own verb settles it.
    assert summary(translate("Please retrieve my order with the order id ORD-12345.", tools=tools)) == [
        ("retrieve_order", {"order_id": "ORD-12345"})
    ]


def test_an_ambiguous_lookup_is_not_guessed() -> None:
    """Two producers of the same field, each one lookup away: the reader does not pick one."""
    get_profile = ToolView(
        name="get_profile",
        description="Get a customer's profile by order.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        output_schema={"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]},
    )
    links = [*LINKS, Link(src_tool="get_profile", src_field="email", dst_tool="send_email", dst_param="email")]
    text = 'Send an email with the subject "Hi". Order id ORD-12345.'
    derived, notes = derive_plan(reading_request(text, tools=[*TOOLS, get_profile], links=links))
    assert any("could come from get_order or get_profile" in note for note in notes)
    assert "email" not in next(call for call in derived if call.tool == "send_email").arguments


def test_a_request_missing_a_required_value_is_rejected() -> None:
    text = 'Please cancel my order with the reason "late_delivery".'  # no date: nothing can find the order
    derived = translate(text)
    assert summary(derived) == [("cancel_order", {"reason": "late_delivery"})]
    problems = check(CANCEL_PLAN, derived, text)
    assert any('"order_id" is a required property' in problem for problem in problems)
    assert any("missing list_orders" in problem for problem in problems)


def test_a_request_describing_another_goal_is_rejected() -> None:
    text = "Please create a refund with the amount 20. It's the one from the date 2026-05-03."
    derived = translate(text)
    assert [call.tool for call in derived] == ["list_orders", "create_refund"]
    problems = check(CANCEL_PLAN, derived, text)
    assert any("missing cancel_order; extra create_refund" in problem for problem in problems)


def test_a_value_the_reader_cannot_place_is_reported() -> None:
    text = 'Please cancel my order with the reason "late_delivery". Also "blue". The date 2026-05-03.'
    derived, notes = derive_plan(reading_request(text))
    assert any("'blue'" in note for note in notes)
    assert [call.tool for call in derived] == ["list_orders", "cancel_order"]


def test_a_redundant_hidden_lookup_cannot_be_rediscovered() -> None:
    """The user gave the order id, so nothing calls for looking the order up first: the turn is dropped."""
    plan = TurnPlan(
        calls=[
            PlannedCall(ref="$1", tool="get_order", arguments={"order_id": "ORD-12345"}),
            PlannedCall(ref="$2", tool="cancel_order", arguments={"order_id": "$1.order_id", "reason": "late_delivery"}),
        ],
        hidden=["$1"],
    )
    text = 'Cancel my order with the reason "late_delivery". Order id ORD-12345.'
    derived = translate(text)
    assert summary(derived) == [("cancel_order", {"order_id": "ORD-12345", "reason": "late_delivery"})]
    assert any("missing get_order" in problem for problem in check(plan, derived, text))


# --- The check ---------------------------------------------------------------------------------------

GOOD_TEXT = 'Please cancel my order with the reason "late_delivery". It\'s the one from the date 2026-05-03.'
LISTED = "$1.orders[0].order_id"


def cancel(order_id: str, *, reason: str = "late_delivery") -> PlannedCall:
    return PlannedCall(ref="$2", tool="cancel_order", arguments={"order_id": order_id, "reason": reason})


GOOD_DERIVED = [PlannedCall(ref="$1", tool="list_orders", arguments={"date": "2026-05-03"}), cancel(LISTED)]


def test_the_check_accepts_an_equivalent_plan() -> None:
    assert check(CANCEL_PLAN, GOOD_DERIVED, GOOD_TEXT) == []


@pytest.mark.parametrize(
    ("derived", "expected"),
    [
        ([], "derived no calls"),
        (
            [GOOD_DERIVED[0], PlannedCall(ref="$2", tool="create_refund", arguments={"order_id": LISTED, "amount": 5})],
            "missing cancel_order; extra create_refund",
        ),
        (
            [GOOD_DERIVED[0], cancel("ORD-1")],
            "not connected",
        ),
        (
            [GOOD_DERIVED[0], cancel("$7.order_id")],
            "refers to $7, which is not an earlier call",
        ),
        (
            [GOOD_DERIVED[0], cancel("$1.invoice_id")],
            "which list_orders does not return",
        ),
        (
            [GOOD_DERIVED[0], cancel(LISTED, reason="late")],
            "is not one of",
        ),
        (
            [PlannedCall(ref="$1", tool="list_orders", arguments={"date": "2026-05-04"}), GOOD_DERIVED[1]],
            "does not use the value '2026-05-03'",
        ),
        ([GOOD_DERIVED[0], GOOD_DERIVED[1], GOOD_DERIVED[1]], "reuses the ref"),
    ],
    ids=["empty", "other tools", "disconnected", "unknown ref", "absent field", "invalid value", "unused value", "repeated ref"],
)
def test_the_check_rejects(derived: list[PlannedCall], expected: str) -> None:
    problems = check(CANCEL_PLAN, derived, GOOD_TEXT)
    assert any(expected in problem for problem in problems), problems


def test_references_to_earlier_turns_are_checked_against_their_real_outputs() -> None:
    plan = build_plan(SHAPES[7], 0)
    good = [PlannedCall(ref="$3", tool="create_refund", arguments={"order_id": "$2.order_id", "amount": 5})]
    assert not any("refers to" in p for p in check(plan, good, "", earlier=2))
    broken = [PlannedCall(ref="$3", tool="create_refund", arguments={"order_id": "$2.refund_id", "amount": 5})]
    assert any("$2.refund_id, which that output does not hold" in p for p in check(plan, broken, "", earlier=2))


# --- Independence from the original plan ----------------------------------------------------------


def test_the_reader_never_sees_the_plan() -> None:
    """The request carries no plan; the same text reads the same whatever plan it was written from."""
    assert set(BackTranslateRequest.model_fields) == {
        "tools", "links", "earlier_requests", "earlier_calls", "request", "next_ref", "min_calls", "max_calls"  # the run's bounds, not the plan's
    }
    plan = build_plan(SHAPES[1], 3)
    text = write(plan, 3)
    other = build_plan(SHAPES[4], 3)
    derived = translate(text)
    assert translate(text) == derived
    assert back_translate_offline(reading_request(text), random.Random(99)).calls == derived  # no randomness either
    assert check(plan, derived, text) == []
    assert check(other, derived, text) != []  # only the check compares with an original


def test_align_hidden_maps_hidden_calls_by_tool_in_order() -> None:
    original = TurnPlan(calls=[*CANCEL_PLAN.calls], hidden=["$1"])
    derived = [
        PlannedCall(ref="$5", tool="list_orders", arguments={"date": "2026-05-03"}),
        PlannedCall(ref="$6", tool="cancel_order", arguments={"order_id": "$5.orders[0].order_id", "reason": "late_delivery"}),
    ]
    aligned = align_hidden(original, derived)
    assert aligned.calls == derived and aligned.hidden == ["$5"]
    assert align_hidden(TurnPlan(calls=original.calls), derived).hidden == []


def test_back_translation_is_fast_enough_for_the_offline_pipeline() -> None:
    requests = [
        reading_request(write(build_plan(shape, seed), seed, earlier=shape.earlier), earlier=shape.earlier)
        for shape in SHAPES
        for seed in range(10)
    ]
    started = time.perf_counter()
    for request in requests:
        back_translate_offline(request, random.Random(0))
    per_call = (time.perf_counter() - started) / len(requests)
    assert per_call < 0.005, f"{per_call * 1e6:.0f} us per back-translation"


# --- Natural phrasing: the reader's own English, not the writer's ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'Please cancel my order from 2026-05-03 because "late_delivery".',
        'Something arrived late. Can you cancel the order I placed on 2026-05-03? Reason: "late_delivery".',
        'I need to cancel an order because "late_delivery" - it was the one dated 2026-05-03.',
        'cancel order, 2026-05-03, "late_delivery"',
        'Could you cancel the order I placed on May 3rd, 2026? It came late, so "late_delivery".',
    ],
    ids=["imperative", "context first", "first person", "terse", "spelled date"],
)
def test_hand_written_paraphrases_without_parameter_names_are_accepted(text: str) -> None:
    """Requests no writer of this project produced: the reader finds the hidden listing from the date
    alone and binds the reason by what it is."""
    derived = translate(text)
    assert check(CANCEL_PLAN, derived, text) == [], (text, summary(derived))


def test_roles_bind_values_a_person_states_by_meaning() -> None:
    hotel = ToolView(
        name="search_hotels",
        description="Find hotels.",
        parameters={
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "check_in": {"type": "string", "format": "date"},
                "check_out": {"type": "string", "format": "date"},
                "max_price": {"type": "number"},
                "guests": {"type": "integer"},
            },
            "required": ["city", "check_in", "check_out"],
        },
        output_schema={"type": "object", "properties": {"hotels": {"type": "array", "items": {"type": "object"}}}},
    )
    text = 'Find me a hotel in "Lisbon" from 2026-06-01 until 2026-06-04, under 120 dollars, for 2 guests.'
    derived = translate(text, tools=[hotel], links=[])
    assert summary(derived) == [
        (
            "search_hotels",
            {"city": "Lisbon", "check_in": "2026-06-01", "check_out": "2026-06-04", "max_price": 120, "guests": 2},
        )
    ]


def test_a_request_asking_for_more_than_the_plan_is_rejected() -> None:
    """Over-specified: the user also asks for an email the plan does not send."""
    text = 'Cancel my order from 2026-05-03 because "late_delivery", and send an email with the subject "Sorry" to ana@example.com.'
    derived = translate(text)
    problems = check(CANCEL_PLAN, derived, text)
    assert any("extra send_email" in problem for problem in problems), problems


def test_a_request_without_the_value_that_finds_the_object_is_rejected() -> None:
    """Under-specified in natural words: no date, so nothing can discover which order."""
    text = 'Please cancel my order, it came late: "late_delivery".'
    problems = check(CANCEL_PLAN, translate(text), text)
    assert any("missing list_orders" in problem for problem in problems), problems


def test_a_write_named_verb_preposition_object_is_asked_for_by_its_verb() -> None:
    """``reply_to_ticket`` is a write: the user asks to "reply to my ticket", never to "pull up my reply"."""
    reply = ToolView(
        name="reply_to_ticket",
        description="Add a message to a ticket.",
        parameters={"type": "object", "properties": {"ticket_id": {"type": "string"}, "body": {"type": "string"}, "internal": {"type": "boolean"}}, "required": ["ticket_id", "body"]},
        output_schema={"type": "object", "properties": {"message_id": {"type": "string"}}, "required": ["message_id"]},
    )
    tickets = ToolView(
        name="list_tickets",
        description="List tickets.",
        parameters={"type": "object", "properties": {"status": {"type": "string", "enum": ["open", "closed"]}}},
        output_schema={
            "type": "object",
            "properties": {"tickets": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {"ticket_id": {"type": "string"}}, "required": ["ticket_id"]}}},
            "required": ["tickets"],
        },
    )
    links = [Link(src_tool="list_tickets", src_field="tickets[].ticket_id", dst_tool="reply_to_ticket", dst_param="ticket_id")]
    plan = TurnPlan(
        calls=[
            PlannedCall(ref="$1", tool="list_tickets", arguments={"status": "open"}),
            PlannedCall(ref="$2", tool="reply_to_ticket", arguments={"ticket_id": "$1.tickets[0].ticket_id", "body": "Running about ten minutes late.", "internal": False}),
        ],
        hidden=["$1"],
    )
    scenario = SCENARIO.model_copy(update={"tools": [tickets, reply], "links": links})
    for seed in range(20):
        text = write_request_offline(WriteRequestRequest(scenario=scenario, plan=plan, earlier_requests=[], earlier_calls=[]), random.Random(seed)).request
        assert re.search(r"\breply to (?:my|the) ticket\b", text, re.IGNORECASE) and "pull up" not in text, text
        derived = translate(text, tools=[tickets, reply], links=links)
        assert [call.tool for call in derived] == ["list_tickets", "reply_to_ticket"], (text, derived)
        assert derived[1].arguments["internal"] is False, text
