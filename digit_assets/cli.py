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
        from digit_assets.runner import materialize_all

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
