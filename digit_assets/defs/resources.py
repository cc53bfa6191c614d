"""Resources shared by every stage: the DuckDB store and the LLM port.

The LLM is the embedded offline default unless ``DIGIT_TC_LLM_PROVIDER=openai``; then model, base
URL and key come from the environment through ``dg.EnvVar`` (the key is never logged or stored).
"""


import os
from typing import Literal

import dagster as dg

from digit_assets import settings
from digit_assets.engine.llm import LLM
from digit_assets.engine.llm.offline import default_offline_llm
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.store import Store


class StoreResource(dg.ConfigurableResource):
    """The DuckDB file. Open connections with ``store().connect()`` / ``store().transaction()``."""

    database: str

    def store(self) -> Store:
        return Store(self.database)


class LLMResource(dg.ConfigurableResource):
    """Fills the LLM roles: ``offline`` (deterministic, no network) or ``openai`` (any compatible server)."""

    provider: Literal["offline", "openai"] = "offline"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 0.0
    timeout_s: float = 60.0
    max_retries: int = 3

    def build(self) -> LLM:
        if self.provider == "offline":
            return default_offline_llm()
        return OpenAIChatLLM(
            model=self.model,
            base_url=self.base_url,
            api_key=self.api_key,
            temperature=self.temperature,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )


def llm_from_environment() -> LLMResource:
    if os.environ.get("DIGIT_TC_LLM_PROVIDER", "offline") != "openai":
        return LLMResource(provider="offline")
    return LLMResource(
        provider="openai",
        model=dg.EnvVar("DIGIT_TC_LLM_MODEL"),
        base_url=dg.EnvVar("DIGIT_TC_LLM_BASE_URL") if os.environ.get("DIGIT_TC_LLM_BASE_URL") else None,
        api_key=dg.EnvVar("DIGIT_TC_LLM_API_KEY") if os.environ.get("DIGIT_TC_LLM_API_KEY") else None,
    )


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
