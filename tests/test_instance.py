"""The instance config: written when missing, loaded by Dagster as a queue of one, operator edits kept."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from digit_assets import cli
from digit_assets.instance import SECTIONS, ensure_instance_config


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


def test_cli_prepares_the_default_home_under_the_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "unset below; undo removes what the CLI sets")
    monkeypatch.delenv("DAGSTER_HOME")
    home = cli._prepare_dagster_home()
    assert Path(home) == data_dir / "dagster_home" and os.environ["DAGSTER_HOME"] == home
    with load_instance(Path(home)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
