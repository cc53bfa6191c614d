"""Steps 1-11 of method.md as assets: conversations per shard (every variant side by side), then export."""


import time
from collections import Counter
from pathlib import Path

import dagster as dg

from digit_assets import settings
from digit_assets.defs.ingestion.assets import dataflow_graph
from digit_assets.defs.resources import LLMResource, StoreResource
from digit_assets.defs.settings_config import config_from, settings_of
from digit_assets.engine.llm.usage import Usage, UsageMeter
from digit_assets.engine.progress import Progress
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.export import export_jsonl
from digit_assets.engine.synthesis.funnel import funnel_markdown, funnel_rows, zero_yield_problem
from digit_assets.engine.synthesis.processes import synthesize_in_processes
from digit_assets.engine.synthesis.rollout import Catalog, Outcome, SynthesisSettings, synthesize
from digit_assets.store import delete_where, insert_rows
from digit_assets.store.catalog import load_dataflow_edges, load_enriched_tools
from digit_assets.store.conversations import conversation_row, load_conversations
from digit_assets.store.llm_usage import usage_rows
from digit_assets.store.synthesis import attempt_rows

SHARDS = 4
synthesis_shards = dg.StaticPartitionsDefinition([str(shard) for shard in range(SHARDS)])


class SynthesisConfig(config_from(SynthesisSettings)):
    """Knobs of a synthesis run: the engine's ``SynthesisSettings`` (its variant flags choose the main
    variant) plus the run's size and seed. ``ablations`` also runs ``no_impl`` and ``no_bt`` on the same seeds."""

    conversations: int = 1600
    seed: int = 2026
    ablations: bool = True

    def variants(self) -> list[SynthesisSettings]:
        flags = [(self.hidden_calls, self.back_translation)]
        if self.ablations:
            flags += [(False, True), (True, False)]
        return [settings_of(self, SynthesisSettings, hidden_calls=h, back_translation=b) for h, b in dict.fromkeys(flags)]


@dg.asset(
    group_name="synthesis",
    partitions_def=synthesis_shards,
    deps=[dataflow_graph],
    kinds={"duckdb"},
    description="DiGiT-TC conversations of one shard, with the no_impl and no_bt ablations on the same seeds.",
)
def synthetic_conversations(
    context: dg.AssetExecutionContext, config: SynthesisConfig, store: StoreResource, llm: LLMResource
) -> dg.MaterializeResult:
    shard = int(context.partition_key)
    meter = UsageMeter()
    with store.store().connect() as conn:
        catalog = Catalog.build(load_enriched_tools(conn), load_dataflow_edges(conn))
    if not catalog.tools:
        # Every conversation would be rejected for a missing upstream, not for anything about it.
        raise dg.Failure(
            description=f"the tool catalog in {store.database} is empty: materialize the ingestion and "
            "catalog stages (jobs ingest_spec_file, build_tool_catalog) before synthesis",
        )
    indices = range(shard, config.conversations, SHARDS)
    outcomes: list[Outcome] = []
    usage_by_variant: dict[str, Usage] = {}
    started = time.perf_counter()
    with llm.rollout_session(store.store(), meter) as (port, process_ports):
        provenance = Provenance.for_config(
            context.run.run_id, config.seed, {**config.model_dump(), "llm": port.label, "shards": SHARDS}
        )
        for variant in config.variants():
            progress = Progress(context.log.info, f"shard {shard} {variant.variant}", total=len(indices))
            before = meter.snapshot()

            def on_outcome(outcome: Outcome, progress: Progress = progress) -> None:
                progress.advance(**{"accepted" if outcome.accepted else "rejected": 1})

            if process_ports is None:
                batch = synthesize(
                    catalog, port, variant, base_seed=config.seed, indices=indices, workers=llm.workers, on_outcome=on_outcome
                )
            else:
                batch, _ = synthesize_in_processes(
                    catalog, process_ports, variant, base_seed=config.seed, indices=indices,
                    processes=llm.processes, workers=llm.workers, meter=meter, on_outcome=on_outcome,
                )
            progress.finish()
            usage_by_variant[variant.variant] = meter.snapshot() - before
            outcomes += batch
    elapsed = time.perf_counter() - started
    with store.store().transaction() as conn:
        delete_where(conn, "conversations", source="digit_tc", shard=shard)
        delete_where(conn, "synthesis_attempts", shard=shard)
        delete_where(conn, "llm_usage", asset="synthetic_conversations", shard=shard)
        insert_rows(
            conn,
            "conversations",
            [conversation_row(o.record, provenance, shard=shard) for o in outcomes if o.accepted and o.record],
        )
        insert_rows(conn, "synthesis_attempts", [row for o in outcomes for row in attempt_rows(o, shard, provenance)])
        insert_rows(
            conn,
            "llm_usage",
            [
                row
                for variant, usage in usage_by_variant.items()
                for row in usage_rows(
                    usage,
                    asset="synthetic_conversations",
                    shard=shard,
                    variant=variant,
                    llm=port.label,
                    provenance=provenance,
                )
            ],
        )
    accepted = Counter(o.variant for o in outcomes if o.accepted)
    attempted = Counter(o.variant for o in outcomes)
    rejections = Counter(f"{o.variant}:{o.reject_stage}" for o in outcomes if not o.accepted)
    funnel = funnel_rows([(o.variant, e.turn, e.stage, e.accepted) for o in outcomes for e in o.events])
    usage = meter.snapshot()
    problem = zero_yield_problem(outcomes, funnel)
    if problem is not None:
        # The attempts are stored with their reasons above; the run fails so nobody reads "ok".
        raise dg.Failure(description=f"shard {shard}: {problem}", metadata={"funnel": dg.MetadataValue.md(funnel_markdown(funnel))})
    return dg.MaterializeResult(
        metadata={
            **{f"accepted_{variant}": count for variant, count in sorted(accepted.items())},
            **{f"attempted_{variant}": count for variant, count in sorted(attempted.items())},
            "rejections_by_stage": dg.MetadataValue.json(dict(sorted(rejections.items()))),
            "funnel": dg.MetadataValue.md(funnel_markdown(funnel)),
            "accepted_per_second": round(sum(accepted.values()) / elapsed, 1) if elapsed else 0.0,
            "llm": port.label,
            "llm_concurrency": llm.workers,
            "llm_processes": llm.processes,
            **usage.metadata(),
            "llm_usage": dg.MetadataValue.md(usage.markdown()),
            "llm_per_accepted": dg.MetadataValue.md(_per_accepted_markdown(usage_by_variant, accepted)),
        }
    )


def _per_accepted_markdown(usage_by_variant: dict[str, Usage], accepted: Counter) -> str:
    lines = ["| variant | accepted | llm calls | tokens | calls / accepted | tokens / accepted |", "|---|---:|---:|---:|---:|---:|"]
    for variant, usage in usage_by_variant.items():
        totals = usage.totals()
        tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        kept = accepted.get(variant, 0)
        per = (lambda n: f"{n / kept:.1f}") if kept else (lambda n: "-")
        lines.append(f"| {variant} | {kept} | {totals['calls']} | {tokens} | {per(totals['calls'])} | {per(tokens)} |")
    return "\n".join(lines)


def export_directory() -> Path:
    return settings.data_dir() / "exports"


@dg.asset(
    group_name="export",
    deps=[synthetic_conversations],
    kinds={"json"},
    description="Accepted conversations as chat-format JSONL (messages + tools), one file per variant.",
)
def conversation_exports(store: StoreResource) -> dg.MaterializeResult:
    directory = export_directory()
    with store.store().connect() as conn:
        records = load_conversations(conn, source="digit_tc")
    written = export_jsonl(records, directory)
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            **{f"rows_{variant}": count for variant, (path, count) in sorted(written.items())},
            "files": dg.MetadataValue.json({variant: str(path) for variant, (path, _) in sorted(written.items())}),
        }
    )
