"""OpenAI tool lists: ``{"type": "function", "function": {...}}`` entries, or bare function objects.

The file is a JSON list, JSONL (one entry a line) or ``{"tools": [...]}``. OpenAI function specs
declare no output; a function object may carry a non-standard ``output_schema`` (or, failing that,
``returns``) holding a JSON Schema, which becomes the tool's output schema so enrichment need not
infer one. Either key, when present, must hold a valid schema object or the tool is rejected.

Names are checked against OpenAI's own rule and rejected, not repaired, when they break it: a
file that claims to be an OpenAI tool list with such a name would be refused by OpenAI too.
"""

from __future__ import annotations

from typing import Any

from digit_assets.engine.ingest.model import Entry, ItemProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import json_type_name


def is_wrapped(item: dict[str, Any]) -> bool:
    """``{"type": "function", "function": {...}}`` rather than a bare function object."""
    return item.get("type") == "function" or "function" in item


def looks_like_function(item: dict[str, Any]) -> bool:
    """A wrapped entry or a bare function object (what format detection counts as evidence)."""
    return is_wrapped(item) or "name" in item or "parameters" in item


def read_entry(entry: Entry) -> ToolDraft | ItemProblem:
    """One list entry as a draft, or why it is not a function tool."""
    item = entry.value
    if not isinstance(item, dict):
        return ItemProblem(entry.position, f"a tool entry must be a JSON object, not {json_type_name(item)}", item)
    if "type" in item and item["type"] != "function":
        return ItemProblem(entry.position, f"tool type {item['type']!r} is not 'function'", item)
    function = item.get("function") if is_wrapped(item) else item
    if not isinstance(function, dict):
        return ItemProblem(entry.position, f"'function' must be a JSON object, not {json_type_name(function)}", item)
    output_key = "output_schema" if "output_schema" in function else "returns"
    return ToolDraft(
        position=entry.position,
        raw=item,
        name=function.get("name"),
        description=function.get("description"),
        parameters=function.get("parameters"),
        output_schema=function.get(output_key),
    )
