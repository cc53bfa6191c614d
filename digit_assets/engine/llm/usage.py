"""What the LLM roles cost: calls, cache hits, HTTP requests, retries, repairs, failures and tokens, per role.

One :class:`UsageMeter` is shared by the layers of a port (metering wrapper, cache, OpenAI client),
each adding what it alone sees; it is thread-safe because conversations run in worker threads.
A :meth:`UsageMeter.snapshot` is an immutable :class:`Usage`; subtracting two gives what happened
in between (e.g. one variant of a synthesis run).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from digit_assets.engine.llm.port import LLM, LLMError, Req, Resp, Role, label_for

FIELDS = (
    "calls", "cache_hits", "requests", "retries", "repairs", "failures", "prompt_tokens", "completion_tokens",
    "cached_prompt_tokens",
)
"""calls: role calls made by the engine; cache_hits: of those, answered by the cache; requests: HTTP
requests sent (first tries, retries and repairs); failures: calls that ended in an LLMError;
cached_prompt_tokens: of the prompt tokens, those the server reports it took from its prefix cache."""


@dataclass(frozen=True)
class Usage:
    by_role: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    """role -> the label of the model that answered it (each role has one route)."""

    def __sub__(self, earlier: "Usage") -> "Usage":
        roles = set(self.by_role) | set(earlier.by_role)
        diff = {
            role: {name: self.get(role, name) - earlier.get(role, name) for name in FIELDS} for role in roles
        }
        kept = {role: counts for role, counts in diff.items() if any(counts.values())}
        return Usage(kept, {role: self.models[role] for role in kept if role in self.models})

    def get(self, role: str, name: str) -> int:
        return self.by_role.get(role, {}).get(name, 0)

    def totals(self) -> dict[str, int]:
        return {name: sum(self.get(role, name) for role in self.by_role) for name in FIELDS}

    def rows(self) -> list[dict[str, int | str]]:
        """One dict per role (sorted), with its model and every field present."""
        return [
            {"role": role, "model": self.models.get(role, ""), **{name: self.get(role, name) for name in FIELDS}}
            for role in sorted(self.by_role)
        ]

    def markdown(self) -> str:
        header = "| role | model | " + " | ".join(FIELDS) + " |\n|---|---|" + "---:|" * len(FIELDS)
        lines = [header]
        for row in self.rows():
            lines.append(f"| {row['role']} | {row['model']} | " + " | ".join(str(row[name]) for name in FIELDS) + " |")
        totals = self.totals()
        lines.append("| **total** | | " + " | ".join(str(totals[name]) for name in FIELDS) + " |")
        return "\n".join(lines)

    def metadata(self) -> dict[str, int]:
        """Flat headline numbers for asset metadata."""
        totals = self.totals()
        return {
            "llm_calls": totals["calls"],
            "llm_cache_hits": totals["cache_hits"],
            "llm_requests": totals["requests"],
            "llm_retries": totals["retries"],
            "llm_repairs": totals["repairs"],
            "llm_failures": totals["failures"],
            "llm_tokens": totals["prompt_tokens"] + totals["completion_tokens"],
        }


class UsageMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._models: dict[str, str] = {}

    def answered_by(self, role: str, model: str) -> None:
        """Record which model's label answers ``role``."""
        with self._lock:
            self._models[role] = model

    def add(self, role: str, **counts: int) -> None:
        unknown = set(counts) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown usage fields: {sorted(unknown)}")
        with self._lock:
            self._counts.setdefault(role, Counter()).update(counts)

    def absorb(self, usage: Usage) -> None:
        """Add what another meter counted (a rollout process's)."""
        with self._lock:
            for role, counts in usage.by_role.items():
                self._counts.setdefault(role, Counter()).update({name: counts[name] for name in counts if counts[name]})
            self._models.update(usage.models)

    def snapshot(self) -> Usage:
        with self._lock:
            return Usage({role: dict(counts) for role, counts in self._counts.items()}, dict(self._models))


class MeteredLLM:
    """Counts the engine's role calls and the ones that failed; inner layers add the rest."""

    def __init__(self, inner: LLM, meter: UsageMeter):
        self.inner = inner
        self.meter = meter

    @property
    def label(self) -> str:
        return self.inner.label

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        self.meter.add(role.name, calls=1)
        self.meter.answered_by(role.name, label_for(self.inner, role.name))
        try:
            return self.inner.call(role, request, seed=seed)
        except LLMError:
            self.meter.add(role.name, failures=1)
            raise

