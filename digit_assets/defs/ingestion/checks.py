"""One check per property of the tool catalog, each with the metadata needed to act on it."""


import json

import dagster as dg
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from digit_assets.defs.ingestion.assets import dataflow_graph, enriched_tools
from digit_assets.defs.resources import StoreResource


@dg.asset_check(asset=enriched_tools, description="Items quarantined by ingestion or enrichment, per source and stage.")
def quarantine_counts(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = conn.execute(
            "SELECT stage, source, count(*) FROM quarantine WHERE stage IN ('ingestion', 'enrichment')"
            " GROUP BY stage, source ORDER BY stage, source"
        ).fetchall()
        reasons = conn.execute(
            "SELECT reason FROM quarantine WHERE stage IN ('ingestion', 'enrichment') ORDER BY created_at LIMIT 20"
        ).fetchall()
    total = sum(row[2] for row in rows)
    table = "| stage | source | quarantined |\n|---|---|---|\n" + "".join(f"| {s} | {src} | {n} |\n" for s, src, n in rows)
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": total,
            "by_source": dg.MetadataValue.md(table),
            "first_reasons": dg.MetadataValue.json([r[0] for r in reasons]),
        },
    )


@dg.asset_check(asset=enriched_tools, description="Every stored output schema is a valid JSON Schema of type object.")
def output_schemas_are_valid(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = conn.execute("SELECT namespace, name, output_schema FROM enriched_tools").fetchall()
    invalid = []
    for namespace, name, raw in rows:
        schema = json.loads(raw)
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            invalid.append(f"{namespace}.{name}: {exc.message}")
            continue
        if schema.get("type") != "object":
            invalid.append(f"{namespace}.{name}: top-level type is {schema.get('type')!r}, not 'object'")
    return dg.AssetCheckResult(
        passed=not invalid, metadata={"tools": len(rows), "invalid": len(invalid), "problems": dg.MetadataValue.json(invalid[:50])}
    )


@dg.asset_check(
    asset=dataflow_graph,
    description="Each namespace with several tools has data flow to plan chains from (warns per namespace without).",
)
def every_namespace_has_dataflow(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = conn.execute(
            "SELECT e.namespace, count(*) AS tools,"
            " (SELECT count(*) FROM dataflow_edges d WHERE d.namespace = e.namespace) AS edges,"
            " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM dataflow_edges d WHERE d.namespace = e.namespace"
            "   AND e.name IN (d.src_tool, d.dst_tool))) AS linked"
            " FROM enriched_tools e GROUP BY e.namespace ORDER BY e.namespace"
        ).fetchall()
    disconnected = [namespace for namespace, tools, edges, _ in rows if tools >= 2 and edges == 0]
    return dg.AssetCheckResult(
        passed=not disconnected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "edges_per_namespace": dg.MetadataValue.json({ns: edges for ns, _, edges, _ in rows}),
            "linked_share_per_namespace": dg.MetadataValue.json({ns: round(linked / tools, 3) for ns, tools, _, linked in rows}),
            "namespaces_without_edges": dg.MetadataValue.json(disconnected),
        },
    )


@dg.asset_check(asset=dataflow_graph, description="Every edge joins two tools that are in the enriched catalog.")
def edges_join_known_tools(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        dangling = conn.execute(
            "SELECT d.namespace, d.src_tool, d.dst_tool FROM dataflow_edges d"
            " WHERE NOT EXISTS (SELECT 1 FROM enriched_tools e WHERE e.namespace = d.namespace AND e.name = d.src_tool)"
            "    OR NOT EXISTS (SELECT 1 FROM enriched_tools e WHERE e.namespace = d.namespace AND e.name = d.dst_tool)"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not dangling,
        metadata={"dangling_edges": len(dangling), "examples": dg.MetadataValue.json([list(r) for r in dangling[:20]])},
    )
