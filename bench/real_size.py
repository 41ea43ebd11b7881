"""A real-size stand-in, timed: every stage of one seed on 1213 clips x 601 frames (Emo-Soundscapes'
size at 6 s), beside `emosteer.jobs.cost`'s estimate of the same run and its projection to five seeds.

The data are the embedded synthetic set at Emo-Soundscapes' shape (`data.synthetic.n_clips` 1213,
`clip_seconds` 6.0, `data.frames` 601), so no download is needed; the data stage's time is then
synthesis and featurizing, not the decoding and resampling of real audio. Every other param is the
checkout's params.yaml with `seeds: [0]`. The checkout is copied (files git tracks or would track,
without results) into WORKDIR, committed, and each stage runs as `dvc repro -s STAGE` in dvc.yaml's
order, timed one by one.

    python bench/real_size.py /tmp/realsize                          # the real size: about 40 min on 1 core
    python bench/real_size.py /tmp/tiny --clips 40 --frames 24 -S evaluate.n_boot=100   # a smoke run

The 5-seed projection scales each measured model stage by the estimate's ratio for that stage
(5 seeds over `workers` processes against 1 seed), so it carries the measured per-pass speed and the
estimate's task rounds; the data, split, binning and report stages are taken as measured.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from emosteer.commands.params_check import with_overrides
from emosteer.jobs import cost
from emosteer.schema import params

REPO = Path(__file__).resolve().parents[1]
RESULT_DIRS = ("metrics", "plots", "reports")  # committed results, not copied (data/ is DVC's)
PROJECTED_SEEDS = [0, 1, 2, 3, 4]


def copy_checkout(dest: Path) -> None:
    """The checkout's files (tracked, or untracked and not ignored) without results, committed."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = REPO / rel
        if not src.is_file() or rel == "dvc.lock" or rel.split("/", 1)[0] in RESULT_DIRS:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=emosteer bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "real-size stand-in"]):
        subprocess.run(git + args, cwd=dest, check=True)


def set_params(path: Path, clips: int, frames: int, seeds: list[int], sets: list[str]) -> params.Params:
    """params.yaml at the stand-in's shape; returns it validated (a bad -S stops here)."""
    raw = params.read_raw(path)
    raw["seeds"] = seeds
    raw["data"].update(source="synthetic", path=None, frames=frames)
    raw["data"]["synthetic"].update(n_clips=clips, clip_seconds=(frames - 1) / 100)  # 1 + s*100 frames
    params.validate(raw, path)  # the stand-in's own shape is valid before any -S
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return with_overrides(path, sets, write=True)  # DVC's own -S parser, as dvc exp run


def stage_order(dvc_yaml: Path) -> list[str]:
    """Stage names in dvc.yaml order (which lists each stage after the stages it depends on)."""
    return list(yaml.safe_load(dvc_yaml.read_text())["stages"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path, help="a new (or empty) folder for the copy and its outputs")
    ap.add_argument("--clips", type=int, default=1213)
    ap.add_argument("--frames", type=int, default=601)
    ap.add_argument(
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another param override, as dvc exp run -S (repeatable)",
    )
    args = ap.parse_args()
    repo = args.workdir.resolve()
    if repo.exists() and any(repo.iterdir()):
        sys.exit(f"{repo}: exists and is not empty")
    repo.mkdir(parents=True, exist_ok=True)
    copy_checkout(repo)
    p = set_params(repo / "params.yaml", args.clips, args.frames, [0], args.set)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=emosteer bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "-qam",
            "stand-in params",
        ],
        cwd=repo,
        check=True,
    )
    p_five = p.model_copy(update={"seeds": PROJECTED_SEEDS})
    shape = cost.Shape(args.clips, args.frames, "synthetic stand-in")
    rate = cost.calibrate(args.frames, p.threads, p.device, p.amp)
    est_one, est_five = cost.estimate(p, rate, shape), cost.estimate(p_five, rate, shape)
    print(cost.describe(p, est_one, alternatives=False), flush=True)

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    loads = [os.getloadavg()[0]]
    with open(repo / "stand-in.log", "w") as log:
        for stage in stage_order(repo / "dvc.yaml"):
            t0, c0 = time.perf_counter(), _children_cpu()
            proc = subprocess.run(
                [sys.executable, "-m", "dvc", "repro", "-s", stage],
                cwd=repo,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            wall[stage], cpu[stage] = time.perf_counter() - t0, _children_cpu() - c0
            loads.append(os.getloadavg()[0])
            print(f"{stage}: {cost.duration(wall[stage])} (CPU {cost.duration(cpu[stage])})", flush=True)
            if proc.returncode != 0:
                sys.exit(f"{stage} failed (exit {proc.returncode}); see {repo / 'stand-in.log'}")

    print(
        f"\n{args.clips} clips x {args.frames} frames, 1 seed, {p.threads} thread; load average "
        f"{min(loads):.2f} to {max(loads):.2f} between stages. CPU: user + system seconds of the stage "
        "and its DVC process (with one seed and one thread, the wall time on an otherwise idle machine)"
    )
    print(
        f"{'stage':22} {'wall':>10} {'CPU':>10} {'estimate':>10} {'wall/est':>8} {'CPU/est':>8} "
        f"{'5 seeds, projected':>18}"
    )
    projected = 0.0
    for stage in wall:
        est = est_one.stages.get(stage)
        scaled = wall[stage] * est_five.stages[stage] / est if est else wall[stage]
        projected += scaled
        ratios = f"{wall[stage] / est:8.2f} {cpu[stage] / est:8.2f}" if est else f"{'':8} {'':8}"
        print(
            f"{stage:22} {cost.duration(wall[stage]):>10} {cost.duration(cpu[stage]):>10} "
            f"{cost.duration(est) if est else '':>10} {ratios} {cost.duration(scaled):>18}"
        )
    total_wall, total_cpu = sum(wall.values()), sum(cpu.values())
    print(
        f"{'total':22} {cost.duration(total_wall):>10} {cost.duration(total_cpu):>10} "
        f"{cost.duration(est_one.total):>10} {total_wall / est_one.total:8.2f} "
        f"{total_cpu / est_one.total:8.2f} {cost.duration(projected):>18}"
    )
    print(
        f"5 seeds (workers {p_five.workers}, threads {p_five.threads}): {cost.duration(projected)} projected "
        f"from this run's wall times; the estimate alone: {cost.duration(est_five.total)} for the "
        "model stages"
    )


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
