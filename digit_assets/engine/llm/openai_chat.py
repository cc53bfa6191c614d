"""The LLM port over the ``openai`` client: any OpenAI-compatible base URL, structured output.

Each role is one chat completion: the role's instructions as the system message, the request as
the role renders it (:func:`.port.user_message`) as the user message, and ``response_format``
carrying the response model's JSON Schema. The answer is validated by pydantic.

Two failure policies, one place each:

* transport (HTTP 408/409/429/5xx, connection errors, timeouts): retried by tenacity with a bounded
  budget (``max_attempts`` requests, no new attempt ``retry_budget_s`` after the first failure), waiting what the
  server's ``Retry-After`` asks (capped at ``max_backoff_s``), else exponential backoff with jitter.
  The client's own retries are off, so this is the only retry policy;
* the answer (not JSON, no choices, empty, truncated, not matching the model): one repair re-ask
  that shows the model its reply and the validation error, then :class:`LLMOutputInvalid`.

A call that still fails after its retries is reported with its real cause (``connection refused``,
not the client's "Request timed out"), and counted by a circuit breaker: after
``breaker_consecutive_failures`` failed calls in a row, or once more than ``breaker_failed_share``
of at least ``breaker_min_calls`` calls failed, every call raises :class:`LLMUnavailable` at once,
so a run against a dead endpoint fails in seconds instead of failing each item for hours.

Requests go out over aiohttp (``openai.DefaultAioHttpClient``) from the process's one event loop
(:mod:`.cooperative`). A conversation rolled out as a job there hands its request to the loop and
resumes with the answer on the same thread; any other caller blocks on its own answer only. Either
way N conversations keep N requests in flight (benchmarks/llm_bench.py). :meth:`OpenAIChatLLM.close`
closes the connections; it also runs when the client is garbage-collected or the interpreter exits.

The API key is held by the client only: never put in a label, a log line, an error message or a
returned value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import tenacity
from pydantic import ValidationError

from digit_assets.engine.llm import cooperative
from digit_assets.engine.llm.port import LLMError, LLMOutputInvalid, LLMUnavailable, Req, Resp, Role, request_schema, user_message
from digit_assets.engine.llm.strict_schema import strict_subset
from digit_assets.engine.llm.usage import UsageMeter

log = logging.getLogger(__name__)

_SEED_RANGE = 2**31 - 1
_RETRIED_STATUS = {408, 409, 429}
_REPAIR_ERROR_LIMIT = 2_000


class _Invalid(Exception):
    """An answer that does not fit; ``content`` is the model's text when there was one."""

    def __init__(self, reason: str, content: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.content = content


@dataclass(frozen=True)
class OpenAIChatSettings:
    """What the client is told: server, model and the failure policies above. The one declaration of
    these knobs; the Dagster LLM resource takes its fields from here."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.0
    max_tokens: int | None = None
    """Completion tokens per answer (``max_tokens``); None sends no limit."""
    strict_schemas: bool = False
    """OpenAI: send each schema in strict mode where it fits the strict subset (``strict_schema``);
    grammar-based servers (llama.cpp, vLLM, Ollama) enforce the full schema without it."""
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    retry_budget_s: float = 300.0
    repair: bool = True
    breaker_consecutive_failures: int = 5
    breaker_failed_share: float = 0.5
    breaker_min_calls: int = 20


class CircuitBreaker:
    """Counts calls that failed after their retries; once open, it stays open and says why."""

    def __init__(self, *, consecutive_failures: int, failed_share: float, min_calls: int, host: str):
        self.consecutive_limit = consecutive_failures
        self.share_limit = failed_share
        self.min_calls = min_calls
        self.host = host
        self.calls = 0
        self.failed = 0
        self.consecutive = 0
        self.open_reason: str | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        if self.open_reason is not None:
            raise LLMUnavailable(self.open_reason)

    def succeeded(self) -> None:
        with self._lock:
            self.calls += 1
            self.consecutive = 0

    def failed_call(self, cause: str) -> None:
        """Count one failed call; raises :class:`LLMUnavailable` when this failure opens the breaker."""
        with self._lock:
            self.calls += 1
            self.failed += 1
            self.consecutive += 1
            if self.open_reason is None:
                if self.consecutive >= self.consecutive_limit:
                    why = f"{self.consecutive} calls in a row failed"
                elif self.calls >= self.min_calls and self.failed > self.share_limit * self.calls:
                    why = f"{self.failed} of {self.calls} calls failed (over {self.share_limit:.0%})"
                else:
                    return
                self.open_reason = (
                    f"the LLM endpoint {self.host} is unavailable: {why}, the last with {cause}; "
                    "the run stops here instead of failing every remaining item"
                )
        self.check()


class OpenAIChatLLM:
    def __init__(
        self,
        settings: OpenAIChatSettings | None = None,
        *,
        meter: UsageMeter | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **knobs: Any,
    ):
        """``knobs`` are fields of :class:`OpenAIChatSettings` that replace those of ``settings``."""
        settings = replace(settings or OpenAIChatSettings(), **knobs)
        self.model = settings.model
        self.temperature = settings.temperature
        self.max_tokens = settings.max_tokens
        self.strict_schemas = settings.strict_schemas
        self.repair = settings.repair
        self.meter = meter if meter is not None else UsageMeter()
        self._host = _host_of(settings.base_url) if settings.base_url else "api.openai.com"
        self._secret = settings.api_key
        self.breaker = CircuitBreaker(
            consecutive_failures=settings.breaker_consecutive_failures,
            failed_share=settings.breaker_failed_share,
            min_calls=settings.breaker_min_calls,
            host=self._host,
        )
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url, api_key=settings.api_key or "unused", timeout=settings.timeout_s, max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        )
        self._completions_url = f"{self._client.base_url}chat/completions"
        self._close = weakref.finalize(self, _shut_down, self._client)
        self._retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(settings.max_attempts) | tenacity.stop_before_delay(settings.retry_budget_s),
            wait=_WaitRetryAfter(
                tenacity.wait_random_exponential(multiplier=settings.backoff_s, max=settings.max_backoff_s), cap_s=settings.max_backoff_s
            ),
            retry=tenacity.retry_if_exception(_transient),
            sleep=sleep,
            reraise=True,
        )

    def close(self) -> None:
        """Close the connections; later calls raise."""
        self._close()

    def __enter__(self) -> "OpenAIChatLLM":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self._host}"

    @property
    def sampling(self) -> dict[str, Any]:
        """What shapes an answer besides the prompt and the seed (part of a cached answer's key)."""
        return {"temperature": self.temperature} | ({"max_tokens": self.max_tokens} if self.max_tokens is not None else {})

    def _redacted(self, text: str) -> str:
        """Error texts and replies may echo what was sent; the key is masked before they go anywhere."""
        return text.replace(self._secret, "***") if self._secret else text

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": role.instructions + "\nReply with one JSON object matching the schema."},
            {"role": "user", "content": user_message(role, request)},
        ]
        response_format = self.response_format(role, request)
        try:
            return self._answer(role, messages, seed, response_format)
        except _Invalid as invalid:
            if not self.repair:
                raise LLMOutputInvalid(role.name, invalid.reason) from None
            first = invalid.reason
            self.meter.add(role.name, repairs=1)
            if invalid.content is not None:
                messages += [
                    {"role": "assistant", "content": invalid.content},
                    {
                        "role": "user",
                        "content": "Your reply is not valid: "
                        + first[:_REPAIR_ERROR_LIMIT]
                        + "\nReply again with only the corrected JSON object matching the schema.",
                    },
                ]
        try:
            return self._answer(role, messages, seed, response_format)
        except _Invalid as second:
            raise LLMOutputInvalid(role.name, f"{second.reason} (after one repair: {first})") from None

    def response_format(self, role: Role[Req, Resp], request: Req) -> dict[str, Any]:
        """The ``response_format`` of one request: its own schema, in strict mode when asked and it fits."""
        schema = request_schema(role, request)
        strict = False
        if self.strict_schemas:
            converted, why = strict_subset(schema)
            if converted is None:
                log.debug("LLM role %s: schema sent without strict mode (%s)", role.name, why)
            else:
                schema, strict = converted, True
        return {"type": "json_schema", "json_schema": {"name": role.name, "schema": schema, "strict": strict}}

    def _answer(self, role: Role[Req, Resp], messages: list[dict[str, str]], seed: int, response_format: dict[str, Any]) -> Resp:
        content = self._redacted(self._content(role, messages, seed, response_format))
        try:
            return role.response_model.model_validate_json(content)
        except ValidationError as exc:
            raise _Invalid(f"response does not match {role.response_model.__name__}: {exc}", content) from None

    def _content(self, role: Role, messages: list[dict[str, str]], seed: int, response_format: dict[str, Any]) -> str:
        if not self._close.alive:
            raise LLMError(role.name, "the client is closed")
        self.breaker.check()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "seed": seed % _SEED_RANGE,
            "response_format": response_format,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return cooperative.wait(self._fetch(role, _encoded(body)))

    async def _fetch(self, role: Role, payload: bytes) -> str:
        async def send() -> bytes:
            self.meter.add(role.name, requests=1)
            # A plain POST of the encoded body with the raw body back: the typed ``create`` walks
            # every request through its TypedDict transform and the SDK encodes with the standard
            # json module (milliseconds of GIL-bound work per call with a plan's schema, the limit
            # under concurrency), and its parsing lets a malformed 200 through as AttributeError.
            # The client still brings auth, headers, timeout and error mapping. The URL is absolute
            # (joined to the base URL once) and the body comes back as bytes for orjson: joining a
            # path and decoding text by the response's charset each cost as much again per request.
            return await self._client.post(self._completions_url, cast_to=bytes, content=payload)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.meter.add(role.name, retries=1)
            exc = state.outcome.exception() if state.outcome else None
            log.info(
                "LLM role %s: attempt %d failed (%s), retrying in %.2fs",
                role.name, state.attempt_number, _describe(exc), state.upcoming_sleep,
            )

        try:
            try:
                body = await send()
            except openai.OpenAIError as exc:
                if not _transient(exc):
                    raise
                # The retry policy is set up only once a request fails: per call it costs about a
                # tenth of the client's CPU. Its first attempt is this failure, replayed.
                failed = [exc]

                async def again() -> bytes:
                    if failed:
                        raise failed.pop()
                    return await send()

                body = await self._retrying.copy(before_sleep=before_sleep)(again)
        except openai.OpenAIError as exc:
            cause = self._redacted(_cause(exc))
            self.breaker.failed_call(cause)
            raise LLMError(role.name, cause) from None
        self.breaker.succeeded()
        completion = _parse(body)
        usage = completion.get("usage") if isinstance(completion, dict) else None
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details")
            self.meter.add(
                role.name,
                prompt_tokens=_count(usage.get("prompt_tokens")),
                completion_tokens=_count(usage.get("completion_tokens")),
                cached_prompt_tokens=_count(details.get("cached_tokens")) if isinstance(details, dict) else 0,
            )
        return _message_content(completion)


def _shut_down(client: openai.AsyncOpenAI) -> None:
    """Close the client's connections on the event loop (no reference to the LLM: a finalizer)."""
    loop = cooperative.event_loop()
    closing = asyncio.run_coroutine_threadsafe(client.close(), loop)
    if cooperative.on_event_loop():  # collected on the loop itself: it cannot wait for itself
        return
    try:
        closing.result(timeout=5)
    except Exception:  # noqa: BLE001 - closing must not fail a run that already has its answers
        log.debug("closing the LLM client's connections failed", exc_info=True)


class _WaitRetryAfter(tenacity.wait.wait_base):
    """The server's ``Retry-After`` / ``retry-after-ms`` when it sends one (capped), else ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap_s: float):
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = _retry_after_s(exc)
        return min(hinted, self.cap_s) if hinted is not None else self.fallback(retry_state)


def _retry_after_s(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until(value)
        if seconds is not None and seconds >= 0:
            return seconds
    return None


def _seconds_until(http_date: str) -> float | None:
    """``Retry-After`` may be an HTTP date (RFC 9110); a date already past means now."""
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in _RETRIED_STATUS or exc.status_code >= 500)


def _cause(exc: BaseException) -> str:
    """What went wrong, from the innermost OS error when there is one.

    Over aiohttp the client reports a refused connection as ``APITimeoutError: Request timed out``;
    the refusal itself is further down the exception chain.
    """
    chain: list[BaseException] = []
    inner: BaseException | None = exc
    while inner is not None and inner not in chain:
        chain.append(inner)
        inner = inner.__cause__ or inner.__context__
    refused = next((error for error in chain if isinstance(error, ConnectionRefusedError)), None)
    if refused is not None:
        return f"{type(exc).__name__}: connection refused ({refused.strerror or refused})"
    os_error = next((e for e in chain if isinstance(e, OSError) and e.strerror and not isinstance(e, TimeoutError)), None)
    if os_error is not None:
        return f"{type(exc).__name__}: {os_error.strerror}"
    return f"{type(exc).__name__}: {exc}"


def _describe(exc: BaseException | None) -> str:
    """Type and status only: messages may echo what was sent."""
    if isinstance(exc, openai.APIStatusError):
        return f"{type(exc).__name__} {exc.status_code}"
    return type(exc).__name__


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _host_of(base_url: str) -> str:
    """Host and port only: a URL's user-info part may carry credentials."""
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _encoded(body: dict[str, Any]) -> bytes:
    """The request as JSON, by orjson (a plan's schema is tens of kilobytes: about 0.1 ms against 0.5 ms
    for the json module), the schema's bytes encoded once per schema object; the json module for
    what orjson refuses (an integer past 64 bits)."""
    try:
        response_format = body["response_format"]
        described = response_format["json_schema"]
        schema = _ENCODED_SCHEMAS.of(described["schema"])
        sent = {**body, "response_format": {**response_format, "json_schema": {**described, "schema": schema}}}
        return orjson.dumps(sent, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(body).encode()


class _EncodedSchemas:
    """The latest schemas' JSON by object: a turn's plan and its back-translation share one schema
    object (and requests of other conversations often do), so it is encoded once. Keeps each schema
    alive while its entry lasts, so an id cannot be reused; schemas are never mutated once sent."""

    def __init__(self, limit: int):
        self._entries: dict[int, tuple[Any, orjson.Fragment]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def of(self, schema: Any) -> orjson.Fragment:
        with self._lock:
            entry = self._entries.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
        fragment = orjson.Fragment(orjson.dumps(schema, option=orjson.OPT_NON_STR_KEYS))
        with self._lock:
            self._entries[id(schema)] = (schema, fragment)
            while len(self._entries) > self._limit:
                del self._entries[next(iter(self._entries))]
        return fragment


_ENCODED_SCHEMAS = _EncodedSchemas(512)


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Invalid(f"the server's reply is not JSON: {exc}") from None


def _message_content(completion: Any) -> str:
    """The first choice's message text from a chat-completion body, checked step by step."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _Invalid("the server returned no choices")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str) or not content:
        raise _Invalid("the server returned an empty message")
    return content
