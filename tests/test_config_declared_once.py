"""Each run config is declared once, by the engine: the Dagster config offers every engine knob with
the engine's default, adds only the run's own knobs, and hashes the default config as before."""

from dataclasses import dataclass, fields

import dagster as dg
import pytest

from analytics.divergence import DivergenceSettings
from digit_assets.defs.baselines.assets import StatefulSearchConfig
from digit_assets.defs.dataset.assets import DatasetConfig, DedupConfig
from digit_assets.defs.fidelity.assets import FidelityConfig
from digit_assets.defs.resources import LLMResource, RoleRouteConfig
from digit_assets.defs.settings_config import config_from, settings_of
from digit_assets.defs.synthesis.assets import SynthesisConfig
from digit_assets.engine.baselines.search import SearchSettings
from digit_assets.engine.llm.openai_chat import OpenAIChatSettings
from digit_assets.engine.llm.routing import RoleRoute
from digit_assets.engine.provenance import stable_hash
from digit_assets.engine.synthesis.dedup import DedupSettings
from digit_assets.engine.synthesis.export import DatasetSettings
from digit_assets.engine.synthesis.rollout import SynthesisSettings

# (Dagster config, engine settings, the knobs of the run itself that the engine settings do not hold)
PAIRS = [
    (SynthesisConfig, SynthesisSettings, {"conversations", "seed", "ablations"}),
    (FidelityConfig, DivergenceSettings, set()),
    (StatefulSearchConfig, SearchSettings, {"seed", "conversations", "max_attempts", "max_turns"}),
    (LLMResource, OpenAIChatSettings, {"provider", "concurrency", "processes", "cache", "roles"}),
    (RoleRouteConfig, RoleRoute, set()),
    (DedupConfig, DedupSettings, set()),
    (DatasetConfig, DatasetSettings, {"seed"}),
]


@pytest.mark.parametrize(("config", "settings", "run_knobs"), PAIRS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_engine_knob_is_a_config_field_with_its_default_and_nothing_else_is(config, settings, run_knobs):
    engine = {field.name: field.default for field in fields(settings)}
    dagster_fields = config.model_fields
    assert {name: dagster_fields[name].default for name in engine if name in dagster_fields} == engine
    assert set(dagster_fields) - set(engine) == run_knobs
    assert settings_of(config(), settings) == settings()


def test_a_knob_added_to_the_engine_appears_in_the_dagster_config_and_reaches_the_engine():
    @dataclass(frozen=True)
    class Knobs:
        depth: int = 3
        label: str | None = None

    class RunConfig(config_from(Knobs)):
        seed: int = 1

    @dg.asset
    def uses_knobs(config: RunConfig) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"depth": settings_of(config, Knobs).depth})

    result = dg.materialize([uses_knobs], run_config={"ops": {"uses_knobs": {"config": {"depth": 7}}}})
    assert result.success
    materialization = result.asset_materializations_for_node("uses_knobs")[0]
    assert materialization.metadata["depth"].value == 7
    assert RunConfig().model_dump() == {"depth": 3, "label": None, "seed": 1}


def test_a_settings_field_without_a_default_is_refused():
    @dataclass
    class Required:
        name: str

    with pytest.raises(TypeError, match="Required.name has no default"):
        config_from(Required)


def test_default_configs_hash_as_they_did_when_declared_twice():
    # The dicts hashed into config_hash before the engine settings became the source.
    assert stable_hash({**StatefulSearchConfig().hashed(), "domain": "travel"}) == stable_hash(
        {"seed": 2026, "conversations": 320, "max_attempts": 640, "max_turns": 4, "search_budget": 60, "noise": 0.15, "domain": "travel"}
    )
    assert SynthesisConfig().model_dump() == {
        "conversations": 1600, "seed": 2026, "min_turns": 2, "max_turns": 4, "min_calls": 2, "max_calls": 4,
        "min_tools": 3, "max_tools": 8, "error_hint_rate": 0.13, "hidden_calls": True, "back_translation": True, "ablations": True,
    }


def test_every_fidelity_knob_is_hashed():
    hashed = FidelityConfig().hashed()
    assert set(hashed) == {field.name for field in fields(DivergenceSettings)}
    assert stable_hash(FidelityConfig(permutation_max_n=500).hashed()) != stable_hash(hashed)
    assert FidelityConfig(permutation_max_n=500).divergence_settings().permutation_max_n == 500


def test_a_knob_added_later_changes_the_hash_once_it_leaves_its_default():
    assert stable_hash(StatefulSearchConfig(calls_per_tool=3).hashed()) != stable_hash(StatefulSearchConfig().hashed())


def test_synthesis_variants_carry_every_engine_knob():
    variants = SynthesisConfig(min_turns=1, error_hint_rate=0.0).variants()
    assert [v.variant for v in variants] == ["digit_tc", "no_impl", "no_bt"]
    assert all(v.min_turns == 1 and v.error_hint_rate == 0.0 for v in variants)
    assert [v.variant for v in SynthesisConfig(ablations=False).variants()] == ["digit_tc"]


def test_the_llm_resource_hands_its_knobs_to_the_client():
    resource = LLMResource(provider="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout_s=3.0, repair=False)
    client = resource.build()
    try:
        assert client.label == "openai:m@127.0.0.1:9" and client.repair is False
        assert client._client.timeout == 3.0
    finally:
        client.close()
