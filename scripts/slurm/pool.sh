#!/usr/bin/env bash
# Pool a sweep: pull every experiment of it back from the shared git remote (`dvc exp pull`) into
# a fresh clone of its commit and write the pooled table to SWEEP_DIR/pooled.md. The dependent job
# of scripts/sweep_slurm.sh; also runs by hand: scripts/slurm/pool.sh SWEEP_DIR.
#SBATCH --ntasks=1
set -euo pipefail

die() { echo "pool.sh: $*" >&2; exit 2; }

# The one place that turns the pulled experiments into a table, run inside the pool clone with
# the commit's code: pool_results OUT NAME POINT [NAME POINT ...]
pool_results() {
    local out=$1
    shift
    python scripts/slurm/pool_table.py --out "$out" "$@"
}

[ $# -eq 1 ] || die "usage: pool.sh SWEEP_DIR"
sweep=$(cd "$1" && pwd)
# shellcheck source=/dev/null
. "$sweep/sweep.env"

clone="$sweep/pool"
rm -rf "$clone"
git clone --quiet "$REPO" "$clone"
cd "$clone"
git checkout --quiet --detach "$REV" 2>/dev/null || die "commit $REV is not on $REPO"
export PYTHONPATH="$clone/src${PYTHONPATH:+:$PYTHONPATH}"

names=() pairs=()
for ((i = 0; i < N_TASKS; i++)); do
    names+=("$NAME-$i")
    pairs+=("$NAME-$i" "$(sed -n "$((i + 1))p" "$sweep/points.txt")")
done
# Metrics are committed with each experiment, so the table needs no cached outputs; fetch one
# experiment's models and data later with `dvc exp pull origin NAME-i` (outputs come along).
dvc exp pull --no-cache origin "${names[@]}"
pool_results "$sweep/pooled.md" "${pairs[@]}"
echo "pooled ${#names[@]} experiments of $NAME: $sweep/pooled.md"
