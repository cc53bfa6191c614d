"""Realism of conversations as a fine-tuning user reads them, measured the same way on every source.

Each metric is a share ``numerator / denominator`` per source and variant, with a 95% Wilson
interval; a metric whose denominator is 0 has no value (the source lacks the data, e.g. imported
call sequences without tool outputs). Rows also come per tool where a tool-level view explains the
figure (writes reflected, contradictions). The detectors:

- ``parameter_named_messages`` (over user messages): the message labels a value with a tool
  parameter's name. Named when a parameter of an offered tool (any property name in its
  ``parameters`` schema) occurs as the identifier itself (``min_size_bytes``, ``memberId``; compound
  names only), or its words occur as a label next to an argument value of the turn's calls:
  ``the <words> is|should be|will be <value>``, ``<value> as [the] <words>``, ``<words>: <value>``
  or, for names of two or more words, directly before the value (``the min size bytes 200``,
  ``member id MEM-1``). ``my zip code is 12345`` is how people talk and is not counted.
- ``system_identifier_messages`` (over user messages): the message carries an identifier a person
  would not know: a code token mixing letters and >= 3 digits (``MEM-74581``, ``O70981``,
  ``pm_3e73fb``), or a value of an ``id`` / ``*_id`` / ``*Id`` field of any tool output of the
  conversation. Emails, URLs and file names are not codes; an identifier the assistant already told
  the user in an earlier reply is known to them and not counted.
- ``hidden_calls_state_changing`` (over hidden calls): hidden calls that change state. Hidden are
  the calls a synthesis record marks hidden in its turn plans (basis ``record_flags``); sources
  without such flags use the user-text rule below (basis ``user_text``).
- ``unasked_calls_state_changing`` (over unasked calls): the same with the user-text rule for every
  source, so sources are compared like for like: a call is unasked when it has an informative
  argument (:mod:`analytics.extract`'s value rule) and none of them is in the user text so far.
- ``writes_reflected`` (over checkable writes): a *checkable* write is a successful state-changing
  call that adds or sets something (not a remove/delete verb: absence proves nothing), whose output
  is a JSON object with a field that would show a *setter* argument: a name starting with ``new``
  or one of :data:`SETTER_WORDS` (destination, status, tag, ...) with a scalar or list-of-scalars
  value, shown by a field named with the setter's words (``new_name`` -> ``name``, ``tag`` ->
  ``tags``; any field for a destination). Reflected when every such setter value occurs as written
  (case kept), word-aligned, in its fields (``destination=/archive`` is reflected by
  ``"directory": "/archive"``; ``new_name=m`` is not reflected by ``"name": "M"``).
- ``outputs_contradicting`` (over checkable outputs): a successful call's output is checkable when
  it lists objects under a filter argument (an argument named as the items' field, or the field
  plus ``contains``/``filter``/...: ``name_contains`` filters ``name``, ``tag`` filters ``tags``), or
  when it returns an entity (an object with its own id: ``id``, the ``<noun>_id`` of the tool or
  list, or its only ``*_id``) seen earlier in the conversation with shared scalar fields. It
  contradicts when a listed item does not contain the filter value (``filters_ignored``), or a
  read returns a field value different from the entity's last seen value with no write mentioning
  the entity in between (``entity_fields_changed``); an object a write created (its output's own id
  is not among the arguments) holds the write's arguments; time-like fields are not compared.
- ``error_texts_with_advice`` (over error results): the text coaches instead of stating a cause:
  a sentence starting with an imperative (:data:`ADVICE_VERBS`: "Use ...", "Try ...") or an
  advisory phrase anywhere (:data:`ADVICE_PHRASES`: "please", "make sure", "you should", ...).
- ``error_rate`` (over calls): calls whose result is an error (:mod:`analytics.extract`'s rule).
- ``errors_repeating_success`` (over error calls): the failed call has the same tool and the same
  arguments as an earlier successful call of the conversation.

Read vs write comes from :mod:`analytics.extract` (``is_write``: spec hints, then the tool name's
verb). Analytics keeps this classifier apart from the generator's on purpose: the measurement must
not inherit the generator's mistakes, so a tool the generator misclassifies still shows up here.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import polars as pl
from scipy.stats import binomtest

from analytics.extract import READ_VERBS, WRITE_VERBS, extract, informative_leaves, name_words, normalize_text
from digit_assets.engine.records import ConversationRecord

SYNTHESIS_SOURCE = "digit_tc"
SETTER_WORDS: frozenset[str] = frozenset(
    {
        "destination", "dest", "target", "status", "state", "tag", "tags", "label", "labels", "priority",
        "stage", "assignee", "role", "access", "permission", "visibility", "category",
    }
)
REMOVE_VERBS: frozenset[str] = frozenset(
    {"remove", "delete", "unlink", "untag", "detach", "revoke", "unassign", "unsubscribe", "clear", "drop", "cancel"}
)
FILTER_SUFFIXES: frozenset[str] = frozenset({"contains", "filter", "like", "match", "matches", "prefix", "eq", "equals", "is"})
TIME_WORDS: frozenset[str] = frozenset(
    {"at", "time", "timestamp", "updated", "modified", "now", "elapsed", "expires", "remaining", "seen", "last"}
)
ADVICE_VERBS: frozenset[str] = frozenset(
    {
        "use", "try", "please", "call", "check", "ensure", "provide", "specify", "pass", "retry", "choose",
        "select", "supply", "include", "verify", "run", "ask", "consider", "refer", "look", "first", "pick",
        "remember", "make", "set", "search", "list", "fetch", "get", "find", "double",
    }
)
ADVICE_PHRASES: tuple[str, ...] = (
    "please", "make sure", "you should", "you must", "you need to", "you may want", "you might want",
    "you can", "you could", "did you mean", "try again", "instead", "be sure to", "remember to", "don t forget",
    # a tool cannot know the conversation: judging the call against it is coaching, not a cause
    "the earlier result", "the user", "was asked", "what was requested", "was meant", "for this request",
)
METRICS: tuple[str, ...] = (
    "parameter_named_messages",
    "system_identifier_messages",
    "hidden_calls_state_changing",
    "unasked_calls_state_changing",
    "writes_reflected",
    "outputs_contradicting",
    "filters_ignored",
    "entity_fields_changed",
    "error_texts_with_advice",
    "error_rate",
    "errors_repeating_success",
)
METRIC_LABELS: dict[str, str] = {
    "parameter_named_messages": "user messages naming a parameter",
    "system_identifier_messages": "user messages with a system identifier",
    "hidden_calls_state_changing": "hidden calls that change state",
    "unasked_calls_state_changing": "unasked calls (args not in user text) that change state",
    "writes_reflected": "checkable writes reflected by their output",
    "outputs_contradicting": "checkable outputs contradicting their call or the session",
    "filters_ignored": "filtered lists with an item not matching the filter",
    "entity_fields_changed": "entity reads changing a field with no write in between",
    "error_texts_with_advice": "error texts giving advice",
    "error_rate": "calls that are errors",
    "errors_repeating_success": "error calls repeating an earlier successful call",
}
REALISM_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "variant": pl.String(),
    "metric": pl.String(),
    "tool": pl.String(),
    "basis": pl.String(),
    "numerator": pl.Int64(),
    "denominator": pl.Int64(),
    "value": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}
EXAMPLES_PER_METRIC = 3
CONFIDENCE = 0.95

_CODE = re.compile(r"(?<![\w@])[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*(?![\w@])")
_EMAIL_OR_URL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
_FILE_NAME = re.compile(r"(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.[A-Za-z][A-Za-z0-9]{0,4}(?![\w])")
_NON_WORD = re.compile(r"[\W_]+")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")
_SENTENCE = re.compile(r"[.;!?\n]+|:\s+")
_LEADING_CODE = re.compile(r"^(?:(?i:error|err|status|code)|\d{3}|[A-Z][A-Z_]{2,}|[a-z]+_[a-z_]*error)\b[\s:,-]*")
_IDENTIFIER_FIELD = re.compile(r"^(?:id|.+_id|.+[a-z]Id|.+_ids)$")


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _scalars(value: Any) -> Iterator[Any]:
    """Scalar leaves of a JSON value (object values and list items, recursively)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            yield item


def _text(value: Any) -> str:
    """A scalar as normalized words (``/home/docs`` -> ``home docs``)."""
    return normalize_text(str(value))


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


# --- Detectors on user text ------------------------------------------------------------------------


def parameter_names(tools: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every property name in the offered tools' parameter schemas, nested objects included."""
    names: set[str] = set()
    stack: list[Any] = []
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping):
            stack.append(function.get("parameters"))
    while stack:
        schema = stack.pop()
        if isinstance(schema, Mapping):
            properties = schema.get("properties")
            if isinstance(properties, Mapping):
                names.update(str(name) for name in properties)
                stack.extend(properties.values())
            stack.extend(schema.get(key) for key in ("items", "additionalProperties") if key in schema)
        elif isinstance(schema, list):
            stack.extend(schema)
    return names


def _is_compound(name: str) -> bool:
    return len(name_words(name)) >= 2 and bool(re.search(r"[_.]|[a-z][A-Z]|[A-Za-z]\d", name))


def named_parameter(message: str, parameters: Iterable[str], values: Iterable[Any]) -> str | None:
    """The first parameter the message names (see the module docstring), or None."""
    text = f" {normalize_text(message)} "
    shown = {_text(value) for value in values} - {""}
    shown = {value for value in shown if _contains(text, value)}
    lowered = message.lower()
    for name in sorted(parameters):
        words = name_words(name)
        if not words:
            continue
        if _is_compound(name) and re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered):
            return name
        phrase = " ".join(words)
        if f" {phrase} " not in text:
            continue
        for value in shown:
            frames = [f" the {phrase} {link} {value} " for link in ("is", "should be", "will be", "equals")]
            frames += [f" {value} as the {phrase} ", f" {value} as {phrase} "]
            if len(words) >= 2:
                frames.append(f" {phrase} {value} ")
            if any(frame in text for frame in frames):
                return name
            if re.search(rf"(?<![\w]){re.escape(phrase)}\s*[:=]\s*[\"']?{re.escape(value.split(' ')[0])}", lowered.replace("_", " ")):
                return name
    return None


def code_tokens(message: str) -> list[str]:
    """Tokens mixing letters and at least three digits, outside emails, URLs and file names."""
    cleaned = _FILE_NAME.sub(" ", _EMAIL_OR_URL.sub(" ", message))
    return [
        token
        for token in _CODE.findall(cleaned)
        if _LETTER.search(token) and len(_DIGIT.findall(token)) >= 3
    ]


def identifier_values(output: Any) -> set[str]:
    """Normalized informative values of ``id`` / ``*_id`` / ``*Id`` fields anywhere in an output."""
    found: set[str] = set()
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if _IDENTIFIER_FIELD.match(str(key)) and not isinstance(value, (dict, list)):
                    found |= informative_leaves(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def system_identifier(message: str, output_ids: set[str], told: str) -> str | None:
    """The first identifier in the message a user would not know (see the module docstring), or None."""
    told_text = f" {told} "
    for token in code_tokens(message):
        if not _contains(told_text, _text(token)):
            return token
    text = f" {normalize_text(message)} "
    for value in sorted(output_ids):
        if _contains(text, value) and not _contains(told_text, value):
            return value
    return None


# --- Detectors on tool results ---------------------------------------------------------------------


def gives_advice(error_text: str) -> str | None:
    """The advisory sentence start or phrase of an error text, or None when it only states a cause."""
    text = f" {normalize_text(error_text)} "
    for phrase in ADVICE_PHRASES:
        if f" {phrase} " in text:
            return phrase
    for sentence in _SENTENCE.split(error_text):
        sentence = _LEADING_CODE.sub("", sentence.strip())
        words = normalize_text(sentence).split()
        if words and words[0] in ADVICE_VERBS:
            return " ".join(words[:3])
    return None


def is_definite_read(tool: str) -> bool:
    """The tool's name says it reads: its first read or write verb is a read verb (``get_order``,
    ``search_files``). Contradictions are only judged on such reads: a tool named neither way
    (``trash_file``) may change what it returns."""
    verb = next((word for word in name_words(tool) if word in READ_VERBS or word in WRITE_VERBS), None)
    return verb in READ_VERBS


def _written(value: Any) -> str:
    """A value as written, for exact comparison: case kept, runs of non-word characters as one space;
    a value without word characters (the root directory ``/``) stays as it is."""
    text = str(value).strip()
    return _NON_WORD.sub(" ", text).strip() or text


def setter_arguments(arguments: Mapping[str, Any]) -> dict[str, list[str]]:
    """Arguments that set a field (``new_*`` or a :data:`SETTER_WORDS` name), as :func:`_written` values."""
    setters: dict[str, list[str]] = {}
    for name, value in arguments.items():
        words = name_words(str(name))
        if not words or words[-1] in {"id", "ids"}:
            continue
        if words[0] != "new" and not (set(words) & SETTER_WORDS):
            continue
        items = value if isinstance(value, list) else [value]
        if not items or any(isinstance(item, (dict, list)) or item is None or isinstance(item, bool) for item in items):
            continue
        texts = [_written(item) for item in items]
        if all(texts):
            setters[str(name)] = texts
    return setters


LOCATION_SETTERS: frozenset[str] = frozenset({"destination", "dest", "target"})


def _field_values(output: Any) -> Iterator[tuple[str, Any]]:
    """(field name, value) of every object field in an output, recursively."""
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield str(key), value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _related(setter: str, field_name: str) -> bool:
    """A field that would show a setter's value: the setter's words but ``new`` (``new_name`` ->
    ``name``, ``tag`` -> ``tags``), or any field for a destination (the output says where it is now)."""
    words = {_singular(word) for word in name_words(setter)} - {"new"}
    return bool(words & LOCATION_SETTERS) or bool(words & {_singular(word) for word in name_words(field_name)})


def write_reflected(tool: str, arguments: Mapping[str, Any], output: Any) -> bool | None:
    """Whether a successful write's object output shows its setter values; None when not checkable
    (not an object, a remove verb, no setter argument, or no output field that would show one)."""
    if not isinstance(output, dict) or set(name_words(tool)) & REMOVE_VERBS:
        return None
    fields = list(_field_values(output))
    reflected = []
    for setter, values in setter_arguments(arguments).items():
        shown = [_written(leaf) for name, value in fields if _related(setter, name) for leaf in _scalars(value)]
        if not any(_related(setter, name) for name, _ in fields):
            continue
        reflected.append(all(any(_contains(leaf, value) for leaf in shown) for value in values))
    return all(reflected) if reflected else None


def _listed_items(output: Any) -> list[tuple[str | None, list[dict]]]:
    """Lists of objects in an output: the output itself, or its top-level fields' lists."""
    if isinstance(output, list):
        return [(None, [item for item in output if isinstance(item, dict)])]
    if isinstance(output, dict):
        return [(str(key), [i for i in value if isinstance(i, dict)]) for key, value in output.items() if isinstance(value, list)]
    return []


def _filtered_field(argument: str, fields: set[str]) -> str | None:
    """The item field an argument filters on: same name, plural, or the field plus a filter suffix."""
    words = name_words(argument)
    if not words or words[0] in {"min", "max", "from", "to", "before", "after", "since", "until"}:
        return None
    if words[-1] in {"limit", "offset", "page", "sort", "order", "size", "count"}:
        return None
    candidates = [argument, argument + "s"]
    if len(words) >= 2 and words[-1] in FILTER_SUFFIXES:
        base = "_".join(words[:-1])
        candidates += [base, base + "s"]
    return next((candidate for candidate in candidates if candidate in fields), None)


def ignored_filter(arguments: Mapping[str, Any], output: Any) -> tuple[bool, str] | None:
    """(contradicted, detail) for a list output under a filter argument; None when nothing to check."""
    checked = False
    for _, items in _listed_items(output):
        fields = {str(key) for item in items for key in item}
        for argument, value in arguments.items():
            if isinstance(value, (dict, list)) or value is None or isinstance(value, bool):
                continue
            target = _filtered_field(str(argument), fields)
            needle = _text(value)
            if target is None or not needle:
                continue
            for item in items:
                if target not in item:
                    continue
                checked = True
                leaves = [_text(leaf) for leaf in _scalars(item[target])]
                if not any(_contains(leaf, needle) for leaf in leaves):
                    return True, f"{argument}={value!r} but an item has {target}={item[target]!r}"
    return (False, "") if checked else None


def _entity_key(entity: dict, noun: str | None) -> tuple[str, str] | None:
    """(id field, normalized value) naming an object's own identity, or None when ambiguous."""
    id_fields = [key for key in entity if _IDENTIFIER_FIELD.match(str(key)) and not isinstance(entity[key], (dict, list))]
    own = None
    if "id" in entity:
        own = "id"
    elif noun and f"{noun}_id" in id_fields:
        own = f"{noun}_id"
    elif len(id_fields) == 1:
        own = id_fields[0]
    if own is None:
        return None
    leaves = informative_leaves(entity[own])
    return (own, next(iter(leaves))) if len(leaves) == 1 else None


def _singular(word: str) -> str:
    return word[:-3] + "y" if word.endswith("ies") else word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _entities(tool: str, output: Any) -> Iterator[tuple[tuple[str, str], dict]]:
    """Objects with an own identity in an output (the output itself, or items of its top-level lists)."""
    nouns = name_words(tool)[1:]
    if isinstance(output, dict):
        key = _entity_key(output, _singular(nouns[-1]) if nouns else None)
        if key:
            yield key, output
    for list_name, items in _listed_items(output):
        noun = _singular(name_words(list_name)[-1]) if list_name and name_words(list_name) else None
        for item in items:
            key = _entity_key(item, noun)
            if key:
                yield key, item


def _comparable_fields(entity: dict) -> dict[str, str]:
    return {
        str(key): _text(value)
        for key, value in entity.items()
        if not isinstance(value, (dict, list)) and not (set(name_words(str(key))) & TIME_WORDS)
    }


# --- The walk over conversations -------------------------------------------------------------------


@dataclass
class _Tally:
    counts: dict[tuple[str, str, str, str | None, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    examples: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def add(
        self, source: str, variant: str, metric: str, hit: bool, *, tool: str | None = None, basis: str = "",
        example: dict[str, str] | None = None, defect: bool | None = None,
    ) -> None:
        """Count one item (overall, and for ``tool`` when given); keep an example of a defect, which
        is the hit itself unless ``defect`` says otherwise (a write *not* reflected)."""
        for scope in (None, tool) if tool is not None else (None,):
            count = self.counts[(source, variant, metric, scope, basis)]
            count[0] += hit
            count[1] += 1
        shown = self.examples[(variant, metric)]
        if (hit if defect is None else defect) and example is not None and len(shown) < EXAMPLES_PER_METRIC:
            shown.append(example)


@dataclass(frozen=True)
class _Parsed:
    """One conversation with its JSON parsed once (extract and the walk both read it)."""

    conversation_id: str
    source: str
    variant: str
    domain: str | None
    messages: list
    tools: list
    meta: dict

    @classmethod
    def of(cls, record: ConversationRecord | Mapping[str, Any]) -> _Parsed:
        if isinstance(record, ConversationRecord):
            return cls(record.conversation_id, record.source, record.variant, record.domain, record.messages, record.tools, record.meta)
        messages, tools, meta = (_parse(record.get(name)) for name in ("messages", "tools", "meta"))
        return cls(
            str(record["conversation_id"]),
            str(record["source"]),
            str(record["variant"]),
            record.get("domain"),
            messages if isinstance(messages, list) else [],
            tools if isinstance(tools, list) else [],
            meta if isinstance(meta, dict) else {},
        )

    def extract_row(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id, "source": self.source, "variant": self.variant,
            "domain": self.domain, "messages": self.messages, "tools": self.tools,
        }

    def n_calls(self) -> int:
        return sum(len(m.get("tool_calls") or ()) for m in self.messages if m.get("role") == "assistant")


def hidden_call_ids(meta: Mapping[str, Any]) -> set[str] | None:
    """Tool-call ids a synthesis record marks hidden (its turn plans' ``hidden`` refs; call ids are
    ``call_<ref number>``), or None when the record has no turn plans."""
    plans = meta.get("turn_plans")
    if not isinstance(plans, list):
        return None
    return {f"call_{str(ref).lstrip('$')}" for plan in plans if isinstance(plan, dict) for ref in plan.get("hidden") or ()}


@dataclass
class _Call:
    call_id: str
    tool: str
    arguments: dict
    turn: int
    output: Any = None
    content: str | None = None


def _conversation(record: _Parsed, flat_calls: list[dict[str, Any]], tally: _Tally) -> None:
    """Tally every metric of one conversation; ``flat_calls`` are its rows of extract's ``calls`` table."""
    conversation_id, source, variant = record.conversation_id, record.source, record.variant
    messages, tools, meta = record.messages, record.tools, record.meta
    parameters = parameter_names(tools)
    hidden = hidden_call_ids(meta) if source == SYNTHESIS_SOURCE else None
    calls: list[_Call] = []
    by_id: dict[str, _Call] = {}
    user_turns: list[tuple[int, str, str]] = []  # (turn, text, what the assistant had told before)
    told = ""
    turn = -1
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role == "user":
            turn += 1
            user_turns.append((turn, content if isinstance(content, str) else "", told))
        elif role == "assistant":
            if isinstance(content, str):
                told += " " + normalize_text(content)
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                arguments = _parse(function.get("arguments"))
                entry = _Call(str(call.get("id")), str(function.get("name") or ""), arguments if isinstance(arguments, dict) else {}, turn)
                calls.append(entry)
                by_id.setdefault(entry.call_id, entry)
        elif role == "tool":
            entry = by_id.get(str(message.get("tool_call_id")))
            if entry is not None and entry.content is None:
                entry.content = content if isinstance(content, str) else json.dumps(content)
                entry.output = _parse(entry.content)
    if len(flat_calls) != len(calls):
        raise ValueError(f"conversation {conversation_id}: {len(calls)} calls walked but extract found {len(flat_calls)}")

    output_ids: set[str] = set()
    for call in calls:
        output_ids |= identifier_values(call.output)
    for turn_index, text, told_before in user_turns:
        values = [leaf for call in calls if call.turn == turn_index for leaf in _scalars(call.arguments)]
        named = named_parameter(text, parameters, values)
        tally.add(source, variant, "parameter_named_messages", named is not None,
                  example={"conversation_id": conversation_id, "parameter": str(named), "message": text})
        identifier = system_identifier(text, output_ids, told_before)
        tally.add(source, variant, "system_identifier_messages", identifier is not None,
                  example={"conversation_id": conversation_id, "identifier": str(identifier), "message": text})

    successes: set[tuple[str, str]] = set()
    views: dict[tuple[str, str], dict[str, str]] = {}
    for call, flat in zip(calls, flat_calls):
        is_write, is_error = bool(flat["is_write"]), bool(flat["is_error"])
        example = {"conversation_id": conversation_id, "tool": call.tool, "arguments": json.dumps(call.arguments)[:300]}
        unasked = flat["n_args_informative"] > 0 and flat["n_args_in_user_text"] == 0
        if unasked:
            tally.add(source, variant, "unasked_calls_state_changing", is_write, basis="user_text", example=example)
        if hidden is not None:
            if call.call_id in hidden:
                tally.add(source, variant, "hidden_calls_state_changing", is_write, basis="record_flags", example=example)
        elif unasked:
            tally.add(source, variant, "hidden_calls_state_changing", is_write, basis="user_text", example=example)
        tally.add(source, variant, "error_rate", is_error, tool=call.tool)
        signature = (call.tool, json.dumps(call.arguments, sort_keys=True))
        if is_error:
            text = call.content or ""
            advice = gives_advice(text)
            tally.add(source, variant, "error_texts_with_advice", advice is not None,
                      example={**example, "error": text[:300], "advice": str(advice)})
            tally.add(source, variant, "errors_repeating_success", signature in successes, tool=call.tool, example=example)
            continue
        if call.content is None:
            continue
        successes.add(signature)
        if is_write:
            reflected = write_reflected(call.tool, call.arguments, call.output)
            if reflected is not None:
                tally.add(source, variant, "writes_reflected", reflected, tool=call.tool,
                          example={**example, "output": call.content[:300]}, defect=not reflected)
        reads = not is_write and is_definite_read(call.tool)
        filtered = ignored_filter(call.arguments, call.output) if reads else None
        changed: str | None = None
        session_checked = False
        if not reads:
            mentioned = informative_leaves(call.arguments) | informative_leaves(call.output)
            for key in [key for key in views if key[1] in mentioned]:
                del views[key]
        for key, entity in _entities(call.tool, call.output):
            fields = _comparable_fields(entity)
            if is_write and entity is call.output and key[1] not in informative_leaves(call.arguments):
                # a write answering with a new id created that object from its arguments
                fields = {**_comparable_fields(call.arguments), **fields}
            seen = views.get(key)
            if seen is not None and reads:
                shared = [name for name in fields if name in seen and name != key[0]]
                session_checked = session_checked or bool(shared)
                differing = [name for name in shared if fields[name] != seen[name]]
                if differing and changed is None:
                    changed = f"{key[0]}={key[1]}: {differing[0]} was {seen[differing[0]]!r}, now {fields[differing[0]]!r}"
            views[key] = {**(seen or {}), **fields}
        if filtered is not None:
            tally.add(source, variant, "filters_ignored", filtered[0], tool=call.tool,
                      example={**example, "detail": filtered[1], "output": call.content[:300]})
        if session_checked:
            tally.add(source, variant, "entity_fields_changed", changed is not None, tool=call.tool,
                      example={**example, "detail": str(changed)})
        if filtered is not None or session_checked:
            contradicted = bool(filtered and filtered[0]) or changed is not None
            tally.add(source, variant, "outputs_contradicting", contradicted, tool=call.tool)


def wilson_interval(numerator: int, denominator: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a share (scipy's ``binomtest``); NaN when there is no denominator."""
    if denominator == 0:
        return math.nan, math.nan
    interval = binomtest(numerator, denominator).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class RealismResult:
    """Per (source, variant, metric[, tool]) shares in long format, and a few flagged examples each."""

    metrics: pl.DataFrame
    examples: dict[tuple[str, str], list[dict[str, str]]]


def measure(records: Iterable[ConversationRecord | Mapping[str, Any]], batch_size: int = 2_000) -> RealismResult:
    """Every realism metric of the records (any mix of sources), see the module docstring."""
    tally = _Tally()
    batch: list[_Parsed] = []

    def flush() -> None:
        flat = extract(record.extract_row() for record in batch).calls
        rows = flat.select("is_write", "is_error", "n_args_informative", "n_args_in_user_text").to_dicts()
        start = 0
        for record in batch:
            n = record.n_calls()
            _conversation(record, rows[start : start + n], tally)
            start += n
        batch.clear()

    for record in records:
        batch.append(_Parsed.of(record))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    rows = []
    for (source, variant, metric, tool, basis), (numerator, denominator) in tally.counts.items():
        low, high = wilson_interval(numerator, denominator)
        rows.append(
            {
                "source": source, "variant": variant, "metric": metric, "tool": tool, "basis": basis or None,
                "numerator": numerator, "denominator": denominator,
                "value": numerator / denominator if denominator else None,
                "ci_low": None if math.isnan(low) else low, "ci_high": None if math.isnan(high) else high,
            }
        )
    frame = pl.DataFrame(rows, schema=REALISM_SCHEMA).sort("source", "variant", "metric", "tool", nulls_last=False)
    return RealismResult(frame, dict(tally.examples))


def stored_conversations(connection: Any, batch_size: int = 2_000) -> Iterator[dict[str, Any]]:
    """Every stored conversation with its ``meta`` (the hidden flags live there), streamed in batches."""
    cursor = connection.execute(
        "SELECT conversation_id, source, variant, domain, messages, tools, meta FROM conversations ORDER BY conversation_id"
    )
    names = [column[0] for column in cursor.description]
    while batch := cursor.fetchmany(batch_size):
        for values in batch:
            yield dict(zip(names, values))


def overall(metrics: pl.DataFrame) -> pl.DataFrame:
    """The rows over every tool (``tool`` null), one per (source, variant, metric)."""
    return metrics.filter(pl.col("tool").is_null())


def share_of(metrics: pl.DataFrame, variant: str, metric: str) -> dict[str, Any] | None:
    """The overall row of one variant's metric, or None when the variant has no such data."""
    rows = overall(metrics).filter((pl.col("variant") == variant) & (pl.col("metric") == metric))
    return rows.row(0, named=True) if rows.height else None


# --- Rules and the dashboard section ---------------------------------------------------------------

BASELINE_FOR_IDENTIFIERS = "stateful_search"


@dataclass(frozen=True)
class Rule:
    """A realism rule on the synthesis variants: a bound on one metric's overall share."""

    metric: str
    bound: float
    at_most: bool
    relative_to: str | None = None  # a baseline variant: the bound is on the distance (points) to its share

    def describe(self) -> str:
        if self.relative_to:
            return f"within {self.bound * 100:.0f} points of {self.relative_to}"
        return f"{'<=' if self.at_most else '>='} {self.bound * 100:g}%"

    def holds(self, metrics: pl.DataFrame, variant: str) -> bool | None:
        """Whether the variant keeps the rule; None when it (or the reference) lacks the data."""
        row = share_of(metrics, variant, self.metric)
        if row is None or row["value"] is None:
            return None
        if self.relative_to:
            reference = share_of(metrics, self.relative_to, self.metric)
            if reference is None or reference["value"] is None:
                return None
            return abs(row["value"] - reference["value"]) <= self.bound + 1e-12
        return row["value"] <= self.bound + 1e-12 if self.at_most else row["value"] >= self.bound - 1e-12


RULES: tuple[Rule, ...] = (
    Rule("hidden_calls_state_changing", 0.0, at_most=True),
    Rule("writes_reflected", 0.95, at_most=False),
    Rule("parameter_named_messages", 0.05, at_most=True),
    Rule("system_identifier_messages", 0.10, at_most=True, relative_to=BASELINE_FOR_IDENTIFIERS),
    Rule("error_texts_with_advice", 0.05, at_most=True),
)


def ordered_variants(metrics: pl.DataFrame, synthesis_variants: Sequence[str]) -> list[str]:
    """Synthesis variants in method order, then stateful search, then the imports by name."""
    present = set(metrics["variant"].to_list())
    rest = sorted(present - set(synthesis_variants), key=lambda v: (v != BASELINE_FOR_IDENTIFIERS, v))
    return [v for v in synthesis_variants if v in present] + rest


def format_share(row: Mapping[str, Any] | None) -> str:
    """``12.3% (45/366)``, or ``–`` when there is nothing to measure."""
    if row is None or row["value"] is None:
        return "–" if row is None else f"– (0/{row['denominator']})"
    return f"{row['value'] * 100:.1f}% ({row['numerator']}/{row['denominator']})"


def realism_table(metrics: pl.DataFrame, variants: Sequence[str]) -> list[list[str]]:
    """Rows ``[metric label, rule, share per variant...]`` over every tool."""
    rules = {rule.metric: rule.describe() for rule in RULES}
    return [
        [METRIC_LABELS[metric], rules.get(metric, ""), *(format_share(share_of(metrics, v, metric)) for v in variants)]
        for metric in METRICS
        if overall(metrics).filter(pl.col("metric") == metric).height
    ]


def realism_markdown(metrics: pl.DataFrame, synthesis_variants: Sequence[str]) -> str:
    variants = ordered_variants(metrics, synthesis_variants)
    lines = ["| metric | rule | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    lines += ["| " + " | ".join(row) + " |" for row in realism_table(metrics, variants)]
    return "\n".join(lines)


def realism_section(
    metrics: pl.DataFrame | None, colors: Mapping[str, str], synthesis_variants: Sequence[str]
) -> list[tuple[str, str, list[Any]]]:
    """The dashboard's realism section (title, caption, figures): the table of shares with their
    counts, and every share with its 95% Wilson interval. Empty when nothing was measured."""
    if metrics is None or metrics.is_empty():
        return []
    variants = ordered_variants(metrics, synthesis_variants)
    rows = realism_table(metrics, variants)
    header = ["metric", "rule (synthesis)", *variants]
    table = go.Figure(go.Table(header={"values": header}, cells={"values": [list(column) for column in zip(*rows)]}))
    table.update_layout(height=80 + 34 * len(rows), margin={"t": 10, "b": 10})
    shares = go.Figure()
    palette = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692"]
    labels = [METRIC_LABELS[m] for m in METRICS]
    for index, variant in enumerate(variants):
        of_variant = overall(metrics).filter((pl.col("variant") == variant) & pl.col("value").is_not_null())
        of_variant = of_variant.with_columns(label=pl.col("metric").replace_strict(METRIC_LABELS))
        value = of_variant["value"].to_numpy()
        shares.add_trace(
            go.Scatter(
                x=value, y=of_variant["label"].to_list(), mode="markers", name=variant,
                marker={"color": colors.get(variant, palette[index % len(palette)]), "size": 9},
                error_x={
                    "type": "data", "symmetric": False,
                    "array": of_variant["ci_high"].to_numpy() - value, "arrayminus": value - of_variant["ci_low"].to_numpy(),
                },
            )
        )
    shares.update_layout(
        height=140 + 30 * len(labels), xaxis={"range": [-0.02, 1.02], "title": "share"},
        yaxis={"categoryorder": "array", "categoryarray": labels[::-1]}, legend_title_text="source / variant",
    )
    caption = (
        "Share per source with counts (numerator/denominator) and 95% Wilson intervals; '–' where a source "
        "lacks the data. Rules hold for the synthesis variants; detectors are defined in analytics/realism.py."
    )
    return [("Realism: would a fine-tuning user accept these conversations?", caption, [table, shares])]
