"""emosteer bench: its FLOP formula is the model's, its big file is what it claims, its CLI parses."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from emosteer.commands import bench
from emosteer.commands.cli import build_parser, main
from emosteer.model.lrm import EmotionLRM, Steering
from emosteer.schema.base import MAX_THREADS


def test_model_flops_matches_torch_flop_counter() -> None:
    """The documented formula against torch's own count of one steered pass (convs and linears)."""
    torch.manual_seed(0)
    model = EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=True, train_fc1=True).eval()
    frames = 37  # odd, so the floor of every pool matters
    x = torch.randn(2, frames, 64)
    s = torch.rand(2, 128)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        passes = model(x, steering=Steering(valence=s, arousal=s), return_all_passes=True)
    assert passes[1] is passes[0]  # alpha 1 + first pass steered: one pass computed
    assert counter.get_total_flops() == 2 * bench.model_flops(frames, 1)  # 2 clips


def test_write_big_features_in_chunks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "big.h5"
    bench.write_big_features(path, clips=11, frames=20, chunk=4)
    with h5py.File(path, "r") as f:
        data = f["feature"][:]
    assert data.shape == (11, 20, 64) and data.dtype == np.float32
    assert np.isfinite(data).all() and data[-1].std() > 0.5  # the last partial chunk is written


def test_bench_subcommand_parses() -> None:
    args = build_parser().parse_args(["bench", "--quick", "--json", "out.json", "--threads", "1"])
    assert args.func is bench._main and args.quick and args.threads == 1 and args.device == "auto"


@pytest.mark.parametrize(
    "flag,limit,line",
    [
        ("--threads", MAX_THREADS, "--threads: Input should be {} (got {})"),
        (
            "--rss-batches",
            bench.MAX_RSS_BATCHES,
            "--rss-batches: must be in [1, 64] (batches of 32 clips of the "
            "20,000-clip file: a full pass is over an hour on a CPU), got {1}",
        ),
    ],
)
def test_a_flag_out_of_bounds_is_one_line_before_any_work(
    flag: str, limit: int, line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `--rss-batches 1000` asked for 32,000 clips of the 20,000-clip file (after writing
    its 5 GB); `--threads 100000` was passed to torch. Each is refused in one line, exit 2."""

    def ran(args: object) -> None:
        raise AssertionError("bench ran")

    monkeypatch.setattr(bench, "run", ran)
    for value, bound in (
        (0, "greater than or equal to 1"),
        (limit + 1, f"less than or equal to {limit}"),
        (10 * limit, f"less than or equal to {limit}"),
    ):
        assert main(["bench", flag, str(value)]) == 2
        assert capsys.readouterr().err.splitlines() == [f"emosteer bench: error: {line.format(bound, value)}"]
    for value in (1, limit):  # the bounds themselves are accepted
        bench.check_flags(build_parser().parse_args(["bench", flag, str(value)]))
