"""The API key reaches the server and nothing else: not logs, event log, metadata, tables, exports or DAGSTER_HOME.

The server is careless on purpose: some of its error replies and invalid answers echo the
Authorization header, so the key comes back inside texts the pipeline stores (rejection reasons).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import dagster as dg

from digit_assets.defs.resources import llm_from_environment
from tests.conftest import REPO_SPECS
from tests.fake_openai_server import FakeOpenAIServer, FaultInjector, offline_responder
from digit_assets.defs.ingestion.assets import dataflow_graph, enriched_tools, tool_specs
from tests.llm_helpers import build_catalog_database, catalog_of, dump_every_table, fresh_copy, synthesize_shard
from tests.pipeline_helpers import export, resources


def test_the_api_key_is_sent_and_never_kept(tmp_path, monkeypatch, caplog, capfd, data_dir):
    secret = f"sk-digit-tc-{uuid.uuid4().hex}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    catalog = []  # the enriched catalog, once the enrichment run on this server has made it
    injector = FaultInjector(
        offline_responder(lambda: catalog[0]), rate=0.2, seed=5, faults=("rate_limit", "bad_request", "schema_invalid"), echo_key=True
    )
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(injector) as server, dg.instance_for_test(temp_dir=str(home)) as instance:
        monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(REPO_SPECS))
        monkeypatch.setenv("DIGIT_TC_LLM_PROVIDER", "openai")
        monkeypatch.setenv("DIGIT_TC_LLM_MODEL", "fake-model")
        monkeypatch.setenv("DIGIT_TC_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("DIGIT_TC_LLM_API_KEY", secret)
        llm = llm_from_environment()
        assert secret not in repr(llm)
        # Specs are ingested offline (no LLM); enrichment, synthesis and export run on the fake server.
        database = fresh_copy(build_catalog_database(tmp_path / "catalog"), data_dir)
        runs = [
            dg.materialize(
                [tool_specs, enriched_tools, dataflow_graph],
                selection=[enriched_tools, dataflow_graph],
                instance=instance,
                resources=resources(database, llm),
            )
        ]
        catalog.append(catalog_of(database))
        runs.append(synthesize_shard(instance, database, llm, conversations=12))
        runs.append(export(instance, database))
        assert all(run.success for run in runs)
        event_log = [dg.serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)]
        metadata = [
            repr(event.materialization.metadata) for run in runs for event in run.get_asset_materialization_events()
        ]
    enrichment = runs[0].asset_materializations_for_node("enriched_tools")[0].metadata
    assert enrichment["llm_calls"].value > 0 and "infer_output_schema" in enrichment["llm_usage"].value
    received = {request.headers.get("authorization") for request in server.requests}
    assert received == {f"Bearer {secret}"}
    assert injector.injected["bad_request"] and injector.injected["schema_invalid"], injector.injected

    stored = dump_every_table(database)
    assert "Bearer ***" in stored  # the echoed key came back into stored reasons, masked
    captured = capfd.readouterr()
    places = {
        "python logs": "\n".join(record.getMessage() for record in caplog.records),
        "stdout/stderr": captured.out + captured.err,
        "dagster event log": "\n".join(event_log),
        "materialization metadata": "\n".join(metadata),
        "duckdb tables": stored,
        "exports": "\n".join(path.read_text() for path in sorted((data_dir / "exports").glob("*.jsonl"))),
    }
    assert places["dagster event log"] and places["exports"]
    for place, text in places.items():
        assert secret not in text, place
    on_disk = [path for path in Path(home).rglob("*") if path.is_file()]
    assert on_disk
    assert [path for path in on_disk if secret.encode() in path.read_bytes()] == []
