"""One interface for every LLM role: a typed request in, a pydantic-validated response out.

A :class:`Role` names the job, carries the instructions a real model reads, and the request and
response models. Implementations: the offline engine (:mod:`digit_assets.engine.offline.dispatch`,
deterministic algorithms, no network) and :mod:`.openai_chat` (any OpenAI-compatible server,
structured output). The roles themselves are defined by the method, in
:mod:`digit_assets.engine.synthesis.roles`; this package knows none of them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from digit_assets.engine.schema_refs import standalone

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


@dataclass(frozen=True)
class Role(Generic[Req, Resp]):
    name: str
    instructions: str
    request_model: type[Req]
    response_model: type[Resp]


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
