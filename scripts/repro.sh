#!/usr/bin/env bash
# Install, then run the pipeline on the embedded synthetic data and show the results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
time dvc repro "$@"
dvc metrics show --md
echo "Report: reports/report.md   Plots: dvc plots show (writes dvc_plots/index.html)"
