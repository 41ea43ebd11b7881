#!/usr/bin/env bash
# One sweep point: clone the shared git remote into this task's own folder, run the point as a DVC
# experiment, push it (git ref to the git remote, outputs to the DVC remote). An array task of
# scripts/sweep_slurm.sh; also runs by hand on any machine: scripts/slurm/task.sh SWEEP_DIR INDEX.
#
# SWEEP_DIR holds sweep.env (REPO, REV, NAME) and points.txt (line INDEX+1 is this task's point),
# both written by sweep_slurm.sh. INDEX defaults to $SLURM_ARRAY_TASK_ID.
#SBATCH --ntasks=1
set -euo pipefail

die() { echo "task.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: task.sh SWEEP_DIR [INDEX]"
sweep=$(cd "$1" && pwd)
index=${2:-${SLURM_ARRAY_TASK_ID:-}}
[[ "$index" =~ ^[0-9]+$ ]] || die "no task index (give INDEX or run as a SLURM array task)"
# shellcheck source=/dev/null
. "$sweep/sweep.env"
point=$(sed -n "$((index + 1))p" "$sweep/points.txt")
[ -n "$point" ] || die "$sweep/points.txt: no point $index (the sweep has $N_TASKS)"
exp="$NAME-$index"

# A workspace is never shared: each task (and each rerun of it) starts from a fresh clone.
clone="$sweep/task-$index"
rm -rf "$clone"
git clone --quiet "$REPO" "$clone"
cd "$clone"
git checkout --quiet --detach "$REV" 2>/dev/null || die "commit $REV is not on $REPO: git push it first"
# The experiment runs the code of the commit it records, not whatever emosteer is installed.
export PYTHONPATH="$clone/src${PYTHONPATH:+:$PYTHONPATH}"

sets=()
for kv in $point; do sets+=(--set-param "$kv"); done
echo "task $index on $(hostname): dvc exp run -n $exp ${sets[*]}"
# --pull fetches outputs of the stages the point leaves unchanged instead of recomputing them.
dvc exp run --pull --name "$exp" "${sets[@]}"
dvc exp push origin "$exp"
echo "task $index: pushed experiment $exp"
