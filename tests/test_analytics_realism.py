"""Realism detectors on hand-written conversations, good and bad, and the stored table in a real DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analytics.dashboard import write_dashboard
from analytics.divergence import SYNTHESIS_VARIANTS, DivergenceSettings, analyze
from analytics.extract import extract
from analytics.features import compute_features, source_profiles
from analytics.realism import (
    RULES,
    code_tokens,
    gives_advice,
    hidden_call_ids,
    ignored_filter,
    measure,
    named_parameter,
    realism_section,
    share_of,
    system_identifier,
    write_reflected,
)
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.records import ConversationRecord
from digit_assets.store import Store
from digit_assets.store.realism import load_realism_metrics, replace_realism_metrics

FILE_TOOLS = [
    {"type": "function", "function": {"name": name, "description": "", "parameters": {"type": "object", "properties": props}}}
    for name, props in (
        ("search_files", {"name_contains": {"type": "string"}, "directory": {"type": "string"}, "min_size_bytes": {"type": "integer"}}),
        ("get_file_info", {"file_id": {"type": "string"}}),
        ("rename_file", {"file_id": {"type": "string"}, "new_name": {"type": "string"}}),
        ("add_tag", {"file_id": {"type": "string"}, "tag": {"type": "string"}}),
    )
]


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def say(text: str) -> dict:
    return {"role": "assistant", "content": text}


def call(number: int, name: str, **arguments) -> dict:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{number}", "type": "function", "function": function}]}


def result(number: int, name: str, content) -> dict:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"role": "tool", "tool_call_id": f"call_{number}", "name": name, "content": text}


REPORT = {"file_id": "f_0012", "name": "report.txt", "directory": "/home/ana/documents", "size_bytes": 5120, "tags": ["draft"]}
BUDGET = {"file_id": "f_0044", "name": "budget.xlsx", "directory": "/home/ana/documents", "size_bytes": 9000, "tags": []}


def good_conversation() -> ConversationRecord:
    """What stateful search records: a person's words, discovery reads, outputs that follow the calls."""
    messages = [
        user("Rename report.txt in my documents folder to summary.txt."),
        call(1, "search_files", name_contains="report", directory="/home/ana/documents"),
        result(1, "search_files", {"files": [REPORT]}),
        call(2, "rename_file", file_id="f_0012", new_name="summary.txt"),
        result(2, "rename_file", {"file_id": "f_0012", "name": "summary.txt", "directory": "/home/ana/documents"}),
        say("Done: report.txt is now summary.txt."),
        user("Great. Tag it as final, please."),
        call(3, "add_tag", file_id="f_0012", tag="final"),
        result(3, "add_tag", {"file_id": "f_0012", "name": "summary.txt", "tags": ["draft", "final"]}),
        call(4, "get_file_info", file_id="f_0012"),
        result(4, "get_file_info", {**REPORT, "name": "summary.txt", "tags": ["draft", "final"]}),
        call(5, "rename_file", file_id="f_0044", new_name="summary.txt"),
        result(5, "rename_file", "Error: 409 a file named summary.txt already exists in /home/ana/documents"),
        say("Tagged summary.txt as final."),
    ]
    return ConversationRecord(conversation_id="ss-1", source="stateful_search", variant="stateful_search", domain="files", messages=messages, tools=FILE_TOOLS)


def bad_conversation() -> ConversationRecord:
    """What the template generator writes: parameter names, internal ids, a hidden write, outputs
    that ignore the call, a coaching error repeating a call that had just succeeded."""
    messages = [
        user("Please rename my file using summary.txt as the new name, where the file id is f_0012."),
        call(1, "search_files", name_contains="report", directory="/home/ana/documents"),
        result(1, "search_files", {"files": [REPORT, BUDGET]}),
        call(2, "get_file_info", file_id="f_0012"),
        result(2, "get_file_info", {**REPORT, "directory": "/home/ana/trash"}),
        call(3, "add_tag", file_id="f_0012", tag="urgent"),
        result(3, "add_tag", {"file_id": "f_0012", "name": "report.txt", "tags": ["draft"]}),
        call(4, "rename_file", file_id="f_0012", new_name="summary.txt"),
        result(4, "rename_file", {"file_id": "f_0012", "name": "report.txt", "directory": "/home/ana/documents"}),
        call(5, "get_file_info", file_id="f_0012"),
        result(5, "get_file_info", "Error: no file matches that reference; use the one from the earlier result."),
        say("Renamed."),
    ]
    plans = [{"calls": [], "hidden": ["$1", "$3"]}]
    return ConversationRecord(
        conversation_id="digit_tc-1", source="digit_tc", variant="digit_tc", domain="files", messages=messages, tools=FILE_TOOLS,
        meta={"turn_plans": plans},
    )


# --- Detectors, one by one -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "values", "named"),
    [
        ("Find files in /data where the min size bytes is 200.", ["/data", 200], "min_size_bytes"),
        ("Please cancel the hold where the member id is MEM-74581.", ["MEM-74581"], "member_id"),
        ("Book it using Lake Michaelstad as the city.", ["Lake Michaelstad"], "city"),
        ("Update the order with the order id O70981.", ["O70981"], "order_id"),
        ("Set min_size_bytes to 200 for me.", [200], "min_size_bytes"),
        # people name things in their own words: not parameter names
        ("My zip code is 12345 and I live in Austin.", ["12345", "Austin"], None),
        ("Find the files bigger than 200 bytes in /data.", ["/data", 200], None),
        ("Rename the file report.txt to summary.txt.", ["report.txt", "summary.txt"], None),
    ],
)
def test_parameter_naming(message, values, named):
    parameters = {"min_size_bytes", "member_id", "city", "order_id", "zip_code", "new_name", "file", "directory"}
    assert named_parameter(message, parameters, values) == named


@pytest.mark.parametrize(
    ("message", "identifier"),
    [
        ("Cancel the hold for member MEM-74581.", "MEM-74581"),
        ("Where is order O70981?", "O70981"),
        ("Refund the payment pm_3e73fb.", "pm_3e73fb"),
        ("Email jane.doe2024@example.com the file report-2024.pdf on 2026-05-03 at 10:30.", None),
        ("Book a table for 4 at 7pm in Paris, my phone is 555-0134.", None),
    ],
)
def test_system_identifier_codes(message, identifier):
    assert system_identifier(message, set(), told="") == identifier


def test_system_identifier_from_output_ids_unless_the_user_was_told():
    # a plain number is an identifier when a tool output carries it as an id field
    assert system_identifier("Cancel order 12446 please.", {"12446"}, told="") == "12446"
    assert system_identifier("Cancel order 12446 please.", {"12446"}, told=" your order 12446 is placed ") is None
    assert code_tokens("Ticket TIC-90263 and file f_1416") == ["TIC-90263", "f_1416"]


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("Error: no contact matches that reference; use the one from the earlier result.", True),
        ("Use the id from the earlier result", True),
        ("Error: wrong operation for this request; pick the one that matches what was asked.", True),
        ("Error: file not found; look it up again and use the exact reference.", True),
        ("Error: please make sure the date is in the future", True),
        ("404: no contact CON-606644", False),
        ("Error: order O12 is cancelled; only pending or processing orders can be cancelled", False),
        ("Error: permission denied: /projects/x.md belongs to thomas and is not shared with ana for writing", False),
        ('{"error": {"code": "INVALID_ARGUMENT", "message": "status must be one of open, closed"}}', False),
    ],
)
def test_advice_in_error_texts(text, advice):
    assert (gives_advice(text) is not None) is advice


def test_write_reflected():
    renamed = {"file_id": "f_1", "name": "summary.txt", "directory": "/docs"}
    kept_old = {"file_id": "f_1", "name": "report.txt", "directory": "/docs"}
    assert write_reflected("rename_file", {"file_id": "f_1", "new_name": "summary.txt"}, renamed) is True
    assert write_reflected("rename_file", {"file_id": "f_1", "new_name": "summary.txt"}, kept_old) is False
    assert write_reflected("move_file", {"file_id": "f_1", "destination": "/archive"}, {**renamed, "directory": "/archive"}) is True
    assert write_reflected("move_file", {"file_id": "f_1", "destination": "/archive"}, renamed) is False
    assert write_reflected("add_tag", {"file_id": "f_1", "tag": "q1"}, {"file_id": "f_1", "tags": ["future"]}) is False
    # values as written: a rename to "m" is not shown by "M"; the root directory is a value too
    assert write_reflected("rename_file", {"file_id": "f_1", "new_name": "m"}, {**renamed, "name": "M"}) is False
    assert write_reflected("move_file", {"file_id": "f_1", "destination": "/"}, {**renamed, "directory": "/"}) is True
    assert write_reflected("move_file", {"file_id": "f_1", "destination": "/"}, renamed) is False
    # not checkable: nothing in the output would show the value, a removal, a plain-text output
    assert write_reflected("create_ticket", {"subject": "x", "priority": "high"}, {"ticket_id": "T1"}) is None
    assert write_reflected("remove_tag", {"file_id": "f_1", "tag": "q1"}, {"file_id": "f_1", "tags": []}) is None
    assert write_reflected("rename_file", {"file_id": "f_1", "new_name": "a.txt"}, "renamed") is None


def test_ignored_filter():
    honoured = {"files": [REPORT]}
    ignored = {"files": [REPORT, BUDGET]}
    assert ignored_filter({"name_contains": "report"}, honoured) == (False, "")
    contradicted, detail = ignored_filter({"name_contains": "report"}, ignored)
    assert contradicted and "budget.xlsx" in detail
    assert ignored_filter({"tag": "draft"}, {"files": [REPORT, BUDGET]})[0] is True  # tag filters the tags list
    assert ignored_filter({"min_size_bytes": 100}, ignored) is None  # a bound, not a match
    assert ignored_filter({"name_contains": "report"}, {"count": 1}) is None


def test_hidden_call_ids_from_turn_plans():
    assert hidden_call_ids({"turn_plans": [{"hidden": ["$1"]}, {"hidden": ["$4", "$5"]}]}) == {"call_1", "call_4", "call_5"}
    assert hidden_call_ids({}) is None


# --- Every metric on a good and a bad conversation -------------------------------------------------


@pytest.fixture(scope="module")
def measured() -> pl.DataFrame:
    return measure([good_conversation(), bad_conversation()]).metrics


def figure(metrics: pl.DataFrame, variant: str, metric: str) -> tuple[int, int]:
    row = share_of(metrics, variant, metric)
    assert row is not None, (variant, metric)
    return row["numerator"], row["denominator"]


def test_the_bad_conversation_breaks_every_rule(measured):
    assert figure(measured, "digit_tc", "parameter_named_messages") == (1, 1)
    assert figure(measured, "digit_tc", "system_identifier_messages") == (1, 1)
    assert figure(measured, "digit_tc", "hidden_calls_state_changing") == (1, 2)  # add_tag hidden, search hidden
    assert figure(measured, "digit_tc", "writes_reflected") == (0, 2)  # the tag is not added, the old name kept
    assert figure(measured, "digit_tc", "filters_ignored") == (1, 1)  # budget.xlsx under name_contains=report
    assert figure(measured, "digit_tc", "entity_fields_changed") == (1, 1)  # directory changed by a read
    assert figure(measured, "digit_tc", "outputs_contradicting") == (2, 2)
    assert figure(measured, "digit_tc", "error_texts_with_advice") == (1, 1)
    assert figure(measured, "digit_tc", "error_rate") == (1, 5)
    assert figure(measured, "digit_tc", "errors_repeating_success") == (1, 1)
    basis = measured.filter((pl.col("metric") == "hidden_calls_state_changing") & (pl.col("variant") == "digit_tc"))["basis"]
    assert basis.to_list() == ["record_flags"]


def test_the_good_conversation_keeps_every_rule(measured):
    assert figure(measured, "stateful_search", "parameter_named_messages") == (0, 2)
    assert figure(measured, "stateful_search", "system_identifier_messages") == (0, 2)
    assert figure(measured, "stateful_search", "writes_reflected") == (2, 2)
    assert figure(measured, "stateful_search", "outputs_contradicting") == (0, 2)
    assert figure(measured, "stateful_search", "error_texts_with_advice") == (0, 1)
    assert figure(measured, "stateful_search", "errors_repeating_success") == (0, 1)  # same tool, other arguments
    # without hidden flags, hidden = no informative argument in the user text: only get_file_info by the
    # id the search found, a read (the writes carry the new name or tag the user typed)
    hidden = measured.filter((pl.col("metric") == "hidden_calls_state_changing") & (pl.col("variant") == "stateful_search"))
    assert hidden["basis"].to_list() == ["user_text"]
    assert figure(measured, "stateful_search", "hidden_calls_state_changing") == (0, 1)


def test_per_tool_rows_and_intervals(measured):
    rename = measured.filter((pl.col("metric") == "writes_reflected") & (pl.col("tool") == "rename_file") & (pl.col("variant") == "digit_tc"))
    assert rename.select("numerator", "denominator").row(0) == (0, 1)
    shares = measured.drop_nulls("value")
    assert ((shares["ci_low"] <= shares["value"]) & (shares["value"] <= shares["ci_high"])).all()
    rules = {rule.metric: rule for rule in RULES}
    assert rules["writes_reflected"].holds(measured, "digit_tc") is False
    assert rules["writes_reflected"].holds(measured, "stateful_search") is True
    assert rules["system_identifier_messages"].holds(measured, "digit_tc") is False  # 100 points from stateful search
    assert rules["hidden_calls_state_changing"].holds(measured, "no_impl") is None  # no such variant: no verdict


def test_a_source_without_outputs_has_no_value():
    sequence = ConversationRecord(
        conversation_id="imp-1", source="import", variant="import:calls", messages=[user("Rename a.txt to b.txt"), call(1, "rename_file", file_id="a.txt", new_name="b.txt")], tools=[],
    )
    metrics = measure([sequence]).metrics
    assert share_of(metrics, "import:calls", "writes_reflected") is None
    assert figure(metrics, "import:calls", "error_rate") == (0, 1)


TICKET_TOOLS = [
    {"type": "function", "function": {"name": name, "description": "", "parameters": {"type": "object", "properties": props}}}
    for name, props in (
        ("create_ticket", {"customer_id": {"type": "string"}, "subject": {"type": "string"}}),
        ("list_tickets", {"customer_id": {"type": "string"}}),
    )
]


@pytest.mark.parametrize(("listed_subject", "changed"), [("Question about my subscription", 1), ("Login fails", 0)])
def test_a_created_object_read_back_with_other_values_than_it_was_created_with(listed_subject, changed):
    """A create answers with the new id only; a later list must show what it was created with."""
    messages = [
        user("Open a ticket about my login failing."),
        call(1, "create_ticket", customer_id="C1042", subject="Login fails"),
        result(1, "create_ticket", {"ticket_id": "TIC-10001", "status": "open"}),
        call(2, "list_tickets", customer_id="C1042"),
        result(2, "list_tickets", {"tickets": [{"ticket_id": "TIC-10001", "customer_id": "C1042", "subject": listed_subject, "status": "open"}]}),
        say("Your ticket is open."),
    ]
    record = ConversationRecord(conversation_id="t-1", source="digit_tc", variant="digit_tc", domain="helpdesk", messages=messages, tools=TICKET_TOOLS)
    metrics = measure([record]).metrics
    assert figure(metrics, "digit_tc", "entity_fields_changed") == (changed, 1)


# --- Store and dashboard ---------------------------------------------------------------------------


def test_rows_stored_with_provenance_and_replaced(tmp_path: Path, measured):
    store = Store(tmp_path / "realism.duckdb")
    with store.transaction() as conn:
        replace_realism_metrics(conn, measured, Provenance("run-1", 7, "abc"))
    with store.transaction() as conn:
        written = replace_realism_metrics(conn, measured, Provenance("run-2", 7, "abc"))
    with store.connect() as conn:
        stamps = conn.execute("SELECT DISTINCT run_id, seed, config_hash FROM realism_metrics").fetchall()
        loaded = load_realism_metrics(conn)
    assert written == measured.height == loaded.height
    assert stamps == [("run-2", 7, "abc")]
    assert share_of(loaded, "digit_tc", "writes_reflected")["denominator"] == 2


def test_dashboard_shows_the_realism_section(tmp_path: Path, measured):
    records = [good_conversation(), bad_conversation()]
    tables = extract(records)
    features = compute_features(tables)
    results = analyze(features, settings=DivergenceSettings(n_bootstrap=10, permutation_resamples=9, claim_permutations=9))
    sources = source_profiles(tables, features)
    page = write_dashboard(features, results, sources, None, tmp_path / "dash.html", realism=measured).read_text(encoding="utf-8")
    assert "Realism" in page and "writes reflected" in page and "0.0% (0\\u002f2)" in page  # plotly escapes the slash
    assert page.count("plotly.js v") == 1  # embedded once, no network
    assert realism_section(None, {}, SYNTHESIS_VARIANTS) == []
    without = write_dashboard(features, results, sources, None, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "Realism" not in without
