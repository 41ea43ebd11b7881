"""PANNs Cnn6 valence/arousal regressor with Long-Range-Modulation (LRM) feedback and steering.

The parameter layout (module names, shapes, state_dict order) is the original system's
(ORIGINAL.md §a, final naming), so its checkpoints load strictly. The behaviour is not: the
feedback is computed explicitly inside `forward` from arguments, so pass k+1 really is modulated by
pass k's own 128-d activations, gradients flow through that path, and no state survives a call.

Shapes: x (B, T, 64) precomputed log-mel; the four conv blocks halve T and the mel axis each, so any
T >= 16 works. The valence/arousal "128-d" is the post-ReLU output of each head's second Linear;
feedback and steering signals live in that space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from emosteer.constants import MIN_FRAMES, N_FFT, N_MELS, REPORT_STRENGTH, STEER_DIM
from emosteer.errors import EmosteerError
from emosteer.strength import Value as StrengthValue
from emosteer.strength import scales as strength_scales

BLOCK_CHANNELS = (64, 128, 256, 512)
EMBED_DIM = 512
HEAD_HIDDEN = 256
AUDIOSET_CLASSES = 527
NORM_EPS = 1e-5  # ModBlock's per-sample normalisation epsilon (the original's)
BLOCK_DROPOUT = 0.2
EMBED_DROPOUT = 0.5
N_STFT_BINS = N_FFT // 2 + 1
CONV_OUT_LIMIT = 32 * 1024 * 1024  # elements (128 MB float32) of one conv output computed at once

# LRM connections (source pathway, target conv block), in the original's final state_dict order.
CONNECTIONS: tuple[tuple[str, int], ...] = (
    ("valence", 3),
    ("valence", 4),
    ("arousal", 1),
    ("arousal", 2),
)

# SpecAugment stripes (the original's torchlibrosa settings), used only when enabled.
TIME_DROP_WIDTH, TIME_STRIPES = 64, 2
FREQ_DROP_WIDTH, FREQ_STRIPES = 8, 2


def target_module_name(block: int) -> str:
    """Name of the per-target container inside `lrm` (final naming)."""
    return f"visual_system_base_conv_block{block}_modulation"


def modblock_name(source: str, block: int) -> str:
    """Name of one ModBlock, as in the original (`from_<source>_to_<target>`)."""
    return f"from_affective_{source}_128d_to_visual_system_base_conv_block{block}"


@dataclass(frozen=True)
class Steering:
    """Steering for one forward call; nothing of it outlives the call.

    valence/arousal: (B, 128) one vector per sample, or (128,) broadcast; None leaves that
    pathway to its own feedback. `strength` multiplies the steered pathway's ModBlock neg/pos
    scales (scaling the vector itself would be cancelled by the ModBlock normalisation): one
    number s multiplies both (a negative one reverses the sign of the term that depends on the
    source), a pair (neg, pos) multiplies each scale by its own factor.
    `alpha` blends the source: alpha*steer + (1-alpha)*own 128-d of the previous pass (pass 1 has
    no previous pass, so it uses the steer vector alone). `first_pass`: pass 1 is steered too.
    """

    valence: torch.Tensor | None = None
    arousal: torch.Tensor | None = None
    strength: StrengthValue = REPORT_STRENGTH
    alpha: float = 1.0
    first_pass: bool = True


class _Holder(nn.Module):
    """Holds one named tensor as a buffer, for original weights we keep only so checkpoints load."""

    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer(name, torch.zeros(shape))


class _SpectrogramExtractor(nn.Module):
    """torchlibrosa's STFT kernels: never called (input is precomputed log-mel), kept for loading."""

    def __init__(self) -> None:
        super().__init__()
        self.stft = nn.Module()
        self.stft.conv_real = _Holder("weight", (N_STFT_BINS, 1, N_FFT))
        self.stft.conv_imag = _Holder("weight", (N_STFT_BINS, 1, N_FFT))


class ConvBlock(nn.Module):
    """5x5 conv (no bias) -> BatchNorm -> ReLU -> 2x2 average pool; modulation happens after it."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 5, stride=1, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        nn.init.xavier_uniform_(self.conv1.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=2)


class Cnn6(nn.Module):
    """PANNs Cnn6 on precomputed log-mel (the extractors are inert placeholders)."""

    def __init__(self) -> None:
        super().__init__()
        self.spectrogram_extractor = _SpectrogramExtractor()
        self.logmel_extractor = nn.Module()
        self.logmel_extractor.register_buffer("melW", torch.zeros(N_STFT_BINS, N_MELS))
        self.bn0 = nn.BatchNorm2d(N_MELS)
        channels = (1, *BLOCK_CHANNELS)
        for k in range(1, 5):
            setattr(self, f"conv_block{k}", ConvBlock(channels[k - 1], channels[k]))
        self.fc1 = nn.Linear(EMBED_DIM, EMBED_DIM)
        self.fc_audioset = nn.Linear(EMBED_DIM, AUDIOSET_CLASSES)  # unused; AudioSet tagging head
        for linear in (self.fc1, self.fc_audioset):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def block(self, k: int) -> ConvBlock:
        """Conv block k (1-based)."""
        return getattr(self, f"conv_block{k}")

    def normalise_input(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 64) -> (B, 1, T, 64) with bn0 normalising each mel bin over (B, T)."""
        x = x.unsqueeze(1).transpose(1, 3)  # (B, 64, T, 1): mel bins as channels
        return self.bn0(x).transpose(1, 3)


def pool(h: torch.Tensor) -> torch.Tensor:
    """Block-4 output (B, 512, T', M') -> (B, 512): mean over mel, then max + mean over time."""
    x = h.mean(dim=3)
    return x.max(dim=2).values + x.mean(dim=2)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of one conv equal to conv (no bias) -> BatchNorm in eval mode.

    BN(conv(x)) = s * (conv(x) - mean) + beta with s = gamma / sqrt(var + eps), so the conv with
    weight s * W and bias beta - s * mean computes it in one kernel. Differentiable in every
    parameter, so it is exact for training too wherever the BN's statistics are frozen.
    """
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * scale[:, None, None, None], bn.bias - bn.running_mean * scale


class VisualSystem(nn.Module):
    """Wrapper that exists only so parameter names carry the original's `visual_system.base.`."""

    def __init__(self) -> None:
        super().__init__()
        self.base = Cnn6()


class _Resize(nn.Module):
    """The original's resize stage: a bias-free 1x1 conv 128->128 (its interpolation is a broadcast)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(STEER_DIM, STEER_DIM, 1, bias=False)


class _Rescale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resize = _Resize()


class ModBlock(nn.Module):
    """One LRM connection: a 128-d source -> a per-channel gain term m (B, C) for one conv block.

    m = V · (s ⊙ U·tanh(norm(z))) + b with s = neg_scale where U·tanh(...) < 0, else pos_scale.
    The normalisation is per sample over the 128 values, so any global scale of z cancels; that is
    why steering strength acts on the scales instead. The two scales are independent parameters, so
    a strength may scale them apart: a pair (neg, pos), where one number s is the pair (s, s).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.neg_scale = nn.Parameter(torch.ones(1))
        self.pos_scale = nn.Parameter(torch.ones(1))
        self.rescale = _Rescale()
        self.modulation = nn.Conv2d(STEER_DIM, channels, 1, bias=True)

    def forward(self, z: torch.Tensor, strength: StrengthValue = 1.0) -> torch.Tensor:
        """z (B, 128) -> m (B, C). `strength` (s, or a pair (neg, pos)) scales neg_scale and
        pos_scale for this call only (local tensors)."""
        mean = z.mean(dim=1, keepdim=True)
        var = z.var(dim=1, unbiased=False, keepdim=True)
        t = torch.tanh((z - mean) / torch.sqrt(var + NORM_EPS))
        r = F.linear(t, self.rescale.resize.conv1x1.weight.flatten(1))
        neg_factor, pos_factor = strength_scales(strength)  # s -> (s, s): the same products
        neg = self.neg_scale * neg_factor
        pos = self.pos_scale * pos_factor
        q = r * torch.where(r < 0, neg, pos)
        return F.linear(q, self.modulation.weight.flatten(1), self.modulation.bias)


def modulate(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """The original's target arithmetic: X' = ReLU(X + X·m), m broadcast over time and mel."""
    return F.relu(x + x * m[:, :, None, None])


def _affective_head() -> nn.Sequential:
    head = nn.Sequential(
        nn.Linear(EMBED_DIM, HEAD_HIDDEN),
        nn.ReLU(),
        nn.Linear(HEAD_HIDDEN, STEER_DIM),
        nn.ReLU(),
        nn.Linear(STEER_DIM, 1),
    )
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return head


def mask_stripes(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero 2 random time stripes (< 64 frames) and 2 mel stripes (< 8 bins) per sample, batched.

    x (B, 1, T, F). Draws from the torch RNG (or `generator`), like dropout does.
    """
    batch, _, frames, bins = x.shape
    keep = torch.ones(batch, frames, bins, dtype=torch.bool, device=x.device)
    for axis, size, width, stripes in (
        (1, frames, TIME_DROP_WIDTH, TIME_STRIPES),
        (2, bins, FREQ_DROP_WIDTH, FREQ_STRIPES),
    ):
        widths = torch.randint(0, min(width, size), (batch, stripes), generator=generator)
        starts = (torch.rand(batch, stripes, generator=generator) * (size - widths + 1)).long()
        pos = torch.arange(size)[None, None, :]
        hit = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])  # (B, S, size)
        dropped = hit.any(dim=1).to(x.device)  # (B, size)
        keep &= ~(dropped[:, :, None] if axis == 1 else dropped[:, None, :])
    return x * keep[:, None].to(x.dtype)


class EmotionLRM(nn.Module):
    """Cnn6 backbone + valence/arousal heads + LRM feedback from each head's 128-d to two blocks.

    Valence 128-d modulates conv blocks 3 and 4, arousal 128-d conv blocks 1 and 2. Pass 1 is
    unmodulated (unless steered with first_pass), pass k+1 is modulated by pass k's 128-d.

    freeze_backbone: conv blocks and their BatchNorms get requires_grad False, and every backbone
    BatchNorm (bn0 included) stays in eval mode even under `train()`, so running statistics never
    move. train_bn0 / train_fc1 decide whether bn0's affine and fc1 still train when frozen.
    """

    def __init__(
        self,
        forward_passes: int = 2,
        freeze_backbone: bool = True,
        train_bn0: bool = False,
        train_fc1: bool = True,
        spec_augment: bool = False,
    ) -> None:
        super().__init__()
        if forward_passes < 1:
            raise EmosteerError(f"EmotionLRM: forward_passes must be >= 1, got {forward_passes}")
        self.forward_passes = forward_passes
        self.freeze_backbone = freeze_backbone
        self.train_bn0 = train_bn0
        self.train_fc1 = train_fc1
        self.spec_augment = spec_augment
        # Dropout rates are attributes (not config) so tests can switch dropout off in train mode
        # and compare training paths exactly; `fold_batchnorm` = False gives the unfolded kernels.
        self.block_dropout = BLOCK_DROPOUT
        self.embed_dropout = EMBED_DROPOUT
        self.fold_batchnorm = True
        self.visual_system = VisualSystem()
        self.affective_valence = _affective_head()
        self.affective_arousal = _affective_head()
        self.lrm = nn.Module()
        for source, block in CONNECTIONS:
            container = nn.Module()
            container.add_module(modblock_name(source, block), ModBlock(BLOCK_CHANNELS[block - 1]))
            self.lrm.add_module(target_module_name(block), container)
        self._apply_freeze()
        self.train()  # puts frozen BatchNorms in eval mode from the start, not at the first train()

    # --- configuration -------------------------------------------------------------------------

    @property
    def base(self) -> Cnn6:
        return self.visual_system.base

    def config(self) -> dict[str, int | bool]:
        """Constructor arguments, as saved in checkpoints."""
        return {
            "forward_passes": self.forward_passes,
            "freeze_backbone": self.freeze_backbone,
            "train_bn0": self.train_bn0,
            "train_fc1": self.train_fc1,
            "spec_augment": self.spec_augment,
        }

    def modblock(self, source: str, block: int) -> ModBlock:
        """The ModBlock from `source` ("valence"/"arousal") to conv block `block`."""
        return getattr(getattr(self.lrm, target_module_name(block)), modblock_name(source, block))

    def frozen_batchnorms(self) -> list[nn.BatchNorm2d]:
        """Backbone BatchNorms whose running statistics must not move (empty if not frozen)."""
        if not self.freeze_backbone:
            return []
        return [self.base.bn0] + [self.base.block(k).bn1 for k in range(1, 5)]

    def _apply_freeze(self) -> None:
        base = self.base
        for p in base.fc_audioset.parameters():  # never used in forward: no reason to train it
            p.requires_grad_(False)
        if not self.freeze_backbone:
            return
        for k in range(1, 5):
            for p in base.block(k).parameters():
                p.requires_grad_(False)
        for p in base.bn0.parameters():
            p.requires_grad_(self.train_bn0)
        for p in base.fc1.parameters():
            p.requires_grad_(self.train_fc1)

    def train(self, mode: bool = True) -> EmotionLRM:
        """As nn.Module.train, but frozen backbone BatchNorms always stay in eval mode."""
        super().train(mode)
        for bn in self.frozen_batchnorms():
            bn.eval()
        return self

    # --- forward -------------------------------------------------------------------------------

    def forward(
        self,
        x: torch.Tensor,
        forward_passes: int | None = None,
        steering: Steering | None = None,
        return_all_passes: bool = False,
        first_pass_pooled: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        """x (B, T, 64) or (B, 1, T, 64) -> dict valence (B,), arousal (B,), valence_128d,
        arousal_128d (B, 128), embedding (B, 512) of the last pass (or a list, one per pass).

        first_pass_pooled: (B, 512) from `first_pass_features(x)`; pass 1 then starts from it
        instead of running the conv blocks (it must be unsteered). Training uses this to compute
        a frozen backbone's pass 1 once per clip instead of once per step (docs/model.md).

        rows: (B,) indices into x, whose clips are then distinct: row i of the batch is clip
        rows[i] (e.g. one clip under several steering vectors). Block 1 comes before any
        modulation, so it runs once per clip of x and once per call, whatever the passes or rows.
        """
        x = _as_btf(x)
        passes = self.forward_passes if forward_passes is None else forward_passes
        if passes < 1:
            raise EmosteerError(f"forward: forward_passes must be >= 1, got {passes}")
        h = self.base.normalise_input(x)
        if self.spec_augment and self.training:
            h = mask_stripes(h)
        if rows is not None:
            h = _Rows(h, rows)
        steer_v, steer_a = _steer_vectors(steering, len(h), x)
        convs = self._conv_weights()
        first: torch.Tensor | None = None  # block 1's output, before any modulation
        outputs: list[dict[str, torch.Tensor]] = []
        inputs: tuple | None = None
        for p in range(passes):
            previous = outputs[-1] if outputs else None
            src_v, str_v = _source(previous, "valence_128d", steer_v, steering, p == 0)
            src_a, str_a = _source(previous, "arousal_128d", steer_a, steering, p == 0)
            same = (
                inputs is not None
                and src_v is inputs[0]
                and src_a is inputs[2]
                and (str_v, str_a) == (inputs[1], inputs[3])
            )
            if same and not self.training:
                # Same sources as the previous pass and no dropout: the pass would repeat it
                # exactly (e.g. both pathways steered with alpha = 1), so reuse it.
                outputs.append(outputs[-1])
                continue
            inputs = (src_v, str_v, src_a, str_a)
            if p == 0 and first_pass_pooled is not None:
                if src_v is not None or src_a is not None:
                    raise EmosteerError("forward: first_pass_pooled needs an unsteered pass 1")
                outputs.append(self._heads(first_pass_pooled))
                continue
            if first is None:
                first = self._first_block(h, convs)
            pooled = self._blocks(first, convs, {"valence": (src_v, str_v), "arousal": (src_a, str_a)})
            outputs.append(self._heads(pooled))
        return outputs if return_all_passes else outputs[-1]

    def first_pass_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 512) pooled block-4 output of an unmodulated pass without block dropout, no grad.

        With a frozen backbone whose bn0 does not train this is a fixed function of the clip, so
        it can be computed once and passed to `forward(first_pass_pooled=...)` every epoch.
        """
        base = self.base
        moving = [
            n for n, p in base.named_parameters() if p.requires_grad and not n.startswith(("fc1.", "fc_audioset."))
        ]
        if moving or (self.spec_augment and self.training):
            raise EmosteerError(
                "first_pass_features: needs a frozen backbone with bn0 frozen and no SpecAugment "
                f"(trainable: {', '.join(moving) or 'none'}; spec_augment {self.spec_augment})"
            )
        with torch.no_grad():
            convs = self._conv_weights()
            return self._blocks(self._first_block(self.base.normalise_input(_as_btf(x)), convs), convs, None)

    def _conv_weights(self) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Each block's conv with its BatchNorm folded in, when every block BN is in eval mode."""
        blocks = [self.base.block(k) for k in range(1, 5)]
        if not self.fold_batchnorm or any(b.bn1.training for b in blocks):
            return None
        return [fold_batchnorm(b.conv1, b.bn1) for b in blocks]

    def _first_block(
        self, h: torch.Tensor | _Rows, convs: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> torch.Tensor:
        """Block 1's conv -> BN -> ReLU -> pool of the normalised input (one row per batch row)."""
        if isinstance(h, _Rows):
            return self._first_block(h.clips, convs).index_select(0, h.rows)
        return self._conv_pool(1, h, convs)

    def _blocks(
        self,
        first: torch.Tensor,
        convs: list[tuple[torch.Tensor, torch.Tensor]] | None,
        sources: dict[str, tuple[torch.Tensor | None, StrengthValue]] | None,
    ) -> torch.Tensor:
        """From block 1's output through blocks 2-4 (modulated where a source is given) -> pooled
        (B, 512). sources None: unmodulated and without block dropout (the cacheable first pass)."""
        h = first
        for k in range(1, 5):
            if k > 1:
                h = self._conv_pool(k, h, convs)
            if sources is None:
                continue
            source = next(s for s, b in CONNECTIONS if b == k)
            z, strength = sources[source]
            if z is not None:
                h = modulate(h, self.modblock(source, k)(z, strength))
            h = F.dropout(h, p=self.block_dropout, training=self.training)
        return pool(h)

    def _conv_pool(
        self, k: int, h: torch.Tensor, convs: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> torch.Tensor:
        """Block k's conv -> BN -> ReLU -> 2x2 average pool (BN folded into the conv if given), a
        few clips at a time where the batch's conv output would be large (`_chunks`)."""
        parts = [self._conv_pool_part(k, part, convs) for part in _chunks(h, k)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _conv_pool_part(
        self, k: int, h: torch.Tensor, convs: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> torch.Tensor:
        if convs is None:
            return self.base.block(k)(h)
        # in-place ReLU: conv2d's backward needs its input, not its output
        return F.avg_pool2d(F.relu_(F.conv2d(h, *convs[k - 1], padding=2)), kernel_size=2)

    def _heads(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pooled (B, 512) -> dropout, fc1, ReLU, dropout (the embedding) -> both heads."""
        x = F.dropout(pooled, p=self.embed_dropout, training=self.training)
        x = F.relu(self.base.fc1(x))
        embedding = F.dropout(x, p=self.embed_dropout, training=self.training)
        v128 = self.affective_valence[:4](embedding)
        a128 = self.affective_arousal[:4](embedding)
        return {
            "valence": self.affective_valence[4](v128).squeeze(-1),
            "arousal": self.affective_arousal[4](a128).squeeze(-1),
            "valence_128d": v128,
            "arousal_128d": a128,
            "embedding": embedding,
        }


@dataclass(frozen=True)
class _Rows:
    """A batch given as distinct clips plus, per batch row, the index of its clip."""

    clips: torch.Tensor  # (U, 1, T, 64) normalised input
    rows: torch.Tensor  # (B,) int64 in [0, U)

    def __post_init__(self) -> None:
        rows = self.rows
        if (
            rows.dim() != 1
            or rows.dtype != torch.int64
            or (len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= len(self.clips)))
        ):
            raise EmosteerError(
                f"forward: rows must be a 1-d int64 tensor of indices into the {len(self.clips)} clips of x"
            )

    def __len__(self) -> int:
        return len(self.rows)


def _chunks(h: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Split a batch so block k's full-resolution conv output stays under CONV_OUT_LIMIT elements.

    Long clips make block 1's output the largest tensor of a pass (32 clips x 64 channels x
    1000 x 64 is 0.5 GB, twice over while oneDNN reorders it); every conv is per clip, so running
    the block a few clips at a time gives the same numbers with memory bounded by the chunk.
    """
    per_clip = BLOCK_CHANNELS[k - 1] * h.shape[2] * h.shape[3]
    size = max(1, CONV_OUT_LIMIT // per_clip)
    return (h,) if h.shape[0] <= size else h.split(size)


def _as_btf(x: torch.Tensor) -> torch.Tensor:
    """Accept (B, T, 64) or (B, 1, T, 64); refuse anything else with the shape in the message."""
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3 or x.shape[2] != N_MELS or x.shape[1] < MIN_FRAMES:
        raise EmosteerError(f"forward: input must be (B, T, {N_MELS}) with T >= {MIN_FRAMES}, got {tuple(x.shape)}")
    return x


def _steer_vectors(
    steering: Steering | None, batch: int, x: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Steering vectors as (batch, 128) tensors in x's dtype/device (broadcasting (128,))."""
    if steering is None:
        return None, None
    out = []
    for name in ("valence", "arousal"):
        s = getattr(steering, name)
        if s is not None:
            s = torch.as_tensor(s).to(dtype=x.dtype, device=x.device)
            if s.shape == (STEER_DIM,):
                s = s.expand(batch, STEER_DIM)
            elif s.shape != (batch, STEER_DIM):
                raise EmosteerError(
                    f"steering.{name}: expected ({STEER_DIM},) or ({batch}, {STEER_DIM}), got {tuple(s.shape)}"
                )
        out.append(s)
    return out[0], out[1]


def _source(
    previous: dict[str, torch.Tensor] | None,
    key: str,
    steer: torch.Tensor | None,
    steering: Steering | None,
    first: bool,
) -> tuple[torch.Tensor | None, StrengthValue]:
    """Feedback source for one pathway on one pass, and the strength for its ModBlocks."""
    own = None if previous is None else previous[key]
    if steer is None or steering is None or (first and not steering.first_pass):
        return own, 1.0
    if own is None or steering.alpha == 1.0:
        return steer, steering.strength  # alpha = 1: the steer vector itself (same object)
    return steering.alpha * steer + (1.0 - steering.alpha) * own, steering.strength
