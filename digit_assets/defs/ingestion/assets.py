"""Stage 1 of method.md: tool specs from many sources, enriched with output schemas, linked by data flow."""


from collections import Counter

import dagster as dg

from digit_assets import settings
from digit_assets.defs.resources import LLMResource, StoreResource
from digit_assets.engine.dataflow import add_proposed_edges, build_dataflow_graph, graph_edges, graph_stats, propose_links
from digit_assets.engine.enrich import enrich_tools
from digit_assets.engine.ingest import IngestResult, ingest_file
from digit_assets.engine.ingest.directory import list_spec_files, namespace_owner, skipped_files
from digit_assets.engine.llm.usage import UsageMeter
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.specs import Rejection
from digit_assets.store import delete_where, insert_rows
from digit_assets.store.catalog import (
    dataflow_edge_row,
    enriched_tool_row,
    load_enriched_tools,
    load_tool_specs,
    source_file_row,
    tool_spec_row,
)
from digit_assets.store.llm_usage import usage_rows
from digit_assets.store.quarantine import quarantine_rows

spec_file_partitions = dg.DynamicPartitionsDefinition(name="spec_files")


class IngestionConfig(dg.Config):
    max_file_bytes: int = 5_000_000


class EnrichmentConfig(dg.Config):
    seed: int = 7


def _without_lost_namespace(result: IngestResult, owner: str) -> IngestResult:
    """A file whose namespace belongs to another file keeps nothing; each tool is quarantined."""
    moved = [
        Rejection(
            stage="ingestion",
            source=result.source_file,
            item=tool.name,
            position=tool.position,
            reason=f"{result.source_file}: namespace {result.namespace!r} is already taken by {owner}; rename one of the files",
        )
        for tool in result.tools
    ]
    return result.model_copy(update={"tools": [], "rejections": result.rejections + moved})


@dg.asset(
    group_name="ingestion",
    partitions_def=spec_file_partitions,
    kinds={"duckdb"},
    description="Tools of one spec file (OpenAI, BFCL, MCP or OpenAPI), normalized; bad items quarantined.",
)
def tool_specs(context: dg.AssetExecutionContext, config: IngestionConfig, store: StoreResource) -> dg.MaterializeResult:
    source_file = context.partition_key
    root = settings.specs_dir()
    path = root / source_file
    provenance = Provenance.for_config(context.run.run_id, 0, config.model_dump())
    with store.store().transaction() as conn:
        for table, column in (("tool_specs", "source_file"), ("source_files", "source_file")):
            delete_where(conn, table, **{column: source_file})
        delete_where(conn, "quarantine", stage="ingestion", source=source_file)
        if not path.is_file():
            context.log.info(f"{source_file} is gone from {root}: its tools were removed")
            return dg.MaterializeResult(metadata={"removed": True, "tools": 0})
        result = ingest_file(path, root, max_bytes=config.max_file_bytes)
        owner = namespace_owner(source_file, list_spec_files(root))
        if owner is not None:
            result = _without_lost_namespace(result, owner)
        insert_rows(conn, "source_files", [source_file_row(result, provenance)])
        insert_rows(conn, "tool_specs", [tool_spec_row(tool, provenance) for tool in result.tools])
        insert_rows(conn, "quarantine", quarantine_rows(result.rejections, provenance))
    for rejection in result.rejections:
        context.log.warning(rejection.reason)
    skipped = skipped_files(root)
    for skipped_file, reason in skipped.items():
        context.log.warning(f"{skipped_file} in {root} is not ingested: {reason}")
    return dg.MaterializeResult(
        metadata={
            "format": result.format or "unknown",
            "namespace": result.namespace,
            "tools": len(result.tools),
            "quarantined": len(result.rejections),
            "file_error": result.file_error or "",
            "tool_names": dg.MetadataValue.json(sorted(tool.name for tool in result.tools)),
            "skipped_files": dg.MetadataValue.json(skipped),
        }
    )


@dg.asset(
    group_name="ingestion",
    deps=[tool_specs],
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Every tool with an output schema: declared by its source, or inferred by the enrichment role.",
)
def enriched_tools(
    context: dg.AssetExecutionContext, config: EnrichmentConfig, store: StoreResource, llm: LLMResource
) -> dg.MaterializeResult:
    meter = UsageMeter()
    with store.store().connect() as conn:
        specs = load_tool_specs(conn, list_spec_files(settings.specs_dir()))
    with llm.session(store.store(), meter) as port:
        provenance = Provenance.for_config(context.run.run_id, config.seed, {**config.model_dump(), "llm": port.label})
        enriched, rejections = enrich_tools(specs, port, seed=config.seed)
    usage = meter.snapshot()
    with store.store().transaction() as conn:
        conn.execute("DELETE FROM enriched_tools")
        delete_where(conn, "quarantine", stage="enrichment")
        delete_where(conn, "llm_usage", asset="enriched_tools")
        insert_rows(
            conn,
            "llm_usage",
            usage_rows(usage, asset="enriched_tools", shard=None, variant="", llm=port.label, provenance=provenance),
        )
        insert_rows(conn, "enriched_tools", [enriched_tool_row(tool, provenance) for tool in enriched])
        insert_rows(conn, "quarantine", quarantine_rows(rejections, provenance))
    inferred = sum(1 for tool in enriched if tool.output_origin == "inferred")
    return dg.MaterializeResult(
        metadata={
            "tools": len(enriched),
            "declared_output_schemas": len(enriched) - inferred,
            "inferred_output_schemas": inferred,
            "declared_without_required": sum(
                1 for t in enriched if t.output_origin == "declared" and t.output_schema != t.spec.output_schema
            ),
            "rejected": len(rejections),
            "llm": port.label,
            **usage.metadata(),
            "llm_usage": dg.MetadataValue.md(usage.markdown()),
        }
    )


@dg.asset(
    group_name="ingestion",
    deps=[enriched_tools],
    kinds={"duckdb", "networkx"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Data-flow graph: an edge when an output field of one tool can feed a parameter of another.",
)
def dataflow_graph(context: dg.AssetExecutionContext, store: StoreResource, llm: LLMResource) -> dg.MaterializeResult:
    meter = UsageMeter()
    with store.store().connect() as conn:
        tools = load_enriched_tools(conn)
    graph = build_dataflow_graph(tools)
    with llm.session(store.store(), meter) as port:
        proposals, rejections = propose_links(tools, graph, port, seed=0)
    rejections += add_proposed_edges(graph, tools, proposals, proposed_by=port.label)
    provenance = Provenance.for_config(
        context.run.run_id, 0, {"tools": sorted(t.spec.qualified_name for t in tools), "llm": port.label}
    )
    usage = meter.snapshot()
    with store.store().transaction() as conn:
        conn.execute("DELETE FROM dataflow_edges")
        delete_where(conn, "quarantine", stage="dataflow")
        delete_where(conn, "llm_usage", asset="dataflow_graph")
        insert_rows(conn, "dataflow_edges", [dataflow_edge_row(edge, provenance) for edge in graph_edges(graph)])
        insert_rows(conn, "quarantine", quarantine_rows(rejections, provenance))
        insert_rows(
            conn,
            "llm_usage",
            usage_rows(usage, asset="dataflow_graph", shard=None, variant="", llm=port.label, provenance=provenance),
        )
    stats = graph_stats(graph)
    kinds = Counter(edge.match_kind for edge in graph_edges(graph))
    return dg.MaterializeResult(
        metadata={
            **{key: value for key, value in stats.items() if isinstance(value, int | float)},
            "linked_share_by_namespace": dg.MetadataValue.json(
                {namespace: ns_stats["linked_share"] for namespace, ns_stats in stats["namespaces"].items()}
            ),
            "edges_by_kind": dg.MetadataValue.json(dict(sorted(kinds.items()))),
            "rejected_proposals": len(rejections),
            "graph_stats": dg.MetadataValue.json(stats),
            **usage.metadata(),
        }
    )
