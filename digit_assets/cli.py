"""``digit-tc``: run the whole pipeline from a terminal, as the Dagster UI or a backfill would.

Runs are recorded in a Dagster instance (``DAGSTER_HOME``, by default ``data/dagster_home``), so
``dagster dev`` started with the same home shows them with their metadata and checks.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping

from digit_assets import settings
from digit_assets.instance import prepare_home

# The stage jobs in pipeline order; a partitioned job runs once per partition.
MAIN_SEQUENCE = (
    "ingest_spec_file",
    "build_tool_catalog",
    "synthesize_shard",
    "stateful_search",
    "import_baselines",
    "refresh_fidelity",
)


def _prepare_dagster_home() -> str:
    # The instance config (run queue of one, for the one DuckDB writer) is in place before any run.
    return prepare_home()


def materialize_all(only: list[str] | None = None, synthesis: Mapping[str, object] | None = None) -> int:
    """Materialize every asset of the main sequence; returns the number of failed runs.

    ``synthesis`` overrides fields of the synthesis config (e.g. ``{"conversations": 10}``).
    """
    _prepare_dagster_home()
    import dagster as dg

    from digit_assets.defs.ingestion.assets import spec_file_partitions
    from digit_assets.definitions import defs
    from digit_assets.engine.ingest.directory import list_spec_files

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
                    run_config=_run_config(job_name, synthesis),
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


def _run_config(job_name: str, synthesis: Mapping[str, object] | None) -> dict:
    if job_name == "synthesize_shard" and synthesis:
        return {"ops": {"synthetic_conversations": {"config": dict(synthesis)}}}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digit-tc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("materialize", help="materialize every asset on the configured LLM (offline by default)")
    run.add_argument("--job", action="append", help="run only these stage jobs (repeatable), in the given order")
    run.add_argument("--conversations", type=int, help="conversations per variant to attempt (default: the asset's config)")
    local = sub.add_parser(
        "local-run", help="serve a small real model (SmolLM2-135M) on 127.0.0.1 and materialize everything against it"
    )
    local.add_argument("--conversations", type=int, default=1, help="conversations per variant to attempt (default: 1)")
    local.add_argument("--parallel", type=int, default=2, help="server slots = conversations in flight (default: 2)")
    args = parser.parse_args(argv)
    if args.command == "local-run":
        from digit_assets.local_model import run_local

        return run_local(args.conversations, parallel=args.parallel)
    if args.command == "materialize":
        synthesis = {"conversations": args.conversations} if args.conversations is not None else None
        failures = materialize_all(args.job, synthesis)
        print(f"\nResults: DuckDB store {settings.default_database()}")
        print(f"Chat-format JSONL: {settings.data_dir() / 'exports'}")
        print(f"Fidelity dashboard: {settings.data_dir() / 'fidelity' / 'dashboard.html'}")
        print(f"Dagster runs: DAGSTER_HOME={os.environ['DAGSTER_HOME']} (see them with: dagster dev -w workspace.yaml)")
        return 1 if failures else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
