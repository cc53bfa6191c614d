"""MCP ``tools/list`` results: ``{"tools": [{name, description, inputSchema, outputSchema?}]}``.

The result may come bare or in its JSON-RPC envelope (``{"jsonrpc": "2.0", "id": ..,
"result": {"tools": [...]}}``); format detection unwraps it. MCP allows ``.`` and ``/`` in names,
so names are renamed to OpenAI's alphabet, the original kept in the tool's position. ``title`` is a
display hint with no place in a ToolSpec; ``annotations`` (``readOnlyHint``, ``destructiveHint``)
give the tool's side-effect class (:mod:`digit_assets.engine.side_effects`).
"""

from __future__ import annotations

from typing import Any

from digit_assets.engine.ingest.model import Entry, ItemProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import json_type_name


def looks_like_mcp_tool(item: dict[str, Any]) -> bool:
    """MCP's own keys (``inputSchema``/``outputSchema``) are what set it apart from OpenAI lists."""
    return "inputSchema" in item or "outputSchema" in item


def read_entry(entry: Entry) -> ToolDraft | ItemProblem:
    """One MCP tool as a draft."""
    item = entry.value
    if not isinstance(item, dict):
        return ItemProblem(entry.position, f"a tool must be a JSON object, not {json_type_name(item)}", item)
    return ToolDraft(
        position=entry.position,
        raw=item,
        name=item.get("name"),
        description=item.get("description"),
        parameters=item.get("inputSchema"),
        output_schema=item.get("outputSchema"),
        may_rename=True,
    )
