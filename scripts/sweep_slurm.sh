#!/usr/bin/env bash
# Run a sweep as a SLURM array job: one DVC experiment per task, each in its own clone, pushed with
# `dvc exp push` to the shared git remote and DVC remote; a dependent job pulls them all back with
# `dvc exp pull` and pools the results. docs/scale.md says when to use this and how to set it up.
#
# usage: scripts/sweep_slurm.sh [options] POINTS_FILE
#
#   POINTS_FILE  one sweep point per line: the `-S` overrides of one `dvc exp run`, separated by
#                spaces (so no spaces inside one); blank lines and lines starting with # are
#                skipped. Each point is a whole experiment over its `seeds`. Example:
#                    grid=4
#                    grid=7 steering.alpha=0.5
#                    seeds=[5,6,7]
#   --repo URL   the shared git remote every task clones and pushes to (default: this clone's origin)
#   --rev REV    the commit all experiments start from, already pushed (default: HEAD)
#   --workdir D  where the sweep's folder goes; the nodes must see it (default: ./sweeps)
#   --name NAME  the sweep's name; task i's experiment is NAME-i (default: sweep-<UTC time>)
#   --sbatch OPT an extra sbatch option for every job of the sweep; repeat as needed
#                (e.g. --sbatch=--partition=long --sbatch=--time=02:00:00)
#   --task-sbatch OPT  an extra sbatch option for the array tasks only (e.g. --task-sbatch=--gres=gpu:1)
#   --dry-run    write the sweep folder and print the sbatch commands without submitting
#
# The jobs inherit this shell's environment (sbatch's default), so activate the project's venv
# first: `dvc`, `python` and `emosteer` are taken from PATH. Each task runs the code of the commit
# it clones. Credentials for the DVC remote must live outside the repository (~/.ssh/config, the
# user's global DVC config or the environment), because every task starts from a fresh clone.
set -euo pipefail

die() { echo "sweep_slurm.sh: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo="" rev="HEAD" workdir="sweeps" name="sweep-$(date -u +%Y%m%d-%H%M%S)" dry=0
common=() task_extra=() points=""
while [ $# -gt 0 ]; do
    case "$1" in
        --repo) repo=${2:?}; shift ;;
        --repo=*) repo=${1#*=} ;;
        --rev) rev=${2:?}; shift ;;
        --rev=*) rev=${1#*=} ;;
        --workdir) workdir=${2:?}; shift ;;
        --workdir=*) workdir=${1#*=} ;;
        --name) name=${2:?}; shift ;;
        --name=*) name=${1#*=} ;;
        --sbatch) common+=("${2:?}"); shift ;;
        --sbatch=*) common+=("${1#*=}") ;;
        --task-sbatch) task_extra+=("${2:?}"); shift ;;
        --task-sbatch=*) task_extra+=("${1#*=}") ;;
        --dry-run) dry=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$points" ] || die "one POINTS_FILE only, got $points and $1"; points=$1 ;;
    esac
    shift
done
[ -n "$points" ] || die "no POINTS_FILE (see --help)"
[ -r "$points" ] || die "$points: cannot read"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "--name $name: use letters, digits, . _ -"

[ -n "$repo" ] || repo=$(git remote get-url origin 2>/dev/null) || die "no --repo and no git remote 'origin'"
rev=$(git rev-parse --verify "$rev^{commit}" 2>/dev/null) || die "--rev $rev: not a commit here"
n=$(grep -c -v -E '^[[:space:]]*(#|$)' "$points" || true)
[ "$n" -gt 0 ] || die "$points: no sweep points"

mkdir -p "$workdir"
sweep=$(cd "$workdir" && pwd)/$name
[ ! -e "$sweep" ] || die "$sweep exists: pick another --name"
mkdir -p "$sweep/logs"
grep -v -E '^[[:space:]]*(#|$)' "$points" > "$sweep/points.txt"
{
    printf 'REPO=%q\n' "$repo"
    printf 'REV=%q\n' "$rev"
    printf 'NAME=%q\n' "$name"
    printf 'N_TASKS=%q\n' "$n"
} > "$sweep/sweep.env"

array=(sbatch --parsable --job-name="$name" --array="0-$((n - 1))" --chdir="$sweep"
       --output="$sweep/logs/task-%a.log" "${common[@]}" "${task_extra[@]}"
       "$here/slurm/task.sh" "$sweep")
pool=(sbatch --parsable --job-name="$name-pool" --chdir="$sweep" --output="$sweep/logs/pool.log"
      "${common[@]}")
if [ "$dry" = 1 ]; then
    printf '%q ' "${array[@]}"; echo
    printf '%q ' "${pool[@]}" "--dependency=afterok:<array job>" "$here/slurm/pool.sh" "$sweep"; echo
    exit 0
fi
array_id=$("${array[@]}")
array_id=${array_id%%;*}
pool_id=$("${pool[@]}" --dependency="afterok:$array_id" "$here/slurm/pool.sh" "$sweep")
pool_id=${pool_id%%;*}
echo "array job $array_id ($n tasks), pool job $pool_id: table -> $sweep/pooled.md"
echo "logs in $sweep/logs. A failed task leaves the pool job pending (DependencyNeverSatisfied):"
echo "rerun task i with $here/slurm/task.sh $sweep i (any machine), then $here/slurm/pool.sh $sweep"
