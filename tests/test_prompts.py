"""What each role is shown: prompts rendered per role lose nothing a catalog cannot give back, show
the arguments a role needs, leave out what the response schema enforces, and put the stable part first."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from digit_assets.engine.dataflow import build_dataflow_graph, graph_edges
from digit_assets.engine.enrich import enrich_tools
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.llm.port import user_message
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.synthesis import prompts, roles
from digit_assets.engine.synthesis.response_schemas import standalone_tool_schemas
from digit_assets.engine.synthesis.rollout import Catalog, SynthesisSettings, synthesize
from tests.conftest import REPO_SPECS
from tests.fake_openai_server import FakeOpenAIServer, RequestRestorer, completion_reply

RENDERED = {role.name for role in vars(roles).values() if isinstance(role, roles.Role) and role.render is not None}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    specs = [tool for source in list_spec_files(REPO_SPECS) for tool in ingest_file(REPO_SPECS / source, REPO_SPECS).tools]
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=7)
    return Catalog.build(enriched, graph_edges(build_dataflow_graph(enriched)))


@pytest.fixture(scope="module")
def asked(catalog: Catalog) -> dict[str, list]:
    """role name -> (role, request) of every call a short offline run made, per conversation order."""
    offline = default_offline_llm()
    found: dict[str, list] = defaultdict(list)

    class Recording:
        label = "recording"

        def call(self, role, request, *, seed):
            found[role.name].append((role, request))
            return offline.call(role, request, seed=seed)

    synthesize(catalog, Recording(), SynthesisSettings(error_hint_rate=0.5), base_seed=21, indices=range(12))
    return found


def test_every_role_of_a_conversation_renders_its_own_prompt(asked):
    assert RENDERED == {"plan_turn", "write_request", "back_translate", "simulate_tool", "summarize_turn", "judge_conversation", "propose_wrong_call"}
    assert RENDERED <= set(asked)


def test_every_prompt_restores_to_the_request_it_was_rendered_from(catalog, asked):
    """The fake server answers from the restored request: it must be the very request sent."""
    restorer = RequestRestorer(catalog)
    for calls in asked.values():
        for role, request in calls:
            restored = restorer.restore(role, user_message(role, request))
            assert restored.model_dump(mode="json") == request.model_dump(mode="json"), role.name


def test_a_prompt_no_request_of_the_catalog_renders_to_is_refused(catalog, asked):
    role, request = asked["plan_turn"][0]
    tool = request.scenario.tools[0]
    changed = user_message(role, request).replace(f"{tool.name}: {prompts.one_line(tool.description)}", f"{tool.name}: Something else")
    with pytest.raises(ValueError, match="no request of the catalog"):
        RequestRestorer(catalog).restore(role, changed)
    with pytest.raises(ValueError, match="needs the catalog"):
        RequestRestorer().restore(role, user_message(role, request))


def _argument_facts(tool):
    parameters, _ = standalone_tool_schemas(tool)
    for name, schema in (parameters.get("properties") or {}).items():
        yield name, prompts.one_line(schema.get("description", "")), schema


def test_planner_and_back_translator_see_every_argument_and_no_output_schema_or_link(asked):
    for name in ("plan_turn", "back_translate"):
        for role, request in asked[name]:
            tools = request.scenario.tools if name == "plan_turn" else request.tools
            links = request.scenario.links if name == "plan_turn" else request.links
            prompt = user_message(role, request)
            for tool in tools:
                assert f"\n{tool.name}: {prompts.one_line(tool.description)}." in prompt
                for param, description, schema in _argument_facts(tool):
                    assert f"{param}" in prompt and description in prompt
                    for value in schema.get("enum", []):
                        assert json.dumps(value) in prompt
                _, output = standalone_tool_schemas(tool)
                assert prompts.type_of(output) not in prompt  # the plan schema's references stand for it
            assert "src_field" not in prompt and "output_schema" not in prompt and len(links) > 0


def test_the_simulator_sees_its_tool_and_the_shape_of_its_result(asked):
    for role, request in asked["simulate_tool"]:
        prompt = user_message(role, request)
        _, output = standalone_tool_schemas(request.tool)
        assert prompt.startswith(f"Tool: {prompts.tool_line(request.tool)} Returns: {prompts.type_of(output)}\n")
        assert json.loads(prompt.splitlines()[-1])["arguments"] == request.arguments


def test_the_request_writer_sees_the_planned_tools_and_only_the_names_of_the_others(asked):
    for role, request in asked["write_request"]:
        prompt = user_message(role, request)
        planned = {call.tool for call in request.plan.calls}
        for tool in request.scenario.tools:
            assert tool.name in prompt.splitlines()[0]
            shown = f"\n{tool.name}: {prompts.one_line(tool.description)}." in prompt
            assert shown == (tool.name in planned), tool.name
        for call in request.plan.calls:
            for param in call.arguments:
                assert f"{param}" in prompt
        assert json.loads(prompt.splitlines()[-1])["persona"] == request.scenario.persona


def test_the_stable_part_comes_first(asked):
    """Two plan prompts of one conversation differ only after the tools, persona and date."""
    by_scenario = defaultdict(dict)  # a retried turn asks again with the same prompt
    for role, request in asked["plan_turn"]:
        by_scenario[request.scenario.persona][user_message(role, request)] = None
    later = [list(texts) for texts in by_scenario.values() if len(texts) > 1]
    assert later
    for first, second, *_ in later:
        stable = first[: first.index('"earlier_turns":')]
        assert second.startswith(stable) and first != second
        assert json.loads(first.rsplit("\n", 1)[1]).keys() == json.loads(second.rsplit("\n", 1)[1]).keys()


def test_prompts_are_a_fraction_of_the_requests_as_json(asked):
    """What the three roles that carried the tool specs send: under half of the JSON they replaced."""
    for name in ("plan_turn", "write_request", "back_translate"):
        rendered = sum(len(user_message(role, request)) for role, request in asked[name])
        as_json = sum(len(request.model_dump_json()) for _, request in asked[name])
        assert rendered < as_json / 2, name


def test_compact_types_say_what_a_value_may_be():
    assert prompts.type_of({"type": "string", "format": "date"}) == "string date"
    assert prompts.type_of({"type": "integer", "minimum": 1, "maximum": 100}) == "integer 1..100"
    assert prompts.type_of({"enum": ["a", "b"]}) == '"a"|"b"'
    items = {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "number", "minimum": 0}}, "required": ["id"]}
    assert prompts.type_of({"type": "array", "items": items}) == "list of {id*: string, n: number 0..}"
    assert prompts.type_of({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string or null"


def test_the_port_sends_the_rendered_prompt_after_the_instructions(asked):
    role, request = asked["plan_turn"][0]
    with FakeOpenAIServer() as server:
        server.enqueue(completion_reply(json.dumps({"calls": []})))
        with OpenAIChatLLM(model="m", base_url=server.base_url, api_key="k", timeout_s=10.0) as llm:
            assert llm.call(role, request, seed=1).calls == []
        [sent] = server.requests
    system, user = sent.body["messages"]
    assert system["content"].startswith(role.instructions)
    assert user["content"] == prompts.render_plan(request)
