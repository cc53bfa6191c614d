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

import asyncio
import hashlib
import json
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


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
    """An aiohttp server on an ephemeral port, its event loop in a daemon thread while in its ``with`` block.

    Asynchronous so a delayed reply holds no thread (the concurrency tests keep many requests
    waiting at once). Replies come from the queue first, then from the responder; with neither, the
    server answers 500 so a test that forgot to script a reply fails loudly instead of hanging.
    """

    def __init__(self, responder: Responder | None = None):
        self._replies: deque[Reply] = deque()
        self._responder = responder
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-openai", daemon=True)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._in_flight = 0
        self._peak_in_flight = 0

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was answering at one moment."""
        return self._peak_in_flight

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

    async def _answer(self, incoming: web.Request) -> web.Response:
        self._in_flight += 1  # only the loop thread touches these two
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return await self._reply_to(incoming)
        finally:
            self._in_flight -= 1

    async def _reply_to(self, incoming: web.Request) -> web.Response:
        raw = await incoming.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=incoming.method,
            path=incoming.path_qs,
            headers={name.lower(): value for name, value in incoming.headers.items()},
            raw=raw,
            body=body,
        )
        reply = self._next_reply(request)
        payload, headers = reply.encoded()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)  # a client that times out first just disconnects
        return web.Response(status=reply.status, body=payload, headers=headers)


# --- Responders shared by the fault tests, the pipeline tests and benchmarks/llm_bench.py ----------


def approx_tokens(text: str) -> int:
    """About four characters a token, as tokenizers average on English and JSON."""
    return len(text) // 4 + 1


class PrefixCache:
    """What a server's prompt-prefix cache would hold: prompts are cut into blocks of ``block``
    characters, and a prompt's cached part is its leading blocks some earlier prompt began with
    (as llama.cpp, vLLM and OpenAI reuse a prefix's state). Thread-safe."""

    def __init__(self, block: int = 256):
        self.block = block
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def cached_chars(self, prompt: str) -> int:
        digest = hashlib.sha256()
        cached, still_cached, prefixes = 0, True, []
        for start in range(0, len(prompt) - self.block + 1, self.block):
            digest.update(prompt[start : start + self.block].encode())
            prefixes.append(digest.copy().digest())
        with self._lock:
            for index, prefix in enumerate(prefixes):
                if still_cached and prefix in self._seen:
                    cached = (index + 1) * self.block
                else:
                    still_cached = False
                self._seen.add(prefix)
        return cached


class RequestRestorer:
    """Rebuilds the typed request a user message was rendered from, as the offline engine needs it.

    A rendered prompt (:mod:`digit_assets.engine.synthesis.prompts`) shows tools by their lines, not
    their output schemas or links: those come from ``catalog`` (the one the run synthesizes from),
    the tools found by the names the prompt lists. A candidate counts only when rendering it again
    gives the very message received, so a restored request is the one that was sent. Roles without
    a rendering send JSON and need no catalog.
    """

    def __init__(self, catalog: Any | Callable[[], Any] | None = None):
        """``catalog``: a :class:`~digit_assets.engine.synthesis.rollout.Catalog`, or a function that
        returns it once it exists (a test that enriches on the same server first)."""
        from digit_assets.engine.synthesis import roles

        self._catalog = catalog
        self._restore = {
            roles.PLAN_TURN.name: self._plan,
            roles.WRITE_REQUEST.name: self._write_request,
            roles.BACK_TRANSLATE.name: self._back_translate,
            roles.SIMULATE_TOOL.name: self._simulate,
            roles.PROPOSE_WRONG_CALL.name: self._wrong_call,
        }

    def restore(self, role: Any, message: str) -> Any:
        restore = self._restore.get(role.name)
        if restore is None:  # JSON: the request itself
            return role.request_model.model_validate_json(message)
        if self._catalog is None:
            raise ValueError(f"restoring a {role.name} prompt needs the catalog it was rendered from")
        *lines, varying = message.split("\n")
        for request in restore(lines, json.loads(varying)):
            if role.render(request) == message:
                return request
        raise ValueError(f"no request of the catalog renders to this {role.name} prompt")

    @property
    def catalog(self) -> Any:
        return self._catalog() if callable(self._catalog) else self._catalog

    def _scenarios(self, names: list[str], persona: str, today: str, namespace: str | None = None):
        """Every scenario of the catalog with exactly these tools (in one namespace, when named)."""
        from digit_assets.engine.synthesis.planning import scenario_of

        catalog = self.catalog
        for candidate, tools in catalog.tools.items():
            if namespace not in (None, candidate) or not set(names) <= {tool.name for tool in tools}:
                continue
            links = catalog.links.get(candidate, [])
            yield scenario_of(candidate, tools, links, set(names), persona=persona, today=today)

    @staticmethod
    def _tool_names(lines: list[str]) -> list[str]:
        return [line.split(":", 1)[0] for line in lines[1:]]

    @staticmethod
    def _header(line: str) -> tuple[str | None, list[str]]:
        """(namespace or None, names) from ``The API (ns) offers: a, b.``."""
        match = re.fullmatch(r"The API(?: \((.+)\))? offers: (.*)\.", line)
        if match is None:
            raise ValueError(f"not a tool-name header: {line!r}")
        return match.group(1), match.group(2).split(", ")

    def _plan(self, lines, varying):
        from digit_assets.engine.synthesis.roles import PlanTurnRequest

        namespace = re.fullmatch(r"Tools of the (.+) API .*", lines[0]).group(1)
        persona, today = varying.pop("persona"), varying.pop("today")
        for scenario in self._scenarios(self._tool_names(lines), persona, today, namespace):
            yield PlanTurnRequest.model_validate({**varying, "scenario": scenario})

    def _write_request(self, lines, varying):
        from digit_assets.engine.synthesis.roles import WriteRequestRequest

        namespace, names = self._header(lines[0])
        persona, today = varying.pop("persona"), varying.pop("today")
        for scenario in self._scenarios(names, persona, today, namespace):
            yield WriteRequestRequest.model_validate({**varying, "scenario": scenario})

    def _back_translate(self, lines, varying):
        from digit_assets.engine.synthesis.roles import BackTranslateRequest

        for scenario in self._scenarios(self._tool_names(lines), "", ""):
            yield BackTranslateRequest.model_validate({**varying, "tools": scenario.tools, "links": scenario.links})

    def _simulate(self, lines, varying):
        from digit_assets.engine.synthesis.roles import SimulateToolRequest

        name = lines[0].removeprefix("Tool: ").split(":", 1)[0]
        held = varying.pop("must_show", {})
        for tools in self.catalog.tools.values():
            for tool in tools:
                if tool.name == name:
                    yield SimulateToolRequest.model_validate({**varying, "held": held, "tool": tool})

    def _wrong_call(self, lines, varying):
        from digit_assets.engine.synthesis.roles import WrongCallRequest

        _, names = self._header(lines[0])
        for scenario in self._scenarios(names, "", ""):
            yield WrongCallRequest.model_validate({**varying, "tools": scenario.tools})


def offline_responder(
    catalog: Any | Callable[[], Any] | None = None, *, delay_s: float = 0.0, prefix_cache: PrefixCache | None = None
) -> Responder:
    """Answers every role validly, as the offline default would: the role from the response_format's
    schema name, the request restored from the user message (:class:`RequestRestorer`, with the
    ``catalog`` the run synthesizes from), the seed from the body. Usage counts are estimated from
    the text (:func:`approx_tokens`); with ``prefix_cache``, the usage also reports the prompt
    tokens a prefix cache would have served (``prompt_tokens_details.cached_tokens``). An offline
    refusal becomes a 400 error."""
    from digit_assets.engine.llm import LLMError
    from digit_assets.engine.synthesis import roles
    from digit_assets.engine.offline.dispatch import default_offline_llm
    from digit_assets.engine.llm.port import Role

    llm = default_offline_llm()
    restorer = RequestRestorer(catalog)
    by_name = {value.name: value for value in vars(roles).values() if isinstance(value, Role)}

    def respond(request: RecordedRequest) -> Reply:
        body = request.body
        role = by_name[body["response_format"]["json_schema"]["name"]]
        user = next(message["content"] for message in body["messages"] if message["role"] == "user")
        try:
            answer = llm.call(role, restorer.restore(role, user), seed=body["seed"])
        except LLMError as exc:
            return error_reply(400, exc.reason)
        content = answer.model_dump_json()
        prompt = "".join(message["content"] or "" for message in body["messages"])
        completion = chat_completion(
            content, model=body["model"], prompt_tokens=approx_tokens(prompt), completion_tokens=approx_tokens(content)
        )
        if prefix_cache is not None:
            completion["usage"]["prompt_tokens_details"] = {"cached_tokens": prefix_cache.cached_chars(prompt) // 4}
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
