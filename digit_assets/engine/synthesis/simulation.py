"""Stateless execution (method.md step 6): ``$k.path`` substitution and schema validation of
arguments and outputs, whoever simulates the tool (the offline simulator is
:mod:`digit_assets.engine.offline.simulator`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jsonschema_rs

from digit_assets.engine.synthesis.model import ExecutedCall, PlannedCall, ToolView, parse_reference, resolve_path
from digit_assets.engine.schema_refs import refuse_uri

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

MISSING: Any = object()


class IdentityCache:
    """Results derived from objects never mutated in place (schemas, executed calls), keyed by the
    object's identity: a lookup costs a dict access instead of serializing a schema (~20 us).
    Entries keep their key object alive, so an id cannot be reused while its entry exists."""

    def __init__(self, limit: int):
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._limit = limit

    def get(self, key: Any) -> Any:
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0] is key else MISSING

    def put(self, value: Any, key: Any) -> Any:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(key)] = (key, value)
        return value


# --- Schema validation ---------------------------------------------------------------------------

# RFC 3339 "time" demands seconds and an offset; people and the value factory write "14:30".
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE)
_LENIENT_FORMATS = {"time": lambda value: bool(TIME_OF_DAY.match(value))}
_MAX_PROBLEMS = 5


@lru_cache(maxsize=2_048)
def _compile(schema_text: str) -> jsonschema_rs.Validator | str:
    """A validator for a schema, or why the schema is unusable; equal schemas share one."""
    try:
        return jsonschema_rs.validator_for(
            json.loads(schema_text), validate_formats=True, formats=_LENIENT_FORMATS, retriever=refuse_uri
        )
    except ValueError as exc:
        return str(exc).splitlines()[0]


_VALIDATORS = IdentityCache(8_192)


def _validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator | str:
    cached = _VALIDATORS.get(schema)
    if cached is MISSING:
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


