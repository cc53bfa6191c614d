"""From a file's bytes to its format and tool drafts: parse by extension, recognize the format by content.

Extensions only choose the parser (``.jsonl`` one JSON value a line, ``.yaml``/``.yml`` YAML,
``.json`` JSON); what the parsed document *is* is read from its shape, so ``tools.json`` may be
an OpenAI list, a BFCL list, an MCP result or an OpenAPI document:

- an object with ``openapi`` -> OpenAPI 3.x (``swagger`` 2.0 is refused by name);
- an object with ``jsonrpc`` -> an MCP ``tools/list`` response, its tools under ``result.tools``;
- an object with a ``tools`` list, a JSON list, or JSONL -> a tool list, whose entries decide:
  MCP keys (``inputSchema``) -> MCP; BFCL dialect (``"type": "dict"`` parameters, ``response``) ->
  BFCL; wrapped or bare function objects -> OpenAI. An empty list is an empty tool list of the
  format its wrapping suggests (MCP for ``{"tools": []}``, OpenAI for ``[]``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from digit_assets.engine.ingest import bfcl, mcp, openai_tools, openapi
from digit_assets.engine.ingest.model import Entry, FileProblem, ItemProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import json_type_name
from digit_assets.engine.specs import SourceFormat

Items = list[ToolDraft | ItemProblem]


class _JsonCompatibleLoader(yaml.SafeLoader):
    """YAML read the way JSON would read it: ``2024-05-01`` stays a string, not a ``datetime.date``.

    Schemas hold dates as strings (``format: date`` defaults, enums, examples), and tool schemas
    are stored and compared as JSON.
    """


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first_char: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_source(data: bytes, suffix: str) -> tuple[SourceFormat, Items]:
    """The file's format and one draft or problem per tool; :class:`FileProblem` when nothing is usable."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.strip():
        raise FileProblem("the file is empty")
    if suffix == ".jsonl":
        return _from_json_lines(text)
    document = _parse_yaml(text) if suffix in (".yaml", ".yml") else _parse_json(text)
    return _from_document(document)


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        line = text.splitlines()[error.lineno - 1] if error.lineno <= len(text.splitlines()) else ""
        raise FileProblem(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            position=f"line {error.lineno}",
            raw=line,
        ) from None
    except (ValueError, RecursionError) as error:
        raise FileProblem(f"invalid JSON: {error or 'nested too deeply'}") from None


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_JsonCompatibleLoader)  # a SafeLoader: builds no Python objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        if mark is None:
            raise FileProblem(f"invalid YAML: {error.problem}") from None
        lines = text.splitlines()
        raise FileProblem(
            f"invalid YAML at line {mark.line + 1} column {mark.column + 1}: {error.problem}",
            position=f"line {mark.line + 1}",
            raw=lines[mark.line] if mark.line < len(lines) else "",
        ) from None
    except (yaml.YAMLError, RecursionError) as error:
        raise FileProblem(f"invalid YAML: {error or 'nested too deeply'}") from None


def _from_json_lines(text: str) -> tuple[SourceFormat, Items]:
    """Each line on its own: a line that does not parse is rejected, the other lines still count."""
    lines: list[Entry | ItemProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            lines.append(Entry(position, json.loads(line, parse_constant=_reject_constant)))
        except json.JSONDecodeError as error:
            lines.append(ItemProblem(position, f"invalid JSON at column {error.colno}: {error.msg}", line))
        except (ValueError, RecursionError) as error:
            lines.append(ItemProblem(position, f"invalid JSON: {error or 'nested too deeply'}", line))
    entries = [line for line in lines if isinstance(line, Entry)]
    if not entries:
        first = next(line for line in lines if isinstance(line, ItemProblem))
        problem = f"no line is valid JSON ({first.position}: {first.problem})"
        raise FileProblem(problem, position=first.position, raw=first.raw)
    source_format, read_entry = _list_format([entry.value for entry in entries], wrapped_in_tools=False)
    return source_format, [read_entry(line) if isinstance(line, Entry) else line for line in lines]


def _from_document(document: Any) -> tuple[SourceFormat, Items]:
    if isinstance(document, dict):
        if "openapi" in document:
            return "openapi", openapi.read_document(document)
        if "swagger" in document:
            raise FileProblem(f"Swagger {document['swagger']} documents are not supported; convert the file to OpenAPI 3")
        if "jsonrpc" in document:
            result = document.get("result")
            tools = result.get("tools") if isinstance(result, dict) else None
            if not isinstance(tools, list):
                raise FileProblem("a JSON-RPC message without a result.tools list (not a tools/list response)")
            return "mcp", [mcp.read_entry(entry) for entry in _entries(tools, "result.tools")]
        if isinstance(document.get("tools"), list):
            return _from_tool_list(document["tools"], "tools")
    if isinstance(document, list):
        return _from_tool_list(document, None)
    raise FileProblem(f"unknown format: {_shape(document)} is none of OpenAI tools, BFCL docs, MCP tools/list, OpenAPI 3")


def _from_tool_list(items: list[Any], key: str | None) -> tuple[SourceFormat, Items]:
    source_format, read_entry = _list_format(items, wrapped_in_tools=key is not None)
    return source_format, [read_entry(entry) for entry in _entries(items, key)]


def _entries(items: list[Any], key: str | None) -> list[Entry]:
    """Entries positioned by their index, under the key that holds the list (``tools[3]``) if any."""
    return [Entry(f"{key}[{index}]" if key else f"index {index}", item) for index, item in enumerate(items)]


def _list_format(
    items: list[Any], *, wrapped_in_tools: bool
) -> tuple[SourceFormat, Callable[[Entry], ToolDraft | ItemProblem]]:
    """Which format a list of tool entries is in, from the evidence its object entries carry."""
    objects = [item for item in items if isinstance(item, dict)]
    if any(mcp.looks_like_mcp_tool(item) for item in objects) or (wrapped_in_tools and not items):
        return "mcp", mcp.read_entry
    if any(bfcl.uses_bfcl_dialect(item) for item in objects):
        return "bfcl", bfcl.read_entry
    if any(openai_tools.looks_like_function(item) for item in objects) or not items:
        return "openai", openai_tools.read_entry
    raise FileProblem(f"unknown format: a list of {len(items)} entries none of which looks like a tool")


def _shape(document: Any) -> str:
    if isinstance(document, dict):
        return f"an object with keys ({', '.join(map(str, list(document)[:8]))})"
    return f"a JSON {json_type_name(document)}"
