"""Materialize the pipeline stages in-process against a tmp DuckDB file, as the tests need them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from digit_assets.defs.ingestion import checks as ingestion_checks
from digit_assets.defs.ingestion.assets import dataflow_graph, enriched_tools, spec_file_partitions, tool_specs
from digit_assets.defs.resources import LLMResource, StoreResource
from digit_assets.defs.synthesis import checks as synthesis_checks
from digit_assets.defs.synthesis.assets import SHARDS, conversation_exports, synthetic_conversations
from digit_assets.engine.ingest.directory import list_spec_files


def resources(database: Path, llm: LLMResource | None = None) -> dict[str, object]:
    return {"store": StoreResource(database=str(database)), "llm": llm or LLMResource()}


def checks_of(module) -> list[dg.AssetChecksDefinition]:
    return [value for value in vars(module).values() if isinstance(value, dg.AssetChecksDefinition)]


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def build_catalog(
    instance: dg.DagsterInstance, database: Path, specs: Path, llm: LLMResource | None = None
) -> dg.ExecuteInProcessResult:
    sources = list_spec_files(specs)
    instance.add_dynamic_partitions(spec_file_partitions.name, sources)
    for source in sources:
        dg.materialize([tool_specs], partition_key=source, instance=instance, resources=resources(database))
    return dg.materialize(
        [tool_specs, enriched_tools, dataflow_graph, *checks_of(ingestion_checks)],
        selection=[enriched_tools, dataflow_graph],
        instance=instance,
        resources=resources(database, llm),
    )


def synthesize_all_shards(
    instance: dg.DagsterInstance, database: Path, conversations: int, llm: LLMResource | None = None, **knobs
) -> list[dg.ExecuteInProcessResult]:
    config = {"ops": {"synthetic_conversations": {"config": {"conversations": conversations, **knobs}}}}
    return [
        dg.materialize(
            [dataflow_graph, synthetic_conversations, *checks_of(synthesis_checks)],
            selection=dg.AssetSelection.assets(synthetic_conversations).without_checks()
            | dg.AssetSelection.checks_for_assets(synthetic_conversations),
            partition_key=str(shard),
            run_config=config,
            instance=instance,
            resources=resources(database, llm),
        )
        for shard in range(SHARDS)
    ]


def export(instance: dg.DagsterInstance, database: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [synthetic_conversations, conversation_exports, *checks_of(synthesis_checks)],
        selection=dg.AssetSelection.assets(conversation_exports),
        instance=instance,
        resources=resources(database),
    )
