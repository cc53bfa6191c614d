"""BFCL-style function docs (Berkeley Function-Calling Leaderboard), usually JSONL, one doc a line.

A doc is ``{"name", "description", "parameters": {"type": "dict", ...}, "response"?}`` in BFCL's
Python-flavoured dialect of JSON Schema. Every (sub)schema is normalized to standard JSON Schema:
``dict`` -> ``object``, ``float`` -> ``number``, ``tuple`` -> ``array``, and ``any`` drops the
``type`` keyword (anything goes). The optional ``response`` becomes the output schema.

BFCL names often carry dots (``math.factorial``); they are renamed to OpenAI's alphabet
(``math_factorial``) and the tool's position records the original name.
"""

from __future__ import annotations

import copy
from typing import Any

from digit_assets.engine.ingest.model import Entry, ItemProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import iter_subschemas, json_type_name

_STANDARD_TYPES = {"dict": "object", "float": "number", "tuple": "array"}
_UNTYPED = "any"
_DIALECT_TYPES = frozenset({*_STANDARD_TYPES, _UNTYPED})


def uses_bfcl_dialect(item: dict[str, Any]) -> bool:
    """Evidence of BFCL over plain OpenAI: a top-level ``dict``-style parameter type, or a ``response``."""
    parameters = item.get("parameters")
    return "response" in item or (isinstance(parameters, dict) and parameters.get("type") in _DIALECT_TYPES)


def read_entry(entry: Entry) -> ToolDraft | ItemProblem:
    """One function doc as a draft with its schemas in standard JSON Schema."""
    item = entry.value
    if not isinstance(item, dict):
        return ItemProblem(entry.position, f"a function doc must be a JSON object, not {json_type_name(item)}", item)
    return ToolDraft(
        position=entry.position,
        raw=item,
        name=item.get("name"),
        description=item.get("description"),
        parameters=normalize_schema(item.get("parameters")),
        output_schema=normalize_schema(item.get("response")),
        may_rename=True,
    )


def normalize_schema(schema: Any) -> Any:
    """A copy of a BFCL schema in standard JSON Schema; a non-object is returned for the checks to reject."""
    if not isinstance(schema, dict):
        return schema
    normalized = copy.deepcopy(schema)
    for subschema in iter_subschemas(normalized):
        declared = subschema.get("type")
        types = declared if isinstance(declared, list) else [declared]
        if _UNTYPED in types:
            del subschema["type"]
        elif "type" in subschema:
            standard = [_STANDARD_TYPES.get(name, name) if isinstance(name, str) else name for name in types]
            subschema["type"] = standard if isinstance(declared, list) else standard[0]
    return normalized
