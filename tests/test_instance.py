"""The instance config: written when missing, loaded by Dagster as a queue of one, operator edits kept."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from digit_assets.instance import SECTIONS, ensure_instance_config, fail_orphaned_runs, prepare_home


def load_instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def test_fresh_home_gets_a_run_queue_of_one(tmp_path):
    home = tmp_path / "home"
    assert ensure_instance_config(home) == list(SECTIONS)
    with load_instance(home) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        assert instance.telemetry_enabled is False and instance.nux_enabled is False
    # A second call changes nothing.
    before = (home / "dagster.yaml").read_text()
    assert ensure_instance_config(home) == []
    assert (home / "dagster.yaml").read_text() == before


def test_operator_sections_and_comments_survive(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    mine = "# my queue\nconcurrency:\n  runs:\n    max_concurrent_runs: 3\nrun_monitoring:\n  enabled: true"
    (home / "dagster.yaml").write_text(mine)
    assert ensure_instance_config(home) == ["telemetry", "nux"]
    text = (home / "dagster.yaml").read_text()
    assert text.startswith(mine + "\n")
    config = yaml.safe_load(text)
    assert config["concurrency"] == {"runs": {"max_concurrent_runs": 3}}
    assert config["run_monitoring"] == {"enabled": True} and config["telemetry"] == {"enabled": False}
    with load_instance(home) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 3


def test_a_file_that_is_not_a_mapping_is_refused_untouched(tmp_path):
    (tmp_path / "dagster.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="not a YAML mapping"):
        ensure_instance_config(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == "- just\n- a list\n"


def test_the_runner_prepares_the_default_home_under_the_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "unset below; undo removes what the CLI sets")
    monkeypatch.delenv("DAGSTER_HOME")
    home = prepare_home()  # what the runner does before any run
    assert Path(home) == data_dir / "dagster_home" and os.environ["DAGSTER_HOME"] == home
    with load_instance(Path(home)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


# A stateful search far too long to finish, recorded in the instance of DAGSTER_HOME.
ENDLESS_RUN = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from digit_assets.defs.baselines.assets import stateful_search_baselines
    from digit_assets.defs.resources import StoreResource

    config = {"conversations": 10_000_000, "max_attempts": 20_000_000}
    with dg.DagsterInstance.get() as instance:
        dg.materialize(
            [stateful_search_baselines],
            partition_key=sys.argv[2],
            run_config={"ops": {"stateful_search_baselines": {"config": config}}},
            instance=instance,
            resources={"store": StoreResource(database=sys.argv[1])},
        )
    """
)


def test_runs_killed_with_their_process_stop_holding_the_queue(tmp_path, monkeypatch):
    home = tmp_path / "home"
    ensure_instance_config(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    processes = {
        domain: subprocess.Popen([sys.executable, "-c", ENDLESS_RUN, str(tmp_path / f"{domain}.duckdb"), domain])
        for domain in ("retail", "files")
    }
    try:
        with load_instance(home) as instance:

            def run_of(process: subprocess.Popen) -> str | None:
                """The run whose recorded process is this one, once its steps execute."""
                for record in instance.get_run_records():
                    for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                        pid = entry.dagster_event.event_specific_data.metadata.get("pid")
                        if pid is not None and int(pid.value) == process.pid:
                            return record.dagster_run.run_id
                assert process.poll() is None, "the run process ended early"
                return None

            runs = {}
            for domain, process in processes.items():
                while (run_id := run_of(process)) is None:
                    time.sleep(0.2)
                runs[domain] = run_id
            processes["retail"].kill()
            processes["retail"].wait(timeout=60)

            assert fail_orphaned_runs(instance) == [runs["retail"]]
            assert instance.get_run_by_id(runs["retail"]).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(runs["files"]).status == dg.DagsterRunStatus.STARTED  # still alive
            assert fail_orphaned_runs(instance) == []
    finally:
        for process in processes.values():
            process.kill()
            process.wait(timeout=60)
