"""Tool-spec ingestion: every format normalized into ToolSpecs, every kind of bad input turned into rejections."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from digit_assets import settings
from digit_assets.engine.ingest.openapi import merge_object_all_of
from digit_assets.engine.ingest import (
    SPEC_SUFFIXES,
    IngestResult,
    ingest_file,
    namespace_for,
    resolve_namespace_conflicts,
)

DATA = Path(__file__).parent / "data"
GOOD = DATA / "specs_good"
BAD = DATA / "specs_bad"
SHIPPED = settings.PROJECT_ROOT / "specs"
OUR_SAMPLES = {
    "calendar.openai.json": "openai",
    "library.bfcl.jsonl": "bfcl",
    "helpdesk.mcp.json": "mcp",
    "crm.openapi.yaml": "openapi",
}


def ingest(root: Path, relative: str, **options: Any) -> IngestResult:
    return ingest_file(root / relative, root, **options)


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def by_name(result: IngestResult) -> dict[str, Any]:
    return {tool.name: tool for tool in result.tools}


def rejection_for(result: IngestResult, position: str) -> str:
    """The reason of the one rejection at ``position``."""
    reasons = [rejection.reason for rejection in result.rejections if rejection.position == position]
    assert len(reasons) == 1, (position, [r.reason for r in result.rejections])
    return reasons[0]


def contains_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return "$ref" in value or any(contains_ref(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_ref(item) for item in value)
    return False


def test_all_of_with_conflicting_members_is_left_as_written() -> None:
    conflicting = {"allOf": [
        {"type": "object", "properties": {"id": {"type": "string"}}},
        {"type": "object", "properties": {"id": {"type": "integer"}}},
    ]}
    assert merge_object_all_of(conflicting) == conflicting
    mixed = {"allOf": [{"type": "object", "properties": {}}, {"type": "string"}]}
    assert merge_object_all_of(mixed) == mixed


def output_field_names(schema: Any) -> set[str]:
    """Every property name anywhere in an output schema (through items and allOf)."""
    names: set[str] = set()
    if isinstance(schema, dict):
        for name, child in (schema.get("properties") or {}).items():
            names |= {name} | output_field_names(child)
        names |= output_field_names(schema.get("items"))
        for branch in schema.get("allOf", []):
            names |= output_field_names(branch)
    return names


# --- OpenAI --------------------------------------------------------------------------------------


def test_openai_json_list_of_wrapped_functions() -> None:
    result = ingest(SHIPPED, "calendar.openai.json")
    assert (result.format, result.namespace, result.file_error, result.rejections) == ("openai", "calendar", None, [])
    tools = by_name(result)
    event = tools["get_event"]
    assert event.qualified_name == "calendar.get_event"
    assert event.parameters["required"] == ["event_id"]
    assert event.position == "index 2" and event.source_format == "openai" and event.source_file == "calendar.openai.json"
    assert all(tool.output_schema is None for tool in result.tools)
    assert tools["list_calendars"].parameters["properties"]["include_shared"]["default"] is True


def test_openai_jsonl_mixes_wrapped_and_bare_functions() -> None:
    result = ingest(GOOD, "weather.openai.jsonl")
    assert result.format == "openai" and result.rejections == []
    tools = by_name(result)
    assert [tool.position for tool in result.tools] == ["line 1", "line 3", "line 4"]  # line 2 is blank
    assert tools["geocode_city"].output_schema["required"] == ["latitude", "longitude"]  # "output_schema"
    assert tools["get_forecast"].output_schema["properties"]["days"]["type"] == "array"  # "returns"
    alerts = tools["list_weather_alerts"]
    assert alerts.parameters == {"type": "object", "properties": {}}
    assert alerts.output_schema is None


def test_openai_bare_functions_under_a_tools_key(tmp_path: Path) -> None:
    bare = {"name": "ping", "description": "Check the service is up."}
    wrapped = {"type": "function", "function": {"name": "echo", "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}
    write(tmp_path, "svc.json", json.dumps({"tools": [bare, wrapped]}))
    result = ingest(tmp_path, "svc.json")
    assert result.format == "openai" and result.rejections == []
    assert [(tool.name, tool.position) for tool in result.tools] == [("ping", "tools[0]"), ("echo", "tools[1]")]
    assert result.tools[0].openai_tool()["function"]["parameters"] == {"type": "object", "properties": {}}


# --- BFCL ----------------------------------------------------------------------------------------


def test_bfcl_types_are_normalized_and_dotted_names_renamed() -> None:
    result = ingest(GOOD, "mathlib.bfcl.jsonl")
    assert result.format == "bfcl" and result.rejections == []
    tools = by_name(result)
    assert set(tools) == {"math_factorial", "geometry_distance", "stats_mean"}
    assert tools["math_factorial"].position == "line 1 (original name 'math.factorial')"
    assert tools["stats_mean"].position == "line 3"
    distance = tools["geometry_distance"]
    point = distance.parameters["properties"]["point_a"]
    assert point == {"type": "array", "items": {"type": "number"}, "description": "First point (x, y)."}
    options = distance.parameters["properties"]["options"]
    assert options["type"] == "object"
    # "any" drops the type keyword; a property that is *named* type is still there.
    assert options["properties"]["type"] == {"description": "A property that happens to be called type."}
    assert distance.output_schema == {
        "type": "object",
        "properties": {"distance": {"type": "number"}, "extra": {"type": ["number", "null"]}},
    }
    assert tools["math_factorial"].output_schema == {"type": "object", "properties": {"result": {"type": "integer"}}}
    assert tools["stats_mean"].output_schema is None


# --- MCP -----------------------------------------------------------------------------------------


def test_mcp_tools_list_result() -> None:
    result = ingest(SHIPPED, "helpdesk.mcp.json")
    assert (result.format, result.rejections) == ("mcp", [])
    ticket = by_name(result)["get_ticket"]
    assert ticket.position == "tools[3]"
    assert ticket.parameters["required"] == ["ticket_id"]
    assert "messages" in ticket.output_schema["properties"]


def test_mcp_json_rpc_envelope() -> None:
    result = ingest(GOOD, "notes.mcp.json")
    assert (result.format, result.rejections) == ("mcp", [])
    tools = by_name(result)
    assert tools["notes_search"].position == "result.tools[0] (original name 'notes/search')"
    assert tools["get_note"].output_schema is None
    assert tools["get_note"].description == "Read one note."


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_yaml_refs_are_inlined_and_30_schemas_converted() -> None:
    result = ingest(SHIPPED, "crm.openapi.yaml")
    assert (result.format, result.namespace, result.rejections) == ("openapi", "crm", [])
    tools = by_name(result)
    assert not any(contains_ref(tool.parameters) or contains_ref(tool.output_schema) for tool in result.tools)
    accounts = tools["listAccounts"]
    assert accounts.position == "GET /accounts"
    assert set(accounts.parameters["properties"]) == {"industry", "owner_email", "limit"}  # X-Request-Id is a header
    assert accounts.output_schema["properties"]["accounts"]["items"]["properties"]["account_id"]["pattern"] == "^ACC-[0-9]{6}$"
    # A path-level $ref parameter, described by the parameter rather than by its shared schema.
    account_id = tools["getAccount"].parameters["properties"]["account_id"]
    assert account_id["description"] == "The account, as returned by listAccounts."
    assert tools["getAccount"].parameters["required"] == ["account_id"]
    # A $ref request body merged into the arguments with its required list.
    contact = tools["createContact"].parameters
    assert contact["required"] == ["account_id", "first_name", "last_name", "email"]
    assert contact["properties"]["phone"]["type"] == ["string", "null"]  # nullable: true
    amount = tools["createOpportunity"].parameters["properties"]["amount"]
    assert amount["exclusiveMinimum"] == 0 and "minimum" not in amount  # exclusiveMinimum: true
    assert tools["getAccount"].description == "Get an account\n\nThe account's full record, including its owner and yearly revenue."


def test_openapi_json_operations_bodies_and_responses() -> None:
    result = ingest(GOOD, "petstore.openapi.json")
    assert (result.format, result.rejections) == ("openapi", [])
    tools = by_name(result)
    assert set(tools) == {"listPets", "pets_create", "replacePet", "patchPet", "delete_pets_pet_id", "tagPet"}

    list_pets = tools["listPets"]
    assert list_pets.parameters == {
        "type": "object",
        "properties": {"species": {"type": "string", "enum": ["cat", "dog", "rabbit"]}},
        "required": ["species"],
    }  # header and cookie parameters skipped
    assert list_pets.output_schema["type"] == "array"  # 200, the lowest 2xx, not 201

    assert tools["pets_create"].position == "POST /pets (original name 'pets.create')"
    assert tools["pets_create"].parameters["required"] == ["name", "species"]
    created = tools["pets_create"].output_schema  # allOf of two objects, folded into one
    assert created["required"] == ["name", "species", "pet_id"]
    assert list(created["properties"]) == ["name", "species", "birth_date", "pet_id"] and "allOf" not in created

    replace = tools["replacePet"]
    assert list(replace.parameters["properties"]) == ["pet_id", "verbose", "name", "species", "birth_date"]
    assert replace.parameters["properties"]["pet_id"] == {"type": "string", "format": "uuid", "description": "The pet to replace."}
    assert replace.parameters["required"] == ["pet_id", "name", "species"]  # +json body merged
    assert replace.parameters["properties"]["birth_date"]["type"] == ["string", "null"]  # 3.1: left as written
    assert replace.output_schema is not None  # application/json; charset=utf-8

    patch = tools["patchPet"]
    assert patch.parameters["properties"]["body"]["properties"].keys() == {"pet_id", "name"}  # collides with the path
    assert patch.parameters["required"] == ["pet_id"]  # the body is optional

    delete = tools["delete_pets_pet_id"]
    assert delete.output_schema is None and delete.description == "Delete a pet"

    tag = tools["tagPet"]
    assert tag.parameters["properties"]["body"] == {"type": "array", "items": {"type": "string"}, "minItems": 1}
    assert tag.parameters["required"] == ["pet_id", "body"]
    assert tag.output_schema is None  # text/plain only


def test_openapi_ref_failures_reject_only_their_operation() -> None:
    result = ingest(BAD, "refs.openapi.yaml")
    assert result.file_error is None
    assert [tool.name for tool in result.tools] == ["listFolders"]
    assert "unresolvable $ref '#/components/schemas/Missing'" in rejection_for(result, "GET /folders/{folder_id}")
    tree = rejection_for(result, "GET /folders/{folder_id}/tree")
    assert "cyclic $ref: #/components/schemas/TreeNode -> #/components/schemas/TreeNode" in tree
    owner = rejection_for(result, "GET /folders/{folder_id}/owner")
    assert "#/components/schemas/Owner -> #/components/schemas/Team -> #/components/schemas/Owner" in owner
    assert "getFolderOwner" in owner and "refs.openapi.yaml" in owner
    external = rejection_for(result, "GET /folders/{folder_id}/acl")
    assert "common.yaml#/components/schemas/Acl" in external and "other documents" in external
    assert "multipart/form-data" in rejection_for(result, "POST /uploads")


# --- Bad input -----------------------------------------------------------------------------------


def test_invalid_json_is_a_file_error_with_one_rejection() -> None:
    result = ingest(BAD, "broken.json")
    assert result.format is None and result.tools == []
    assert result.file_error is not None and result.file_error.startswith("invalid JSON at line 3")
    [rejection] = result.rejections
    assert rejection.reason == f"broken.json: {result.file_error}"
    assert rejection.position == "line 3" and "trailing_comma" in (rejection.raw or "")
    data = (BAD / "broken.json").read_bytes()
    assert (result.sha256, result.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))


def test_invalid_yaml_is_a_file_error_with_one_rejection() -> None:
    result = ingest(BAD, "broken.yaml")
    assert result.tools == [] and len(result.rejections) == 1
    assert result.file_error is not None and result.file_error.startswith("invalid YAML at line 9")
    assert result.rejections[0].raw == "     responses:"


def test_partly_bad_openai_file_keeps_its_valid_tools() -> None:
    result = ingest(BAD, "bad_openai.openai.json")
    assert result.file_error is None
    assert [tool.name for tool in result.tools] == ["create_invoice", "send_invoice"]
    expected = {
        "index 1": "parameters is not a valid JSON Schema: 'zero' is not of type 'number' (at $.properties.amount.minimum)",
        "index 2": "missing name",
        "index 3": "duplicate name 'create_invoice' in namespace 'bad_openai': already defined at index 0",
        "index 4": "name 'list invoices' does not match",
        "index 5": "parameters must be a schema of type 'object', not 'array'",
        "index 6": "description must be a string, not number",
        "index 7": "parameters has an unresolvable $ref '#/$defs/Address'",
        "index 8": "output schema is not a valid JSON Schema",
        "index 9": "tool type 'web_search' is not 'function'",
    }
    for position, problem in expected.items():
        reason = rejection_for(result, position)
        assert reason.startswith("bad_openai.openai.json: tool ")
        assert problem in reason
    assert rejection_for(result, "index 1").startswith("bad_openai.openai.json: tool 'bad_minimum' at index 1: ")
    assert rejection_for(result, "index 2").startswith("bad_openai.openai.json: tool at index 2: ")
    for rejection in result.rejections:
        assert (rejection.stage, rejection.source) == ("ingestion", "bad_openai.openai.json")
        assert rejection.raw and json.loads(rejection.raw)  # the offending entry, as JSON


def test_partly_bad_bfcl_file() -> None:
    result = ingest(BAD, "bad_bfcl.bfcl.jsonl")
    assert result.format == "bfcl"
    assert [(tool.name, tool.position) for tool in result.tools] == [
        ("convert_currency", "line 1 (original name 'convert.currency')"),
        ("latest_rate", "line 6"),
    ]
    duplicate = rejection_for(result, "line 2")
    assert "duplicate name 'convert_currency'" in duplicate and "line 1 (original name 'convert.currency')" in duplicate
    assert "invalid JSON at column" in rejection_for(result, "line 3")
    assert "'HashMap' is not valid" in rejection_for(result, "line 4")
    assert "must be a JSON object, not array" in rejection_for(result, "line 5")


def test_jsonl_with_no_valid_line_is_a_file_error(tmp_path: Path) -> None:
    write(tmp_path, "junk.jsonl", "not json\n{also not\n")
    result = ingest(tmp_path, "junk.jsonl")
    assert result.file_error == (
        "no line is valid JSON (line 1: invalid JSON at column 1: Expecting value (detected format: JSON Lines))"
    )
    assert len(result.rejections) == 1


def test_oversized_file_is_not_parsed(tmp_path: Path) -> None:
    content = json.dumps([{"name": f"tool_{index}"} for index in range(200)])
    write(tmp_path, "big.openai.json", content)
    result = ingest(tmp_path, "big.openai.json", max_bytes=1_000)
    assert result.format is None and result.tools == []
    assert result.file_error == f"the file is {len(content):,} bytes, over the 1,000-byte limit; nothing was parsed"
    assert result.sha256 == hashlib.sha256(content.encode()).hexdigest() and result.size_bytes == len(content)
    assert [rejection.raw for rejection in result.rejections] == [None]
    assert len(ingest(tmp_path, "big.openai.json").tools) == 200  # under the default limit


@pytest.mark.parametrize(
    ("file_name", "content", "problem"),
    [
        ("notes.json", '{"name": "release-notes", "entries": []}', "unknown format: an object with keys (name, entries)"),
        ("list.yaml", "- apples\n- pears\n", "unknown format: a list of 2 entries none of which looks like a tool"),
        ("scalar.yaml", "just some text\n", "unknown format: a JSON string"),
        ("old.json", '{"swagger": "2.0", "paths": {}}', "Swagger 2.0 documents are not supported"),
        ("v4.yaml", "openapi: 4.0.0\npaths: {}\n", "OpenAPI version '4.0.0' is not supported"),
        ("error.json", '{"jsonrpc": "2.0", "id": 1, "error": {"code": -32601}}', "without a result.tools list"),
        ("empty.json", "  \n", "the file is empty"),
        ("latin1.json", "[{\"name\": \"caf\xe9\"}]".encode("latin-1"), "not UTF-8 text"),
        ("nan.json", '[{"name": "x", "parameters": {"type": "object", "default": NaN}}]', "NaN is not valid JSON"),
    ],
)
def test_unusable_files_get_a_file_error(tmp_path: Path, file_name: str, content: str | bytes, problem: str) -> None:
    write(tmp_path, file_name, content)
    result = ingest(tmp_path, file_name)
    assert result.file_error is not None and problem in result.file_error
    assert result.tools == [] and len(result.rejections) == 1
    assert result.rejections[0].reason == f"{file_name}: {result.file_error}"


@pytest.mark.parametrize(
    "content",
    [
        '{"openapi": "3.0.0", "paths": []}',
        '{"openapi": "3.0.0", "paths": {"/x": {"get": 5}}}',
        '{"openapi": "3.0.0", "paths": {"/x": {"get": {"parameters": "nope", "responses": []}}}}',
        '{"openapi": "3.0.0", "paths": {"/x": {"get": {"parameters": [{"in": "query"}]}}}}',
        '{"openapi": "3.0.0", "paths": {"/x": {"$ref": "#/nowhere"}}}',
        '{"openapi": "3.0.0", "paths": {"/x": {"post": {"requestBody": {"content": []}, "summary": 3}}}}',
        '{"openapi": "3.0.0", "paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/a"}}}}}, "a": {"$ref": "#/a"}}',
        '[{"type": "function", "function": "x"}, {"function": {"name": 7}}, {"name": "y", "parameters": [1]}]',
        '{"tools": [{"inputSchema": 3}, {"name": "z", "inputSchema": {"type": "object"}, "outputSchema": true}]}',
        '[{"name": "deep", "parameters": {"type": "dict", "properties": "oops"}}]',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_malformed_documents_never_raise(tmp_path: Path, content: str) -> None:
    write(tmp_path, "odd.json", content)
    result = ingest(tmp_path, "odd.json")
    assert result.file_error is not None or result.rejections
    assert all(rejection.reason.startswith("odd.json: ") for rejection in result.rejections)


def test_recursive_yaml_alias_is_rejected_not_raised(tmp_path: Path) -> None:
    document = (
        "openapi: 3.0.0\npaths:\n  /x:\n    get:\n      responses:\n        '200':\n          description: ok\n"
        "          content:\n            application/json:\n              schema: &loop\n"
        "                type: object\n                properties:\n                  child: *loop\n"
    )
    write(tmp_path, "loop.yaml", document)
    result = ingest(tmp_path, "loop.yaml")
    assert result.tools == [] and result.file_error is not None
    assert "an alias refers to a node that contains it" in result.file_error


def test_raw_snippets_are_truncated(tmp_path: Path) -> None:
    entry = {"name": "huge", "description": "x" * 10_000, "parameters": {"type": "object", "required": "oops"}}
    write(tmp_path, "huge.openai.json", json.dumps([entry]))
    [rejection] = ingest(tmp_path, "huge.openai.json").rejections
    assert rejection.raw is not None and len(rejection.raw) == 2_000


# --- Namespaces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative_path", "namespace"),
    [
        ("retail.mcp.json", "retail"),
        ("vendors/Acme-CRM.openapi.yaml", "vendors_acme_crm"),
        ("crm.yaml", "crm"),
        ("Team Tools/v2.0/api.spec.json", "team_tools_v2_0_api"),  # only the file name has extensions
        (".hidden.json", "hidden"),
    ],
)
def test_namespace_for(relative_path: str, namespace: str) -> None:
    assert namespace_for(relative_path) == namespace


def test_spec_suffixes() -> None:
    assert SPEC_SUFFIXES == {".json", ".jsonl", ".yaml", ".yml"}


def test_nested_files_are_named_by_their_relative_path(tmp_path: Path) -> None:
    write(tmp_path, "vendors/Acme-CRM.openai.json", '[{"name": "ping"}]')
    result = ingest(tmp_path, "vendors/Acme-CRM.openai.json")
    assert (result.source_file, result.namespace) == ("vendors/Acme-CRM.openai.json", "vendors_acme_crm")
    assert result.tools[0].qualified_name == "vendors_acme_crm.ping"


def test_namespace_conflicts_go_to_the_first_file_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path, "a/x.openai.json", '[{"name": "ping"}]')
    write(tmp_path, "a_x.mcp.json", '{"tools": [{"name": "pong", "inputSchema": {"type": "object"}}]}')
    write(tmp_path, "other.openai.json", '[{"name": "ping"}]')
    results = [ingest(tmp_path, name) for name in ("other.openai.json", "a_x.mcp.json", "a/x.openai.json")]
    resolved = resolve_namespace_conflicts(results)
    assert [result.source_file for result in resolved] == ["other.openai.json", "a_x.mcp.json", "a/x.openai.json"]
    other, loser, winner = resolved
    assert other == results[0] and winner == results[2]  # "/" sorts before "_"
    assert loser.tools == []
    [rejection] = loser.rejections
    assert rejection.item == "pong" and rejection.position == "tools[0]"
    assert "a_x.mcp.json" in rejection.reason and "a/x.openai.json" in rejection.reason and "'a_x'" in rejection.reason


# --- Shipped samples -----------------------------------------------------------------------------


def shipped_results() -> list[IngestResult]:
    files = sorted(path for path in SHIPPED.rglob("*") if path.suffix in SPEC_SUFFIXES)
    return [ingest_file(path, SHIPPED) for path in files]


def test_every_shipped_sample_ingests_cleanly() -> None:
    results = shipped_results()
    assert {result.source_file for result in results} >= set(OUR_SAMPLES)
    for result in results:
        assert result.file_error is None and result.rejections == [], result.source_file
        assert result.tools, result.source_file
        for tool in result.tools:
            Draft202012Validator.check_schema(tool.parameters)
            assert tool.description, tool.qualified_name
    assert resolve_namespace_conflicts(results) == results


@pytest.mark.parametrize(("file_name", "source_format"), sorted(OUR_SAMPLES.items()))
def test_our_samples_chain_through_data_flow(file_name: str, source_format: str) -> None:
    """Every required id parameter is an output field of another tool of the same file."""
    result = ingest(SHIPPED, file_name)
    assert result.format == source_format and 6 <= len(result.tools) <= 12
    outputs = {tool.name: output_field_names(tool.output_schema) for tool in result.tools}
    if source_format == "openai":  # no output schemas: enrichment infers them
        assert not any(outputs.values())
        return
    assert sum(map(bool, outputs.values())) >= len(outputs) - 1
    for tool in result.tools:
        for parameter in tool.parameters.get("required", []):
            if parameter.endswith("_id") or parameter == "isbn":
                producers = [name for name, fields in outputs.items() if name != tool.name and parameter in fields]
                assert producers, f"{tool.name}({parameter}) has no producer"


def test_yaml_is_read_as_json_would_be(tmp_path: Path) -> None:
    """Dates stay strings and unquoted status codes still count as responses."""
    document = """
openapi: 3.0.3
paths:
  /reports:
    get:
      operationId: listReports
      parameters:
        - name: since
          in: query
          schema: {type: string, format: date, default: 2024-05-01}
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {generated_on: {type: string, example: 2024-05-02}}}
"""
    write(tmp_path, "reports.yml", document)
    [tool] = ingest(tmp_path, "reports.yml").tools
    assert tool.parameters["properties"]["since"]["default"] == "2024-05-01"
    assert tool.output_schema["properties"]["generated_on"]["example"] == "2024-05-02"
    json.dumps(tool.model_dump())
