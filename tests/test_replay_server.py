"""The benchmark's replay server (benchmarks/replay_server.py) answers the real client over HTTP and
replays what it answered before without asking its responder again."""

from __future__ import annotations

import json

import pytest

from benchmarks.replay_server import ReplayServerProcess
from digit_assets.engine.llm import LLMError
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.synthesis.roles import INFER_OUTPUT_SCHEMA, OutputSchemaRequest

ANSWER = {"output_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


def _responder():
    """Answers get_order, refuses anything else (as the offline engine refuses with a 400)."""
    from tests.fake_openai_server import completion_reply, error_reply

    def respond(request):
        user = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
        if json.loads(user)["tool_name"] == "get_order":
            return completion_reply(json.dumps(ANSWER))
        return error_reply(400, "refused")

    return respond


def test_a_request_seen_before_is_replayed_and_a_refusal_too() -> None:
    with ReplayServerProcess(_responder) as server:
        with OpenAIChatLLM(model="m", base_url=server.base_url, api_key="k", max_attempts=1) as llm:
            request = OutputSchemaRequest(tool_name="get_order", description="Get an order.", parameters={"type": "object"})
            first = llm.call(INFER_OUTPUT_SCHEMA, request, seed=1)
            assert llm.call(INFER_OUTPUT_SCHEMA, request, seed=1) == first
            assert first.model_dump(mode="json") == ANSWER
            llm.call(INFER_OUTPUT_SCHEMA, request, seed=2)  # another seed: another request
            refused = request.model_copy(update={"tool_name": "delete_order"})
            for _ in range(2):
                with pytest.raises(LLMError, match="400"):
                    llm.call(INFER_OUTPUT_SCHEMA, refused, seed=1)
        server.reset()  # waits for the server to publish its counters
        assert server.misses == 3
