"""Executable tool environments: tools with JSON Schemas, run for real against an in-memory state.

A stateful baseline is only as honest as its environment: every argument is validated against the
tool's ``inputSchema`` and every refusal (unknown id, wrong status, insufficient balance, permission
denied) is raised by the tool's own business rules, the way a real backend answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from digit_assets.engine.schema_refs import refusing_registry
from digit_assets.engine.specs import ToolSpec

Entity = dict[str, Any]
Handler = Callable[["State", dict[str, Any]], dict[str, Any]]

_FORMAT_CHECKER = FormatChecker()
_TRAILING_NUMBER = re.compile(r"(\d+)$")


class ToolError(Exception):
    """A refusal by the environment; its text becomes the tool message ``Error: <text>``."""

    def content(self) -> str:
        return f"Error: {self}"


class State:
    """Entity tables by id plus read-only context (``today``, the session user, ...).

    Forks share entity dicts: tools never mutate an entity in place, they ``put`` a new one, and a
    table is copied the first time a fork writes to it. Exploring a branch therefore costs one dict
    copy per table touched instead of a deep copy of the world.
    """

    __slots__ = ("tables", "context", "_owned")

    def __init__(self, tables: dict[str, dict[str, Entity]], context: dict[str, Any], owned: Iterable[str] = ()):
        self.tables = tables
        self.context = context
        self._owned = set(owned)

    @classmethod
    def from_seed(cls, seed: dict[str, Any]) -> State:
        """A seed JSON is ``{"context": {...}, "tables": {table: [entity, ...]}}`` keyed by each table's id field."""
        key_fields = seed["keys"]
        tables = {name: {row[key_fields[name]]: row for row in rows} for name, rows in seed["tables"].items()}
        return cls(tables, dict(seed["context"]), owned=tables)

    def fork(self) -> State:
        return State(dict(self.tables), self.context)

    def with_context(self, **changes: Any) -> State:
        """The same world seen by another session (another user, another day)."""
        return State(dict(self.tables), {**self.context, **changes})

    def get(self, table: str, key: str) -> Entity | None:
        return self.tables[table].get(key)

    def require(self, table: str, key: str, what: str) -> Entity:
        entity = self.tables[table].get(key)
        if entity is None:
            raise ToolError(f"{what} {key} not found")
        return entity

    def rows(self, table: str) -> Iterator[Entity]:
        return iter(self.tables[table].values())

    def put(self, table: str, key: str, entity: Entity) -> None:
        if table not in self._owned:
            self.tables[table] = dict(self.tables[table])
            self._owned.add(table)
        self.tables[table][key] = entity

    def update(self, table: str, key: str, **changes: Any) -> Entity:
        """Replace an entity by a changed copy (never mutate: forks share entities)."""
        entity = {**self.tables[table][key], **changes}
        self.put(table, key, entity)
        return entity

    def next_id(self, table: str, prefix: str, width: int) -> str:
        """The id after the highest numbered one, so new ids are reproducible and never collide."""
        highest = max(
            (int(match.group(1)) for key in self.tables[table] if (match := _TRAILING_NUMBER.search(key))), default=0
        )
        return f"{prefix}{highest + 1:0{width}d}"

    def changed_keys(self, other: State) -> list[tuple[str, str]]:
        """(table, id) of every entity added, removed or replaced between ``self`` and ``other``."""
        changed = []
        for name, rows in other.tables.items():
            before = self.tables[name]
            if rows is before:
                continue
            changed += [(name, key) for key, entity in rows.items() if before.get(key) is not entity]
            changed += [(name, key) for key in before if key not in rows]
        return changed

    def snapshot(self) -> dict[str, Any]:
        return {"context": self.context, "tables": self.tables}


@dataclass(frozen=True)
class Tool:
    """One tool: its MCP description, its business rules, and how the assistant reports a success."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    handler: Handler
    writes: bool
    report: str | None = None  # first-person past tense, formatted with the arguments and the output

    def mcp(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
        }


class ToolBox:
    """Collects a domain's tools in declaration order through a decorator."""

    def __init__(self) -> None:
        self.tools: list[Tool] = []

    def tool(
        self,
        description: str,
        input_schema: dict[str, Any],
        output_schema: dict[str, Any],
        *,
        writes: bool = False,
        report: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.tools.append(
                Tool(handler.__name__, description, input_schema, output_schema, handler, writes, report)
            )
            return handler

        return register


@dataclass(frozen=True)
class CallResult:
    """What one executed call returned: the output or the error text, and the state after it."""

    output: dict[str, Any] | None
    error: str | None
    state: State

    @property
    def content(self) -> str:
        """The tool message content as the chat record stores it."""
        return self.error if self.error is not None else json.dumps(self.output, ensure_ascii=False)


class Environment:
    """A domain's tools over a state. ``call`` never mutates the state it is given."""

    def __init__(self, domain: str, tools: list[Tool], seed: dict[str, Any]):
        self.domain = domain
        self.tools = {tool.name: tool for tool in tools}
        self.seed = seed
        self._input_validators = {
            tool.name: Draft202012Validator(tool.input_schema, format_checker=_FORMAT_CHECKER, registry=refusing_registry()) for tool in tools
        }
        self._output_validators = {
            tool.name: Draft202012Validator(tool.output_schema, format_checker=_FORMAT_CHECKER, registry=refusing_registry()) for tool in tools
        }

    def initial_state(self) -> State:
        return State.from_seed(self.seed)

    def argument_problems(self, name: str, arguments: dict[str, Any]) -> list[str]:
        validator = self._input_validators[name]
        return [f"{'/'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}" for e in validator.iter_errors(arguments)]

    def output_problems(self, name: str, output: Any) -> list[str]:
        validator = self._output_validators[name]
        return [f"{'/'.join(map(str, e.absolute_path)) or 'output'}: {e.message}" for e in validator.iter_errors(output)]

    def call(self, state: State, name: str, arguments: dict[str, Any]) -> CallResult:
        """Execute one call; a write runs on a fork, so ``state`` stays as it was."""
        tool = self.tools.get(name)
        if tool is None:
            return CallResult(None, f"Error: unknown tool {name}", state)
        problems = self.argument_problems(name, arguments)
        if problems:
            return CallResult(None, f"Error: invalid arguments for {name}: {'; '.join(problems)}", state)
        working = state.fork() if tool.writes else state
        try:
            output = tool.handler(working, arguments)
        except ToolError as error:
            return CallResult(None, error.content(), state)
        return CallResult(output, None, working)

    def mcp_document(self) -> dict[str, Any]:
        """The tools as an MCP ``tools/list`` result, the file shipped in ``specs/``."""
        return {"tools": [tool.mcp() for tool in self.tools.values()]}

    def tool_specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                namespace=self.domain,
                name=tool.name,
                description=tool.description,
                parameters=tool.input_schema,
                output_schema=tool.output_schema,
                source_file=spec_file_name(self.domain),
                source_format="mcp",
                position=str(index),
            )
            for index, tool in enumerate(self.tools.values())
        ]

    def openai_tools(self) -> list[dict[str, Any]]:
        return [spec.openai_tool() for spec in self.tool_specs()]


def spec_file_name(domain: str) -> str:
    return f"{domain}.mcp.json"


def load_seed(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# JSON Schema builders: the specs stay readable and every property carries a description.


def obj(required: dict[str, dict[str, Any]], optional: dict[str, dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    properties = {**required, **(optional or {})}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    schema["additionalProperties"] = False
    return {**schema, **extra}


def text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def day(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date", "description": f"{description} (YYYY-MM-DD)"}


def choice(values: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": values, "description": description}


def integer(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "description": description, **extra}


def money(description: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "description": description}


def array(items: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "description": description, **extra}
