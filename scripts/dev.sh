#!/usr/bin/env bash
# Sets up .venv, writes the instance config into DAGSTER_HOME (run queue of one: one DuckDB writer)
# and starts the Dagster UI and daemon on http://127.0.0.1:3000 (extra arguments go to dagster dev).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/data/dagster_home}"
.venv/bin/python -m digit_assets.instance >/dev/null
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 "$@"
