"""One check per property of the tool catalog, each with the metadata needed to act on it."""


import dagster as dg
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from digit_assets.defs.ingestion.assets import dataflow_graph, enriched_tools
from digit_assets.defs.resources import StoreResource
from digit_assets.store.catalog import dangling_edges, edges_per_namespace, stored_output_schemas
from digit_assets.store.quarantine import counts_by_source, first_reasons


@dg.asset_check(asset=enriched_tools, description="Items quarantined by ingestion or enrichment, per source and stage.")
def quarantine_counts(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = counts_by_source(conn, ("ingestion", "enrichment"))
        reasons = first_reasons(conn, ("ingestion", "enrichment"))
    total = sum(row[2] for row in rows)
    table = "| stage | source | quarantined |\n|---|---|---|\n" + "".join(f"| {s} | {src} | {n} |\n" for s, src, n in rows)
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": total,
            "by_source": dg.MetadataValue.md(table),
            "first_reasons": dg.MetadataValue.json(reasons),
        },
    )


@dg.asset_check(asset=enriched_tools, description="Every stored output schema is a valid JSON Schema of type object.")
def output_schemas_are_valid(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = stored_output_schemas(conn)
    invalid = []
    for namespace, name, schema in rows:
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
        rows = edges_per_namespace(conn)
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
        dangling = dangling_edges(conn)
    return dg.AssetCheckResult(
        passed=not dangling,
        metadata={"dangling_edges": len(dangling), "examples": dg.MetadataValue.json([list(r) for r in dangling[:20]])},
    )
