"""Importers of public stateful trajectories into the shared conversation record (``source="import"``).

Two formats, detected from the content of each file in the baselines directory:

- chat trajectories (tau-bench style): a JSON list or JSONL of runs, each with a ``messages`` or
  ``traj`` list of OpenAI chat messages, optional ``task_id``, ``reward``, ``trial``, ``tools``;
- call-sequence ground truths (BFCL multi-turn style): JSONL ``{"id", "ground_truth": [[call, ...],
  ...]}`` with Python call strings, and an optional companion question file ``{"id", "question":
  [[message, ...], ...]}`` (``x_ground_truth.jsonl`` pairs with ``x_questions.jsonl``, and
  ``possible_answer/x.json`` with ``x.json``).

A malformed record becomes a :class:`Rejection` with its file, id, position and reason; the rest of
the file is imported. Whatever goes wrong reading one record (a wrong type anywhere, a number JSON
cannot hold, nesting that exhausts the stack or memory) rejects that record only, and whatever goes
wrong with one file rejects that file only. Call strings are size-bounded, then parsed with
:mod:`ast` and literal-evaluated, never executed. A file whose real path lies outside the
directory (a symlink, ``..``) is refused unread.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from digit_assets.engine.ingest import escape_problem
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.specs import Rejection

FileFormat = Literal["chat", "ground_truth", "questions"]
SUFFIXES = (".json", ".jsonl")
RUN_FIELDS = ("task_id", "reward", "trial")
RAW_LIMIT = 500
# Longer call strings are refused before ast.parse: 100,000 minus signs exhaust its memory.
MAX_CALL_CHARS = 10_000


class MalformedRecord(ValueError):
    """Why one record cannot be imported; becomes the rejection reason."""


@dataclass
class ImportResult:
    source_file: str
    format: FileFormat | None
    records: list[ConversationRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    position: str
    value: Any
    raw: str
    error: str | None = None


def variant_for(source_file: str) -> str:
    """``import:<file stem>``: one baseline per file."""
    return f"import:{Path(source_file).name.split('.')[0]}"


def baseline_files(root: Path) -> list[str]:
    """JSON/JSONL files below ``root`` as sorted posix paths relative to it (hidden files skipped)."""
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in SUFFIXES and not any(p.startswith(".") for p in path.relative_to(root).parts)
    )


def import_directory(root: Path) -> list[ImportResult]:
    """Every baseline file below ``root``; question files are read with their ground-truth partner."""
    listed = baseline_files(root)
    escaped = {name: problem for name in listed if (problem := escape_problem(root / name, root)) is not None}
    files = [name for name in listed if name not in escaped]
    formats = {name: _detect_file_format(root, name) for name in files}
    partners = {
        name: partner
        for name in files
        if formats[name] == "ground_truth" and (partner := companion_questions(name, files)) is not None
    }
    paired = set(partners.values())
    results = [_file_rejection(name, problem) for name, problem in escaped.items()]
    for name in files:
        try:
            if formats[name] == "ground_truth":
                results.append(import_ground_truth_file(root, name, partners.get(name)))
            elif formats[name] == "questions":
                if name not in paired:
                    results.append(_orphan_questions(root, name))
            elif formats[name] == "chat":
                results.append(import_chat_file(root, name))
            elif isinstance(formats[name], str):  # why the file could not be read
                results.append(_file_rejection(name, formats[name]))
            else:
                results.append(_file_rejection(name, "no record has 'messages'/'traj' (chat runs), 'ground_truth' or 'question'"))
        except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - one file must not stop the directory
            results.append(_file_rejection(name, f"the file could not be imported: {_describe(error)}"))
    return sorted(results, key=lambda result: result.source_file)


def contained_files(root: Path) -> list[str]:
    """The baseline files whose real path lies inside ``root`` (the ones that are read)."""
    return [name for name in baseline_files(root) if escape_problem(root / name, root) is None]


def _file_rejection(source_file: str, problem: str) -> ImportResult:
    rejection = Rejection(stage="import", source=source_file, reason=f"{source_file}: {problem}")
    return ImportResult(source_file, None, rejections=[rejection])


def _detect_file_format(root: Path, name: str) -> FileFormat | str | None:
    """The file's format, None when no record says, or why the file cannot be read."""
    try:
        return detect_format(_read_items(root / name))
    except (OSError, MemoryError, RecursionError) as error:
        return f"the file could not be read: {_describe(error)}"


def _describe(error: BaseException) -> str:
    """An unexpected failure as a reason: its type and the first 300 characters of its message."""
    message = str(error)[:300]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON can hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows to a non-finite number")
    return value


def _loads(text: str) -> Any:
    """JSON with NaN, Infinity and overflowing numbers refused: a record must stay valid JSON."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def _read_items(path: Path) -> list[_Item]:
    """A JSON document (a list, or one object in a .json file) or JSONL (one item per non-blank line)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        document = _loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, list):
        return [_Item(f"item {index}", value, json.dumps(value)[:RAW_LIMIT]) for index, value in enumerate(document)]
    if isinstance(document, dict) and path.suffix.lower() == ".json":
        return [_Item("item 0", document, text[:RAW_LIMIT])]
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(_Item(f"line {number}", _loads(line), line[:RAW_LIMIT]))
        except (ValueError, RecursionError) as error:
            items.append(_Item(f"line {number}", None, line[:RAW_LIMIT], f"line {number} is not valid JSON: {error}"))
    return items


def detect_format(items: list[_Item]) -> FileFormat | None:
    """The format of the first record that says what it is."""
    for item in items:
        if isinstance(item.value, dict):
            if "ground_truth" in item.value:
                return "ground_truth"
            if "question" in item.value:
                return "questions"
            if "messages" in item.value or "traj" in item.value:
                return "chat"
    return None


def companion_questions(ground_truth_file: str, files: list[str]) -> str | None:
    """``x_ground_truth.jsonl`` -> ``x_questions.jsonl``; BFCL's ``possible_answer/x.json`` -> ``x.json``."""
    path = Path(ground_truth_file)
    candidates = [path.with_name(path.name.replace("ground_truth", "questions")), path.with_name(path.name.replace("ground_truth", "question"))]
    if path.parent.name == "possible_answer":
        candidates.append(path.parent.parent / path.name)
    for candidate in candidates:
        if candidate != path and candidate.as_posix() in files:
            return candidate.as_posix()
    return None


def _rejection(source_file: str, item: _Item, reason: str, record_id: str | None = None) -> Rejection:
    return Rejection(stage="import", source=source_file, item=record_id, position=item.position, reason=f"{source_file} {item.position}: {reason}", raw=item.raw)


def _record_id(value: Any, *keys: str) -> str | None:
    if not isinstance(value, dict):
        return None
    found = [str(value[key]) for key in keys if isinstance(value.get(key), (str, int))]
    return "/".join(found) or None


# --- chat trajectories ----------------------------------------------------------------------------


def import_chat_file(root: Path, source_file: str) -> ImportResult:
    result = ImportResult(source_file, "chat")
    for item in _read_items(root / source_file):
        record_id = _record_id(item.value, "task_id", "trial") or _record_id(item.value, "id")
        if item.error is not None:
            result.rejections.append(_rejection(source_file, item, item.error))
            continue
        try:
            result.records.append(chat_record(item.value, source_file, item.position))
        except MalformedRecord as error:
            result.rejections.append(_rejection(source_file, item, str(error), record_id))
        except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - one record must not stop the file
            result.rejections.append(_rejection(source_file, item, f"the record could not be read: {_describe(error)}", record_id))
    return result


def chat_record(run: Any, source_file: str, position: str) -> ConversationRecord:
    """One run as a record; system prompts are counted, not kept (they are policy text, not dialogue)."""
    if not isinstance(run, dict):
        raise MalformedRecord(f"a run must be a JSON object, not {type(run).__name__}")
    raw_messages = run.get("messages", run.get("traj"))
    if not isinstance(raw_messages, list) or not raw_messages:
        raise MalformedRecord("run has no non-empty 'messages' or 'traj' list")
    messages: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    system_messages = 0
    for index, message in enumerate(raw_messages):
        if not isinstance(message, dict):
            raise MalformedRecord(f"message {index} is not an object")
        role = message.get("role")
        if role == "system":
            system_messages += 1
        elif role == "user":
            messages.append({"role": "user", "content": _text(message.get("content"), index)})
        elif role == "assistant":
            messages.append(_assistant(message, index, call_names))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise MalformedRecord(f"tool message {index}: tool_call_id must be a string, not {type(call_id).__name__}")
            if call_id not in call_names:
                raise MalformedRecord(f"tool message {index} answers unknown tool_call_id {call_id!r}")
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            messages.append({"role": "tool", "tool_call_id": call_id, "name": message.get("name") or call_names[call_id], "content": text})
        else:
            raise MalformedRecord(f"message {index} has unknown role {role!r}")
    if not any(m["role"] == "user" for m in messages):
        raise MalformedRecord("run has no user message")
    tools = run.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
        raise MalformedRecord("'tools' must be a list of objects")
    domain = next((run[key] for key in ("domain", "env") if isinstance(run.get(key), str)), None)
    meta = {key: run[key] for key in RUN_FIELDS if key in run}
    meta |= {"source_file": source_file, "position": position, "format": "chat", "system_messages": system_messages, "tools_declared": tools is not None}
    return ConversationRecord(
        conversation_id=f"import:{source_file}:{position.replace(' ', '-')}",
        source="import",
        variant=variant_for(source_file),
        domain=domain,
        messages=messages,
        tools=tools or [],
        meta=meta,
    )


def _text(content: Any, index: int) -> str:
    """Message text; OpenAI content-part lists are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) and isinstance(part.get("text", ""), str) for part in content):
        return "".join(part.get("text", "") for part in content)
    raise MalformedRecord(f"message {index} has no text content")


def _assistant(message: dict[str, Any], index: int, call_names: dict[str, str]) -> dict[str, Any]:
    content = message.get("content")
    normalized: dict[str, Any] = {"role": "assistant", "content": content if isinstance(content, str) and content else None}
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise MalformedRecord(f"message {index}: tool_calls must be a list")
    tool_calls = []
    for position, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise MalformedRecord(f"message {index}: tool_call {position} has no function name")
        arguments = _arguments(function.get("arguments", "{}"), name, index)
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{index}_{position}"
        call_names[call_id] = name
        tool_calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
    if tool_calls:
        normalized["tool_calls"] = tool_calls
    elif normalized["content"] is None:
        raise MalformedRecord(f"message {index}: assistant message with neither text nor tool calls")
    return normalized


def _arguments(raw: Any, name: str, index: int) -> dict[str, Any]:
    """Arguments as an object; some dumps store them decoded, the format says a JSON string."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise MalformedRecord(f"message {index}: arguments of {name} are neither a JSON string nor an object")
    try:
        parsed = json.loads(raw or "{}")
    except ValueError as error:
        raise MalformedRecord(f"message {index}: arguments of {name} are not JSON ({error})") from None
    if not isinstance(parsed, dict):
        raise MalformedRecord(f"message {index}: arguments of {name} are not a JSON object")
    return parsed


# --- call-sequence ground truths ------------------------------------------------------------------


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``"pkg.fn(a='x', b=[1, -2])"`` -> ``("pkg.fn", {"a": "x", "b": [1, -2]})``; literals only, nothing runs."""
    if len(text) > MAX_CALL_CHARS:
        raise MalformedRecord(f"call {text[:80]!r}... is {len(text):,} characters, over the {MAX_CALL_CHARS:,} limit")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise MalformedRecord(f"call {text!r} is not valid Python call syntax ({error.msg})") from None
    except (MemoryError, RecursionError):
        raise MalformedRecord(f"call {text[:80]!r} is nested too deeply to parse") from None
    call = tree.body
    if not isinstance(call, ast.Call):
        raise MalformedRecord(f"{text!r} is not a function call")
    name = _dotted(call.func)
    if name is None:
        raise MalformedRecord(f"call {text!r}: the function must be a (dotted) name")
    if call.args:
        raise MalformedRecord(f"call {text!r}: positional arguments cannot be mapped to parameter names")
    arguments = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise MalformedRecord(f"call {text!r}: **kwargs cannot be imported")
        if keyword.arg in arguments:
            raise MalformedRecord(f"call {text!r}: argument {keyword.arg} is given twice")
        try:
            arguments[keyword.arg] = _json_value(ast.literal_eval(keyword.value))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise MalformedRecord(f"call {text!r}: argument {keyword.arg} is not a literal JSON can hold") from None
    return name, arguments


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _json_value(value: Any) -> Any:
    """Tuples become lists; values JSON cannot hold (bytes, complex, sets of mixed types) are refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a number JSON can hold")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _json_value(item) for key, item in value.items()}
    raise ValueError(f"{type(value).__name__} has no JSON form")


def import_ground_truth_file(root: Path, source_file: str, question_file: str | None) -> ImportResult:
    result = ImportResult(source_file, "ground_truth")
    questions: dict[str, tuple[_Item, Any]] = {}
    if question_file is not None:
        for item in _read_items(root / question_file):
            question_id = _record_id(item.value, "id")
            if item.error is not None:
                result.rejections.append(_rejection(question_file, item, item.error))
            elif question_id is None or not isinstance(item.value.get("question"), list):
                result.rejections.append(_rejection(question_file, item, "question record needs an 'id' and a 'question' list", question_id))
            elif question_id in questions:
                result.rejections.append(_rejection(question_file, item, f"duplicate question id {question_id}", question_id))
            else:
                questions[question_id] = (item, item.value["question"])
    answered = set()
    for item in _read_items(root / source_file):
        record_id = _record_id(item.value, "id")
        if item.error is not None:
            result.rejections.append(_rejection(source_file, item, item.error))
            continue
        try:
            if record_id is None:
                raise MalformedRecord("ground-truth record has no 'id'")
            if record_id in answered:
                raise MalformedRecord(f"duplicate ground-truth id {record_id}")
            answered.add(record_id)
            question = questions.get(record_id)
            result.records.append(ground_truth_record(item.value, question[1] if question else None, source_file, question_file, item.position))
        except MalformedRecord as error:
            result.rejections.append(_rejection(source_file, item, str(error), record_id))
        except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - one record must not stop the file
            result.rejections.append(_rejection(source_file, item, f"the record could not be read: {_describe(error)}", record_id))
    for question_id, (item, _) in questions.items():
        if question_id not in answered:
            result.rejections.append(_rejection(question_file, item, f"question without ground truth in {source_file}", question_id))
    return result


def ground_truth_record(
    entry: dict[str, Any], question: list[Any] | None, source_file: str, question_file: str | None, position: str
) -> ConversationRecord:
    """One turn per ground-truth list: the user's words (when a question file has them), then one call per message.

    The format has no tool outputs, so the record has none; without a question the user message of
    each turn is empty and only marks the turn boundary.
    """
    turns = entry.get("ground_truth")
    if not isinstance(turns, list) or not all(isinstance(turn, list) and all(isinstance(c, str) for c in turn) for turn in turns):
        raise MalformedRecord("'ground_truth' must be a list of turns, each a list of call strings")
    if question is not None and len(question) != len(turns):
        raise MalformedRecord(f"{len(question)} question turns but {len(turns)} ground-truth turns")
    messages: list[dict[str, Any]] = []
    for turn_index, calls in enumerate(turns):
        messages += _question_messages(question[turn_index], turn_index) if question is not None else [{"role": "user", "content": ""}]
        for call_index, text in enumerate(calls, start=1):
            name, arguments = parse_call(text)
            call = {"id": f"call_{turn_index + 1}_{call_index}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    if not any(m.get("tool_calls") for m in messages):
        raise MalformedRecord("ground truth has no call in any turn")
    meta: dict[str, Any] = {
        "original_id": str(entry["id"]),
        "source_file": source_file,
        "position": position,
        "format": "ground_truth",
        "question_file": question_file,
        "user_text": question is not None,
        "tool_outputs": False,
        "tools_declared": False,
    }
    return ConversationRecord(
        conversation_id=f"import:{source_file}:{position.replace(' ', '-')}",
        source="import",
        variant=variant_for(source_file),
        domain=None,
        messages=messages,
        tools=[],
        meta=meta,
    )


def _question_messages(turn: Any, turn_index: int) -> list[dict[str, Any]]:
    """A turn's user messages; an empty turn (BFCL adds functions there instead) keeps an empty boundary."""
    if not isinstance(turn, list):
        raise MalformedRecord(f"question turn {turn_index} must be a list of messages")
    if not turn:
        return [{"role": "user", "content": ""}]
    messages = []
    for message in turn:
        if not isinstance(message, dict) or message.get("role") != "user" or not isinstance(message.get("content"), str):
            raise MalformedRecord(f"question turn {turn_index} holds a message that is not {{'role': 'user', 'content': str}}")
        messages.append({"role": "user", "content": message["content"]})
    return messages


def _orphan_questions(root: Path, source_file: str) -> ImportResult:
    """A question file no ground-truth file pairs with: every question is reported, none imported."""
    result = ImportResult(source_file, "questions")
    for item in _read_items(root / source_file):
        reason = item.error or "question without ground truth: no ground-truth file pairs with this file"
        result.rejections.append(_rejection(source_file, item, reason, _record_id(item.value, "id")))
    return result
