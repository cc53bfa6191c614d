"""``digit-tc``: run the whole pipeline from a terminal, as the Dagster UI or a backfill would.

Runs are recorded in a Dagster instance (``DAGSTER_HOME``, by default ``data/dagster_home``), so
``dagster dev`` started with the same home shows them with their metadata and checks.
"""

from __future__ import annotations

import argparse
import os
import sys

from digit_assets import settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digit-tc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("materialize", help="materialize every asset on the configured LLM (offline by default)")
    run.add_argument("--job", action="append", help="run only these stage jobs (repeatable), in the given order")
    run.add_argument("--conversations", type=int, help="conversations per variant to attempt (default: the asset's config)")
    run.add_argument("--verbose", action="store_true", help="also print Dagster's event log (always in the log file)")
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
        from digit_assets.runner import run_stages

        synthesis = {"conversations": args.conversations} if args.conversations is not None else None
        stages = run_stages(args.job, synthesis, verbose=args.verbose)
        print_summary(stages)
        return 1 if any(not stage.ok for stage in stages) else 0
    return 2


def print_summary(stages: list) -> None:
    """Accepted per variant, the checks of every run, and where the results are."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from digit_assets.defs.dataset.assets import dataset_directory
    from digit_assets.defs.fidelity.assets import dashboard_path
    from digit_assets.runner import log_file
    from digit_assets.store import Store
    from digit_assets.store.dataset import variant_summary

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    database = settings.default_database()
    if database.exists():
        with Store(database).connect(read_only=True) as conn:
            rows = variant_summary(conn)
        table = Table(box=box.SIMPLE, title="conversations per variant", title_justify="left", pad_edge=False)
        columns = ("variant", "attempted", "accepted", "near_duplicates", "train", "validation")
        for column in columns:
            table.add_column(column.replace("_", " "), justify="left" if column == "variant" else "right")
        for row in rows:
            table.add_row(*(str(row[column]) for column in columns))
        console.print(table)
    passed = sum(stage.checks_passed for stage in stages)
    warned = [name for stage in stages for name in stage.checks_warned]
    failed = [name for stage in stages for name in stage.checks_failed]
    runs_failed = sum(len(stage.failures) for stage in stages)
    console.print(
        f"checks: {passed} passed, {len(warned)} warned, {len(failed)} failed; runs: "
        f"{sum(stage.runs for stage in stages) - runs_failed} ok, {runs_failed} failed"
    )
    for label, names in (("warned", warned), ("failed", failed)):
        if names:
            console.print(f"  {label}: {', '.join(sorted(set(names)))}")
    console.print(f"dashboard  {dashboard_path()}")
    console.print(f"dataset    {dataset_directory()}/<variant>/ (train and validation .parquet + .jsonl, README.md card)")
    console.print(f"store      {database}")
    console.print(f"log        {log_file()} (Dagster's event log; --verbose prints it)")
    console.print(f"dagster    DAGSTER_HOME={os.environ['DAGSTER_HOME']} (see the runs with: dagster dev -w workspace.yaml)")


if __name__ == "__main__":
    sys.exit(main())
