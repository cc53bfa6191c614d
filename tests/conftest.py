"""Shared fixtures: every test that touches files gets its own data directory and DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from digit_assets import settings

REPO_SPECS = settings.PROJECT_ROOT / "specs"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the project's data directory and store at tmp_path (exports, dashboard, DuckDB)."""
    directory = tmp_path / "data"
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(directory))
    monkeypatch.setenv("DIGIT_TC_DB", str(directory / "digit_tc.duckdb"))
    return directory


@pytest.fixture
def specs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped spec files, so tests can add, change and remove sources."""
    directory = tmp_path / "specs"
    shutil.copytree(REPO_SPECS, directory)
    monkeypatch.setenv("DIGIT_TC_SPECS_DIR", str(directory))
    return directory
