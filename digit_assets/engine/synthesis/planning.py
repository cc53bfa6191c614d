"""Scenarios, turn plans and hidden calls (method.md steps 1-3).

A scenario is a tool subset tied together by data flow, so a plan can chain calls: a later call
takes an argument from an earlier output (``"$3.orders[0].order_id"``). Plans only reference
output fields every successful result carries: required at every level of the producer's output
schema, arrays included (the simulator returns at least one item where the schema allows it). An
optional field may be absent from the result, and the turn would then fail at execution instead
of here.

The same checks serve the offline planner (:mod:`digit_assets.engine.offline.planner` only draws
plans that pass them) and the plan filters that judge any planner's answer, so "plannable" means
one thing everywhere.
"""

from __future__ import annotations

import graphlib
import json
import random
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import networkx as nx

from digit_assets.engine.lexicon import (
    CREATING_VERBS,
    ONCE_ONLY_VERBS,
    changes_state,
    is_ended_status,
    is_entity_key,
    is_status_field,
    key_noun,
    removes,
    setter_field,
    shows_setter,
    subject_key,
    tool_context,
    tool_verb,
)
from digit_assets.engine.schema_refs import resolve_local
from digit_assets.engine.synthesis.model import (
    REFERENCE,
    ExecutedCall,
    Link,
    PlannedCall,
    Scenario,
    ToolView,
    TurnPlan,
    parse_reference,
    resolve_path,
)
from digit_assets.engine.synthesis.simulation import (
    IdentityCache,
    ReferenceResolutionError,
    argument_problems,
    entities,
    objects,
    resolve_arguments,
)
from digit_assets.engine.synthesis.text import is_identifier_param
from digit_assets.engine.synthesis.values import ValueFactory, faker_pool

TODAY_WINDOW = (date(2025, 1, 1), date(2026, 12, 31))
MIN_CONNECTED_CALLS = 2

# The offline simulator fills arrays with at least one item down to this nesting depth; deeper
# arrays may come back empty unless the schema sets ``minItems``.
_FILLED_ARRAY_DEPTH = 4
_REFERENCE_ATTEMPT = re.compile(r"^\$\d+\.[A-Za-z_]")
# Substitutes only stand in for a referenced value's shape, so any fixed day will do.
_SUBSTITUTE_DAY = date(2025, 6, 1)


# --- Output fields a plan may reference ------------------------------------------------------------


def reference_path(src_field: str) -> str | None:
    """``orders[].order_id`` -> ``orders[0].order_id``; None when it cannot be written as a reference."""
    path = src_field.replace("[]", "[0]")
    return path if REFERENCE.match(f"$1.{path}") else None


@dataclass(frozen=True)
class OutputField:
    """A field every output of a tool carries, with a value of its schema to validate consumers with."""

    path: str
    schema: Mapping[str, Any]
    substitute: Any
    substitute_key: str


def _single_type(schema: Mapping[str, Any]) -> str | None:
    """The one JSON type every value of ``schema`` has; None when it may be null or vary by branch."""
    if schema.get("anyOf") or schema.get("oneOf"):
        return None
    declared = schema.get("type")
    if isinstance(declared, list):
        return declared[0] if len(declared) == 1 and declared[0] != "null" else None
    if isinstance(declared, str):
        return None if declared == "null" else declared
    return "object" if "properties" in schema else "array" if "items" in schema else None


def _guaranteed_items(array: Mapping[str, Any], depth: int) -> int:
    """How many items every output has in this array."""
    declared = int(array.get("minItems", 0))
    if array.get("maxItems") == 0:
        return 0
    return max(declared, 1 if depth < _FILLED_ARRAY_DEPTH else 0)


def _guaranteed_schema(output_schema: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The schema at ``path`` (``orders[0].order_id``) if every output has a value there, else None."""
    steps = path.split(".")
    current = resolve_local(output_schema, output_schema)
    for depth, step in enumerate(steps):
        name, _, index_text = step.partition("[")
        if current is None or _single_type(current) != "object" or name not in current.get("required", ()):
            return None
        value = resolve_local(current.get("properties", {}).get(name, {}), output_schema)
        last = depth == len(steps) - 1
        if value is None or (not (last and not index_text) and _single_type(value) is None):
            return None
        if index_text:
            index = int(index_text.rstrip("]"))
            if _single_type(value) != "array" or index >= _guaranteed_items(value, depth):
                return None
            value = resolve_local(value.get("items", {}), output_schema)
            if value is None or (not last and _single_type(value) is None):
                return None
        current = value
    return current


# --- Per-tool analysis, cached by the tool's identity ------------------------------------------


class ToolAnalysis:
    """What the planner and the filters ask about one tool, worked out once per tool object."""

    def __init__(self, tool: ToolView):
        self.tool = tool
        parameters = tool.parameters
        self.properties: dict[str, Mapping[str, Any]] = {
            name: resolve_local(schema, parameters) or {} for name, schema in parameters.get("properties", {}).items()
        }
        self.required: tuple[str, ...] = tuple(parameters.get("required", ()))
        # Declared properties, then required names the schema forgot to declare (a call must pass them).
        self.params: tuple[str, ...] = (*self.properties, *(name for name in self.required if name not in self.properties))
        # Required keys the system assigned: a plan looks them up rather than a person stating them.
        self.required_identifiers: tuple[str, ...] = tuple(name for name in self.required if is_identifier_param(name))
        # One parameter at a time validates against the schema with nothing required.
        self._single = ToolView(name=tool.name, description="", parameters={**parameters, "required": []}, output_schema={})
        self._fields: dict[str, OutputField | None] = {}
        self._accepts: dict[tuple[str, str], bool] = {}

    def field(self, path: str) -> OutputField | None:
        """The output field at ``path`` if every result carries it."""
        if path not in self._fields:
            schema = _guaranteed_schema(self.tool.output_schema, path)
            if schema is None:
                self._fields[path] = None
            else:
                leaf = path.rsplit(".", 1)[-1].split("[")[0]
                substitute = ValueFactory(random.Random(path), _SUBSTITUTE_DAY).value(schema, leaf)
                self._fields[path] = OutputField(path, schema, substitute, json.dumps(substitute, sort_keys=True, default=str))
        return self._fields[path]

    def accepts_value(self, param: str, value: Any) -> bool:
        return not argument_problems(self._single, {param: value})

    def accepts(self, param: str, produced: OutputField) -> bool:
        """Whether a value of the produced field's schema is a valid value of ``param``."""
        key = (param, produced.substitute_key)
        if key not in self._accepts:
            self._accepts[key] = param in self.properties and self.accepts_value(param, produced.substitute)
        return self._accepts[key]


_ANALYSES = IdentityCache(8_192)


def tool_analysis(tool: ToolView) -> ToolAnalysis:
    found = _ANALYSES.get(tool)
    return found if isinstance(found, ToolAnalysis) else _ANALYSES.put(ToolAnalysis(tool), tool)


def plannable_field(link: Link, producer: ToolView, consumer: ToolView) -> OutputField | None:
    """The producer field a plan may reference for this link: in every output, and a valid value of
    the consumer's parameter. None when the link cannot be planned with."""
    path = reference_path(link.src_field)
    produced = tool_analysis(producer).field(path) if path else None
    return produced if produced is not None and tool_analysis(consumer).accepts(link.dst_param, produced) else None


def link_problem(link: Link, producer: ToolView, consumer: ToolView) -> str | None:
    """Why a plan cannot use this link (the reverse of :func:`plannable_field`); None when it can."""
    path = reference_path(link.src_field)
    produced = tool_analysis(producer).field(path) if path else None
    if produced is None:
        return f"{producer.name} output {link.src_field} is not in every result (optional, nullable or possibly empty)"
    if not tool_analysis(consumer).accepts(link.dst_param, produced):
        return f"a value of {producer.name} output {link.src_field} is not valid for {consumer.name}({link.dst_param})"
    return None


# --- Step 1: scenario -------------------------------------------------------------------------------


def _plannable_links(tools: Sequence[ToolView], links: Sequence[Link]) -> list[Link]:
    by_name = {tool.name: tool for tool in tools}
    return [
        link
        for link in links
        if link.src_tool in by_name
        and link.dst_tool in by_name
        and link.src_tool != link.dst_tool
        and plannable_field(link, by_name[link.src_tool], by_name[link.dst_tool]) is not None
    ]


@dataclass(frozen=True)
class _NamespaceFlow:
    tools: Sequence[ToolView]
    links: list[Link]
    graph: nx.DiGraph


_FLOWS = IdentityCache(1_024)


def _namespace_flow(tools: Sequence[ToolView], links: Sequence[Link]) -> _NamespaceFlow:
    """The plannable data-flow graph of a namespace, kept while the caller keeps the same lists."""
    found = _FLOWS.get(links)
    if isinstance(found, _NamespaceFlow) and found.tools is tools:
        return found
    plannable = _plannable_links(tools, links)
    graph = nx.DiGraph()
    graph.add_nodes_from(tool.name for tool in tools)
    graph.add_edges_from((link.src_tool, link.dst_tool) for link in plannable)
    return _FLOWS.put(_NamespaceFlow(tools, plannable, graph), links)


def has_plannable_flow(tools: Sequence[ToolView], links: Sequence[Link]) -> bool:
    """Whether a scenario can be sampled: some link's field is in every output and fits its parameter."""
    return _namespace_flow(tools, links).graph.number_of_edges() > 0


def _persona(rng: random.Random) -> str:
    """A name, a job and a workplace: enough for a request to sound like someone in particular."""
    name, job, company, city = (rng.choice(faker_pool(provider)) for provider in ("name", "job", "company", "city"))
    head, _, qualifier = job.partition(", ")  # Faker writes "Engineer, civil"
    role = f"{qualifier} {head.lower()}" if qualifier else job.lower()
    return f"{name}, {role} at {company} in {city}"


_SCENARIO_DRAWS = 20  # subsets drawn before settling for one no plan of the allowed length can use


def _calls_to_reach(flow: _NamespaceFlow, by_name: Mapping[str, ToolView], members: set[str]) -> dict[str, int]:
    """Fewest calls a plan within ``members`` makes up to and including a call of each tool, when
    every identifier the tool requires comes from an earlier output (no one states a system id)."""
    cost: dict[str, int] = {name: 1 for name in members if not _required_identifiers(by_name[name])}
    for _ in range(len(members)):
        changed = False
        for name in sorted(members - cost.keys()):
            producers: set[str] = set()
            for param in _required_identifiers(by_name[name]):
                feeding = [link.src_tool for link in flow.links if link.dst_tool == name and link.dst_param == param and link.src_tool in cost]
                if not feeding:
                    break
                producers.add(min(feeding, key=lambda tool: (cost[tool], tool)))
            else:
                cost[name] = 1 + sum(cost[tool] for tool in producers)
                changed = True
        if not changed:
            break
    return cost


def _required_identifiers(tool: ToolView) -> tuple[str, ...]:
    return tool_analysis(tool).required_identifiers


def _usable_within(flow: _NamespaceFlow, by_name: Mapping[str, ToolView], members: set[str], max_calls: int) -> bool:
    """Whether some link of the subset can be followed by a plan of at most ``max_calls`` calls."""
    cost = _calls_to_reach(flow, by_name, members)
    return any(
        link.src_tool in members and link.dst_tool in members and link.src_tool in cost and link.dst_tool in cost
        and max(cost[link.dst_tool], cost[link.src_tool] + 1) <= max_calls
        for link in flow.links
    )


def sample_scenario(
    namespace: str,
    tools: Sequence[ToolView],
    links: Sequence[Link],
    rng: random.Random,
    *,
    min_tools: int = 3,
    max_tools: int = 8,
    max_calls: int | None = None,
) -> Scenario | None:
    """Step 1: grow a tool subset along plannable data-flow links from a tool whose output feeds another.

    The subset starts from an entry point where the namespace has one (see below). Growth follows
    links both ways (who feeds the subset, whom the subset feeds), so every tool can take part in a
    chain. When the linked neighbourhood is smaller than ``min_tools``, other tools of the namespace
    join as distractors: same domain, no data flow. With ``max_calls``, a subset is drawn again
    until a plan that long can follow one of its links with every identifier found, not stated (a
    hold needs the member, the branch and the title looked up first: three calls before it). None
    when no link of the namespace can be planned with.
    """
    flow = _namespace_flow(tools, links)
    starts = sorted(name for name in flow.graph if flow.graph.out_degree(name) > 0)
    if not starts:
        return None
    # Grow from an entry point when there is one: a tool a user can ask for without an identifier
    # only the system knows, so the first call of a conversation can be one the user states.
    by_name = {tool.name: tool for tool in tools}
    entries = [name for name in starts if not _required_identifiers(by_name[name])]
    starts = entries or starts
    for _ in range(_SCENARIO_DRAWS):
        members = _draw_subset(flow, tools, starts, rng, min_tools, max_tools)
        if max_calls is None or _usable_within(flow, by_name, members, max_calls):
            break
    first_day, last_day = TODAY_WINDOW
    today = first_day + timedelta(days=rng.randint(0, (last_day - first_day).days))
    return scenario_of(namespace, tools, links, members, persona=_persona(rng), today=today.isoformat())


def scenario_of(
    namespace: str, tools: Sequence[ToolView], links: Sequence[Link], members: Collection[str], *, persona: str, today: str
) -> Scenario:
    """The scenario of a tool subset: its tools in catalog order and the plannable links within it,
    so the subset's names (all a prompt needs to show) determine the rest."""
    flow = _namespace_flow(tools, links)
    return Scenario(
        namespace=namespace,
        tools=[tool for tool in tools if tool.name in members],
        links=[link for link in flow.links if link.src_tool in members and link.dst_tool in members],
        persona=persona,
        today=today,
    )


def _draw_subset(
    flow: _NamespaceFlow, tools: Sequence[ToolView], starts: Sequence[str], rng: random.Random, min_tools: int, max_tools: int
) -> set[str]:
    size = rng.randint(min_tools, max(min_tools, max_tools))
    chosen = [rng.choice(starts)]
    frontier: set[str] = set()
    while len(chosen) < size:
        newest = chosen[-1]
        frontier |= set(flow.graph.successors(newest)) | set(flow.graph.predecessors(newest))
        frontier -= set(chosen)
        if not frontier:
            break
        chosen.append(rng.choice(sorted(frontier)))
    if len(chosen) < min_tools:
        others = sorted(tool.name for tool in tools if tool.name not in chosen)
        chosen += rng.sample(others, min(len(others), min_tools - len(chosen)))
    return set(chosen)


# --- Reference substitution shared by the planner and the filters --------------------------------


def _malformed_reference(value: Any) -> bool:
    """Whether a literal is a reference attempt that does not parse (``$3.orders[].id``); a price
    such as ``$3.50`` is not one."""
    if isinstance(value, str):
        return bool(_REFERENCE_ATTEMPT.match(value))
    if isinstance(value, Mapping):
        return any(_malformed_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_malformed_reference(v) for v in value)
    return False


def _substituted(
    call: PlannedCall, planned: Mapping[str, ToolView | None], executed: Mapping[str, ExecutedCall]
) -> tuple[dict[str, Any], list[str]]:
    """The call's arguments with each reference replaced by a value it will have, and why a
    reference cannot be resolved. ``planned``: the calls of this plan before ``call`` (None: a tool
    the scenario does not have)."""
    arguments: dict[str, Any] = {}
    problems: list[str] = []
    for param, value in call.arguments.items():
        parsed = parse_reference(value)
        if parsed is None:
            arguments[param] = value
            continue
        ref, path = parsed
        where = f"{call.ref} {call.tool}: argument {param}={value!r}"
        if ref in planned:
            producer = planned[ref]
            produced = tool_analysis(producer).field(path) if producer is not None else None
            if producer is None:
                problems.append(f"{where} reads the output of {ref}, whose tool is not in the scenario.")
            elif produced is None:
                problems.append(
                    f"{where} reads a field that the output schema of {ref} {producer.name} does not guarantee "
                    f"(absent, optional, nullable or possibly empty)."
                )
            else:
                arguments[param] = produced.substitute
        elif ref in executed:
            try:
                arguments[param] = resolve_path(executed[ref].output, path)
            except (KeyError, IndexError, TypeError):
                problems.append(f"{where} reads a field that the output of {ref} {executed[ref].tool} does not contain.")
        else:
            problems.append(
                f"{where} refers to {ref}, which is neither an earlier call of this plan nor an executed call of "
                f"an earlier turn."
            )
    return arguments, problems


def call_problems(
    call: PlannedCall, tool: ToolView, planned: Mapping[str, ToolView | None], executed: Mapping[str, ExecutedCall]
) -> list[str]:
    """Why the references cannot be resolved, or else the schema violations of the arguments once
    the references are substituted."""
    arguments, problems = _substituted(call, planned, executed)
    return problems or [f"{call.ref} {violation}." for violation in argument_problems(tool, arguments)]


def usable_outputs(earlier_calls: Sequence[ExecutedCall]) -> dict[str, ExecutedCall]:
    """Earlier calls a plan may consume: executed for real (injected wrong calls have no output)."""
    return {call.ref: call for call in earlier_calls if call.error is None and call.output is not None}


# --- Step 2: plan filters --------------------------------------------------------------------------


def _components(calls: Sequence[PlannedCall]) -> list[list[PlannedCall]]:
    """Groups of calls tied by references, directly or through a shared earlier call; largest first,
    ties broken by the earliest call."""
    graph = nx.Graph()
    graph.add_nodes_from(call.ref for call in calls)
    graph.add_edges_from((call.ref, producer) for call in calls for producer, _ in call.references().values())
    position = {call.ref: index for index, call in enumerate(calls)}
    groups = [[call for call in calls if call.ref in component] for component in nx.connected_components(graph)]
    return sorted(groups, key=lambda group: (-len(group), position[group[0].ref]))


def largest_connected_plan(calls: Sequence[PlannedCall]) -> list[PlannedCall]:
    """The calls of the largest connected group, in plan order; stray calls describe another task."""
    groups = _components(calls)
    return groups[0] if groups else []


def repeated_action(
    tool: str, required: Sequence[str], known: Mapping[str, Any], earlier: Sequence[ExecutedCall]
) -> ExecutedCall | None:
    """The earlier call (of the same tool) whose action this call would take again: a once-only action
    on the same object (an order is cancelled once; the same value of the key about the tool's noun,
    or of every required parameter without such a key), or a creation of the same thing (a second
    ticket with the first one's customer, subject and text; the same value of every required
    parameter). ``known`` holds the call's argument values known before it runs."""
    verb = tool_verb(tool)
    if verb in ONCE_ONLY_VERBS:
        subject = subject_key(required, tool_context(tool))
        acted_on = (subject,) if subject else tuple(required)
    elif verb in CREATING_VERBS:
        acted_on = tuple(required)
    else:
        return None
    if not acted_on:
        return None
    return next(
        (
            done for done in earlier
            if done.tool == tool and all(param in known and done.arguments.get(param) == known[param] for param in acted_on)
        ),
        None,
    )


_CLOSING_VERBS = frozenset({"cancel", "void", "delete", "close"})
_REVIVING_VERBS = frozenset({"restore", "reopen", "undelete", "unarchive", "reactivate", "recover", "resume"})


def closed_object(tool: str, arguments: Mapping[str, Any], earlier: Sequence[ExecutedCall]) -> ExecutedCall | None:
    """The earlier call that cancelled, deleted or closed the object this state-changing call would
    change (a shipping address set on an order already cancelled): the same value under that call's
    key about its own noun. Reading it, or reopening and restoring it, is fine."""
    verb = tool_verb(tool)
    if not changes_state(tool) or verb in _REVIVING_VERBS:
        return None
    for done in earlier:
        if done.error is not None or tool_verb(done.tool) not in _CLOSING_VERBS:
            continue
        key = subject_key(list(done.arguments), tool_context(done.tool))
        if key is not None and key in arguments and arguments[key] == done.arguments[key]:
            return done
    return None


def ended_object(tool: str, arguments: Mapping[str, Any], earlier: Sequence[ExecutedCall]) -> tuple[ExecutedCall, str] | None:
    """(the call, the status) when the session last showed an object this state-changing call would
    change as cancelled, refunded, returned or deleted (``update_shipping_address`` of an order a
    listing showed as cancelled). Reading it, or restoring and reopening it, is fine."""
    if not changes_state(tool) or tool_verb(tool) in _REVIVING_VERBS:
        return None
    keys = set()
    for name, value in arguments.items():
        if is_entity_key(name) and isinstance(value, (str, int)) and not isinstance(value, bool):
            noun = key_noun(name)
            keys |= {(each, str(value)) for each in ([noun] if noun else tool_context(tool))}
    shown: dict[tuple[str, str], tuple[ExecutedCall, Any]] = {}
    for done in earlier if keys else ():
        if done.error is not None or done.output is None:
            continue
        for key, entity in entities(done.tool, done.output):
            status = next((value for name, value in entity.items() if is_status_field(str(name))), None)
            if key in keys and status is not None:
                shown[key] = (done, status)
    for key in keys:
        if key in shown and is_ended_status(shown[key][1]):
            return shown[key][0], str(shown[key][1])
    return None


def changed_later(call: PlannedCall, later: Sequence[PlannedCall]) -> list[str]:
    """Paths of the objects in this call's result that a later call of the turn changes (``orders[0]``
    for ``$2 cancel_order(order_id=$1.orders[0].order_id)``; ``""``: the result itself): a real
    system would not have shown them cancelled or deleted."""
    paths: list[str] = []
    for other in later:
        if not changes_state(other.tool) or tool_verb(other.tool) in _REVIVING_VERBS:
            continue
        for name, value in other.arguments.items():
            parsed = parse_reference(value) if is_entity_key(name) else None
            if parsed is not None and parsed[0] == call.ref:
                parent = parsed[1].rpartition(".")[0]
                if parent not in paths:
                    paths.append(parent)
    return paths


def removed_values(tool: str, arguments: Mapping[str, Any]) -> tuple[str | None, list[tuple[tuple[str, ...], Any]]]:
    """What a removing call takes away and from what: (its object's key argument, [(setter words,
    value)]) for ``remove_tag(file_id=f, tag="urgent")`` -> ``("file_id", [(("tag",), "urgent")])``."""
    if not removes(tool):
        return None, []
    holder = next((name for name in arguments if is_entity_key(name)), None)
    taken = [
        (setter, value)
        for name, value in arguments.items()
        if name != holder and (setter := setter_field(name, tool)) and isinstance(value, (str, int, float)) and not isinstance(value, bool)
    ]
    return holder, taken


def _shown_lists(output: Any, holder: str, ident: Any, setter: tuple[str, ...]) -> Iterator[list[Any]]:
    """The lists an output shows for ``setter`` on objects whose ``holder`` field is ``ident``."""
    for item in objects(output):
        if item.get(holder) == ident:
            yield from (value for name, value in item.items() if isinstance(value, list) and shows_setter(setter, str(name)))


def absent_removal(tool: str, arguments: Mapping[str, Any], earlier: Sequence[ExecutedCall]) -> tuple[Any, list[Any]] | None:
    """(value, list) when this call removes a value its object did not hold when the session last
    showed it (``remove_tag(tag="point")`` on a file last listed with tags ``["still", "mind"]``): a
    real system answers that with an error, not a success. None when it held it or was never shown."""
    holder, taken = removed_values(tool, arguments)
    if holder is None:
        return None
    for setter, value in taken:
        shown: list[Any] | None = None
        for done in earlier:
            if done.error is None and done.output is not None:
                for listed in _shown_lists(done.output, holder, arguments[holder], setter):
                    shown = listed
        if shown is not None and value not in shown:
            return value, shown
    return None


def held_values(call: PlannedCall, later: Sequence[PlannedCall], output_schema: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What this call's result must show because a later call of the turn removes it from an object
    the result lists: ``{"files[0].tags": ["point"]}`` for ``$2 remove_tag(file_id=$1.files[0].file_id,
    tag="point")`` (the person asks to remove a tag the file carries)."""
    held: dict[str, list[Any]] = {}
    for other in later:
        holder, taken = removed_values(other.tool, other.arguments)
        parsed = parse_reference(other.arguments.get(holder)) if holder else None
        if parsed is None or parsed[0] != call.ref:
            continue
        parent = parsed[1].rpartition(".")[0]
        for setter, value in taken:
            if parse_reference(value) is not None:
                continue
            field = _list_field(output_schema, parent, setter)
            if field is not None:
                held.setdefault(f"{parent}.{field}" if parent else field, []).append(value)
    return held


def _list_field(output_schema: Mapping[str, Any], parent: str, setter: tuple[str, ...]) -> str | None:
    """The array field of the object at ``parent`` in the schema that shows ``setter`` (``tags`` for ``tag``)."""
    properties = schema_at(output_schema, parent).get("properties", {})
    for name, schema in properties.items() if isinstance(properties, Mapping) else ():
        resolved = resolve_local(schema, output_schema) or {}
        if resolved.get("type") == "array" and shows_setter(setter, str(name)):
            return str(name)
    return None


def schema_at(output_schema: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """The schema of what ``path`` (``files[0]``, ``orders[1].address``; ``""``: the whole) reaches in
    an output of ``output_schema``, local references followed; ``{}`` where it does not say."""
    current = resolve_local(output_schema, output_schema)
    for step in path.split(".") if path else ():
        name, _, index = step.partition("[")
        current = resolve_local((current or {}).get("properties", {}).get(name, {}), output_schema)
        if index:
            current = resolve_local((current or {}).get("items", {}), output_schema)
    return current or {}


def _known_before_running(call: PlannedCall, executed: Mapping[str, ExecutedCall]) -> dict[str, Any]:
    """The call's literals and the values its references take from executed outputs."""
    known: dict[str, Any] = {}
    for param, value in call.arguments.items():
        try:
            known |= resolve_arguments(PlannedCall(ref=call.ref, tool=call.tool, arguments={param: value}), executed)
        except ReferenceResolutionError:  # a planned call's output, or a path call_problems reports
            continue
    return known


def plan_problems(
    calls: Sequence[PlannedCall],
    scenario: Scenario,
    earlier_calls: Sequence[ExecutedCall],
    *,
    turn_index: int,
    min_calls: int,
    max_calls: int,
) -> list[str]:
    """Why a turn plan cannot be used (empty: accepted). Every call must use a scenario tool with its
    own parameters, take references only from earlier calls of the plan or executed calls of earlier
    turns, consume an earlier output unless it is the first, and validate once references are
    substituted, and not create again or take again a once-only action an earlier turn took; the plan
    must be connected, in the length range, and cross turns after turn 0."""
    problems: list[str] = []
    lowest = max(MIN_CONNECTED_CALLS, min_calls)
    if not lowest <= len(calls) <= max_calls:
        problems.append(f"The plan length is {len(calls)}; it must be between {lowest} and {max_calls} calls.")
    tools = {tool.name: tool for tool in scenario.tools}
    executed = usable_outputs(earlier_calls)
    earlier_refs = {call.ref for call in earlier_calls}
    planned: dict[str, ToolView | None] = {}
    crosses_turns = False
    for index, call in enumerate(calls):
        label = f"{call.ref} {call.tool}"
        if call.ref in planned:
            problems.append(f"{label} repeats the ref of an earlier call of the plan.")
        if call.ref in earlier_refs:
            problems.append(f"{label} reuses the ref of a call of an earlier turn.")
        consumed = {producer for producer, _ in call.references().values() if producer in planned or producer in executed}
        crosses_turns = crosses_turns or bool(consumed & executed.keys())
        if index > 0 and not consumed:
            problems.append(f"{label} takes no value from an earlier output; every call after the first must consume one.")
        for param, value in call.literals().items():
            if _malformed_reference(value):
                problems.append(f"{label}: argument {param}={value!r} is not a valid reference (write \"$k.field\").")
        tool = tools.get(call.tool)
        if tool is None:
            problems.append(f"{label}: {call.tool} is not a tool of the scenario.")
        else:
            analysis = tool_analysis(tool)
            problems += [f"{label}: unknown parameter {param}." for param in call.arguments if param not in analysis.params]
            problems += [f"{label}: missing required parameter {param}." for param in analysis.required if param not in call.arguments]
            problems += call_problems(call, tool, planned, executed)
            known = _known_before_running(call, executed)
            again = repeated_action(call.tool, analysis.required, known, earlier_calls)
            if again is not None:
                problems.append(f"{label} does again what {again.ref} {again.tool} did in turn {again.turn}, with the same values.")
            elif (closed := closed_object(call.tool, known, earlier_calls)) is not None:
                problems.append(f"{label} changes what {closed.ref} {closed.tool} ended in turn {closed.turn}.")
            elif (ended := ended_object(call.tool, known, earlier_calls)) is not None:
                problems.append(f"{label} changes an object {ended[0].ref} {ended[0].tool} showed as {ended[1]} in turn {ended[0].turn}.")
            elif (absent := absent_removal(call.tool, known, earlier_calls)) is not None:
                problems.append(f"{label} removes {absent[0]!r}, which the object does not hold ({absent[1]!r}).")
        planned[call.ref] = tool
    if turn_index > 0 and calls and not crosses_turns:
        problems.append(f"No call of turn {turn_index} consumes an output of an earlier turn.")
    for stray in _components(calls)[1:]:
        problems += [f"{call.ref} {call.tool} is not connected to the rest of the plan." for call in stray]
    return problems


# --- Step 3: hidden calls --------------------------------------------------------------------------


def _ref_number(ref: str) -> int:
    return int(ref.lstrip("$"))


def choose_hidden(plan_calls: Sequence[PlannedCall], rng: random.Random, tools: Mapping[str, ToolView]) -> list[str]:
    """Step 3: the implicit calls, 1..all read-only producers taken from the roots of the dependency
    DAG down (generation by generation, by ref number within one).

    A producer's output feeds another call of the turn, so the request can leave it out and the
    assistant must discover it; the producers nearest the roots are the lookups a user would not
    spell out. Only calls that read may be hidden: a hidden call is one the user never asked for,
    and every state change must be one the user asked for. A plan whose producers all act has no
    hidden call.
    """
    refs = [call.ref for call in plan_calls]
    known = set(refs)
    # graphlib, not a networkx DiGraph: the degree views networkx caches on a graph refer back to it,
    # a reference cycle per plan left for the collector.
    sorter = graphlib.TopologicalSorter({ref: () for ref in refs})
    consumed = set()
    for call in plan_calls:
        for producer, _ in call.references().values():
            if producer in known and producer != call.ref:
                sorter.add(call.ref, producer)
                consumed.add(producer)
    readers = {call.ref for call in plan_calls if call.tool in tools and tools[call.tool].read_only}
    producers = consumed & readers
    if not producers:
        return []
    count = rng.randint(1, len(producers))
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        generation = sorted(sorter.get_ready(), key=_ref_number)
        order += generation
        sorter.done(*generation)
    return [ref for ref in order if ref in producers][:count]


def hidden_call_problems(plan: TurnPlan, tools: Mapping[str, ToolView]) -> list[str]:
    """Why the plan's hidden calls may not be hidden (empty: they may): a hidden call must be a call
    of the plan, feed a later call of it, and only read. Guards any plan whose hidden refs did not
    come from :func:`choose_hidden` (a back-translated plan, a planner that marks its own)."""
    by_ref = {call.ref: call for call in plan.calls}
    consumed = {producer for call in plan.calls for producer, _ in call.references().values()}
    problems: list[str] = []
    for ref in plan.hidden:
        call = by_ref.get(ref)
        if call is None:
            problems.append(f"hidden call {ref} is not a call of the plan.")
            continue
        tool = tools.get(call.tool)
        if tool is not None and not tool.read_only:
            problems.append(
                f"hidden call {ref} {call.tool} changes state ({tool.side_effect}); a hidden call may only discover, "
                f"every state change must be one the user asks for."
            )
        if ref not in consumed:
            problems.append(f"hidden call {ref} {call.tool} feeds no later call of the plan; only producers are hidden.")
    return problems
