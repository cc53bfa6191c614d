"""Fault injection over real HTTP: each kind of server failure on ``OpenAIChatLLM``, then a synthesis
run against a server that answers every role validly but injects faults at a seeded rate."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from digit_assets.engine.llm import LLMError, LLMOutputInvalid
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.synthesis.roles import INFER_OUTPUT_SCHEMA, OutputSchemaRequest, OutputSchemaResponse
from digit_assets.engine.llm.usage import UsageMeter
from tests.fake_openai_server import (
    FakeOpenAIServer,
    FaultInjector,
    Reply,
    chat_completion,
    completion_reply,
    error_reply,
    offline_responder,
)
from tests.llm_helpers import build_catalog_database, catalog_of, fresh_copy, openai_resource, synthesize_shard, table_rows

REQUEST = OutputSchemaRequest(tool_name="get_order", description="Get an order.", parameters={"type": "object"})
VALID = json.dumps({"output_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}})
ROLE = INFER_OUTPUT_SCHEMA.name


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


class Harness:
    """An OpenAIChatLLM on the fake server whose backoff sleeps are recorded, not slept."""

    def __init__(self, server: FakeOpenAIServer, **options):
        self.sleeps: list[float] = []
        self.meter = UsageMeter()

        async def record_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        settings = {"timeout_s": 5.0, "max_attempts": 4, "backoff_s": 0.01, "max_backoff_s": 2.0}
        self.llm = OpenAIChatLLM(
            model="fake-model", base_url=server.base_url, api_key="sk-test", meter=self.meter,
            sleep=record_sleep, **{**settings, **options},
        )

    def call(self) -> OutputSchemaResponse:
        return self.llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=5)

    def count(self, name: str) -> int:
        return self.meter.snapshot().get(ROLE, name)


def test_429_waits_what_retry_after_says(server):
    server.enqueue(error_reply(429, "slow down", headers={"Retry-After": "1"}), completion_reply(VALID))
    harness = Harness(server)
    assert harness.call() == OutputSchemaResponse.model_validate_json(VALID)
    assert harness.sleeps == [1.0]
    assert (harness.count("requests"), harness.count("retries")) == (2, 1)


def test_retry_after_is_capped_by_the_backoff_limit(server):
    server.enqueue(error_reply(429, headers={"Retry-After": "120"}), completion_reply(VALID))
    harness = Harness(server, max_backoff_s=2.0)
    harness.call()
    assert harness.sleeps == [2.0]


def test_retry_after_as_an_http_date_waits_until_that_moment(server):
    in_ten_seconds = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    yesterday = email.utils.format_datetime(datetime.now(timezone.utc) - timedelta(days=1), usegmt=True)
    server.enqueue(
        error_reply(503, headers={"Retry-After": in_ten_seconds}),
        error_reply(503, headers={"Retry-After": yesterday}),
        completion_reply(VALID),
    )
    harness = Harness(server, max_backoff_s=30.0)
    harness.call()
    assert 8.0 < harness.sleeps[0] <= 10.0
    assert harness.sleeps[1] == 0.0


def test_retry_after_ms_is_preferred_and_a_malformed_hint_falls_back_to_backoff(server):
    server.enqueue(
        error_reply(429, headers={"retry-after-ms": "250", "Retry-After": "3"}),
        error_reply(429, headers={"Retry-After": "soon"}),
        completion_reply(VALID),
    )
    harness = Harness(server, backoff_s=0.01, max_backoff_s=1.0)
    harness.call()
    assert harness.sleeps[0] == 0.25
    assert 0.0 <= harness.sleeps[1] <= 0.02  # first backoff step: up to backoff_s * 2


def test_a_closed_client_refuses_calls_and_closing_twice_is_harmless(server):
    server.enqueue(completion_reply(VALID))
    with Harness(server).llm as llm:
        llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    llm.close()
    with pytest.raises(LLMError, match="closed"):
        llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    assert len(server.requests) == 1


def test_500s_back_off_exponentially_with_jitter_then_fail(server):
    server.respond_with(lambda request: error_reply(500, "overloaded"))
    harness = Harness(server, max_attempts=4, backoff_s=0.01, max_backoff_s=1.0)
    with pytest.raises(LLMError) as caught:
        harness.call()
    assert type(caught.value) is LLMError and "InternalServerError" in caught.value.reason
    assert len(server.requests) == 4
    assert len(harness.sleeps) == 3
    # Full jitter: each wait is drawn up to a cap that doubles from backoff_s.
    assert all(0 <= wait <= 0.01 * 2**n for n, wait in enumerate(harness.sleeps, start=1))
    assert (harness.count("retries"), harness.count("requests")) == (3, 4)


def test_the_retry_budget_bounds_the_attempts(server):
    server.respond_with(lambda request: error_reply(503))
    harness = Harness(server, max_attempts=10, retry_budget_s=0.0)
    with pytest.raises(LLMError):
        harness.call()
    assert len(server.requests) == 1


def test_a_reply_slower_than_the_timeout_is_retried(server):
    slow = Reply(body=chat_completion(VALID), delay_s=1.5)
    server.enqueue(slow, completion_reply(VALID))
    harness = Harness(server, timeout_s=0.3)
    assert harness.call() == OutputSchemaResponse.model_validate_json(VALID)
    assert len(server.requests) == 2 and harness.count("retries") == 1


def test_only_slow_replies_end_in_a_timeout_error(server):
    server.respond_with(lambda request: Reply(body=chat_completion(VALID), delay_s=1.0))
    harness = Harness(server, timeout_s=0.2, max_attempts=2)
    with pytest.raises(LLMError) as caught:
        harness.call()
    assert "Timeout" in caught.value.reason
    assert len(server.requests) == 2


def test_a_client_error_is_not_retried(server):
    server.respond_with(lambda request: error_reply(400, "bad request"))
    harness = Harness(server)
    with pytest.raises(LLMError):
        harness.call()
    assert len(server.requests) == 1 and harness.sleeps == []


def test_truncated_json_is_repaired_by_showing_the_model_its_reply(server):
    cut = VALID[: len(VALID) // 2]
    server.enqueue(completion_reply(cut, finish_reason="length"), completion_reply(VALID))
    harness = Harness(server)
    assert harness.call() == OutputSchemaResponse.model_validate_json(VALID)
    first, repair = server.requests
    assert len(first.body["messages"]) == 2
    system, user, assistant, correction = repair.body["messages"]
    assert (system, user) == tuple(first.body["messages"])
    assert assistant == {"role": "assistant", "content": cut}
    assert correction["role"] == "user" and "does not match OutputSchemaResponse" in correction["content"]
    assert (harness.count("repairs"), harness.count("retries")) == (1, 0)


def test_schema_invalid_twice_is_invalid_output(server):
    server.respond_with(lambda request: completion_reply('{"output_schema": "object"}'))
    harness = Harness(server)
    with pytest.raises(LLMOutputInvalid) as caught:
        harness.call()
    assert "after one repair" in caught.value.reason
    assert len(server.requests) == 2 and harness.count("repairs") == 1


def test_empty_choices_are_asked_again(server):
    server.enqueue(Reply(body={**chat_completion(None), "choices": []}), completion_reply(VALID))
    harness = Harness(server)
    assert harness.call() == OutputSchemaResponse.model_validate_json(VALID)
    assert [len(r.body["messages"]) for r in server.requests] == [2, 2]  # nothing to show: the same question


def test_without_repair_the_first_invalid_answer_fails(server):
    server.respond_with(lambda request: completion_reply("not json"))
    harness = Harness(server, repair=False)
    with pytest.raises(LLMOutputInvalid):
        harness.call()
    assert len(server.requests) == 1


def test_tokens_are_counted_from_every_reply_usage(server):
    server.enqueue(
        Reply(body=chat_completion('{"output_schema": 1}', prompt_tokens=30, completion_tokens=4)),
        Reply(body=chat_completion(VALID, prompt_tokens=50, completion_tokens=9)),
    )
    harness = Harness(server)
    harness.call()
    assert (harness.count("prompt_tokens"), harness.count("completion_tokens")) == (80, 13)


def test_the_fault_schedule_depends_on_the_request_not_on_timing(server):
    injector = FaultInjector(offline_responder(), rate=0.5, seed=3)
    server.respond_with(injector)
    harness = Harness(server, max_attempts=8)
    for seed in range(6):
        try:
            harness.llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=seed)
        except LLMError:
            pass
    assert sum(injector.injected.values()) > 0
    replay = FaultInjector(offline_responder(), rate=0.5, seed=3)
    for request in reversed(server.requests):  # the same arrivals in another order draw the same faults
        replay(request)
    assert replay.injected == injector.injected


# --- The pipeline under faults ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_database(tmp_path_factory):
    return build_catalog_database(tmp_path_factory.mktemp("catalog"))


def test_synthesis_survives_injected_faults(catalog_database, tmp_path):
    database = fresh_copy(catalog_database, tmp_path)
    injector = FaultInjector(offline_responder(catalog_of(database)), rate=0.15, seed=11, slow_s=1.0)
    with FakeOpenAIServer(injector) as server:
        llm = openai_resource(server.base_url, timeout_s=0.5, concurrency=4)
        first = synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=28)
        assert first.success
        second = synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=28)
        assert second.success
    assert sum(injector.injected.values()) >= 10 and len(injector.injected) >= 4, injector.injected
    # Every attempted conversation (7 on shard 0) ends accepted or rejected with a stage and reason.
    outcomes = table_rows(
        database,
        "SELECT conversation_id, bool_or(turn IS NULL AND NOT accepted) AS rejected,"
        " bool_or(turn IS NULL AND stage = 'judge' AND accepted) AS accepted,"
        " count(DISTINCT run_id) FROM synthesis_attempts GROUP BY conversation_id",
    )
    assert len(outcomes) == 7
    assert all(rejected != accepted for _, rejected, accepted, _ in outcomes)
    assert all(runs == 1 for *_, runs in outcomes)  # the second run replaced the first
    rejected = table_rows(database, "SELECT stage, reason FROM synthesis_attempts WHERE NOT accepted")
    assert all(stage and reason for stage, reason in rejected)
    stored = table_rows(database, "SELECT count(*), count(DISTINCT conversation_id) FROM conversations")
    accepted_ids = {cid for cid, _, accepted, _ in outcomes if accepted}
    assert stored[0] == (len(accepted_ids), len(accepted_ids)) and accepted_ids
    # The faults show in the usage figures of the first run.
    metadata = first.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["llm_retries"].value > 0 and metadata["llm_repairs"].value > 0
    assert metadata["llm_calls"].value > 0 and metadata["llm_tokens"].value > 0
