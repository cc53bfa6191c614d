"""Flat call and data-flow tables from conversation records: the one place that reads messages.

Every source (DiGiT-TC output, its ablations, stateful-search baselines, imports) goes through the
same walk over OpenAI chat messages, so every fidelity feature downstream is computed from the same
three tables and never from source-specific fields:

- ``conversations``: one row per conversation (ids, ``n_turns`` = user messages, ``n_calls``,
  ``n_results`` = tool results matched to a call, ``has_user_text`` = some user message has text);
- ``calls``: one row per tool call, in message order;
- ``edges``: one row per (producer call, consumer call) data flow.

Value rule (what counts as the "same value"). Arguments and tool outputs are JSON; their scalar
leaves (list items and object values, recursively; keys are names, not data) are compared as
normalized strings:

- numbers, and strings that spell a plain number (``"1200"``, ``"49.5"``; not ``"007"``), become the
  same canonical number text, so an id returned as ``1200`` matches an argument ``"1200"``;
- text is case-folded and every run of non-alphanumeric characters becomes one space, so
  ``"2024-05-03"`` and ``"2024 05 03"`` are equal and a value can be found, word-aligned, in the
  user's text with the same normalization;
- trivial values are ignored because they coincide by chance, not by data flow: booleans, null,
  empty or one-character strings, ``true/false/null/none/yes/no``, and integers with ``|n| < 100``
  (counts, limits, page sizes, ratings, quantities).

Argument provenance, per top-level argument with at least one informative leaf ("informative
argument"): it is *in the user text* when every informative leaf occurs, word-aligned, in the user
messages up to and including the call's turn; it comes *from outputs* when some informative leaf
equals a leaf of an earlier successful tool output of the conversation; it is *from outputs only*
when it comes from outputs and is not in the user text (data the user never wrote).

Dependency edge: a consumer call depends on a producer call when one of its informative argument
leaves equals a leaf of the producer's output; a value carried by several earlier outputs is
credited to the latest of them (an id echoed by ``get_order`` after ``list_orders`` is one flow
through ``get_order``, not two). ``cross_turn`` marks producers from an earlier turn. Error results
produce nothing.

Read vs write (``is_write``): spec hints first, from the tool's entry in the record's ``tools``
list: MCP ``annotations.readOnlyHint`` / ``destructiveHint``, a boolean ``readOnly`` /
``read_only`` / ``x-read-only`` / ``x-readonly``, or an HTTP method (``x-http-method``,
``http_method``, ``method``: GET/HEAD/OPTIONS read, others write). Otherwise the name: its words
(snake, camel, dots, dashes) are scanned in order and the first one in :data:`READ_VERBS` or
:data:`WRITE_VERBS` decides; a name with neither (``weather``, ``exchange_rates``) is a lookup.
Words that are mostly nouns in tool names (order, file, message, email, report, request, claim) are
in neither list, so ``order_status`` reads and ``place_order`` writes. This classifier and its
word splitting are deliberately not the generator's (``digit_assets.engine.lexicon``): the
measurement stays independent of what it measures, so a bias of the generator's vocabulary cannot
cancel out in the comparison.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from digit_assets.engine.records import ConversationRecord

READ_VERBS: frozenset[str] = frozenset(
    {
        "get", "list", "search", "find", "lookup", "look", "check", "read", "view", "show", "fetch",
        "retrieve", "query", "browse", "count", "describe", "inspect", "preview", "track", "verify",
        "validate", "calculate", "compute", "estimate", "compare", "quote", "recommend", "suggest",
        "filter", "download", "export", "summarize", "analyze", "convert", "translate", "monitor",
        "locate", "explore", "scan", "detect", "resolve", "status", "info", "details",
    }
)
WRITE_VERBS: frozenset[str] = frozenset(
    {
        "create", "add", "new", "make", "insert", "register", "open", "update", "edit", "modify",
        "change", "set", "patch", "rename", "delete", "remove", "cancel", "void", "archive", "close",
        "book", "reserve", "place", "purchase", "buy", "checkout", "pay", "refund", "charge",
        "send", "post", "publish", "share", "invite", "notify", "reply", "move",
        "transfer", "assign", "schedule", "reschedule", "submit", "apply", "approve", "reject",
        "confirm", "upload", "import", "enable", "disable", "start", "stop", "restart", "reset",
        "exchange", "return", "upgrade", "downgrade", "subscribe", "unsubscribe", "login", "logout",
        "write", "save", "store", "put", "attach", "link", "unlink", "tag", "mark", "complete",
        "release", "lock", "unlock", "grant", "revoke",
    }
)
TRIVIAL_WORDS: frozenset[str] = frozenset({"true", "false", "null", "none", "yes", "no"})
SMALL_INTEGER_LIMIT = 100

_HTTP_READ_METHODS = frozenset({"get", "head", "options"})
_JSON_STARTS = frozenset('{["-0123456789tfn')
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_NON_WORD = re.compile(r"[\W_]+")
_NAME_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

CONVERSATION_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "source": pl.String(),
    "variant": pl.String(),
    "domain": pl.String(),
    "n_turns": pl.Int32(),
    "n_calls": pl.Int32(),
    "n_results": pl.Int32(),
    "has_user_text": pl.Boolean(),
}
CALL_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "source": pl.String(),
    "variant": pl.String(),
    "domain": pl.String(),
    "turn": pl.Int32(),
    "position": pl.Int32(),
    "tool": pl.String(),
    "is_error": pl.Boolean(),
    "is_write": pl.Boolean(),
    "arg_signature": pl.UInt32(),
    "n_args": pl.Int32(),
    "n_args_informative": pl.Int32(),
    "n_args_in_user_text": pl.Int32(),
    "n_args_from_outputs": pl.Int32(),
    "n_args_from_outputs_only": pl.Int32(),
}
EDGE_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "producer": pl.Int32(),
    "consumer": pl.Int32(),
    "producer_turn": pl.Int32(),
    "consumer_turn": pl.Int32(),
    "cross_turn": pl.Boolean(),
    "n_shared_values": pl.Int32(),
}


@dataclass(frozen=True)
class FlatTables:
    """The three flat tables every fidelity feature is computed from."""

    conversations: pl.DataFrame
    calls: pl.DataFrame
    edges: pl.DataFrame


def normalize_text(text: str) -> str:
    """Case-folded words joined by single spaces: the form both values and user text are compared in."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


@lru_cache(maxsize=262_144)
def _normalize_string(text: str) -> str | None:
    stripped = text.strip()
    if _NUMBER.fullmatch(stripped):
        return _normalize_number(float(stripped) if "." in stripped else int(stripped))
    normalized = normalize_text(stripped)
    if len(normalized) < 2 or normalized in TRIVIAL_WORDS:
        return None
    return normalized


def _normalize_number(number: int | float) -> str | None:
    if type(number) is float:
        if not math.isfinite(number):
            return None
        if not number.is_integer():
            return normalize_text(format(number, ".12g"))
        number = int(number)
    if -SMALL_INTEGER_LIMIT < number < SMALL_INTEGER_LIMIT:
        return None
    return str(abs(number))


def normalize_value(value: Any) -> str | None:
    """The comparable form of one scalar, or None when it is too trivial to signal a data flow."""
    kind = type(value)
    if kind is str:
        return _normalize_string(value)
    if kind is int or kind is float:
        return _normalize_number(value)
    return None


def informative_leaves(value: Any) -> set[str]:
    """Normalized informative scalar leaves of a JSON value (object values and list items, recursively)."""
    leaves: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
            continue
        if kind is list:
            stack.extend(item)
            continue
        if kind is str:
            normalized = _normalize_string(item)
        elif kind is int or kind is float:
            normalized = _normalize_number(item)
        else:
            continue
        if normalized is not None:
            leaves.add(normalized)
    return leaves


def name_words(name: str) -> list[str]:
    """``getOrderDetails`` / ``orders.cancel_order`` -> lower-case words in order."""
    return [word.lower() for word in _NAME_WORDS.findall(name)]


@lru_cache(maxsize=16_384)
def is_write_by_name(name: str) -> bool:
    """Name heuristic (see module docstring): the first read or write verb among the name's words decides."""
    for word in name_words(name):
        if word in READ_VERBS:
            return False
        if word in WRITE_VERBS:
            return True
    return False


def write_hint(tool: Mapping[str, Any]) -> bool | None:
    """Read/write as a tool's spec declares it, or None when it says nothing."""
    for holder in (tool.get("function"), tool):
        if not isinstance(holder, Mapping):
            continue
        annotations = holder.get("annotations")
        if isinstance(annotations, Mapping):
            if annotations.get("readOnlyHint") is True:
                return False
            if annotations.get("readOnlyHint") is False or annotations.get("destructiveHint") is True:
                return True
        for key in ("readOnly", "read_only", "x-read-only", "x-readonly"):
            if isinstance(holder.get(key), bool):
                return not holder[key]
        for key in ("x-http-method", "http_method", "method"):
            method = holder.get(key)
            if isinstance(method, str) and method.strip():
                return method.strip().lower() not in _HTTP_READ_METHODS
    return None


def _write_hints(tools: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    hints: dict[str, bool] = {}
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function", tool)
        name = function.get("name") if isinstance(function, Mapping) else None
        hint = write_hint(tool)
        if isinstance(name, str) and hint is not None:
            hints[name] = hint
    return hints


def _parse_json(text: Any) -> Any:
    """Parsed JSON, or the text itself when it is not JSON (plain-text results, error messages)."""
    if not isinstance(text, str):
        return text
    if text.lstrip()[:1] not in _JSON_STARTS:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_error(content: Any, parsed: Any) -> bool:
    """:func:`digit_assets.engine.records.is_error_content` on an already parsed result (one parse, not two)."""
    if not isinstance(content, str):
        return False
    return content.lstrip()[:5].lower() == "error" or (isinstance(parsed, dict) and "error" in parsed)


@lru_cache(maxsize=16_384)
def _arg_signature(names: tuple[str, ...]) -> int:
    """A stable id of an argument-name set: tools taking the same arguments share an intent."""
    return zlib.crc32("\x1f".join(sorted(names)).encode())


def _fields(record: ConversationRecord | Mapping[str, Any]) -> tuple[str, str, str, str | None, list, list]:
    if isinstance(record, ConversationRecord):
        return record.conversation_id, record.source, record.variant, record.domain, record.messages, record.tools
    messages = _parse_json(record["messages"])
    tools = _parse_json(record.get("tools") or [])
    return (
        str(record["conversation_id"]),
        str(record["source"]),
        str(record["variant"]),
        record.get("domain"),
        messages if isinstance(messages, list) else [],
        tools if isinstance(tools, list) else [],
    )


_CONVERSATION_LEVEL = ("conversation_id", "source", "variant", "domain")


class _Tables:
    """Column lists of the three tables. Calls and edges leave out the conversation's columns: they are
    spread onto them once, vectorized, when the frames are built (calls come in conversation order,
    edges keep their conversation's row number)."""

    def __init__(self) -> None:
        self.conversations: dict[str, list[Any]] = {name: [] for name in CONVERSATION_SCHEMA}
        self.calls: dict[str, list[Any]] = {name: [] for name in CALL_SCHEMA if name not in _CONVERSATION_LEVEL}
        self.edges: dict[str, list[Any]] = {name: [] for name in EDGE_SCHEMA if name != "conversation_id"}
        self.edge_conversation: list[int] = []

    def add(self, record: ConversationRecord | Mapping[str, Any]) -> None:
        """Append one conversation's rows (see the module docstring for every rule applied)."""
        conversation_id, source, variant, domain, messages, tools = _fields(record)
        row_number = len(self.conversations["conversation_id"])
        hints = _write_hints(tools)
        calls, edges = self.calls, self.edges
        errors = calls["is_error"]
        first_call = len(errors)
        user_text = " "
        turn = -1
        results = 0
        call_turns: list[int] = []
        producer_of: dict[str, int] = {}
        position_of_id: dict[str, int] = {}
        for message in messages:
            role = message.get("role")
            if role == "user":
                turn += 1
                content = message.get("content")
                if isinstance(content, str):
                    user_text += normalize_text(content) + " "
            elif role == "assistant":
                for call in message.get("tool_calls") or ():
                    function = call.get("function") or {}
                    name = str(function.get("name") or "")
                    arguments = _parse_json(function.get("arguments"))
                    if not isinstance(arguments, dict):
                        arguments = {}
                    position = len(call_turns)
                    call_turns.append(turn)
                    position_of_id[str(call.get("id"))] = position
                    informative = in_user_text = from_outputs = from_outputs_only = 0
                    shared: dict[int, int] = {}
                    for value in arguments.values():
                        leaves = informative_leaves(value)
                        if not leaves:
                            continue
                        informative += 1
                        said = all(f" {leaf} " in user_text for leaf in leaves)
                        in_user_text += said
                        producers = [producer_of[leaf] for leaf in leaves if leaf in producer_of]
                        from_outputs += bool(producers)
                        from_outputs_only += bool(producers) and not said
                        for producer in producers:
                            shared[producer] = shared.get(producer, 0) + 1
                    for producer, count in sorted(shared.items()):
                        self.edge_conversation.append(row_number)
                        edges["producer"].append(producer)
                        edges["consumer"].append(position)
                        edges["producer_turn"].append(call_turns[producer])
                        edges["consumer_turn"].append(turn)
                        edges["cross_turn"].append(call_turns[producer] < turn)
                        edges["n_shared_values"].append(count)
                    calls["turn"].append(turn)
                    calls["position"].append(position)
                    calls["tool"].append(name)
                    errors.append(False)
                    calls["is_write"].append(hints[name] if name in hints else is_write_by_name(name))
                    calls["arg_signature"].append(_arg_signature(tuple(arguments)))
                    calls["n_args"].append(len(arguments))
                    calls["n_args_informative"].append(informative)
                    calls["n_args_in_user_text"].append(in_user_text)
                    calls["n_args_from_outputs"].append(from_outputs)
                    calls["n_args_from_outputs_only"].append(from_outputs_only)
            elif role == "tool":
                position = position_of_id.get(str(message.get("tool_call_id")))
                if position is None:
                    continue
                results += 1
                content = message.get("content")
                parsed = _parse_json(content)
                if _is_error(content, parsed):
                    errors[first_call + position] = True
                    continue
                for leaf in informative_leaves(parsed):
                    producer_of[leaf] = position
        row = (conversation_id, source, variant, domain, turn + 1, len(call_turns), results, user_text.strip() != "")
        for name, value in zip(CONVERSATION_SCHEMA, row):
            self.conversations[name].append(value)

    def frames(self) -> FlatTables:
        conversations = pl.DataFrame(self.conversations, schema=CONVERSATION_SCHEMA)
        call_owner = np.repeat(np.arange(conversations.height), conversations["n_calls"].to_numpy())
        calls = pl.DataFrame(self.calls, schema={name: CALL_SCHEMA[name] for name in self.calls})
        calls = calls.with_columns(
            conversations[name].gather(call_owner) for name in _CONVERSATION_LEVEL
        ).select(*CALL_SCHEMA)
        edges = pl.DataFrame(self.edges, schema={name: EDGE_SCHEMA[name] for name in self.edges})
        edges = edges.with_columns(
            conversations["conversation_id"].gather(np.asarray(self.edge_conversation, dtype=np.int64))
        ).select(*EDGE_SCHEMA)
        return FlatTables(conversations, calls, edges)


def extract(records: Iterable[ConversationRecord | Mapping[str, Any]]) -> FlatTables:
    """Flat tables of any mix of sources.

    Records are :class:`ConversationRecord` objects or mappings with the ``conversations`` table's
    columns (``messages`` / ``tools`` as JSON text or already parsed), e.g. rows read from DuckDB.
    """
    tables = _Tables()
    for record in records:
        tables.add(record)
    return tables.frames()


def stored_records(connection: Any, where: str | None = None, batch_size: int = 10_000) -> Iterator[dict[str, Any]]:
    """Rows of the DuckDB ``conversations`` table as mappings :func:`extract` accepts, streamed in batches."""
    query = "SELECT conversation_id, source, variant, domain, messages, tools FROM conversations"
    cursor = connection.execute(query + (f" WHERE {where}" if where else "") + " ORDER BY conversation_id")
    names = [column[0] for column in cursor.description]
    while batch := cursor.fetchmany(batch_size):
        for values in batch:
            yield dict(zip(names, values))


def extract_stored(connection: Any, where: str | None = None) -> FlatTables:
    """Flat tables of the conversations stored in DuckDB (optionally filtered by a SQL ``where``)."""
    return extract(stored_records(connection, where))
