"""Conversations rolled out by several client processes: the same outcomes as one process, the run's
cache shared with them, and a failure in any of them stops the run with its cause."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client

import dagster as dg
import pytest

from digit_assets.engine.llm.openai_chat import OpenAIChatSettings
from digit_assets.engine.llm.port import LLMUnavailable
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter
from digit_assets.engine.ports import PortRecipe
from digit_assets.engine.synthesis.processes import slot_shares, synthesize_in_processes
from digit_assets.engine.synthesis.rollout import SynthesisSettings, synthesize
from digit_assets.store.llm_cache import CacheClient, CachedPorts, CacheServer, ResponseCache
from digit_assets.store import Store
from tests.fake_openai_server import FakeOpenAIServer, offline_responder
from tests.llm_helpers import build_catalog_database, catalog_of, fresh_copy, openai_resource, synthesize_shard, table_rows


@pytest.fixture(scope="module")
def catalog_database(tmp_path_factory):
    return build_catalog_database(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="module")
def catalog(catalog_database):
    return catalog_of(catalog_database)


def test_two_processes_give_the_outcomes_of_one(catalog):
    settings = SynthesisSettings()
    alone = UsageMeter()
    expected = synthesize(catalog, MeteredLLM(PortRecipe().build(alone), alone), settings, base_seed=5, indices=range(2, 14))
    shared, seen = UsageMeter(), []
    began = time.time()
    outcomes, reports = synthesize_in_processes(
        catalog, CachedPorts(PortRecipe()), settings, base_seed=5, indices=range(2, 14), processes=2, workers=2,
        meter=shared, on_outcome=seen.append,
    )
    assert [o.conversation_id for o in outcomes] == [o.conversation_id for o in expected]
    assert [(o.accepted, o.reject_stage, o.record) for o in outcomes] == [(o.accepted, o.reject_stage, o.record) for o in expected]
    assert sorted(o.conversation_id for o in seen) == sorted(o.conversation_id for o in expected)
    assert shared.snapshot().totals() == alone.snapshot().totals() and shared.snapshot().totals()["calls"] > 0
    assert len(reports) == 2 and all(report.cpu_s > 0 and report.usage.totals()["calls"] > 0 for report in reports)
    # one slot each: filled when the process took its first conversation
    assert all(began < report.slots_filled_at < time.time() for report in reports)
    assert [report.slots for report in reports] == [1, 1]


def test_the_slots_are_shared_out_without_exceeding_the_in_flight_count():
    assert slot_shares(256, 3) == [86, 85, 85]
    assert slot_shares(5, 2) == [3, 2]
    assert slot_shares(4, 4) == [1, 1, 1, 1]


def test_no_more_processes_than_slots(catalog):
    outcomes, reports = synthesize_in_processes(
        catalog, CachedPorts(PortRecipe()), SynthesisSettings(), base_seed=5, indices=range(4), processes=3, workers=2,
        meter=UsageMeter(),
    )
    assert len(outcomes) == 4 and [report.slots for report in reports] == [1, 1]


def test_more_processes_than_conversations_start_one_per_conversation(catalog):
    outcomes, reports = synthesize_in_processes(
        catalog, CachedPorts(PortRecipe()), SynthesisSettings(), base_seed=5, indices=[7], processes=4, workers=8,
        meter=UsageMeter(),
    )
    assert [o.conversation_id for o in outcomes] == ["digit_tc-5-000007"] and len(reports) == 1
    assert reports[0].slots_filled_at is None and reports[0].slots == 8  # eight slots, one conversation


def test_a_dead_endpoint_stops_the_run_with_its_cause(catalog):
    dead = OpenAIChatSettings(
        model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-test", max_attempts=1, timeout_s=2.0,
        breaker_consecutive_failures=2,
    )
    with pytest.raises(LLMUnavailable, match="127.0.0.1:9 is unavailable"):
        synthesize_in_processes(
            catalog, CachedPorts(PortRecipe(default=dead)), SynthesisSettings(), base_seed=5, indices=range(6),
            processes=2, workers=2, meter=UsageMeter(),
        )


@contextmanager
def _exits(meter):
    os._exit(3)
    yield


@contextmanager
def _refuses(meter):
    raise ValueError("no port for you")
    yield


def test_a_process_that_dies_or_fails_is_reported(catalog):
    with pytest.raises(RuntimeError, match=r"rollout process \d died \(exit code 3\)"):
        synthesize_in_processes(catalog, _exits, SynthesisSettings(), base_seed=5, indices=range(4), processes=2, workers=2, meter=UsageMeter())
    with pytest.raises(RuntimeError, match=r"rollout process \d failed: ValueError: no port for you"):
        synthesize_in_processes(catalog, _refuses, SynthesisSettings(), base_seed=5, indices=range(4), processes=2, workers=2, meter=UsageMeter())


def test_the_cache_server_answers_its_clients_and_refuses_a_wrong_key(tmp_path):
    with ResponseCache(Store(tmp_path / "cache.duckdb").path) as cache, CacheServer(cache) as server:
        client = CacheClient(server.address)
        assert client.get("k1") is None
        client.put("k1", "model", "plan_turn", 3, '{"a": 1}')
        assert client.get("k1") == '{"a": 1}' and cache.get("k1") == '{"a": 1}'
        with pytest.raises(AuthenticationError):
            Client(server.address.address, authkey=b"not the key")
        assert client.get("k1") == '{"a": 1}'  # still served
        client.close()
    assert "authkey" not in repr(server.address) and repr(server.address.authkey) not in repr(server.address)


def test_a_run_in_two_processes_stores_what_one_process_does_and_shares_the_cache(catalog_database, tmp_path):
    rows = "SELECT conversation_id, messages, meta->>'$.seed' FROM conversations ORDER BY conversation_id"
    usage = "SELECT sum(calls), sum(requests), sum(cache_hits) FROM llm_usage WHERE asset = 'synthetic_conversations'"
    one, two = fresh_copy(catalog_database, tmp_path / "one"), fresh_copy(catalog_database, tmp_path / "two")
    with FakeOpenAIServer(offline_responder(catalog_of(catalog_database))) as server:
        synthesize_shard(dg.DagsterInstance.ephemeral(), one, openai_resource(server.base_url), conversations=16)
        paid = len(server.requests)
        processes = openai_resource(server.base_url, processes=2, concurrency=4)
        result = synthesize_shard(dg.DagsterInstance.ephemeral(), two, processes, conversations=16)
        assert len(server.requests) == 2 * paid
        synthesize_shard(dg.DagsterInstance.ephemeral(), two, processes, conversations=16)
        assert len(server.requests) == 2 * paid  # the second run's processes answered from the run's cache
    assert paid > 0
    assert table_rows(two, rows) == table_rows(one, rows) != []
    assert table_rows(two, usage)[0] == (paid, 0, paid)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["llm_processes"].value == 2 and metadata["llm_requests"].value == paid


def test_the_environment_sets_the_processes_and_refuses_a_malformed_count(monkeypatch):
    from digit_assets.defs.resources import llm_from_environment

    monkeypatch.setenv("DIGIT_TC_LLM_PROCESSES", "3")
    assert llm_from_environment().processes == 3
    monkeypatch.setenv("DIGIT_TC_LLM_PROVIDER", "openai")
    monkeypatch.setenv("DIGIT_TC_LLM_MODEL", "m")
    assert llm_from_environment().processes == 3
    monkeypatch.setenv("DIGIT_TC_LLM_PROCESSES", "two")
    with pytest.raises(ValueError, match="DIGIT_TC_LLM_PROCESSES='two' is not a valid processes"):
        llm_from_environment()
