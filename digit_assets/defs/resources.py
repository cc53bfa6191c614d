"""Resources shared by every stage: the DuckDB store and the LLM port.

The LLM is the embedded offline default unless ``DIGIT_TC_LLM_PROVIDER=openai``; then model, base
URL and key come from the environment through ``dg.EnvVar`` (the key is never logged or stored),
and the tuning knobs (concurrency, timeout, attempts, cache) from ``DIGIT_TC_LLM_*`` when set.
"""


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
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter
from digit_assets.store import Store
from digit_assets.store.llm_cache import CachingLLM, ResponseCache


class StoreResource(dg.ConfigurableResource):
    """The DuckDB file. Open connections with ``store().connect()`` / ``store().transaction()``."""

    database: str

    def store(self) -> Store:
        return Store(self.database)


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

    @property
    def workers(self) -> int:
        if self.concurrency is not None:
            return max(1, self.concurrency)
        return 8 if self.provider == "openai" else 1

    def build(self, meter: UsageMeter | None = None) -> LLM:
        """The port without the cache (each call is answered afresh)."""
        if self.provider == "offline":
            return default_offline_llm()
        return OpenAIChatLLM(settings_of(self, OpenAIChatSettings), meter=meter)

    @contextmanager
    def session(self, store: Store, meter: UsageMeter) -> Iterator[LLM]:
        """The metered port for one asset execution; a remote one answers from the cache in ``store`` first."""
        inner = self.build(meter)
        try:
            if self.provider == "offline" or not self.cache:
                yield MeteredLLM(inner, meter)
                return
            with ResponseCache(store.path) as cache:
                yield MeteredLLM(CachingLLM(inner, cache, sampling={"temperature": self.temperature}, meter=meter), meter)
        finally:
            if isinstance(inner, OpenAIChatLLM):
                inner.close()


_TUNING = {
    "concurrency": ("DIGIT_TC_LLM_CONCURRENCY", int),
    "timeout_s": ("DIGIT_TC_LLM_TIMEOUT_S", float),
    "max_attempts": ("DIGIT_TC_LLM_MAX_ATTEMPTS", int),
    "breaker_consecutive_failures": ("DIGIT_TC_LLM_BREAKER_FAILURES", int),
    "breaker_failed_share": ("DIGIT_TC_LLM_BREAKER_SHARE", float),
    "cache": ("DIGIT_TC_LLM_CACHE", lambda value: value.strip().lower() not in {"0", "false", "no", "off"}),
}


def llm_from_environment() -> LLMResource:
    if os.environ.get("DIGIT_TC_LLM_PROVIDER", "offline") != "openai":
        return LLMResource(provider="offline", **_tuning_from_environment(("concurrency",)))
    return LLMResource(
        provider="openai",
        model=dg.EnvVar("DIGIT_TC_LLM_MODEL"),
        base_url=dg.EnvVar("DIGIT_TC_LLM_BASE_URL") if os.environ.get("DIGIT_TC_LLM_BASE_URL") else None,
        api_key=dg.EnvVar("DIGIT_TC_LLM_API_KEY") if os.environ.get("DIGIT_TC_LLM_API_KEY") else None,
        **_tuning_from_environment(_TUNING),
    )


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
