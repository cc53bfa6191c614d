"""From a file's bytes to its format and tool drafts, all read from the content, whatever the extension.

The syntax is recognized first: a text starting with ``{`` or ``[`` is one JSON document, or JSON
Lines when it holds one value per line (function docs are often published that way under
``.json``); anything else is YAML. Lines are decoded one by one in JSON Lines, so a line that is
not UTF-8 loses only itself. YAML is bounded before it becomes Python objects: aliases may not
expand the document past :data:`MAX_YAML_NODES` nodes (an alias bomb of a few hundred bytes would
otherwise fill memory) and may not refer to themselves. JSON needs no such bound: it has no
aliases, so its objects are bounded by the file's byte limit.

What the parsed document *is* is then read from its shape:

- an object with ``openapi`` -> OpenAPI 3.x (``swagger`` 2.0 is refused by name);
- an object with ``jsonrpc`` -> an MCP ``tools/list`` response, its tools under ``result.tools``;
- an object with a ``tools`` list, a JSON list, or JSON Lines -> a tool list, whose entries decide:
  MCP keys (``inputSchema``) -> MCP; BFCL dialect (``"type": "dict"`` parameters, ``response``) ->
  BFCL; wrapped or bare function objects -> OpenAI. An empty list is an empty tool list of the
  format its wrapping suggests (MCP for ``{"tools": []}``, OpenAI for ``[]``).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from typing import Any

import yaml

from digit_assets.engine.ingest import bfcl, mcp, openai_tools, openapi
from digit_assets.engine.ingest.model import Entry, FileProblem, ItemProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import json_type_name
from digit_assets.engine.specs import SourceFormat

Items = list[ToolDraft | ItemProblem]
# Nodes a YAML document may hold once every alias is expanded; real specs stay far below.
MAX_YAML_NODES = 200_000


class _JsonCompatibleLoader(yaml.SafeLoader):
    """YAML read the way JSON would read it: ``2024-05-01`` stays a string, not a ``datetime.date``.

    Schemas hold dates as strings (``format: date`` defaults, enums, examples), and tool schemas
    are stored and compared as JSON.
    """


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first_char: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_source(data: bytes, suffix: str = "") -> tuple[SourceFormat, Items]:
    """The file's format and one draft or problem per tool; :class:`FileProblem` when nothing is usable.

    ``suffix`` only breaks ties: ``.jsonl`` is read line by line even when few lines parse, and a
    ``.yaml`` file in YAML flow style (``{a: 1}``) is read as YAML when it is not JSON.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    lines = [_decode_line(raw) for raw in data.split(b"\n")]
    texts = [line for line in lines if isinstance(line, str)]
    if not any(text.strip() for text in texts):
        raise FileProblem("the file is empty" if len(texts) == len(lines) else "not UTF-8 text (no line decodes)")
    if suffix == ".jsonl" or _looks_like_json_lines(texts):
        return _from_json_lines(lines)
    undecodable = next((number for number, line in enumerate(lines, start=1) if isinstance(line, bytes)), None)
    if undecodable is not None:
        raise FileProblem(
            f"not UTF-8 text at line {undecodable} (expected UTF-8 throughout a JSON or YAML document)",
            position=f"line {undecodable}",
            raw=lines[undecodable - 1][:200].decode("utf-8", errors="replace"),  # type: ignore[union-attr]
        )
    text = "\n".join(texts)
    if text.lstrip()[:1] in ("{", "[") and not (suffix in (".yaml", ".yml") and not _is_json(text)):
        return _from_document(_parse_json(text))
    return _from_document(_parse_yaml(text))


def _decode_line(raw: bytes) -> str | bytes:
    """The line as text, or its bytes when they are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False
    return True


def _looks_like_json_lines(texts: list[str]) -> bool:
    """Two or more non-blank lines, most of them (or the first) a JSON object or array on its own.

    A pretty-printed JSON document fails this: its lines (``{``, ``"a": 1,``) are not values alone.
    """
    lines = [text for text in texts if text.strip()]
    if len(lines) < 2 or lines[0].lstrip()[:1] not in ("{", "["):
        return False
    if _is_json("\n".join(lines)):
        return False
    standalone = [line for line in lines if line.lstrip()[:1] in ("{", "[") and _is_json(line)]
    return bool(standalone) and (standalone[0] is lines[0] or len(standalone) * 2 > len(lines))


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        line = text.splitlines()[error.lineno - 1] if error.lineno <= len(text.splitlines()) else ""
        raise FileProblem(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg} (detected format: JSON document)",
            position=f"line {error.lineno}",
            raw=line[:2_000],
        ) from None
    except (ValueError, RecursionError) as error:
        raise FileProblem(f"invalid JSON: {error or 'nested too deeply'} (detected format: JSON document)") from None


def _parse_yaml(text: str) -> Any:
    loader: _JsonCompatibleLoader | None = None
    try:
        loader = _JsonCompatibleLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise FileProblem("the document is empty (detected format: YAML)")
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        if mark is None:
            raise FileProblem(f"invalid YAML: {error.problem} (detected format: YAML)") from None
        lines = text.splitlines()
        raise FileProblem(
            f"invalid YAML at line {mark.line + 1} column {mark.column + 1}: {error.problem} (detected format: YAML)",
            position=f"line {mark.line + 1}",
            raw=lines[mark.line][:2_000] if mark.line < len(lines) else "",
        ) from None
    except (yaml.YAMLError, RecursionError) as error:
        raise FileProblem(f"invalid YAML: {error or 'nested too deeply'} (detected format: YAML)") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand past :data:`MAX_YAML_NODES` nodes or refer to themselves.

    Aliases share nodes, so sizes are counted once per node and summed per use: the count is what
    the document would be as JSON, found without building it.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise FileProblem("an alias refers to a node that contains it, a recursive document (detected format: YAML)")
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise FileProblem(
                    f"aliases expand the document past {MAX_YAML_NODES:,} nodes (an alias bomb?); "
                    "nothing was built (detected format: YAML)",
                    position=f"line {node.start_mark.line + 1}",
                    raw="",
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


def _from_json_lines(lines: list[str | bytes]) -> tuple[SourceFormat, Items]:
    """Each line on its own: a line that does not decode or parse is rejected, the other lines still count."""
    parsed: list[Entry | ItemProblem] = []
    for number, line in enumerate(lines, start=1):
        position = f"line {number}"
        if isinstance(line, bytes):
            snippet = line[:200].decode("utf-8", errors="replace")
            parsed.append(ItemProblem(position, "the line is not UTF-8 text (detected format: JSON Lines)", snippet))
            continue
        if not line.strip():
            continue
        try:
            parsed.append(Entry(position, json.loads(line, parse_constant=_reject_constant)))
        except json.JSONDecodeError as error:
            problem = f"invalid JSON at column {error.colno}: {error.msg} (detected format: JSON Lines)"
            parsed.append(ItemProblem(position, problem, line[:2_000]))
        except (ValueError, RecursionError) as error:
            problem = f"invalid JSON: {error or 'nested too deeply'} (detected format: JSON Lines)"
            parsed.append(ItemProblem(position, problem, line[:2_000]))
    entries = [line for line in parsed if isinstance(line, Entry)]
    if not entries:
        first = next(line for line in parsed if isinstance(line, ItemProblem))
        problem = f"no line is valid JSON ({first.position}: {first.problem})"
        raise FileProblem(problem, position=first.position, raw=first.raw)
    source_format, read_entry = _list_format([entry.value for entry in entries], wrapped_in_tools=False)
    return source_format, [read_entry(line) if isinstance(line, Entry) else line for line in parsed]


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
