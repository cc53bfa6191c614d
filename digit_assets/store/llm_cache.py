"""A response cache for remote LLMs, kept in the DuckDB store, so re-materializing does not pay twice.

The key is (model label, role, prompt hash, sampling parameters, seed): the prompt hash covers the
role's instructions, its response schema and the user message the request is rendered to (what the
model is shown), so changing any of them misses the cache.
Only validated responses are stored; failures are never cached.

Rollout processes (:mod:`digit_assets.engine.synthesis.processes`) cannot open the DuckDB file while
the run's process holds it for writing: :class:`CacheServer` lends them the run's cache over a local
socket, and :class:`CachedPorts` is what each of them opens.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Protocol

import duckdb

from digit_assets.engine.llm.port import LLM, Req, Resp, Role, label_for, request_schema, sampling_for, user_message
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter
from digit_assets.engine.ports import PortRecipe, close_port
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


class Cache(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, model: str, role: str, seed: int, response: str) -> None: ...


@dataclass(frozen=True)
class CacheAddress:
    """Where a :class:`CacheServer` listens, and the key a process proves it was sent by the run with."""

    address: str
    authkey: bytes = field(repr=False)


class CacheServer:
    """Serves ``cache`` to the run's rollout processes: one thread per connected process, each
    request ``("get", key)`` answered, each ``("put", row)`` stored."""

    def __init__(self, cache: ResponseCache):
        self._cache = cache
        authkey = os.urandom(32)
        self._listener = Listener(family="AF_UNIX", authkey=authkey)
        self.address = CacheAddress(self._listener.address, authkey)
        self._stopping = False
        self._accepting = threading.Thread(target=self._accept, name="llm-cache-server", daemon=True)

    def __enter__(self) -> "CacheServer":
        self._accepting.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping = True
        try:  # accept() blocks until someone connects: this wakes it to see the flag
            Client(self.address.address, authkey=self.address.authkey).close()
        except OSError:
            pass
        self._accepting.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a peer that failed the handshake, or the listener closed
                continue
            threading.Thread(target=self._serve, args=(connection,), name="llm-cache-peer", daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    operation, arguments = connection.recv()
                except (EOFError, OSError):
                    return
                if operation == "get":
                    connection.send(self._cache.get(*arguments))
                else:
                    self._cache.put(*arguments)


class CacheClient:
    """The run's cache as a rollout process sees it: one connection to the :class:`CacheServer`,
    shared by the process's threads."""

    def __init__(self, address: CacheAddress):
        self._connection = Client(address.address, authkey=address.authkey)
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            self._connection.send(("get", (key,)))
            return self._connection.recv()

    def put(self, key: str, model: str, role: str, seed: int, response: str) -> None:
        with self._lock:
            self._connection.send(("put", (key, model, role, seed, response)))

    def close(self) -> None:
        self._connection.close()


@dataclass(frozen=True)
class CachedPorts:
    """What a rollout process opens: the recipe's port, metered, answering from the run's cache first
    when ``cache`` is given. Picklable: settings and an address only."""

    recipe: PortRecipe
    cache: CacheAddress | None = None

    @contextmanager
    def __call__(self, meter: UsageMeter) -> Iterator[LLM]:
        inner = self.recipe.build(meter)
        try:
            if self.cache is None:
                yield MeteredLLM(inner, meter)
            else:
                with closing(CacheClient(self.cache)) as cache:
                    yield MeteredLLM(CachingLLM(inner, cache, meter=meter), meter)
        finally:
            close_port(inner)


class CachingLLM:
    """Wraps an LLM: answers from the cache when the same call was made before."""

    def __init__(self, inner: LLM, cache: Cache, *, meter: UsageMeter | None = None):
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
