"""Properties a stored baseline must have, checked on the chat record alone (the asset checks use these).

Imported trajectories are checked for well-formed chat structure only; stateful-search output must
also answer every call, close every turn, validate against its environment's schemas and take every
id from an earlier tool output, never from the user's words.
"""

from __future__ import annotations

import json
from typing import Any

from digit_assets.engine.baselines.environments import DOMAINS, load_environment
from digit_assets.engine.records import ConversationRecord, is_error_content

ROLES = ("user", "assistant", "tool")


def structure_problems(record: ConversationRecord, *, complete: bool) -> list[str]:
    """Chat-format problems; ``complete`` also requires every call answered and every turn closed by text."""
    problems = []
    where = record.conversation_id
    messages = record.messages
    if not messages or messages[0].get("role") != "user":
        problems.append(f"{where}: does not start with a user message")
    open_calls: dict[str, str] = {}
    seen_ids: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"{where} message {index}: role {role!r}")
            continue
        if role == "user" and complete and open_calls:
            problems.append(f"{where} message {index}: calls {sorted(open_calls)} were never answered")
        if role == "user" and complete and index > 0 and not _closes_turn(messages[index - 1]):
            problems.append(f"{where} message {index}: the previous turn has no closing assistant text")
        for call in message.get("tool_calls") or []:
            problems += _call_problems(where, index, call, seen_ids)
            open_calls[call.get("id", "")] = call.get("function", {}).get("name", "")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                problems.append(f"{where} message {index}: answers no open call ({call_id!r})")
            elif message.get("name") != open_calls.pop(call_id):
                problems.append(f"{where} message {index}: tool name differs from its call")
            if not isinstance(message.get("content"), str):
                problems.append(f"{where} message {index}: tool content is not text")
    if complete and open_calls:
        problems.append(f"{where}: calls {sorted(open_calls)} were never answered")
    if complete and messages and not _closes_turn(messages[-1]):
        problems.append(f"{where}: the last turn has no closing assistant text")
    return problems


def _closes_turn(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant" and not message.get("tool_calls") and isinstance(message.get("content"), str) and bool(message["content"])


def _call_problems(where: str, index: int, call: dict[str, Any], seen_ids: set[str]) -> list[str]:
    problems = []
    call_id = call.get("id")
    if not isinstance(call_id, str) or call_id in seen_ids:
        problems.append(f"{where} message {index}: call id {call_id!r} missing or repeated")
    seen_ids.add(call_id)
    function = call.get("function") or {}
    if not isinstance(function.get("name"), str) or not function["name"]:
        problems.append(f"{where} message {index}: call without a function name")
    try:
        arguments = json.loads(function.get("arguments") or "")
    except (TypeError, ValueError):
        arguments = None
    if not isinstance(arguments, dict):
        problems.append(f"{where} message {index}: arguments are not a JSON object string")
    return problems


def schema_problems(record: ConversationRecord) -> list[str]:
    """Stateful-search records: every call and every successful output validate against the domain's schemas."""
    if record.domain not in DOMAINS:
        return [f"{record.conversation_id}: unknown domain {record.domain!r}"]
    env = load_environment(record.domain)
    problems = []
    for name, arguments, content in _calls_with_results(record):
        if name not in env.tools:
            problems.append(f"{record.conversation_id}: {name} is not a {record.domain} tool")
            continue
        problems += [f"{record.conversation_id} {name} arguments: {p}" for p in env.argument_problems(name, arguments)]
        if content is not None and not is_error_content(content):
            problems += [f"{record.conversation_id} {name} output: {p}" for p in env.output_problems(name, json.loads(content))]
    return problems


def ungrounded_ids(record: ConversationRecord) -> list[str]:
    """Id arguments (``*_id`` / ``*_ids``) the assistant did not read in an earlier tool output."""
    problems = []
    seen = ""
    results = {m["tool_call_id"]: m["content"] for m in record.messages if m.get("role") == "tool"}
    for message in record.messages:
        for call in message.get("tool_calls") or []:
            arguments = json.loads(call["function"]["arguments"])
            for name, value in arguments.items():
                if name.endswith(("_id", "_ids")):
                    for item in value if isinstance(value, list) else [value]:
                        if json.dumps(item) not in seen:
                            problems.append(f"{record.conversation_id}: {call['function']['name']}.{name}={item!r} was never shown to the assistant")
            seen += results.get(call["id"], "")
    return problems


def _calls_with_results(record: ConversationRecord) -> list[tuple[str, dict[str, Any], str | None]]:
    results = {m.get("tool_call_id"): m.get("content") for m in record.messages if m.get("role") == "tool"}
    return [
        (call["function"]["name"], json.loads(call["function"]["arguments"]), results.get(call["id"]))
        for call in record.tool_calls()
    ]
