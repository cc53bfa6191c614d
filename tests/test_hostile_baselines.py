"""Baseline files downloaded from anywhere: a record that breaks the reader is rejected with its file,
line and reason, and everything else in the file and the directory still imports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from digit_assets.engine.baselines.importers import MalformedRecord, import_directory, parse_call


def _run(user: str = "book a table", call_id: object = "c1", text_part: object = None) -> dict:
    content: object = user if text_part is None else [{"type": "text", "text": text_part}]
    return {
        "task_id": 1,
        "messages": [
            {"role": "user", "content": content},
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "find", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "{}"},
            {"role": "assistant", "content": "Done."},
        ],
    }


def _write_jsonl(path: Path, records: list[object]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_run(call_id=["c1"]), "tool_call_id must be a string, not list"),
        (_run(call_id={"id": "c1"}), "tool_call_id must be a string, not dict"),
        (_run(text_part=7), "has no text content"),
    ],
)
def test_a_record_with_wrong_types_is_rejected_with_file_and_line(tmp_path: Path, bad: dict, reason: str) -> None:
    _write_jsonl(tmp_path / "runs.jsonl", [_run(), bad, _run()])
    _write_jsonl(tmp_path / "other.jsonl", [_run()])
    by_file = {result.source_file: result for result in import_directory(tmp_path)}
    assert len(by_file["runs.jsonl"].records) == 2 and len(by_file["other.jsonl"].records) == 1
    [rejection] = by_file["runs.jsonl"].rejections
    assert rejection.position == "line 2" and rejection.reason.startswith("runs.jsonl line 2: ") and reason in rejection.reason


def _truth(record_id: str, call: str) -> dict:
    return {"id": record_id, "ground_truth": [[call]]}


def test_hostile_call_strings_lose_only_their_record(tmp_path: Path) -> None:
    minus_signs = "f(a=" + "-" * 100_000 + "1)"
    deep = "f(a=" + "[" * 5_000 + "]" * 5_000 + ")"
    _write_jsonl(
        tmp_path / "multi_ground_truth.jsonl",
        [
            _truth("ok_1", "ls(a=1)"),
            _truth("minus", minus_signs),
            _truth("inf", "f(a=1e9999)"),
            _truth("deep", deep),
            _truth("ok_2", "cd(folder='x')"),
        ],
    )
    questions = [{"id": record_id, "question": [[{"role": "user", "content": "go"}]]} for record_id in ("ok_1", "minus", "inf", "deep", "ok_2")]
    _write_jsonl(tmp_path / "multi_questions.jsonl", questions)
    [result] = import_directory(tmp_path)
    assert [record.meta["original_id"] for record in result.records] == ["ok_1", "ok_2"]
    reasons = {rejection.item: rejection.reason for rejection in result.rejections}
    assert "over the 10,000 limit" in reasons["minus"] and reasons["minus"].startswith("multi_ground_truth.jsonl line 2")
    assert "not a literal JSON can hold" in reasons["inf"] and "line 3" in reasons["inf"]
    assert "deep" in reasons
    for record in result.records:  # what is imported is valid JSON
        json.loads(json.dumps(record.messages, allow_nan=False))


def test_non_finite_numbers_in_json_are_rejected(tmp_path: Path) -> None:
    lines = [json.dumps(_run()), '{"task_id": 2, "reward": 1e9999, "messages": []}', "{\"task_id\": 3, \"reward\": NaN}", json.dumps(_run())]
    (tmp_path / "runs.jsonl").write_text("\n".join(lines) + "\n")
    [result] = import_directory(tmp_path)
    assert len(result.records) == 2
    reasons = {rejection.position: rejection.reason for rejection in result.rejections}
    assert "non-finite" in reasons["line 2"] and "NaN is not a number JSON can hold" in reasons["line 3"]
    assert all(math.isfinite(record.meta.get("reward", 0)) for record in result.records)


def test_parse_call_bounds_size_before_parsing() -> None:
    with pytest.raises(MalformedRecord, match="over the 10,000 limit"):
        parse_call("f(a=" + "-" * 100_000 + "1)")
    with pytest.raises(MalformedRecord, match="JSON can hold"):
        parse_call("f(a=-1e9999)")


def test_a_baseline_symlink_out_of_the_directory_is_refused_unread(tmp_path: Path) -> None:
    outside = tmp_path / "private.jsonl"
    _write_jsonl(outside, [_run(user="TOP-SECRET")])
    root = tmp_path / "baselines"
    root.mkdir()
    (root / "runs.jsonl").symlink_to(outside)
    _write_jsonl(root / "good.jsonl", [_run()])
    by_file = {result.source_file: result for result in import_directory(root)}
    assert len(by_file["good.jsonl"].records) == 1
    [rejection] = by_file["runs.jsonl"].rejections
    assert by_file["runs.jsonl"].records == [] and "lies outside the directory" in rejection.reason
    assert rejection.raw is None and "TOP-SECRET" not in rejection.model_dump_json()
