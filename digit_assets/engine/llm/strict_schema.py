"""OpenAI's strict structured-output subset of JSON Schema, and the deterministic fallback when a
schema does not fit it.

Grammar-based servers (llama.cpp, vLLM, Ollama) enforce the full per-request schema the port sends
(``"strict": false`` is the OpenAI wire form; they enforce it anyway). OpenAI enforces a schema only
with ``"strict": true``, and then accepts a subset: every object closed (``additionalProperties:
false``) with every property required, no free-form objects, a limited keyword set, no
``prefixItems``, at most 10 levels of object nesting, 5,000 properties, 1,000 enum values and
120,000 characters of names and enum values. :func:`strict_subset` rewrites a schema into that subset
the same way every time (optional properties are left out, tuples become arrays of the union of
their items, unsupported keywords are dropped; the client still validates every answer against
the role's full model) or says why it cannot, and the client then sends the full schema with
``"strict": false``.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 10
MAX_PROPERTIES = 5_000
MAX_ENUM_VALUES = 1_000
MAX_TEXT_CHARS = 120_000
_KEPT = frozenset(
    {
        "type", "description", "enum", "const", "pattern", "format", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    }
)
_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})


class NotStrict(ValueError):
    """Why a schema has no strict-mode equivalent."""


def strict_subset(schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """``(strict schema, "")``, or ``(None, why)`` when the schema cannot be sent in strict mode."""
    try:
        if "anyOf" in schema or schema.get("type") != "object":
            raise NotStrict("the top level must be one object, not a union")
        converted = _convert(schema, "")
        _check_limits(converted)
    except NotStrict as exc:
        return None, str(exc)
    return converted, ""


def _convert(schema: Any, where: str) -> dict[str, Any]:
    if not isinstance(schema, dict) or not schema:
        raise NotStrict(f"{where or 'the top level'} is a free-form value")
    if "anyOf" in schema or "oneOf" in schema:
        branches = schema.get("anyOf", schema.get("oneOf"))
        return {"anyOf": _unique([_convert(branch, where) for branch in branches])}
    out = {key: value for key, value in schema.items() if key in _KEPT}
    if "format" in out and out["format"] not in _FORMATS:
        del out["format"]
    if "properties" in schema or schema.get("type") == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict) or (not properties and schema.get("additionalProperties") is not False):
            raise NotStrict(f"{where or 'the top level'} is a free-form object")
        required = [name for name in schema.get("required", ()) if name in properties]
        out["type"] = "object"
        out["properties"] = {name: _convert(properties[name], f"{where}.{name}".lstrip(".")) for name in required}
        out["required"] = required
        out["additionalProperties"] = False
        return out
    if "prefixItems" in schema or "items" in schema:
        items = schema.get("prefixItems") or [schema.get("items")]
        converted = _unique([_convert(item, f"{where}[]") for item in items])
        out["type"] = "array"
        out["items"] = converted[0] if len(converted) == 1 else {"anyOf": converted}
        return out
    if not ({"type", "enum", "const"} & out.keys()):
        raise NotStrict(f"{where or 'the top level'} is a free-form value")
    return out


def _unique(schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for schema in schemas:
        if schema not in seen:
            seen.append(schema)
    return seen


def _check_limits(schema: dict[str, Any]) -> None:
    depth = properties = enum_values = text = 0

    def walk(node: Any, level: int) -> None:
        nonlocal depth, properties, enum_values, text
        if isinstance(node, list):
            for item in node:
                walk(item, level)
            return
        if not isinstance(node, dict):
            return
        if "properties" in node:
            level += 1
            depth = max(depth, level)
            properties += len(node["properties"])
            text += sum(len(name) for name in node["properties"])
        for key in ("enum",):
            values = node.get(key) or []
            enum_values += len(values)
            text += sum(len(value) for value in values if isinstance(value, str))
        if isinstance(node.get("const"), str):
            text += len(node["const"])
        for key in ("properties",):
            walk(list(node.get(key, {}).values()), level)
        for key in ("items", "anyOf"):
            if key in node:
                walk(node[key], level)

    walk(schema, 0)
    for what, value, limit in (
        ("levels of object nesting", depth, MAX_DEPTH),
        ("properties", properties, MAX_PROPERTIES),
        ("enum values", enum_values, MAX_ENUM_VALUES),
        ("characters of names and enum values", text, MAX_TEXT_CHARS),
    ):
        if value > limit:
            raise NotStrict(f"{value} {what} (strict mode allows {limit})")
