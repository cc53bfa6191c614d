"""A catalog as users bring it, through real Dagster runs on a tmp DuckDB: BFCL-style docs with
``response`` schemas that list no ``required`` fields, and data flow that only meaning finds."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from digit_assets.defs.ingestion.assets import dataflow_graph
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.store import Store
from tests.pipeline_helpers import build_catalog, check_results, resources, synthesize_all_shards
from tests.user_catalog import FILE_SYSTEM, write_catalog


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("user_catalog")
    patch = pytest.MonkeyPatch()
    data = root / "data"
    specs = write_catalog(root / "specs")
    patch.setenv("DIGIT_TC_DATA_DIR", str(data))
    patch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    database = data / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    catalog_run = build_catalog(instance, database, specs)
    shard_runs = synthesize_all_shards(instance, database, conversations=48)
    yield {"database": database, "catalog": catalog_run, "shards": shard_runs}
    patch.undo()


def _rows(database, sql: str) -> list[tuple]:
    with Store(database).connect() as conn:
        return conn.execute(sql).fetchall()


def test_every_function_doc_is_ingested_with_its_declared_response(pipeline):
    rows = _rows(pipeline["database"], "SELECT output_origin, count(*) FROM enriched_tools GROUP BY ALL")
    assert rows == [("declared", 10)]
    assert _rows(pipeline["database"], "SELECT count(*) FROM quarantine") == [(0,)]


def test_edges_by_meaning_are_stored_with_kind_confidence_and_proposer(pipeline):
    edges = set(
        _rows(
            pipeline["database"],
            "SELECT namespace, src_tool, src_field, dst_tool, dst_param, match_kind, score, proposed_by FROM dataflow_edges",
        )
    )
    assert ("filesystem", "ls", "current_directory_content[]", "cd", "folder", "path", 0.6, "offline") in edges
    assert ("filesystem", "ls", "current_directory_content[]", "cat", "file_name", "path", 0.6, "offline") in edges
    assert ("messaging", "get_user_id", "user_id", "send_message", "receiver_id", "synonym", 0.7, "offline") in edges
    assert ("calculator", "add", "result", "multiply", "a", "numeric", 0.5, "offline") in edges
    assert ("messaging", "send_message", "message_id", "delete_message", "message_id", "exact", 1.0, "names") in edges


def test_the_catalog_reports_the_share_of_linked_tools_per_namespace(pipeline):
    [materialization] = pipeline["catalog"].asset_materializations_for_node("dataflow_graph")
    shares = materialization.metadata["linked_share_by_namespace"].data
    assert shares == {"calculator": 1.0, "filesystem": 1.0, "messaging": 1.0}
    checks = check_results(pipeline["catalog"])
    assert checks["every_namespace_has_dataflow"].passed


def test_every_variant_accepts_conversations_in_every_namespace(pipeline):
    assert all(run.success for run in pipeline["shards"])
    rows = _rows(
        pipeline["database"],
        "SELECT variant, domain, count(*) FROM conversations WHERE source = 'digit_tc' GROUP BY ALL ORDER BY ALL",
    )
    accepted = {(variant, domain): count for variant, domain, count in rows}
    for variant in ("digit_tc", "no_impl", "no_bt"):
        assert {domain for v, domain in accepted if v == variant} == {"calculator", "filesystem", "messaging"}, accepted


def test_a_synthesis_run_that_accepts_nothing_fails_with_a_reason_that_matches_the_store(tmp_path, monkeypatch):
    """Responses that declare every field optional (``required: []``) leave edges no plan can use."""
    specs = tmp_path / "specs"
    specs.mkdir()
    docs = [{**doc, "response": {**doc["response"], "required": []}} for doc in FILE_SYSTEM]
    (specs / "filesystem.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(specs))
    database = tmp_path / "data" / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    build_catalog(instance, database, specs)
    [(edges,)] = _rows(database, "SELECT count(*) FROM dataflow_edges")
    assert edges > 0
    result = dg.materialize(
        [dataflow_graph, synthetic_conversations],
        selection=[synthetic_conversations],
        partition_key="0",
        run_config={"ops": {"synthetic_conversations": {"config": {"conversations": 8}}}},
        instance=instance,
        resources=resources(database),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "digit_tc accepted 0 of 2 conversations" in description
    assert f"none of the {edges} data-flow edges in 1 namespaces can be planned with" in description
    assert "read an output field that is not in every result" in description
    # the attempts are kept with the same reason
    reasons = _rows(database, "SELECT DISTINCT stage, reason FROM synthesis_attempts")
    assert [stage for stage, _ in reasons] == ["scenario"] and reasons[0][1] in description
