"""Where the project keeps its files. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Generated artefacts (DuckDB file, exports, dashboard). ``DIGIT_TC_DATA_DIR`` overrides."""
    return Path(os.environ.get("DIGIT_TC_DATA_DIR", PROJECT_ROOT / "data"))


def default_database() -> Path:
    """The DuckDB store. ``DIGIT_TC_DB`` overrides."""
    return Path(os.environ.get("DIGIT_TC_DB", data_dir() / "digit_tc.duckdb"))


def specs_dir() -> Path:
    """Tool-spec sources watched by the ingestion sensor. ``DIGIT_TC_SPECS_DIR`` overrides."""
    return Path(os.environ.get("DIGIT_TC_SPECS_DIR", PROJECT_ROOT / "specs"))


def baselines_dir() -> Path:
    """Public stateful trajectories dropped here are imported as baselines. ``DIGIT_TC_BASELINES_DIR`` overrides."""
    return Path(os.environ.get("DIGIT_TC_BASELINES_DIR", PROJECT_ROOT / "baselines"))


def lock_timeout_s() -> float:
    """How long a run waits for another process's lock on the DuckDB file. ``DIGIT_TC_LOCK_TIMEOUT_S`` overrides."""
    value = os.environ.get("DIGIT_TC_LOCK_TIMEOUT_S", "60")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"DIGIT_TC_LOCK_TIMEOUT_S={value!r} is not a number of seconds") from None
    if not seconds >= 0:
        raise ValueError(f"DIGIT_TC_LOCK_TIMEOUT_S={value!r} must be zero or more seconds")
    return seconds
