"""Trajectories as users bring them: files named anything, positional call arguments, reused call ids.

Every file is written here, small, in the shape of the public formats (never a copy of public data).
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from digit_assets.defs.baselines import checks as baseline_checks
from digit_assets.defs.baselines.assets import imported_baselines
from digit_assets.defs.resources import StoreResource
from digit_assets.engine.baselines.audit import structure_problems
from digit_assets.engine.baselines.importers import ImportResult, import_directory
from digit_assets.store import Store
from tests.pipeline_helpers import build_catalog, checks_of
from tests.user_catalog import write_catalog


def _jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def _question(record_id: str, *texts: str) -> dict:
    return {"id": record_id, "question": [[{"role": "user", "content": text}] for text in texts]}


def _by_file(root: Path, signatures: dict | None = None) -> dict[str, ImportResult]:
    return {result.source_file: result for result in import_directory(root, signatures)}


def _arguments(result: ImportResult) -> list[dict]:
    return [json.loads(call["function"]["arguments"]) for record in result.records for call in record.tool_calls()]


def test_questions_pair_with_ground_truths_by_id_whatever_the_files_are_called(tmp_path):
    _jsonl(tmp_path / "answers.jsonl", [{"id": "fs_7", "ground_truth": [["ls(a=True)"], ["pwd()"]]}])
    _jsonl(tmp_path / "prompts" / "round_two.jsonl", [_question("fs_7", "What is here?", "Where am I?")])
    # a look-alike name with other ids does not pair
    _jsonl(tmp_path / "answers_questions.jsonl", [_question("other_1", "Unrelated.")])
    results = _by_file(tmp_path)
    [record] = results["answers.jsonl"].records
    assert [m["content"] for m in record.messages if m["role"] == "user"] == ["What is here?", "Where am I?"]
    assert record.meta["question_file"] == "prompts/round_two.jsonl"
    assert "prompts/round_two.jsonl" not in results, "a paired question file is read with its answers"
    [orphan] = results["answers_questions.jsonl"].rejections
    assert orphan.item == "other_1" and "no ground-truth file pairs" in orphan.reason


def test_a_ground_truth_without_its_question_is_quarantined_not_imported_without_user_text(tmp_path):
    _jsonl(tmp_path / "gt.jsonl", [{"id": "a", "ground_truth": [["ls(a=True)"]]}, {"id": "b", "ground_truth": [["pwd()"]]}])
    _jsonl(tmp_path / "q.jsonl", [_question("a", "List it.")])
    result = _by_file(tmp_path)["gt.jsonl"]
    assert [r.meta["original_id"] for r in result.records] == ["a"]
    [rejection] = result.rejections
    assert rejection.item == "b" and rejection.reason == "gt.jsonl line 2: no question with id b (q.jsonl): the user's words are missing"
    alone = tmp_path / "alone"
    _jsonl(alone / "gt.jsonl", [{"id": "c", "ground_truth": [["pwd()"]]}])
    [rejection] = _by_file(alone)["gt.jsonl"].rejections
    assert "no question file shares an id with this file" in rejection.reason


def test_positional_arguments_take_their_names_from_docs_beside_the_trajectories(tmp_path):
    _jsonl(tmp_path / "gt.jsonl", [{"id": "p", "ground_truth": [["cd('archives')", "FileSystem.mv('a.txt', destination='old')"]]}])
    _jsonl(tmp_path / "q.jsonl", [_question("p", "Move a.txt from archives into old.")])
    docs = [
        {"name": "cd", "description": "Change directory.", "parameters": {"type": "dict", "properties": {"folder": {"type": "string"}}, "required": ["folder"]}},
        {"name": "mv", "description": "Move a file.", "parameters": {"type": "dict", "properties": {"source": {"type": "string"}, "destination": {"type": "string"}}}},
    ]
    _jsonl(tmp_path / "func_doc" / "filesystem.json", docs)
    results = _by_file(tmp_path)
    assert results["func_doc/filesystem.json"].format == "docs" and not results["func_doc/filesystem.json"].rejections
    assert results["gt.jsonl"].rejections == []
    assert _arguments(results["gt.jsonl"]) == [{"folder": "archives"}, {"source": "a.txt", "destination": "old"}]


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ("cd('archives')", "no tool docs for cd"),
        ("mv('a', 'b', 'c')", "3 positional arguments but mv takes 2 parameters"),
        ("mv('a', source='b')", "argument source is given twice"),
        ("mv(*paths)", "*args cannot be imported"),
    ],
)
def test_positional_arguments_without_docs_or_that_do_not_fit_are_quarantined_with_the_reason(tmp_path, call, reason):
    _jsonl(tmp_path / "gt.jsonl", [{"id": "p", "ground_truth": [[call]]}])
    _jsonl(tmp_path / "q.jsonl", [_question("p", "Do it.")])
    [rejection] = _by_file(tmp_path, {"mv": ["source", "destination"]})["gt.jsonl"].rejections
    assert reason in rejection.reason and rejection.item == "p"


def test_a_reused_tool_call_id_keeps_every_call_and_pairs_results_in_order(tmp_path):
    call = lambda name, args: {"id": "call_0", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}  # noqa: E731
    run = {
        "task_id": 3,
        "messages": [
            {"role": "user", "content": "Find my order and its invoice."},
            {"role": "assistant", "content": None, "tool_calls": [call("find_order", {"email": "a@b.c"})]},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"order_id": "O1"}'},
            {"role": "assistant", "content": None, "tool_calls": [call("get_invoice", {"order_id": "O1"})]},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"invoice_id": "I9"}'},
            {"role": "assistant", "content": None, "tool_calls": [call("get_order", {"order_id": "O1"}), call("get_invoice", {"order_id": "O1"})]},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"status": "shipped"}'},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"invoice_id": "I9"}'},
            {"role": "assistant", "content": "Order O1 has invoice I9."},
        ],
    }
    _jsonl(tmp_path / "runs.jsonl", [run])
    [record] = _by_file(tmp_path)["runs.jsonl"].records
    ids = [c["id"] for c in record.tool_calls()]
    assert ids == ["call_0", "call_0#2", "call_0#3", "call_0#4"]
    results = [(m["tool_call_id"], m["name"]) for m in record.messages if m["role"] == "tool"]
    assert results == [("call_0", "find_order"), ("call_0#2", "get_invoice"), ("call_0#3", "get_order"), ("call_0#4", "get_invoice")]
    assert record.meta["reused_tool_call_ids"] == 3
    assert structure_problems(record, complete=True) == []


def test_imports_use_the_catalog_for_positional_arguments_and_note_reused_ids(tmp_path, monkeypatch):
    specs = write_catalog(tmp_path / "specs")
    baselines = tmp_path / "baselines"
    _jsonl(baselines / "gt.jsonl", [{"id": "g", "ground_truth": [["ls(True)", "cd('archives')"]]}])
    _jsonl(baselines / "q.jsonl", [_question("g", "Go into archives.")])
    reused = {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    _jsonl(
        baselines / "runs.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "Look twice."},
                    {"role": "assistant", "content": None, "tool_calls": [reused]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "{}"},
                    {"role": "assistant", "content": None, "tool_calls": [reused]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "{}"},
                    {"role": "assistant", "content": "Nothing there."},
                ]
            }
        ],
    )
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    monkeypatch.setenv("DIGIT_TC_BASELINES_DIR", str(baselines))
    database = tmp_path / "data" / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    build_catalog(instance, database, specs)
    result = dg.materialize(
        [imported_baselines, *checks_of(baseline_checks)],
        selection=dg.AssetSelection.assets(imported_baselines),
        resources={"store": StoreResource(database=str(database))},
        instance=instance,
    )
    with Store(database).connect() as conn:
        [(messages,)] = conn.execute("SELECT messages FROM conversations WHERE variant = 'import:gt'").fetchall()
        quarantined = conn.execute("SELECT count(*) FROM quarantine WHERE stage = 'import'").fetchone()[0]
    calls = [json.loads(c["function"]["arguments"]) for m in json.loads(messages) for c in m.get("tool_calls") or []]
    assert calls == [{"show_hidden": True}, {"folder": "archives"}] and quarantined == 0
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["imported_baselines_are_well_formed"]
    assert check.passed
    assert check.metadata["note"].value.startswith("1 runs reuse tool-call ids")
