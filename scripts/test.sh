#!/usr/bin/env bash
# Install, then run the whole test suite (unit tests and one end-to-end `dvc repro`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m pytest "$@"
