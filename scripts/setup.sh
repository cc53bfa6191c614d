#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with its test extras. Sourced by the other scripts.
# DIGIT_TC_EXTRAS picks the extras (default: dev; e.g. dev,local adds the local model server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS="${DIGIT_TC_EXTRAS:-dev}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.digit-tc-installed-${EXTRAS//,/-}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
  touch "$stamp"
fi
