"""The offline mistake proposer (method.md step 10, role ``propose_wrong_call``).

Plausible means what assistants actually get wrong: a neighbouring tool that takes the same
arguments or shares words of its name, or the right tool with one argument off (a sibling id from
the history, a date a few days out, the next option of an enum, an amount off by a step, a filter
left out). Values come from the gold call and the history, never invented. The hint reads like a
system error that points toward the fix without naming a tool or a parameter.
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from digit_assets.engine.lexicon import ACTIONS, READ_VERBS, name_words, tool_context, tool_verb
from digit_assets.engine.llm.port import LLMError
from digit_assets.engine.offline.fields import has_time, is_number, parse_moment
from digit_assets.engine.offline.session import SessionState, is_entity_key
from digit_assets.engine.synthesis.model import ExecutedCall, ToolView
from digit_assets.engine.synthesis.recovery import wrong_call_problems
from digit_assets.engine.synthesis.roles import PROPOSE_WRONG_CALL, WrongCallRequest, WrongCallResponse
from digit_assets.engine.synthesis.text import is_mentionable

_SIMILAR_TOOLS = 3  # only the closest few neighbours are plausible confusions

_HINTS: dict[str, tuple[str, ...]] = {
    "reference": (
        "Error: no {noun} matches that reference; use the one from the earlier result.",
        "Error: {noun} not found; look it up again and use the exact reference.",
        "Error: that reference belongs to a different {noun}; check which one was meant.",
    ),
    "date": (
        "Error: nothing matches that date; use the date the user gave.",
        "Error: no availability on that day; double-check the requested date.",
    ),
    "option": (
        "Error: that option does not match the request; use the one the user asked for.",
        "Error: unsupported choice for this request; pick the option that was requested.",
    ),
    "number": (
        "Error: that amount does not match the record; check it against the earlier result.",
        "Error: the number given does not match what was requested.",
    ),
    "value": (
        "Error: no match for that value; use the one the user gave.",
        "Error: nothing found for that value; check it against the request.",
    ),
    "omitted": (
        "Error: too many matches; narrow the request down with the detail the user gave.",
        "Error: the request is incomplete; include every detail the user specified.",
    ),
    "tool": (
        "Error: this operation cannot {action}; use the one that does.",
        "Error: wrong operation for this request; it does not {action}.",
    ),
    "generic_tool": ("Error: wrong operation for this request; pick the one that matches what was asked.",),
}


@dataclass(frozen=True)
class Mistake:
    tool: str
    arguments: dict[str, Any]
    hint: str


def _noun(param: str) -> str:
    """``order_id`` -> "order": what a reference parameter points at, in plain words."""
    words = [w for w in name_words(param) if w not in ("id", "uuid", "number", "code", "ref", "reference", "key")]
    return " ".join(words) or "record"


def _shifted(value: str, rng: random.Random) -> str:
    moment = parse_moment(value)
    assert moment is not None
    moved = moment + timedelta(days=rng.choice((-7, -3, -2, -1, 1, 2, 3, 7)))
    if has_time(value) and len(value) >= 16:
        return f"{moved.date().isoformat()}{value[10]}{moved:%H:%M}{value[16:]}"
    return moved.date().isoformat()


def _typo(value: str, rng: random.Random) -> str | None:
    """Two adjacent different digits swapped: ``ORD-12345`` -> ``ORD-12435``."""
    spots = [i for i in range(len(value) - 1) if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]]
    if not spots:
        return None
    i = rng.choice(spots)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def _wrong_values(param: str, value: Any, schema: Mapping[str, Any], pool: Mapping[str, Mapping[Hashable, None]], rng: random.Random) -> Iterator[tuple[Any, str]]:
    """(wrong value, mistake kind) an assistant could plausibly have sent instead of ``value``."""
    siblings = [v for v in pool.get(param, ()) if v != value and type(v) is type(value)]
    if isinstance(schema.get("enum"), list) and value in schema["enum"] and len(schema["enum"]) > 1:
        options = schema["enum"]
        index = options.index(value)
        yield options[index + 1 if index + 1 < len(options) else index - 1], "option"
    elif isinstance(value, bool):
        yield not value, "option"
    elif parse_moment(value):
        yield _shifted(value, rng), "date"
    elif is_entity_key(param) or (isinstance(value, str) and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        if siblings:
            yield rng.choice(siblings), "reference"
        elif isinstance(value, str) and (typo := _typo(value, rng)):
            yield typo, "reference"
        elif is_number(value):
            yield value + 1, "reference"
    elif is_number(value):
        yield (value + rng.choice((-1, 1)) if isinstance(value, int) else round(value * rng.choice((0.9, 1.1)), 2)), "number"
    elif siblings:
        yield rng.choice(siblings), "value"


def _hint(kind: str, rng: random.Random, **words: str) -> str:
    return rng.choice(_HINTS[kind]).format(**words)


def argument_mistakes(gold: ExecutedCall, tool: ToolView, pool: Mapping[str, Mapping[Hashable, None]], rng: random.Random) -> list[Mistake]:
    """The gold tool with one argument changed, or an optional one the user asked for left out."""
    properties: Mapping[str, Any] = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", ()))
    mistakes = []
    for param, value in gold.arguments.items():
        for wrong, kind in _wrong_values(param, value, properties.get(param, {}), pool, rng):
            mistakes.append(Mistake(gold.tool, {**gold.arguments, param: wrong}, _hint(kind, rng, noun=_noun(param))))
        if param not in required and is_mentionable(value):
            rest = {p: v for p, v in gold.arguments.items() if p != param}
            mistakes.append(Mistake(gold.tool, rest, _hint("omitted", rng)))
    return mistakes


def similar_tool_mistakes(gold: ExecutedCall, tools: Sequence[ToolView], pool: Mapping[str, Mapping[Hashable, None]], rng: random.Random) -> list[Mistake]:
    """The closest other tools (shared parameters, shared name words), called with the gold values.

    A tool needing a value that neither the gold call nor the history has is skipped: an assistant
    confusing tools reuses what it has rather than inventing.
    """
    gold_words = set(name_words(gold.tool))
    scored: list[tuple[int, int, Mistake]] = []
    verb, nouns = tool_verb(gold.tool), " ".join(tool_context(gold.tool))
    action = f"{verb} the {nouns}" if nouns and (verb in READ_VERBS or verb in ACTIONS) else ""
    for index, tool in enumerate(tools):
        if tool.name == gold.tool:
            continue
        properties: Mapping[str, Any] = tool.parameters.get("properties", {})
        shared = [p for p in gold.arguments if p in properties]
        similarity = 2 * len(shared) + len(gold_words & set(name_words(tool.name)))
        if not similarity:
            continue
        arguments = {p: gold.arguments[p] for p in shared}
        for param in tool.parameters.get("required", ()):
            if param not in arguments and pool.get(param):
                arguments[param] = rng.choice(list(pool[param]))
        if all(p in arguments for p in tool.parameters.get("required", ())):
            hint = _hint("tool", rng, action=action) if action else _hint("generic_tool", rng)
            scored.append((-similarity, index, Mistake(tool.name, arguments, hint)))
    return [mistake for _, _, mistake in sorted(scored)[:_SIMILAR_TOOLS]]


def propose_wrong_call_offline(request: WrongCallRequest, rng: random.Random) -> WrongCallResponse:
    """A plausible wrong call that passes :func:`wrong_call_problems`, of a randomly chosen kind."""
    gold = request.gold
    gold_tool = next((t for t in request.tools if t.name == gold.tool), None)
    if gold_tool is None:
        raise LLMError(PROPOSE_WRONG_CALL.name, f"the gold call uses {gold.tool}, which is not among the tools")
    pool = SessionState.read(request.history).pool
    kinds = [argument_mistakes(gold, gold_tool, pool, rng), similar_tool_mistakes(gold, request.tools, pool, rng)]
    rng.shuffle(kinds)
    for mistakes in kinds:
        rng.shuffle(mistakes)
        for mistake in mistakes:
            if not wrong_call_problems(mistake.tool, mistake.arguments, mistake.hint, gold, request.tools):
                return WrongCallResponse(tool=mistake.tool, arguments=mistake.arguments, hint=mistake.hint)
    raise LLMError(PROPOSE_WRONG_CALL.name, f"no schema-valid mistake differs from {gold.ref} {gold.tool}")



