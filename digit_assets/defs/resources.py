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
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM, OpenAIChatSettings
from digit_assets.engine.llm.port import Role
from digit_assets.engine.llm.routing import RoleRoute, RoutedLLM
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter
from digit_assets.engine.synthesis import roles as method_roles
from digit_assets.store import Store
from digit_assets.store.llm_cache import CachingLLM, ResponseCache


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
    ``concurrency`` conversations are in flight at once (default 8; offline: 1), and validated
    answers are kept in the store's ``llm_cache`` table (``cache``) so re-materializing does not pay
    twice.
    """

    provider: Literal["offline", "openai"] = "offline"
    concurrency: int | None = None
    cache: bool = True
    roles: dict[str, RoleRouteConfig] = {}

    @property
    def workers(self) -> int:
        if self.concurrency is not None:
            return max(1, self.concurrency)
        return 8 if self.provider == "openai" else 1

    def build(self, meter: UsageMeter | None = None) -> LLM:
        """The port without the cache (each call is answered afresh); routed when roles have their own."""
        default = self._port(RoleRoute(provider=self.provider), meter)
        routes = {role: settings_of(config, RoleRoute) for role, config in self.roles.items()}
        unknown = sorted(set(routes) - ROLE_NAMES)
        if unknown:
            raise ValueError(f"llm.roles names no role of the method: {unknown} (roles: {sorted(ROLE_NAMES)})")
        if not routes:
            return default
        return RoutedLLM(default, {role: self._port(route, meter) for role, route in sorted(routes.items())})

    def _port(self, route: RoleRoute, meter: UsageMeter | None) -> LLM:
        provider = route.provider or self.provider
        if provider == "offline":
            return default_offline_llm()
        if provider != "openai":
            raise ValueError(f"llm.roles: provider {provider!r} is neither 'offline' nor 'openai'")
        return OpenAIChatLLM(settings_of(self, OpenAIChatSettings, **route.overrides()), meter=meter)

    @property
    def remote(self) -> bool:
        """Whether any role goes to a server (then answers are cached)."""
        return self.provider == "openai" or any(route.provider == "openai" for route in self.roles.values())

    @contextmanager
    def session(self, store: Store, meter: UsageMeter) -> Iterator[LLM]:
        """The metered port for one asset execution; a remote one answers from the cache in ``store`` first."""
        inner = self.build(meter)
        try:
            if not self.remote or not self.cache:
                yield MeteredLLM(inner, meter)
                return
            with ResponseCache(store.path) as cache:
                yield MeteredLLM(CachingLLM(inner, cache, meter=meter), meter)
        finally:
            ports = [inner.default, *inner.by_role.values()] if isinstance(inner, RoutedLLM) else [inner]
            for port in ports:
                if isinstance(port, OpenAIChatLLM):
                    port.close()


_TUNING = {
    "concurrency": ("DIGIT_TC_LLM_CONCURRENCY", int),
    "timeout_s": ("DIGIT_TC_LLM_TIMEOUT_S", float),
    "max_attempts": ("DIGIT_TC_LLM_MAX_ATTEMPTS", int),
    "breaker_consecutive_failures": ("DIGIT_TC_LLM_BREAKER_FAILURES", int),
    "breaker_failed_share": ("DIGIT_TC_LLM_BREAKER_SHARE", float),
    "cache": ("DIGIT_TC_LLM_CACHE", lambda value: value.strip().lower() not in {"0", "false", "no", "off"}),
}


def llm_from_environment() -> LLMResource:
    roles = _roles_from_environment()
    if os.environ.get("DIGIT_TC_LLM_PROVIDER", "offline") != "openai":
        return LLMResource(provider="offline", roles=roles, **_tuning_from_environment(("concurrency",)))
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
