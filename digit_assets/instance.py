"""The Dagster instance settings the pipeline needs, written into ``DAGSTER_HOME/dagster.yaml``.

DuckDB admits one writing process per file, so the run queue launches one run at a time: runs
started together (a backfill over the shards, the daily schedule, the sensors, a click in the UI)
wait in the queue instead of on the file lock. Telemetry and the UI's first-visit sign-up dialog are
off: the project runs with no network.

Sections are added only when the file lacks them (by top-level key, as text, so the operator's
comments and values survive); a section the operator wrote is never changed.

A queue of one has a hazard: a run whose process died with it (``dagster dev`` or the machine killed
mid-run) stays "started" forever, since the local run launcher cannot check a worker's health, and
holds the only slot. Preparing the home marks such runs failed: their recorded process is gone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from digit_assets import settings

# Top-level dagster.yaml sections, each with the text appended when the file lacks that key.
SECTIONS: dict[str, str] = {
    "concurrency": (
        "# One run at a time: every run writes the same DuckDB file, which admits one writer.\n"
        "concurrency:\n"
        "  runs:\n"
        "    max_concurrent_runs: 1\n"
    ),
    "telemetry": "# No network: Dagster telemetry stays off.\ntelemetry:\n  enabled: false\n",
    "nux": "# No sign-up dialog over the UI on first visit.\nnux:\n  enabled: false\n",
}


def default_home() -> Path:
    """``DAGSTER_HOME`` if set, else ``dagster_home`` under the data directory."""
    return Path(os.environ.get("DAGSTER_HOME", settings.data_dir() / "dagster_home"))


def ensure_instance_config(home: str | Path) -> list[str]:
    """Create ``home`` and add the missing sections to its ``dagster.yaml``; returns the sections added."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    text = path.read_text() if path.exists() else ""
    present = yaml.safe_load(text) or {}
    if not isinstance(present, dict):
        raise ValueError(f"{path} is not a YAML mapping; fix or remove it")
    missing = [key for key in SECTIONS if key not in present]
    if missing:
        prefix = "" if not text or text.endswith("\n") else "\n"
        path.write_text(text + prefix + "\n".join(SECTIONS[key] for key in missing))
    return missing


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(instance) -> list[str]:
    """Mark failed the in-progress runs whose every recorded process (run worker, step process) is gone.

    Runs with no process recorded yet are left alone: they may be starting right now.
    """
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=in_progress)):
        run = record.dagster_run
        pids = set()
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            pid = entry.dagster_event.event_specific_data.metadata.get("pid")
            if pid is not None:
                pids.add(int(pid.value))
        if pids and not any(_alive(pid) for pid in pids):
            instance.report_run_failed(run, f"The run's processes ({', '.join(map(str, sorted(pids)))}) are gone: it was killed mid-run.")
            failed.append(run.run_id)
    return failed


def prepare_home() -> str:
    """Point ``DAGSTER_HOME`` at the default home when unset, make sure its config is in place and
    release the queue's slot from runs killed with their process."""
    import dagster as dg

    home = os.environ.setdefault("DAGSTER_HOME", str(default_home()))
    ensure_instance_config(home)
    with dg.DagsterInstance.from_config(home) as instance:
        for run_id in fail_orphaned_runs(instance):
            print(f"marked run {run_id} failed: its process is gone", file=sys.stderr)
    return home


if __name__ == "__main__":
    # ``python -m digit_assets.instance``: prepare the home before starting ``dagster dev`` by hand.
    print(prepare_home())
