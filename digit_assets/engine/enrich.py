"""Output-schema enrichment (method.md step 2): every tool gets the JSON Schema of a successful result.

Plans chain calls through outputs (``"$1.orders[0].order_id"``), so a tool without a declared output
schema cannot take part until one is inferred. The inference goes through the LLM port
(:data:`~digit_assets.engine.llm.roles.INFER_OUTPUT_SCHEMA`); whatever answers, the schema must be a
valid JSON Schema of type object or the tool is quarantined with the reason.

The offline default (:func:`infer_output_schema_offline`) reads the tool name as verb + entity
(``list_orders``, ``getOrderDetails``, ``cancel_booking``) and writes the result a well-designed API
would return, reusing parameter names and types so identifiers flow from one tool to the next.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import BaseModel

from digit_assets.engine.llm import LLM, LLMError
from digit_assets.engine.llm.roles import INFER_OUTPUT_SCHEMA, OutputSchemaRequest, OutputSchemaResponse
from digit_assets.engine.provenance import derive_seed
from digit_assets.engine.specs import Rejection, ToolSpec

_RAW_LIMIT = 2_000

# --- Words: splitting identifiers, singular and plural ---------------------------------------------

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+\d*|\d+")


def split_words(name: str) -> list[str]:
    """``getOrderDetails`` / ``get_order_details`` / ``OrderID`` -> lower-case words."""
    return [word.lower() for word in _WORD.findall(name)]


def normalize_name(name: str) -> str:
    """One spelling for every naming style: ``orderId``, ``OrderID`` and ``order_id`` -> ``order_id``."""
    return "_".join(split_words(name))


# Nouns with no separate plural: never singularized, never pluralized.
_UNCOUNTABLE = frozenset(
    "advice analytics availability data equipment feedback hardware health information info inventory "
    "metadata money music news pricing series software species traffic weather".split()
)
_IRREGULAR_PLURALS = {
    "person": "people", "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "foot": "feet", "tooth": "teeth", "goose": "geese", "criterion": "criteria", "index": "indices",
    "matrix": "matrices", "vertex": "vertices", "leaf": "leaves", "knife": "knives", "wife": "wives",
    "life": "lives", "shelf": "shelves", "half": "halves", "wolf": "wolves", "quiz": "quizzes",
    "analysis": "analyses", "axis": "axes", "thesis": "theses", "crisis": "crises", "diagnosis": "diagnoses",
}
_IRREGULAR_SINGULARS = {plural: singular for singular, plural in _IRREGULAR_PLURALS.items()}
# Singular nouns that end like plurals.
_SINGULAR_S_ENDINGS = ("ss", "us", "is", "ics")
_SINGULAR_AS_WORDS = frozenset({"alias", "atlas", "bias", "canvas", "gas", "sms", "dns", "os", "yes"})


def singularize(word: str) -> str:
    """English singular of one lower-case word; words already singular come back unchanged."""
    if word in _UNCOUNTABLE or word in _SINGULAR_AS_WORDS or word in _IRREGULAR_PLURALS:
        return word
    if word in _IRREGULAR_SINGULARS:
        return _IRREGULAR_SINGULARS[word]
    if len(word) < 3 or not word.endswith("s") or word.endswith(_SINGULAR_S_ENDINGS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh|us)es$", word):
        return word[:-2]
    return word[:-1]


def pluralize(word: str) -> str:
    """English plural of one lower-case singular word."""
    if word in _UNCOUNTABLE:
        return word
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def _is_plural(word: str) -> bool:
    return singularize(word) != word


# --- Tool names: verb and entity -------------------------------------------------------------------

Action = Literal["list", "get", "create", "update", "state", "delete", "validate", "other"]

_VERBS: dict[str, Action] = {
    **dict.fromkeys(
        "list search find query browse filter enumerate discover explore".split(), "list"
    ),
    **dict.fromkeys(
        "get fetch retrieve read show view describe lookup check load obtain inspect display track see".split(), "get"
    ),
    **dict.fromkeys(
        (
            "create add new make book place register submit post open insert schedule reserve send issue "
            "generate upload start initiate request apply subscribe enroll invite rent buy purchase pay "
            "transfer refund log record save share checkout"
        ).split(),
        "create",
    ),
    **dict.fromkeys(
        "update edit modify change set patch put rename reschedule assign move adjust replace upgrade downgrade "
        "reset extend renew rate mark".split(),
        "update",
    ),
    **dict.fromkeys("delete remove destroy erase purge drop unlink detach".split(), "delete"),
    **dict.fromkeys("validate verify".split(), "validate"),
}
# Verbs that move a record into a named state: the result reports that state.
_STATE_VERBS = {
    "cancel": "cancelled", "close": "closed", "revoke": "revoked", "void": "voided", "terminate": "terminated",
    "end": "ended", "stop": "stopped", "archive": "archived", "suspend": "suspended", "reject": "rejected",
    "decline": "declined", "deactivate": "deactivated", "withdraw": "withdrawn", "unsubscribe": "unsubscribed",
    "approve": "approved", "confirm": "confirmed", "complete": "completed", "activate": "activated",
    "enable": "enabled", "disable": "disabled", "lock": "locked", "unlock": "unlocked", "block": "blocked",
    "unblock": "unblocked", "pause": "paused", "resume": "resumed", "reopen": "reopened", "accept": "accepted",
    "restore": "restored", "resolve": "resolved",
}
# What a creating verb makes when its object already exists (``book_flight(flight_id)`` makes a booking).
_CREATED_NOUNS = {
    "book": "booking", "reserve": "reservation", "pay": "payment", "buy": "purchase", "purchase": "purchase",
    "transfer": "transfer", "refund": "refund", "subscribe": "subscription", "register": "registration",
    "apply": "application", "enroll": "enrollment", "rent": "rental", "checkout": "order", "invite": "invitation",
    "request": "request", "send": "message", "schedule": "appointment", "share": "share", "rate": "rating",
}
_PREPOSITIONS = frozenset("by for from of with to in on at into via using per within between under".split())
_FILLERS = frozenset(
    "a an the all my current existing available recent latest single specific bulk batch multiple new one given".split()
)
# Trailing words that describe a view of the entity, not another entity (``getOrderDetails`` is an order).
_VIEW_WORDS = frozenset({"details", "detail", "info", "information", "data", "status", "state"})
_VERSION = re.compile(r"^(v\d+|\d+|api)$")


@dataclass(frozen=True)
class ToolName:
    """What a tool name says: the action, the verb as written, and the (singular) entity words."""

    action: Action
    verb: str | None
    entity: tuple[str, ...]
    collection: bool
    view: tuple[str, ...]
    camel: bool

    @property
    def entity_key(self) -> str:
        return "_".join(self.entity)


def parse_tool_name(name: str) -> ToolName:
    """``list_orders`` -> list of order; ``getOrderDetails`` -> get order; ``orders_list`` works too."""
    words = [word for word in split_words(name) if not _VERSION.match(word)]
    camel = "_" not in name and re.search(r"[a-z][A-Z]", name) is not None
    verb, action = None, None
    if words and _verb_action(words[0]):
        verb, action, words = words[0], _verb_action(words[0]), words[1:]
    elif len(words) > 1 and _verb_action(words[-1]):
        verb, action, words = words[-1], _verb_action(words[-1]), words[:-1]
    for index, word in enumerate(words):
        if word in _PREPOSITIONS:
            words = words[:index]
            break
    words = [word for word in words if word not in _FILLERS]
    view: list[str] = []
    while len(words) > 1 and words[-1] in _VIEW_WORDS:
        view.insert(0, words.pop())
    if action is None:
        if view or len(words) == 1:
            action = "get"
        elif words:
            verb, action, words = words[0], "other", words[1:]
        else:
            action = "other"
    collection = bool(words) and _is_plural(words[-1])
    if collection and action == "get":
        action = "list"
    entity = tuple(words[:-1] + [singularize(words[-1])]) if words else ()
    return ToolName(action=action, verb=verb, entity=entity, collection=collection, view=tuple(view), camel=camel)


def _verb_action(word: str) -> Action | None:
    if word in _STATE_VERBS:
        return "state"
    return _VERBS.get(word)


# --- Field schemas from names ----------------------------------------------------------------------

_NUMBER_WORDS = frozenset(
    "price cost amount balance fee fare total subtotal rating score distance temperature humidity latitude "
    "longitude weight discount tax".split()
)
_INTEGER_WORDS = frozenset("quantity count age year nights guests seats capacity stock".split())
# Description words that name a field a result commonly carries (``"returns the status and price"``).
_DESCRIBED_FIELDS = _NUMBER_WORDS | frozenset(
    "status email phone address name title currency priority category location city country url date "
    "quantity capacity".split()
)
_CONTROL_PARAMS = frozenset(
    "limit offset page page_size per_page page_token page_number cursor next_token next_page_token sort sort_by "
    "sort_order order_by direction fields include expand format verbose max_results top skip".split()
)
_FREE_TEXT_PARAMS = frozenset("query q search keyword keywords term text search_term search_query prompt".split())
_RANGE_BOUNDS = frozenset("min max from to start end earliest latest".split())
_ID_SUFFIXES = ("id", "uuid", "number", "code", "reference", "ref")


def field_schema(words: Sequence[str]) -> dict[str, Any]:
    """The schema a field name implies: ``created_at`` is a date-time, ``customer_email`` an email."""
    last = words[-1] if words else ""
    if last in ("at", "timestamp", "datetime"):
        return {"type": "string", "format": "date-time"}
    if last in ("date", "birthday", "dob"):
        return {"type": "string", "format": "date"}
    if last == "email":
        return {"type": "string", "format": "email"}
    if last in ("url", "uri", "link", "website"):
        return {"type": "string", "format": "uri"}
    if words and words[0] in ("is", "has", "can"):
        return {"type": "boolean"}
    if last in _INTEGER_WORDS:
        return {"type": "integer", "minimum": 0}
    if last in _NUMBER_WORDS:
        return {"type": "number"}
    return {"type": "string"}


def _portable(schema: Any) -> dict[str, Any]:
    """The part of a parameter schema that also describes the echoed value (no description, no $ref)."""
    if not isinstance(schema, Mapping):
        return {}
    kept: dict[str, Any] = {key: schema[key] for key in ("type", "format", "enum", "const") if key in schema}
    if isinstance(schema.get("items"), Mapping):
        kept["items"] = _portable(schema["items"])
    if isinstance(schema.get("properties"), Mapping):
        kept["properties"] = {name: _portable(sub) for name, sub in schema["properties"].items()}
        required = [name for name in schema.get("required", []) if name in kept["properties"]]
        if required:
            kept["required"] = required
    return kept


@dataclass(frozen=True)
class _Param:
    name: str
    words: tuple[str, ...]
    schema: dict[str, Any]
    required: bool

    @property
    def key(self) -> str:
        return "_".join(self.words)

    def echo(self) -> dict[str, Any]:
        return self.schema or field_schema(self.words)


def _params(parameters: Mapping[str, Any]) -> list[_Param]:
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = set(parameters.get("required") or [])
    return [
        _Param(name=name, words=tuple(split_words(name)), schema=_portable(sub), required=name in required)
        for name, sub in properties.items()
    ]


class _Shape:
    """An object schema under construction: properties in insertion order, required in order."""

    def __init__(self, camel: bool):
        self.camel = camel
        self.properties: dict[str, dict[str, Any]] = {}
        self.required: list[str] = []

    def name(self, words: Sequence[str]) -> str:
        if self.camel:
            return words[0] + "".join(word.capitalize() for word in words[1:])
        return "_".join(words)

    def add(self, name: str, schema: dict[str, Any], *, required: bool = True) -> None:
        if normalize_name(name) in {normalize_name(existing) for existing in self.properties}:
            return
        self.properties[name] = schema
        if required:
            self.required.append(name)

    def add_words(self, words: Sequence[str], *, required: bool = True) -> None:
        self.add(self.name(words), field_schema(words), required=required)

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": self.properties, "required": self.required}


# --- The offline inference -------------------------------------------------------------------------


def infer_output_schema_offline(request: OutputSchemaRequest, rng: random.Random) -> OutputSchemaResponse:
    """The offline default of the enrichment role. ``rng`` is unused: a tool always gets the same schema."""
    name = parse_tool_name(request.tool_name)
    params = _params(request.parameters)
    camel = any(re.search(r"[a-z][A-Z]", p.name) and "_" not in p.name for p in params) or (
        not params and name.camel
    )
    builders = {
        "list": _list_result,
        "get": _get_result,
        "create": _create_result,
        "update": _update_result,
        "state": _state_result,
        "delete": _delete_result,
        "validate": _validate_result,
        "other": _other_result,
    }
    shape = _Shape(camel)
    builders[name.action](shape, name, params, request.description)
    return OutputSchemaResponse(output_schema=shape.schema())


def _own_id(name: ToolName, params: Sequence[_Param], *, bare_id_allowed: bool = True) -> _Param | None:
    """The parameter that identifies the tool's own entity: ``order_id`` for an order, or a bare ``id``."""
    for param in params:
        if name.entity and param.words[:-1] == name.entity and param.words[-1] in _ID_SUFFIXES:
            return param
    if bare_id_allowed:
        return next((param for param in params if param.key == "id"), None)
    return None


def _owner_id(name: ToolName, params: Sequence[_Param]) -> _Param | None:
    """``get_user_profile(user_id)``: a profile has no id of its own, its user identifies it."""
    for param in params:
        owner = param.words[:-1]
        if owner and param.words[-1] == "id" and len(owner) < len(name.entity) and name.entity[: len(owner)] == owner:
            return param
    return None


def _foreign_ids(params: Sequence[_Param], own: _Param | None) -> list[_Param]:
    """Ids of other entities the call was given: echoed so they flow on (``customer_id`` of an order)."""
    return [p for p in params if p is not own and len(p.words) > 1 and p.words[-1] == "id"]


def _entity_words(name: ToolName, fallback: str) -> list[str]:
    return list(name.entity) if name.entity else [fallback]


def _described_fields(shape: _Shape, description: str, extra: Iterable[str] = ()) -> bool:
    """Fields named in the description (``"with its status and total price"``); True when any was added."""
    words = [singularize(word) for word in re.findall(r"[a-z]+", description.lower())]
    found = [word for word in [*extra, *words] if word in _DESCRIBED_FIELDS]
    before = len(shape.properties)
    for word in dict.fromkeys(found):
        shape.add_words([word])
    return len(shape.properties) > before


def _add_id(shape: _Shape, entity: Sequence[str], own: _Param | None) -> None:
    if own is not None:
        shape.add(own.name, own.echo())
    else:
        shape.add_words([*entity, "id"])


def _record_fields(shape: _Shape, entity: Sequence[str], description: str, view: Sequence[str]) -> None:
    """Descriptive fields of a record: from the description, else the fields every record has."""
    if _described_fields(shape, description, view):
        return
    if entity[-1] in _UNCOUNTABLE:
        shape.add_words(["summary"])
    else:
        shape.add_words(["status"])
        shape.add_words(["created", "at"])


def _range_base(words: tuple[str, ...]) -> tuple[str, ...]:
    """``min_price`` / ``price_max`` / ``start_date`` filter on ``price`` / ``date``."""
    if len(words) > 1 and words[0] in _RANGE_BOUNDS:
        return words[1:]
    if len(words) > 1 and words[-1] in _RANGE_BOUNDS:
        return words[:-1]
    return words


def _list_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    entity = _entity_words(name, "item")
    item = _Shape(shape.camel)
    _add_id(item, entity, _own_id(name, params, bare_id_allowed=False))
    for param in params:
        if param.key in _CONTROL_PARAMS or param.key in _FREE_TEXT_PARAMS:
            continue
        base = _range_base(param.words)
        if base == param.words:
            item.add(param.name, param.echo(), required=param.required)
        else:
            item.add(item.name(base), param.schema or field_schema(base), required=False)
    if any(param.key in _FREE_TEXT_PARAMS for param in params):
        item.add_words(["name"])
    _record_fields(item, entity, description, name.view)
    collection = shape.name([*entity[:-1], pluralize(entity[-1])])
    shape.add(collection, {"type": "array", "items": item.schema()})
    shape.add("total", {"type": "integer", "minimum": 0})


def _get_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    entity = _entity_words(name, "item")
    own = _own_id(name, params) or _owner_id(name, params)
    if own is not None or entity[-1] not in _UNCOUNTABLE:
        _add_id(shape, entity, own)
    for param in params:
        if param is not own and param.key not in _CONTROL_PARAMS and param.key not in _FREE_TEXT_PARAMS:
            shape.add(param.name, param.echo(), required=param.required)
    _record_fields(shape, entity, description, name.view)


def _created_entity(name: ToolName, params: Sequence[_Param]) -> tuple[list[str], _Param | None]:
    """What the call creates, and the existing entity it was made for when the verb implies another noun."""
    implied = _CREATED_NOUNS.get(name.verb or "")
    existing = _own_id(name, params, bare_id_allowed=False)
    if implied and (not name.entity or existing is not None or name.entity[-1] in _UNCOUNTABLE):
        return [implied], existing
    return _entity_words(name, "item"), None


def _create_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    created, existing = _created_entity(name, params)
    shape.add_words([*created, "id"])
    shape.add_words(["status"])
    shape.add_words(["created", "at"])
    if existing is not None:
        shape.add(existing.name, existing.echo())
    for param in _foreign_ids(params, existing):
        shape.add(param.name, param.echo(), required=param.required)


def _update_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    entity = _entity_words(name, "item")
    own = _own_id(name, params)
    _add_id(shape, entity, own)
    shape.add_words(["status"])
    shape.add_words(["updated", "at"])
    for param in params:
        if param is not own and param.key not in _CONTROL_PARAMS:
            shape.add(param.name, param.echo(), required=param.required)


def _state_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    entity = _entity_words(name, "item")
    own = _own_id(name, params)
    state = _STATE_VERBS[name.verb or ""]
    _add_id(shape, entity, own)
    shape.add(shape.name(["status"]), {"type": "string", "enum": [state]})
    shape.add_words([state, "at"])
    for param in _foreign_ids(params, own):
        shape.add(param.name, param.echo(), required=param.required)


def _delete_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    own = _own_id(name, params)
    if own is not None:
        shape.add(own.name, own.echo())
    shape.add("deleted", {"type": "boolean"})


def _validate_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    shape.add("valid", {"type": "boolean"})
    shape.add_words(["message"], required=False)
    for param in _foreign_ids(params, None):
        shape.add(param.name, param.echo(), required=param.required)


def _other_result(shape: _Shape, name: ToolName, params: Sequence[_Param], description: str) -> None:
    """An unknown verb (``calculate_shipping_cost``): the result is the entity it names."""
    shape.add_words(list(name.entity) if name.entity else ["result"])
    for param in _foreign_ids(params, None):
        shape.add(param.name, param.echo(), required=param.required)


# --- Enrichment through the LLM port ---------------------------------------------------------------


class EnrichedTool(BaseModel):
    """A tool with the output schema plans need; one row of ``enriched_tools``."""

    spec: ToolSpec
    output_schema: dict[str, Any]
    output_origin: Literal["declared", "inferred"]
    llm: str


def output_schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot serve as an output schema (invalid JSON Schema, or not an object); None if it can."""
    if not isinstance(schema, Mapping):
        return f"output schema is a {type(schema).__name__}, not a JSON object"
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return f"output schema is not a valid JSON Schema: {exc.message}"
    if schema.get("type") != "object":
        return f"output schema has top-level type {schema.get('type')!r}, not 'object'"
    return None


def _says_required(schema: Any) -> bool:
    """Whether any (sub)schema has the ``required`` keyword (a property named so does not count)."""
    if isinstance(schema, list):
        return any(_says_required(value) for value in schema)
    if not isinstance(schema, Mapping):
        return False
    if "required" in schema:
        return True
    properties = schema.get("properties")
    nested = [value for key, value in schema.items() if key != "properties"]
    if isinstance(properties, Mapping):
        nested += list(properties.values())
    return any(_says_required(value) for value in nested)


def with_presence_inferred(schema: dict[str, Any]) -> dict[str, Any]:
    """A declared output schema that never says ``required`` (BFCL ``response`` docs rarely do) lists
    the fields a result has: every declared property becomes required, so plans may reference it and
    simulators return it. A schema that uses ``required`` anywhere is kept as its author wrote it.

    A property whose ``$ref`` points back to an object being completed stays optional, so a recursive
    schema (a comment with a parent comment) still has finite instances.
    """
    if _says_required(schema):
        return schema
    completed = json.loads(json.dumps(schema))

    def complete(node: Any, ancestors: tuple[str, ...], pointer: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                complete(item, ancestors, f"{pointer}/{index}")
            return
        if not isinstance(node, dict):
            return
        properties = node.get("properties")
        if isinstance(properties, dict):
            inside = (*ancestors, pointer)
            node["required"] = [
                name
                for name, sub in properties.items()
                if not (isinstance(sub, Mapping) and isinstance(sub.get("$ref"), str) and sub["$ref"] in inside)
            ]
            ancestors = inside
            for name, sub in properties.items():
                complete(sub, ancestors, f"{pointer}/properties/{name}")
        for key, value in node.items():
            if key not in ("required", "properties"):
                complete(value, ancestors, f"{pointer}/{key}")

    complete(completed, (), "#")
    return completed


def enrich_tools(specs: Sequence[ToolSpec], llm: LLM, *, seed: int) -> tuple[list[EnrichedTool], list[Rejection]]:
    """Keep declared output schemas, infer the missing ones; a tool that cannot get one is rejected.

    A declared schema without any ``required`` gets its properties as required
    (:func:`with_presence_inferred`); otherwise no output field could ever be planned with.

    Each inference is seeded from ``seed`` and the tool's qualified name, so a tool's schema does not
    depend on which other tools are enriched alongside it.
    """
    enriched: list[EnrichedTool] = []
    rejections: list[Rejection] = []
    for spec in specs:
        if spec.output_schema is not None:
            schema, origin, label = spec.output_schema, "declared", "-"
            if isinstance(schema, dict):
                schema = with_presence_inferred(schema)
        else:
            request = OutputSchemaRequest(tool_name=spec.name, description=spec.description, parameters=spec.parameters)
            try:
                answer = llm.call(INFER_OUTPUT_SCHEMA, request, seed=derive_seed(seed, spec.qualified_name))
            except LLMError as exc:
                rejections.append(_rejection(spec, f"output schema inference failed: {exc}"))
                continue
            schema, origin, label = answer.output_schema, "inferred", llm.label
        problem = output_schema_problem(schema)
        if problem is not None:
            rejections.append(_rejection(spec, f"{origin} {problem}", raw=json.dumps(schema, default=str)[:_RAW_LIMIT]))
            continue
        enriched.append(EnrichedTool(spec=spec, output_schema=schema, output_origin=origin, llm=label))
    return enriched, rejections


def _rejection(spec: ToolSpec, reason: str, raw: str | None = None) -> Rejection:
    return Rejection(
        stage="enrichment", source=spec.source_file, item=spec.qualified_name, position=spec.position, reason=reason, raw=raw
    )
