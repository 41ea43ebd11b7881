#!/usr/bin/env bash
# Install, run the pipeline on the embedded synthetic data (all seeds in params.yaml), print verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
time dvc repro "$@"
echo
echo "Verdicts pooled over seeds (helps / hurts / none, pooled Δr [95% CI]; rule: docs/statistics.md):"
emosteer verdicts
echo
echo "Report: reports/report.md   Metrics: dvc metrics show metrics/pooled/5x5 --md   Plots: dvc plots show"
