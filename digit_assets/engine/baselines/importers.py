"""Importers of public stateful trajectories into the shared conversation record (``source="import"``).

Formats, detected from the content of each file in the baselines directory (names do not matter):

- chat trajectories (tau-bench style): a JSON list or JSONL of runs, each with a ``messages`` or
  ``traj`` list of OpenAI chat messages, optional ``task_id``, ``reward``, ``trial``, ``tools``; a
  tool-call id a run reuses is renumbered and results pair with their calls in order;
- call-sequence ground truths (BFCL multi-turn style): JSONL ``{"id", "ground_truth": [[call, ...],
  ...]}`` with Python call strings, paired by id with question records ``{"id", "question":
  [[message, ...], ...]}`` in any file; a ground truth without its question is quarantined;
- function docs (``{"name", "parameters"}``, BFCL or OpenAI style): not conversations; their parameter
  order names positional arguments in call strings (``cd('archives')``), as the catalog's does.

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
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from digit_assets.engine.ingest import escape_problem
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.specs import Rejection

FileFormat = Literal["chat", "ground_truth", "questions", "docs"]
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


def import_directory(root: Path, catalog_signatures: Mapping[str, Sequence[str]] | None = None) -> list[ImportResult]:
    """Every baseline file below ``root``; question files are read with the ground truths they pair with.

    Questions pair with ground truths by record id, whatever the files are called. Function-doc files
    (``{"name", "parameters"}`` records) are not conversations: their parameter order, over the
    catalog's (``catalog_signatures``), names positional arguments in call strings.
    """
    listed = baseline_files(root)
    escaped = {name: problem for name in listed if (problem := escape_problem(root / name, root)) is not None}
    results = [_file_rejection(name, problem) for name, problem in escaped.items()]
    items: dict[str, list[_Item]] = {}
    for name in listed:
        if name in escaped:
            continue
        try:
            items[name] = _read_items(root / name)
        except (OSError, MemoryError, RecursionError) as error:
            results.append(_file_rejection(name, f"the file could not be read: {_describe(error)}"))
    files = list(items)
    formats = {name: detect_format(items[name]) for name in files}
    signatures = dict(catalog_signatures or {})
    for name in files:
        if formats[name] == "docs":
            signatures |= doc_signatures(items[name])
    question_files = [name for name in files if formats[name] == "questions"]
    partners = {
        name: pair_questions(_ids(items[name]), {q: _ids(items[q]) for q in question_files})
        for name in files
        if formats[name] == "ground_truth"
    }
    paired = {question for partner in partners.values() for question in partner}
    for name in files:
        try:
            if formats[name] == "ground_truth":
                results.append(import_ground_truth_file(root, name, partners[name], signatures))
            elif formats[name] == "questions":
                if name not in paired:
                    results.append(_orphan_questions(root, name))
            elif formats[name] == "chat":
                results.append(import_chat_file(root, name))
            elif formats[name] == "docs":
                results.append(ImportResult(name, "docs"))
            else:
                results.append(_file_rejection(
                    name, "no record has 'messages'/'traj' (chat runs), 'ground_truth', 'question' or 'name'+'parameters' (function docs)"
                ))
        except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - one file must not stop the directory
            results.append(_file_rejection(name, f"the file could not be imported: {_describe(error)}"))
    return sorted(results, key=lambda result: result.source_file)


def contained_files(root: Path) -> list[str]:
    """The baseline files whose real path lies inside ``root`` (the ones that are read)."""
    return [name for name in baseline_files(root) if escape_problem(root / name, root) is None]


def _file_rejection(source_file: str, problem: str) -> ImportResult:
    rejection = Rejection(stage="import", source=source_file, reason=f"{source_file}: {problem}")
    return ImportResult(source_file, None, rejections=[rejection])


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


def _ids(items: list[_Item]) -> set[str]:
    return {record_id for item in items if (record_id := _record_id(item.value, "id")) is not None}


def pair_questions(ids: set[str], question_ids: Mapping[str, set[str]]) -> list[str]:
    """The question files holding questions for this file's ids, most shared ids first; file names do
    not matter (a question file called anything pairs, a look-alike name with other ids does not)."""
    shared = {name: len(ids & found) for name, found in question_ids.items() if ids & found}
    return sorted(shared, key=lambda name: (-shared[name], name))


def doc_signatures(items: list[_Item]) -> dict[str, list[str]]:
    """Function name -> parameter names in declared order, from BFCL/OpenAI-style function docs."""
    signatures = {}
    for item in items:
        found = _doc_parameters(item.value)
        if found is not None:
            signatures[found[0]] = found[1]
    return signatures


def _doc_parameters(value: Any) -> tuple[str, list[str]] | None:
    """(name, parameter names) of a function doc, bare or in ``{"function": ...}``; None for anything
    else (parameters must be a schema: a ``type`` or ``properties``)."""
    doc = value.get("function", value) if isinstance(value, dict) else None
    parameters = doc.get("parameters") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not isinstance(parameters, dict):
        return None
    properties = parameters.get("properties")
    if not isinstance(properties, dict) and "type" not in parameters:
        return None
    return doc["name"], list(properties) if isinstance(properties, dict) else []


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
            if _doc_parameters(item.value) is not None:
                return "docs"
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
    call_names = _CallIds()
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
            raw_id = message.get("tool_call_id")
            if not isinstance(raw_id, str):
                raise MalformedRecord(f"tool message {index}: tool_call_id must be a string, not {type(raw_id).__name__}")
            call_id = call_names.answer(raw_id)
            if call_id is None:
                raise MalformedRecord(f"tool message {index} answers unknown tool_call_id {raw_id!r}")
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            messages.append({"role": "tool", "tool_call_id": call_id, "name": message.get("name") or call_names.names[call_id], "content": text})
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
    if call_names.reused:
        meta["reused_tool_call_ids"] = call_names.reused
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


class _CallIds:
    """Tool-call ids of one run made unique: a run that reuses an id (some agents number calls per
    turn) keeps every call, the k-th reuse becomes ``<id>#<k>``, and results pair with the calls of
    their id in order (the oldest unanswered first)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._uses: Counter[str] = Counter()
        self._pending: dict[str, deque[str]] = defaultdict(deque)
        self._latest: dict[str, str] = {}
        self.reused = 0

    def call(self, call_id: str, name: str) -> str:
        uses = self._uses[call_id]
        self._uses[call_id] += 1
        unique = call_id if uses == 0 else f"{call_id}#{uses + 1}"
        while unique in self.names:  # an id that already looks like a renumbered one
            uses += 1
            unique = f"{call_id}#{uses + 1}"
        self.reused += uses > 0
        self.names[unique] = name
        self._pending[call_id].append(unique)
        self._latest[call_id] = unique
        return unique

    def answer(self, call_id: Any) -> str | None:
        """The call a result answers: the oldest unanswered call with this id, else its latest call."""
        if not isinstance(call_id, str) or call_id not in self._latest:
            return None
        pending = self._pending[call_id]
        return pending.popleft() if pending else self._latest[call_id]


def _assistant(message: dict[str, Any], index: int, call_names: _CallIds) -> dict[str, Any]:
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
        call_id = call_names.call(call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{index}_{position}", name)
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


def parse_call(text: str, signatures: Mapping[str, Sequence[str]] | None = None) -> tuple[str, dict[str, Any]]:
    """``"pkg.fn(a='x', b=[1, -2])"`` -> ``("pkg.fn", {"a": "x", "b": [1, -2]})``; literals only, nothing runs.

    Positional arguments (``cd('archives')``) take the parameter names of the function's docs, in
    order (``signatures``: function name -> parameter names); without docs they cannot be imported.
    """
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
    arguments = _positional(text, name, call.args, signatures or {})
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


def signature_of(name: str, signatures: Mapping[str, Sequence[str]]) -> Sequence[str] | None:
    """The parameter names of ``name``: as written, with dots as underscores (how specs rename BFCL
    names), or its last dotted part (``GorillaFileSystem.cd`` -> ``cd``)."""
    for candidate in (name, name.replace(".", "_"), name.rsplit(".", 1)[-1]):
        if candidate in signatures:
            return signatures[candidate]
    return None


def _positional(text: str, name: str, values: Sequence[ast.expr], signatures: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    if not values:
        return {}
    params = signature_of(name, signatures)
    if params is None:
        raise MalformedRecord(
            f"call {text!r}: positional arguments cannot be mapped to parameter names: no tool docs for {name} "
            "(in the catalog or a function-doc file beside the trajectories)"
        )
    if len(values) > len(params):
        raise MalformedRecord(f"call {text!r}: {len(values)} positional arguments but {name} takes {len(params)} parameters")
    arguments = {}
    for param, value in zip(params, values):
        if isinstance(value, ast.Starred):
            raise MalformedRecord(f"call {text!r}: *args cannot be imported")
        try:
            arguments[param] = _json_value(ast.literal_eval(value))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise MalformedRecord(f"call {text!r}: argument {param} is not a literal") from None
    return arguments


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


def import_ground_truth_file(
    root: Path, source_file: str, question_files: Sequence[str], signatures: Mapping[str, Sequence[str]] | None = None
) -> ImportResult:
    """Ground truths with the questions of the same ids; a ground truth without a question is
    quarantined (a conversation without the user's words would teach calls out of nothing)."""
    result = ImportResult(source_file, "ground_truth")
    questions: dict[str, tuple[str, _Item, Any]] = {}
    for question_file in question_files:
        for item in _read_items(root / question_file):
            question_id = _record_id(item.value, "id")
            if item.error is not None:
                result.rejections.append(_rejection(question_file, item, item.error))
            elif question_id is None or not isinstance(item.value.get("question"), list):
                result.rejections.append(_rejection(question_file, item, "question record needs an 'id' and a 'question' list", question_id))
            elif question_id in questions:
                first = questions[question_id][0]
                result.rejections.append(_rejection(question_file, item, f"duplicate question id {question_id} (first in {first})", question_id))
            else:
                questions[question_id] = (question_file, item, item.value["question"])
    answered = set()
    searched = ", ".join(question_files) or "no question file shares an id with this file"
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
            if question is None:
                ground_truth_calls(item.value, signatures)
                raise MalformedRecord(f"no question with id {record_id} ({searched}): the user's words are missing")
            result.records.append(ground_truth_record(item.value, question[2], source_file, question[0], item.position, signatures))
        except MalformedRecord as error:
            result.rejections.append(_rejection(source_file, item, str(error), record_id))
        except (Exception, MemoryError, RecursionError) as error:  # noqa: BLE001 - one record must not stop the file
            result.rejections.append(_rejection(source_file, item, f"the record could not be read: {_describe(error)}", record_id))
    for question_id, (question_file, item, _) in questions.items():
        if question_id not in answered:
            result.rejections.append(_rejection(question_file, item, f"question without ground truth in {source_file}", question_id))
    return result


def ground_truth_record(
    entry: dict[str, Any],
    question: list[Any],
    source_file: str,
    question_file: str,
    position: str,
    signatures: Mapping[str, Sequence[str]] | None = None,
) -> ConversationRecord:
    """One turn per ground-truth list: the user's words from the question, then one call per message.

    The format has no tool outputs, so the record has none.
    """
    turns = ground_truth_calls(entry, signatures)
    if len(question) != len(turns):
        raise MalformedRecord(f"{len(question)} question turns but {len(turns)} ground-truth turns")
    messages: list[dict[str, Any]] = []
    for turn_index, calls in enumerate(turns):
        messages += _question_messages(question[turn_index], turn_index)
        for call_index, (name, arguments) in enumerate(calls, start=1):
            call = {"id": f"call_{turn_index + 1}_{call_index}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    meta: dict[str, Any] = {
        "original_id": str(entry["id"]),
        "source_file": source_file,
        "position": position,
        "format": "ground_truth",
        "question_file": question_file,
        "empty_user_turns": sum(1 for m in messages if m["role"] == "user" and not m["content"]),
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


def ground_truth_calls(entry: dict[str, Any], signatures: Mapping[str, Sequence[str]] | None) -> list[list[tuple[str, dict[str, Any]]]]:
    """The parsed calls of each turn; a record's own problems (bad calls, no call at all) come first."""
    turns = entry.get("ground_truth")
    if not isinstance(turns, list) or not all(isinstance(turn, list) and all(isinstance(c, str) for c in turn) for turn in turns):
        raise MalformedRecord("'ground_truth' must be a list of turns, each a list of call strings")
    parsed = [[parse_call(text, signatures) for text in calls] for calls in turns]
    if not any(parsed):
        raise MalformedRecord("ground truth has no call in any turn")
    return parsed


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
