"""How the offline simulator reads an output schema: each subschema resolved once (through
:func:`~digit_assets.engine.schema_refs.resolve_local`), each object schema's fields with what
their names say (kind, identifying, past-tense, status), kept across calls per schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from digit_assets.engine.lexicon import name_words
from digit_assets.engine.offline.fields import (
    is_number,
    is_past_field,
    is_total_field,
    order_role,
    parse_moment,
)
from digit_assets.engine.offline.session import (
    GENERIC_FIELDS,
    is_identifying,
)
from digit_assets.engine.schema_refs import resolve_local
from digit_assets.engine.synthesis.simulation import MISSING, TIME_OF_DAY, IdentityCache

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMAT_CHECKS = {
    "date": lambda v: len(v) == 10 and parse_moment(v) is not None,
    "date-time": lambda v: bool(_DATE_TIME.match(v)) and parse_moment(v) is not None,
    "time": lambda v: bool(TIME_OF_DAY.match(v)),
    "email": lambda v: bool(_EMAIL.match(v)),
    "uri": lambda v: "://" in v,
    "url": lambda v: "://" in v,
    "uuid": lambda v: bool(_UUID.match(v)),
}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}


def json_kind(schema: Mapping[str, Any]) -> str:
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
class FieldShape:
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
class ObjectShape:
    fields: tuple[FieldShape, ...]
    undeclared_required: tuple[str, ...]
    past_fields: tuple[str, ...]
    may_misorder: bool  # two fields with begin/end roles
    may_aggregate: bool  # a total, subtotal or line total
    may_count: bool  # an integer next to a list


class Schemas:
    """Resolved subschemas and object shapes of one output schema, kept across calls (see :meth:`of`)."""

    _BY_ROOT = IdentityCache(4_096)

    def __init__(self, root: Mapping[str, Any]):
        self.root = root
        self._resolved = IdentityCache(4_096)
        self._shapes = IdentityCache(1_024)
        self.shallowest: dict[str, int] = {}
        self._measure(self.resolve(root), 0)

    @classmethod
    def of(cls, root: Mapping[str, Any]) -> Schemas:
        schemas = cls._BY_ROOT.get(root)
        return cls._BY_ROOT.put(cls(root), root) if schemas is MISSING else schemas

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        resolved = self._resolved.get(schema)
        if resolved is MISSING:
            resolved = self._resolved.put(resolve_local(schema, self.root, nullable_branch=True) or schema, schema)
            self._resolved.put(resolved, resolved)
        return resolved

    def shape(self, schema: Mapping[str, Any]) -> ObjectShape:
        shape = self._shapes.get(schema)
        if shape is MISSING:
            shape = self._shapes.put(self._shape(schema), schema)
        return shape

    def _shape(self, schema: Mapping[str, Any]) -> ObjectShape:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        resolved = {name: self.resolve(sub if isinstance(sub, Mapping) else {}) for name, sub in properties.items()}
        fields = tuple(
            FieldShape(
                name=name,
                schema=resolved[name],
                kind="const" if "const" in resolved[name] else json_kind(resolved[name]),
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
        return ObjectShape(
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
