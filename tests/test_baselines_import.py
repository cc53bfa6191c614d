"""Importers of public stateful trajectories: both formats, companion files, malformed records."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from digit_assets import settings
from digit_assets.engine.baselines.audit import structure_problems
from digit_assets.engine.baselines.importers import ImportResult, MalformedRecord, import_directory, parse_call

FIXTURES = Path(__file__).parent / "data" / "baselines"


@pytest.fixture(scope="module")
def results() -> dict[str, ImportResult]:
    return {result.source_file: result for result in import_directory(FIXTURES)}


def _reasons(result: ImportResult) -> dict[str | None, str]:
    return {rejection.item: rejection.reason for rejection in result.rejections}


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("cd(folder='document')", "cd", {"folder": "document"}),
        ("TradingBot.place_order(order_type='Buy', symbol='NVDA', price=220.34, amount=50)", "TradingBot.place_order", {"order_type": "Buy", "symbol": "NVDA", "price": 220.34, "amount": 50}),
        ("a.b.c(x=-2, y=-0.5, z=None, flag=True)", "a.b.c", {"x": -2, "y": -0.5, "z": None, "flag": True}),
        ("post(tags=['#a', '#b'], meta={'k': (1, 2), 'n': [None]}, empty=[])", "post", {"tags": ["#a", "#b"], "meta": {"k": [1, 2], "n": [None]}, "empty": []}),
        ("  ls()  ", "ls", {}),
    ],
)
def test_call_strings_are_parsed_into_names_and_literal_arguments(text: str, name: str, arguments: dict) -> None:
    assert parse_call(text) == (name, arguments)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cd(folder='a'", "not valid Python call syntax"),
        ("cd('a')", "positional arguments cannot be mapped to parameter names: no tool docs for cd"),
        ("run(cmd=__import__('os').system('echo pwned'))", "argument cmd is not a literal"),
        ("f(x=y)", "argument x is not a literal"),
        ("f(**opts)", "**kwargs"),
        ("x = 1", "not valid Python call syntax"),
        ("[1, 2]", "is not a function call"),
        ("get()(a=1)", "(dotted) name"),
        ("f(data=b'bytes')", "argument data is not a literal"),
        ("f(a=1, a=2)", "argument a is given twice"),
    ],
)
def test_anything_but_a_literal_keyword_call_is_refused_without_running_it(text: str, reason: str) -> None:
    with pytest.raises(MalformedRecord, match=re.escape(reason)):
        parse_call(text)


def test_chat_runs_in_a_json_list_keep_run_fields_and_reject_bad_runs(results: dict[str, ImportResult]) -> None:
    result = results["chat_runs.json"]
    assert result.format == "chat"
    assert [r.conversation_id for r in result.records] == ["import:chat_runs.json:item-0", "import:chat_runs.json:item-1"]
    tau, parts = result.records
    assert tau.source == "import" and tau.variant == "import:chat_runs" and tau.domain == "retail"
    assert tau.meta["task_id"] == 12 and tau.meta["reward"] == 1.0 and tau.meta["trial"] == 0
    assert tau.meta["system_messages"] == 1 and tau.meta["tools_declared"] and len(tau.tools) == 5
    assert tau.n_turns() == 2 and len(tau.tool_calls()) == 5
    assert parts.messages[0] == {"role": "user", "content": "List my orders"}
    assert json.loads(parts.messages[1]["tool_calls"][0]["function"]["arguments"]) == {"customer_id": "C1"}
    assert parts.messages[2]["name"] == "list_orders" and parts.messages[2]["content"] == '{"orders": []}'
    assert not parts.meta["tools_declared"] and parts.tools == []
    reasons = _reasons(result)
    assert "no non-empty 'messages' or 'traj'" in reasons["no-messages"]
    assert "tool_call 0 has no function name" in reasons["no-name"]
    for rejection in result.rejections:
        assert rejection.stage == "import" and rejection.source == "chat_runs.json" and rejection.position.startswith("item ")
        assert rejection.reason.startswith(f"chat_runs.json {rejection.position}: ")


def test_chat_runs_in_jsonl_survive_bad_lines_and_keep_real_errors(results: dict[str, ImportResult]) -> None:
    result = results["chat_runs_malformed.jsonl"]
    assert [r.meta["task_id"] for r in result.records] == [27]
    failed = result.records[0]
    assert failed.meta["reward"] == 0.0 and failed.n_errors() == 1
    assert structure_problems(failed, complete=True) == []
    reasons = {rejection.position: rejection.reason for rejection in result.rejections}
    assert "not valid JSON" in reasons["line 2"]
    assert "arguments of cancel_order are not JSON" in reasons["line 4"]
    assert "unknown tool_call_id 'nope'" in reasons["line 5"]
    assert "no user message" in reasons["line 6"]
    assert "unknown role 'robot'" in reasons["line 7"]
    assert "line 3" not in reasons, "blank lines are not records"
    assert all(rejection.raw for rejection in result.rejections)


def test_ground_truth_with_questions_becomes_turns_of_calls_without_outputs(results: dict[str, ImportResult]) -> None:
    result = results["calls_ground_truth.jsonl"]
    assert result.format == "ground_truth"
    by_id = {r.meta["original_id"]: r for r in result.records}
    assert set(by_id) == {"multi_turn_base_0", "multi_turn_base_1"}
    files = by_id["multi_turn_base_0"]
    assert files.n_turns() == 3 and files.messages[0]["content"].startswith("Move 'final_report.pdf'")
    assert [c["function"]["name"] for c in files.tool_calls()] == ["cd", "mkdir", "mv", "cd", "grep", "sort"]
    assert files.meta["tool_outputs"] is False and files.meta["question_file"] == "calls_questions.jsonl"
    assert not any(m["role"] == "tool" for m in files.messages)
    assert structure_problems(files, complete=False) == []
    trading = by_id["multi_turn_base_1"]
    assert json.loads(trading.tool_calls()[-1]["function"]["arguments"]) == {"amount": -150.0}
    reasons = {(r.source, r.item): r.reason for r in result.rejections}
    assert "no question with id no-question (calls_questions.jsonl): the user's words are missing" in reasons[("calls_ground_truth.jsonl", "no-question")]
    assert "not valid Python call syntax" in reasons[("calls_ground_truth.jsonl", "unparsable")]
    assert "positional arguments cannot be mapped to parameter names: no tool docs for cd" in reasons[("calls_ground_truth.jsonl", "positional")]
    assert "not a literal" in reasons[("calls_ground_truth.jsonl", "not-literal")]
    assert "1 question turns but 2 ground-truth turns" in reasons[("calls_ground_truth.jsonl", "turn-mismatch")]
    assert "question without ground truth" in reasons[("calls_questions.jsonl", "lonely")]
    assert ("calls_questions.jsonl", "turn-mismatch") not in reasons, "its ground truth exists (and was rejected)"
    positions = {r.position: r.reason for r in result.rejections if r.source == "calls_ground_truth.jsonl"}
    assert "has no 'id'" in positions["line 7"] and "not valid JSON" in positions["line 8"]


def test_bfcl_layout_pairs_answers_with_questions_and_lone_or_unknown_files_are_reported(results: dict[str, ImportResult]) -> None:
    paired = results["possible_answer/bfcl_like.json"]
    assert paired.rejections == [] and len(paired.records) == 1
    record = paired.records[0]
    assert record.meta["question_file"] == "bfcl_like.json" and record.n_turns() == 2
    assert json.loads(record.tool_calls()[-1]["function"]["arguments"])["description"] is None
    assert "bfcl_like.json" not in results, "a paired question file is read with its answers"
    orphan = results["orphan_questions.jsonl"]
    assert orphan.records == [] and "no ground-truth file pairs" in orphan.rejections[0].reason and orphan.rejections[0].item == "alone"
    unknown = results["unknown.json"]
    assert unknown.format is None and len(unknown.rejections) == 1 and unknown.rejections[0].item is None


def test_shipped_baselines_import_cleanly(tmp_path: Path) -> None:
    results = import_directory(settings.PROJECT_ROOT / "baselines")
    assert results and all(result.rejections == [] for result in results)
    records = [record for result in results for record in result.records]
    assert {r.variant for r in records} == {"import:retail_agent_runs", "import:multi_turn_ground_truth"}
    assert sum(r.n_errors() for r in records) >= 2, "the sample runs hold real tool errors"
    assert all(structure_problems(r, complete=False) == [] for r in records)
    assert import_directory(tmp_path / "missing") == []
    hidden = tmp_path / ".cache"
    hidden.mkdir()
    shutil.copy(FIXTURES / "unknown.json", hidden / "unknown.json")
    assert import_directory(tmp_path) == []
