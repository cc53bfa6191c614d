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

import json
import threading
from collections import deque
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


def chat_completion(content: str | None, *, model: str = "fake-model", finish_reason: str = "stop") -> dict[str, Any]:
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
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
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
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: pytest shows the recorded requests when a test needs them."""

        return Handler
