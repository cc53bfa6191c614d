#!/usr/bin/env bash
# Sets up .venv and materializes the whole pipeline on the embedded offline LLM default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/data/dagster_home}"
.venv/bin/digit-tc materialize "$@"
