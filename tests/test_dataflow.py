"""The data-flow graph: a hand-built catalog whose edges and non-edges are known in advance."""

from __future__ import annotations

import json

import pytest

from digit_assets.engine.dataflow import (
    MATCH_SCORES,
    DataflowEdge,
    SchemaField,
    build_dataflow_graph,
    graph_edges,
    graph_stats,
    input_params,
    output_fields,
    producers_for,
    types_compatible,
)
from digit_assets.engine.enrich import EnrichedTool, enrich_tools
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.specs import ToolSpec
from digit_assets.store import Store, insert_rows
from digit_assets.store.catalog import load_dataflow_edges

STRING = {"type": "string"}
STATES = {"type": "string", "enum": ["open", "shipped"]}


def _obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required)}


def _tool(namespace: str, name: str, params: dict, output: dict) -> EnrichedTool:
    spec = ToolSpec(
        namespace=namespace,
        name=name,
        parameters=_obj(params),
        output_schema=output,
        source_file=f"{namespace}.json",
        source_format="openai",
        position=name,
    )
    return EnrichedTool(spec=spec, output_schema=output, output_origin="declared", llm="-")


CATALOG = [
    _tool(
        "shop",
        "search_customers",
        {"query": STRING},
        _obj({"customers": {"type": "array", "items": _obj({"id": STRING, "email": {"type": "string", "format": "email"}})}}),
    ),
    _tool(
        "shop",
        "list_orders",
        {"customer_id": STRING},
        _obj(
            {
                "orders": {
                    "type": "array",
                    "items": _obj(
                        {
                            "order_id": STRING,
                            "customer_id": STRING,
                            "order_state": STATES,
                            "customer": _obj({"email": {"type": "string", "format": "email"}}),
                        }
                    ),
                },
                "total": {"type": "integer"},
            }
        ),
    ),
    _tool("shop", "get_order", {"order_id": STRING}, _obj({"order_id": STRING, "status": STRING, "eta": {"type": "string", "format": "date"}})),
    _tool("shop", "getOrderInvoice", {"orderId": STRING}, _obj({"invoiceId": {"type": "integer"}})),
    _tool("shop", "get_customer", {"id": STRING}, _obj({"id": STRING, "name": STRING})),
    _tool("shop", "send_receipt", {"email": STRING}, _obj({"sent": {"type": "boolean"}})),
    _tool("shop", "email_customer", {"customer_email": STRING}, _obj({"sent": {"type": "boolean"}})),
    _tool("shop", "count_orders", {"customer_id": {"type": "integer"}, "status": STRING}, _obj({"count": {"type": "integer"}})),
    _tool("shop", "list_by_state", {"order_state": {"type": "string", "enum": ["shipped", "returned"]}}, _obj({"n": {"type": "integer"}})),
    _tool("shop", "list_returns", {"order_state": {"type": "string", "enum": ["returned"]}}, _obj({"n": {"type": "integer"}})),
    _tool("shop", "track_by_eta", {"eta": {"type": "string", "format": "date-time"}}, _obj({"n": {"type": "integer"}})),
    _tool("shop", "get_invoice", {"invoice_id": {"type": "number"}}, _obj({"amount": {"type": "number"}})),
    _tool("shop", "ping", {}, _obj({"ok": {"type": "boolean"}})),
    _tool("travel", "refund_order", {"order_id": STRING}, _obj({"refund_id": STRING})),
    _tool("travel", "search_flights", {"origin": STRING}, _obj({"flights": {"type": "array", "items": _obj({"flight_id": STRING})}})),
    _tool("travel", "book_flight", {"flight_id": STRING}, _obj({"booking_id": STRING})),
]


@pytest.fixture(scope="module")
def graph():
    return build_dataflow_graph(CATALOG)


def _edges(graph) -> dict[tuple[str, str, str, str], DataflowEdge]:
    return {(e.src_tool, e.src_field, e.dst_tool, e.dst_param): e for e in graph_edges(graph)}


@pytest.mark.parametrize(
    ("src_tool", "src_field", "dst_tool", "dst_param", "kind"),
    [
        ("list_orders", "orders[].order_id", "get_order", "order_id", "exact"),
        ("get_order", "order_id", "getOrderInvoice", "orderId", "normalized"),
        ("list_orders", "orders[].order_id", "getOrderInvoice", "orderId", "normalized"),
        ("search_customers", "customers[].id", "list_orders", "customer_id", "entity_id"),
        ("search_customers", "customers[].id", "get_customer", "id", "entity_id"),
        ("list_orders", "orders[].customer_id", "get_customer", "id", "entity_id"),
        ("get_customer", "id", "list_orders", "customer_id", "entity_id"),
        ("list_orders", "orders[].customer.email", "email_customer", "customer_email", "compound"),
        ("list_orders", "orders[].customer.email", "send_receipt", "email", "leaf"),
        ("search_customers", "customers[].email", "send_receipt", "email", "leaf"),
        ("list_orders", "orders[].order_state", "list_by_state", "order_state", "exact"),
        ("getOrderInvoice", "invoiceId", "get_invoice", "invoice_id", "normalized"),
        ("search_flights", "flights[].flight_id", "book_flight", "flight_id", "exact"),
    ],
)
def test_known_edges(graph, src_tool, src_field, dst_tool, dst_param, kind):
    edge = _edges(graph)[(src_tool, src_field, dst_tool, dst_param)]
    assert edge.match_kind == kind
    assert edge.score == MATCH_SCORES[kind]
    namespace = "travel" if src_tool.endswith("flights") else "shop"
    assert edge.namespace == namespace
    assert graph.has_edge(f"{namespace}.{src_tool}", f"{namespace}.{dst_tool}", key=f"{src_field} -> {dst_param}")


@pytest.mark.parametrize(
    ("src_tool", "dst_tool", "why"),
    [
        ("search_customers", "count_orders", "a string id cannot fill an integer parameter"),
        ("list_orders", "count_orders", "string customer_id vs integer; status is a generic name"),
        ("list_orders", "list_returns", "the enums do not overlap"),
        ("get_order", "track_by_eta", "a date is not a date-time"),
        ("get_order", "refund_order", "different namespaces"),
        ("list_orders", "refund_order", "different namespaces"),
        ("get_order", "get_customer", "an order's id is not a customer's"),
        ("search_customers", "get_order", "no customer field names an order"),
    ],
)
def test_known_non_edges(graph, src_tool, dst_tool, why):
    assert all((e.src_tool, e.dst_tool) != (src_tool, dst_tool) for e in graph_edges(graph)), why


def test_an_integer_feeds_a_number_but_not_the_other_way():
    integer, number = SchemaField("a", frozenset({"integer"})), SchemaField("a", frozenset({"number"}))
    assert types_compatible(integer, number)
    assert not types_compatible(number, integer)
    assert _edges(build_dataflow_graph(CATALOG))[("getOrderInvoice", "invoiceId", "get_invoice", "invoice_id")]


def test_a_free_string_cannot_fill_an_enum_parameter():
    free, closed = SchemaField("s", frozenset({"string"})), SchemaField("s", frozenset({"string"}), enum=("a",))
    assert not types_compatible(free, closed)
    assert types_compatible(closed, free)


def test_no_self_loops(graph):
    # list_orders echoes customer_id, which it also takes: feeding it back discovers nothing.
    assert all(src != dst for src, dst in graph.edges())


def test_nodes_carry_namespace_and_name(graph):
    assert graph.nodes["shop.get_order"] == {"namespace": "shop", "name": "get_order"}
    assert graph.number_of_nodes() == len(CATALOG)


def test_graph_edges_round_trip_through_the_store(graph, tmp_path):
    edges = graph_edges(graph)
    provenance = {"run_id": "r", "seed": 0, "config_hash": "h"}
    with Store(tmp_path / "s.duckdb").transaction() as conn:
        insert_rows(conn, "dataflow_edges", [{**edge.model_dump(), **provenance} for edge in edges])
        assert load_dataflow_edges(conn) == edges


def test_producers_for_lists_the_best_sources_first(graph):
    producers = producers_for(graph, "shop.get_customer", "id")
    assert {(e.src_tool, e.src_field) for e in producers} == {
        ("search_customers", "customers[].id"),
        ("list_orders", "orders[].customer_id"),
    }
    assert [e.score for e in producers] == sorted((e.score for e in producers), reverse=True)
    assert producers_for(graph, "shop.ping", "anything") == []


def test_stats_count_components_isolates_and_producers(graph):
    stats = graph_stats(graph)
    assert stats["tools"] == len(CATALOG)
    assert stats["edges"] == len(graph_edges(graph))
    isolated = ["shop.count_orders", "shop.list_returns", "shop.ping", "shop.track_by_eta", "travel.refund_order"]
    assert stats["isolated_tools"] == len(isolated)
    assert stats["isolated_examples"] == isolated
    assert stats["producers"] == 6  # search_customers, list_orders, get_order, get_customer, getOrderInvoice, search_flights
    assert stats["components"] == 7  # shop's connected core + 4 isolated shop tools; travel's pair + refund_order
    travel = stats["namespaces"]["travel"]
    assert travel == {
        "tools": 3,
        "linked_tools": 2,
        "linked_share": 0.667,
        "edges": 1,
        "tool_pairs": 1,
        "components": 2,
        "isolated_tools": 1,
        "producers": 1,
        "consumers": 1,
    }
    assert stats["components"] == sum(ns["components"] for ns in stats["namespaces"].values())
    assert json.loads(json.dumps(stats)) == stats  # serializable as asset metadata


# --- Fields and parameters --------------------------------------------------------------------------


def test_output_fields_flatten_nested_objects_arrays_refs_and_unions():
    schema = {
        "type": "object",
        "$defs": {"Comment": _obj({"text": STRING, "replies": {"type": "array", "items": {"$ref": "#/$defs/Comment"}}})},
        "properties": {
            "orders": {"type": "array", "items": _obj({"id": {"type": "integer"}, "customer": _obj({"email": {"type": "string", "format": "email"}})})},
            "tags": {"type": "array", "items": STRING},
            "note": {"anyOf": [STRING, {"type": "null"}]},
            "state": {"type": "string", "enum": ["a", "b"]},
            "thread": {"$ref": "#/$defs/Comment"},
        },
    }
    fields = {f.path: f for f in output_fields(schema)}
    assert list(fields) == [
        "orders",
        "orders[].id",
        "orders[].customer",
        "orders[].customer.email",
        "tags",
        "tags[]",
        "note",
        "state",
        "thread",
        "thread.text",
        "thread.replies",
    ]
    assert fields["orders"].type_label == "array"
    assert fields["orders[].id"].type_label == "integer"
    assert fields["orders[].customer.email"].format == "email"
    assert fields["tags"].item_types == {"string"}
    assert fields["note"].type_label == "string"  # null is not a type a value can flow as
    assert fields["state"].enum == ("a", "b")


def test_input_params_are_the_top_level_properties():
    params = input_params(_obj({"order_id": STRING, "filter": _obj({"status": STRING}), "free": {}}))
    assert [(p.path, p.type_label) for p in params] == [("order_id", "string"), ("filter", "object"), ("free", "any")]


def test_offline_enrichment_yields_a_connected_namespace():
    specs = [
        ToolSpec(
            namespace="shop",
            name=name,
            parameters=_obj(params),
            source_file="shop.json",
            source_format="openai",
            position=name,
        )
        for name, params in [
            ("get_customer_by_email", {"email": STRING}),
            ("list_orders", {"customer_id": STRING}),
            ("get_order", {"order_id": STRING}),
            ("cancel_order", {"order_id": STRING, "reason": STRING}),
        ]
    ]
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=1)
    edges = _edges(build_dataflow_graph(enriched))
    assert ("get_customer_by_email", "customer_id", "list_orders", "customer_id") in edges
    assert ("list_orders", "orders[].order_id", "get_order", "order_id") in edges
    assert ("list_orders", "orders[].order_id", "cancel_order", "order_id") in edges
    assert graph_stats(build_dataflow_graph(enriched))["components"] == 1
