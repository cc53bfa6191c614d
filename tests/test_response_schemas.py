"""Per-request response schemas: each role's request carries a schema built from its own tools and
data flow, the client sends it as is (or in OpenAI's strict subset, or falls back), and what it
admits is what the filters accept."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from digit_assets import settings
from digit_assets.engine.dataflow import build_dataflow_graph, graph_edges
from digit_assets.engine.enrich import enrich_tools
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.llm import LLMError, Role
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM
from digit_assets.engine.llm.port import request_schema
from digit_assets.engine.llm.strict_schema import MAX_DEPTH, strict_subset
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.synthesis import roles
from digit_assets.engine.synthesis.model import ExecutedCall, PlannedCall
from digit_assets.engine.synthesis.planning import plan_problems, sample_scenario
from digit_assets.engine.synthesis.response_schemas import EMAIL, LITERAL_TEXT, OUTPUT_ITEMS, output_schema_for, plan_schema
from digit_assets.engine.synthesis.values import faker_pool
from digit_assets.engine.synthesis.rollout import Catalog, SynthesisSettings, synthesize
from tests.fake_openai_server import FakeOpenAIServer, RequestRestorer, offline_responder

BY_NAME = {value.name: value for value in vars(roles).values() if isinstance(value, Role)}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    root = settings.PROJECT_ROOT / "specs"
    specs = [tool for source in list_spec_files(root) for tool in ingest_file(root / source, root).tools]
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=7)
    return Catalog.build(enriched, graph_edges(build_dataflow_graph(enriched)))


@pytest.fixture(scope="module")
def sent(catalog: Catalog) -> list[tuple[Role, object, dict]]:
    """(role, request, response_format) of every request a short synthesis run sent to the fake server."""
    with FakeOpenAIServer(offline_responder(catalog)) as server:
        with OpenAIChatLLM(model="fake-model", base_url=server.base_url, api_key="sk-test", timeout_s=10.0) as llm:
            synthesize(catalog, llm, SynthesisSettings(), base_seed=3, indices=range(6))
        found, restorer = [], RequestRestorer(catalog)
        for recorded in server.requests:
            body = recorded.body
            role = BY_NAME[body["response_format"]["json_schema"]["name"]]
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            found.append((role, restorer.restore(role, user), body["response_format"]))
    return found


def _strings(schema) -> set[str]:
    """Every const and enum string in a schema."""
    found: set[str] = set()
    if isinstance(schema, list):
        for item in schema:
            found |= _strings(item)
    elif isinstance(schema, dict):
        if isinstance(schema.get("const"), str):
            found.add(schema["const"])
        found |= {value for value in schema.get("enum", []) if isinstance(value, str)} if isinstance(schema.get("enum"), list) else set()
        for key, value in schema.items():
            if key not in ("const", "enum"):
                found |= _strings(value)
    return found


def test_every_role_of_a_run_gets_the_schema_of_its_own_request(sent):
    assert {role.name for role, _, _ in sent} >= {
        "plan_turn", "write_request", "back_translate", "simulate_tool", "summarize_turn", "judge_conversation"
    }
    for role, request, response_format in sent:
        schema = response_format["json_schema"]["schema"]
        assert schema == request_schema(role, request)
        assert response_format["json_schema"]["strict"] is False
        text = json.dumps(schema)
        assert "$ref" not in text and "$defs" not in text and "\\\\" not in text, role.name
        Draft202012Validator.check_schema(schema)


def test_plan_schemas_name_the_scenario_tools_and_refs_from_next_ref(sent):
    plans = [(request, fmt["json_schema"]["schema"]) for role, request, fmt in sent if role.name == "plan_turn"]
    assert plans
    for request, schema in plans:
        names = {tool.name for tool in request.scenario.tools}
        constants = _strings(schema)
        tools_named = {value for value in constants if value in names}
        assert tools_named and tools_named <= names
        refs = {value for value in constants if re.fullmatch(r"\$[0-9]+", value)}
        assert min(int(ref[1:]) for ref in refs) == request.next_ref
        references = {value for value in constants if re.fullmatch(r"\$[0-9]+\..+", value)}
        assert references  # every plan has a call fed by an earlier one
        earlier = {call.ref for call in request.earlier_calls}
        for reference in references:
            producer = int(reference[1:].split(".")[0])
            assert producer < request.next_ref + request.max_calls - 1 or f"${producer}" in earlier


def test_simulator_schemas_are_the_tools_output_schema_with_echoed_arguments(sent):
    simulations = [(request, fmt["json_schema"]["schema"]) for role, request, fmt in sent if role.name == "simulate_tool"]
    assert simulations
    echoed = 0
    for request, schema in simulations:
        output = schema["properties"]["output"]
        assert set(output.get("properties", {})) == set(request.tool.output_schema.get("properties", {}))
        for name, value in request.arguments.items():
            if name in output.get("properties", {}) and not isinstance(value, (dict, list)):
                echoed += output["properties"][name] == {"const": value}
    assert echoed  # a result repeats the arguments it describes


def test_the_answers_the_filters_accept_fit_the_schema_sent(sent, catalog):
    """Not too tight: every offline answer that passes the plan filter validates against its schema."""
    checked = 0
    for role, request, _ in sent:
        try:
            answer = default_offline_llm().call(role, request, seed=1)
        except LLMError:
            continue  # the offline engine refused; nothing to fit
        if role.name == "plan_turn" and plan_problems(
            answer.calls, request.scenario, request.earlier_calls,
            turn_index=1 if request.earlier_calls else 0, min_calls=request.min_calls, max_calls=request.max_calls,
        ):
            continue
        if role.name == "back_translate":
            continue  # judged against the original plan; covered by the plan filter case
        errors = list(Draft202012Validator(request_schema(role, request)).iter_errors(answer.model_dump(mode="json")))
        assert not errors, (role.name, errors[0].message[:300])
        checked += 1
    assert checked > 20


def _library_scenario(catalog: Catalog):
    import random

    for seed in range(50):
        scenario = sample_scenario("library", catalog.tools["library"], catalog.links["library"], random.Random(seed), min_tools=3, max_tools=3)
        if scenario is not None and scenario.links:
            return scenario
    raise AssertionError("no library scenario with a link")


def test_the_plan_schema_rejects_what_the_small_model_wrote(catalog):
    """The rejections of the 135M model's plans (unknown parameter, missing required one, no value
    from an earlier output, repeated ref, a tool outside the scenario) are impossible under the schema."""
    scenario = _library_scenario(catalog)
    schema = plan_schema(scenario.tools, scenario.links, [], next_ref=1, min_calls=2, max_calls=2)
    validator = Draft202012Validator(schema)
    link, good = _valid_plan(validator, scenario)
    assert validator.is_valid(good)
    assert not plan_problems([PlannedCall(**c) for c in good["calls"]], scenario, [], turn_index=0, min_calls=2, max_calls=2)

    def broken(change) -> dict:
        plan = json.loads(json.dumps(good))
        change(plan["calls"])
        return plan

    cases = {
        "unknown parameter": lambda calls: calls[0]["arguments"].update(not_a_parameter="M1"),
        "missing required": lambda calls: calls[1]["arguments"].pop(link.dst_param),
        "literal instead of a reference": lambda calls: calls[1]["arguments"].update({link.dst_param: "X-1"}),
        "reference to a field not produced": lambda calls: calls[1]["arguments"].update({link.dst_param: "$1.nothing_here"}),
        "repeated ref": lambda calls: calls[1].update(ref="$1"),
        "tool outside the scenario": lambda calls: calls[0].update(tool="pay_fees_elsewhere"),
        "reference to a later call": lambda calls: calls[1]["arguments"].update({link.dst_param: calls[1]["arguments"][link.dst_param].replace("$1", "$2")}),
    }
    for what, change in cases.items():
        assert not validator.is_valid(broken(change)), what


def test_literals_outputs_and_summaries_refuse_what_the_small_model_wrote(catalog):
    """What SmolLM2-135M wrote under the looser schemas is impossible under these: a tool name or
    snake_case junk as a free literal, an email with no @, an answer list cut at the token cap by
    growing without end, a summary not in the first person; real values still fit."""
    tools = {tool.name: tool for tool in catalog.tools["library"]}
    schema = plan_schema(list(tools.values()), catalog.links["library"], [], next_ref=1, min_calls=2, max_calls=2, chain_limit=0)
    first = json.dumps(schema)
    assert json.dumps(EMAIL)[1:-1] in first and json.dumps(LITERAL_TEXT)[1:-1] in first  # find_member(email), search_catalog(query)
    literal = Draft202012Validator({"type": "string", "pattern": LITERAL_TEXT})
    email = Draft202012Validator({"type": "string", "pattern": EMAIL})
    for junk in ("search_catalog", "$2.orders[0].order_id", "johnny_paul_johnny_johnny", 'Dune" , "x'):
        assert not literal.is_valid(junk), junk
    assert literal.is_valid("Dune by Frank Herbert") and literal.is_valid("MEM-10234")
    assert not email.is_valid("johnny_paul_johnny_johnny_johnny") and not email.is_valid("$1.email")
    assert all(email.is_valid(address) for address in faker_pool("email"))

    search = tools["search_catalog"]
    output = Draft202012Validator(output_schema_for(search, {"query": "Dune"}))
    item = {"isbn": "9780441172719", "title": "Dune", "author": "Frank Herbert", "media_type": "book", "available_copies": 2}
    assert output.is_valid({"output": {"results": [item] * OUTPUT_ITEMS}})
    assert not output.is_valid({"output": {"results": [item] * (OUTPUT_ITEMS + 1)}})
    assert not output.is_valid({"output": {"results": [{**item, "title": "Dune " * 40}]}})

    summary = Draft202012Validator(roles.SUMMARIZE_TURN.schema_for(roles.SummarizeTurnRequest(request="r", calls=[])))
    for written in ("I reserved Dune for you.", "Done: I found the member and placed the hold.", "Here is what I did: I renewed it."):
        assert summary.is_valid({"summary": written}), written
    for written in ("The book Dune has been reserved.", "Reserved $2.hold_id.", "I reserved it.\nAnd more.", "I did. I did. I did. I did.", "All set. I did. I did. I did."):
        assert not summary.is_valid({"summary": written}), written


def _valid_plan(validator, scenario) -> tuple:
    """A link and the offline planner's first two-call plan along it that fits (one always does; a
    producer that needs an id the user cannot know never starts a plan)."""
    from digit_assets.engine.offline.planner import plan_turn_offline
    import random

    request = roles.PlanTurnRequest(scenario=scenario, earlier_turns=[], earlier_calls=[], next_ref=1, min_calls=2, max_calls=2)
    for seed in range(200):
        plan = plan_turn_offline(request, random.Random(seed)).model_dump(mode="json")
        calls = plan["calls"]
        for link in scenario.links:
            if (
                len(calls) == 2 and calls[0]["tool"] == link.src_tool and calls[1]["tool"] == link.dst_tool
                and str(calls[1]["arguments"].get(link.dst_param, "")).startswith("$1.")
                and validator.is_valid(plan)
            ):
                return link, plan
    raise AssertionError("the offline planner wrote no plan along a link")


def test_a_later_turn_plan_starts_from_an_earlier_output(catalog):
    scenario = _library_scenario(catalog)
    link = scenario.links[0]
    producer = next(t for t in scenario.tools if t.name == link.src_tool)
    from digit_assets.engine.offline.simulator import simulate_tool_offline
    import random

    output = simulate_tool_offline(
        roles.SimulateToolRequest(tool=producer, arguments={}, history=[], today=scenario.today), random.Random(1)
    ).output
    earlier = [ExecutedCall(ref="$1", tool=producer.name, arguments={}, output=output, turn=0)]
    schema = plan_schema(scenario.tools, scenario.links, earlier, next_ref=3, min_calls=2, max_calls=2)
    first_calls = [plan["prefixItems"][0] for plan in schema["properties"]["calls"].get("anyOf", [schema["properties"]["calls"]])]
    for first in first_calls:
        assert "$1." in json.dumps(first)  # the first call of every allowed plan reads turn 0's output
        assert '"const": "$3"' in json.dumps(first)


def test_large_scenarios_fall_back_to_per_position_schemas(catalog):
    scenario = _library_scenario(catalog)
    chains = plan_schema(scenario.tools, scenario.links, [], next_ref=1, min_calls=2, max_calls=3)
    positions = plan_schema(scenario.tools, scenario.links, [], next_ref=1, min_calls=2, max_calls=3, chain_limit=0)
    assert chains != positions
    lengths = sorted(len(plan["prefixItems"]) for plan in positions["properties"]["calls"]["anyOf"])
    assert lengths == [2, 3]  # one per plan length, each position listing the tools it may hold


# --- OpenAI strict mode --------------------------------------------------------------------------------


def test_strict_mode_closes_objects_and_keeps_required_properties_only():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "minLength": 2}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    strict, why = strict_subset(schema)
    assert why == ""
    assert strict == {
        "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"anyOf": [{"type": "object", "properties": {}, "additionalProperties": False}]}, "one object"),
        ({"type": "object", "properties": {"x": {"type": "object"}}, "required": ["x"]}, "free-form"),
        ({"type": "object", "properties": {"x": {}}, "required": ["x"]}, "free-form"),
    ],
)
def test_schemas_outside_the_strict_subset_are_refused_with_the_reason(schema, reason):
    strict, why = strict_subset(schema)
    assert strict is None and reason in why


def test_too_deep_and_too_many_enum_values_fall_back():
    deep: dict = {"type": "string"}
    for level in range(MAX_DEPTH + 1):
        deep = {"type": "object", "properties": {f"l{level}": deep}, "required": [f"l{level}"]}
    assert "nesting" in strict_subset(deep)[1]
    wide = {"type": "object", "properties": {"x": {"enum": [f"v{i}" for i in range(1001)]}}, "required": ["x"]}
    assert "enum values" in strict_subset(wide)[1]


def test_strict_client_sends_strict_where_it_fits_and_falls_back_where_not(catalog):
    """Per call: the simulator's schema fits the strict subset; the judge's (a union at the top) is
    sent in full without strict mode."""
    with FakeOpenAIServer(offline_responder(catalog)) as server:
        with OpenAIChatLLM(model="m", base_url=server.base_url, api_key="k", timeout_s=10.0, strict_schemas=True) as llm:
            synthesize(catalog, llm, SynthesisSettings(), base_seed=4, indices=range(2))
        formats = {}
        for recorded in server.requests:
            fmt = recorded.body["response_format"]["json_schema"]
            formats.setdefault(fmt["name"], []).append(fmt)
    assert all(fmt["strict"] for fmt in formats["simulate_tool"])
    assert all(fmt["schema"]["properties"]["output"]["additionalProperties"] is False for fmt in formats["simulate_tool"])
    judge = formats.get("judge_conversation", [])
    for fmt in judge:
        assert fmt["strict"] is False and "anyOf" in fmt["schema"]
