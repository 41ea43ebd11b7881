"""A run from Python, for a notebook: its seeds, each seed's model and signal tables, predictions on
a clip, unsteered or steered, and the pooled results as pandas DataFrames.

    from emosteer import api

    run = api.open_run(".")                       # a checkout after `dvc repro` (or `dvc pull`)
    run.seeds                                     # [0, 1, 2, 3, 4]
    run.predict("clip.wav")                       # unsteered, seed run.seeds[0]
    run.predict("clip.wav", seed=1, bin=(2, 0))   # steered with the 3x3 bin valence 2, arousal 0
    run.predict(wave, target=(0.5, -0.2), grid=5, strength=2)  # a waveform at 32 kHz, a target
    run.results()["verdicts"]                     # one row per grid, method and dim

A run is a folder laid out as the pipeline writes it (params.yaml, data/models/, data/signals/,
metrics/). A DVC experiment is opened by materialising it first: `dvc exp apply NAME` in the
checkout (then `open_run(".")`), or `git worktree add ../exp-NAME REF` for an experiment's commit
and `dvc pull` (or `dvc checkout` from a shared cache) there.

Everything here goes through the code the commands run: `predict` builds the arguments of
`emosteer predict` and calls its functions (commands.predict.check_request, predictions), so
bad input raises EmosteerError with the command's one-line message (prefixed `predict:` where the
command's parser would print it). Nothing is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emosteer.commands import predict as predict_cmd
from emosteer.constants import SAMPLE_RATE
from emosteer.errors import EmosteerError
from emosteer.jobs.grids import names_in
from emosteer.jobs.results import read_pooled
from emosteer.jsonsafe import read_metrics
from emosteer.model.checkpoints import load_checkpoint
from emosteer.model.lrm import EmotionLRM
from emosteer.pipeline import POOLED, VERDICTS, SeedPaths
from emosteer.schema import base
from emosteer.steering import signals
from emosteer.steering.signals import SignalTable

DIMS = ("valence", "arousal")


class _Parser(argparse.ArgumentParser):
    """`emosteer predict`'s parser, whose usage errors raise instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise EmosteerError(f"predict: {message}")


def open_run(path: str | Path = ".") -> Run:
    """The run in `path` (a checkout: params.yaml, and the outputs `dvc repro` or `dvc pull` left)."""
    root = Path(path)
    params = root / base.PARAMS_FILE
    if not params.is_file():
        raise EmosteerError(f"{params}: file not found (open_run takes a checkout of the pipeline)")
    return Run(root)


@dataclass(frozen=True)
class Run:
    """One checkout's run. Paths are the pipeline's (emosteer.pipeline), below `root`."""

    root: Path

    @property
    def seeds(self) -> list[int]:
        """The seeds params.yaml runs (its top level validated as every stage validates it)."""
        file = self.root / base.PARAMS_FILE
        return list(base.validate(base.Stage, base.read_raw(file), file).seeds)

    def _file(self, relative: Path, what: str) -> Path:
        path = self.root / relative
        if not path.exists():
            raise EmosteerError(f"{path}: no such file ({what}; `dvc repro` or `dvc pull` writes it)")
        return path

    def _seed(self, seed: int | None) -> int:
        seeds = self.seeds
        if seed is None:
            return seeds[0]
        if seed not in seeds:
            raise EmosteerError(f"seed {seed!r}: not a seed of this run (params.yaml seeds: {seeds})")
        return seed

    def model_path(self, seed: int | None = None) -> Path:
        return self._file(SeedPaths(self._seed(seed)).model, "the seed's trained model")

    def model(self, seed: int | None = None) -> tuple[EmotionLRM, dict[str, Any]]:
        """The seed's trained model (eval mode, on the CPU) and the meta its checkpoint records."""
        return load_checkpoint(self.model_path(seed))

    def signals_path(self, seed: int | None = None, grid: int = 3) -> Path:
        which = f"{grid}x{grid}"
        return self._file(SeedPaths(self._seed(seed)).signals(which, "json"), f"the {which} signal table")

    def signals(self, seed: int | None = None, grid: int = 3) -> SignalTable:
        """The seed's signal table of the G x G grid: per bin the mean 128-d activation of its
        training clips (`.valence`, `.arousal` (G*G, 128); `.counts`; `.grid.names()`)."""
        return signals.read_json(self.signals_path(seed, grid))

    def predict(
        self,
        clip: str | Path | np.ndarray | Sequence[str | Path],
        seed: int | None = None,
        bin: tuple[int, int] | None = None,
        target: tuple[float, float] | None = None,
        strength: float | tuple[float, float] | None = None,
        grid: int = 3,
        interpolation: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        frames: int | str | None = None,
        hop_seconds: float | None = None,
        alpha: float | None = None,
    ) -> pd.DataFrame:
        """Valence and arousal of a clip by the seed's model, one row per file (or window).

        clip: an audio file, a folder, a list of them (any format `emosteer predict --audio` reads),
            or a mono waveform (1-D array) at `sample_rate`, which must be 32 kHz (resample first,
            e.g. librosa.resample).
        bin: steer with the bin (valence index, arousal index) of the `grid` x `grid` table, 0 the
            most negative valence and the weakest arousal (`--category`). target: steer toward
            (valence, arousal) in [-1, 1] by `interpolation` over the table's bins (`--target`).
            Neither: unsteered.
        strength: the steered ModBlocks' scale factor (or a pair (neg, pos)); default the command's, 5.
        frames, hop_seconds, alpha: as `emosteer predict`'s flags (frames default: the checkpoint's).
        Returns audio_name, [start_seconds, window_seconds,] valence, arousal: the command's CSV.
        """
        if bin is not None and target is not None:
            raise EmosteerError("predict: bin and target are two ways to steer; give one")
        waves = None
        argv: list[str] = ["--checkpoint", str(self.model_path(seed)), "--out", "unused.npz"]
        if isinstance(clip, np.ndarray):
            waves = [("waveform", _waveform(clip, sample_rate))]
            argv += ["--audio", "waveform"]  # the parser wants a source; `waves` replaces it
        else:
            files = [clip] if isinstance(clip, (str, Path)) else list(clip)
            argv += ["--audio", *map(str, files)]
        if bin is not None or target is not None:
            table = self.signals_path(seed, grid)
            argv += ["--steering-json", str(table)]
            if bin is not None:
                argv += ["--category", _bin_name(signals.read_json(table), bin)]
            else:
                argv.append("--target=" + ",".join(str(float(x)) for x in _pair(target, "target")))
        if interpolation is not None:
            argv += ["--interpolation", interpolation]
        if strength is not None:
            values = strength if isinstance(strength, (tuple, list)) else (strength,)
            argv.append("--strength=" + ",".join(str(float(x)) for x in values))
        if frames is not None:
            argv += ["--frames", str(frames)]
        if hop_seconds is not None:
            argv += ["--hop-seconds", str(hop_seconds)]
        if alpha is not None:
            argv += ["--alpha", str(alpha)]
        args = _parse(argv)
        if waves is not None:
            args.audio = None
            if hop_seconds is not None:
                raise EmosteerError("predict: hop_seconds applies to files (a waveform gives one row)")
        strength_, alpha_, audio = predict_cmd.check_request(args)
        rows, out = predict_cmd.predictions(args, strength_, alpha_, audio, waves=waves)
        return pd.DataFrame(
            {k: list(v) if k == "audio_name" else v for k, v in predict_cmd.csv_columns(rows, out).items()}
        )

    def results(self) -> dict[str, pd.DataFrame]:
        """The committed results as tables, pooled over the run's seeds:
        - `verdicts`: metrics/verdicts.json, a row per grid (or control / feedback), method and dim:
          verdict, verdict_corrected (Holm within its family), dr (pooled Δr), and for a steering
          variant beyond_fusion, beyond_fusion_corrected, beyond_fusion_dr (vs its fusion twin);
        - `pooled`: metrics/pooled/<grid>/<method>.json, a row per grid, method and dim: r, dr with
          its 95% CI (dr_lo, dr_hi), verdict, strength, n_seeds;
        - `baseline`: metrics/pooled/baseline.json, a row per seed: unsteered r per dim."""
        table = read_metrics(self._file(VERDICTS, "the report stage's verdict table"))
        verdicts = [
            {"grid": group, "method": method, "dim": dim, **cells}
            for group, methods in table.items()
            if group != "correction"
            for method, dims in methods.items()
            for dim, cells in dims.items()
        ]
        pooled_dir = self._file(POOLED, "the evaluate stages' pooled metrics")
        pooled = [
            {
                "grid": group,
                "method": method,
                "dim": dim,
                "n_seeds": m.get("n_seeds"),
                "strength": m.get("strength"),
                **{key: m.get(f"{dim}_{key}") for key in ("r", "dr", "dr_lo", "dr_hi", "verdict")},
            }
            for group, methods in read_pooled(pooled_dir, names_in(self.root / base.PARAMS_FILE)).items()
            for method, m in methods.items()
            for dim in DIMS
        ]
        base_m = read_metrics(self._file(POOLED / "baseline.json", "evaluate_baseline's pooled metrics"))
        seeds = self.seeds
        baseline = pd.DataFrame({"seed": seeds, **{f"{d}_r": base_m[f"{d}_r_per_seed"] for d in DIMS}})
        return {"verdicts": pd.DataFrame(verdicts), "pooled": pd.DataFrame(pooled), "baseline": baseline}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="emosteer")
    predict_cmd.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["predict", *argv])


def _waveform(y: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise EmosteerError(
            f"waveform: sample_rate {sample_rate} Hz, the front end takes {SAMPLE_RATE} "
            "(resample first, e.g. librosa.resample, or pass the file)"
        )
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.floating):
        raise EmosteerError(f"waveform: expected a non-empty mono (1-D) float array, got {y.dtype} {y.shape}")
    bad = ~np.isfinite(y)
    if bad.any():
        raise EmosteerError(f"waveform: {y[np.argmax(bad)]} (not finite) at index {int(np.argmax(bad))}")
    return y.astype(np.float32)


def _pair(value: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise EmosteerError(f"{what}: expected a pair, got {value!r}")
    return value[0], value[1]


def _bin_name(table: SignalTable, bin: tuple[int, int]) -> str:
    """The table's name of the bin (valence index, arousal index): what --category takes."""
    vi, ai = _pair(bin, "bin")
    g = table.grid.size
    if not all(isinstance(i, (int, np.integer)) and 0 <= i < g for i in (vi, ai)):
        raise EmosteerError(f"bin: {bin!r} is not a bin of the {g}x{g} grid (two integers in 0..{g - 1})")
    return table.grid.names()[int(vi) * g + int(ai)]
