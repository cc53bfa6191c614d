"""The response cache as the pipeline uses it: a re-materialization with the same config makes no HTTP call."""

from __future__ import annotations

import dagster as dg
import pytest

from digit_assets.defs.resources import LLMResource
from digit_assets.store.llm_cache import CachingLLM
from digit_assets.engine.offline.dispatch import OfflineLLM
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.llm.usage import UsageMeter
from digit_assets.store import Store
from tests.fake_openai_server import FakeOpenAIServer, offline_responder
from tests.llm_helpers import build_catalog_database, catalog_of, fresh_copy, openai_resource, synthesize_shard, table_rows


@pytest.fixture(scope="module")
def catalog_database(tmp_path_factory):
    return build_catalog_database(tmp_path_factory.mktemp("catalog"))


def test_rematerializing_the_same_partition_makes_no_http_call(catalog_database, tmp_path):
    database = fresh_copy(catalog_database, tmp_path)
    conversations = "SELECT conversation_id, messages, meta FROM conversations ORDER BY conversation_id"
    with FakeOpenAIServer(offline_responder(catalog_of(database))) as server:
        llm = openai_resource(server.base_url)
        synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=24)
        paid = len(server.requests)
        first = table_rows(database, conversations)
        first_usage = table_rows(database, "SELECT sum(calls), sum(requests), sum(cache_hits) FROM llm_usage WHERE asset = 'synthetic_conversations'")[0]
        result = synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=24)
        assert len(server.requests) == paid  # every answer came from llm_cache
    assert paid > 0 and first
    assert first_usage == (paid, paid, 0)
    assert table_rows(database, conversations) == first
    calls, requests, hits = table_rows(database, "SELECT sum(calls), sum(requests), sum(cache_hits) FROM llm_usage WHERE asset = 'synthetic_conversations'")[0]
    assert (calls, requests, hits) == (paid, 0, paid)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["llm_cache_hits"].value == paid and metadata["llm_requests"].value == 0
    [(variant, accepted, per_accepted)] = table_rows(
        database, "SELECT variant, accepted, calls_per_accepted FROM llm_usage_per_accepted"
    )
    assert variant == "digit_tc" and accepted == len(first) and per_accepted == paid / accepted


def test_a_changed_config_misses_the_cache(catalog_database, tmp_path):
    database = fresh_copy(catalog_database, tmp_path)
    with FakeOpenAIServer(offline_responder(catalog_of(database))) as server:
        llm = openai_resource(server.base_url)
        synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=8)
        paid = len(server.requests)
        synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=8, seed=99)
        assert len(server.requests) > paid


def test_only_a_remote_provider_with_the_cache_on_goes_through_the_cache(tmp_path):
    store = Store(tmp_path / "cache.duckdb")
    with LLMResource(provider="offline").session(store, UsageMeter()) as port:
        assert isinstance(port.inner, OfflineLLM)
    remote = openai_resource("http://127.0.0.1:9/v1")
    with remote.session(store, UsageMeter()) as port:
        assert isinstance(port.inner, CachingLLM) and isinstance(port.inner.inner, OpenAIChatLLM)
    with remote.model_copy(update={"cache": False}).session(store, UsageMeter()) as port:
        assert isinstance(port.inner, OpenAIChatLLM)
