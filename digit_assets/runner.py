"""Materialize the main sequence of stage jobs in this process, as the Dagster UI or a backfill would.

Used by the CLI and by the local-model runner; the job names come from the job definitions.
Runs are recorded in the Dagster instance of ``DAGSTER_HOME`` (prepared first), so ``dagster dev``
started with the same home shows them with their metadata and checks. The terminal gets one line per
stage (with a progress bar over its runs while it lasts, on a terminal); Dagster's event log goes to
the instance and to a log file, and to the terminal only when ``verbose``.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from digit_assets import settings
from digit_assets.defs.baselines.jobs import import_baselines_job, stateful_search_job
from digit_assets.defs.dataset.jobs import build_dataset_job, deduplicate_job
from digit_assets.defs.fidelity.jobs import refresh_fidelity_job
from digit_assets.defs.ingestion.assets import spec_file_partitions
from digit_assets.defs.ingestion.jobs import build_tool_catalog_job, ingest_spec_file_job
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.defs.synthesis.jobs import synthesize_shard_job
from digit_assets.definitions import defs
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.progress import observed
from digit_assets.instance import prepare_home

# The stage jobs in pipeline order; a partitioned job runs once per partition.
MAIN_SEQUENCE = tuple(
    job.name
    for job in (
        ingest_spec_file_job,
        build_tool_catalog_job,
        synthesize_shard_job,
        deduplicate_job,
        stateful_search_job,
        import_baselines_job,
        refresh_fidelity_job,
        build_dataset_job,
    )
)


@dataclass
class StageResult:
    """One job of the sequence: its runs, which failed and why, and its asset checks."""

    job: str
    runs: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (run label, reason)
    checks_passed: int = 0
    checks_warned: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def log_file() -> Path:
    return settings.data_dir() / "logs" / "materialize.log"


def materialize_all(
    only: list[str] | None = None, synthesis: Mapping[str, object] | None = None, *, verbose: bool = False
) -> int:
    """Materialize every asset of the main sequence (or the jobs ``only`` names); returns the number of failed runs.

    ``synthesis`` overrides fields of the synthesis config (e.g. ``{"conversations": 10}``).
    """
    return sum(len(stage.failures) for stage in run_stages(only, synthesis, verbose=verbose))


def run_stages(
    only: list[str] | None = None, synthesis: Mapping[str, object] | None = None, *, verbose: bool = False
) -> list[StageResult]:
    """Run the stage jobs in order, printing one line per stage; the results for a summary."""
    # The instance config (run queue of one, for the one DuckDB writer) is in place before any run.
    prepare_home()
    definitions = defs()
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    stages = []
    with path.open("w", encoding="utf-8") as log, dg.DagsterInstance.get() as instance:
        spec_files = list_spec_files(settings.specs_dir())
        known = set(instance.get_dynamic_partitions(spec_file_partitions.name))
        instance.add_dynamic_partitions(spec_file_partitions.name, [s for s in spec_files if s not in known])
        for job_name in only or MAIN_SEQUENCE:
            job = definitions.resolve_job_def(job_name)
            partitions = job.partitions_def
            keys = partitions.get_partition_keys(dynamic_partitions_store=instance) if partitions else [None]
            stage = StageResult(job_name)
            started = time.perf_counter()
            with _progress(console, job_name, len(keys)) as advance:
                for key in keys:
                    with _event_log_to(log, verbose):
                        result = job.execute_in_process(
                            run_config=run_config(job_name, synthesis),
                            instance=instance,
                            partition_key=key,
                            raise_on_error=False,
                        )
                    _record(stage, job_name + (f"[{key}]" if key else ""), result)
                    advance()
            stage.seconds = time.perf_counter() - started
            console.print(stage_line(stage))
            stages.append(stage)
    return stages


@contextlib.contextmanager
def _progress(console: Console, job_name: str, total: int) -> Iterator:
    """Transient bars on a terminal only (a log or a pipe gets the final line): one over the stage's
    runs, and one following the engine's progress inside the current run (conversations, goals)."""
    if not console.is_terminal:
        yield lambda: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description:34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:
        runs = bar.add_task(job_name, total=total)
        inner = bar.add_task("", total=None, visible=False)

        def follow(label: str, done: int, of: int | None) -> None:
            bar.update(inner, description=f"  {label}"[:34], completed=done, total=of, visible=True)

        with observed(follow):
            yield lambda: bar.advance(runs)


@contextlib.contextmanager
def _event_log_to(log: TextIO, verbose: bool) -> Iterator[None]:
    """Dagster's console logger writes to whatever ``sys.stderr`` is when it emits: point it at the log file."""
    if verbose:
        yield
        return
    with contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
        yield
    log.flush()


def _record(stage: StageResult, label: str, result: dg.ExecuteInProcessResult) -> None:
    stage.runs += 1
    if not result.success:
        stage.failures.append((label, failure_reason(result)))
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            stage.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            stage.checks_warned.append(evaluation.check_name)
        else:
            stage.checks_failed.append(evaluation.check_name)


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step's error, on one line."""
    for event in result.all_events:
        if event.is_step_failure and (error := event.step_failure_data.error) is not None:
            error = error.cause or error
            message = error.message
            if error.cls_name == "Failure":  # a stage saying why: its reason is the message, not the class
                message = message.split(": ", 1)[-1]
            return f"{event.step_key}: {_one_line(message)}"
    return f"run {result.run_id} did not succeed (see the log file)"


def _one_line(text: str, limit: int = 500) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def stage_line(stage: StageResult) -> str:
    runs = f"{stage.runs} runs" if stage.runs != 1 else "1 run"
    if stage.ok:
        return f"ok     {stage.job:20} {runs:8} {stage.seconds:6.1f}s"
    label, reason = stage.failures[0]
    more = f" (+{len(stage.failures) - 1} more failed runs)" if len(stage.failures) > 1 else ""
    return f"FAILED {label}: {reason}{more}"


def run_config(job_name: str, synthesis: Mapping[str, object] | None) -> dict:
    """The run config of one job: the synthesis overrides go to the synthesis job only."""
    if job_name == synthesize_shard_job.name and synthesis:
        return {"ops": {synthetic_conversations.op.name: {"config": dict(synthesis)}}}
    return {}
