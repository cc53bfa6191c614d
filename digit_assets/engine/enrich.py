"""Output-schema enrichment (method.md step 2): every tool gets the JSON Schema of a successful result.

Plans chain calls through outputs (``"$1.orders[0].order_id"``), so a tool without a declared output
schema cannot take part until one is inferred. The inference goes through the LLM port
(:data:`~digit_assets.engine.synthesis.roles.INFER_OUTPUT_SCHEMA`); whatever answers, the schema must be a
valid JSON Schema of type object or the tool is quarantined with the reason.

The offline default is :mod:`digit_assets.engine.offline.output_schema`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import BaseModel

from digit_assets.engine.llm import LLM, LLMError
from digit_assets.engine.provenance import derive_seed
from digit_assets.engine.schema_refs import dialect_problem
from digit_assets.engine.specs import Rejection, ToolSpec
from digit_assets.engine.synthesis.roles import INFER_OUTPUT_SCHEMA, OutputSchemaRequest

_RAW_LIMIT = 2_000

# --- Enrichment through the LLM port ---------------------------------------------------------------


class EnrichedTool(BaseModel):
    """A tool with the output schema plans need; one row of ``enriched_tools``."""

    spec: ToolSpec
    output_schema: dict[str, Any]
    output_origin: Literal["declared", "inferred"]
    llm: str


def output_schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot serve as an output schema (invalid JSON Schema, or not an object); None if it can."""
    if not isinstance(schema, Mapping):
        return f"output schema is a {type(schema).__name__}, not a JSON object"
    if (dialect := dialect_problem(dict(schema))) is not None:
        return f"output schema: {dialect}"
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return f"output schema is not a valid JSON Schema: {exc.message}"
    if schema.get("type") != "object":
        return f"output schema has top-level type {schema.get('type')!r}, not 'object'"
    return None


def _says_required(schema: Any) -> bool:
    """Whether any (sub)schema has the ``required`` keyword (a property named so does not count)."""
    if isinstance(schema, list):
        return any(_says_required(value) for value in schema)
    if not isinstance(schema, Mapping):
        return False
    if "required" in schema:
        return True
    properties = schema.get("properties")
    nested = [value for key, value in schema.items() if key != "properties"]
    if isinstance(properties, Mapping):
        nested += list(properties.values())
    return any(_says_required(value) for value in nested)


def with_presence_inferred(schema: dict[str, Any]) -> dict[str, Any]:
    """A declared output schema that never says ``required`` (BFCL ``response`` docs rarely do) lists
    the fields a result has: every declared property becomes required, so plans may reference it and
    simulators return it. A schema that uses ``required`` anywhere is kept as its author wrote it.

    A property whose ``$ref`` points back to an object being completed stays optional, so a recursive
    schema (a comment with a parent comment) still has finite instances.
    """
    if _says_required(schema):
        return schema
    completed = json.loads(json.dumps(schema))

    def complete(node: Any, ancestors: tuple[str, ...], pointer: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                complete(item, ancestors, f"{pointer}/{index}")
            return
        if not isinstance(node, dict):
            return
        properties = node.get("properties")
        if isinstance(properties, dict):
            inside = (*ancestors, pointer)
            node["required"] = [
                name
                for name, sub in properties.items()
                if not (isinstance(sub, Mapping) and isinstance(sub.get("$ref"), str) and sub["$ref"] in inside)
            ]
            ancestors = inside
            for name, sub in properties.items():
                complete(sub, ancestors, f"{pointer}/properties/{name}")
        for key, value in node.items():
            if key not in ("required", "properties"):
                complete(value, ancestors, f"{pointer}/{key}")

    complete(completed, (), "#")
    return completed


def enrich_tools(specs: Sequence[ToolSpec], llm: LLM, *, seed: int) -> tuple[list[EnrichedTool], list[Rejection]]:
    """Keep declared output schemas, infer the missing ones; a tool that cannot get one is rejected.

    A declared schema without any ``required`` gets its properties as required
    (:func:`with_presence_inferred`); otherwise no output field could ever be planned with.

    Each inference is seeded from ``seed`` and the tool's qualified name, so a tool's schema does not
    depend on which other tools are enriched alongside it.
    """
    enriched: list[EnrichedTool] = []
    rejections: list[Rejection] = []
    for spec in specs:
        if spec.output_schema is not None:
            schema, origin, label = spec.output_schema, "declared", "-"
            if isinstance(schema, dict):
                schema = with_presence_inferred(schema)
        else:
            request = OutputSchemaRequest(tool_name=spec.name, description=spec.description, parameters=spec.parameters)
            try:
                answer = llm.call(INFER_OUTPUT_SCHEMA, request, seed=derive_seed(seed, spec.qualified_name))
            except LLMError as exc:
                rejections.append(_rejection(spec, f"output schema inference failed: {exc}"))
                continue
            schema, origin, label = answer.output_schema, "inferred", llm.label
        problem = output_schema_problem(schema)
        if problem is not None:
            rejections.append(_rejection(spec, f"{origin} {problem}", raw=json.dumps(schema, default=str)[:_RAW_LIMIT]))
            continue
        enriched.append(EnrichedTool(spec=spec, output_schema=schema, output_origin=origin, llm=label))
    return enriched, rejections


def _rejection(spec: ToolSpec, reason: str, raw: str | None = None) -> Rejection:
    return Rejection(
        stage="enrichment", source=spec.source_file, item=spec.qualified_name, position=spec.position, reason=reason, raw=raw
    )
