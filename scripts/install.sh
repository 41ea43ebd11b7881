#!/usr/bin/env bash
# Install emosteer into ./.venv. torch is pinned to 2.13.0 here, in the install path, because a
# looser requirement lets pip pull a multi-GB CUDA build; 2.13.0 is the CPU wheel this setup uses.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
