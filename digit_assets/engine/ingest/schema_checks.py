"""Checks every tool passes whatever its source: a usable name, a string description, valid JSON Schemas.

Synthesis validates every planned call against ``parameters`` and every simulated result against
``output_schema``, so a schema that jsonschema refuses, or a ``$ref`` that leads nowhere, would only
fail later and far from its cause. Here it is caught at the door, with the file and tool named.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from digit_assets.engine.ingest.model import SpecProblem, ToolDraft
from digit_assets.engine.schema_refs import dialect_problem, refusing_registry

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports no public name for it

# OpenAI's rule for function names; the chat records this project exports must satisfy it.
TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FORBIDDEN_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
_SCHEMA_URI = "urn:digit-tc:tool-schema"


@dataclass(frozen=True)
class CheckedTool:
    """A draft's fields once they passed the checks; ``renamed_from`` keeps a name that was sanitized."""

    name: str
    description: str
    parameters: dict[str, Any]
    output_schema: dict[str, Any] | None
    renamed_from: str | None


def json_type_name(value: Any) -> str:
    """The JSON name of a Python value's type, for messages about what was found instead."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def sanitize_name(name: str) -> str:
    """Replace every character OpenAI's rule forbids by ``_``: ``math.factorial`` -> ``math_factorial``."""
    return _FORBIDDEN_NAME_CHARS.sub("_", name)


def check_draft(draft: ToolDraft) -> CheckedTool:
    """The draft's fields, ready for a :class:`ToolSpec`; raises :class:`SpecProblem` naming what is wrong."""
    name = _check_name(draft.name, may_rename=draft.may_rename)
    return CheckedTool(
        name=name,
        description=_check_description(draft.description),
        parameters=_check_parameters(draft.parameters),
        output_schema=_check_output_schema(draft.output_schema),
        renamed_from=draft.name if name != draft.name else None,
    )


def _check_name(name: Any, *, may_rename: bool) -> str:
    if name is None or name == "":
        raise SpecProblem("missing name")
    if not isinstance(name, str):
        raise SpecProblem(f"name must be a string, not {json_type_name(name)}")
    candidate = sanitize_name(name) if may_rename else name
    if not TOOL_NAME_PATTERN.fullmatch(candidate):
        too_long = " (longer than 64 characters)" if len(candidate) > 64 else ""
        raise SpecProblem(f"name {name!r} does not match {TOOL_NAME_PATTERN.pattern}{too_long}")
    return candidate


def _check_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise SpecProblem(f"description must be a string, not {json_type_name(description)}")
    return description


def _check_parameters(parameters: Any) -> dict[str, Any]:
    """A missing or empty parameters object means "no arguments"; anything else must be an object schema."""
    if parameters is None or parameters == {}:
        return copy.deepcopy(_EMPTY_PARAMETERS)
    if not isinstance(parameters, dict):
        raise SpecProblem(f"parameters must be a JSON Schema object, not {json_type_name(parameters)}")
    check_json_schema(parameters, "parameters")
    if parameters.get("type") != "object":
        raise SpecProblem(f"parameters must be a schema of type 'object', not {parameters.get('type')!r}")
    return parameters if "properties" in parameters else {**parameters, "properties": {}}


def _check_output_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise SpecProblem(f"output schema must be a JSON Schema object, not {json_type_name(schema)}")
    check_json_schema(schema, "output schema")
    return schema


def check_json_schema(schema: dict[str, Any], what: str) -> None:
    """A known draft, valid under the 2020-12 metaschema, every ``$ref`` resolving inside the schema itself."""
    for subschema in iter_subschemas(schema):
        problem = dialect_problem(subschema)
        if problem is not None:
            raise SpecProblem(f"{what}: {problem}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise SpecProblem(f"{what} is not a valid JSON Schema: {error.message} (at {error.json_path})") from None
    root = DRAFT202012.create_resource(schema)
    resolver = refusing_registry().with_resource(_SCHEMA_URI, root).resolver(base_uri=_SCHEMA_URI)
    _check_refs(root, resolver, what)


def _check_refs(resource: Resource[Any], resolver: Resolver[Any], what: str) -> None:
    resolver = resolver.in_subresource(resource)
    ref = resource.contents.get("$ref") if isinstance(resource.contents, dict) else None
    if isinstance(ref, str):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise SpecProblem(f"{what} has an unresolvable $ref {ref!r}") from None
    for child in resource.subresources():
        _check_refs(child, resolver, what)


def iter_subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schema and every schema nested in it, found through the 2020-12 keywords.

    Walking by keyword (not by every nested dict) keeps a property that happens to be called
    ``type`` or ``nullable`` from being taken for the keyword. Runs on schemas not yet validated:
    below a malformed keyword value (``"properties": "x"``) nothing is walked, and
    :func:`check_json_schema` reports the schema afterwards.
    """
    pending = [DRAFT202012.create_resource(schema)]
    while pending:
        resource = pending.pop()
        if isinstance(resource.contents, dict):
            yield resource.contents
            with suppress(AttributeError, TypeError):
                pending.extend(resource.subresources())
