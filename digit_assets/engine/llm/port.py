"""One interface for every LLM role: a typed request in, a pydantic-validated response out.

A :class:`Role` names the job, carries the instructions a real model reads, and the request and
response models. Implementations: the offline engine (:mod:`digit_assets.engine.offline.dispatch`,
deterministic algorithms, no network) and :mod:`.openai_chat` (any OpenAI-compatible server,
structured output). The roles themselves are defined by the method, in
:mod:`digit_assets.engine.synthesis.roles`; this package knows none of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from digit_assets.engine.schema_refs import standalone

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


@dataclass(frozen=True)
class Role(Generic[Req, Resp]):
    """``schema_for`` builds the response schema of one request (e.g. the scenario's tools and the
    references its plan may use) so a server that enforces schemas makes invalid answers
    impossible; it must return a standalone schema that every valid answer of ``response_model``
    for that request satisfies. Without it every request gets the response model's schema.

    ``render`` writes the user message of one request: what the model is shown of it (the method
    decides per role; the port sends it as given). Without it the request is sent as JSON."""

    name: str
    instructions: str
    request_model: type[Req]
    response_model: type[Resp]
    schema_for: Callable[[Any], dict[str, Any]] | None = None
    render: Callable[[Any], str] | None = None


class LLMError(RuntimeError):
    """The role could not be filled (transport failure after retries, refusal, no content)."""

    def __init__(self, role: str, reason: str):
        super().__init__(f"LLM role {role!r}: {reason}")
        self.role = role
        self.reason = reason


class LLMUnavailable(RuntimeError):
    """The endpoint is down: the circuit breaker opened, so the run must stop rather than go on failing.

    Not an :class:`LLMError`: code that turns a failed role into one rejected item must not swallow it.
    """


class LLMOutputInvalid(LLMError):
    """The model answered, but not with a response that validates against the role's model."""


class LLM(Protocol):
    @property
    def label(self) -> str:
        """Which implementation and model answered (never a secret); stored with what it made."""
        ...

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp: ...


@functools.cache
def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a response model with nested models inlined, built once (pydantic takes
    milliseconds per build). Do not mutate.

    Inlined because servers that enforce the schema with a grammar (llama.cpp) do not resolve
    ``$defs``: a nested model would otherwise be answered as any object.
    """
    return standalone(model.model_json_schema())


def request_schema(role: Role[Req, Resp], request: Req) -> dict[str, Any]:
    """The response schema sent with ``request``: the role's per-request schema, else its model's."""
    if role.schema_for is None:
        return response_schema(role.response_model)
    return role.schema_for(request)


def user_message(role: Role[Req, Resp], request: Req) -> str:
    """The user message sent with ``request``: the role's rendering, else the request as JSON."""
    return request.model_dump_json() if role.render is None else role.render(request)


def label_for(llm: LLM, role: str) -> str:
    """The label of the model that answers ``role``: a routing port says per role, others have one."""
    per_role = getattr(llm, "label_for", None)
    return per_role(role) if callable(per_role) else llm.label


def sampling_for(llm: LLM, role: str) -> dict[str, Any]:
    """The sampling parameters ``role`` is answered with (part of a cached answer's key)."""
    per_role = getattr(llm, "sampling_for", None)
    return per_role(role) if callable(per_role) else dict(getattr(llm, "sampling", {}))
