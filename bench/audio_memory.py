"""Peak memory of `emosteer predict` and `emosteer featurize` on one long audio file.

A silent WAV of HOURS hours (default 2) at 44.1 kHz, 16-bit mono (635 MB for 2 h), is written to
WORKDIR; each command then runs in its own process, and its peak resident memory (ru_maxrss of the
child, which includes Python, numpy, librosa and, for predict, torch) is printed beside its wall
time. The audio is decoded, mixed and resampled a block at a time (`frontend.audio_blocks`):
predict's first second and featurize's first 6 s decode only what those frames read; predict's
windows stream the whole file a block at a time, and featurize's `original` front end streams the
whole file once more for its reference (the clip's peak power).

    python bench/audio_memory.py /tmp/audio-memory               # 2 hours: a few minutes on 1 core
    python bench/audio_memory.py /tmp/audio-memory --hours 0.1   # a smoke run

The model is a fresh EmotionLRM (random weights): memory and time do not depend on the weights.
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

import numpy as np
import soundfile as sf

RATE = 44_100
BLOCK = RATE * 60  # samples written at a time


def write_silence(path: Path, hours: float) -> None:
    """`hours` of digital silence, 16-bit mono, written a minute at a time."""
    total = int(hours * 3600 * RATE)
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as f:
        for start in range(0, total, BLOCK):
            f.write(np.zeros(min(BLOCK, total - start), dtype=np.int16))


def peak_rss(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of `argv` run in a process of its own: a wrapper process
    runs it, so that RUSAGE_CHILDREN holds this command's peak and no other's."""
    wrapper = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--hours", type=float, default=2.0)
    args = ap.parse_args()
    import torch

    from emosteer.model.checkpoints import save_model
    from emosteer.model.lrm import EmotionLRM

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    (work / "emo" / "audio").mkdir(parents=True)
    audio = work / "emo" / "audio" / "long.wav"
    write_silence(audio, args.hours)
    for name in ("Valence.csv", "Arousal.csv"):
        (work / "emo" / name).write_text("long.wav,0.5\n")
    torch.manual_seed(0)
    save_model(EmotionLRM().eval(), work / "model.pt", {})
    emosteer = [sys.executable, "-m", "emosteer.commands.cli"]
    runs = {
        "predict, first 101 frames (default)": [
            "predict",
            "--checkpoint",
            work / "model.pt",
            "--audio",
            audio,
            "--out",
            work / "p1.npz",
        ],
        "predict, 101-frame windows every 1 s": [
            "predict",
            "--checkpoint",
            work / "model.pt",
            "--audio",
            audio,
            "--out",
            work / "p2.npz",
            "--hop-seconds",
            "1",
        ],
        "featurize, 601 frames, panns": [
            "featurize",
            "--emo-soundscapes",
            work / "emo",
            "--out",
            work / "f1.h5",
            "--no-progress",
        ],
        "featurize, 601 frames, original (streams the reference)": [
            "featurize",
            "--emo-soundscapes",
            work / "emo",
            "--out",
            work / "f2.h5",
            "--frontend",
            "original",
            "--no-progress",
        ],
    }
    size = audio.stat().st_size / 2**20
    print(
        f"{audio}: {args.hours:g} h of 44.1 kHz 16-bit mono, {size:.0f} MiB; {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}"
    )
    for label, argv in runs.items():
        rss, seconds = peak_rss([*emosteer, *map(str, argv)])
        print(f"{label:58s} peak RSS {rss:7.0f} MiB   {seconds:6.1f} s")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this script itself: {own:.0f} MiB)")


if __name__ == "__main__":
    main()
