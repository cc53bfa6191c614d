"""Resources shared by every stage: the DuckDB store and the LLM port.

The LLM is the embedded offline default unless ``DIGIT_TC_LLM_PROVIDER=openai``; then model, base
URL and key come from the environment through ``dg.EnvVar`` (the key is never logged or stored),
and the tuning knobs (concurrency, timeout, attempts, cache) from ``DIGIT_TC_LLM_*`` when set.
``DIGIT_TC_LLM_ROLES`` (JSON, role name -> route) gives roles their own model, server,
temperature and token cap, or the offline engine.
"""


import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import dagster as dg

from digit_assets import settings
from digit_assets.defs.settings_config import config_from, settings_of
from digit_assets.engine.llm import LLM
from digit_assets.engine.llm.openai_chat import OpenAIChatSettings
from digit_assets.engine.llm.port import Role
from digit_assets.engine.llm.routing import RoleRoute
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter
from digit_assets.engine.ports import PortRecipe, close_port
from digit_assets.engine.synthesis import roles as method_roles
from digit_assets.store import Store
from digit_assets.store.llm_cache import CachedPorts, CacheServer, CachingLLM, ResponseCache


class StoreResource(dg.ConfigurableResource):
    """The DuckDB file. Open connections with ``store().connect()`` / ``store().transaction()``."""

    database: str

    def store(self) -> Store:
        return Store(self.database)


ROLE_NAMES = frozenset(value.name for value in vars(method_roles).values() if isinstance(value, Role))


class RoleRouteConfig(config_from(RoleRoute)):
    """One role's own route (``provider`` offline or openai, ``model``, ``base_url``, ``temperature``,
    ``max_tokens``); what it leaves unset is the ``llm`` resource's."""


class LLMResource(config_from(OpenAIChatSettings, dg.ConfigurableResource)):
    """Fills the LLM roles: ``offline`` (deterministic, no network) or ``openai`` (any compatible server).

    For ``openai`` the client's knobs are the fields of ``OpenAIChatSettings``: transport failures
    are retried up to ``max_attempts`` requests per answer within ``retry_budget_s``, an invalid
    answer gets one ``repair`` re-ask, and ``breaker_*`` bound an outage (that many failed calls in a
    row, or a failed share above the limit after ``breaker_min_calls`` calls, fail the run).
    ``concurrency`` conversations are in flight at once (default 8; offline: 1), spread over
    ``processes`` client processes (one process's GIL caps it near a few hundred calls a second), and validated
    answers are kept in the store's ``llm_cache`` table (``cache``) so re-materializing does not pay
    twice.
    """

    provider: Literal["offline", "openai"] = "offline"
    concurrency: int | None = None
    processes: int = 1
    cache: bool = True
    roles: dict[str, RoleRouteConfig] = {}

    @property
    def workers(self) -> int:
        if self.concurrency is not None:
            return max(1, self.concurrency)
        return 8 if self.provider == "openai" else 1

    def recipe(self) -> PortRecipe:
        """The port as settings: the default route and each role's own (offline or a server)."""
        routes = {role: settings_of(config, RoleRoute) for role, config in self.roles.items()}
        unknown = sorted(set(routes) - ROLE_NAMES)
        if unknown:
            raise ValueError(f"llm.roles names no role of the method: {unknown} (roles: {sorted(ROLE_NAMES)})")
        return PortRecipe(
            default=self._route(RoleRoute(provider=self.provider)),
            by_role={role: self._route(route) for role, route in sorted(routes.items())},
        )

    def build(self, meter: UsageMeter | None = None) -> LLM:
        """The port without the cache (each call is answered afresh); routed when roles have their own."""
        return self.recipe().build(meter)

    def _route(self, route: RoleRoute) -> OpenAIChatSettings | None:
        provider = route.provider or self.provider
        if provider == "offline":
            return None
        if provider != "openai":
            raise ValueError(f"llm.roles: provider {provider!r} is neither 'offline' nor 'openai'")
        return settings_of(self, OpenAIChatSettings, **route.overrides())

    @contextmanager
    def session(self, store: Store, meter: UsageMeter) -> Iterator[LLM]:
        """The metered port for one asset execution; a remote one answers from the cache in ``store`` first."""
        with self.rollout_session(store, meter) as (port, _):
            yield port

    @contextmanager
    def rollout_session(self, store: Store, meter: UsageMeter) -> Iterator[tuple[LLM, CachedPorts | None]]:
        """:meth:`session`'s port and, when ``processes`` > 1, what each rollout process opens: the same
        routes and the same cache, which this process serves to them while the block runs."""
        recipe = self.recipe()
        inner = recipe.build(meter)
        try:
            if not recipe.remote or not self.cache:  # only a server's answers are cached
                yield MeteredLLM(inner, meter), (CachedPorts(recipe) if self.processes > 1 else None)
                return
            with ResponseCache(store.path) as cache:
                port = MeteredLLM(CachingLLM(inner, cache, meter=meter), meter)
                if self.processes <= 1:
                    yield port, None
                    return
                with CacheServer(cache) as server:
                    yield port, CachedPorts(recipe, server.address)
        finally:
            close_port(inner)


_TUNING = {
    "concurrency": ("DIGIT_TC_LLM_CONCURRENCY", int),
    "processes": ("DIGIT_TC_LLM_PROCESSES", int),
    "timeout_s": ("DIGIT_TC_LLM_TIMEOUT_S", float),
    "max_attempts": ("DIGIT_TC_LLM_MAX_ATTEMPTS", int),
    "breaker_consecutive_failures": ("DIGIT_TC_LLM_BREAKER_FAILURES", int),
    "breaker_failed_share": ("DIGIT_TC_LLM_BREAKER_SHARE", float),
    "cache": ("DIGIT_TC_LLM_CACHE", lambda value: value.strip().lower() not in {"0", "false", "no", "off"}),
}


def llm_from_environment() -> LLMResource:
    roles = _roles_from_environment()
    if os.environ.get("DIGIT_TC_LLM_PROVIDER", "offline") != "openai":
        return LLMResource(provider="offline", roles=roles, **_tuning_from_environment(("concurrency", "processes")))
    return LLMResource(
        provider="openai",
        model=dg.EnvVar("DIGIT_TC_LLM_MODEL"),
        base_url=dg.EnvVar("DIGIT_TC_LLM_BASE_URL") if os.environ.get("DIGIT_TC_LLM_BASE_URL") else None,
        api_key=dg.EnvVar("DIGIT_TC_LLM_API_KEY") if os.environ.get("DIGIT_TC_LLM_API_KEY") else None,
        roles=roles,
        **_tuning_from_environment(_TUNING),
    )


def _roles_from_environment() -> dict[str, RoleRouteConfig]:
    """``DIGIT_TC_LLM_ROLES``: a JSON object, role name -> route fields, e.g.
    ``{"simulate_tool": {"provider": "offline"}, "plan_turn": {"model": "gpt-4o", "temperature": 0.7}}``."""
    text = os.environ.get("DIGIT_TC_LLM_ROLES", "").strip()
    if not text:
        return {}
    try:
        routes = json.loads(text)
        if not isinstance(routes, dict) or not all(isinstance(route, dict) for route in routes.values()):
            raise ValueError("not an object of objects")
        unknown = sorted(set(routes) - ROLE_NAMES)
        if unknown:
            raise ValueError(f"unknown roles {unknown}; the roles are {sorted(ROLE_NAMES)}")
        return {role: RoleRouteConfig(**route) for role, route in routes.items()}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"DIGIT_TC_LLM_ROLES is not a valid role routing ({exc})") from exc


def _tuning_from_environment(fields) -> dict[str, object]:
    """Non-secret knobs, parsed here so a malformed value fails when the definitions load."""
    found = {}
    for field in fields:
        name, parse = _TUNING[field]
        value = os.environ.get(name)
        if value:
            try:
                found[field] = parse(value)
            except ValueError as exc:
                raise ValueError(f"{name}={value!r} is not a valid {field}") from exc
    return found


@dg.definitions
def resources() -> dg.Definitions:
    # One process writes the DuckDB file at a time: steps of a run execute in the run's process.
    return dg.Definitions(
        executor=dg.in_process_executor,
        resources={
            "store": StoreResource(database=str(settings.default_database())),
            "llm": llm_from_environment(),
        }
    )
