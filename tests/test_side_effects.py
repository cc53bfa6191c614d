"""Side-effect classes: taken from the source where it says so, inferred from the name otherwise,
overridable in the spec, stored in the catalog."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.side_effects import SideEffectProblem, classify, inferred_side_effect
from digit_assets.engine.specs import ToolSpec
from digit_assets.engine.synthesis.model import PlannedCall
from digit_assets.engine.synthesis.planning import choose_hidden
from digit_assets.engine.synthesis.rollout import Catalog
from digit_assets.store import Store, insert_rows
from digit_assets.store.catalog import load_tool_specs, tool_spec_row

OBJECT = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}


def _ingest(tmp_path: Path, file_name: str, content: str) -> dict[str, tuple[str, str]]:
    path = tmp_path / file_name
    path.write_text(content, encoding="utf-8")
    result = ingest_file(path, tmp_path)
    return {tool.name: (tool.side_effect, tool.side_effect_origin) for tool in result.tools} | {
        f"rejected:{rejection.item}": ("", rejection.reason) for rejection in result.rejections
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get_order", "read_only"), ("listAccounts", "read_only"), ("search_files", "read_only"),
        ("order_status", "read_only"), ("getOrderDetails", "read_only"), ("ls", "read_only"),
        ("place_order", "state_changing"), ("cancel_hold", "state_changing"), ("move_file", "state_changing"),
        ("trash_file", "state_changing"), ("respond_to_invitation", "state_changing"), ("mkdir", "state_changing"),
    ],
)
def test_the_name_verb_decides_when_the_source_says_nothing(name: str, expected: str) -> None:
    assert inferred_side_effect(name) == expected
    assert classify(name) == (expected, "inferred")


def test_mcp_annotations_are_declared_classes(tmp_path: Path) -> None:
    tools = [
        # a name that reads like a write, declared read-only by its server
        {"name": "create_report_preview", "inputSchema": OBJECT, "annotations": {"readOnlyHint": True}},
        {"name": "get_or_reset_token", "inputSchema": OBJECT, "annotations": {"destructiveHint": True}},
        {"name": "sync_mailbox", "inputSchema": OBJECT, "annotations": {"readOnlyHint": False}},
        {"name": "get_quota", "inputSchema": OBJECT},
    ]
    classes = _ingest(tmp_path, "mail.mcp.json", json.dumps({"tools": tools}))
    assert classes == {
        "create_report_preview": ("read_only", "declared"),
        "get_or_reset_token": ("state_changing", "declared"),
        "sync_mailbox": ("state_changing", "declared"),
        "get_quota": ("read_only", "inferred"),
    }


def test_openapi_methods_decide_and_an_operation_can_override(tmp_path: Path) -> None:
    response = {"200": {"description": "ok", "content": {"application/json": {"schema": OBJECT}}}}
    body = {"required": True, "content": {"application/json": {"schema": OBJECT}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/orders/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"operationId": "fetchOrder", "responses": response},
                "delete": {"operationId": "orderDetails", "responses": response},
            },
            # a search sent as POST (a query too long for a URL) reads; the spec says so
            "/orders/search": {"post": {"operationId": "searchOrders", "x-side-effect": "read_only", "requestBody": body, "responses": response}},
            "/orders": {"post": {"operationId": "submitOrder", "requestBody": body, "responses": response}},
        },
    }
    classes = _ingest(tmp_path, "shop.openapi.yaml", yaml.safe_dump(document))
    assert classes == {
        "fetchOrder": ("read_only", "http_method"),
        "orderDetails": ("state_changing", "http_method"),  # DELETE, whatever the name says
        "searchOrders": ("read_only", "override"),
        "submitOrder": ("state_changing", "http_method"),
    }


def test_function_docs_say_it_in_words_or_override_it(tmp_path: Path) -> None:
    docs = [
        {"name": "sync_calendar", "description": "Read-only: compares two calendars.", "parameters": {"type": "dict", "properties": {}}},
        {"name": "fetch_and_purge", "description": "Fetches the log; this cannot be undone.", "parameters": {"type": "dict", "properties": {}}},
        {"name": "get_session", "description": "Opens a session.", "side_effect": "state_changing", "parameters": {"type": "dict", "properties": {}}},
        {"name": "list_things", "description": "Lists things.", "parameters": {"type": "dict", "properties": {}}},
    ]
    classes = _ingest(tmp_path, "misc.bfcl.jsonl", "\n".join(json.dumps(doc) for doc in docs))
    assert classes == {
        "sync_calendar": ("read_only", "description"),
        "fetch_and_purge": ("state_changing", "description"),
        "get_session": ("state_changing", "override"),
        "list_things": ("read_only", "inferred"),
    }
    wrapped = [{"type": "function", "x-side-effect": "read-only", "function": {"name": "book_preview", "parameters": OBJECT}}]
    assert _ingest(tmp_path, "tools.json", json.dumps(wrapped)) == {"book_preview": ("read_only", "override")}


def test_an_override_naming_no_class_rejects_the_tool_with_its_value(tmp_path: Path) -> None:
    tools = [
        {"name": "get_a", "inputSchema": OBJECT, "x-side-effect": "sometimes"},
        {"name": "get_b", "inputSchema": OBJECT},
    ]
    classes = _ingest(tmp_path, "odd.mcp.json", json.dumps({"tools": tools}))
    assert classes["get_b"] == ("read_only", "inferred")
    assert "get_a" not in classes
    assert "side-effect override 'sometimes' is not one of read_only, state_changing" in classes["rejected:get_a"][1]
    with pytest.raises(SideEffectProblem):
        classify("get_a", holders=[{"side_effect": True}])


def test_the_catalog_stores_the_class_and_its_origin(tmp_path: Path) -> None:
    provenance = Provenance(run_id="r", seed=1, config_hash="h")
    declared = ToolSpec(
        namespace="shop", name="create_report_preview", parameters=OBJECT, source_file="shop.mcp.json",
        source_format="mcp", position="[0]", side_effect="read_only", side_effect_origin="declared",
    )
    older = ToolSpec(namespace="shop", name="cancel_order", parameters=OBJECT, source_file="shop.mcp.json", source_format="mcp", position="[1]")
    store = Store(tmp_path / "store.duckdb")
    with store.connect() as conn:
        insert_rows(conn, "tool_specs", [tool_spec_row(declared, provenance), tool_spec_row(older, provenance)])
        # a row written before the class existed comes back with the class its name implies
        conn.execute("UPDATE tool_specs SET side_effect = NULL, side_effect_origin = NULL WHERE name = 'cancel_order'")
        stored = conn.execute("SELECT name, side_effect, side_effect_origin FROM tool_specs ORDER BY name").fetchall()
        loaded = {spec.name: (spec.side_effect, spec.side_effect_origin) for spec in load_tool_specs(conn, {"shop.mcp.json"})}
    assert stored == [("cancel_order", None, None), ("create_report_preview", "read_only", "declared")]
    assert loaded == {"cancel_order": ("state_changing", "inferred"), "create_report_preview": ("read_only", "declared")}


def test_the_catalog_class_not_the_name_decides_what_may_be_hidden() -> None:
    """A server declares its 'create_report_preview' read-only and its 'get_or_reset_token' destructive:
    the hidden calls follow the declaration."""
    def enriched(name: str, side_effect: str) -> EnrichedTool:
        spec = ToolSpec(
            namespace="ops", name=name, parameters=OBJECT, source_file="ops.mcp.json", source_format="mcp",
            position="[0]", side_effect=side_effect, side_effect_origin="declared",
        )
        return EnrichedTool(spec=spec, output_schema=OBJECT, output_origin="declared", llm="-")

    catalog = Catalog.build([enriched("create_report_preview", "read_only"), enriched("get_or_reset_token", "state_changing"), enriched("send_report", "state_changing")], [])
    views = {view.name: view for view in catalog.tools["ops"]}
    assert views["create_report_preview"].read_only and not views["get_or_reset_token"].read_only
    plan = [
        PlannedCall(ref="$1", tool="create_report_preview", arguments={"id": "R-1"}),
        PlannedCall(ref="$2", tool="get_or_reset_token", arguments={"id": "$1.id"}),
        PlannedCall(ref="$3", tool="send_report", arguments={"id": "$2.id"}),
    ]
    assert {tuple(choose_hidden(plan, random.Random(seed), views)) for seed in range(30)} == {("$1",)}
