"""Conversations in flight at once through the real client: the outcome does not depend on how many."""

from __future__ import annotations

import pytest

from digit_assets import settings
from digit_assets.defs.resources import LLMResource
from digit_assets.engine.dataflow import build_dataflow_graph, graph_edges
from digit_assets.engine.enrich import enrich_tools
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.progress import Progress
from digit_assets.engine.synthesis.rollout import Catalog, SynthesisSettings, synthesize
from tests.fake_openai_server import FakeOpenAIServer, offline_responder


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    root = settings.PROJECT_ROOT / "specs"
    specs = [tool for source in list_spec_files(root) for tool in ingest_file(root / source, root).tools]
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=7)
    return Catalog.build(enriched, graph_edges(build_dataflow_graph(enriched)))


def _outcomes(catalog: Catalog, base_url: str, workers: int, lines: list[str]) -> list[tuple]:
    progress = Progress(lines.append, "test", total=12, interval_s=0.0)
    with OpenAIChatLLM(model="fake-model", base_url=base_url, api_key="sk-test", timeout_s=10.0) as llm:
        outcomes = synthesize(
            catalog, llm, SynthesisSettings(), base_seed=5, indices=range(12), workers=workers,
            on_outcome=lambda o: progress.advance(**{"accepted" if o.accepted else "rejected": 1}),
        )
    progress.finish()
    return [
        (o.conversation_id, o.accepted, o.reject_stage, o.reject_reason, o.record.model_dump_json() if o.record else None)
        for o in outcomes
    ]


def test_the_same_conversations_with_1_and_8_in_flight(catalog):
    serial_lines: list[str] = []
    parallel_lines: list[str] = []
    with FakeOpenAIServer(offline_responder(catalog)) as server:
        serial = _outcomes(catalog, server.base_url, 1, serial_lines)
        parallel = _outcomes(catalog, server.base_url, 8, parallel_lines)
    assert [row[0] for row in serial] == [f"digit_tc-5-{i:06d}" for i in range(12)]
    assert serial == parallel
    assert any(accepted for _, accepted, *_ in serial)
    # Progress saw every conversation, from whichever thread finished it.
    accepted = sum(accepted for _, accepted, *_ in serial)
    for lines in (serial_lines, parallel_lines):
        assert len(lines) == 13 and lines[-1].startswith("test: 12/12 done")
        assert f"accepted {accepted}" in lines[-1]


@pytest.mark.parametrize("workers", [1, 4, 8])
def test_the_concurrency_limit_is_how_many_requests_are_in_flight(catalog, workers):
    with FakeOpenAIServer(offline_responder(catalog, delay_s=0.05)) as server:
        llm = OpenAIChatLLM(model="fake-model", base_url=server.base_url, api_key="sk-test", timeout_s=10.0)
        with llm:
            synthesize(catalog, llm, SynthesisSettings(), base_seed=5, indices=range(2 * workers), workers=workers)
    # Each conversation waits for its own answer before its next step: one request each at most.
    assert server.peak_in_flight <= workers
    # And the limit is used (how many overlap at the busiest moment depends on timing).
    assert server.peak_in_flight > workers // 2


def test_the_concurrency_defaults_by_provider():
    assert LLMResource(provider="offline").workers == 1
    assert LLMResource(provider="openai").workers == 8
    assert LLMResource(provider="openai", concurrency=32).workers == 32
