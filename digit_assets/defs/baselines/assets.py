"""The comparison point of the fidelity analysis: conversations made by search in a stateful environment
(one partition per bundled domain) and public stateful trajectories imported from the baselines directory."""

# No ``from __future__ import annotations`` here: the installed Dagster reads the ``config`` parameter's
# annotation unevaluated, and a string cannot be resolved to a Config class (dagster-io/dagster#14571).
import hashlib
from collections import Counter

import dagster as dg

from digit_assets import settings
from digit_assets.defs.resources import StoreResource
from digit_assets.defs.settings_config import config_from, hashed, settings_of
from digit_assets.engine.baselines.environments import DOMAINS
from digit_assets.engine.baselines.importers import ImportResult, contained_files, import_directory
from digit_assets.engine.baselines.search import SearchRun, SearchSettings, generate
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.progress import Progress
from digit_assets.engine.provenance import Provenance
from digit_assets.store import delete_where, insert_rows
from digit_assets.store.baselines import attempt_rows
from digit_assets.store.catalog import load_tool_specs
from digit_assets.store.conversations import conversation_row
from digit_assets.store.quarantine import quarantine_rows

baseline_domains = dg.StaticPartitionsDefinition(sorted(DOMAINS))


class StatefulSearchConfig(config_from(SearchSettings)):
    """Knobs of the stateful search (the engine's ``SearchSettings`` plus the run's size and seed); the
    defaults give >= 300 solved conversations per domain in seconds."""

    seed: int = 2026
    conversations: int = 320  # solved conversations wanted per domain
    max_attempts: int = 640  # conversations tried at most per domain
    max_turns: int = 4

    def hashed(self) -> dict[str, object]:
        return hashed(self, SearchSettings, added_later=("values_per_parameter", "calls_per_tool"))


def _goal_table(run: SearchRun) -> str:
    solved = Counter(a.goal for a in run.attempts if a.solved)
    unsolved = Counter(a.goal for a in run.attempts if not a.solved)
    errors = Counter()
    for attempt in run.attempts:
        errors[attempt.goal] += attempt.errors
    lines = ["| goal | solved turns | unsolved turns | errors in solved turns |", "|---|---|---|---|"]
    lines += [f"| {goal} | {solved[goal]} | {unsolved[goal]} | {errors[goal]} |" for goal in sorted(solved | unsolved)]
    return "\n".join(lines)


@dg.asset(
    group_name="baselines",
    partitions_def=baseline_domains,
    kinds={"duckdb", "networkx"},
    description="Conversations made by best-first search over real tool calls in one executable domain;"
    " unsolved goals are kept in baseline_attempts with the reason.",
)
def stateful_search_baselines(
    context: dg.AssetExecutionContext, config: StatefulSearchConfig, store: StoreResource
) -> dg.MaterializeResult:
    domain = context.partition_key
    progress = Progress(context.log.info, f"stateful search {domain} (until {config.conversations} solved)", total=config.max_attempts)
    run = generate(
        domain,
        conversations=config.conversations,
        seed=config.seed,
        max_turns=config.max_turns,
        settings=settings_of(config, SearchSettings),
        max_attempts=config.max_attempts,
        on_conversation=lambda solved: progress.advance(**{"solved" if solved else "unsolved": 1}),
    )
    progress.finish()
    provenance = Provenance.for_config(context.run.run_id, config.seed, {**config.hashed(), "domain": domain})
    with store.store().transaction() as conn:
        delete_where(conn, "conversations", source="stateful_search", domain=domain)
        delete_where(conn, "baseline_attempts", domain=domain)
        delete_where(conn, "quarantine", stage="stateful_search", source=domain)
        insert_rows(conn, "conversations", [conversation_row(record, provenance, shard=None) for record in run.records])
        insert_rows(conn, "baseline_attempts", attempt_rows(run.attempts, provenance))
        insert_rows(conn, "quarantine", quarantine_rows(run.rejections, provenance))
    summary = run.summary()
    if summary["conversations"] < config.conversations:
        context.log.warning(f"{domain}: only {summary['conversations']} of {config.conversations} conversations solved in {config.max_attempts} attempts")
    return dg.MaterializeResult(
        metadata={
            **{key: value for key, value in summary.items() if key != "domain"},
            "share_with_errors": round(summary["conversations_with_errors"] / max(1, summary["conversations"]), 3),
            "goals": dg.MetadataValue.md(_goal_table(run)),
            "unsolved_reasons": dg.MetadataValue.json([r.reason for r in run.rejections[:20]]),
        }
    )


def _file_table(results: list[ImportResult]) -> str:
    lines = ["| file | format | imported | rejected |", "|---|---|---|---|"]
    lines += [f"| {r.source_file} | {r.format or 'unknown'} | {len(r.records)} | {len(r.rejections)} |" for r in results]
    return "\n".join(lines)


@dg.asset(
    group_name="baselines",
    kinds={"duckdb"},
    description="Public stateful trajectories (chat runs, call-sequence ground truths) from the baselines"
    " directory; malformed records quarantined with the reason.",
)
def imported_baselines(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    root = settings.baselines_dir()
    fingerprints = {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in contained_files(root)}
    provenance = Provenance.for_config(context.run.run_id, 0, {"files": fingerprints})  # contents, not where they sit
    with store.store().connect() as conn:
        # Positional arguments in call strings take the parameter order of the catalog's tools.
        specs = load_tool_specs(conn, list_spec_files(settings.specs_dir()))
    results = import_directory(root, {spec.name: list(spec.parameters.get("properties", {})) for spec in specs})
    records = [record for result in results for record in result.records]
    rejections = [rejection for result in results for rejection in result.rejections]
    with store.store().transaction() as conn:
        delete_where(conn, "conversations", source="import")
        delete_where(conn, "quarantine", stage="import")
        insert_rows(conn, "conversations", [conversation_row(record, provenance, shard=None) for record in records])
        insert_rows(conn, "quarantine", quarantine_rows(rejections, provenance))
    for rejection in rejections:
        context.log.warning(rejection.reason)
    return dg.MaterializeResult(
        metadata={
            "directory": str(root),
            "files": len(results),
            "conversations": len(records),
            "quarantined": len(rejections),
            "errors": sum(record.n_errors() for record in records),
            "by_file": dg.MetadataValue.md(_file_table(results)),
            "variants": dg.MetadataValue.json(dict(Counter(record.variant for record in records))),
        }
    )
