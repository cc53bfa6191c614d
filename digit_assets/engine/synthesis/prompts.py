"""What each synthesis role is shown of its request: the user message a real model reads.

Sending every request as JSON gave each role the scenario's full tool specs, output schemas and
data-flow links (36,000 of the 44,000 prompt tokens of an accepted conversation). A role is shown
what it needs to answer, and nothing its response schema already enforces
(:mod:`.response_schemas`):

* planner and back-translator: each tool as one line (name, description, arguments with type and
  meaning, whether it changes state); no output schemas and no links: which calls may follow which,
  and the ``$k.field`` references each argument may take, are the plan schema's enums;
* request writer: the names of the API's tools (to stay within what it offers) and, for the tools of
  the plan only, their line restricted to the arguments the plan sets;
* simulator: the tool's line and its result's shape in the same compact notation;
* wrong call: the tool names, and the correct call's tool with its argument constraints (a mistake
  breaks one of them);
* summary and judge: the calls and requests themselves.

Every message puts what stays the same first (the tools, then the conversation's persona and date)
and what changes last (earlier calls, the new request), so a server's prefix cache reuses the
longest prefix. The varying part is one compact JSON object on the last line, default-valued fields
left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import BaseModel

from digit_assets.engine.synthesis.model import ToolView
from digit_assets.engine.synthesis.response_schemas import standalone_tool_schemas
from digit_assets.engine.synthesis.simulation import MISSING, IdentityCache

TOOLS_HEADER = "Tools{of} (* marks a required argument):"
NAMES_HEADER = "The API{of} offers: {names}."
_LINES = IdentityCache(4_096)
_SIMULATED_HEADS = IdentityCache(4_096)


def compact_json(value: Any) -> str:
    """Compact JSON, non-ASCII as is: orjson (several times faster than the json module, on every
    request), the json module for what orjson refuses (an integer past 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_defaults=True)


def one_line(description: Any) -> str:
    """A description on one line (the line is the tool), without its final full stop."""
    return " ".join(str(description).split()).rstrip(".")


def type_of(schema: Any) -> str:
    """A schema in a few words: ``string date``, ``integer 1..100``, ``"a"|"b"``, ``list of {id*: string}``."""
    if not isinstance(schema, Mapping):
        return "any"
    if "const" in schema:
        return compact_json(schema["const"])
    if isinstance(schema.get("enum"), list):
        return "|".join(compact_json(value) for value in schema["enum"])
    for union in ("anyOf", "oneOf"):
        if isinstance(schema.get(union), list):
            return " or ".join(type_of(branch) for branch in schema[union])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "/".join(str(k) for k in kind)
    if kind == "array":
        return f"list of {type_of(schema.get('items'))}"
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and properties:
        required = set(schema.get("required") or ())
        return "{" + ", ".join(f"{name}{'*' if name in required else ''}: {type_of(sub)}" for name, sub in properties.items()) + "}"
    words = [str(kind or "object")]
    if isinstance(schema.get("format"), str):
        words.append(schema["format"])
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        words.append(f"{'' if low is None else low}..{'' if high is None else high}")
    return " ".join(words)


def _arguments(tool: ToolView, only: Iterable[str] | None = None) -> str:
    parameters, _ = standalone_tool_schemas(tool)
    properties = parameters.get("properties") or {}
    required = set(parameters.get("required") or ())
    chosen = properties if only is None else [name for name in properties if name in set(only)]
    parts = []
    for name in chosen:
        schema = properties[name]
        part = f"{name}{'*' if name in required else ''} ({type_of(schema)})"
        if isinstance(schema, Mapping) and schema.get("description"):
            part += f": {one_line(schema['description'])}"
        parts.append(part)
    return "; ".join(parts)


def tool_line(tool: ToolView, arguments: Iterable[str] | None = None) -> str:
    """``name: description. Args: a* (string): meaning; b (integer 1..100). Changes state.`` The
    arguments are all of the tool's, or those ``arguments`` names."""
    cached = _LINES.get(tool) if arguments is None else MISSING
    if cached is not MISSING:
        return cached
    line = f"{tool.name}: {one_line(tool.description)}."
    args = _arguments(tool, arguments)
    if args:
        line += f" Args: {args}."
    if not tool.read_only:
        line += " Changes state."
    return line if arguments is not None else _LINES.put(line, tool)


def _of(namespace: str | None) -> str:
    """The API's name where the request has it (the scenario's roles): a hint of the domain."""
    return f" of the {namespace} API" if namespace else ""


def tools_block(tools: Iterable[ToolView], namespace: str | None = None) -> str:
    return "\n".join([TOOLS_HEADER.format(of=_of(namespace)), *(tool_line(tool) for tool in tools)])


def _names(tools: Iterable[ToolView], namespace: str | None = None) -> str:
    return NAMES_HEADER.format(of=f" ({namespace})" if namespace else "", names=", ".join(tool.name for tool in tools))


def render_plan(request: Any) -> str:
    """A ``roles.PlanTurnRequest``: the tools, then persona, date, earlier turns, bounds."""
    scenario = request.scenario
    varying = {
        "persona": scenario.persona,
        "today": scenario.today,
        "earlier_turns": [_dump(turn) for turn in request.earlier_turns],
        "earlier_calls": [_dump(call) for call in request.earlier_calls],
        "min_calls": request.min_calls,
        "max_calls": request.max_calls,
        "next_ref": request.next_ref,
    }
    return tools_block(scenario.tools, scenario.namespace) + "\n" + compact_json(varying)


def render_write_request(request: Any) -> str:
    """A ``roles.WriteRequestRequest``: the tool names, the planned tools' lines, then persona, date, plan."""
    scenario = request.scenario
    by_name = {tool.name: tool for tool in scenario.tools}
    used: dict[str, list[str]] = {}
    for call in request.plan.calls:
        names = used.setdefault(call.tool, [])
        names += [name for name in call.arguments if name not in names]
    lines = [_names(scenario.tools, scenario.namespace), "Tools in the plan:"]
    lines += [tool_line(by_name[name], arguments) for name, arguments in used.items() if name in by_name]
    varying = {
        "persona": scenario.persona,
        "today": scenario.today,
        "earlier_requests": request.earlier_requests,
        "plan": _dump(request.plan),
    }
    return "\n".join(lines) + "\n" + compact_json(varying)


def render_back_translate(request: Any) -> str:
    """A ``roles.BackTranslateRequest``: the tools, then bounds, history and the request."""
    varying = {
        "min_calls": request.min_calls,
        "max_calls": request.max_calls,
        "earlier_requests": request.earlier_requests,
        "earlier_calls": [_dump(call) for call in request.earlier_calls],
        "next_ref": request.next_ref,
        "request": request.request,
    }
    return tools_block(request.tools) + "\n" + compact_json(varying)


def render_simulate(request: Any) -> str:
    """A ``roles.SimulateToolRequest``: the tool and its result's shape, then date, history, arguments."""
    head = _SIMULATED_HEADS.get(request.tool)
    if head is MISSING:
        _, output = standalone_tool_schemas(request.tool)
        head = _SIMULATED_HEADS.put(f"Tool: {tool_line(request.tool)} Returns: {type_of(output)}", request.tool)
    varying = {"today": request.today, "history": [_dump(call) for call in request.history], "arguments": request.arguments}
    if request.held:
        varying["must_show"] = request.held
    if request.changed_later:
        varying["changed_later"] = request.changed_later
    if request.refused:
        varying["refused"] = request.refused
    return head + "\n" + compact_json(varying)


def render_wrong_call(request: Any) -> str:
    """A ``roles.WrongCallRequest``: the tool names and the correct call's tool, then history and the call."""
    gold = next(tool for tool in request.tools if tool.name == request.gold.tool)
    lines = [_names(request.tools), "The correct call's tool:", tool_line(gold)]
    varying = {"history": [_dump(call) for call in request.history], "request": request.request, "gold": _dump(request.gold)}
    return "\n".join(lines) + "\n" + compact_json(varying)


def render_json(request: BaseModel) -> str:
    """The request itself as compact JSON, default-valued fields left out (summary, judge)."""
    return compact_json(_dump(request))
