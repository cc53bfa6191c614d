"""Reproducibility stamps carried by every generated row: run id, seed and config hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def stable_hash(value: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed derived from a base seed and any labels; independent of call order."""
    return int(hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:15], 16)


@dataclass(frozen=True)
class Provenance:
    run_id: str
    seed: int
    config_hash: str

    @classmethod
    def for_config(cls, run_id: str, seed: int, config: Any) -> "Provenance":
        return cls(run_id=run_id, seed=seed, config_hash=stable_hash(config))
