"""The baseline assets materialize into a real DuckDB file, idempotently per partition, with passing checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from digit_assets.defs.baselines import checks as baseline_checks
from digit_assets.defs.baselines.assets import imported_baselines, stateful_search_baselines
from digit_assets.defs.resources import StoreResource
from digit_assets.store import Store

FIXTURES = Path(__file__).parent / "data" / "baselines"
CHECKS = [value for value in vars(baseline_checks).values() if isinstance(value, dg.AssetChecksDefinition)]
SEARCH_CHECKS = {
    "stateful_baselines_are_well_formed",
    "stateful_baselines_match_schemas",
    "stateful_baselines_discover_ids",
    "stateful_baselines_have_recoveries",
    "baseline_counts",
}


def _search(database: Path, domain: str, instance: dg.DagsterInstance, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [stateful_search_baselines, imported_baselines, *CHECKS],
        selection=dg.AssetSelection.assets(stateful_search_baselines),
        partition_key=domain,
        run_config={"ops": {"stateful_search_baselines": {"config": {"conversations": 25, "max_attempts": 50, **config}}}},
        resources={"store": StoreResource(database=str(database))},
        instance=instance,
    )


def _import(database: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [stateful_search_baselines, imported_baselines, *CHECKS],
        selection=dg.AssetSelection.assets(imported_baselines),
        resources={"store": StoreResource(database=str(database))},
        instance=instance,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def _query(database: Path, sql: str, *params: object) -> list[tuple]:
    with Store(database).connect(read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_stateful_search_partitions_store_conversations_and_attempts_idempotently(tmp_path: Path) -> None:
    database = tmp_path / "t.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    first = _search(database, "retail", instance)
    assert first.success
    checks = _checks(first)
    assert set(checks) == SEARCH_CHECKS
    assert all(evaluation.passed for evaluation in checks.values()), {n: e.metadata for n, e in checks.items() if not e.passed}
    metadata = first.asset_materializations_for_node("stateful_search_baselines")[0].metadata
    assert metadata["conversations"].value == 25 and metadata["errors"].value == metadata["recoveries"].value
    rows = _query(database, "SELECT count(*), min(run_id), min(seed), count(DISTINCT config_hash) FROM conversations WHERE source = 'stateful_search' AND domain = 'retail'")
    assert rows == [(25, first.run_id, 2026, 1)]
    attempts = _query(database, "SELECT status, count(*) FROM baseline_attempts WHERE domain = 'retail' GROUP BY status")
    solved_turns = _query(database, "SELECT sum(n_turns) FROM conversations WHERE domain = 'retail'")[0][0]
    assert dict(attempts)["solved"] == solved_turns

    assert _search(database, "files", instance).success
    snapshot = _query(database, "SELECT conversation_id, messages FROM conversations WHERE domain = 'retail' ORDER BY 1")
    again = _search(database, "retail", instance)
    assert again.success
    assert _query(database, "SELECT conversation_id, messages FROM conversations WHERE domain = 'retail' ORDER BY 1") == snapshot
    assert _query(database, "SELECT DISTINCT run_id FROM conversations WHERE domain = 'retail'") == [(again.run_id,)]
    assert _query(database, "SELECT count(*) FROM baseline_attempts WHERE domain = 'retail'") == [(sum(n for _, n in attempts),)]
    assert _query(database, "SELECT count(*) FROM conversations WHERE domain = 'files'") == [(25,)], "other partitions are left alone"


def test_unsolved_goals_land_in_baseline_attempts_and_quarantine_with_their_reason(tmp_path: Path) -> None:
    database = tmp_path / "t.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    result = _search(database, "travel", instance, search_budget=3, conversations=5, max_attempts=12)
    assert result.success
    unsolved = _query(database, "SELECT reason FROM baseline_attempts WHERE domain = 'travel' AND status = 'unsolved'")
    assert unsolved and all("budget of 3 calls exhausted" in reason for (reason,) in unsolved)
    quarantined = _query(database, "SELECT source, reason FROM quarantine WHERE stage = 'stateful_search'")
    assert len(quarantined) == len(unsolved) and {source for source, _ in quarantined} == {"travel"}
    # The run's log ends the search with a progress line counting solved and unsolved conversations.
    solved = _query(database, "SELECT count(*) FROM conversations WHERE domain = 'travel'")[0][0]
    lines = [entry.user_message for entry in instance.all_logs(result.run_id) if "stateful search travel" in entry.user_message]
    assert lines and f"{solved + len(quarantined)}/12 done" in lines[-1], lines
    assert f"solved {solved}" in lines[-1] and f"unsolved {len(quarantined)}" in lines[-1], lines


def test_imported_baselines_store_records_and_quarantine_malformed_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "baselines"
    shutil.copytree(FIXTURES, directory)
    monkeypatch.setenv("DIGIT_TC_BASELINES_DIR", str(directory))
    database = tmp_path / "t.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    result = _import(database, instance)
    assert result.success
    checks = _checks(result)
    assert checks["imported_baselines_are_well_formed"].passed
    quarantine_check = checks["imported_baselines_quarantine"]
    assert not quarantine_check.passed and quarantine_check.severity == dg.AssetCheckSeverity.WARN
    stored = _query(database, "SELECT variant, count(*) FROM conversations WHERE source = 'import' GROUP BY variant ORDER BY variant")
    assert stored == [("import:bfcl_like", 1), ("import:calls_ground_truth", 2), ("import:chat_runs", 2), ("import:chat_runs_malformed", 1)]
    reasons = _query(database, "SELECT source, item, reason FROM quarantine WHERE stage = 'import' ORDER BY source, position")
    assert ("chat_runs.json", "no-name") in {(s, i) for s, i, _ in reasons}
    assert any("question without ground truth" in reason for _, _, reason in reasons)
    assert any("the user's words are missing" in reason for _, _, reason in reasons)
    assert len(reasons) == quarantine_check.metadata["quarantined"].value == 17

    (directory / "chat_runs_malformed.jsonl").unlink()
    again = _import(database, instance)
    assert again.success
    assert _query(database, "SELECT count(*) FROM conversations WHERE source = 'import'") == [(5,)]
    assert _query(database, "SELECT count(*) FROM quarantine WHERE stage = 'import'") == [(12,)]
    assert _query(database, "SELECT DISTINCT run_id FROM conversations WHERE source = 'import'") == [(again.run_id,)]
