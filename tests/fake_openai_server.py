"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests of the real ``openai`` client path.

Each test scripts the replies (a queue of :class:`Reply`, or a responder callable that sees the
request) and reads back every request the server received. Nothing is mocked below HTTP: the
client's serialization, headers, retries and error mapping all run for real.

    with FakeOpenAIServer() as server:
        server.enqueue(completion_reply('{"summary": "done"}'))
        llm = OpenAIChatLLM(model="m", base_url=server.base_url, api_key="k")
        ...
        assert server.requests[0].body["model"] == "m"
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response. ``body`` is sent as is when bytes or str, as JSON otherwise."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait this long before answering (a slow server; longer than the client's timeout: a timeout)."""

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str):
            payload = self.body.encode()
        else:
            payload = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        return payload, headers


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it; header names are lower-cased, ``body`` is None unless JSON."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any


Responder = Callable[[RecordedRequest], Reply]


def chat_completion(
    content: str | None,
    *,
    model: str = "fake-model",
    finish_reason: str = "stop",
    prompt_tokens: int = 1,
    completion_tokens: int = 1,
) -> dict[str, Any]:
    """A well-formed ``chat.completion`` body with one choice carrying ``content``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_reply(content: str | None, **kwargs: Any) -> Reply:
    return Reply(body=chat_completion(content, **kwargs))


def error_reply(status: int, message: str = "scripted failure", headers: Mapping[str, str] | None = None) -> Reply:
    """An error in the shape OpenAI sends, so the client maps it to its typed exceptions."""
    return Reply(status=status, body={"error": {"message": message, "type": "server_error", "code": None}}, headers=headers or {})


class FakeOpenAIServer:
    """A ThreadingHTTPServer on an ephemeral port, running in a daemon thread while in its ``with`` block.

    Replies come from the queue first, then from the responder; with neither, the server answers
    500 so a test that forgot to script a reply fails loudly instead of hanging.
    """

    def __init__(self, responder: Responder | None = None):
        self._replies: deque[Reply] = deque()
        self._responder = responder
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def respond_with(self, responder: Responder | None) -> None:
        with self._lock:
            self._responder = responder

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            if self._replies:
                return self._replies.popleft()
            responder = self._responder
        if responder is not None:
            return responder(request)
        return error_reply(500, f"no reply scripted for {request.method} {request.path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    raw=raw,
                    body=body,
                )
                reply = server._next_reply(request)
                payload, headers = reply.encoded()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: pytest shows the recorded requests when a test needs them."""

        return Handler


# --- Responders shared by the fault tests, the pipeline tests and benchmarks/llm_bench.py ----------


def approx_tokens(text: str) -> int:
    """About four characters a token, as tokenizers average on English and JSON."""
    return len(text) // 4 + 1


def offline_responder(*, delay_s: float = 0.0) -> Responder:
    """Answers every role validly, as the offline default would: the role from the response_format's
    schema name, the request from the first user message, the seed from the body. Usage counts are
    estimated from the text (:func:`approx_tokens`). An offline refusal becomes a 400 error."""
    from digit_assets.engine.llm import LLMError, roles
    from digit_assets.engine.llm.offline import default_offline_llm
    from digit_assets.engine.llm.port import Role

    llm = default_offline_llm()
    by_name = {value.name: value for value in vars(roles).values() if isinstance(value, Role)}

    def respond(request: RecordedRequest) -> Reply:
        body = request.body
        role = by_name[body["response_format"]["json_schema"]["name"]]
        user = next(message["content"] for message in body["messages"] if message["role"] == "user")
        try:
            answer = llm.call(role, role.request_model.model_validate_json(user), seed=body["seed"])
        except LLMError as exc:
            return error_reply(400, exc.reason)
        content = answer.model_dump_json()
        prompt = "".join(message["content"] or "" for message in body["messages"])
        completion = chat_completion(
            content, model=body["model"], prompt_tokens=approx_tokens(prompt), completion_tokens=approx_tokens(content)
        )
        return Reply(body=completion, delay_s=delay_s)

    return respond


FAULTS = ("rate_limit", "server_error", "timeout", "truncated", "schema_invalid", "empty_choices", "bad_request")
"""Transient (retried): rate_limit, server_error, timeout; invalid answers (repaired): truncated,
schema_invalid, empty_choices; permanent (the role fails at once): bad_request."""


class FaultInjector:
    """Wraps a responder and answers a seeded share of requests with a fault instead.

    Whether the k-th arrival of a given request body is a fault, and which, depends on (seed, body,
    k) only, so the schedule does not depend on thread timing. ``slow_s`` must exceed the client's
    timeout for ``timeout`` faults; ``echo_key`` puts the caller's Authorization header in error
    messages (a careless server) for the secrets tests.
    """

    def __init__(
        self,
        inner: Responder,
        *,
        rate: float,
        seed: int,
        faults: tuple[str, ...] = FAULTS,
        slow_s: float = 1.0,
        retry_after: str = "0",
        echo_key: bool = False,
    ):
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        self._inner = inner
        self._rate = rate
        self._seed = seed
        self._faults = faults
        self._slow_s = slow_s
        self._retry_after = retry_after
        self._echo_key = echo_key
        self._lock = threading.Lock()
        self._arrivals: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def __call__(self, request: RecordedRequest) -> Reply:
        key = hashlib.sha256(request.raw).hexdigest()
        with self._lock:
            arrival = self._arrivals[key]
            self._arrivals[key] += 1
        draw = random.Random(f"{self._seed}:{key}:{arrival}")
        if draw.random() >= self._rate:
            return self._inner(request)
        fault = draw.choice(self._faults)
        with self._lock:
            self.injected[fault] += 1
        return self.fault(fault, request)

    def fault(self, fault: str, request: RecordedRequest) -> Reply:
        said = f" (key {request.headers.get('authorization', '')})" if self._echo_key else ""
        if fault == "rate_limit":
            return error_reply(429, f"rate limited{said}", headers={"Retry-After": self._retry_after})
        if fault == "server_error":
            return error_reply(500, f"internal error{said}")
        if fault == "bad_request":
            return error_reply(400, f"bad request{said}")
        if fault == "empty_choices":
            return Reply(body={**chat_completion(None), "choices": []})
        if fault == "schema_invalid":
            return completion_reply(json.dumps({"unexpected": said or True}))
        good = self._inner(request)
        if fault == "timeout":
            return Reply(status=good.status, body=good.body, headers=good.headers, delay_s=self._slow_s)
        content = good.body["choices"][0]["message"]["content"] if good.status == 200 else "{}"
        return completion_reply(content[: len(content) // 2], finish_reason="length")
