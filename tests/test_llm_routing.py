"""A model per role: each role goes to its own server, model, temperature and token cap, or to the
offline engine, and usage is stored per role with the model that answered it."""

from __future__ import annotations

import dagster as dg
import pytest

from digit_assets.defs.resources import LLMResource, RoleRouteConfig, llm_from_environment
from digit_assets.store import Store
from digit_assets.store.llm_usage import usage_per_model
from digit_assets.store.synthesis import turn_rejections
from tests.fake_openai_server import FakeOpenAIServer, offline_responder
from tests.llm_helpers import build_catalog_database, catalog_of, dump_every_table, fresh_copy, openai_resource, synthesize_shard, table_rows


@pytest.fixture(scope="module")
def catalog_database(tmp_path_factory):
    return build_catalog_database(tmp_path_factory.mktemp("catalog"))


def _roles(server) -> set[str]:
    return {request.body["response_format"]["json_schema"]["name"] for request in server.requests}


def test_each_role_goes_where_its_route_says_and_usage_names_the_model(catalog_database, tmp_path):
    database = fresh_copy(catalog_database, tmp_path)
    with FakeOpenAIServer(offline_responder(catalog_of(database))) as strong, FakeOpenAIServer(offline_responder(catalog_of(database))) as cheap:
        llm = openai_resource(
            strong.base_url,
            roles={
                "simulate_tool": RoleRouteConfig(model="cheap-model", base_url=cheap.base_url, temperature=0.7, max_tokens=300),
                "judge_conversation": RoleRouteConfig(provider="offline"),
            },
        )
        result = synthesize_shard(dg.DagsterInstance.ephemeral(), database, llm, conversations=6)
        assert result.success
        assert _roles(cheap) == {"simulate_tool"}
        assert "simulate_tool" not in _roles(strong) and "judge_conversation" not in _roles(strong)
        assert {"plan_turn", "write_request", "back_translate"} <= _roles(strong)
        for request in cheap.requests:
            assert (request.body["model"], request.body["temperature"], request.body["max_tokens"]) == ("cheap-model", 0.7, 300)
        for request in strong.requests:
            assert request.body["model"] == "fake-model" and "max_tokens" not in request.body
        strong_host = strong.base_url.split("//")[1].split("/")[0]
        cheap_host = cheap.base_url.split("//")[1].split("/")[0]
    models = dict(table_rows(database, "SELECT role, model FROM llm_usage WHERE asset = 'synthetic_conversations'"))
    assert models["simulate_tool"] == f"openai:cheap-model@{cheap_host}"
    assert models["plan_turn"] == f"openai:fake-model@{strong_host}"
    assert models["judge_conversation"] == "offline"
    per_model = table_rows(database, "SELECT model, role, calls, requests FROM llm_usage_per_model ORDER BY model, role")
    assert ("offline", "judge_conversation") in {(model, role) for model, role, _, _ in per_model}
    assert all(requests == 0 for model, _, _, requests in per_model if model == "offline")
    assert "sk-test" not in dump_every_table(database)
    with Store(database).connect() as conn:
        reported = usage_per_model(conn)
        failed_turns = turn_rejections(conn)
    assert {(model, role) for model, role, *_ in reported} == {(model, role) for model, role, _, _ in per_model}
    assert all(stage and count > 0 and reason for _, stage, count, reason in failed_turns)


def test_roles_from_the_environment(monkeypatch):
    monkeypatch.setenv("DIGIT_TC_LLM_PROVIDER", "openai")
    monkeypatch.setenv("DIGIT_TC_LLM_MODEL", "m")
    monkeypatch.setenv("DIGIT_TC_LLM_ROLES", '{"simulate_tool": {"provider": "offline"}, "plan_turn": {"model": "big", "temperature": 0.5}}')
    resource = llm_from_environment()
    assert resource.roles["simulate_tool"].provider == "offline"
    assert (resource.roles["plan_turn"].model, resource.roles["plan_turn"].temperature) == ("big", 0.5)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("{not json", "DIGIT_TC_LLM_ROLES"), ('{"plan": {"provider": "offline"}}', "unknown roles ['plan']"), ('{"plan_turn": 3}', "object")],
)
def test_a_bad_role_routing_is_refused_with_the_variable_and_the_problem(monkeypatch, value, problem):
    monkeypatch.setenv("DIGIT_TC_LLM_ROLES", value)
    with pytest.raises(ValueError, match="DIGIT_TC_LLM_ROLES") as caught:
        llm_from_environment()
    assert problem in str(caught.value)


def test_a_route_for_no_role_of_the_method_fails_when_the_port_is_built():
    resource = LLMResource(provider="offline", roles={"planner": RoleRouteConfig(provider="offline")})
    with pytest.raises(ValueError, match="planner"):
        resource.build()
