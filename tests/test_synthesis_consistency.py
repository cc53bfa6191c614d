"""The consistency filter of stateless execution: a simulated output must agree with its call and
the session, whoever simulated it. Bad outputs below are the kind a real LLM simulator writes."""

from __future__ import annotations

import random
from typing import Any

from digit_assets.engine.offline.simulator import simulate_tool_offline
from digit_assets.engine.synthesis.model import ExecutedCall, ToolView
from digit_assets.engine.synthesis.roles import SimulateToolRequest
from digit_assets.engine.synthesis.simulation import consistency_problems

TODAY = "2025-06-01"
FILE = {
    "type": "object",
    "properties": {
        "file_id": {"type": "string", "pattern": "^f_[0-9]{4}$"},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "directory": {"type": "string", "pattern": "^/([a-z0-9_.-]+(/[a-z0-9_.-]+)*)?$"},
        "size_bytes": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9-]+$"}},
    },
    "required": ["file_id", "name", "directory", "size_bytes", "tags"],
}
FILE_ID = {"type": "string", "pattern": "^f_[0-9]{4}$"}


def tool(name: str, parameters: dict[str, Any], output: dict[str, Any]) -> ToolView:
    return ToolView(
        name=name,
        description=name.replace("_", " "),
        parameters={"type": "object", "properties": parameters, "required": list(parameters)[:1]},
        output_schema=output,
    )


SEARCH_FILES = tool(
    "search_files",
    {"directory": {"type": "string"}, "name_contains": {"type": "string"}, "tag": {"type": "string"}, "min_size_bytes": {"type": "integer"}},
    {"type": "object", "properties": {"files": {"type": "array", "items": FILE}}, "required": ["files"]},
)
GET_FILE_INFO = tool("get_file_info", {"file_id": FILE_ID}, FILE)
RENAME_FILE = tool("rename_file", {"file_id": FILE_ID, "new_name": {"type": "string"}}, FILE)
MOVE_FILE = tool("move_file", {"file_id": FILE_ID, "destination": {"type": "string"}}, FILE)
ADD_TAG = tool("add_tag", {"file_id": FILE_ID, "tag": {"type": "string"}}, FILE)
REMOVE_TAG = tool("remove_tag", {"file_id": FILE_ID, "tag": {"type": "string"}}, FILE)
CUSTOMER = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "city": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "suspended"]},
    },
    "required": ["customer_id", "name", "email"],
}
GET_CUSTOMER = tool("get_customer", {"customer_id": {"type": "string"}}, CUSTOMER)
FIND_CUSTOMERS = tool(
    "find_customers",
    {"name": {"type": "string"}, "status": {"type": "string"}},
    {"type": "object", "properties": {"customers": {"type": "array", "items": CUSTOMER}}, "required": ["customers"]},
)
UPDATE_TICKET_STATUS = tool(
    "update_ticket_status",
    {"ticket_id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "pending", "closed"]}},
    {"type": "object", "properties": {"ticket_id": {"type": "string"}, "status": {"type": "string"}}, "required": ["ticket_id", "status"]},
)
REPORT = {"file_id": "f_0412", "name": "q3_report.pdf", "directory": "/home/ana/reports", "size_bytes": 48213, "tags": ["finance"]}
KIM = {"customer_id": "C1042", "name": "Kim Lee", "email": "kim.lee@example.org", "city": "Portland", "status": "active"}


def call(ref: int, view: ToolView, arguments: dict[str, Any], output: dict[str, Any]) -> ExecutedCall:
    return ExecutedCall(ref=f"${ref}", tool=view.name, arguments=arguments, output=output, turn=0)


SEEN_REPORT = call(1, GET_FILE_INFO, {"file_id": "f_0412"}, REPORT)
SEEN_KIM = call(1, GET_CUSTOMER, {"customer_id": "C1042"}, KIM)


# --- Realistic bad outputs are refused, each with its reason -----------------------------------------


def test_a_rename_whose_output_keeps_the_old_name_is_refused():
    problems = consistency_problems(RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, dict(REPORT), [SEEN_REPORT])
    assert problems == ["rename_file output does not show new_name='q3_final.pdf' (name='q3_report.pdf')"]


def test_a_move_that_leaves_the_file_where_it_was_is_refused():
    [problem] = consistency_problems(MOVE_FILE, {"file_id": "f_0412", "destination": "/archive/2024"}, dict(REPORT), [SEEN_REPORT])
    assert "destination='/archive/2024'" in problem and "directory='/home/ana/reports'" in problem


def test_an_added_tag_missing_from_the_tags_and_a_removed_tag_still_there_are_refused():
    [added] = consistency_problems(ADD_TAG, {"file_id": "f_0412", "tag": "urgent"}, dict(REPORT), [SEEN_REPORT])
    assert added.startswith("add_tag output does not show tag='urgent'")
    [removed] = consistency_problems(REMOVE_TAG, {"file_id": "f_0412", "tag": "finance"}, dict(REPORT), [SEEN_REPORT])
    assert removed.startswith("remove_tag output still shows tag='finance'")


def test_a_status_change_that_reports_the_old_status_is_refused():
    [problem] = consistency_problems(UPDATE_TICKET_STATUS, {"ticket_id": "T-88", "status": "closed"}, {"ticket_id": "T-88", "status": "open"}, [])
    assert "status='closed'" in problem


def test_a_search_that_ignores_its_name_filter_is_refused():
    listed = {"files": [REPORT, {**REPORT, "file_id": "f_0413", "name": "holiday.jpg"}]}
    [problem] = consistency_problems(SEARCH_FILES, {"directory": "/home/ana", "name_contains": "report"}, listed, [])
    assert problem == "search_files lists files[1] with name='holiday.jpg' although name_contains='report'"


def test_a_search_that_ignores_a_tag_or_a_minimum_size_is_refused():
    small = {"files": [{**REPORT, "size_bytes": 12}]}
    [size] = consistency_problems(SEARCH_FILES, {"directory": "/home", "min_size_bytes": 1000}, small, [])
    assert "size_bytes=12" in size and "min_size_bytes=1000" in size
    [tag] = consistency_problems(SEARCH_FILES, {"directory": "/home", "tag": "legal"}, {"files": [REPORT]}, [])
    assert "tags=['finance']" in tag and "tag='legal'" in tag


def test_a_customer_lookup_listing_someone_else_is_refused():
    listed = {"customers": [KIM, {"customer_id": "C2211", "name": "Dana Ortiz", "email": "dana@example.com", "status": "active"}]}
    [problem] = consistency_problems(FIND_CUSTOMERS, {"name": "Kim Lee"}, listed, [])
    assert "customers[1] with name='Dana Ortiz'" in problem


def test_an_entity_that_changes_its_email_between_reads_is_refused():
    [problem] = consistency_problems(GET_CUSTOMER, {"customer_id": "C1042"}, {**KIM, "email": "k.lee@mail.com"}, [SEEN_KIM])
    assert problem == "get_customer returns customer C1042 with email='k.lee@mail.com', but the session says 'kim.lee@example.org'"


def test_a_read_after_a_rename_that_shows_the_old_name_is_refused():
    renamed = call(2, RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, {**REPORT, "name": "q3_final.pdf"})
    [problem] = consistency_problems(GET_FILE_INFO, {"file_id": "f_0412"}, dict(REPORT), [SEEN_REPORT, renamed])
    assert "name='q3_report.pdf'" in problem and "'q3_final.pdf'" in problem


# What an action does, what a list counts, what a session created: the mistakes an LLM simulator
# makes when it answers one call without minding its verb or the session.
TRASHED = {**FILE, "properties": {**FILE["properties"], "in_trash": {"type": "boolean"}}, "required": [*FILE["required"], "in_trash"]}
TRASH_FILE = tool("trash_file", {"file_id": FILE_ID}, TRASHED)
RESTORE_FILE = tool("restore_file", {"file_id": FILE_ID}, TRASHED)
ORDER_STATUS = {"type": "string", "enum": ["pending", "shipped", "delivered", "cancelled", "returned"]}
CANCEL_ORDER = tool(
    "cancel_order",
    {"order_id": {"type": "string"}, "reason": {"type": "string"}},
    {"type": "object", "properties": {"order_id": {"type": "string"}, "status": ORDER_STATUS, "refund_amount": {"type": "number"}}, "required": ["order_id", "status"]},
)
TICKET = {
    "type": "object",
    "properties": {"ticket_id": {"type": "string", "pattern": "^TIC-[0-9]{5}$"}, "customer_id": {"type": "string"}, "subject": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]}},
    "required": ["ticket_id", "customer_id", "subject", "status"],
}
CREATE_TICKET = tool("create_ticket", {"customer_id": {"type": "string"}, "subject": {"type": "string"}}, TICKET)
LIST_TICKETS = tool(
    "list_tickets",
    {"customer_id": {"type": "string"}, "limit": {"type": "integer"}},
    {"type": "object", "properties": {"tickets": {"type": "array", "items": TICKET}, "count": {"type": "integer"}}, "required": ["tickets", "count"]},
)
DELETE_TICKET = tool("delete_ticket", {"ticket_id": {"type": "string"}}, {"type": "object", "properties": {"ticket_id": {"type": "string"}, "deleted": {"type": "boolean"}}})
CREATED = call(1, CREATE_TICKET, {"customer_id": "C1042", "subject": "Login fails"}, {"ticket_id": "TIC-10001", "customer_id": "C1042", "subject": "Login fails", "status": "open"})
OLDER = {"ticket_id": "TIC-09876", "customer_id": "C1042", "subject": "Invoice copy", "status": "closed"}


def test_an_action_whose_result_does_not_show_it_is_refused():
    [trash] = consistency_problems(TRASH_FILE, {"file_id": "f_0412"}, {**REPORT, "in_trash": False}, [SEEN_REPORT])
    assert trash == "trash_file output has in_trash=False, which the action does not leave"
    [restore] = consistency_problems(RESTORE_FILE, {"file_id": "f_0412"}, {**REPORT, "in_trash": True}, [SEEN_REPORT])
    assert "in_trash=True" in restore
    [cancel] = consistency_problems(CANCEL_ORDER, {"order_id": "O93602", "reason": "ordered by mistake"}, {"order_id": "O93602", "status": "pending"}, [])
    assert cancel == "cancel_order output has status='pending', which is not the state the action leaves"
    nested = {"order": {"order_id": "O93602", "status": "shipped"}, "refund_amount": 12.5}
    assert consistency_problems(CANCEL_ORDER, {"order_id": "O93602"}, nested, []) != []


def test_an_action_that_shows_what_it_did_passes():
    assert consistency_problems(TRASH_FILE, {"file_id": "f_0412"}, {**REPORT, "in_trash": True}, [SEEN_REPORT]) == []
    assert consistency_problems(RESTORE_FILE, {"file_id": "f_0412"}, {**REPORT, "in_trash": False}, [SEEN_REPORT]) == []
    cancelled = {"order_id": "O93602", "status": "cancelled", "refund_amount": 11.84}
    assert consistency_problems(CANCEL_ORDER, {"order_id": "O93602"}, cancelled, []) == []
    # a status the schema cannot fit to the action is not held to it
    no_fit = tool("cancel_order", {"order_id": {"type": "string"}}, {"type": "object", "properties": {"status": {"type": "string", "enum": ["ok", "error"]}}})
    assert consistency_problems(no_fit, {"order_id": "O93602"}, {"status": "ok"}, []) == []


def test_a_list_whose_count_disagrees_with_its_items_is_refused():
    [problem] = consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, {"tickets": [OLDER], "count": 3}, [])
    assert problem == "list_tickets output has count=3 beside 1 tickets"
    [fewer] = consistency_problems(LIST_TICKETS, {"customer_id": "C1042", "limit": 5}, {"tickets": [OLDER, OLDER], "count": 1}, [])
    assert "count=1 beside 2 tickets" in fewer


def test_a_count_that_may_cover_more_pages_passes():
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042", "limit": 1}, {"tickets": [OLDER], "count": 7}, []) == []
    paged = {"tickets": [OLDER], "total_count": 7, "next_cursor": "abc"}
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, paged, []) == []
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, {"tickets": [OLDER], "count": 1}, []) == []


def test_a_list_that_leaves_out_what_the_session_created_is_refused():
    [problem] = consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, {"tickets": [OLDER], "count": 1}, [CREATED])
    assert problem == "list_tickets lists tickets without the ticket TIC-10001 created earlier"


def test_a_list_may_leave_out_a_creation_it_does_not_cover_or_that_is_gone():
    mine = {"tickets": [OLDER], "count": 1}
    # someone else's tickets, a page of them, or after the ticket was deleted
    theirs = {"tickets": [{**OLDER, "customer_id": "C2211"}], "count": 1}
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C2211"}, theirs, [CREATED]) == []
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042", "limit": 1}, mine, [CREATED]) == []
    deleted = call(2, DELETE_TICKET, {"ticket_id": "TIC-10001"}, {"ticket_id": "TIC-10001", "deleted": True})
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, mine, [CREATED, deleted]) == []
    both = {"tickets": [OLDER, CREATED.output], "count": 2}
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, both, [CREATED]) == []


# A real create answers with little more than the new id; the object holds what it was created with.
CREATED_TERSE = call(1, CREATE_TICKET, {"customer_id": "C1042", "subject": "Login fails"}, {"ticket_id": "TIC-10001", "status": "open"})


def test_a_created_object_listed_with_other_values_than_it_was_created_with_is_refused():
    renamed = {"ticket_id": "TIC-10001", "customer_id": "C1042", "subject": "Question about my subscription", "status": "open"}
    [problem] = consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, {"tickets": [renamed, OLDER], "count": 2}, [CREATED_TERSE])
    assert problem == "list_tickets returns ticket TIC-10001 with subject='Question about my subscription', but the session says 'Login fails'"
    same = {**renamed, "subject": "Login fails"}
    assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, {"tickets": [same, OLDER], "count": 2}, [CREATED_TERSE]) == []


# --- Good outputs pass ------------------------------------------------------------------------------


def test_consistent_outputs_pass():
    renamed = {**REPORT, "name": "q3_final.pdf"}
    assert consistency_problems(RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, renamed, [SEEN_REPORT]) == []
    moved = {**REPORT, "directory": "/archive/2024"}
    assert consistency_problems(MOVE_FILE, {"file_id": "f_0412", "destination": "/archive/2024"}, moved, [SEEN_REPORT]) == []
    tagged = {**REPORT, "tags": ["finance", "urgent"]}
    assert consistency_problems(ADD_TAG, {"file_id": "f_0412", "tag": "urgent"}, tagged, [SEEN_REPORT]) == []
    untagged = {**REPORT, "tags": []}
    assert consistency_problems(REMOVE_TAG, {"file_id": "f_0412", "tag": "finance"}, untagged, [SEEN_REPORT]) == []
    listed = {"files": [REPORT, {**REPORT, "file_id": "f_0413", "name": "report_draft.docx", "directory": "/home/ana/drafts"}]}
    assert consistency_problems(SEARCH_FILES, {"directory": "/home/ana", "name_contains": "report", "tag": "finance"}, listed, []) == []
    assert consistency_problems(GET_CUSTOMER, {"customer_id": "C1042"}, dict(KIM), [SEEN_KIM]) == []
    history = [SEEN_REPORT, call(2, RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, renamed)]
    assert consistency_problems(GET_FILE_INFO, {"file_id": "f_0412"}, renamed, history) == []


def test_a_write_in_between_lets_a_field_change():
    suspend = call(2, tool("suspend_customer", {"customer_id": {"type": "string"}}, CUSTOMER), {"customer_id": "C1042"}, {**KIM, "status": "suspended"})
    assert consistency_problems(GET_CUSTOMER, {"customer_id": "C1042"}, {**KIM, "status": "suspended"}, [SEEN_KIM, suspend]) == []


# --- The offline simulator obeys the same rules ---------------------------------------------------------


def simulate(view: ToolView, arguments: dict[str, Any], history: list[ExecutedCall], seed: int) -> dict[str, Any]:
    request = SimulateToolRequest(tool=view, arguments=arguments, history=history, today=TODAY)
    return simulate_tool_offline(request, random.Random(seed)).output


def test_offline_writes_show_what_they_set_and_later_reads_see_it():
    for seed in range(30):
        renamed = simulate(RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, [SEEN_REPORT], seed)
        moved = simulate(MOVE_FILE, {"file_id": "f_0412", "destination": "/archive"}, [SEEN_REPORT], seed)
        tagged = simulate(ADD_TAG, {"file_id": "f_0412", "tag": "urgent"}, [SEEN_REPORT], seed)
        untagged = simulate(REMOVE_TAG, {"file_id": "f_0412", "tag": "finance"}, [SEEN_REPORT], seed)
        assert renamed["name"] == "q3_final.pdf" and renamed["directory"] == REPORT["directory"]
        assert moved["directory"] == "/archive" and moved["name"] == REPORT["name"]
        assert "urgent" in tagged["tags"] and "finance" in tagged["tags"]
        assert "finance" not in untagged["tags"]
        history = [SEEN_REPORT, call(2, RENAME_FILE, {"file_id": "f_0412", "new_name": "q3_final.pdf"}, renamed)]
        assert simulate(GET_FILE_INFO, {"file_id": "f_0412"}, history, seed)["name"] == "q3_final.pdf"


def test_offline_lists_honour_their_filters_and_pass_the_filter():
    for seed in range(30):
        arguments = {"directory": "/home/ana", "name_contains": "report", "tag": "legal", "min_size_bytes": 1000}
        listed = simulate(SEARCH_FILES, arguments, [SEEN_REPORT], seed)
        assert listed["files"]
        for item in listed["files"]:
            assert "report" in item["name"].replace("_", " ").replace("-", " ").replace(".", " ").split()
            assert "legal" in item["tags"] and item["size_bytes"] >= 1000
        assert consistency_problems(SEARCH_FILES, arguments, listed, [SEEN_REPORT]) == []
        customers = simulate(FIND_CUSTOMERS, {"name": "Kim Lee"}, [], seed)["customers"]
        assert [c["name"] for c in customers] == ["Kim Lee"]


def test_offline_actions_lists_and_counts_obey_the_same_rules():
    for seed in range(30):
        trashed = simulate(TRASH_FILE, {"file_id": "f_0412"}, [SEEN_REPORT], seed)
        assert trashed["in_trash"] is True
        trash = call(2, TRASH_FILE, {"file_id": "f_0412"}, trashed)
        assert simulate(RESTORE_FILE, {"file_id": "f_0412"}, [SEEN_REPORT, trash], seed)["in_trash"] is False
        assert simulate(CANCEL_ORDER, {"order_id": "O93602"}, [], seed)["status"] == "cancelled"
        listed = simulate(LIST_TICKETS, {"customer_id": "C1042"}, [CREATED], seed)
        assert "TIC-10001" in [ticket["ticket_id"] for ticket in listed["tickets"]]
        assert listed["count"] == len(listed["tickets"])
        assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, listed, [CREATED]) == []
        listed = simulate(LIST_TICKETS, {"customer_id": "C1042"}, [CREATED_TERSE], seed)
        [made] = [ticket for ticket in listed["tickets"] if ticket["ticket_id"] == "TIC-10001"]
        assert made["subject"] == "Login fails" and made["customer_id"] == "C1042"
        assert consistency_problems(LIST_TICKETS, {"customer_id": "C1042"}, listed, [CREATED_TERSE]) == []


# --- In the rollout, behind the real openai client: refused, re-asked once, or the turn dropped ----------

import json  # noqa: E402

import pytest  # noqa: E402

from analytics.realism import measure, share_of  # noqa: E402
from digit_assets.engine.dataflow import build_dataflow_graph, graph_edges  # noqa: E402
from digit_assets.engine.enrich import enrich_tools  # noqa: E402
from digit_assets.engine.ingest import ingest_file  # noqa: E402
from digit_assets.engine.llm.usage import UsageMeter  # noqa: E402
from digit_assets.engine.offline.dispatch import default_offline_llm  # noqa: E402
from digit_assets.engine.synthesis.rollout import REASK_STAGE, Catalog, SynthesisSettings, synthesize  # noqa: E402
from tests.conftest import REPO_SPECS  # noqa: E402
from digit_assets.engine.synthesis.roles import SIMULATE_TOOL  # noqa: E402
from tests.fake_openai_server import RecordedRequest, Reply, RequestRestorer, chat_completion, offline_responder  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer  # noqa: E402
from tests.llm_helpers import openai_resource  # noqa: E402

FILE_WRITES = {"rename_file", "move_file", "add_tag"}


@pytest.fixture(scope="module")
def files_catalog() -> Catalog:
    specs = ingest_file(REPO_SPECS / "files.mcp.json", REPO_SPECS).tools
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=7)
    return Catalog.build(enriched, graph_edges(build_dataflow_graph(enriched)))


def careless_simulator(catalog: Catalog, fix_when_told: bool):
    """The offline answers, except that a file write reports the file as it was (the old name, the old
    place, the tags without the new one), as a careless model does; told why, it may answer well."""
    honest, restorer = offline_responder(catalog), RequestRestorer(catalog)

    def respond(request: RecordedRequest) -> Reply:
        reply = honest(request)
        if request.body["response_format"]["json_schema"]["name"] != "simulate_tool":
            return reply
        asked = restorer.restore(SIMULATE_TOOL, next(m["content"] for m in request.body["messages"] if m["role"] == "user"))
        if asked.tool.name not in FILE_WRITES or (asked.refused and fix_when_told):
            return reply
        output = json.loads(reply.body["choices"][0]["message"]["content"])["output"]
        arguments = asked.arguments
        if "name" in output and "new_name" in arguments:
            output["name"] = "notes_old.txt"
        if "directory" in output and "destination" in arguments:
            output["directory"] = "/home/old" if arguments["destination"] != "/home/old" else "/home/older"
        if "tags" in output and "tag" in arguments:
            output["tags"] = [tag for tag in output["tags"] if tag != arguments["tag"]]
        return Reply(body=chat_completion(json.dumps({"output": output})))

    return respond


def run(catalog: Catalog, responder) -> tuple[list, list[RecordedRequest]]:
    with FakeOpenAIServer(responder) as server:
        port = openai_resource(server.base_url).build(UsageMeter())
        try:
            outcomes = synthesize(catalog, port, SynthesisSettings(error_hint_rate=0.0), base_seed=11, indices=range(16))
        finally:
            port.close()
        return outcomes, server.requests


def test_a_careless_answer_is_reasked_with_its_reasons_and_the_fixed_answer_kept(files_catalog):
    outcomes, requests = run(files_catalog, careless_simulator(files_catalog, fix_when_told=True))
    reasks = [e for o in outcomes for e in o.events if e.stage == REASK_STAGE]
    assert reasks and all(e.accepted for e in reasks)
    assert all(" does not show " in e.reason for e in reasks)
    restorer = RequestRestorer(files_catalog)
    told = [restorer.restore(SIMULATE_TOOL, m["content"]).refused for r in requests for m in r.body["messages"]
            if r.body["response_format"]["json_schema"]["name"] == "simulate_tool" and m["role"] == "user"]
    assert sum(1 for refused in told if refused) == len(reasks)
    accepted = [o.record for o in outcomes if o.accepted]
    assert accepted and share_of(measure(accepted).metrics, "digit_tc", "writes_reflected")["value"] == 1.0


def test_a_simulator_that_stays_careless_loses_the_turn_with_the_reason(files_catalog):
    outcomes, _ = run(files_catalog, careless_simulator(files_catalog, fix_when_told=False))
    reasks = [e for o in outcomes for e in o.events if e.stage == REASK_STAGE]
    failed = [e for o in outcomes for e in o.events if e.stage == "simulation" and not e.accepted]
    assert reasks and not any(e.accepted for e in reasks)
    assert len(failed) == len(reasks) and all(" does not show " in e.reason for e in failed)
    for outcome in outcomes:
        if outcome.accepted:
            calls = [c["function"]["name"] for m in outcome.record.messages for c in m.get("tool_calls") or ()]
            assert not set(calls) & FILE_WRITES


def test_real_stateful_trajectories_pass_the_filter():
    """A write that touches what an object holds (a refund to the customer's gift card) may change it."""
    customer = {**KIM, "gift_card_balance": 70.0, "payment_methods": [{"id": "pm_7bbdc7", "kind": "gift_card"}]}
    seen = call(1, GET_CUSTOMER, {"customer_id": "C1042"}, customer)
    refund = call(2, tool("cancel_order", {"order_id": {"type": "string"}}, CUSTOMER), {"order_id": "O30535"},
                  {"order_id": "O30535", "status": "cancelled", "refund_amount": 43.74, "payment_method_id": "pm_7bbdc7"})
    later = {**customer, "gift_card_balance": 113.74}
    assert consistency_problems(GET_CUSTOMER, {"customer_id": "C1042"}, later, [seen, refund]) == []
    assert consistency_problems(GET_CUSTOMER, {"customer_id": "C1042"}, later, [seen]) != []


# --- Removing what an object does not hold ---------------------------------------------------------


def test_removing_a_tag_the_file_was_last_shown_without_is_refused_where_it_is_known():
    from digit_assets.engine.synthesis.planning import absent_removal

    listed = call(1, SEARCH_FILES, {"directory": "/home/ana/reports"}, {"files": [REPORT, {**REPORT, "file_id": "f_0413", "tags": []}]})
    assert absent_removal("remove_tag", {"file_id": "f_0412", "tag": "point"}, [listed]) == ("point", ["finance"])
    assert absent_removal("remove_tag", {"file_id": "f_0412", "tag": "finance"}, [listed]) is None
    # The latest word counts: a tag added after the listing may be removed.
    tagged = call(2, ADD_TAG, {"file_id": "f_0412", "tag": "point"}, {**REPORT, "tags": ["finance", "point"]})
    assert absent_removal("remove_tag", {"file_id": "f_0412", "tag": "point"}, [listed, tagged]) is None
    # Never shown: nothing to hold the removal to; not a removal: nothing to check.
    assert absent_removal("remove_tag", {"file_id": "f_0999", "tag": "point"}, [listed]) is None
    assert absent_removal("add_tag", {"file_id": "f_0412", "tag": "point"}, [listed]) is None


def test_a_listing_a_later_call_removes_from_carries_the_removed_value():
    from digit_assets.engine.synthesis.model import PlannedCall
    from digit_assets.engine.synthesis.planning import held_values
    from digit_assets.engine.synthesis.simulation import unheld_values

    search = PlannedCall(ref="$1", tool="search_files", arguments={"directory": "/home/ana/reports"})
    remove = PlannedCall(ref="$2", tool="remove_tag", arguments={"file_id": "$1.files[0].file_id", "tag": "point"})
    held = held_values(search, [remove], SEARCH_FILES.output_schema)
    assert held == {"files[0].tags": ["point"]}
    for seed in range(10):
        request = SimulateToolRequest(tool=SEARCH_FILES, arguments=search.arguments, history=[], today=TODAY, held=held)
        output = simulate_tool_offline(request, random.Random(seed)).output
        if output["files"]:
            assert "point" in output["files"][0]["tags"]
        assert unheld_values("search_files", output, held) == []
    # What an LLM simulator writes without reading the turn's later calls is refused, with the reason.
    [problem] = unheld_values("search_files", {"files": [REPORT]}, held)
    assert "'point'" in problem and "files[0].tags" in problem
    # A removal fed by another call, or of a referenced value, asks nothing of this one.
    assert held_values(search, [remove.model_copy(update={"arguments": {"file_id": "f_0412", "tag": "point"}})], SEARCH_FILES.output_schema) == {}


def test_the_offline_planner_removes_a_tag_the_file_was_shown_with():
    from digit_assets.engine.offline.planner import plan_turn_offline
    from digit_assets.engine.synthesis.model import Link, Scenario
    from digit_assets.engine.synthesis.model import PlannedCall
    from digit_assets.engine.synthesis.planning import plan_problems
    from digit_assets.engine.synthesis.roles import PlanTurnRequest

    remove_tag = REMOVE_TAG.model_copy(update={"parameters": {**REMOVE_TAG.parameters, "required": ["file_id", "tag"]}})
    scenario = Scenario(
        namespace="files", tools=[SEARCH_FILES, remove_tag, GET_FILE_INFO], persona="Ana", today=TODAY,
        links=[
            Link(src_tool="search_files", src_field="files[].file_id", dst_tool="remove_tag", dst_param="file_id"),
            Link(src_tool="search_files", src_field="files[].file_id", dst_tool="get_file_info", dst_param="file_id"),
            Link(src_tool="remove_tag", src_field="file_id", dst_tool="get_file_info", dst_param="file_id"),
        ],
    )
    listed = call(1, SEARCH_FILES, {"directory": "/home/ana/reports"}, {"files": [{**REPORT, "tags": ["finance", "q3"]}]})
    removals = []
    for seed in range(40):
        request = PlanTurnRequest(scenario=scenario, earlier_turns=[], earlier_calls=[listed], next_ref=2, min_calls=1, max_calls=2)
        plan = plan_turn_offline(request, random.Random(seed)).calls
        removals += [c.arguments["tag"] for c in plan if c.tool == "remove_tag" and c.arguments.get("file_id") == "$1.files[0].file_id"]
    assert removals and set(removals) <= {"finance", "q3"}
    # A model's plan that removes a tag the file was not shown with is refused before it runs.
    wrong = [PlannedCall(ref="$2", tool="remove_tag", arguments={"file_id": "$1.files[0].file_id", "tag": "point"})]
    problems = plan_problems(wrong, scenario, [listed], turn_index=1, min_calls=1, max_calls=2)
    assert any("removes 'point', which the object does not hold" in problem for problem in problems)


def test_carrying_a_removed_value_leaves_the_history_as_it_was():
    from digit_assets.engine.offline.simulator import _Simulation

    shown_before = ["mention", "letter"]
    earlier = call(1, REMOVE_TAG, {"file_id": "f_0412", "tag": "certain"}, {**REPORT, "tags": shown_before})
    request = SimulateToolRequest(tool=SEARCH_FILES, arguments={"directory": "/home/ana"}, history=[earlier], today=TODAY, held={"files[0].tags": ["certain"]})
    # The offline engine reuses values the history shows: the very list objects of earlier outputs.
    simulation = _Simulation(request, random.Random(1))
    simulation.object = lambda *args: {"files": [{**REPORT, "file_id": "f_0500", "tags": shown_before}]}
    held = simulation.run()
    assert held["files"][0]["tags"] == ["mention", "letter", "certain"]
    assert shown_before == ["mention", "letter"]


# --- Changing what the session showed as ended -----------------------------------------------------

ORDER_ITEM = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "processing", "shipped", "cancelled", "returned"]},
        "total": {"type": "number", "minimum": 0},
    },
    "required": ["order_id", "status", "total"],
}
LIST_ORDERS = tool("list_orders", {"customer_id": {"type": "string"}}, {"type": "object", "properties": {"orders": {"type": "array", "items": ORDER_ITEM}}, "required": ["orders"]})
CANCEL = tool("cancel_order", {"order_id": {"type": "string"}}, ORDER_ITEM)
LIST_RETURNS = tool(
    "list_returns", {"customer_id": {"type": "string"}},
    {"type": "object", "properties": {"returns": {"type": "array", "items": {"type": "object", "properties": {
        "return_id": {"type": "string"}, "order_id": {"type": "string"}, "status": {"type": "string"}}}}}},
)


def test_changing_an_object_the_session_showed_cancelled_is_refused_reading_or_restoring_it_is_not():
    from digit_assets.engine.synthesis.planning import ended_object

    listed = call(1, LIST_ORDERS, {"customer_id": "C1"}, {"orders": [
        {"order_id": "O1", "status": "cancelled", "total": 30.5}, {"order_id": "O2", "status": "pending", "total": 12.0}]})
    done, status = ended_object("update_shipping_address", {"order_id": "O1", "street": "4 Elm St"}, [listed])
    assert (done.ref, status) == ("$1", "cancelled")
    assert ended_object("cancel_order", {"order_id": "O2"}, [listed]) is None
    assert ended_object("get_order", {"order_id": "O1"}, [listed]) is None
    assert ended_object("restore_order", {"order_id": "O1"}, [listed]) is None
    # A refunded return names its order; the status is the return's, not the order's.
    returns = call(2, LIST_RETURNS, {"customer_id": "C1"}, {"returns": [{"return_id": "R1", "order_id": "O2", "status": "refunded"}]})
    assert ended_object("cancel_order", {"order_id": "O2"}, [listed, returns]) is None


def test_a_listing_shows_an_object_a_later_call_changes_in_a_state_it_can_change():
    from digit_assets.engine.synthesis.model import PlannedCall
    from digit_assets.engine.synthesis.planning import changed_later
    from digit_assets.engine.synthesis.simulation import ended_before_change

    listing = PlannedCall(ref="$1", tool="list_orders", arguments={"customer_id": "C1"})
    cancel = PlannedCall(ref="$2", tool="cancel_order", arguments={"order_id": "$1.orders[1].order_id"})
    paths = changed_later(listing, [cancel])
    assert paths == ["orders[1]"]
    statuses = []
    for seed in range(30):
        request = SimulateToolRequest(tool=LIST_ORDERS, arguments=listing.arguments, history=[], today=TODAY, changed_later=paths)
        output = simulate_tool_offline(request, random.Random(seed)).output
        assert ended_before_change("list_orders", output, paths, []) == []
        if len(output["orders"]) > 1:
            statuses.append(output["orders"][1]["status"])
    assert statuses and not {"cancelled", "returned"} & set(statuses)
    # What an LLM simulator writes without reading the turn's later calls is refused, with the reason.
    careless = {"orders": [{"order_id": "O1", "status": "pending", "total": 3}, {"order_id": "O2", "status": "cancelled", "total": 9}]}
    [problem] = ended_before_change("list_orders", careless, paths, [])
    assert "orders[1]" in problem and "'cancelled'" in problem
    # Unless the session saw it cancelled: then the result says so and the later call is refused.
    seen = call(1, CANCEL, {"order_id": "O2"}, {"order_id": "O2", "status": "cancelled", "total": 9})
    assert ended_before_change("list_orders", careless, paths, [seen]) == []
    # Reads and restores later in the turn ask nothing of the listing.
    assert changed_later(listing, [PlannedCall(ref="$2", tool="get_order", arguments={"order_id": "$1.orders[1].order_id"})]) == []
