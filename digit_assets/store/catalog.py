"""Read the tool catalog back from the store as engine models."""

from __future__ import annotations

import json
from collections.abc import Collection

import duckdb

from digit_assets.engine.dataflow import DataflowEdge
from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.specs import ToolSpec

_SPEC_COLUMNS = "t.namespace, t.name, t.description, t.parameters, t.output_schema, t.source_file, t.source_format, t.position"


def _spec(row: tuple) -> ToolSpec:
    return ToolSpec(
        namespace=row[0],
        name=row[1],
        description=row[2],
        parameters=json.loads(row[3]),
        output_schema=json.loads(row[4]) if row[4] is not None else None,
        source_file=row[5],
        source_format=row[6],
        position=row[7],
    )


def load_tool_specs(conn: duckdb.DuckDBPyConnection, present_files: Collection[str]) -> list[ToolSpec]:
    """Ingested tools whose source file is still present (a removed file's tools no longer count)."""
    rows = conn.execute(f"SELECT {_SPEC_COLUMNS} FROM tool_specs t ORDER BY t.namespace, t.name").fetchall()
    return [_spec(row) for row in rows if row[5] in present_files]


def load_enriched_tools(conn: duckdb.DuckDBPyConnection) -> list[EnrichedTool]:
    rows = conn.execute(
        f"SELECT {_SPEC_COLUMNS}, e.output_schema, e.output_origin, e.llm"
        " FROM enriched_tools e JOIN tool_specs t USING (namespace, name) ORDER BY t.namespace, t.name"
    ).fetchall()
    return [
        EnrichedTool(spec=_spec(row), output_schema=json.loads(row[8]), output_origin=row[9], llm=row[10])
        for row in rows
    ]


def load_dataflow_edges(conn: duckdb.DuckDBPyConnection) -> list[DataflowEdge]:
    fields = tuple(DataflowEdge.model_fields)
    rows = conn.execute(
        f"SELECT {', '.join(fields)} FROM dataflow_edges ORDER BY namespace, src_tool, dst_tool, src_field, dst_param"
    ).fetchall()
    return [DataflowEdge(**dict(zip(fields, row))) for row in rows]
