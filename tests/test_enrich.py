"""Output-schema enrichment: the offline inference, and the rules every LLM's answer must pass."""

from __future__ import annotations

import json
import random

import pytest
from jsonschema import Draft202012Validator

from digit_assets.engine.enrich import EnrichedTool, enrich_tools
from digit_assets.engine.offline.output_schema import infer_output_schema_offline
from digit_assets.engine.lexicon import normalize_name, parse_tool_name, pluralize, singularize
from digit_assets.engine.synthesis import roles
from digit_assets.engine.offline.dispatch import OfflineLLM, default_offline_llm
from digit_assets.engine.synthesis.roles import OutputSchemaRequest, OutputSchemaResponse
from digit_assets.engine.specs import ToolSpec


def _params(properties: dict | None = None, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties or {}, "required": list(required)}


def _infer(name: str, properties: dict | None = None, required: tuple[str, ...] = (), description: str = "") -> dict:
    request = OutputSchemaRequest(tool_name=name, description=description, parameters=_params(properties, required))
    return infer_output_schema_offline(request, random.Random(0)).output_schema


def _spec(name: str, properties: dict | None = None, *, output_schema: dict | None = None, namespace: str = "shop") -> ToolSpec:
    return ToolSpec(
        namespace=namespace,
        name=name,
        description="",
        parameters=_params(properties),
        output_schema=output_schema,
        source_file=f"{namespace}.json",
        source_format="openai",
        position=f"[{name}]",
    )


STRING = {"type": "string"}


# --- Words ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        ("orders", "order"),
        ("categories", "category"),
        ("addresses", "address"),
        ("statuses", "status"),
        ("boxes", "box"),
        ("people", "person"),
        ("analyses", "analysis"),
        ("matches", "match"),
        ("news", "news"),
        ("data", "data"),
    ],
)
def test_singular_and_plural_round_trip(plural, singular):
    assert singularize(plural) == singular
    assert pluralize(singular) == plural


@pytest.mark.parametrize("word", ["status", "address", "analysis", "bus", "alias", "business", "order"])
def test_singular_words_stay_singular(word):
    assert singularize(word) == word


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("orderId", "order_id"), ("OrderID", "order_id"), ("order_id", "order_id"), ("HTTPGetUser", "http_get_user")],
)
def test_normalize_name_joins_every_naming_style(name, normalized):
    assert normalize_name(name) == normalized


@pytest.mark.parametrize(
    ("name", "action", "entity", "collection"),
    [
        ("list_orders", "list", ("order",), True),
        ("search_flights", "list", ("flight",), True),
        ("getOrderDetails", "get", ("order",), False),
        ("get_all_categories", "list", ("category",), True),
        ("create_ticket", "create", ("ticket",), False),
        ("updateShippingAddress", "update", ("shipping", "address"), False),
        ("cancel_booking", "state", ("booking",), False),
        ("delete_user", "delete", ("user",), False),
        ("orders_list", "list", ("order",), True),
        ("list_orders_by_customer", "list", ("order",), True),
        ("calculate_shipping_cost", "other", ("shipping", "cost"), False),
    ],
)
def test_tool_names_parse_into_action_and_entity(name, action, entity, collection):
    parsed = parse_tool_name(name)
    assert (parsed.action, parsed.entity, parsed.collection) == (action, entity, collection)


# --- The offline inference --------------------------------------------------------------------------


def test_list_returns_an_array_of_entities_echoing_filters_and_a_total():
    schema = _infer(
        "list_orders",
        {"customer_id": STRING, "status": {"type": "string", "enum": ["open", "shipped"]}, "limit": {"type": "integer"}},
        required=("customer_id",),
    )
    assert schema["required"] == ["orders", "total"]
    assert schema["properties"]["total"]["type"] == "integer"
    item = schema["properties"]["orders"]["items"]
    assert item["type"] == "object"
    assert item["properties"]["order_id"] == STRING
    assert item["properties"]["customer_id"] == STRING  # the filter is echoed, so the id flows on
    assert item["properties"]["status"]["enum"] == ["open", "shipped"]
    assert "limit" not in item["properties"]  # pagination says nothing about an order
    assert {"order_id", "customer_id"} <= set(item["required"])
    assert "status" not in item["required"]  # an optional filter is not promised back


def test_search_maps_range_filters_onto_the_field_they_bound():
    schema = _infer(
        "search_flights",
        {"origin": STRING, "destination": STRING, "min_price": {"type": "number"}, "max_price": {"type": "number"}, "query": STRING},
        required=("origin", "destination"),
    )
    item = schema["properties"]["flights"]["items"]
    assert item["properties"]["flight_id"] == STRING
    assert item["properties"]["price"] == {"type": "number"}
    assert "min_price" not in item["properties"] and "max_price" not in item["properties"]
    assert "name" in item["properties"]  # a free-text search matches on something readable
    assert {"flight_id", "origin", "destination"} <= set(item["required"])


def test_get_reuses_the_id_parameter_name_and_type():
    schema = _infer("get_order", {"order_id": {"type": "integer", "minimum": 1}}, required=("order_id",))
    assert schema["properties"]["order_id"] == {"type": "integer"}
    assert "order_id" in schema["required"]


def test_camel_case_tool_and_parameters_give_camel_case_fields():
    schema = _infer("getOrderDetails", {"orderId": STRING}, required=("orderId",), description="The order's status and price.")
    assert set(schema["properties"]) == {"orderId", "status", "price"}
    assert schema["properties"]["price"] == {"type": "number"}
    listing = _infer("listOrderItems", {"orderId": STRING})
    item = listing["properties"]["orderItems"]["items"]
    assert {"orderItemId", "orderId", "createdAt"} <= set(item["properties"])
    assert item["properties"]["createdAt"] == {"type": "string", "format": "date-time"}


def test_get_by_lookup_key_discovers_the_entity_id():
    schema = _infer("get_customer_by_email", {"email": {"type": "string", "format": "email"}}, required=("email",))
    assert schema["properties"]["customer_id"] == STRING
    assert schema["properties"]["email"] == {"type": "string", "format": "email"}
    assert {"customer_id", "email"} <= set(schema["required"])


def test_create_returns_the_new_id_a_status_and_a_timestamp():
    schema = _infer("create_ticket", {"title": STRING, "customer_id": STRING}, required=("title", "customer_id"))
    assert schema["properties"]["ticket_id"] == STRING
    assert schema["properties"]["status"] == STRING
    assert schema["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    assert schema["properties"]["customer_id"] == STRING
    assert set(schema["required"]) == {"ticket_id", "status", "created_at", "customer_id"}


def test_booking_an_existing_thing_creates_a_booking():
    schema = _infer("book_flight", {"flight_id": STRING, "passenger_name": STRING}, required=("flight_id",))
    assert {"booking_id", "flight_id", "status", "created_at"} <= set(schema["properties"])


def test_update_echoes_the_id_and_the_new_values():
    schema = _infer("update_order", {"order_id": STRING, "shipping_address": STRING}, required=("order_id",))
    assert {"order_id", "status", "updated_at", "shipping_address"} == set(schema["properties"])
    assert {"order_id", "status", "updated_at"} == set(schema["required"])


def test_cancel_reports_the_cancelled_state():
    schema = _infer("cancel_booking", {"booking_id": {"type": "integer"}, "reason": STRING}, required=("booking_id",))
    assert schema["properties"]["booking_id"] == {"type": "integer"}
    assert schema["properties"]["status"] == {"type": "string", "enum": ["cancelled"]}
    assert schema["properties"]["cancelled_at"]["format"] == "date-time"


def test_delete_reports_deleted():
    schema = _infer("delete_user", {"user_id": STRING}, required=("user_id",))
    assert schema["properties"] == {"user_id": STRING, "deleted": {"type": "boolean"}}
    assert set(schema["required"]) == {"user_id", "deleted"}


def test_a_bare_id_parameter_is_kept_as_is():
    schema = _infer("get_order", {"id": STRING}, required=("id",))
    assert schema["properties"]["id"] == STRING
    assert "order_id" not in schema["properties"]


def test_a_sub_resource_is_identified_by_its_owner():
    schema = _infer("get_user_profile", {"user_id": STRING}, required=("user_id",))
    assert "user_id" in schema["required"]
    assert "user_profile_id" not in schema["properties"]


def test_an_unknown_verb_returns_the_named_quantity():
    schema = _infer("calculate_shipping_cost", {"order_id": STRING}, required=("order_id",))
    assert schema["properties"]["shipping_cost"] == {"type": "number"}
    assert schema["properties"]["order_id"] == STRING


def test_descriptions_name_fields_and_mass_nouns_get_no_id():
    schema = _infer("get_weather", {"city": STRING}, required=("city",), description="Current temperature and humidity.")
    assert set(schema["properties"]) == {"city", "temperature", "humidity"}
    assert schema["properties"]["temperature"] == {"type": "number"}


CORPUS = [
    ("list_orders", {"customer_id": STRING, "page": {"type": "integer"}}),
    ("getOrderDetails", {"orderId": STRING}),
    ("search_flights", {"origin": STRING, "departure_date": {"type": "string", "format": "date"}}),
    ("create_ticket", {"title": STRING}),
    ("updateTicket", {"ticketId": {"type": "integer"}, "tags": {"type": "array", "items": STRING}}),
    ("cancel_order", {"order_id": STRING}),
    ("delete_file", {"path": STRING}),
    ("validate_address", {"address": {"type": "object", "properties": {"city": STRING}, "required": ["city"]}}),
    ("convert_currency", {"amount": {"type": "number"}, "from": STRING, "to": STRING}),
    ("checkout", {"cart_id": STRING}),
    ("weather", {}),
    ("orders", {}),
    ("get_by_id", {"id": {"type": ["string", "null"]}}),
    ("x", {"untyped": {}}),
    ("GET_V2_USERS", {}),
]


@pytest.mark.parametrize(("name", "properties"), CORPUS)
def test_every_inferred_schema_is_a_valid_object_schema(name, properties):
    schema = _infer(name, properties, description="Returns the status, price and url.")
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["properties"], f"{name} got an empty result"
    assert set(schema["required"]) <= set(schema["properties"])


def test_inference_is_deterministic_whatever_the_random_state():
    request = OutputSchemaRequest(tool_name="list_orders", description="Orders with price.", parameters=_params({"customer_id": STRING}))
    answers = {infer_output_schema_offline(request, random.Random(seed)).model_dump_json() for seed in range(5)}
    assert len(answers) == 1


# --- enrich_tools -----------------------------------------------------------------------------------


def _llm_answering(schema: dict) -> OfflineLLM:
    return OfflineLLM({roles.INFER_OUTPUT_SCHEMA.name: lambda request, rng: OutputSchemaResponse(output_schema=schema)})


def test_declared_schemas_are_kept_and_the_others_inferred():
    declared = {"type": "object", "properties": {"order_id": STRING}, "required": ["order_id"]}
    specs = [_spec("get_order", {"order_id": STRING}, output_schema=declared), _spec("list_orders")]
    enriched, rejections = enrich_tools(specs, default_offline_llm(), seed=3)
    assert rejections == []
    by_name = {tool.spec.name: tool for tool in enriched}
    assert by_name["get_order"] == EnrichedTool(spec=specs[0], output_schema=declared, output_origin="declared", llm="-")
    assert by_name["list_orders"].output_origin == "inferred"
    assert by_name["list_orders"].llm == "offline"
    assert "orders" in by_name["list_orders"].output_schema["properties"]


def test_declared_schemas_never_reach_the_llm():
    declared = {"type": "object", "properties": {}}
    enriched, rejections = enrich_tools([_spec("ping", output_schema=declared)], OfflineLLM({}), seed=0)
    assert [tool.output_origin for tool in enriched] == ["declared"] and rejections == []


def test_enrichment_is_deterministic_and_independent_of_order():
    specs = [_spec(name, {"order_id": STRING}) for name in ("get_order", "cancel_order", "list_orders", "create_order")]
    first, _ = enrich_tools(specs, default_offline_llm(), seed=11)
    again, _ = enrich_tools(list(reversed(specs)), default_offline_llm(), seed=11)
    assert sorted(t.model_dump_json() for t in first) == sorted(t.model_dump_json() for t in again)


def test_the_llm_seed_depends_on_the_tool_not_on_its_position():
    seen: dict[str, float] = {}

    def handler(request: OutputSchemaRequest, rng: random.Random) -> OutputSchemaResponse:
        seen[request.tool_name] = rng.random()
        return OutputSchemaResponse(output_schema={"type": "object"})

    llm = OfflineLLM({roles.INFER_OUTPUT_SCHEMA.name: handler})
    enrich_tools([_spec("a"), _spec("b")], llm, seed=5)
    first = dict(seen)
    enrich_tools([_spec("b")], llm, seed=5)
    assert seen["b"] == first["b"]
    enrich_tools([_spec("b")], llm, seed=6)
    assert seen["b"] != first["b"]


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "strng"}, "not a valid JSON Schema"),
        ({"type": "object", "required": "order_id"}, "not a valid JSON Schema"),
        ({"type": "array", "items": {"type": "string"}}, "not 'object'"),
        ({"properties": {"order_id": STRING}}, "not 'object'"),
    ],
)
def test_an_invalid_inferred_schema_is_rejected_with_the_reason(schema, reason):
    spec = _spec("get_order", {"order_id": STRING})
    enriched, rejections = enrich_tools([spec, _spec("ping", output_schema={"type": "object"})], _llm_answering(schema), seed=1)
    assert [tool.spec.name for tool in enriched] == ["ping"]
    [rejection] = rejections
    assert rejection.stage == "enrichment"
    assert rejection.source == "shop.json"
    assert rejection.item == "shop.get_order"
    assert rejection.position == spec.position
    assert rejection.reason.startswith("inferred output schema")
    assert reason in rejection.reason
    assert rejection.raw == json.dumps(schema)


def test_a_declared_schema_that_is_not_an_object_is_rejected():
    spec = _spec("list_names", output_schema={"type": "array", "items": STRING})
    enriched, [rejection] = enrich_tools([spec], default_offline_llm(), seed=1)
    assert enriched == []
    assert rejection.reason.startswith("declared output schema") and "not 'object'" in rejection.reason


def test_an_llm_error_becomes_a_rejection():
    enriched, [rejection] = enrich_tools([_spec("get_order")], OfflineLLM({}), seed=1)
    assert enriched == []
    assert rejection.stage == "enrichment" and rejection.item == "shop.get_order"
    assert "output schema inference failed" in rejection.reason
    assert "no handler" in rejection.reason


# --- Declared output schemas without ``required`` --------------------------------------------------


def test_a_declared_schema_without_required_gets_its_properties_required_at_every_level():
    declared = {
        "type": "object",
        "properties": {
            "current_directory_content": {"type": "array", "items": STRING},
            "entries": {"type": "array", "items": {"type": "object", "properties": {"name": STRING, "size": {"type": "integer"}}}},
        },
    }
    [tool], rejections = enrich_tools([_spec("ls", output_schema=declared)], OfflineLLM({}), seed=0)
    assert rejections == [] and tool.output_origin == "declared"
    assert tool.output_schema["required"] == ["current_directory_content", "entries"]
    assert tool.output_schema["properties"]["entries"]["items"]["required"] == ["name", "size"]
    assert tool.spec.output_schema == declared  # the source's schema is kept as written
    assert "required" not in declared


def test_a_schema_that_says_required_anywhere_keeps_its_optional_fields():
    declared = {
        "type": "object",
        "properties": {"order": {"type": "object", "properties": {"note": STRING}}, "order_id": STRING},
        "required": ["order_id"],
    }
    [tool], _ = enrich_tools([_spec("get_order", output_schema=declared)], OfflineLLM({}), seed=0)
    assert tool.output_schema == declared


def test_a_property_named_required_is_not_the_keyword():
    declared = {"type": "object", "properties": {"required": {"type": "boolean"}, "reason": STRING}}
    [tool], _ = enrich_tools([_spec("check_visa", output_schema=declared)], OfflineLLM({}), seed=0)
    assert tool.output_schema["required"] == ["required", "reason"]


def test_a_recursive_property_stays_optional_so_instances_stay_finite():
    declared = {
        "type": "object",
        "properties": {"comment": {"$ref": "#/$defs/comment"}},
        "$defs": {"comment": {"type": "object", "properties": {"text": STRING, "parent": {"$ref": "#/$defs/comment"}}}},
    }
    [tool], _ = enrich_tools([_spec("get_comment", output_schema=declared)], OfflineLLM({}), seed=0)
    assert tool.output_schema["required"] == ["comment"]
    assert tool.output_schema["$defs"]["comment"]["required"] == ["text"]
    Draft202012Validator.check_schema(tool.output_schema)
