"""The training dataset files: split by scenario, Parquet and JSONL that load back, and the loader's
check catching rows a trainer could not use."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.synthesis.dataset_card import read_front_matter, render_card
from digit_assets.engine.synthesis.export import (
    PARQUET_SCHEMA,
    DatasetSettings,
    dataset_problems,
    message_problems,
    scenario_of,
    split_of,
    write_dataset,
)

PROVENANCE = {"run_id": "run-1", "seed": 2026, "config_hash": "cafe"}


def _record(index: int, tools: list[str], variant: str = "digit_tc") -> ConversationRecord:
    return ConversationRecord(
        conversation_id=f"{variant}-2026-{index:06d}",
        source="digit_tc",
        variant=variant,
        domain="retail",
        messages=[
            {"role": "user", "content": f"Where is order {index}?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": tools[0], "arguments": json.dumps({"order": index})}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "name": tools[0], "content": json.dumps({"status": "shipped"})},
            {"role": "assistant", "content": "It has shipped."},
        ],
        tools=[
            {"type": "function", "function": {"name": name, "description": f"{name} tool",
                                              "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}}
            for name in tools
        ],
        meta={"provenance": PROVENANCE},
    )


TOOL_SETS = [["get_order", "list_orders"], ["get_order", "cancel_order"], ["find_customer", "get_order", "refund"]]


def _records(n: int = 60, variant: str = "digit_tc") -> list[ConversationRecord]:
    # Tool order differs between conversations of one scenario: the scenario is the set, not the order.
    return [_record(i, list(reversed(TOOL_SETS[i % 3])) if i % 2 else TOOL_SETS[i % 3], variant) for i in range(n)]


def test_conversations_of_one_scenario_share_a_split_in_every_variant_and_the_seed_moves_it():
    settings = DatasetSettings(validation_share=0.5)
    records = _records() + _records(variant="no_impl")
    assert len({scenario_of(r) for r in records}) == 3
    for seed in range(5):
        sides: dict[str, set[str]] = {}
        for record in records:
            sides.setdefault(scenario_of(record), set()).add(split_of(scenario_of(record), seed, settings))
        assert all(len(side) == 1 for side in sides.values())
    assignments = {tuple(split_of(s, seed, settings) for s in sorted(sides)) for seed in range(20)}
    assert len(assignments) > 1  # the seed decides


def test_the_validation_share_is_met_over_many_scenarios():
    settings = DatasetSettings(validation_share=0.2)
    sides = [split_of(f"retail:{i}", 7, settings) for i in range(5000)]
    assert abs(sides.count("validation") / len(sides) - 0.2) < 0.02


def test_written_files_load_back_with_the_schema_and_the_same_rows(tmp_path):
    records = _records()
    splits = {r.conversation_id: "validation" if i % 4 == 0 else "train" for i, r in enumerate(records)}
    written = write_dataset(records, splits, tmp_path)
    files = written["digit_tc"]
    assert files.rows == {"train": 45, "validation": 15}
    table = pq.read_table(tmp_path / "digit_tc" / "train.parquet")
    assert table.schema.equals(PARQUET_SCHEMA)
    first = table.to_pylist()[0]
    assert json.loads(first["tools"]) == records[1].tools
    assert first["messages"][1]["tool_calls"][0]["function"]["name"] == "cancel_order"
    line = json.loads((tmp_path / "digit_tc" / "train.jsonl").read_text().splitlines()[0])
    assert set(line) == {"messages", "tools"} and line["messages"] == records[1].messages
    assert dataset_problems(tmp_path / "digit_tc", files.rows) == []


def test_the_loader_check_reports_a_row_a_trainer_could_not_use(tmp_path):
    records = _records(8)
    write_dataset(records, {r.conversation_id: "train" for r in records}, tmp_path)
    path = tmp_path / "digit_tc" / "train.jsonl"
    lines = path.read_text().splitlines()
    broken = json.loads(lines[2])
    broken["messages"][2]["tool_call_id"] = "call_9"  # a result answering no call
    path.write_text("\n".join([*lines[:2], json.dumps(broken), *lines[3:]]) + "\n")

    problems = dataset_problems(tmp_path / "digit_tc", {"train": 9, "validation": 0})

    assert "train: Parquet has 8 rows, the store says 9" in problems
    assert any("row 3" in p and "answers no earlier call ('call_9')" in p for p in problems)
    assert any("row 3" in p and "Parquet and JSONL messages differ" in p for p in problems)


def test_message_problems_name_roles_bad_arguments_and_unanswered_calls():
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
        {"role": "robot", "content": "beep"},
    ]
    assert message_problems(messages) == [
        "message 1: call c1 has arguments that are not JSON",
        "message 2 has role 'robot'",
        "calls never answered: ['c1']",
    ]


def test_the_card_carries_its_figures_in_front_matter_and_text():
    facts = {
        "variant": "digit_tc",
        "conversations": {"train": 45, "validation": 15},
        "scenarios": {"train": 2, "validation": 1},
        "near_duplicates": {"examined": 70, "removed": 10, "threshold": 0.8, "num_perm": 128, "shingle_words": 3, "shingle_calls": 2},
        "domains": [{"domain": "retail", "conversations": 60, "tools_called": 3}],
        "tools_called": 3,
        "turns": {1: 60},
        "calls": {1: 60},
        "realism": [{"metric": "error_rate", "numerator": 3, "denominator": 60, "value": 0.05, "ci_low": 0.017, "ci_high": 0.137}],
        "fidelity_scores": [{"family": "length", "value": 0.025, "ci_low": 0.019, "ci_high": 0.032}],
        "fidelity_claims": [{"reference": "no_impl", "family": "length", "difference": -0.014, "ci_low": -0.032,
                             "ci_high": -0.005, "perm_p": 0.08, "holds": True, "reason": None}],
        "provenance": [{"seed": 2026, "config_hash": "cafe", "conversations": 60}],
        "models": [{"role": "planner", "llm": "offline", "calls": 240}],
        "directory": "/data/dataset/digit_tc",
        "split_seed": 2026,
        "validation_share": 0.1,
    }
    not_run = {**facts, "near_duplicates": {**facts["near_duplicates"], "removed": 0, "threshold": None}}
    assert "Near-duplicate removal has not run on this store" in render_card(not_run, "0123abcd4567")
    card = render_card(facts, "0123abcd4567")
    front = read_front_matter(card)
    assert front["digit_tc"] == facts
    assert front["configs"][0]["config_name"] == "export-0123abcd4567"
    assert front["configs"][0]["data_files"] == [{"split": "train", "path": "train.parquet"}, {"split": "validation", "path": "validation.parquet"}]
    for text in ("10 of 70 accepted conversations were near-duplicates", "| error_rate | 3 / 60 | 0.050 [0.017, 0.137] |",
                 "| length | 0.025 [0.019, 0.032] |", "| no_impl | length | -0.014 [-0.032, -0.005] | 0.08 | yes |",
                 "| planner | `offline` | 240 |", "`cafe`"):
        assert text in card
