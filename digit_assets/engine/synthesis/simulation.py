"""Stateless execution (method.md step 6): ``$k.path`` substitution, schema validation and the
offline tool simulator.

There is no system to call, so the session history stands in for its state. The offline simulator
reads it the way a careful model would: the object a call is about keeps the fields it had before
(an order listed as placed on May 3rd is still placed on May 3rd when fetched), arguments come
back where the result describes them, an action leaves its mark (a cancelled order reads
"cancelled"), values seen earlier under the same name are reused, and anything new comes from
:class:`ValueFactory`. It then repairs what the judge (step 9) would reject in any generated
object: past-tense dates after today, ends before begins, totals that do not add up, counts below
the number of listed items.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import jsonschema_rs

from digit_assets.engine.llm.roles import SimulateToolRequest, SimulateToolResponse
from digit_assets.engine.synthesis.judge import (
    count_targets,
    expected_aggregates,
    has_time,
    is_number,
    is_past_field,
    is_placeholder,
    is_total_field,
    misordered_pairs,
    name_words,
    order_role,
    parse_moment,
    singular,
)
from digit_assets.engine.synthesis.model import ExecutedCall, PlannedCall, ToolView, parse_reference, resolve_path
from digit_assets.engine.synthesis.values import ValueFactory

# --- Reference substitution ----------------------------------------------------------------------


class ReferenceResolutionError(LookupError):
    """A ``$k.path`` argument whose producer, or whose path in the producer's output, is missing."""


def resolve_arguments(call: PlannedCall, executed: Mapping[str, ExecutedCall]) -> dict[str, Any]:
    """The call's arguments with every ``$k.path`` replaced by the value in ``$k``'s simulated output."""
    arguments: dict[str, Any] = {}
    for param, value in call.arguments.items():
        parsed = parse_reference(value)
        if parsed is None:
            arguments[param] = value
            continue
        ref, path = parsed
        producer = executed.get(ref)
        if producer is None or producer.output is None:
            raise ReferenceResolutionError(
                f"{call.ref} {call.tool}: argument {param}={value!r} refers to {ref}, which has no simulated output"
            )
        try:
            arguments[param] = resolve_path(producer.output, path)
        except (KeyError, IndexError, TypeError) as exc:
            raise ReferenceResolutionError(
                f"{call.ref} {call.tool}: argument {param}={value!r}: the output of {ref} ({producer.tool}) has no {path}"
            ) from exc
    return arguments


# --- Identity caches -----------------------------------------------------------------------------

_MISSING: Any = object()


class IdentityCache:
    """Results derived from objects never mutated in place (schemas, executed calls), keyed by the
    object's identity: a lookup costs a dict access instead of serializing a schema (~20 us).
    Entries keep their key object alive, so an id cannot be reused while its entry exists."""

    def __init__(self, limit: int):
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._limit = limit

    def get(self, key: Any) -> Any:
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0] is key else _MISSING

    def put(self, value: Any, key: Any) -> Any:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(key)] = (key, value)
        return value


# --- Schema validation ---------------------------------------------------------------------------

# RFC 3339 "time" demands seconds and an offset; people and the value factory write "14:30".
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE)
_LENIENT_FORMATS = {"time": lambda value: bool(_TIME.match(value))}
_MAX_PROBLEMS = 5


@lru_cache(maxsize=2_048)
def _compile(schema_text: str) -> jsonschema_rs.Validator | str:
    """A validator for a schema, or why the schema is unusable; equal schemas share one."""
    try:
        return jsonschema_rs.validator_for(json.loads(schema_text), validate_formats=True, formats=_LENIENT_FORMATS)
    except ValueError as exc:
        return str(exc).splitlines()[0]


_VALIDATORS = IdentityCache(8_192)


def _validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator | str:
    cached = _VALIDATORS.get(schema)
    if cached is _MISSING:
        cached = _VALIDATORS.put(_compile(json.dumps(schema, sort_keys=True)), schema)
    return cached


def _location(path: Sequence[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text or "the top level"


def _schema_problems(tool: str, what: str, schema: Mapping[str, Any], instance: Any) -> list[str]:
    validator = _validator(schema)
    if isinstance(validator, str):
        return [f"{tool}: the {what} schema is not valid JSON Schema ({validator})"]
    if validator.is_valid(instance):
        return []
    errors = list(validator.iter_errors(instance))
    problems = [f"{tool} {what} at {_location(error.instance_path)}: {error.message}" for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"{tool} {what}: {len(errors) - _MAX_PROBLEMS} more schema violations")
    return problems


def argument_problems(tool: ToolView, arguments: dict[str, Any]) -> list[str]:
    """Why these arguments do not validate against the tool's parameter schema (empty: they do)."""
    return _schema_problems(tool.name, "arguments", tool.parameters, arguments)


def output_problems(tool: ToolView, output: dict[str, Any]) -> list[str]:
    """Why this result does not validate against the tool's output schema (empty: it does)."""
    return _schema_problems(tool.name, "output", tool.output_schema, output)


# --- What a tool does, read from its name --------------------------------------------------------

READ_VERBS = frozenset(
    {"get", "list", "search", "find", "fetch", "read", "show", "view", "check", "lookup", "look", "query", "retrieve",
     "count", "describe", "calculate", "estimate", "compare", "validate", "verify", "track", "browse", "filter",
     "download", "export", "preview", "quote", "recommend", "suggest", "summarize", "analyze", "convert", "translate",
     "inspect", "monitor",
     # shell commands that only read: a file-system API often names its tools after them
     "ls", "cat", "pwd", "grep", "wc", "du", "stat", "head", "tail", "tree", "diff"}
)
# (verbs, status word for free-text status fields, stems an enum status may start with, best first)
_ACTION_GROUPS: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("cancel", "void"), "cancelled", ("cancel", "void")),
    (("delete", "remove"), "deleted", ("delet", "remov", "archiv")),
    (("create", "add", "new", "make", "register", "open"), "active", ("creat", "activ", "open", "new", "confirm", "pending")),
    (("place", "order", "purchase", "buy", "checkout"), "placed", ("placed", "order", "confirm", "pending", "process")),
    (("book", "reserve"), "confirmed", ("confirm", "book", "reserv")),
    (("schedule",), "scheduled", ("schedul", "confirm", "plan")),
    (("submit", "apply", "request", "file", "report"), "submitted", ("submit", "pending", "review", "receiv", "open")),
    (("update", "edit", "modify", "change", "set", "rename", "reschedule", "move"), "updated", ("updat", "modif", "confirm", "activ")),
    (("approve", "accept"), "approved", ("approv", "accept")),
    (("reject", "decline", "deny"), "rejected", ("reject", "declin", "denied")),
    (("close",), "closed", ("close",)),
    (("resolve",), "resolved", ("resolv", "close")),
    (("complete", "finish"), "completed", ("complet", "done", "finish")),
    (("pay",), "paid", ("paid", "complet", "succe", "settl")),
    (("refund",), "refunded", ("refund",)),
    (("ship", "dispatch"), "shipped", ("ship", "dispatch")),
    (("send", "notify", "email", "message", "share"), "sent", ("sent", "deliver", "queue")),
    (("archive",), "archived", ("archiv",)),
    (("activate", "enable", "start", "resume", "unblock", "unlock", "restore", "reopen"), "active", ("activ", "enabl", "running", "start", "restor", "reopen", "open")),
    (("deactivate", "disable", "suspend", "stop", "pause", "block", "lock"), "inactive", ("inactiv", "disabl", "suspend", "stop", "paus", "block", "lock")),
    (("assign",), "assigned", ("assign",)),
    (("return",), "returned", ("return",)),
    (("confirm",), "confirmed", ("confirm",)),
    (("subscribe",), "subscribed", ("subscrib", "activ")),
    (("unsubscribe",), "unsubscribed", ("unsubscrib", "inactiv", "cancel")),
    (("transfer",), "completed", ("complet", "transfer", "succe")),
)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {verb: (word, stems) for verbs, word, stems in _ACTION_GROUPS for verb in verbs}
_CREATING_VERBS = frozenset({"create", "add", "new", "make", "register", "open", "place", "order", "purchase", "buy", "checkout", "book", "reserve", "schedule", "submit", "apply", "request", "file", "report"})
_NEGATIONS = frozenset({"not", "no", "non", "un", "failed", "fail", "failure", "error", "unable", "invalid"})


@lru_cache(maxsize=4_096)
def tool_verb(tool: str) -> str:
    """The first word of the name that is a known verb (``orders.cancel`` -> ``cancel``)."""
    words = name_words(tool)
    return next((w for w in words if w in READ_VERBS or w in ACTIONS), words[0] if words else "")


@lru_cache(maxsize=4_096)
def tool_context(tool: str) -> tuple[str, ...]:
    """The nouns a tool is about, singular: ``get_order_details`` -> ``("order", "detail")``."""
    verb = tool_verb(tool)
    return tuple(singular(w) for w in name_words(tool) if w != verb)


def changes_state(tool: str) -> bool:
    return tool_verb(tool) not in READ_VERBS


# --- Which fields identify what ------------------------------------------------------------------

_KEY_ENDINGS = frozenset({"number", "code", "ref", "reference", "key"})
_NOT_KEYS = frozenset({"phone", "zip", "postal", "postcode", "country", "currency", "language", "promo", "coupon", "discount", "color", "colour", "status", "error", "http", "response", "area"})
_IDENTIFYING = frozenset({"email", "name", "phone", "username", "title", "handle"})
# Names so generic that only the shallowest object of a result is the one an argument describes.
GENERIC_FIELDS = frozenset({"id", "uuid", "key", "name", "title", "description", "label", "value"})
_FILTER_WORDS = frozenset({"date", "status", "type", "category", "city", "country", "state", "brand", "genre", "department", "priority", "color", "size", "location", "language", "currency"})
_FILTER_NAMES = frozenset((word,) for word in _FILTER_WORDS)
_LOWER_MARKS = frozenset({"start", "from", "after", "since", "min", "minimum", "earliest", "begin"})
_UPPER_MARKS = frozenset({"end", "to", "until", "before", "max", "maximum", "latest"})
_LIMIT_PARAMS = frozenset({"limit", "page_size", "pagesize", "per_page", "max_results", "top_k", "num_results", "top_n", "size"})


@lru_cache(maxsize=16_384)
def is_entity_key(name: str) -> bool:
    """``order_id``, ``id``, ``booking_reference``: a field that names one object."""
    words = name_words(name)
    if not words or set(words) & _NOT_KEYS:
        return False
    return words[-1] in ("id", "uuid") or (words[-1] in _KEY_ENDINGS and len(words) > 1)


@lru_cache(maxsize=16_384)
def is_identifying(name: str) -> bool:
    """Fields whose values tell list items apart, so two items should not share them."""
    return is_entity_key(name) or bool(set(name_words(name)) & _IDENTIFYING)


def own_key(fields: Sequence[str], context: Sequence[str]) -> str | None:
    """The field naming the object itself: ``id``, else the key about the context noun, else the first key."""
    keys = [f for f in fields if is_entity_key(f)]
    if not keys:
        return None
    return next((k for k in keys if k in ("id", "uuid")), None) or next(
        (k for k in keys if singular(name_words(k)[0]) in context), keys[0]
    )


def subject_key(fields: Sequence[str], context: Sequence[str]) -> str | None:
    """The key about the tool's own noun (``order_id`` for ``cancel_order``), or None.

    Unlike :func:`own_key` there is no fallback: ``create_order(customer_id=...)`` is not about the customer.
    """
    return next((f for f in fields if is_entity_key(f) and singular(name_words(f)[0]) in context), None)


def _tells_apart(spec: _FieldShape, context: Sequence[str]) -> bool:
    """A name or email of the object itself (not ``customer_name`` on an order): siblings differ in it."""
    words = name_words(spec.name)
    return spec.identifying and not is_entity_key(spec.name) and (len(words) == 1 or singular(words[0]) in context)


def _context_of(name: str) -> tuple[str, ...]:
    words = name_words(name)
    return (singular(words[-1]),) if words else ()


def _entity_key(field_name: str, value: Any) -> Hashable:
    """String ids are distinctive on their own (``ORD-12345``); numbers need their field name."""
    return value if isinstance(value, str) else (field_name, value)


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list))


# --- The session as state ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contribution:
    """What one executed call tells about the state: values by name, and object updates in order."""

    values: tuple[tuple[str, Hashable], ...]
    updates: tuple[tuple[Hashable, dict[str, Any]], ...]


def _contribution(call: ExecutedCall) -> _Contribution:
    values: list[tuple[str, Hashable]] = []
    updates: list[tuple[Hashable, dict[str, Any]]] = []
    context = tool_context(call.tool)

    def collect(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                collect(item, key)
        elif isinstance(value, list):
            for item in value:
                collect(item, name)
        elif value is not None and name:
            values.append((name, value))

    # A read call's list items match its filters: list_orders(customer_id=C) lists C's orders.
    filters = {} if changes_state(call.tool) else {
        name: value
        for name, value in call.arguments.items()
        if _is_scalar(value) and (is_entity_key(name) or name_words(name)[-1:] in _FILTER_NAMES)
    }

    def remember(value: Any, nouns: tuple[str, ...], listed: bool) -> None:
        if isinstance(value, dict):
            key = own_key(list(value), nouns)
            if key is not None and _is_scalar(value[key]):
                fields = {**filters, **value} if listed else value
                updates.append((_entity_key(key, value[key]), {f: v for f, v in fields.items() if v is not None}))
            for name, item in value.items():
                remember(item, _context_of(name), False)
        elif isinstance(value, list):
            for item in value:
                remember(item, nouns, True)

    collect(call.arguments, "")
    collect(call.output, "")
    remember(call.output, context, False)
    if changes_state(call.tool):  # the arguments of an action are its object's new state
        key = subject_key(list(call.arguments), context)
        if key is not None and _is_scalar(call.arguments[key]):
            updates.append((_entity_key(key, call.arguments[key]), {f: v for f, v in call.arguments.items() if v is not None}))
    return _Contribution(tuple(values), tuple(updates))


_CONTRIBUTIONS = IdentityCache(16_384)


@dataclass
class SessionState:
    """What the history says: values seen per name (in order), and the latest fields per object."""

    pool: dict[str, dict[Hashable, None]] = field(default_factory=dict)
    entities: dict[Hashable, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, history: Sequence[ExecutedCall]) -> SessionState:
        state = cls()
        for call in history:
            if call.output is None:  # an injected wrong call: its values were wrong on purpose
                continue
            contribution = _CONTRIBUTIONS.get(call)
            if contribution is _MISSING:
                contribution = _CONTRIBUTIONS.put(_contribution(call), call)
            for name, value in contribution.values:
                state.pool.setdefault(name, {})[value] = None
            for key, fields in contribution.updates:
                state.entities.setdefault(key, {}).update(fields)
        return state

    def record_of(self, key: str, value: Any) -> Mapping[str, Any]:
        return self.entities.get(_entity_key(key, value), {}) if _is_scalar(value) else {}


# --- Schemas, resolved once ----------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMAT_CHECKS = {
    "date": lambda v: len(v) == 10 and parse_moment(v) is not None,
    "date-time": lambda v: bool(_DATE_TIME.match(v)) and parse_moment(v) is not None,
    "time": lambda v: bool(_TIME.match(v)),
    "email": lambda v: bool(_EMAIL.match(v)),
    "uri": lambda v: "://" in v,
    "url": lambda v: "://" in v,
    "uuid": lambda v: bool(_UUID.match(v)),
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}


def _pointer(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    if not ref.startswith("#"):
        return None
    target: Any = root
    for step in filter(None, ref[1:].split("/")):
        step = step.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or step not in target:
            return None
        target = target[step]
    return target if isinstance(target, Mapping) else None


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema with local ``$ref``s, ``allOf`` and a nullable ``anyOf``/``oneOf`` resolved."""
    for _ in range(8):
        if "$ref" in schema:
            target = _pointer(root, schema["$ref"])
            if target is None:
                break
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        elif "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = _resolve(part, root)
                merged = {
                    **merged,
                    **part,
                    "properties": {**merged.get("properties", {}), **part.get("properties", {})},
                    "required": [*merged.get("required", ()), *part.get("required", ())],
                }
            schema = merged
        elif (schema.get("anyOf") or schema.get("oneOf")) and "type" not in schema and "properties" not in schema:
            options = schema.get("anyOf") or schema.get("oneOf")
            chosen = next((o for o in options if not (isinstance(o, dict) and o.get("type") == "null")), options[0])
            schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}, **chosen}
        else:
            break
    return schema


def _kind(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "null")
    if declared:
        return declared
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if schema.get("enum"):
        return _JSON_TYPES.get(type(schema["enum"][0]), "string")
    return "string"


@dataclass(frozen=True)
class _FieldShape:
    """A property of an object schema with everything its name says about it, worked out once."""

    name: str
    schema: Mapping[str, Any]
    kind: str
    required: bool
    identifying: bool
    generic: bool
    past: bool
    status: bool
    last_word: str


@dataclass(frozen=True)
class _ObjectShape:
    fields: tuple[_FieldShape, ...]
    undeclared_required: tuple[str, ...]
    past_fields: tuple[str, ...]
    may_misorder: bool  # two fields with begin/end roles
    may_aggregate: bool  # a total, subtotal or line total
    may_count: bool  # an integer next to a list


class _Schemas:
    """Resolved subschemas and object shapes of one output schema, kept across calls (see :meth:`of`)."""

    _BY_ROOT = IdentityCache(4_096)

    def __init__(self, root: Mapping[str, Any]):
        self.root = root
        self._resolved = IdentityCache(4_096)
        self._shapes = IdentityCache(1_024)
        self.shallowest: dict[str, int] = {}
        self._measure(self.resolve(root), 0)

    @classmethod
    def of(cls, root: Mapping[str, Any]) -> _Schemas:
        schemas = cls._BY_ROOT.get(root)
        return cls._BY_ROOT.put(cls(root), root) if schemas is _MISSING else schemas

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        resolved = self._resolved.get(schema)
        if resolved is _MISSING:
            resolved = self._resolved.put(_resolve(schema, self.root), schema)
            self._resolved.put(resolved, resolved)
        return resolved

    def shape(self, schema: Mapping[str, Any]) -> _ObjectShape:
        shape = self._shapes.get(schema)
        if shape is _MISSING:
            shape = self._shapes.put(self._shape(schema), schema)
        return shape

    def _shape(self, schema: Mapping[str, Any]) -> _ObjectShape:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        resolved = {name: self.resolve(sub if isinstance(sub, Mapping) else {}) for name, sub in properties.items()}
        fields = tuple(
            _FieldShape(
                name=name,
                schema=resolved[name],
                kind="const" if "const" in resolved[name] else _kind(resolved[name]),
                required=name in required,
                identifying=is_identifying(name),
                generic=name in GENERIC_FIELDS,
                past=is_past_field(name),
                status=name_words(name)[-1:] in (("status",), ("state",)),
                last_word=name_words(name)[-1] if name_words(name) else "",
            )
            for name in properties
        )
        kinds = {f.name: f.kind for f in fields}
        return _ObjectShape(
            fields=fields,
            undeclared_required=tuple(sorted(required - set(properties))),
            past_fields=tuple(f.name for f in fields if f.past),
            may_misorder=sum(1 for f in fields if order_role(f.name)) >= 2,
            may_aggregate=any(is_total_field(f.name) or f.name in ("subtotal", "line_total") for f in fields),
            may_count="array" in kinds.values() and "integer" in kinds.values(),
        )

    def fits(self, value: Any, schema: Mapping[str, Any]) -> bool:
        """A quick structural check that a reused value suits ``schema`` (the rollout validates fully)."""
        schema = self.resolve(schema)
        if "const" in schema:
            return value == schema["const"]
        if "enum" in schema:
            return value in schema["enum"]
        declared = schema.get("type")
        kinds = declared if isinstance(declared, list) else [declared] if declared else None
        actual = _JSON_TYPES.get(type(value))
        if kinds and actual not in kinds and not (actual == "integer" and "number" in kinds):
            return False
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
                return False
            if "pattern" in schema and not re.search(schema["pattern"], value):
                return False
            check = _FORMAT_CHECKS.get(schema.get("format", ""))
            return check is None or check(value)
        if is_number(value):
            low, high = schema.get("minimum"), schema.get("maximum")
            above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
            return not (
                (is_number(low) and value < low)
                or (is_number(high) and value > high)
                or (is_number(above) and value <= above)
                or (is_number(below) and value >= below)
            )
        if isinstance(value, list):
            items = schema.get("items")
            return schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)) and (
                not isinstance(items, Mapping) or all(self.fits(v, items) for v in value)
            )
        if isinstance(value, dict):
            return all(name in value for name in schema.get("required", ()))
        return True

    def _measure(self, schema: Mapping[str, Any], depth: int) -> None:
        """Record the shallowest depth outside lists of each field name (the generic-name echo rule)."""
        if depth > 6:
            return
        for name, sub in (schema.get("properties") or {}).items():
            if depth < self.shallowest.get(name, depth + 1):
                self.shallowest[name] = depth
            if isinstance(sub, Mapping):
                self._measure(self.resolve(sub), depth + 1)


# --- The simulator -------------------------------------------------------------------------------

_RETRIES = 5
_OPTIONAL_DEPTH = 4  # from this depth on, objects carry required fields only: recursive schemas end
_MAX_DEPTH = 12


@dataclass(frozen=True)
class _Place:
    """Where a value sits in the result: nesting depth, inside a list or not, index as a list item."""

    depth: int = 0
    in_list: bool = False
    position: int | None = None


def _with_moment(template: str, moment: datetime) -> str:
    """``template``'s representation (date only, or date-time with its seconds/offset) at ``moment``."""
    if has_time(template) and len(template) >= 16:
        return f"{moment.date().isoformat()}{template[10]}{moment:%H:%M}{template[16:]}"
    return moment.date().isoformat()


class _Simulation:
    """One simulated call: what the call asks, what the history knows, and the output being built."""

    def __init__(self, request: SimulateToolRequest, rng: random.Random):
        self.schemas = _Schemas.of(request.tool.output_schema)
        self.arguments = request.arguments
        self.today = date.fromisoformat(request.today)
        self.rng = rng
        self.values = ValueFactory(rng, self.today)
        self.state = SessionState.read(request.history)
        verb = tool_verb(request.tool.name)
        self.action = ACTIONS.get(verb)
        self.creates = verb in _CREATING_VERBS
        self.context = tool_context(request.tool.name)
        self.subject = subject_key(list(self.arguments), self.context)
        self.item_limit = next(
            (v for k, v in self.arguments.items() if k.lower() in _LIMIT_PARAMS and isinstance(v, int) and not isinstance(v, bool) and v > 0),
            None,
        )
        self.bound_arguments: set[str] = set()
        self.bounds = self._argument_bounds()
        self.filters = {
            words[0]: value
            for name, value in self.arguments.items()
            if len(words := name_words(name)) == 1 and words[0] in _FILTER_WORDS
        }
        self.shallowest = self.schemas.shallowest

    def run(self) -> dict[str, Any]:
        root = self.schemas.resolve(self.schemas.root)
        return self.object(root, self.context, _Place(), {})

    def _argument_bounds(self) -> dict[tuple[str, ...], list[Any]]:
        """``start_date``/``end_date`` -> ``{("date",): [start, end]}``: ranges results must fall in."""
        bounds: dict[tuple[str, ...], list[Any]] = {}
        for name, value in self.arguments.items():
            if not (is_number(value) or parse_moment(value)):
                continue
            words = name_words(name)
            for side, marks in enumerate((_LOWER_MARKS, _UPPER_MARKS)):
                stem = tuple(w for w in words if w not in marks)
                if stem and len(stem) < len(words):
                    bounds.setdefault(stem, [None, None])[side] = value
                    self.bound_arguments.add(name)
        return bounds

    # Generation --------------------------------------------------------------------------------

    def value(self, schema: Mapping[str, Any], name: str, place: _Place, used: Sequence[Any] = (), reuse: bool = True) -> Any:
        schema = self.schemas.resolve(schema)
        if "const" in schema:
            return schema["const"]
        kind = _kind(schema)
        if kind == "object":
            return self.object(schema, _context_of(name), _Place(place.depth + 1, place.in_list), {})
        if kind == "array":
            return self.array(schema, name, place)
        return self.leaf(schema, name, place, used, reuse)

    def object(self, schema: Mapping[str, Any], context: Sequence[str], place: _Place, taken: dict[str, list[Any]]) -> dict[str, Any]:
        """An object; ``taken`` holds the values its list siblings already use for identifying fields."""
        if place.depth > _MAX_DEPTH:
            return {}
        shape = self.schemas.shape(schema)
        key = own_key([f.name for f in shape.fields], context)
        acted_on = self.action is not None and place.position is None and place.depth <= 1
        result: dict[str, Any] = {}
        echoed: set[str] = set()
        record: Mapping[str, Any] = {}
        for key_spec in (f for f in shape.fields if f.name == key):
            new_subject = self.creates and place.depth == 0 and key not in self.arguments
            result[key], is_echo = self.field(key_spec, place, taken, record, False, distinct=True, is_key=True, reuse=not new_subject)
            if is_echo:
                echoed.add(key)
            record = self.state.record_of(key, result[key])
            acted_on = acted_on and (place.depth == 0 or is_echo)
        # A known object shows the optional fields it showed before: a total keeps adding up.
        optional_share = 0.7 if place.depth < _OPTIONAL_DEPTH else 0.0
        for spec in shape.fields:
            if spec.name == key or not (
                spec.required or spec.name in self.arguments or (spec.name in record if record else self.rng.random() < optional_share)
            ):
                continue
            result[spec.name], is_echo = self.field(spec, place, taken, record, acted_on, distinct=_tells_apart(spec, context))
            if is_echo:
                echoed.add(spec.name)
        for name in shape.undeclared_required:
            result[name] = self.values.value({}, name)
        self.repair(result, shape, echoed)
        return {**{f.name: result[f.name] for f in shape.fields if f.name in result}, **{n: result[n] for n in shape.undeclared_required}}

    def field(
        self,
        spec: _FieldShape,
        place: _Place,
        taken: dict[str, list[Any]],
        record: Mapping[str, Any],
        acted_on: bool,
        distinct: bool,
        is_key: bool = False,
        reuse: bool = True,
    ) -> tuple[Any, bool]:
        """(value, echoes an argument): echo, then the action's mark, then the known object, then new.

        ``distinct`` fields take a value no list sibling has (``taken``).
        """
        echo = self.echo(spec, place, is_key)
        if echo is not _MISSING:
            return echo, True
        if acted_on:
            mark = self.action_mark(spec)
            if mark is not _MISSING:
                return mark, False
        used = taken.setdefault(spec.name, []) if distinct else None
        known = record.get(spec.name, _MISSING)
        if known is not _MISSING and known not in (used or ()) and self.schemas.fits(known, spec.schema):
            value = known
        elif spec.kind in ("object", "array", "const"):
            value = self.value(spec.schema, spec.name, place, used or (), reuse)
        else:
            value = self.leaf(spec.schema, spec.name, place, used or (), reuse)
        if used is not None:
            used.append(value)
        return value, False

    def echo(self, spec: _FieldShape, place: _Place, is_key: bool) -> Any:
        """The argument this field restates, if any.

        Specific names echo at any depth (a list filtered by ``customer_id`` lists that customer's
        items); generic names (``id``, ``name``) only at their shallowest level outside lists; a
        list item's own key only in the first item (the others are its siblings); range bounds
        never into list items (those fall inside the range instead); ``id`` restates the key
        argument the tool is about; a list item's ``order_date`` restates a ``date`` filter.
        """
        name = spec.name
        if name in self.arguments:
            value = self.arguments[name]
            generic_elsewhere = spec.generic and (place.in_list or place.depth != self.shallowest.get(name))
            a_sibling = is_key and place.position not in (None, 0)
            a_range_bound = place.in_list and name in self.bound_arguments
            if not (generic_elsewhere or a_sibling or a_range_bound) and self.schemas.fits(value, spec.schema):
                return value
            return _MISSING
        if name in ("id", "uuid") and self.subject and not place.in_list and place.depth == self.shallowest.get(name):
            value = self.arguments[self.subject]
            return value if self.schemas.fits(value, spec.schema) else _MISSING
        if place.in_list and spec.last_word in self.filters:
            value = self.filters[spec.last_word]
            moment = parse_moment(value) if spec.past else None
            if (not spec.past or (moment and moment.date() <= self.today)) and self.schemas.fits(value, spec.schema):
                return value
        return _MISSING

    def action_mark(self, spec: _FieldShape) -> Any:
        """What the action leaves on the object it acts on: its status and the date it happened."""
        assert self.action is not None
        status_word, stems = self.action
        if spec.status:
            if spec.schema.get("enum"):
                exact = [e for e in spec.schema["enum"] if isinstance(e, str) and e.lower() == status_word]
                if exact:
                    return exact[0]
                for stem in stems:
                    matches = [
                        e
                        for e in spec.schema["enum"]
                        if isinstance(e, str)
                        and not set(name_words(e)) & _NEGATIONS
                        and any(w.startswith(stem) for w in name_words(e))
                    ]
                    if matches:
                        return self.rng.choice(matches)
            elif self.schemas.fits(status_word, spec.schema):
                return status_word
        happened = (*stems, "creat") if self.creates else stems  # what this call did happened today
        if spec.past and any(w.startswith(stem) for w in name_words(spec.name) for stem in happened):
            drawn = self.values.value(spec.schema, spec.name)
            moment = parse_moment(drawn)
            if moment:
                stamped = _with_moment(drawn, datetime.combine(self.today, moment.time()))
                return stamped if self.schemas.fits(stamped, spec.schema) else _MISSING
        return _MISSING

    def array(self, schema: Mapping[str, Any], name: str, place: _Place) -> list[Any]:
        """At least one item where the schema allows (later calls consume items), at most the call's
        ``limit``; deep down only the required minimum, so recursive schemas end."""
        items = self.schemas.resolve(schema.get("items") or {})
        declared_low = int(schema.get("minItems", 0))
        declared_high = int(schema.get("maxItems", max(declared_low, 3)))
        shallow = place.depth < _OPTIONAL_DEPTH
        low = min(max(declared_low, 1 if shallow else 0), declared_high)
        high = max(low, declared_high) if shallow else low
        if self.item_limit:
            high = max(low, min(high, self.item_limit))
        count = self.rng.randint(low, high)
        result: list[Any] = []
        if _kind(items) == "object":
            taken: dict[str, list[Any]] = {}
            context = _context_of(name)
            for position in range(count):
                result.append(self.object(items, context, _Place(place.depth + 1, True, position), taken))
            return result
        inner = _Place(place.depth + 1, True)
        for _ in range(count):
            item = self.value(items, singular(name), inner, result)
            if not (schema.get("uniqueItems") and item in result):
                result.append(item)
        return result

    def leaf(self, schema: Mapping[str, Any], name: str, place: _Place, used: Sequence[Any], reuse: bool) -> Any:
        """A scalar: within the call's range bounds, else reused from the history, else new."""
        if self.bounds:
            bounded = self.within_bounds(name, schema)
            if bounded is not _MISSING:
                return bounded
        if reuse and name not in GENERIC_FIELDS and (not place.in_list or is_identifying(name)):
            candidates = [
                v
                for v in self.state.pool.get(name, ())
                if v not in used and self.schemas.fits(v, schema) and (not is_entity_key(name) or self.agrees(self.state.record_of(name, v)))
            ]
            if candidates:
                return self.rng.choice(candidates)
        known = self.state.pool.get(name, {}) if is_entity_key(name) else {}  # a new object gets a new id
        value = self.values.value(schema, name)
        for _ in range(_RETRIES):
            if not is_placeholder(value) and value not in used and not (_is_scalar(value) and value in known):
                break
            value = self.values.value(schema, name)
        return value

    def agrees(self, record: Mapping[str, Any]) -> bool:
        """Whether a known object fits this call: a list for one customer shows none of another's orders."""
        for name, value in record.items():
            if name in self.arguments and name not in self.bound_arguments and self.arguments[name] != value:
                return False
            last = name_words(name)[-1:]
            if last and last[0] in self.filters and name not in self.arguments and not is_past_field(name) and self.filters[last[0]] != value:
                return False
        return True

    def within_bounds(self, name: str, schema: Mapping[str, Any]) -> Any:
        words = name_words(name)
        for stem, (low, high) in self.bounds.items():
            if len(stem) > len(words) or words[-len(stem) :] != stem:
                continue
            if is_number(low if low is not None else high):
                drawn: Any = self._number_between(low, high, schema)
            else:
                drawn = self._moment_between(low, high, name, schema)
            if drawn is not _MISSING and self.schemas.fits(drawn, schema):
                return drawn
        return _MISSING

    def _number_between(self, low: Any, high: Any, schema: Mapping[str, Any]) -> Any:
        low = low if is_number(low) else 0
        high = high if is_number(high) else low * 2 + 10
        if _kind(schema) == "integer":
            return self.rng.randint(math.ceil(low), math.floor(high)) if math.ceil(low) <= math.floor(high) else _MISSING
        return round(self.rng.uniform(low, high), 2) if low <= high else _MISSING

    def _moment_between(self, low: Any, high: Any, name: str, schema: Mapping[str, Any]) -> Any:
        start = parse_moment(low).date() if parse_moment(low) else None
        end = parse_moment(high).date() if parse_moment(high) else None
        start = start or (end - timedelta(days=30) if end else None)
        end = end or (start + timedelta(days=30) if start else None)
        if start is None or end is None:
            return _MISSING
        if is_past_field(name):
            end = min(end, self.today)
        drawn = self.values.value(schema, name)
        moment = parse_moment(drawn)
        if moment is None or end < start:
            return _MISSING
        day = start + timedelta(days=self.rng.randint(0, (end - start).days))
        return _with_moment(drawn, datetime.combine(day, moment.time()))

    # Repairs -----------------------------------------------------------------------------------

    def repair(self, obj: dict[str, Any], shape: _ObjectShape, echoed: set[str]) -> None:
        """Make a generated object pass the judge's temporal and arithmetic rules; echoes stay put."""
        for name in shape.past_fields:
            moment = parse_moment(obj.get(name))
            if moment and name not in echoed and moment.date() > self.today:
                past = datetime.combine(self.today - timedelta(days=self.rng.randint(1, 60)), moment.time())
                obj[name] = _with_moment(obj[name], past)
        if shape.may_misorder:
            for begin, end in misordered_pairs(obj):
                start, finish = parse_moment(obj[begin]), parse_moment(obj[end])
                if end not in echoed:
                    shift = self.rng.randint(0, max(0, (self.today - start.date()).days)) if is_past_field(end) else self.rng.randint(1, 14)
                    obj[end] = _with_moment(obj[end], start + timedelta(days=shift, hours=0 if shift else 1))
                elif begin not in echoed:
                    obj[begin] = _with_moment(obj[begin], finish - timedelta(days=self.rng.randint(1, 14)))
        properties = {f.name: f.schema for f in shape.fields}
        if shape.may_aggregate:
            for name, expected in expected_aggregates(obj).items():
                candidate = round(expected) if _kind(properties.get(name, {})) == "integer" else expected
                if name not in echoed and self.schemas.fits(candidate, properties.get(name, {})):
                    obj[name] = candidate
        if shape.may_count:
            for count_name, list_name in count_targets(obj):
                listed = len(obj[list_name])
                if obj[count_name] < listed and count_name not in echoed and self.schemas.fits(listed, properties.get(count_name, {})):
                    obj[count_name] = listed


def simulate_tool_offline(request: SimulateToolRequest, rng: random.Random) -> SimulateToolResponse:
    """The offline simulator of method step 6: a schema-shaped result consistent with the history."""
    return SimulateToolResponse(output=_Simulation(request, rng).run())
