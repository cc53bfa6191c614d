"""Data flow by meaning: the offline rules find edges equal names miss, and every proposal, from any
LLM, is kept only when it names real fields and parameters of the same namespace with fitting types."""

from __future__ import annotations

import pytest

from digit_assets.engine.dataflow import add_proposed_edges, build_dataflow_graph, graph_edges, input_params, output_fields, propose_links
from digit_assets.engine.offline.dataflow_proposer import meaning_match
from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.synthesis import roles
from digit_assets.engine.offline.dispatch import OfflineLLM, default_offline_llm
from digit_assets.engine.synthesis.roles import DataflowResponse, ProposedLink
from digit_assets.engine.llm.usage import UsageMeter
from digit_assets.engine.specs import ToolSpec
from tests.fake_openai_server import FakeOpenAIServer, offline_responder
from tests.llm_helpers import openai_resource

S = {"type": "string"}
NUMBER = {"type": "number"}


def _obj(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _tool(name: str, params: dict, output: dict, namespace: str = "api") -> EnrichedTool:
    spec = ToolSpec(
        namespace=namespace, name=name, parameters=_obj(params), output_schema=output,
        source_file=f"{namespace}.jsonl", source_format="bfcl", position=name,
    )
    return EnrichedTool(spec=spec, output_schema=output, output_origin="declared", llm="-")


def _match(src: str, output: dict, field: str, dst: str, params: dict, param: str):
    [found] = [f for f in output_fields(output) if f.path == field]
    [wanted] = [p for p in input_params(_obj(params)) if p.path == param]
    return meaning_match(found, src, wanted, dst)


@pytest.mark.parametrize(
    ("src", "output", "field", "dst", "params", "param", "expected"),
    [
        ("get_user_id", _obj({"user_id": S}), "user_id", "send_message", {"receiver_id": S}, "receiver_id", ("synonym", 0.7)),
        ("list_users", _obj({"users": {"type": "array", "items": _obj({"id": S})}}), "users[].id", "assign_ticket", {"assignee_id": S}, "assignee_id", ("synonym", 0.7)),
        ("get_folder", _obj({"folder_id": S}), "folder_id", "create_folder", {"parent_folder_id": S}, "parent_folder_id", ("id_suffix", 0.75)),
        ("get_user_id", _obj({"user_id": S}), "user_id", "follow", {"user": S}, "user", ("entity_noun", 0.6)),
        ("ls", _obj({"current_directory_content": {"type": "array", "items": S}}), "current_directory_content[]", "cd", {"folder": S}, "folder", ("path", 0.6)),
        ("ls", _obj({"current_directory_content": {"type": "array", "items": S}}), "current_directory_content[]", "cat", {"file_name": S}, "file_name", ("path", 0.6)),
        ("find", _obj({"matches": {"type": "array", "items": S}}), "matches[]", "mv", {"source": S}, "source", ("path", 0.6)),
        ("pwd", _obj({"current_working_directory": S}), "current_working_directory", "find", {"path": S}, "path", ("path", 0.5)),
        ("add", _obj({"result": NUMBER}), "result", "multiply", {"a": NUMBER}, "a", ("numeric", 0.5)),
    ],
)
def test_edges_by_meaning(src, output, field, dst, params, param, expected):
    assert _match(src, output, field, dst, params, param) == expected


@pytest.mark.parametrize(
    ("src", "output", "field", "dst", "params", "param"),
    [
        # an order item is not any item: only qualifiers such as parent/source make an id suffix
        ("get_item", _obj({"item_id": S}), "item_id", "return_item", {"order_item_id": S}, "order_item_id"),
        # a customer is not a user
        ("get_customer", _obj({"customer_id": S}), "customer_id", "send_message", {"receiver_id": S}, "receiver_id"),
        # ids and tags are not paths; a file name is not a folder
        ("list_files", _obj({"files": {"type": "array", "items": _obj({"file_id": S})}}), "files[].file_id", "cat", {"file_name": S}, "file_name"),
        ("list_files", _obj({"files": {"type": "array", "items": _obj({"tags": {"type": "array", "items": S}})}}), "files[].tags[]", "cd", {"folder": S}, "folder"),
        ("list_files", _obj({"files": {"type": "array", "items": _obj({"name": S})}}), "files[].name", "cd", {"folder": S}, "folder"),
        # a price is not a computed result, and a quantity is not an operand
        ("get_order", _obj({"price": NUMBER}), "price", "multiply", {"a": NUMBER}, "a"),
        ("add", _obj({"result": NUMBER}), "result", "buy", {"quantity": NUMBER}, "quantity"),
    ],
)
def test_no_edge_where_the_meaning_differs(src, output, field, dst, params, param):
    assert _match(src, output, field, dst, params, param) is None


CATALOG = [
    _tool("get_user_id", {"user": S}, _obj({"user_id": S})),
    _tool("send_message", {"receiver_id": S, "message": S}, _obj({"message_id": {"type": "integer"}})),
    _tool("delete_message", {"message_id": {"type": "integer"}}, _obj({"deleted": {"type": "boolean"}})),
    _tool("other", {"x": S}, _obj({"y": S}), namespace="elsewhere"),
]


def test_offline_proposals_join_the_name_edges_with_their_proposer():
    graph = build_dataflow_graph(CATALOG)
    assert {(e.src_tool, e.dst_tool, e.match_kind) for e in graph_edges(graph)} == {("send_message", "delete_message", "exact")}
    proposals, failures = propose_links(CATALOG, graph, default_offline_llm(), seed=0)
    assert failures == []
    assert add_proposed_edges(graph, CATALOG, proposals, proposed_by="offline") == []
    edges = {(e.src_tool, e.src_field, e.dst_tool, e.dst_param): e for e in graph_edges(graph)}
    proposed = edges[("get_user_id", "user_id", "send_message", "receiver_id")]
    assert (proposed.match_kind, proposed.score, proposed.proposed_by) == ("synonym", 0.7, "offline")
    assert edges[("send_message", "message_id", "delete_message", "message_id")].proposed_by == "names"


def _answering(*links: ProposedLink) -> OfflineLLM:
    return OfflineLLM({roles.PROPOSE_DATAFLOW.name: lambda request, rng: DataflowResponse(links=list(links))})


def test_proposals_naming_nothing_real_or_unfitting_are_rejected_with_the_reason():
    bad = [
        ProposedLink(src_tool="get_user", src_field="user_id", dst_tool="send_message", dst_param="receiver_id", kind="synonym", confidence=0.9),
        ProposedLink(src_tool="get_user_id", src_field="id", dst_tool="send_message", dst_param="receiver_id", kind="synonym", confidence=0.9),
        ProposedLink(src_tool="get_user_id", src_field="user_id", dst_tool="send_message", dst_param="to", kind="synonym", confidence=0.9),
        ProposedLink(src_tool="get_user_id", src_field="user_id", dst_tool="get_user_id", dst_param="user", kind="synonym", confidence=0.9),
        ProposedLink(src_tool="get_user_id", src_field="user_id", dst_tool="delete_message", dst_param="message_id", kind="synonym", confidence=0.9),
        ProposedLink(src_tool="get_user_id", src_field="user_id", dst_tool="send_message", dst_param="message", kind="hunch", confidence=0.9),
    ]
    good = ProposedLink(src_tool="get_user_id", src_field="user_id", dst_tool="send_message", dst_param="receiver_id", kind="synonym", confidence=0.8, why="a receiver is a user")
    graph = build_dataflow_graph(CATALOG)
    proposals, _ = propose_links(CATALOG, graph, _answering(*bad, good), seed=0)
    rejections = add_proposed_edges(graph, CATALOG, proposals, proposed_by="model-x @ host")
    reasons = [r.reason.split(": ", 2)[-1] for r in rejections]
    assert reasons == [
        "names a tool that is not in the namespace",
        "get_user_id has no output field 'id'",
        "send_message has no parameter 'to'",
        "joins a tool to itself",
        "string values do not fit the integer parameter",
        "unknown kind 'hunch' (expected one of entity_noun, id_suffix, numeric, path, synonym)",
    ]
    assert all(r.stage == "dataflow" and r.source == "api" and r.raw for r in rejections)
    [kept] = [e for e in graph_edges(graph) if e.proposed_by != "names"]
    assert (kept.dst_param, kept.score, kept.proposed_by, kept.why) == ("receiver_id", 0.8, "model-x @ host", "a receiver is a user")


def test_a_failing_role_is_a_rejection_of_its_namespace_and_the_name_edges_stand():
    graph = build_dataflow_graph(CATALOG)
    proposals, failures = propose_links(CATALOG, graph, OfflineLLM({}), seed=0)
    assert proposals == []
    [failure] = failures
    assert failure.stage == "dataflow" and failure.source == "api" and "data-flow proposal failed" in failure.reason
    assert len(graph_edges(graph)) == 1


def test_a_model_behind_the_openai_client_proposes_edges_that_are_kept_with_its_label():
    """A real HTTP round trip on 127.0.0.1: the role's request and response models as a server sees them."""
    graph = build_dataflow_graph(CATALOG)
    with FakeOpenAIServer(offline_responder()) as server:
        port = openai_resource(server.base_url).build(UsageMeter())
        try:
            proposals, failures = propose_links(CATALOG, graph, port, seed=0)
        finally:
            port.close()
        requests = server.requests
    assert failures == [] and [r.body["response_format"]["json_schema"]["name"] for r in requests] == ["propose_dataflow"]
    assert add_proposed_edges(graph, CATALOG, proposals, proposed_by=port.label) == []
    [proposed] = [e for e in graph_edges(graph) if e.proposed_by != "names"]
    assert (proposed.src_field, proposed.dst_param, proposed.match_kind) == ("user_id", "receiver_id", "synonym")
    assert "fake-model" in proposed.proposed_by
