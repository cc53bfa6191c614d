"""The back-translation check (method.md step 5): the plan re-derived from the request alone must
match the plan the request was written from, hidden calls included.

The derivation comes through the LLM port (role ``back_translate``; offline:
:mod:`digit_assets.engine.offline.back_translator`); this module aligns the derived plan with the
original and rejects the turn where they differ.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import networkx as nx

from digit_assets.engine.dataflow import output_fields
from digit_assets.engine.synthesis.model import (
    ExecutedCall,
    PlannedCall,
    ToolView,
    TurnPlan,
    parse_reference,
    resolve_path,
)
from digit_assets.engine.synthesis.simulation import IdentityCache, RecentCache, argument_problems
from digit_assets.engine.synthesis.text import find_value, is_mentionable, value_text
from digit_assets.engine.synthesis.values import ValueFactory

# --- The check ---------------------------------------------------------------------------------------

# Reference substitutes only stand in for a value's type, so any fixed day will do.
_SUBSTITUTE_DAY = date(2025, 6, 1)
_OUTPUT_PATHS = IdentityCache(8_192)


def _output_paths(tool: ToolView) -> frozenset[str]:
    found = _OUTPUT_PATHS.get(tool)
    if not isinstance(found, frozenset):
        found = _OUTPUT_PATHS.put(frozenset(f.path for f in output_fields(tool.output_schema)), tool)
    return found


def _literal_texts(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _literal_texts(item)]
    return [value_text(value).lower()] if is_mentionable(value) else []


def verification_problems(
    original: TurnPlan,
    derived: Sequence[PlannedCall],
    request_text: str,
    tools: Sequence[ToolView],
    earlier_calls: Sequence[ExecutedCall],
) -> list[str]:
    """Why the derived plan cannot replace the original (empty: it can).

    The derived plan must be non-empty and connected, every call must validate (references
    substituted with the earlier output's value or a value of the parameter's type), it must use
    every value of the original plan that the request carries, and call the same tools as often.
    """
    if not derived:
        return ["The back-translation derived no calls."]
    problems: list[str] = []
    by_name = {tool.name: tool for tool in tools}
    earlier = {call.ref: call for call in earlier_calls if call.error is None}
    seen: dict[str, PlannedCall] = {}
    graph = nx.Graph()
    for index, call in enumerate(derived):
        label = f"{call.ref} {call.tool}"
        graph.add_node(call.ref)
        if call.ref in seen or call.ref in earlier:
            problems.append(f"{label} reuses the ref of another call.")
        tool = by_name.get(call.tool)
        if tool is None:
            problems.append(f"{label}: {call.tool} is not one of the tools.")
            seen[call.ref] = call
            continue
        arguments: dict[str, Any] = {}
        consumed = False
        for param, value in call.arguments.items():
            reference = parse_reference(value)
            if reference is None:
                arguments[param] = value
                continue
            substitute, problem = _substitute(call, param, tool, reference, seen, by_name, earlier)
            if problem:
                problems.append(f"{label}: {problem}")
            else:
                arguments[param] = substitute
                consumed = True
                graph.add_edge(call.ref, reference[0])
        if index > 0 and not consumed:
            problems.append(f"{label} takes no value from an earlier output; the derived plan is not connected.")
        problems += [f"{label}: {problem}" for problem in argument_problems(tool, arguments)]
        seen[call.ref] = call
    if nx.number_connected_components(graph) > 1:
        problems.append("The derived calls do not form one connected chain.")
    problems += _unused_value_problems(original, derived, request_text)
    wanted, got = Counter(call.tool for call in original.calls), Counter(call.tool for call in derived)
    if wanted != got:
        parts = [f"missing {', '.join(sorted((wanted - got).elements()))}" if wanted - got else ""]
        parts.append(f"extra {', '.join(sorted((got - wanted).elements()))}" if got - wanted else "")
        problems.append(f"The derived plan calls other tools than the original ({'; '.join(p for p in parts if p)}).")
    return problems


def _unused_value_problems(original: TurnPlan, derived: Sequence[PlannedCall], request_text: str) -> list[str]:
    used = {text for call in derived for value in call.literals().values() for text in _literal_texts(value)}
    return [
        f"The derived plan does not use the value {value_text(value)!r} the request gives."
        for call in original.calls
        for value in call.literals().values()
        if is_mentionable(value)
        and find_value(request_text, value) >= 0
        and any(text not in used for text in _literal_texts(value))
    ]


def _substitute(
    call: PlannedCall,
    param: str,
    tool: ToolView,
    reference: tuple[str, str],
    seen: Mapping[str, PlannedCall],
    by_name: Mapping[str, ToolView],
    earlier: Mapping[str, ExecutedCall],
) -> tuple[Any, str]:
    """A stand-in for a reference's value (the earlier output's own value, else one of the
    parameter's type) and, when the reference is broken, why."""
    producer_ref, path = reference
    if producer_ref in earlier:
        try:
            return resolve_path(earlier[producer_ref].output, path), ""
        except (KeyError, IndexError, TypeError):
            return None, f"{param} refers to {producer_ref}.{path}, which that output does not hold."
    producer = seen.get(producer_ref)
    if producer is None:
        return None, f"{param} refers to {producer_ref}, which is not an earlier call."
    producer_tool = by_name.get(producer.tool)
    if producer_tool is not None and re.sub(r"\[\d+\]", "[]", path) not in _output_paths(producer_tool):
        return None, f"{param} refers to {producer_ref}.{path}, which {producer.tool} does not return."
    return _stand_in(call.ref, param, tool), ""


_STAND_INS = RecentCache(4_096)
"""(ref, parameter, tool) -> :func:`_stand_in`: every back-translation of a plan asks again."""


def _stand_in(ref: str, param: str, tool: ToolView) -> Any:
    """A value of the parameter's type, the same for the same ref (shared: do not mutate)."""
    schema = tool.parameters.get("properties", {}).get(param, {})
    return _STAND_INS.get_or_put(
        (ref, param, id(tool)), lambda: ValueFactory(random.Random(f"{ref}.{param}"), _SUBSTITUTE_DAY).value(schema, param), tool
    )


def align_hidden(original: TurnPlan, derived: Sequence[PlannedCall]) -> TurnPlan:
    """The derived plan, its hidden refs the derived calls matching the original hidden ones by tool,
    in order, so the bookkeeping of implicit calls survives the replacement."""
    hidden_refs = set(original.hidden)
    hidden: list[str] = []
    for tool in [call.tool for call in original.calls if call.ref in hidden_refs]:
        match = next((call for call in derived if call.tool == tool and call.ref not in hidden), None)
        if match is not None:
            hidden.append(match.ref)
    order = {call.ref: index for index, call in enumerate(derived)}
    return TurnPlan(calls=list(derived), hidden=sorted(hidden, key=order.__getitem__))
