"""Step 4: the offline request writer and the rules every request must pass.

The scenario and the plan shapes here are shared with the back-translation tests.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from digit_assets.engine.synthesis.roles import WriteRequestRequest
from digit_assets.engine.synthesis.model import ExecutedCall, Link, PlannedCall, Scenario, ToolView, TurnPlan
from digit_assets.engine.lexicon import ACTION_SYNONYMS, value_shape
from digit_assets.engine.offline.request_writer import is_record, render_value, write_request_offline
from digit_assets.engine.synthesis.requests import MAX_REQUEST_CHARS, request_problems
from digit_assets.engine.synthesis.text import find_value, is_mentionable, labelled_parameters, leaked_identifiers
from digit_assets.engine.synthesis.values import ValueFactory

TODAY = "2026-05-20"
HIDDEN_FIRST = "Every value of the hidden calls comes before the first value of the explicit calls."

ORDER_ROW = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "order_date": {"type": "string", "format": "date"},
        "total": {"type": "number"},
    },
    "required": ["order_id", "order_date", "total"],
}
CUSTOMER = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["customer_id", "name", "email"],
}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str], output: dict[str, Any]) -> ToolView:
    return ToolView(
        name=name,
        description=description,
        parameters={"type": "object", "properties": properties, "required": required},
        output_schema=output,
    )


LIST_ORDERS = _tool(
    "list_orders",
    "List the orders placed on a date.",
    {"date": {"type": "string", "format": "date"}, "status": {"type": "string", "enum": ["pending", "shipped", "delivered"]}},
    ["date"],
    {"type": "object", "properties": {"orders": {"type": "array", "minItems": 1, "items": ORDER_ROW}}, "required": ["orders"]},
)
GET_ORDER = _tool(
    "get_order",
    "Get one order by id, with its customer.",
    {"order_id": {"type": "string"}},
    ["order_id"],
    {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "total": {"type": "number"}, "customer": CUSTOMER},
        "required": ["order_id", "total", "customer"],
    },
)
CANCEL_ORDER = _tool(
    "cancel_order",
    "Cancel an order that has not shipped.",
    {
        "order_id": {"type": "string"},
        "reason": {"type": "string", "enum": ["changed_mind", "late_delivery", "duplicate_order"]},
        "notify_customer": {"type": "boolean"},
    },
    ["order_id", "reason"],
    {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}},
        "required": ["order_id", "status"],
    },
)
SEND_EMAIL = _tool(
    "send_email",
    "Send an email message.",
    {
        "email": {"type": "string", "format": "email"},
        "subject": {"type": "string"},
        "body": {"type": "string"},
        "cc": {"type": "array", "items": {"type": "string", "format": "email"}},
    },
    ["email", "subject"],
    {"type": "object", "properties": {"message_id": {"type": "string"}}, "required": ["message_id"]},
)
CREATE_REFUND = _tool(
    "create_refund",
    "Refund part or all of an order.",
    {"order_id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
    ["order_id", "amount"],
    {
        "type": "object",
        "properties": {"refund_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["refund_id", "amount"],
    },
)
GET_CUSTOMER = _tool(
    "get_customer",
    "Get a customer's profile.",
    {"customer_id": {"type": "string"}},
    ["customer_id"],
    CUSTOMER,
)
TOOLS = [LIST_ORDERS, GET_ORDER, CANCEL_ORDER, SEND_EMAIL, CREATE_REFUND, GET_CUSTOMER]


def _link(src_tool: str, src_field: str, dst_tool: str, dst_param: str) -> Link:
    return Link(src_tool=src_tool, src_field=src_field, dst_tool=dst_tool, dst_param=dst_param)


LINKS = [
    _link("list_orders", "orders[].order_id", "get_order", "order_id"),
    _link("list_orders", "orders[].order_id", "cancel_order", "order_id"),
    _link("list_orders", "orders[].order_id", "create_refund", "order_id"),
    _link("get_order", "order_id", "cancel_order", "order_id"),
    _link("get_order", "order_id", "create_refund", "order_id"),
    _link("get_order", "customer.email", "send_email", "email"),
    _link("get_order", "customer.customer_id", "get_customer", "customer_id"),
    _link("get_customer", "email", "send_email", "email"),
]
SCENARIO = Scenario(namespace="shop", tools=TOOLS, links=LINKS, persona="Jane Doe, nurse at Acme Corp in Springfield", today=TODAY)
PERSONAS = [
    "Jane Doe, nurse at Acme Corp in Springfield",
    "Omar Haddad, civil engineer at Blue Ltd in Leeds",
    "Mei Lin, teacher at North School in Perth",
    "Carlos Ruiz, chef at Casa Inc in Austin",
]

# Outputs of a first turn, for plans that continue it.
EARLIER_CALLS = [
    ExecutedCall(
        ref="$1",
        tool="list_orders",
        arguments={"date": "2026-05-03"},
        output={"orders": [{"order_id": "ORD-11111", "order_date": "2026-05-03", "total": 80.0}]},
        turn=0,
    ),
    ExecutedCall(
        ref="$2",
        tool="get_order",
        arguments={"order_id": "ORD-11111"},
        output={
            "order_id": "ORD-11111",
            "total": 80.0,
            "customer": {"customer_id": "CUS-22222", "name": "Jane Doe", "email": "jane.doe@example.com"},
        },
        turn=0,
    ),
]
EARLIER_REQUESTS = ["Please look up my order from the date 2026-05-03."]


@dataclass(frozen=True)
class Shape:
    """A plan shape: calls whose ``None`` arguments get realistic literals, and the hidden refs."""

    name: str
    calls: tuple[tuple[str, str, dict[str, Any]], ...]
    hidden: tuple[str, ...]
    optional: tuple[str, ...] = ()  # "tool.param" literals added on about half the seeds
    earlier: int = 0  # how many of EARLIER_CALLS came before (0: the first turn)
    confirmed: bool = False  # the user holds a confirmation carrying the order id of the plan


SHAPES = [
    Shape(
        "cancel from a listing",
        (("$1", "list_orders", {"date": None}), ("$2", "cancel_order", {"order_id": "$1.orders[0].order_id", "reason": None})),
        ("$1",),
        ("list_orders.status", "cancel_order.notify_customer"),
    ),
    Shape(
        "email the customer of a listed order, lookup hidden",
        (
            ("$1", "list_orders", {"date": None}),
            ("$2", "get_order", {"order_id": "$1.orders[0].order_id"}),
            ("$3", "send_email", {"email": "$2.customer.email", "subject": None}),
        ),
        ("$1", "$2"),
        ("send_email.body", "send_email.cc"),
    ),
    Shape(
        "email the customer of a listed order, lookup explicit",
        (
            ("$1", "list_orders", {"date": None}),
            ("$2", "get_order", {"order_id": "$1.orders[0].order_id"}),
            ("$3", "send_email", {"email": "$2.customer.email", "subject": None}),
        ),
        ("$1",),
        ("send_email.body",),
    ),
    Shape(
        "email through the customer profile",
        (
            ("$1", "list_orders", {"date": None}),
            ("$2", "get_order", {"order_id": "$1.orders[0].order_id"}),
            ("$3", "get_customer", {"customer_id": "$2.customer.customer_id"}),
            ("$4", "send_email", {"email": "$3.email", "subject": None}),
        ),
        ("$1", "$2"),
    ),
    Shape(
        "refund and cancel a listed order",
        (
            ("$1", "list_orders", {"date": None}),
            ("$2", "create_refund", {"order_id": "$1.orders[0].order_id", "amount": None}),
            ("$3", "cancel_order", {"order_id": "$1.orders[0].order_id", "reason": None}),
        ),
        ("$1",),
    ),
    Shape(
        "cancel an order by id and email its customer",
        (
            ("$1", "get_order", {"order_id": None}),
            ("$2", "send_email", {"email": "$1.customer.email", "subject": None}),
            ("$3", "cancel_order", {"order_id": "$1.order_id", "reason": None}),
        ),
        ("$1",),
        confirmed=True,
    ),
    Shape(
        "everything explicit",
        (
            ("$1", "list_orders", {"date": None}),
            ("$2", "get_order", {"order_id": "$1.orders[0].order_id"}),
            ("$3", "cancel_order", {"order_id": "$2.order_id", "reason": None}),
        ),
        (),
    ),
    Shape(
        "refund and email after the first turn",
        (
            ("$3", "create_refund", {"order_id": "$2.order_id", "amount": None}),
            ("$4", "send_email", {"email": "$2.customer.email", "subject": None}),
        ),
        (),
        earlier=2,
    ),
    Shape(
        "email the customer of an order listed in the first turn",
        (
            ("$2", "get_order", {"order_id": "$1.orders[0].order_id"}),
            ("$3", "send_email", {"email": "$2.customer.email", "subject": None}),
        ),
        ("$2",),
        ("send_email.body",),
        earlier=1,
    ),
]
SEEDS = range(40)


def build_plan(shape: Shape, seed: int) -> TurnPlan:
    """The shape with realistic literals drawn for ``seed`` (the way the planner draws them)."""
    rng = random.Random(seed)
    factory = ValueFactory(rng, date.fromisoformat(TODAY))
    tools = {tool.name: tool for tool in TOOLS}
    calls = []
    for ref, tool_name, arguments in shape.calls:
        properties = tools[tool_name].parameters["properties"]
        filled = dict(arguments)
        for option in shape.optional:
            option_tool, param = option.split(".")
            if option_tool == tool_name and rng.random() < 0.5:
                filled[param] = None
        for param, value in filled.items():
            if value is None:
                filled[param] = factory.value(properties[param], param)
        calls.append(PlannedCall(ref=ref, tool=tool_name, arguments=filled))
    return TurnPlan(calls=calls, hidden=list(shape.hidden))


def write(plan: TurnPlan, seed: int, *, earlier: int = 0, persona: str | None = None) -> str:
    scenario = SCENARIO if persona is None else SCENARIO.model_copy(update={"persona": persona})
    request = WriteRequestRequest(scenario=scenario, plan=plan, earlier_requests=EARLIER_REQUESTS if earlier else [])
    return write_request_offline(request, random.Random(seed)).request


def written_cases():
    for shape in SHAPES:
        for seed in SEEDS:
            plan = build_plan(shape, seed)
            yield shape, seed, plan, write(plan, seed, earlier=shape.earlier, persona=PERSONAS[seed % len(PERSONAS)])


# --- The writer ----------------------------------------------------------------------------------


def confirmation(shape: Shape, plan: TurnPlan) -> list[str]:
    """What the user saw before: the confirmation with their order number, for shapes that have one."""
    ids = [value for call in plan.calls for param, value in call.literals().items() if param == "order_id"]
    return [f"Your order {order_id} is confirmed." for order_id in ids] if shape.confirmed else []


def test_written_requests_pass_the_rules_apart_from_an_occasional_context_first_layout() -> None:
    verdicts = [request_problems(text, plan, SCENARIO, confirmation(shape, plan)) for shape, _, plan, text in written_cases()]
    assert all(problems in ([], [HIDDEN_FIRST]) for problems in verdicts), [p for p in verdicts if p not in ([], [HIDDEN_FIRST])]
    refused = sum(1 for problems in verdicts if problems) / len(verdicts)
    assert 0 < refused < 0.1  # the rule still bites: some users set the scene first


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_every_literal_is_carried_hidden_calls_included(shape: Shape) -> None:
    for seed in SEEDS:
        plan = build_plan(shape, seed)
        text = write(plan, seed, earlier=shape.earlier)
        for call in plan.calls:
            for param, value in call.literals().items():
                if is_mentionable(value):
                    assert find_value(text, value) >= 0, (call.ref, param, value, text)


def test_requests_name_no_tool_no_parameter_and_leak_no_reference() -> None:
    names = [tool.name for tool in TOOLS] + [p for tool in TOOLS for p in tool.parameters["properties"]]
    for _, _, _, text in written_cases():
        assert leaked_identifiers(text, names) == [], text
        assert "$" not in text, text
        assert len(text) < MAX_REQUEST_CHARS


def test_hidden_calls_are_not_described() -> None:
    """The verbs that would ask for a hidden call's action never appear, unless an explicit call shares them."""
    from digit_assets.engine.lexicon import parse_tool_name

    def verbs_of(tool_name: str) -> set[str]:
        name = parse_tool_name(tool_name)
        return {*ACTION_SYNONYMS.get(name.action, ()), *([name.verb] if name.verb else [])}

    for _, _, plan, written in written_cases():
        text = re.sub(r'"[^"]*"', "", written)  # quoted values are the user's data, not their wording
        explicit_verbs = {verb for call in plan.calls if call.ref not in plan.hidden for verb in verbs_of(call.tool)}
        for call in plan.calls:
            if call.ref in plan.hidden:
                for verb in verbs_of(call.tool) - explicit_verbs:
                    assert not re.search(rf"\b{verb}\b", text, re.IGNORECASE), (call.tool, verb, text)


def test_explicit_goals_are_stated_by_verb_and_object() -> None:
    plan = build_plan(SHAPES[0], 3)
    for seed in SEEDS:
        text = write(plan, seed).lower()
        assert "cancel" in text and "order" in text


def test_the_same_plan_reads_differently_across_seeds() -> None:
    plan = build_plan(SHAPES[2], 0)  # two explicit goals, one hidden lookup
    texts = {write(plan, seed, persona=PERSONAS[seed % len(PERSONAS)]) for seed in range(30)}
    assert len(texts) >= 25
    openings = {text.split()[0] for text in texts}
    assert len(openings) >= 4
    joined = " ".join(texts)
    assert "then" in joined and "after that" in joined  # several connectors


def test_voices_differ_between_personas_and_hold_within_one() -> None:
    plan = build_plan(SHAPES[0], 0)
    by_persona = {persona: {write(plan, seed, persona=persona) for seed in range(12)} for persona in PERSONAS}
    formal_marks = ("Thank you", "Would you kindly", "Could you please", "I would like")
    formal = {persona for persona, texts in by_persona.items() if any(m in t for t in texts for m in formal_marks)}
    assert 0 < len(formal) < len(PERSONAS)
    for persona in formal:  # a formal persona never sounds casual
        assert not any(t.startswith(("Hey", "Hi")) for t in by_persona[persona])


def test_later_turns_continue_the_conversation() -> None:
    shape = next(s for s in SHAPES if s.name == "refund and email after the first turn")
    for seed in SEEDS:
        plan = build_plan(shape, seed)
        text = write(plan, seed, earlier=shape.earlier)
        assert not text.startswith(("Hello", "Hi", "Hey", "Good", "Dear")), text
        assert re.search(r"\b(that|the same) (order|refund|email)\b", text), text  # the object of the earlier turn


def test_values_read_as_users_type_them() -> None:
    assert render_value("2026-05-03") == "2026-05-03" and value_shape("2026-05-03") == "date"
    assert render_value("ORD-12345") == "ORD-12345" and value_shape("ORD-12345") == "id"
    assert render_value(12.5) == "12.5"
    assert render_value("late_delivery") == '"late_delivery"'
    assert render_value('say "hi"') == "'say \"hi\"'"
    assert render_value(["a@x.com", "b@y.com", "c@z.com"]) == "a@x.com, b@y.com and c@z.com"
    items = [{"product_id": "P1", "quantity": 2}, {"product_id": "P7", "quantity": 1}]
    assert is_record(items) and not is_record([{"nested": {"a": 1}}])
    assert render_value(items) == "(product id P1, quantity 2) and (product id P7, quantity 1)"


def test_writing_is_deterministic_per_seed() -> None:
    plan = build_plan(SHAPES[3], 5)
    assert write(plan, 9) == write(plan, 9)


# --- The rules -----------------------------------------------------------------------------------

CANCEL_PLAN = TurnPlan(
    calls=[
        PlannedCall(ref="$1", tool="list_orders", arguments={"date": "2026-05-03"}),
        PlannedCall(ref="$2", tool="cancel_order", arguments={"order_id": "$1.orders[0].order_id", "reason": "late_delivery"}),
    ],
    hidden=["$1"],
)
GOOD = 'Please cancel my order with the reason "late_delivery". It\'s the one from the date 2026-05-03.'


def test_a_well_formed_request_is_accepted() -> None:
    assert request_problems(GOOD, CANCEL_PLAN, SCENARIO) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please run cancel_order with the reason late_delivery for the date 2026-05-03.", "names the tool cancel_order"),
        ('Please cancel my order, order_id unknown, reason "late_delivery", date 2026-05-03.', "names the parameter order_id"),
        ('Please cancel $1 with the reason "late_delivery" and the date 2026-05-03.', "leaks the call reference $1"),
        ('Please cancel my order with the reason "late_delivery".', "does not mention the value '2026-05-03'"),
        ('For the date 2026-05-03: please cancel my order with the reason "late_delivery".', "hidden calls comes before"),
        ("   ", "The request is empty."),
        (GOOD + " " + "x" * MAX_REQUEST_CHARS, "characters long"),
    ],
    ids=["tool name", "parameter name", "reference leak", "missing value", "hidden values first", "empty", "too long"],
)
def test_each_rule_rejects_a_crafted_bad_request(text: str, expected: str) -> None:
    problems = request_problems(text, CANCEL_PLAN, SCENARIO)
    assert any(expected in problem for problem in problems), problems


def test_the_missing_value_rule_names_the_value_and_its_call() -> None:
    problems = request_problems('Cancel my order with the reason "late_delivery".', CANCEL_PLAN, SCENARIO)
    assert problems == ["The request does not mention the value '2026-05-03' (date of the hidden call $1 list_orders)."]


def test_hidden_values_among_explicit_ones_pass_the_order_rule() -> None:
    plan = TurnPlan(
        calls=[
            PlannedCall(ref="$1", tool="list_orders", arguments={"date": "2026-05-03"}),
            PlannedCall(ref="$2", tool="create_refund", arguments={"order_id": "$1.orders[0].order_id", "amount": 20}),
            PlannedCall(ref="$3", tool="cancel_order", arguments={"order_id": "$1.orders[0].order_id", "reason": "late_delivery"}),
        ],
        hidden=["$1"],
    )
    interleaved = 'Refund 20 dollars on my order from 2026-05-03 and cancel it because "late_delivery".'
    assert request_problems(interleaved, plan, SCENARIO) == []
    first = 'About my order from 2026-05-03: refund 20 dollars and cancel it because "late_delivery".'
    assert request_problems(first, plan, SCENARIO) == [HIDDEN_FIRST]


# --- Requests a person would write: the rules on a model's typical slips ---------------------------

SEARCH_FILES = _tool(
    "search_files",
    "Search files by size and place.",
    {"min_size_bytes": {"type": "integer"}, "directory": {"type": "string"}},
    [],
    {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "object"}}}},
)
SEARCH_HOTELS = _tool(
    "search_hotels",
    "Find hotels in a city.",
    {"city": {"type": "string"}, "zip_code": {"type": "string"}},
    ["city"],
    {"type": "object", "properties": {"hotels": {"type": "array", "items": {"type": "object"}}}},
)
PLACE_HOLD = _tool(
    "place_hold",
    "Place a hold on a book for a member.",
    {"member_id": {"type": "string"}, "isbn": {"type": "string"}},
    ["member_id", "isbn"],
    {"type": "object", "properties": {"hold_id": {"type": "string"}}},
)
SLIP_SCENARIO = SCENARIO.model_copy(update={"tools": [*TOOLS, SEARCH_FILES, SEARCH_HOTELS, PLACE_HOLD], "links": LINKS})


def _one_call(tool: str, arguments: dict[str, Any]) -> TurnPlan:
    return TurnPlan(calls=[PlannedCall(ref="$1", tool=tool, arguments=arguments)])


@pytest.mark.parametrize(
    ("text", "labelled"),
    [
        ("Hotels please, the city is LISBON.", ["city"]),
        ("Hotels please, the city is İSTANBUL.", ["city"]),  # re's IGNORECASE: "İ" is "i"; lower() is not
        ("Hotels please, the city is Porto.", []),
        ("Hotels in Lisbon please.", []),
    ],
    ids=["other case", "non-ascii case", "another value", "no label"],
)
def test_a_label_is_found_in_any_case_and_only_before_a_value_given(text: str, labelled: list[str]) -> None:
    assert labelled_parameters(text, ["city"], ["Lisbon", "Istanbul"]) == labelled


@pytest.mark.parametrize(
    ("text", "plan", "expected"),
    [
        ("Call get_order with order_id O70981.", _one_call("get_order", {"order_id": "O70981"}), "names the tool get_order"),
        ("Call get_order with order_id O70981.", _one_call("get_order", {"order_id": "O70981"}), "identifier O70981, which the user has not seen"),
        ("Please set the min size bytes to 500.", _one_call("search_files", {"min_size_bytes": 500}), "parameter name 'min_size_bytes' as a label"),
        ("Search files with min size bytes 500.", _one_call("search_files", {"min_size_bytes": 500}), "parameter name 'min_size_bytes' as a label"),
        ('Find hotels using "Lisbon" as the city.', _one_call("search_hotels", {"city": "Lisbon"}), "parameter name 'city' as a label"),
        ("Hotels please, the city is Lisbon.", _one_call("search_hotels", {"city": "Lisbon"}), "parameter name 'city' as a label"),
        (
            "Place a hold where the member id is MEM-74581 for the book 9798918404849.",
            _one_call("place_hold", {"member_id": "MEM-74581", "isbn": "9798918404849"}),
            "parameter name 'member_id' as a label",
        ),
        (
            "Place a hold for me on the book 9798918404849, my card is MEM-74581.",
            _one_call("place_hold", {"member_id": "MEM-74581", "isbn": "9798918404849"}),
            "identifier MEM-74581, which the user has not seen",
        ),
        (
            "Find hotels in Lisbon; the string value for the enum is not null.",
            _one_call("search_hotels", {"city": "Lisbon"}),
            "schema word 'enum'",
        ),
        (
            "Pay with pm_3e73fb and find hotels in Lisbon.",
            _one_call("search_hotels", {"city": "Lisbon"}),
            "identifier pm_3e73fb",
        ),
    ],
    ids=[
        "tool call", "unseen id", "set the param to", "param words before value", "value as the param",
        "the param is", "where the member id is", "id in prose", "schema words", "payment token",
    ],
)
def test_a_models_slips_are_rejected_with_their_reason(text: str, plan: TurnPlan, expected: str) -> None:
    problems = request_problems(text, plan, SLIP_SCENARIO)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("text", "plan", "seen"),
    [
        ("Find hotels in Lisbon, my zip code is 1200-195.", _one_call("search_hotels", {"city": "Lisbon", "zip_code": "1200-195"}), []),
        ("Search for files of at least 500 bytes.", _one_call("search_files", {"min_size_bytes": 500}), []),
        ('Cancel my order because "late_delivery", the one from May 3, 2026.', CANCEL_PLAN, []),
        (
            "Can you pull up order O70981 again?",
            _one_call("get_order", {"order_id": "O70981"}),
            ["Show me my orders.", "You have one order, O70981, placed on May 3."],
        ),
    ],
    ids=["own zip code", "a size in words", "a spelled date", "an id the assistant told the user"],
)
def test_what_people_write_passes(text: str, plan: TurnPlan, seen: list[str]) -> None:
    assert request_problems(text, plan, SLIP_SCENARIO, seen) == []


def test_a_plan_needing_an_identifier_the_user_never_saw_is_refused_even_if_the_text_hides_it() -> None:
    """The value must be carried, and carrying it reveals an id the user cannot know: a lookup must find it."""
    plan = _one_call("get_order", {"order_id": "77120"})
    problems = request_problems("Look up order 77120.", plan, SLIP_SCENARIO)
    assert any("a lookup must discover it" in problem for problem in problems), problems
    told = ["Your order number is 77120."]
    assert request_problems("Look up order 77120.", plan, SLIP_SCENARIO.model_copy(update={"persona": f"Ann, who got this: {told[0]}"})) == []


def test_written_requests_name_no_parameter_and_vary_their_sentence_plans() -> None:
    cases = list(written_cases())
    texts = [text for _, _, _, text in cases]
    params = {param for tool in TOOLS for param in tool.parameters["properties"]}
    for _, _, plan, text in cases:
        values = [value for call in plan.calls for value in call.literals().values()]
        assert labelled_parameters(text, params, values) == [], text
    starts = {
        "question": sum("?" in text for text in texts),
        "need": sum(bool(re.search(r"\bI (need|'d like|want|have) to\b", text)) for text in texts),
        "context first": sum(bool(re.search(r"\b(Quick question about|I'm sorting out|It's about|Something came up)", text)) for text in texts),
    }
    assert all(count > 0 for count in starts.values()), starts


# --- A person writes as themselves, states settings and counts in words --------------------------

NOTIFY_PLAN = TurnPlan(
    calls=[PlannedCall(ref="$1", tool="cancel_order", arguments={"order_id": "O70981", "reason": "late_delivery", "notify_customer": True})]
)
SEEN_ORDER = ["Your order O70981 is pending."]
REMOVE_MEMBER = _tool(
    "remove_user_from_group",
    "Remove a user from a group.",
    {"user_id": {"type": "string"}, "group": {"type": "string"}},
    ["user_id", "group"],
    {"type": "object", "properties": {"removed": {"type": "boolean"}}},
)
ADMIN_SCENARIO = SCENARIO.model_copy(update={"tools": [*TOOLS, REMOVE_MEMBER]})
LIST_PLAN = _one_call("list_orders", {"date": "2026-05-03", "limit": 1})
LIMITED = LIST_ORDERS.model_copy(
    update={"parameters": {**LIST_ORDERS.parameters, "properties": {**LIST_ORDERS.parameters["properties"], "limit": {"type": "integer"}}}}
)
LIMIT_SCENARIO = SCENARIO.model_copy(update={"tools": [LIMITED, *TOOLS[1:]]})


@pytest.mark.parametrize(
    ("text", "scenario", "plan", "expected"),
    [
        ('The user wants to cancel order O70981 because "late_delivery" and notify the customer.', SCENARIO, NOTIFY_PLAN, "third person"),
        ('Cancel order O70981 on behalf of the user because "late_delivery", and notify the customer.', SCENARIO, NOTIFY_PLAN, "third person"),
        ("Show the user's orders from 2026-05-03, just the first one.", LIMIT_SCENARIO, LIST_PLAN, "third person"),
        ('Cancel an order the user owns, O70981, because "late_delivery" and notify the customer.', SCENARIO, NOTIFY_PLAN, "third person"),
        ('Cancel order O70981 because "late_delivery" with notify customer turned on.', SCENARIO, NOTIFY_PLAN, "as a switch"),
        ('Cancel order O70981 because "late_delivery", notify_customer set to true.', SCENARIO, NOTIFY_PLAN, "as a switch"),
        ('Cancel order O70981 because "late_delivery" with notify customer enabled.', SCENARIO, NOTIFY_PLAN, "as a switch"),
        ("List my orders from 2026-05-03, just the first 1.", LIMIT_SCENARIO, LIST_PLAN, "counts like a machine"),
        ("List my orders from 2026-05-03, up to 1 of them.", LIMIT_SCENARIO, LIST_PLAN, "counts like a machine"),
    ],
    ids=["the user wants", "on behalf of the user", "the user's orders", "an order the user owns", "turned on", "set to true", "enabled", "the first 1", "up to 1 of them"],
)
def test_narrators_switches_and_machine_counts_are_rejected(text: str, scenario: Scenario, plan: TurnPlan, expected: str) -> None:
    problems = request_problems(text, plan, scenario, SEEN_ORDER)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("text", "scenario", "plan"),
    [
        ('Please cancel order O70981 because "late_delivery" and notify the customer.', SCENARIO, NOTIFY_PLAN),
        ('Cancel my order O70981 because "late delivery", and notify the customer please.', SCENARIO, NOTIFY_PLAN),
        ("List my orders from 2026-05-03, just the first one.", LIMIT_SCENARIO, LIST_PLAN),
        ("Show me only the latest one of my orders from May 3, 2026.", LIMIT_SCENARIO, LIST_PLAN),
        (
            'Please remove the user USR-10442 from the group "editors".',
            ADMIN_SCENARIO,
            _one_call("remove_user_from_group", {"user_id": "USR-10442", "group": "editors"}),
        ),
        (
            "Please check the user's email for me, it's on order O70981.",
            ADMIN_SCENARIO,
            _one_call("get_order", {"order_id": "O70981"}),
        ),
    ],
    ids=["notify in words", "a choice in words", "just the first one", "only the latest one", "remove the user from a group", "a user account's email"],
)
def test_first_person_requests_with_settings_and_counts_in_words_pass(text: str, scenario: Scenario, plan: TurnPlan) -> None:
    seen = [*SEEN_ORDER, "User USR-10442 is in the group editors."]
    assert request_problems(text, plan, scenario, seen) == []


def test_written_requests_say_settings_choices_and_counts_in_words() -> None:
    plan = TurnPlan(
        calls=[
            PlannedCall(ref="$1", tool="list_orders", arguments={"date": "2026-05-03", "limit": 5}),
            PlannedCall(ref="$2", tool="cancel_order", arguments={"order_id": "$1.orders[0].order_id", "reason": "late_delivery", "notify_customer": False}),
        ],
        hidden=["$1"],
    )
    for seed in range(40):
        text = write_request_offline(WriteRequestRequest(scenario=LIMIT_SCENARIO, plan=plan, earlier_requests=[], earlier_calls=[]), random.Random(seed)).request
        assert '"late delivery"' in text and "late_delivery" not in text, text
        assert re.search(r"\bfive\b", text) and not re.search(r"\b5\b", text), text
        assert "without notifying the customer" in text and not re.search(r"turned|enabled|disabled|true|false", text), text
        assert request_problems(text, plan, LIMIT_SCENARIO) in ([], [HIDDEN_FIRST]), text


def test_the_writer_does_not_take_a_specs_narrator_for_the_person_asking() -> None:
    """A description written about "the user" ("Cancel an order the user owns") is no goal a person states."""
    narrated = CANCEL_ORDER.model_copy(update={"description": "Cancel an order the user owns."})
    scenario = SCENARIO.model_copy(update={"tools": [narrated if tool is CANCEL_ORDER else tool for tool in TOOLS]})
    for seed in range(40):
        request = WriteRequestRequest(scenario=scenario, plan=NOTIFY_PLAN, earlier_requests=SEEN_ORDER, earlier_calls=[])
        text = write_request_offline(request, random.Random(seed)).request
        assert "the user" not in text.lower(), text
        assert not any("third person" in problem for problem in request_problems(text, NOTIFY_PLAN, scenario, SEEN_ORDER)), text
