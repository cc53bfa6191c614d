"""Generated values fit their fields' meaning: person names, companies, products, places, moments in
order, amounts in range; the same object keeps its values across a conversation."""

from __future__ import annotations

import random
import re
from datetime import date, datetime
from typing import Any

import pytest

from digit_assets.engine.offline.simulator import simulate_tool_offline
from digit_assets.engine.synthesis.model import ExecutedCall, ToolView
from digit_assets.engine.synthesis.roles import SimulateToolRequest
from digit_assets.engine.synthesis.values import NOTE_FORMS, ValueFactory, faker_pool, status_choices

TODAY = date(2026, 5, 20)
FIRST_NAMES = set(faker_pool("first_name"))
LAST_NAMES = set(faker_pool("last_name"))
COMPANIES = set(faker_pool("company"))
CITIES = set(faker_pool("city"))
CATCH_PHRASES = set(faker_pool("catch_phrase"))  # "Virtual object-oriented artificial intelligence"


def values(name: str, schema: dict[str, Any] | None = None, n: int = 40) -> list[Any]:
    factory = ValueFactory(random.Random(name), TODAY)
    return [factory.value(schema or {"type": "string"}, name) for _ in range(n)]


@pytest.mark.parametrize("name", ["first_name", "firstName", "given_name"])
def test_first_names_are_first_names(name):
    assert set(values(name)) <= FIRST_NAMES


@pytest.mark.parametrize("name", ["last_name", "lastName", "surname", "family_name"])
def test_last_names_are_last_names(name):
    assert set(values(name)) <= LAST_NAMES


@pytest.mark.parametrize("name", ["full_name", "customer_name", "contact_name", "name", "assignee"])
def test_full_names_are_two_or_more_capitalised_words(name):
    for value in values(name):
        words = value.split()
        assert len(words) >= 2 and all(w[0].isupper() for w in words if w[0].isalpha()), value
        assert value not in CATCH_PHRASES, value


@pytest.mark.parametrize("name", ["company", "company_name", "vendor", "publisher", "account_name"])
def test_companies_are_companies(name):
    assert set(values(name)) <= COMPANIES


def test_products_hotels_and_branches_are_named_like_things_not_people():
    for value in values("product_name") + values("item_name"):
        assert value.split()[0] not in FIRST_NAMES and len(value.split()) >= 2 and value.split()[-1][0].isupper(), value
    assert all(value.split()[-1] in ("Hotel", "Inn", "Suites", "Lodge", "Resort") for value in values("hotel_name"))
    assert all(value.endswith(" Branch") for value in values("branch_name"))


def test_emails_phones_cities_and_flight_numbers_look_like_them():
    assert all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", v) for v in values("email"))
    assert all(sum(c.isdigit() for c in v) >= 10 for v in values("phone"))
    assert set(values("city")) <= CITIES
    assert all(re.fullmatch(r"[A-Z]{2}\d{3,4}", v) for v in values("flight_number"))


@pytest.mark.parametrize("name", ["start", "end", "start_time", "ends_at"])
def test_slot_bounds_are_moments_never_words(name):
    for value in values(name):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}", value) or datetime.fromisoformat(value.replace("Z", "+00:00")), value


def test_a_spelling_pattern_keeps_the_meaning():
    owners = values("owner", {"type": "string", "pattern": "^[a-z]+$"})
    assert {o.title() for o in owners} <= FIRST_NAMES
    files = values("file_name", {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"})
    assert all("." in f and re.fullmatch(r"[A-Za-z0-9_.-]+", f) for f in files)


def test_amounts_stay_in_their_range():
    assert all(5 <= v <= 500 for v in values("price", {"type": "number"}))
    assert all(10 <= v <= 20 for v in values("total", {"type": "number", "minimum": 10, "maximum": 20}))
    assert all(1 <= v <= 5 for v in values("quantity", {"type": "integer"}))


# --- In simulated outputs: a generic "name" or "title" is named by its object ---------------------------

PRODUCT = {
    "type": "object",
    "properties": {"product_id": {"type": "string"}, "name": {"type": "string"}, "price": {"type": "number", "minimum": 0}},
    "required": ["product_id", "name", "price"],
}
LIST_PRODUCTS = ToolView(
    name="list_products",
    description="Products in a category.",
    parameters={"type": "object", "properties": {"category": {"type": "string"}}},
    output_schema={"type": "object", "properties": {"products": {"type": "array", "items": PRODUCT}}, "required": ["products"]},
)
GET_PRODUCT = ToolView(
    name="get_product",
    description="One product.",
    parameters={"type": "object", "properties": {"product_id": {"type": "string"}}, "required": ["product_id"]},
    output_schema=PRODUCT,
)
SLOTS = ToolView(
    name="find_free_slots",
    description="Free slots in a calendar.",
    parameters={"type": "object", "properties": {"calendar_id": {"type": "string"}}, "required": ["calendar_id"]},
    output_schema={
        "type": "object",
        "properties": {
            "slots": {
                "type": "array",
                "items": {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}, "required": ["start", "end"]},
            }
        },
        "required": ["slots"],
    },
)


def simulate(tool: ToolView, arguments: dict[str, Any], history: list[ExecutedCall], seed: int) -> dict[str, Any]:
    request = SimulateToolRequest(tool=tool, arguments=arguments, history=history, today=TODAY.isoformat())
    return simulate_tool_offline(request, random.Random(seed)).output


def test_listed_products_are_named_like_products_and_keep_their_values_when_fetched():
    for seed in range(20):
        listed = simulate(LIST_PRODUCTS, {"category": "kitchen"}, [], seed)
        history = [ExecutedCall(ref="$1", tool="list_products", arguments={"category": "kitchen"}, output=listed, turn=0)]
        for product in listed["products"]:
            assert product["name"].split()[0] not in FIRST_NAMES, product
        first = listed["products"][0]
        fetched = simulate(GET_PRODUCT, {"product_id": first["product_id"]}, history, seed)
        assert (fetched["name"], fetched["price"]) == (first["name"], first["price"])


def test_a_slot_starts_before_it_ends():
    for seed in range(20):
        for slot in simulate(SLOTS, {"calendar_id": "CAL-1"}, [], seed)["slots"]:
            assert datetime.fromisoformat(slot["start"]) < datetime.fromisoformat(slot["end"]), slot


def test_titles_subjects_and_paths_read_like_them():
    assert not set(values("title") + values("ticket_subject") + values("event_title")) & CATCH_PHRASES
    assert set(values("contact_title")) <= set(faker_pool("job"))  # a contact's title is a job, not a book
    assert all(v.split()[0] in ("Problem", "Question", "Cannot", "Refund", "Error", "Change", "Missing") for v in values("ticket_subject"))
    assert all(re.fullmatch(r"/home/[a-z]+(/[a-z0-9]+)*", v) for v in values("directory"))
    described = {"type": "string", "description": "Absolute directory path", "pattern": "^/([a-z0-9_.-]+(/[a-z0-9_.-]+)*)?$"}
    assert all(v.startswith("/home/") for v in values("destination", described))
    file_name = {"type": "string", "description": "File name with extension", "pattern": "^[A-Za-z0-9_.-]+$"}
    assert all(re.fullmatch(r"[a-z]+\.[a-z0-9]+", v) for v in values("new_name", file_name))
    assert all(v[0].isupper() and v.endswith(("renewal", "expansion", "pilot", "upgrade", "licences", "contract")) for v in values("opportunity_name"))


def test_free_text_reads_like_a_person_wrote_it():
    """Notes and messages are short plain sentences, not strings of random words ("Small call eye practice.")."""
    english = set(re.findall(r"[a-z]+", " ".join(NOTE_FORMS).lower()))
    for seed in range(60):
        factory = ValueFactory(random.Random(seed), date(2026, 5, 20))
        for name in ("description", "message_body", "notes", "resolution"):
            text = factory.value({"type": "string"}, name)
            assert re.fullmatch(r"[A-Z][^\n]{8,80}[.?!]", text), text
            assert len(set(re.findall(r"[a-z]+", text.lower())) - english) <= 3, text  # slots: a name, a city, a thing
        keyword = factory.value({"type": "string"}, "query")
        assert len(keyword) >= 5 and keyword not in ("three", "everything", "something", "through"), keyword


def test_a_status_fits_its_object():
    factory = ValueFactory(random.Random(0), date(2026, 5, 20))
    assert {factory.value({"type": "string"}, "order_status") for _ in range(30)} <= {"pending", "shipped", "delivered"}
    assert {factory.value({"type": "string"}, "ticket_status") for _ in range(30)} <= {"open", "pending", "resolved"}
    assert status_choices("event") == ("confirmed", "pending") and status_choices("widget") == ()
