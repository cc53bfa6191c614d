"""The tool catalog in and out of the store: ``source_files``, ``tool_specs``, ``enriched_tools``, ``dataflow_edges``."""

from __future__ import annotations

import json
from collections.abc import Collection

import duckdb

from digit_assets.engine.dataflow import DataflowEdge
from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.ingest import IngestResult
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.specs import ToolSpec
from digit_assets.store import provenance_columns

_SPEC_COLUMNS = (
    "t.namespace, t.name, t.description, t.parameters, t.output_schema, t.source_file, t.source_format, t.position,"
    " t.side_effect, t.side_effect_origin"
)


def source_file_row(result: IngestResult, provenance: Provenance) -> dict[str, object]:
    return {
        "source_file": result.source_file,
        "format": result.format,
        "namespace": result.namespace,
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "tools_ok": len(result.tools),
        "tools_rejected": len(result.rejections),
        "file_error": result.file_error,
        **provenance_columns(provenance),
    }


def tool_spec_row(tool: ToolSpec, provenance: Provenance) -> dict[str, object]:
    return {
        "namespace": tool.namespace,
        "name": tool.name,
        "description": tool.description,
        "parameters": json.dumps(tool.parameters),
        "output_schema": json.dumps(tool.output_schema) if tool.output_schema is not None else None,
        "source_file": tool.source_file,
        "source_format": tool.source_format,
        "position": tool.position,
        "side_effect": tool.side_effect,
        "side_effect_origin": tool.side_effect_origin,
        **provenance_columns(provenance),
    }


def enriched_tool_row(tool: EnrichedTool, provenance: Provenance) -> dict[str, object]:
    return {
        "namespace": tool.spec.namespace,
        "name": tool.spec.name,
        "output_schema": json.dumps(tool.output_schema),
        "output_origin": tool.output_origin,
        "llm": tool.llm,
        **provenance_columns(provenance),
    }


def dataflow_edge_row(edge: DataflowEdge, provenance: Provenance) -> dict[str, object]:
    return {**edge.model_dump(), **provenance_columns(provenance)}


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
        side_effect=row[8],
        side_effect_origin=row[9],
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
        EnrichedTool(spec=_spec(row), output_schema=json.loads(row[10]), output_origin=row[11], llm=row[12])
        for row in rows
    ]


def load_dataflow_edges(conn: duckdb.DuckDBPyConnection) -> list[DataflowEdge]:
    fields = tuple(DataflowEdge.model_fields)
    rows = conn.execute(
        f"SELECT {', '.join(fields)} FROM dataflow_edges ORDER BY namespace, src_tool, dst_tool, src_field, dst_param"
    ).fetchall()
    return [DataflowEdge(**dict(zip(fields, row))) for row in rows]


def stored_output_schemas(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, object]]:
    """(namespace, name, output schema as parsed JSON) of every enriched tool."""
    rows = conn.execute("SELECT namespace, name, output_schema FROM enriched_tools ORDER BY namespace, name").fetchall()
    return [(namespace, name, json.loads(raw)) for namespace, name, raw in rows]


def edges_per_namespace(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, int]]:
    """(namespace, enriched tools, data-flow edges, tools on some edge) per namespace of the enriched catalog."""
    return conn.execute(
        "SELECT e.namespace, count(*) AS tools,"
        " (SELECT count(*) FROM dataflow_edges d WHERE d.namespace = e.namespace) AS edges,"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM dataflow_edges d WHERE d.namespace = e.namespace"
        "   AND e.name IN (d.src_tool, d.dst_tool))) AS linked"
        " FROM enriched_tools e GROUP BY e.namespace ORDER BY e.namespace"
    ).fetchall()


def dangling_edges(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(namespace, source tool, destination tool) of edges with an end outside the enriched catalog."""
    return conn.execute(
        "SELECT d.namespace, d.src_tool, d.dst_tool FROM dataflow_edges d"
        " WHERE NOT EXISTS (SELECT 1 FROM enriched_tools e WHERE e.namespace = d.namespace AND e.name = d.src_tool)"
        "    OR NOT EXISTS (SELECT 1 FROM enriched_tools e WHERE e.namespace = d.namespace AND e.name = d.dst_tool)"
    ).fetchall()
