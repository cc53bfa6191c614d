"""Materialize the main sequence of stage jobs in this process, as the Dagster UI or a backfill would.

Used by the CLI and by the local-model runner; the job names come from the job definitions.
Runs are recorded in the Dagster instance of ``DAGSTER_HOME`` (prepared first), so ``dagster dev``
started with the same home shows them with their metadata and checks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import dagster as dg

from digit_assets import settings
from digit_assets.defs.baselines.jobs import import_baselines_job, stateful_search_job
from digit_assets.defs.fidelity.jobs import refresh_fidelity_job
from digit_assets.defs.ingestion.assets import spec_file_partitions
from digit_assets.defs.ingestion.jobs import build_tool_catalog_job, ingest_spec_file_job
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.defs.synthesis.jobs import synthesize_shard_job
from digit_assets.definitions import defs
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.instance import prepare_home

# The stage jobs in pipeline order; a partitioned job runs once per partition.
MAIN_SEQUENCE = tuple(
    job.name
    for job in (
        ingest_spec_file_job,
        build_tool_catalog_job,
        synthesize_shard_job,
        stateful_search_job,
        import_baselines_job,
        refresh_fidelity_job,
    )
)


def materialize_all(only: list[str] | None = None, synthesis: Mapping[str, object] | None = None) -> int:
    """Materialize every asset of the main sequence (or the jobs ``only`` names); returns the number of failed runs.

    ``synthesis`` overrides fields of the synthesis config (e.g. ``{"conversations": 10}``).
    """
    # The instance config (run queue of one, for the one DuckDB writer) is in place before any run.
    prepare_home()
    definitions = defs()
    failures = 0
    with dg.DagsterInstance.get() as instance:
        spec_files = list_spec_files(settings.specs_dir())
        known = set(instance.get_dynamic_partitions(spec_file_partitions.name))
        instance.add_dynamic_partitions(spec_file_partitions.name, [s for s in spec_files if s not in known])
        for job_name in only or MAIN_SEQUENCE:
            job = definitions.resolve_job_def(job_name)
            partitions = job.partitions_def
            keys = partitions.get_partition_keys(dynamic_partitions_store=instance) if partitions else [None]
            for key in keys:
                started = time.perf_counter()
                result = job.execute_in_process(
                    run_config=run_config(job_name, synthesis),
                    instance=instance,
                    partition_key=key,
                    raise_on_error=False,
                )
                label = job_name + (f"[{key}]" if key else "")
                status = "ok" if result.success else "FAILED"
                print(f"{status:6} {label} ({time.perf_counter() - started:.1f}s, run {result.run_id})", flush=True)
                for event in result.all_events if not result.success else []:
                    if event.is_step_failure and (error := event.step_failure_data.error) is not None:
                        print(f"       {event.step_key}: {(error.cause or error).message.strip()}", flush=True)
                failures += 0 if result.success else 1
    return failures


def run_config(job_name: str, synthesis: Mapping[str, object] | None) -> dict:
    """The run config of one job: the synthesis overrides go to the synthesis job only."""
    if job_name == synthesize_shard_job.name and synthesis:
        return {"ops": {synthetic_conversations.op.name: {"config": dict(synthesis)}}}
    return {}
