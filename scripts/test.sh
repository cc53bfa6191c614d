#!/usr/bin/env bash
# Sets up .venv and runs the checks: Dagster definitions validate, then the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/dg check defs
.venv/bin/python -m pytest "$@"
