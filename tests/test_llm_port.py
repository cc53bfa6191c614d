"""The LLM port: the offline default's determinism, and the OpenAI implementation over real HTTP."""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from digit_assets.engine.llm import LLMError, LLMOutputInvalid, Role
from digit_assets.engine.synthesis import roles
from digit_assets.engine.offline.dispatch import OfflineLLM, default_offline_llm
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.llm.port import request_schema, response_schema
from digit_assets.engine.schema_refs import RefProblem, standalone
from digit_assets.engine.synthesis.roles import (
    INFER_OUTPUT_SCHEMA,
    JudgeResponse,
    OutputSchemaRequest,
    OutputSchemaResponse,
    PlanTurnResponse,
)
from tests.fake_openai_server import (
    FakeOpenAIServer,
    RecordedRequest,
    Reply,
    chat_completion,
    completion_reply,
    error_reply,
)

REQUEST = OutputSchemaRequest(tool_name="get_order", description="Get an order.", parameters={"type": "object"})
ALL_ROLES = [value for value in vars(roles).values() if isinstance(value, Role)]
SECRET = "sk-test-7c1e5b2a-never-print-me"
VALID_ANSWER = {"output_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


# --- Offline -----------------------------------------------------------------------------------------


def _random_schema(request: OutputSchemaRequest, rng: random.Random) -> OutputSchemaResponse:
    return OutputSchemaResponse(output_schema={"type": "object", "description": f"{request.tool_name}-{rng.random()}"})


def test_offline_same_seed_and_request_give_the_same_answer():
    llm = OfflineLLM({INFER_OUTPUT_SCHEMA.name: _random_schema})
    assert llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=7) == llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=7)
    # A fresh instance too: nothing is carried from call to call.
    fresh = OfflineLLM({INFER_OUTPUT_SCHEMA.name: _random_schema})
    assert fresh.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=7) == llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=7)


def test_offline_answers_vary_with_the_seed_and_the_request():
    llm = OfflineLLM({INFER_OUTPUT_SCHEMA.name: _random_schema})
    by_seed = {llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=seed).model_dump_json() for seed in range(5)}
    assert len(by_seed) == 5
    other = REQUEST.model_copy(update={"description": "Another description."})
    assert llm.call(INFER_OUTPUT_SCHEMA, other, seed=0) != llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=0)


def test_offline_default_is_deterministic_and_labelled():
    first = default_offline_llm().call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    assert first == default_offline_llm().call(INFER_OUTPUT_SCHEMA, REQUEST, seed=2)  # its algorithm draws nothing
    assert default_offline_llm().label == "offline"


def test_offline_unknown_role_is_an_llm_error():
    role = Role(name="no_such_role", instructions="", request_model=OutputSchemaRequest, response_model=OutputSchemaResponse)
    with pytest.raises(LLMError, match="no_such_role"):
        default_offline_llm().call(role, REQUEST, seed=0)


def test_offline_handler_answering_the_wrong_model_is_invalid_output():
    llm = OfflineLLM({INFER_OUTPUT_SCHEMA.name: lambda request, rng: JudgeResponse(accept=True)})
    with pytest.raises(LLMOutputInvalid):
        llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=0)


# --- OpenAI-compatible, over HTTP ------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def _llm(server: FakeOpenAIServer, **kwargs) -> OpenAIChatLLM:
    options = {"model": "fake-model", "base_url": server.base_url, "api_key": SECRET, "timeout_s": 10.0, "max_attempts": 1, "backoff_s": 0.001}
    return OpenAIChatLLM(**{**options, **kwargs})


def _failure(llm: OpenAIChatLLM) -> LLMError:
    with pytest.raises(LLMError) as caught:
        llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=3)
    assert SECRET not in str(caught.value)
    return caught.value


def test_request_shape(server):
    server.enqueue(completion_reply(json.dumps(VALID_ANSWER)))
    seed = 2**40 + 5
    _llm(server, temperature=0.25).call(INFER_OUTPUT_SCHEMA, REQUEST, seed=seed)
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = request.body
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.25
    assert body["seed"] == seed % (2**31 - 1)
    system, user = body["messages"]
    assert system["role"] == "system" and system["content"].startswith(INFER_OUTPUT_SCHEMA.instructions)
    assert user["role"] == "user" and json.loads(user["content"]) == REQUEST.model_dump(mode="json")
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == INFER_OUTPUT_SCHEMA.name
    assert response_format["json_schema"]["schema"] == request_schema(INFER_OUTPUT_SCHEMA, REQUEST)
    assert response_format["json_schema"]["strict"] is False


def test_a_valid_reply_is_parsed_into_the_response_model(server):
    server.enqueue(completion_reply(json.dumps(VALID_ANSWER)))
    answer = _llm(server).call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    assert answer == OutputSchemaResponse.model_validate(VALID_ANSWER)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (completion_reply('{"output_schema": {"type": "obj'), "does not match"),
        (completion_reply('{"schema": {"type": "object"}}'), "does not match"),
        (completion_reply('{"output_schema": "object"}'), "does not match"),
        (Reply(body={**chat_completion(None), "choices": []}), "no choices"),
        (Reply(body={key: value for key, value in chat_completion(None).items() if key != "choices"}), "no choices"),
        (completion_reply(None), "empty message"),
        (completion_reply(""), "empty message"),
        (Reply(body='{"id": "chatcmpl-cut", "choices": [{"mess', headers={"Content-Type": "application/json"}), "not JSON"),
        (Reply(body="<html>gateway</html>", headers={"Content-Type": "text/html"}), "not JSON"),
    ],
    ids=["truncated-content", "wrong-field", "wrong-type", "empty-choices", "no-choices", "null-content", "empty-content", "truncated-body", "html-body"],
)
def test_a_reply_that_does_not_fit_is_invalid_output(server, reply, reason):
    server.enqueue(reply, reply)
    failure = _failure(_llm(server, max_attempts=3))
    assert isinstance(failure, LLMOutputInvalid)
    assert reason in failure.reason
    assert len(server.requests) == 2  # not retried by the transport: asked once more, as a repair


def test_repeated_server_errors_become_an_llm_error_after_the_retries(server):
    server.respond_with(lambda request: error_reply(500, "overloaded", headers={"retry-after-ms": "1"}))
    failure = _failure(_llm(server, max_attempts=3))
    assert type(failure) is LLMError
    assert "InternalServerError" in failure.reason
    assert len(server.requests) == 3


def test_a_server_error_then_a_good_reply_succeeds(server):
    server.enqueue(error_reply(503, headers={"retry-after-ms": "1"}), completion_reply(json.dumps(VALID_ANSWER)))
    assert _llm(server, max_attempts=2).call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1) == OutputSchemaResponse.model_validate(VALID_ANSWER)
    assert len(server.requests) == 2


def test_an_unreachable_server_is_an_llm_error():
    with FakeOpenAIServer() as stopped:
        base_url = stopped.base_url
    llm = OpenAIChatLLM(model="m", base_url=base_url, api_key=SECRET, timeout_s=2.0, max_attempts=1)
    assert type(_failure(llm)) is LLMError


def test_the_api_key_is_sent_but_never_shown(server):
    def echo_the_key(request: RecordedRequest) -> Reply:
        token = request.headers["authorization"].removeprefix("Bearer ")
        answer = {"output_schema": {"type": "object", "description": f"you sent {token}"}}
        return completion_reply(json.dumps(answer))

    llm = _llm(server)
    assert SECRET not in llm.label
    assert SECRET not in repr(llm)
    server.respond_with(echo_the_key)
    answer = llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in answer.model_dump_json()
    assert answer.output_schema["description"] == "you sent ***"

    server.respond_with(lambda request: error_reply(401, f"invalid key {SECRET}"))
    assert "invalid key ***" in _failure(llm).reason
    server.respond_with(lambda request: completion_reply(f'{{"output_schema": "{SECRET}"}}'))
    assert isinstance(_failure(llm), LLMOutputInvalid)


def test_the_label_names_model_and_host_without_credentials():
    llm = OpenAIChatLLM(model="qwen", base_url="http://user:hunter2@127.0.0.1:8000/v1", api_key=SECRET)
    assert llm.label == "openai:qwen@127.0.0.1:8000"
    assert OpenAIChatLLM(model="gpt", api_key=SECRET).label == "openai:gpt@api.openai.com"


def test_a_forgotten_client_closes_its_connections_when_collected(server):
    server.enqueue(completion_reply(json.dumps(VALID_ANSWER)))
    llm = OpenAIChatLLM(model="m", base_url=server.base_url, api_key=SECRET)
    llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)
    client = llm._client
    assert not client.is_closed()
    del llm
    gc.collect()
    assert client.is_closed()


def test_a_closed_client_refuses_calls(server):
    llm = OpenAIChatLLM(model="m", base_url=server.base_url, api_key=SECRET)
    llm.close()
    with pytest.raises(LLMError, match="closed"):
        llm.call(INFER_OUTPUT_SCHEMA, REQUEST, seed=1)


@pytest.mark.parametrize("role", ALL_ROLES, ids=lambda role: role.name)
def test_every_response_schema_sent_to_a_server_stands_alone(role):
    schema = response_schema(role.response_model)
    text = json.dumps(schema)
    # Grammar-enforcing servers (llama.cpp) resolve no $ref and reject regex escapes such as \d.
    assert "$ref" not in text and "$defs" not in text and "\\\\d" not in text
    Draft202012Validator.check_schema(schema)


def test_an_inlined_schema_accepts_and_rejects_what_the_model_does():
    schema = response_schema(PlanTurnResponse)
    good = {"calls": [{"ref": "$1", "tool": "get_order", "arguments": {"order_id": "A1"}}]}
    bad = {"calls": [{"id": 1, "message": "Dune"}]}
    assert Draft202012Validator(schema).is_valid(good)
    assert not Draft202012Validator(schema).is_valid(bad)
    with pytest.raises(ValidationError):
        PlanTurnResponse.model_validate(bad)


class _Node(BaseModel):
    name: str
    children: list["_Node"] = []


def test_a_recursive_model_cannot_be_made_standalone():
    with pytest.raises(RefProblem, match="cyclic"):
        standalone(_Node.model_json_schema())


def test_a_schema_is_encoded_once_and_the_request_bytes_are_those_of_the_whole_body(monkeypatch):
    import orjson

    from digit_assets.engine.llm import openai_chat

    schema = {"type": "object", "properties": {"title": {"enum": ["Dune", "Émile", 2.5]}}, "required": ["title"]}
    bodies = [
        {"model": "m", "messages": [{"role": "user", "content": text}], "seed": 3,
         "response_format": {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema, "strict": False}}}
        for text in ("plan this", "plan that")
    ]
    encodings: list[object] = []
    real_dumps = orjson.dumps

    def counting(value, *args, **kwargs):
        encodings.append(value)
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(openai_chat.orjson, "dumps", counting)
    sent = [openai_chat._encoded(body) for body in bodies]
    monkeypatch.undo()
    assert sent == [real_dumps(body) for body in bodies]
    assert sum(value is schema for value in encodings) == 1
    # An integer orjson refuses still goes out, by the json module.
    huge = {**bodies[0], "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"const": 2**70}, "strict": False}}}
    assert json.loads(openai_chat._encoded(huge))["response_format"]["json_schema"]["schema"] == {"const": 2**70}
