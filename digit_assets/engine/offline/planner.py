"""The offline planner (method.md step 2, role ``plan_turn``): a chain of calls sampled along the
scenario's data-flow links.

It draws only plans the method's plan filters accept: the same notion of a plannable output
field (:mod:`digit_assets.engine.synthesis.planning`) decides which references it may write.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digit_assets.engine.offline.session import GENERIC_FIELDS
from digit_assets.engine.synthesis.model import ExecutedCall, Link, PlannedCall, ToolView, parse_reference, resolve_path
from digit_assets.engine.synthesis.planning import (
    OutputField,
    ToolAnalysis,
    absent_removal,
    call_problems,
    closed_object,
    ended_object,
    plannable_field,
    reference_path,
    repeated_action,
    tool_analysis,
    usable_outputs,
)
from digit_assets.engine.synthesis.roles import PlanTurnRequest, PlanTurnResponse
from digit_assets.engine.synthesis.text import is_identifier_param, is_mentionable, is_system_identifier
from digit_assets.engine.synthesis.values import ValueFactory

_OPTIONAL_PARAM_RATE = 0.3  # how often the planner fills an optional parameter
_REFERENCE_RATE = 0.6  # how often a parameter some available output can feed takes that reference
_PLAN_ATTEMPTS = 3  # fresh draws before settling for the longest plan found
_LOOKUP_FIRST_RATE = 0.8  # how often turn 0 starts with a read-only call when the scenario has one

# --- Step 2: the offline planner -------------------------------------------------------------------


@dataclass(frozen=True)
class _Offer:
    """``source_ref``'s output can fill ``param`` of ``tool`` with ``reference``."""

    source_ref: str
    tool: str
    param: str
    reference: str


def _value_pool(earlier_calls: Sequence[ExecutedCall]) -> dict[str, list[Any]]:
    """Values seen earlier under each name, so literals stay consistent with the conversation."""
    pool: dict[str, list[Any]] = defaultdict(list)

    def collect(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                collect(key, inner)
        elif isinstance(value, list):
            for item in value:
                collect(name, item)
        elif value is not None and value not in pool[name]:
            pool[name].append(value)

    for call in earlier_calls:
        collect("", call.arguments)
        collect("", call.output or {})
    return pool


def _present_paths(value: Any, steps: Sequence[str]) -> list[str]:
    """The reference paths of a link's field (``orders[].order_id``) present in an actual output,
    one per listed item (``orders[0].order_id``, ``orders[1].order_id``, ...), nulls left out."""
    if not steps:
        return [""] if value is not None else []
    name, items = steps[0].removesuffix("[]"), steps[0].endswith("[]")
    if not isinstance(value, Mapping) or name not in value:
        return []
    inner = value[name]
    if not items:
        return [f"{name}{'.' if rest else ''}{rest}" for rest in _present_paths(inner, steps[1:])]
    if not isinstance(inner, list):
        return []
    return [
        f"{name}[{index}]{'.' if rest else ''}{rest}"
        for index, item in enumerate(inner)
        for rest in _present_paths(item, steps[1:])
    ]


@dataclass
class _Draft:
    """A plan being drawn: its calls, the refs connected to it, the offers its outputs make, and
    the argument values known before execution (literals, earlier outputs, echoed arguments)."""

    calls: list[PlannedCall] = field(default_factory=list)
    tools: dict[str, ToolView] = field(default_factory=dict)
    connected: set[str] = field(default_factory=set)
    offers: list[_Offer] = field(default_factory=list)
    known: dict[str, dict[str, Any]] = field(default_factory=dict)


class _TurnPlanner:
    def __init__(self, request: PlanTurnRequest, rng: random.Random):
        scenario = request.scenario
        self.request = request
        self.rng = rng
        self.tools = {tool.name: tool for tool in scenario.tools}
        self.analyses = {name: tool_analysis(tool) for name, tool in self.tools.items()}
        self.links_from: dict[str, list[Link]] = defaultdict(list)
        for link in scenario.links:
            if link.src_tool in self.tools and link.dst_tool in self.tools and link.src_tool != link.dst_tool:
                self.links_from[link.src_tool].append(link)
        # What a planned call of each tool can feed: only fields every output carries.
        self.plannable_from: dict[str, list[tuple[Link, OutputField]]] = {
            name: [
                (link, produced)
                for link in self.links_from.get(name, ())
                if (produced := plannable_field(link, tool, self.tools[link.dst_tool])) is not None
            ]
            for name, tool in self.tools.items()
        }
        self.executed = usable_outputs(request.earlier_calls)
        self.earlier_by_tool: dict[str, list[ExecutedCall]] = defaultdict(list)
        for call in self.executed.values():
            self.earlier_by_tool[call.tool].append(call)
        today = date.fromisoformat(scenario.today)
        self.pool = _value_pool(self.executed.values())
        self.pooled_values = ValueFactory(rng, today, self.pool)
        self.fresh_values = ValueFactory(rng, today)
        self.earlier_offers = [offer for call in self.executed.values() for offer in self._executed_offers(call)]

    def _planned_offers(self, ref: str, tool_name: str) -> list[_Offer]:
        return [
            _Offer(ref, link.dst_tool, link.dst_param, f"{ref}.{produced.path}")
            for link, produced in self.plannable_from[tool_name]
        ]

    def _executed_offers(self, call: ExecutedCall) -> list[_Offer]:
        """What an executed call's real output can feed: fields present in it, from every listed
        item (a later turn may be about the second order of a list, not only the first)."""
        offers = []
        for link in self.links_from.get(call.tool, ()):
            if reference_path(link.src_field) is None or link.dst_param not in self.analyses[link.dst_tool].properties:
                continue
            offers += [
                _Offer(call.ref, link.dst_tool, link.dst_param, f"{call.ref}.{path}")
                for path in _present_paths(call.output, link.src_field.split("."))
            ]
        return offers

    def plan(self) -> list[PlannedCall]:
        target = self.rng.randint(self.request.min_calls, self.request.max_calls)
        best: list[PlannedCall] = []
        for _ in range(_PLAN_ATTEMPTS):
            calls = self._draw(target)
            if len(calls) >= target:
                return calls
            best = max(best, calls, key=len)
        return best

    def _draw(self, target: int) -> list[PlannedCall]:
        """One chain: the first call from literals (turn 0) or from an earlier turn's output, each
        later one consuming an output connected to the plan so far; stops early at a dead end."""
        draft = _Draft()
        while len(draft.calls) < target:
            ref = f"${self.request.next_ref + len(draft.calls)}"
            anchors = self._anchors(draft)
            if anchors:
                call = self._next_call(draft, ref, anchors)
            else:
                call = None if draft.calls else self._root_call(draft, ref)
            if call is None:
                break
            draft.calls.append(call)
            draft.tools[ref] = self.tools[call.tool]
            draft.known[ref] = self._known_values(draft, call)
            draft.connected |= {ref, *(producer for producer, _ in call.references().values())}
            draft.offers += self._planned_offers(ref, call.tool)
        return draft.calls

    def _anchors(self, draft: _Draft) -> list[_Offer]:
        """Offers the next call can be connected through; none for turn 0's first call."""
        if not draft.calls:
            return list(self.earlier_offers)
        used = {call.tool for call in draft.calls}
        return [
            offer
            for offer in (*self.earlier_offers, *draft.offers)
            if offer.source_ref in draft.connected and offer.tool not in used
        ]

    def _root_call(self, draft: _Draft, ref: str) -> PlannedCall | None:
        """A literal-only first call whose output another tool can consume; mostly a lookup, as a
        task usually starts by finding what it acts on (and only a lookup may be hidden)."""
        candidates = [name for name in sorted(self.tools) if self.plannable_from[name]]
        lookups = [name for name in candidates if self.tools[name].read_only]
        first = lookups if lookups and self.rng.random() < _LOOKUP_FIRST_RATE else []
        for pool in (first, [name for name in candidates if name not in first]):
            while pool:
                tool_name = self.rng.choice(pool)
                call = self._build(draft, ref, tool_name, anchor=None)
                if call is not None:
                    return call
                pool.remove(tool_name)
        return None

    def _next_call(self, draft: _Draft, ref: str, anchors: list[_Offer]) -> PlannedCall | None:
        """A consumer connected through an anchor: the tool is drawn first, then its link, so tools
        fed by many links are not favoured."""
        by_tool: dict[str, list[_Offer]] = defaultdict(list)
        for offer in anchors:
            by_tool[offer.tool].append(offer)
        candidates = sorted(by_tool)
        while candidates:
            tool_name = self.rng.choice(candidates)
            call = self._build(draft, ref, tool_name, anchor=self.rng.choice(by_tool[tool_name]))
            if call is not None:
                return call
            candidates.remove(tool_name)
        return None

    def _build(self, draft: _Draft, ref: str, tool_name: str, anchor: _Offer | None) -> PlannedCall | None:
        """The call with every required parameter and some optional ones, or None when it does not
        validate or repeats a call of an earlier turn. An identifier the system assigns is never a
        literal (the user could not know it): it comes from an output, or the call is not made. Literals first reuse values seen earlier; a
        second draw takes new ones, which turns a repeat into a new action (another date, another guest)."""
        tool = self.tools[tool_name]
        analysis = self.analyses[tool_name]
        feeds: dict[str, list[_Offer]] = defaultdict(list)
        for offer in (*self.earlier_offers, *draft.offers):
            if offer.tool == tool_name:
                feeds[offer.param].append(offer)
        for reuse in (True, False):
            arguments: dict[str, Any] = {}
            for param in analysis.params:
                if anchor is not None and param == anchor.param:
                    arguments[param] = anchor.reference
                elif param in analysis.required or self.rng.random() < _OPTIONAL_PARAM_RATE:
                    discover = is_identifier_param(param) or self.rng.random() < _REFERENCE_RATE
                    if feeds[param] and anchor is not None and discover:
                        arguments[param] = self.rng.choice(feeds[param]).reference
                    else:
                        value = self._literal(analysis, param, reuse)
                        if not is_system_identifier(param, value):
                            arguments[param] = value
            if anchor is None and not arguments:
                self._anchor_lookup(analysis, arguments, reuse)
            call = self._removing_what_is_held(draft, analysis, PlannedCall(ref=ref, tool=tool_name, arguments=arguments))
            if not (call_problems(call, tool, draft.tools, self.executed) or self._repeats_earlier_call(draft, call)):
                return call
        return None

    def _anchor_lookup(self, analysis: ToolAnalysis, arguments: dict[str, Any], reuse: bool) -> None:
        """A first call with no argument gets one fact the user knows (a name, a date, a city), so a
        request can point at what the call looks up instead of leaving the reader to guess the lookup."""
        facts = [param for param in analysis.params if not is_identifier_param(param)]
        self.rng.shuffle(facts)
        for param in facts:
            value = self._literal(analysis, param, reuse)
            if is_mentionable(value) and not is_system_identifier(param, value):
                arguments[param] = value
                return

    def _known_values(self, draft: _Draft, call: PlannedCall) -> dict[str, Any]:
        """The argument values known before execution: literals, values in executed outputs, and the
        fields a planned result echoes from its own arguments (a specific name anywhere, a generic one
        at the top level), as the simulator's instructions require."""
        known: dict[str, Any] = {}
        for param, value in call.arguments.items():
            parsed = parse_reference(value)
            if parsed is None:
                known[param] = value
                continue
            ref, path = parsed
            if ref in self.executed:
                known[param] = resolve_path(self.executed[ref].output, path)
                continue
            leaf = path.rsplit(".", 1)[-1].split("[")[0]
            echoed = draft.known.get(ref, {})
            if leaf in echoed and (leaf == path or leaf not in GENERIC_FIELDS):
                known[param] = echoed[leaf]
        return known

    def _removing_what_is_held(self, draft: _Draft, analysis: ToolAnalysis, call: PlannedCall) -> PlannedCall:
        """A removal from an object the conversation showed takes away one of the values shown there
        (the person removes a tag the file has), not a new one."""
        absent = absent_removal(call.tool, self._known_values(draft, call), self.request.earlier_calls)
        if absent is None or not absent[1]:
            return call
        value, shown = absent
        choice = self.rng.choice(shown)
        for param, given in call.arguments.items():
            if given == value and analysis.accepts_value(param, choice):
                return call.model_copy(update={"arguments": {**call.arguments, param: choice}})
        return call

    def _repeats_earlier_call(self, draft: _Draft, call: PlannedCall) -> bool:
        """Whether an earlier turn already made this call (its result is in the conversation), already
        took this action (:func:`repeated_action`), ended the object it would change (:func:`closed_object`),
        showed it ended (:func:`ended_object`) or without the value it would remove (:func:`absent_removal`)."""
        known = self._known_values(draft, call)
        earlier_calls = self.request.earlier_calls
        if any(rule(call.tool, known, earlier_calls) is not None for rule in (closed_object, ended_object, absent_removal)):
            return True
        earlier = self.earlier_by_tool.get(call.tool, [])
        return any(done.arguments == known for done in earlier) or (
            repeated_action(call.tool, self.analyses[call.tool].required, known, earlier) is not None
        )

    def _literal(self, analysis: ToolAnalysis, param: str, reuse: bool) -> Any:
        """A realistic value, with ``reuse`` one seen earlier under the same name when it fits the parameter."""
        schema = analysis.properties.get(param, {})
        if reuse and self.pool.get(param):
            value = self.pooled_values.value(schema, param)
            if analysis.accepts_value(param, value):
                return value
        return self.fresh_values.value(schema, param)


def plan_turn_offline(request: PlanTurnRequest, rng: random.Random) -> PlanTurnResponse:
    """Step 2 in the offline default: a chain sampled along the scenario's data-flow links.

    Turn 0 starts from a literal-only call; a later turn starts by consuming an output of an earlier
    turn. Every further call consumes an output connected to the plan, other parameters take a
    reference where an available output fits or else a realistic literal. The plan is as long as
    the drawn target allows, or the longest chain found when the links run out first.
    """
    return PlanTurnResponse(calls=_TurnPlanner(request, rng).plan())


