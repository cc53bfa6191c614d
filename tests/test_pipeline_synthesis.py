"""The ingestion and synthesis stages as Dagster runs them: real materializations, a real DuckDB file."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from digit_assets.engine.records import ConversationRecord
from digit_assets.store import Store
from digit_assets.store.conversations import load_conversations
from tests.pipeline_helpers import build_catalog, check_results, export, synthesize_all_shards


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One small end-to-end run shared by the tests of this module (it is the slow part)."""
    root = tmp_path_factory.mktemp("pipeline")
    patch = pytest.MonkeyPatch()
    data = root / "data"
    patch.setenv("DIGIT_TC_DATA_DIR", str(data))
    from tests.conftest import REPO_SPECS

    patch.setenv("DIGIT_TC_SPECS_DIR", str(REPO_SPECS))
    database = data / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    catalog_run = build_catalog(instance, database, REPO_SPECS)
    shard_runs = synthesize_all_shards(instance, database, conversations=120)
    export_run = export(instance, database)
    yield {"database": database, "data": data, "catalog": catalog_run, "shards": shard_runs, "export": export_run}
    patch.undo()


def test_catalog_checks_pass(pipeline):
    results = check_results(pipeline["catalog"])
    assert set(results) >= {"quarantine_counts", "output_schemas_are_valid", "every_namespace_has_dataflow", "edges_join_known_tools"}
    assert all(evaluation.passed for evaluation in results.values()), {k: v.metadata for k, v in results.items() if not v.passed}


def test_every_variant_is_stored_side_by_side(pipeline):
    with Store(pipeline["database"]).connect() as conn:
        counts = dict(conn.execute("SELECT variant, count(*) FROM conversations GROUP BY variant").fetchall())
        attempts = conn.execute("SELECT count(DISTINCT conversation_id) FROM synthesis_attempts").fetchone()[0]
    assert set(counts) == {"digit_tc", "no_impl", "no_bt"}
    assert all(count > 0 for count in counts.values())
    assert attempts == 3 * 120  # every attempted conversation is accounted for, accepted or not


def test_synthesis_checks_pass_on_every_shard(pipeline):
    for run in pipeline["shards"]:
        results = check_results(run)
        assert set(results) == {
            "calls_match_parameter_schemas",
            "outputs_match_output_schemas",
            "user_messages_do_not_leak",
            "arguments_are_grounded",
            "hidden_calls_only_where_intended",
        }
        failing = {name: e.metadata for name, e in results.items() if not e.passed}
        assert not failing, failing


def test_conversations_have_multi_turn_structure_and_recoveries(pipeline):
    with Store(pipeline["database"]).connect() as conn:
        records = load_conversations(conn, source="digit_tc", variant="digit_tc")
    multi_turn = [r for r in records if r.n_turns() >= 2]
    assert len(multi_turn) >= len(records) / 2
    assert any(r.n_errors() > 0 for r in records), "error recoveries were injected"
    assert sum(r.meta["hidden_calls"] for r in records) > 0
    cross_turn = 0
    for record in multi_turn:
        plans = record.meta["turn_plans"]
        earlier_refs = {call["ref"] for call in plans[0]["calls"]}
        later_args = json.dumps([plan["calls"] for plan in plans[1:]])
        cross_turn += any(f'"{ref}.' in later_args for ref in earlier_refs)
    assert cross_turn > 0


def test_every_row_is_stamped_for_reproducibility(pipeline):
    with Store(pipeline["database"]).connect() as conn:
        for table in ("conversations", "synthesis_attempts", "tool_specs", "enriched_tools", "dataflow_edges"):
            missing = conn.execute(
                f"SELECT count(*) FROM {table} WHERE run_id IS NULL OR seed IS NULL OR config_hash IS NULL"
            ).fetchone()[0]
            assert missing == 0, table


def test_rejections_keep_stage_and_reason(pipeline):
    with Store(pipeline["database"]).connect() as conn:
        rows = conn.execute("SELECT stage, reason FROM synthesis_attempts WHERE NOT accepted").fetchall()
    assert rows, "some attempts are rejected by the filters"
    assert all(stage and reason for stage, reason in rows)


def test_export_is_chat_jsonl(pipeline):
    results = check_results(pipeline["export"])
    assert results["exports_are_chat_records"].passed
    exported = pipeline["data"] / "exports" / "digit_tc.jsonl"
    lines = exported.read_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"messages", "tools"}
        ConversationRecord(conversation_id="x", source="digit_tc", variant="digit_tc", **record)
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"


def test_rematerializing_a_shard_replaces_it(pipeline, tmp_path):
    with Store(pipeline["database"]).connect() as conn:
        before = conn.execute("SELECT count(*), count(DISTINCT conversation_id) FROM conversations WHERE shard = 0").fetchone()
    synthesize_all_shards(dg.DagsterInstance.ephemeral(), pipeline["database"], conversations=120)
    with Store(pipeline["database"]).connect() as conn:
        after = conn.execute("SELECT count(*), count(DISTINCT conversation_id) FROM conversations WHERE shard = 0").fetchone()
    assert before == after and after[0] == after[1]
