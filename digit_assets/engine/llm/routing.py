"""A model per role: each role may be answered by its own server and model (a strong planner and
verifier, a cheap simulator) or by the embedded offline engine, the rest by the default port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from digit_assets.engine.llm.port import LLM, Req, Resp, Role, label_for, sampling_for


@dataclass(frozen=True)
class RoleRoute:
    """Where one role goes; a field left None is the default port's. ``provider`` ``offline`` sends
    the role to the embedded offline engine; ``openai`` to ``base_url``/``model`` (the key is the
    default's: a route carries no secret)."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The client settings this route replaces."""
        fields = {"model": self.model, "base_url": self.base_url, "temperature": self.temperature, "max_tokens": self.max_tokens}
        return {name: value for name, value in fields.items() if value is not None}


class RoutedLLM:
    """Sends each role to its own port, the others to ``default``."""

    def __init__(self, default: LLM, by_role: Mapping[str, LLM]):
        self.default = default
        self.by_role = dict(by_role)

    def port_for(self, role: str) -> LLM:
        return self.by_role.get(role, self.default)

    @property
    def label(self) -> str:
        """The default's label, then each routed role's (what a stored row was made with)."""
        routed = ", ".join(f"{role}={label_for(port, role)}" for role, port in sorted(self.by_role.items()))
        return f"{self.default.label} ({routed})" if routed else self.default.label

    def label_for(self, role: str) -> str:
        return label_for(self.port_for(role), role)

    def sampling_for(self, role: str) -> dict[str, Any]:
        return sampling_for(self.port_for(role), role)

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        return self.port_for(role.name).call(role, request, seed=seed)
