"""EmotionLRM: layout of the original, feedback that acts, batched stateless steering, real freezing."""

from __future__ import annotations

import math

import pytest
import torch

from emosteer.errors import EmosteerError
from emosteer.model.lrm import CONNECTIONS, NORM_EPS, EmotionLRM, ModBlock, Steering, mask_stripes

# ORIGINAL.md §a, final naming, in the original's order.
_LRM = "lrm.visual_system_base_conv_block{k}_modulation.from_affective_{s}_128d_to_visual_system_base_conv_block{k}."
ORIGINAL_KEYS: list[tuple[str, tuple[int, ...]]] = [
    ("visual_system.base.spectrogram_extractor.stft.conv_real.weight", (513, 1, 1024)),
    ("visual_system.base.spectrogram_extractor.stft.conv_imag.weight", (513, 1, 1024)),
    ("visual_system.base.logmel_extractor.melW", (513, 64)),
    ("visual_system.base.bn0.weight", (64,)),
    ("visual_system.base.bn0.bias", (64,)),
    ("visual_system.base.bn0.running_mean", (64,)),
    ("visual_system.base.bn0.running_var", (64,)),
    ("visual_system.base.bn0.num_batches_tracked", ()),
]
for _k, (_cin, _c) in enumerate(((1, 64), (64, 128), (128, 256), (256, 512)), start=1):
    _p = f"visual_system.base.conv_block{_k}."
    ORIGINAL_KEYS += [
        (_p + "conv1.weight", (_c, _cin, 5, 5)),
        (_p + "bn1.weight", (_c,)),
        (_p + "bn1.bias", (_c,)),
        (_p + "bn1.running_mean", (_c,)),
        (_p + "bn1.running_var", (_c,)),
        (_p + "bn1.num_batches_tracked", ()),
    ]
ORIGINAL_KEYS += [
    ("visual_system.base.fc1.weight", (512, 512)),
    ("visual_system.base.fc1.bias", (512,)),
    ("visual_system.base.fc_audioset.weight", (527, 512)),
    ("visual_system.base.fc_audioset.bias", (527,)),
]
for _s in ("valence", "arousal"):
    ORIGINAL_KEYS += [
        (f"affective_{_s}.0.weight", (256, 512)),
        (f"affective_{_s}.0.bias", (256,)),
        (f"affective_{_s}.2.weight", (128, 256)),
        (f"affective_{_s}.2.bias", (128,)),
        (f"affective_{_s}.4.weight", (1, 128)),
        (f"affective_{_s}.4.bias", (1,)),
    ]
for _s, _k, _c in (("valence", 3, 256), ("valence", 4, 512), ("arousal", 1, 64), ("arousal", 2, 128)):
    _p = _LRM.format(k=_k, s=_s)
    ORIGINAL_KEYS += [
        (_p + "neg_scale", (1,)),
        (_p + "pos_scale", (1,)),
        (_p + "rescale.resize.conv1x1.weight", (128, 128, 1, 1)),
        (_p + "modulation.weight", (_c, 128, 1, 1)),
        (_p + "modulation.bias", (_c,)),
    ]

T = 16


def _model(seed: int = 0, **kwargs: object) -> EmotionLRM:
    torch.manual_seed(seed)
    return EmotionLRM(**kwargs)  # type: ignore[arg-type]


def _x(batch: int = 3, frames: int = T, seed: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 64, generator=g, dtype=dtype)


def _steer(batch: int, seed: int = 2, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 128, generator=g, dtype=dtype)


def test_state_dict_equals_original_layout() -> None:
    got = [(k, tuple(v.shape)) for k, v in _model().state_dict().items()]
    assert len(got) == 68
    assert got == ORIGINAL_KEYS


def test_trainable_set_matches_original_when_frozen() -> None:
    model = _model(train_fc1=False, train_bn0=True)  # the original's trainable set
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 518_218  # bn0 affine + both heads + LRM, as ORIGINAL.md §a item 6


@pytest.mark.parametrize("frames", [16, 23, 40])
def test_output_shapes_for_several_lengths(frames: int) -> None:
    model = _model().eval()
    out = model(_x(2, frames))
    assert out["valence"].shape == (2,)
    assert out["arousal"].shape == (2,)
    assert out["valence_128d"].shape == (2, 128)
    assert out["arousal_128d"].shape == (2, 128)
    assert out["embedding"].shape == (2, 512)
    assert bool((out["valence_128d"] >= 0).all())  # post-ReLU


def test_four_dim_input_is_accepted_and_equal() -> None:
    model = _model().eval()
    x = _x(2)
    torch.testing.assert_close(model(x.unsqueeze(1))["valence"], model(x)["valence"])


@pytest.mark.parametrize("shape", [(2, 15, 64), (2, 32, 63), (32, 64)])
def test_bad_input_shape_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(EmosteerError, match="T >= 16"):
        _model().eval()(torch.zeros(shape))


def test_feedback_acts() -> None:
    model = _model().eval()
    x = _x(4)
    with torch.no_grad():
        one = model(x, forward_passes=1)
        passes = model(x, forward_passes=2, return_all_passes=True)
    assert isinstance(passes, list) and len(passes) == 2
    torch.testing.assert_close(passes[0]["valence"], one["valence"])  # pass 1 is unmodulated
    for key in ("valence", "arousal"):
        assert (passes[1][key] - one[key]).abs().max() > 1e-4


def test_training_step_changes_every_modblock() -> None:
    model = _model().train()
    before = {k: v.clone() for k, v in model.lrm.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    out = model(_x(4), forward_passes=2)
    loss = (out["valence"] - 0.5).pow(2).mean() + (out["arousal"] + 0.5).pow(2).mean()
    loss.backward()
    for source, block in CONNECTIONS:
        mb = model.modblock(source, block)
        for name, p in mb.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (source, block, name)
    opt.step()
    after = model.lrm.state_dict()
    for key, value in before.items():
        assert not torch.equal(value, after[key]), key


def test_steering_changes_outputs() -> None:
    model = _model().eval()
    x = _x(3)
    with torch.no_grad():
        plain = model(x)
        steered = model(x, steering=Steering(valence=_steer(3), arousal=_steer(3, seed=5)))
        only_v = model(x, steering=Steering(valence=_steer(3)))
    assert (plain["valence"] - steered["valence"]).abs().max() > 1e-4
    assert (plain["arousal"] - steered["arousal"]).abs().max() > 1e-4
    assert (plain["valence"] - only_v["valence"]).abs().max() > 1e-4


def test_batched_steering_equals_one_sample_at_a_time() -> None:
    model = _model().double().eval()
    x = _x(4, dtype=torch.float64)
    sv, sa = _steer(4, dtype=torch.float64), _steer(4, seed=7, dtype=torch.float64)
    steering = Steering(valence=sv, arousal=sa, strength=3.0, alpha=0.6, first_pass=True)
    with torch.no_grad():
        batched = model(x, forward_passes=2, steering=steering)
        for i in range(4):
            single = model(
                x[i : i + 1],
                forward_passes=2,
                steering=Steering(valence=sv[i], arousal=sa[i : i + 1], strength=3.0, alpha=0.6),
            )
            for key, value in single.items():
                torch.testing.assert_close(batched[key][i : i + 1], value, atol=1e-5, rtol=0)


def test_broadcast_vector_equals_repeated_rows() -> None:
    model = _model().eval()
    x, s = _x(3), _steer(1)[0]
    with torch.no_grad():
        a = model(x, steering=Steering(valence=s))
        b = model(x, steering=Steering(valence=s.expand(3, 128).clone()))
    torch.testing.assert_close(a["valence"], b["valence"])


def test_strength_acts_but_vector_scale_does_not() -> None:
    model = _model().eval()
    x, s = _x(3), _steer(3)
    with torch.no_grad():
        s1 = model(x, steering=Steering(valence=s, strength=1.0))
        s5 = model(x, steering=Steering(valence=s, strength=5.0))
        s1_scaled = model(x, steering=Steering(valence=5.0 * s, strength=1.0))
    assert (s1["valence"] - s5["valence"]).abs().max() > 1e-4
    torch.testing.assert_close(s1["valence"], s1_scaled["valence"], atol=1e-5, rtol=0)


def _modblock(channels: int = 5, seed: int = 3) -> ModBlock:
    """A float64 ModBlock with random weights and distinct neg/pos scales."""
    torch.manual_seed(seed)
    block = ModBlock(channels).double()
    with torch.no_grad():
        block.neg_scale.fill_(0.7)
        block.pos_scale.fill_(1.9)
        block.modulation.bias.normal_()
    return block


def _modblock_by_hand(block: ModBlock, z: torch.Tensor, neg: float, pos: float) -> torch.Tensor:
    """m = V·(s ⊙ U·tanh(norm z)) + b, one sample and one output at a time in plain Python floats."""
    u = block.rescale.resize.conv1x1.weight.flatten(1).tolist()
    v = block.modulation.weight.flatten(1).tolist()
    b = block.modulation.bias.tolist()
    s_neg, s_pos = block.neg_scale.item() * neg, block.pos_scale.item() * pos
    out = []
    for row in z.tolist():
        mean = sum(row) / len(row)
        var = sum((x - mean) ** 2 for x in row) / len(row)
        t = [math.tanh((x - mean) / math.sqrt(var + NORM_EPS)) for x in row]
        r = [sum(ui * ti for ui, ti in zip(u_row, t)) for u_row in u]
        q = [ri * (s_neg if ri < 0 else s_pos) for ri in r]
        out.append([sum(vi * qi for vi, qi in zip(v_row, q)) + bc for v_row, bc in zip(v, b)])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("pair", [(0.5, 2.0), (-1.0, 3.0), (0.0, 1.0), (2.0, 0.0)])
def test_modblock_pair_scales_neg_and_pos_apart(pair: tuple[float, float]) -> None:
    block = _modblock()
    z = _steer(4, seed=11, dtype=torch.float64)
    with torch.no_grad():
        got = block(z, pair)
    torch.testing.assert_close(got, _modblock_by_hand(block, z, *pair), atol=1e-12, rtol=0)
    # a different pair is a different modulation (both halves of U·tanh(...) are populated)
    with torch.no_grad():
        swapped = block(z, pair[::-1])
    assert (got - swapped).abs().max() > 1e-3


def test_one_number_is_the_pair_of_itself_bitwise() -> None:
    block = _modblock().float()
    z = _steer(4, seed=11)
    model = _model().eval()
    x, sv, sa = _x(3), _steer(3), _steer(3, seed=5)
    with torch.no_grad():
        for s in (0.0, 1.0, 2.5, -1.0, 5.0):
            assert torch.equal(block(z, s), block(z, (s, s))), s
            assert torch.equal(block(z, s), block(z, [s, s])), s  # a JSON-style list too
            single = model(x, steering=Steering(valence=sv, arousal=sa, strength=s))
            pair = model(x, steering=Steering(valence=sv, arousal=sa, strength=(s, s)))
            for key, value in single.items():
                assert torch.equal(value, pair[key]), (s, key)


def test_negative_strength_reverses_the_variable_term() -> None:
    block = _modblock()
    z = _steer(4, seed=11, dtype=torch.float64)
    bias = block.modulation.bias
    with torch.no_grad():
        for s in (1.0, (0.5, 2.0), (-1.0, 3.0)):
            plus = block(z, s) - bias
            minus = block(z, tuple(-x for x in s) if isinstance(s, tuple) else -s) - bias
            assert plus.abs().max() > 1e-3
            torch.testing.assert_close(minus, -plus, atol=1e-12, rtol=0)
        # strength 0 leaves the bias alone
        assert torch.equal(block(z, 0.0), bias.expand(4, -1))


def test_strength_pair_of_wrong_length_refused() -> None:
    with pytest.raises(EmosteerError, match=r"a pair is \(neg, pos\), got 3 values"):
        _modblock()(_steer(2, dtype=torch.float64), (1.0, 2.0, 3.0))


def test_alpha_and_first_pass_semantics() -> None:
    model = _model().eval()
    x, s = _x(3), _steer(3)
    with torch.no_grad():
        plain = model(x)
        # alpha 0, strength 1, pass 1 unsteered: the source is the model's own feedback -> no change
        own = model(x, steering=Steering(valence=s, strength=1.0, alpha=0.0, first_pass=False))
        both = Steering(valence=s, arousal=_steer(3, seed=4), first_pass=True)
        first = model(x, steering=both, return_all_passes=True)
        later = model(x, steering=Steering(valence=s, first_pass=False), return_all_passes=True)
        one_pass = model(x, forward_passes=1)
    torch.testing.assert_close(own["valence"], plain["valence"])
    torch.testing.assert_close(later[0]["valence"], one_pass["valence"])
    assert (first[0]["valence"] - one_pass["valence"]).abs().max() > 1e-4
    # alpha 1, first_pass, both pathways steered: every pass sees the same sources, passes agree
    torch.testing.assert_close(first[0]["valence"], first[1]["valence"])


def test_no_state_survives_a_call() -> None:
    model = _model().eval()
    x = _x(3)
    scales_before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        a = model(x)
        model(_x(3, seed=9), steering=Steering(valence=_steer(3), arousal=_steer(3), strength=7.0))
        b = model(x)
    torch.testing.assert_close(a["valence"], b["valence"], atol=0, rtol=0)
    torch.testing.assert_close(a["arousal"], b["arousal"], atol=0, rtol=0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, scales_before[key]), key


def test_bad_steering_shape_refused() -> None:
    with pytest.raises(EmosteerError, match="steering.arousal"):
        _model().eval()(_x(3), steering=Steering(arousal=torch.zeros(2, 128)))


def test_frozen_backbone_unchanged_by_training_step() -> None:
    model = _model(freeze_backbone=True, train_bn0=True, train_fc1=False).train()
    base = model.visual_system.base
    assert all(not bn.training for bn in model.frozen_batchnorms())
    before = {k: v.clone() for k, v in base.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        out = model(_x(4) * 3 + 2)
        (out["valence"].pow(2).mean() + out["arousal"].pow(2).mean()).backward()
        opt.step()
    after = base.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"bn0.weight", "bn0.bias"}  # only bn0's affine trains; no running stats move
    for k in range(1, 5):
        assert base.block(k).conv1.weight.grad is None


def test_unfrozen_backbone_trains_and_tracks_stats() -> None:
    model = _model(freeze_backbone=False).train()
    before = model.visual_system.base.bn0.running_mean.clone()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    conv_before = model.visual_system.base.conv_block1.conv1.weight.clone()
    out = model(_x(4) * 3 + 2)
    out["valence"].pow(2).mean().backward()
    opt.step()
    assert not torch.equal(before, model.visual_system.base.bn0.running_mean)
    assert not torch.equal(conv_before, model.visual_system.base.conv_block1.conv1.weight)


def test_spec_augment_only_in_train_mode() -> None:
    model = _model(spec_augment=True)
    plain = _model(spec_augment=False)
    x = _x(2)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x)["valence"], plain.eval()(x)["valence"])


def test_mask_stripes_zeroes_time_and_mel_stripes() -> None:
    x = torch.ones(4, 1, 200, 64)
    masked = mask_stripes(x, generator=torch.Generator().manual_seed(0))
    again = mask_stripes(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(masked, again)
    zero = masked[:, 0] == 0
    assert bool(zero.any())
    full_frames = zero.all(dim=2).any(dim=1)  # some whole frames dropped per sample
    full_bins = zero.all(dim=1).any(dim=1)  # some whole mel bins dropped per sample
    assert bool(full_frames.any()) and bool(full_bins.any())
    assert float(zero.float().mean()) < 0.8


def test_repeated_pass_is_reused_only_when_exact() -> None:
    """alpha 1 + first_pass steering of both pathways repeats pass 1; eval mode reuses it, and
    the reused result equals computing the pass again (alpha just below 1 forces recomputation)."""
    model = _model().eval()
    x, sv, sa = _x(3), _steer(3), _steer(3, seed=4)
    with torch.no_grad():
        reused = model(x, steering=Steering(valence=sv, arousal=sa), return_all_passes=True)
        computed = model(x, steering=Steering(valence=sv, arousal=sa, alpha=1.0 - 1e-12), return_all_passes=True)
        one = model(x, forward_passes=1, steering=Steering(valence=sv, arousal=sa))
    assert reused[1] is reused[0]
    assert computed[1] is not computed[0]
    for key in ("valence", "arousal", "valence_128d"):
        torch.testing.assert_close(reused[1][key], computed[1][key], rtol=0, atol=1e-6)
        torch.testing.assert_close(reused[-1][key], one[key], rtol=0, atol=0)
    model.train()
    torch.manual_seed(0)
    passes = model(x, steering=Steering(valence=sv, arousal=sa), return_all_passes=True)
    assert passes[1] is not passes[0]  # dropout redraws per pass in training: never reused


def test_frozen_batchnorms_are_in_eval_mode_from_construction() -> None:
    """A fresh model's frozen BNs must not use batch statistics (or move) before train() is called."""
    model = _model(train_bn0=False)
    assert all(not bn.training for bn in model.frozen_batchnorms())
    before = model.visual_system.base.bn0.running_mean.clone()
    model.first_pass_features(_x(3) * 5 + 2)
    assert torch.equal(before, model.visual_system.base.bn0.running_mean)


def test_spec_augment_masks_in_train_mode() -> None:
    """The training half: masks are drawn from the torch RNG, so outputs change with the seed and
    repeat with it; without SpecAugment (and without dropout) the seed changes nothing."""
    x = _x(3)
    outs = {}
    for augment in (True, False):
        model = _model(spec_augment=augment).train()
        model.block_dropout = model.embed_dropout = 0.0
        with torch.no_grad():
            for seed in (0, 0, 1):
                torch.manual_seed(seed)
                outs.setdefault(augment, []).append(model(x)["valence"])
    a0, a0_again, a1 = outs[True]
    p0, _, p1 = outs[False]
    torch.testing.assert_close(a0, a0_again, rtol=0, atol=0)
    assert (a0 - a1).abs().max() > 1e-4 and (a0 - p0).abs().max() > 1e-4
    torch.testing.assert_close(p0, p1, rtol=0, atol=0)


def test_folded_batchnorm_equals_unfolded() -> None:
    model = _model().eval()
    x, s = _x(3, frames=40), _steer(3)
    with torch.no_grad():
        folded = model(x, steering=Steering(valence=s), return_all_passes=True)
        model.fold_batchnorm = False
        plain = model(x, steering=Steering(valence=s), return_all_passes=True)
    for a, b in zip(folded, plain):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)


def test_chunked_block_equals_whole_batch(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A conv output over the limit is computed a few clips at a time with the same numbers."""
    import emosteer.model.lrm as lrm

    model = _model().eval()
    x, s = _x(5, frames=24), _steer(5)
    with torch.no_grad():
        whole = model(x, steering=Steering(arousal=s))
        monkeypatch.setattr(lrm, "CONV_OUT_LIMIT", 2 * 64 * 24 * 64)  # block 1: 2 clips at a time
        assert len(lrm._chunks(torch.zeros(5, 1, 24, 64), 1)) == 3
        chunked = model(x, steering=Steering(arousal=s))
    for key in whole:
        torch.testing.assert_close(chunked[key], whole[key], rtol=0, atol=1e-6)


def _count_blocks(monkeypatch, model: EmotionLRM) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(block, batch) of every conv block run by `model`, in order."""
    runs: list[tuple[int, int]] = []
    real = model._conv_pool_part

    def counted(k, h, convs):  # type: ignore[no-untyped-def]
        runs.append((k, len(h)))
        return real(k, h, convs)

    monkeypatch.setattr(model, "_conv_pool_part", counted)
    return runs


def test_block_one_runs_once_per_call_whatever_the_passes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Nothing modulates block 1's input, so both passes share its output: in eval and in training,
    where feedback flows through the shared output into every ModBlock's gradient."""
    model = _model()
    model.block_dropout = model.embed_dropout = 0.0
    runs = _count_blocks(monkeypatch, model)
    out = model.train()(_x(3), return_all_passes=True)
    assert [k for k, _ in runs] == [1, 2, 3, 4, 2, 3, 4]
    (out[-1]["valence"].sum() + out[-1]["arousal"].sum()).backward()
    for source, block in CONNECTIONS:  # pass 2 modulated by pass 1: every ModBlock's output acts
        grad = model.modblock(source, block).modulation.bias.grad
        assert grad is not None and grad.abs().sum() > 0, (source, block)


def test_rows_reuse_each_clips_block_one_and_equal_the_repeated_batch(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """rows: a batch of clip indices into x, e.g. one clip under several steering vectors."""
    model = _model().eval()
    x, rows = _x(3), torch.tensor([0, 0, 1, 2, 2, 2])
    sv, sa = _steer(6), _steer(6, seed=5)
    runs = _count_blocks(monkeypatch, model)
    with torch.no_grad():
        for steering in (None, Steering(valence=sv, arousal=sa, strength=2.0), Steering(arousal=sa)):
            runs.clear()
            shared = model(x, steering=steering, return_all_passes=True, rows=rows)
            assert runs[0] == (1, 3) and all(k > 1 and n == 6 for k, n in runs[1:])
            repeated = model(x[rows], steering=steering, return_all_passes=True)
            for a, b in zip(shared, repeated):
                for key in a:
                    torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize("rows", [[0, 3], [-1], [[0, 1]]])
def test_bad_rows_refused(rows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmosteerError, match="rows must be a 1-d int64 tensor of indices into the 3 clips"):
        _model().eval()(_x(3), rows=torch.tensor(rows))


# --- strength 0 and the clip's own signal (issue 22, item 7) -----------------------------------


@pytest.mark.parametrize("passes", [2, 3])
@pytest.mark.parametrize("first_pass", [True, False])
def test_the_clips_own_signal_at_strength_1_reproduces_the_unsteered_prediction(passes: int, first_pass: bool) -> None:
    """The activations file's 128-d (pass k-1, the last fed-back pass) is exactly the source the
    unsteered final pass was modulated with; steering with it at strength 1, alpha 1, repeats that
    pass (first_pass: pass 1 becomes it; otherwise the last pass does)."""
    from emosteer.model.activations import activations_pass_for
    from emosteer.model.inference import predict

    model = _model(forward_passes=passes).eval()
    x = _x(5).numpy()
    plain = predict(model, x, activations_pass=activations_pass_for(passes))
    steered = predict(
        model,
        x,
        steer_valence=plain["valence_128d"],
        steer_arousal=plain["arousal_128d"],
        strength=1.0,
        alpha=1.0,
        first_pass=first_pass,
    )
    one_pass = predict(model, x, forward_passes=1)
    for dim in ("valence", "arousal"):
        assert abs(plain[dim] - one_pass[dim]).max() > 1e-4  # the feedback acts: the check can fail
        torch.testing.assert_close(torch.as_tensor(steered[dim]), torch.as_tensor(plain[dim]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("first_pass", [True, False])
def test_strength_0_leaves_the_modblock_bias_so_it_is_not_the_baseline(first_pass: bool) -> None:
    """At strength 0 a ModBlock's output is its bias b whatever the signal, so every modulated
    block is scaled by (1 + b): the same for every clip and signal. That is the unsteered one-pass
    model only where every b = 0, and never the unsteered final pass (its feedback depends on the
    clip). A trained LRM's biases move away from 0 (lrm_zero_init only starts them there)."""
    block = ModBlock(64)
    z = _steer(3)
    expected = block.modulation.bias.detach().expand(3, 64)
    torch.testing.assert_close(block(z, 0.0).detach(), expected, atol=0, rtol=0)
    torch.testing.assert_close(block(_steer(3, seed=7), 0.0).detach(), expected, atol=0, rtol=0)

    model = _model().eval()
    x = _x(4)

    def at_zero(signal_seed: int) -> dict[str, torch.Tensor]:
        steering = Steering(
            valence=_steer(4, seed=signal_seed),
            arousal=_steer(4, seed=signal_seed + 1),
            strength=0.0,
            first_pass=first_pass,
        )
        with torch.no_grad():
            return model(x, steering=steering)

    with torch.no_grad():
        plain, one_pass = model(x), model(x, forward_passes=1)
    zero = at_zero(2)
    for dim in ("valence", "arousal"):
        torch.testing.assert_close(zero[dim], at_zero(5)[dim], atol=0, rtol=0)  # the signal is ignored
        assert (zero[dim] - plain[dim]).abs().max() > 1e-4
        assert (zero[dim] - one_pass[dim]).abs().max() > 1e-4  # default init: b != 0

    with torch.no_grad():
        for source, k in CONNECTIONS:
            model.modblock(source, k).modulation.bias.zero_()
        plain, one_pass = model(x), model(x, forward_passes=1)
    zero = at_zero(2)
    for dim in ("valence", "arousal"):
        torch.testing.assert_close(zero[dim], one_pass[dim], atol=1e-6, rtol=0)
        assert (zero[dim] - plain[dim]).abs().max() > 1e-4
