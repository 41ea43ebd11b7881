#!/usr/bin/env bash
# Install emosteer into ./.venv. torch is pinned to 2.13.0 here, in the install path, because a
# looser requirement lets pip pull a multi-GB CUDA build; 2.13.0 is the CPU wheel this setup uses.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "install: $* ($(date +%T))"; }
if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    python3 -m venv .venv
fi
step "torch 2.13.0 (CPU wheel, about 200 MB; the longest step)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
step "emosteer and its dependencies (dvc, numpy, scipy, h5py, librosa, pydantic, ...; dvc-ssh, the test tools)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,remote]'
step "done"
