"""``digit-tc materialize``: chosen stage jobs, run config from the command line, runs recorded in DAGSTER_HOME."""

from __future__ import annotations

import json
import re
import shutil

import dagster as dg
import duckdb

from digit_assets.cli import main
from tests.conftest import REPO_SPECS
from tests.user_catalog import FILE_SYSTEM

SPEC = "library.bfcl.jsonl"


def test_materialize_runs_the_chosen_jobs_with_the_conversation_count(data_dir, tmp_path, monkeypatch, capsys):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy2(REPO_SPECS / SPEC, specs / SPEC)
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    exit_code = main(
        ["materialize", "--job", "ingest_spec_file", "--job", "build_tool_catalog",
         "--job", "synthesize_shard", "--conversations", "8"]
    )

    assert exit_code == 0
    printed = capsys.readouterr().out
    stage_lines = [line for line in printed.splitlines() if line.startswith(("ok ", "FAILED "))]
    assert [line.split()[1] for line in stage_lines] == ["ingest_spec_file", "build_tool_catalog", "synthesize_shard"]
    assert "synthesize_shard     4 runs" in stage_lines[2]  # one run per shard, one line per stage
    assert "FAILED" not in printed
    # Dagster's event log is in the log file, not on the terminal.
    assert "STEP_START" not in printed and "DEBUG" not in printed
    log = (data_dir / "logs" / "materialize.log").read_text()
    assert "STEP_START" in log and "synthetic_conversations" in log
    # The summary: accepted per variant, checks, where things are.
    assert re.search(r"digit_tc\s+8\s+\d+\s+0\s+0\s+0", printed), printed
    assert re.search(r"checks: \d+ passed, \d+ warned, 0 failed; runs: 6 ok, 0 failed", printed), printed
    assert "dashboard " in printed and "dataset " in printed and str(home) in printed
    assert len(printed.splitlines()) <= 40
    with duckdb.connect(str(data_dir / "digit_tc.duckdb"), read_only=True) as conn:
        attempted = dict(
            conn.execute("SELECT variant, count(DISTINCT conversation_id) FROM synthesis_attempts GROUP BY variant").fetchall()
        )
    assert attempted == {"digit_tc": 8, "no_impl": 8, "no_bt": 8}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert len(runs) == 6 and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)


def test_a_failing_stage_is_reported_and_sets_the_exit_code(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(tmp_path / "no_specs"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    # No catalog was built: there are no tools to plan conversations with.
    exit_code = main(["materialize", "--job", "synthesize_shard", "--conversations", "2"])

    printed = capsys.readouterr().out
    assert exit_code == 1
    [failed] = [line for line in printed.splitlines() if line.startswith("FAILED")]
    # One line: the first failed run with its reason, and how many more failed.
    assert failed.startswith("FAILED synthesize_shard[0]: synthetic_conversations: the tool catalog in ")
    assert failed.endswith("(+3 more failed runs)")
    assert "checks: 0 passed, 0 warned, 0 failed; runs: 0 ok, 4 failed" in printed


def test_a_synthesis_that_accepts_nothing_fails_and_sets_the_exit_code(data_dir, tmp_path, monkeypatch, capsys):
    """Edges exist but every response declares its fields optional: nothing can be planned, nothing is ``ok``."""
    specs = tmp_path / "specs"
    specs.mkdir()
    docs = [{**doc, "response": {**doc["response"], "required": []}} for doc in FILE_SYSTEM]
    (specs / "filesystem.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    exit_code = main(
        ["materialize", "--job", "ingest_spec_file", "--job", "build_tool_catalog", "--job", "synthesize_shard", "--conversations", "4"]
    )

    printed = capsys.readouterr().out
    assert exit_code == 1
    assert "ok     build_tool_catalog" in printed
    [failed] = [line for line in printed.splitlines() if line.startswith("FAILED")]
    assert failed.startswith("FAILED synthesize_shard[0]: synthetic_conversations: shard 0: ") and "accepted 0 of" in failed


def test_verbose_prints_the_event_log_on_the_terminal(data_dir, tmp_path, monkeypatch, capsys):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy2(REPO_SPECS / SPEC, specs / SPEC)
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    assert main(["materialize", "--job", "ingest_spec_file", "--verbose"]) == 0

    captured = capsys.readouterr()
    assert "STEP_START" in captured.err + captured.out
    assert "ok     ingest_spec_file" in captured.out
