"""A response cache for remote LLMs, kept in the DuckDB store, so re-materializing does not pay twice.

The key is (model label, role, prompt hash, sampling parameters, seed): the prompt hash covers the
role's instructions, its response schema and the user message the request is rendered to (what the
model is shown), so changing any of them misses the cache.
Only validated responses are stored; failures are never cached.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import duckdb

from digit_assets.engine.llm.port import LLM, Req, Resp, Role, label_for, request_schema, sampling_for, user_message
from digit_assets.engine.llm.usage import UsageMeter
from digit_assets.engine.provenance import canonical_json
from digit_assets.store import Store


def prompt_hash(role: Role, request) -> str:
    material = canonical_json(
        {"instructions": role.instructions, "schema": request_schema(role, request), "prompt": user_message(role, request)}
    )
    return hashlib.sha256(material.encode()).hexdigest()


class ResponseCache:
    """One DuckDB connection shared by the threads of a run; every access holds the lock."""

    def __init__(self, database: str | Path):
        self._store = Store(database)
        self._lock = threading.Lock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self.hits = 0
        self.misses = 0

    def __enter__(self) -> "ResponseCache":
        self._context = self._store.connect()
        self._conn = self._context.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._conn = None
        self._context.__exit__(*exc_info)

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._connection().execute("SELECT response FROM llm_cache WHERE cache_key = ?", [key]).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return row[0]

    def put(self, key: str, model: str, role: str, seed: int, response: str) -> None:
        with self._lock:
            self._connection().execute(
                "INSERT INTO llm_cache (cache_key, model, role, seed, response) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (cache_key) DO NOTHING",
                [key, model, role, seed, response],
            )

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise RuntimeError("ResponseCache is used outside its 'with' block")
        return self._conn


class CachingLLM:
    """Wraps an LLM: answers from the cache when the same call was made before."""

    def __init__(self, inner: LLM, cache: ResponseCache, *, meter: UsageMeter | None = None):
        self.inner = inner
        self.cache = cache
        self.meter = meter

    @property
    def label(self) -> str:
        return self.inner.label

    def label_for(self, role: str) -> str:
        return label_for(self.inner, role)

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        label = label_for(self.inner, role.name)
        sampling = sampling_for(self.inner, role.name)
        key = hashlib.sha256(canonical_json([label, role.name, prompt_hash(role, request), sampling, seed]).encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            if self.meter is not None:
                self.meter.add(role.name, cache_hits=1)
            return role.response_model.model_validate_json(cached)
        response = self.inner.call(role, request, seed=seed)
        self.cache.put(key, label, role.name, seed, response.model_dump_json())
        return response
