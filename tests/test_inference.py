"""inference.predict: streams slices of any sliceable, keeps everything on one device, equals the model."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from emosteer.model.inference import predict
from emosteer.model.lrm import EmotionLRM, Steering

FRAMES = 16


def _model() -> EmotionLRM:
    torch.manual_seed(0)
    return EmotionLRM(forward_passes=2, freeze_backbone=True, train_bn0=True, train_fc1=True)


class CountingSlices:
    """A sliceable that records every key it is read with."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.keys = array, array.shape, []

    def __getitem__(self, key: slice) -> np.ndarray:
        self.keys.append(key)
        return self.array[key]


def test_reads_one_batch_slice_at_a_time_and_equals_one_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.random.RandomState(0).randn(7, FRAMES, 64).astype(np.float32)
    steer = np.random.RandomState(1).rand(7, 128)
    model = _model()
    source = CountingSlices(x)
    out = predict(model, source, batch_size=3, steer_valence=steer, strength=2.0)
    assert source.keys == [slice(0, 3), slice(3, 6), slice(6, 7)]
    with torch.no_grad():
        whole = model.eval()(
            torch.as_tensor(x), steering=Steering(valence=torch.as_tensor(steer).float(), strength=2.0)
        )
    np.testing.assert_allclose(out["valence"], whole["valence"].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["valence_128d"], whole["valence_128d"].numpy(), atol=1e-5)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["feature"] = x
    with h5py.File(path, "r") as f:
        from_h5 = predict(model, f["feature"], batch_size=3, steer_valence=steer, strength=2.0)
    for key, value in out.items():
        np.testing.assert_array_equal(from_h5[key], value)


def test_folded_and_unfolded_batchnorm_predict_alike() -> None:
    x = np.random.RandomState(0).randn(4, 40, 64).astype(np.float32)
    model = _model()
    folded = predict(model, x, batch_size=4)
    model.fold_batchnorm = False
    plain = predict(model, x, batch_size=4)
    for key in folded:
        np.testing.assert_allclose(folded[key], plain[key], rtol=1e-5, atol=1e-5)


def test_cpu_device_and_amp_off_change_nothing() -> None:
    x = np.random.RandomState(0).randn(3, FRAMES, 64).astype(np.float32)
    model = _model()
    default = predict(model, x, batch_size=2)
    explicit = predict(model, x, batch_size=2, device=torch.device("cpu"), amp="off")
    for key in default:
        np.testing.assert_array_equal(default[key], explicit[key])


def test_bad_amp_refused() -> None:
    from emosteer.errors import EmosteerError

    with pytest.raises(EmosteerError, match="amp"):
        predict(_model(), np.zeros((2, FRAMES, 64), np.float32), amp="fp8")


def test_rows_predict_each_row_as_its_clip_and_read_each_clip_once_per_batch() -> None:
    x = np.random.RandomState(0).randn(4, FRAMES, 64).astype(np.float32)
    rows = np.array([0, 0, 0, 1, 1, 3, 3, 3])  # clip 2 unused; clips kept together
    steer = np.random.RandomState(1).rand(len(rows), 128)
    model = _model()

    class Fancy(CountingSlices):
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            self.keys.append(list(np.asarray(key)) if not isinstance(key, slice) else key)
            return self.array[key]

    source = Fancy(x)
    got = predict(
        model, source, batch_size=4, steer_valence=steer, steer_arousal=steer[::-1].copy(), strength=2.0, rows=rows
    )
    assert source.keys == [[0, 1], [1, 3]]  # distinct clips of rows[0:4] and rows[4:8], sorted
    want = predict(model, x[rows], batch_size=4, steer_valence=steer, steer_arousal=steer[::-1].copy(), strength=2.0)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.array([0, 4]), r"rows\[1\] = 4 is not a clip index \(0..3\)"),
        (np.array([[0, 1]]), "rows must be a 1-d array of clip indices"),
        (np.array([0.0, 1.0]), "rows must be a 1-d array of clip indices"),
    ],
)
def test_bad_rows_refused_in_one_line(rows, message) -> None:  # type: ignore[no-untyped-def]
    from emosteer.errors import EmosteerError

    x = np.zeros((4, FRAMES, 64), np.float32)
    with pytest.raises(EmosteerError, match=message):
        predict(_model(), x, rows=rows)


def test_derangement_is_a_seeded_permutation_without_fixed_points() -> None:
    from emosteer.model.inference import derangement

    for n in (2, 3, 10, 181):
        for seed in (0, 1, 7):
            src = derangement(n, seed)
            assert sorted(src) == list(range(n)) and (src != np.arange(n)).all()
            assert np.array_equal(src, derangement(n, seed))
    assert list(derangement(2, 0)) == [1, 0]
    assert not np.array_equal(derangement(50, 0), derangement(50, 1))
    from emosteer.errors import EmosteerError

    with pytest.raises(EmosteerError, match="n >= 2"):
        derangement(1, 0)


def test_permuted_feedback_feeds_each_clip_another_clips_pass_one_128d() -> None:
    from emosteer.model.inference import derangement, permuted_feedback

    x = np.random.RandomState(0).randn(6, FRAMES, 64).astype(np.float32)
    model = _model()
    with torch.no_grad():  # every ModBlock's output moves, so feedback changes pass 2
        for p in model.lrm.parameters():
            p.add_(0.05 * torch.randn_like(p))
    unsteered = predict(model, x)
    first = predict(model, x, forward_passes=1)  # each clip's pass-1 128-d, from its own call
    own = permuted_feedback(model, x, first["valence_128d"], first["arousal_128d"], np.arange(6))
    for key in ("valence", "arousal"):  # its own feedback: the unsteered model
        np.testing.assert_allclose(own[key], unsteered[key], atol=1e-6)
    src = derangement(6, 3)
    got = permuted_feedback(model, x, first["valence_128d"], first["arousal_128d"], src, batch_size=4)
    for i in range(6):  # clip i alone, pass 2 modulated by clip src[i]'s pass-1 128-d
        with torch.no_grad():
            out = model.eval()(
                torch.as_tensor(x[i : i + 1]),
                steering=Steering(
                    valence=torch.as_tensor(first["valence_128d"][src[i]]),
                    arousal=torch.as_tensor(first["arousal_128d"][src[i]]),
                    strength=1.0,
                    first_pass=False,
                ),
            )
        assert got["valence"][i] == pytest.approx(float(out["valence"]), abs=1e-5)
        assert got["arousal"][i] == pytest.approx(float(out["arousal"]), abs=1e-5)
    assert np.abs(got["valence"] - unsteered["valence"]).max() > 1e-4
    np.testing.assert_allclose(got["valence_pass1"], unsteered["valence_pass1"], atol=1e-6)


def test_permuted_feedback_refuses_bad_sources_and_one_pass_models() -> None:
    from emosteer.errors import EmosteerError
    from emosteer.model.inference import permuted_feedback

    x = np.zeros((3, FRAMES, 64), np.float32)
    fb = np.zeros((3, 128), np.float32)
    with pytest.raises(EmosteerError, match=r"source\[1\] = 5 is not a clip index"):
        permuted_feedback(_model(), x, fb, fb, np.array([1, 5, 0]))
    with pytest.raises(EmosteerError, match=r"source must be \(3,\)"):
        permuted_feedback(_model(), x, fb, fb, np.array([1, 0]))
    torch.manual_seed(0)
    with pytest.raises(EmosteerError, match="one pass"):
        permuted_feedback(EmotionLRM(forward_passes=1), x, fb, fb, np.array([1, 2, 0]))
