"""Properties every exported conversation must have, checked on the stored chat record alone.

These are the asset checks of the synthesis stage; they read what a fine-tuning user will read
(the messages and the tool list), not the engine's internal plans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from digit_assets.engine.records import ConversationRecord, is_error_content
from digit_assets.engine.synthesis.model import REFERENCE_LEAK, ToolView
from digit_assets.engine.synthesis.recovery import SCHEMA_ERROR_CODES
from digit_assets.engine.synthesis.simulation import argument_problems, output_problems
from digit_assets.engine.synthesis.text import find_value, is_mentionable, leaked_identifiers, value_text


@dataclass(frozen=True)
class CallSeen:
    turn: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    result: str
    failed: bool
    user_text: str  # every user message up to and including this turn


def calls_of(record: ConversationRecord) -> Iterator[CallSeen]:
    results = {m.get("tool_call_id"): m.get("content") or "" for m in record.messages if m.get("role") == "tool"}
    turn, user_text = -1, ""
    for message in record.messages:
        if message.get("role") == "user":
            turn += 1
            user_text += "\n" + (message.get("content") or "")
        for call in message.get("tool_calls") or []:
            result = results.get(call["id"], "")
            yield CallSeen(
                turn=turn,
                call_id=call["id"],
                tool=call["function"]["name"],
                arguments=json.loads(call["function"]["arguments"] or "{}"),
                result=result,
                failed=is_error_content(result),
                user_text=user_text,
            )


def tool_views(record: ConversationRecord, output_schemas: Mapping[str, dict[str, Any]]) -> dict[str, ToolView]:
    return {
        tool["function"]["name"]: ToolView(
            name=tool["function"]["name"],
            description=tool["function"].get("description", ""),
            parameters=tool["function"]["parameters"],
            output_schema=output_schemas.get(tool["function"]["name"], {"type": "object"}),
        )
        for tool in record.tools
    }


def _reports_invalid_argument(result: str) -> bool:
    """Whether a failed call's result is an API error saying the arguments were invalid (400/422)."""
    try:
        parsed = json.loads(result)
    except ValueError:
        return False
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return isinstance(error, dict) and error.get("code") in SCHEMA_ERROR_CODES


def invalid_arguments(record: ConversationRecord) -> list[str]:
    """Every executed call validates against its tool's parameter schema; a wrong call may break it
    only where its result is the 400/422 error that reports it."""
    views = tool_views(record, {})
    problems = []
    for call in calls_of(record):
        if call.tool not in views:
            problems.append(f"{record.conversation_id} {call.call_id}: {call.tool} is not in the offered tools")
            continue
        if call.failed and _reports_invalid_argument(call.result):
            continue
        problems += [f"{record.conversation_id} {p}" for p in argument_problems(views[call.tool], call.arguments)]
    return problems


def invalid_outputs(record: ConversationRecord, output_schemas: Mapping[str, dict[str, Any]]) -> list[str]:
    """Every successful simulated result validates against its tool's output schema."""
    views = tool_views(record, output_schemas)
    problems = []
    for call in calls_of(record):
        if call.failed:
            continue
        try:
            output = json.loads(call.result)
        except ValueError:
            problems.append(f"{record.conversation_id} {call.call_id}: result of {call.tool} is not JSON")
            continue
        problems += [f"{record.conversation_id} {p}" for p in output_problems(views[call.tool], output)]
    return problems


def leaks(record: ConversationRecord) -> list[str]:
    """User messages that name a tool or a parameter identifier, or carry a ``$k`` reference."""
    names = set()
    for tool in record.tools:
        names.add(tool["function"]["name"])
        names.update(tool["function"]["parameters"].get("properties", {}))
    problems = []
    for index, message in enumerate(record.messages):
        if message.get("role") != "user":
            continue
        text = message.get("content") or ""
        for name in leaked_identifiers(text, names):
            problems.append(f"{record.conversation_id} message {index}: names {name!r}")
        if REFERENCE_LEAK.search(text):
            problems.append(f"{record.conversation_id} message {index}: leaks a $k reference")
    return problems


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif is_mentionable(value):
        yield value_text(value).lower()


def ungrounded_arguments(record: ConversationRecord) -> list[str]:
    """Argument values of successful calls that neither the user stated nor an earlier result gave.

    Injected wrong calls are exempt: their values are wrong on purpose.
    """
    seen: set[str] = set()
    problems = []
    for call in calls_of(record):
        if not call.failed:
            for param, value in call.arguments.items():
                for item in value if isinstance(value, list) else [value]:
                    if is_mentionable(item) and find_value(call.user_text, item) < 0 and value_text(item).lower() not in seen:
                        problems.append(f"{record.conversation_id} {call.call_id} {call.tool}.{param}={item!r} is not grounded")
            try:
                seen.update(_scalars(json.loads(call.result)))
            except ValueError:
                pass
    return problems
