"""Simulated verdict tables with a known truth, to measure the verdict procedure's error rates.

A table is the pipeline's verdict table in miniature: rows (a method of a grid on one dim, with
its family and what it is compared against), each pooled over seeds. What the simulation keeps of
the pipeline is what decides the error rates:

- **Clips are re-split, not redrawn** (`Regime.resplit`): one set of `n_clips` clips per table;
  each seed splits it with the pipeline's own `data.split.make_split` (the params' fractions and
  stratification) and validates on its val part, so seeds share clips as in the pipeline. A
  clip's label and its unsteered error are properties of the clip; each seed's model adds its own
  error on top (`SHARED_ERROR`: the share of the unsteered error's variance that is the clip's).
  With `resplit` False every seed draws fresh clips (independent seeds: the old simulation).
- **Steering moves a prediction part of the way to (or from) the label**: a row's steered
  prediction is base - lambda (base - y), lambda = mu + a clip's own part (half of it shared by
  the clips of one 3x3 label bin, so a stratified split matters) + the seed's model's part:
  gamma_s ~ N(0, tau_lambda^2) for the whole seed and a per-clip part. mu and tau_lambda are
  solved so that the seeds' population Δρ has mean `effect` and sd `tau` (the regime's model
  spread) exactly; the clip parts' variance so that a seed's Δr varies by the row's `clip_se`
  over its clips.
- **The verdict is the pipeline's**: `rule` "resplit" is `verdicts.estimate/verdict/verdict_p`
  on the per-seed Δr and their jackknife variances (`stats.jackknife_delta_r`); "plain" the rule
  before it (`pooling.pool/verdict` on the two-level bootstrap, `pooling.seed_sides` for the
  p-value); "nb" the Nadeau-Bengio corrected resampled t (variance factor 1/S + n_val/n_train on
  the per-seed spread, S - 1 df), kept here as the alternative docs/statistics.md weighs. Holm
  runs within each family (`verdicts.correct`).

bench/verdict_errors.py runs it at scale; tests/test_verdicts.py runs a small seeded version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.stats import t as student_t

from emosteer.data import split
from emosteer.errors import EmosteerError
from emosteer.evaluation import pooling, stats, verdicts
from emosteer.grid import Grid

RULES = ("resplit", "plain", "nb")
DIMS = ("valence", "arousal")
LABEL_SD = 0.45  # labels: N(0, LABEL_SD^2) clipped to [-1, 1], per dim
SHARED_ERROR = 0.87  # share of the unsteered error variance that is the clip's own (same across seeds)
CLIP_SHARE = 0.5  # share of lambda's per-clip variance that is the clip's own (the rest: seed x clip)
BIN_SHARE = 0.5  # share of the clip's own part that is common to its 3x3 label bin
STRATA = 3  # the split's strata and the label bins of BIN_SHARE: the coarse grid
_NODES = np.polynomial.hermite_e.hermegauss(40)  # for E over gamma ~ N(0, 1): nodes, weights


@dataclass(frozen=True)
class Row:
    """A verdict row: `compare` "global_mean" (helps needs beating the table's global-mean row
    too), "self" (the global-mean row: compared with itself, it can never help) or "none" (the
    feedback row). `effect`: the pooled population Δρ planted in it (0 = a true null)."""

    name: str
    dim: int
    family: str
    compare: str
    clip_se: float
    effect: float = 0.0


@dataclass(frozen=True)
class Regime:
    name: str
    resplit: bool
    tau: float


@dataclass(frozen=True)
class Design:
    """The table's population: labels' variance per dim, error variances, the seeds' split
    settings, and per row its lambda mean `mu`, model spread `tau_lambda` and clip variance `w`."""

    n_clips: int
    val_fraction: float
    dev_fraction: float
    stratify: bool
    seeds: tuple[int, ...]
    label_var: np.ndarray  # (2,)
    error_var: np.ndarray  # (2,) total unsteered error variance
    mu: np.ndarray  # (rows,)
    tau_lambda: np.ndarray  # (rows,)
    w: np.ndarray  # (rows,)
    bin_effect: np.ndarray  # (rows, STRATA^2): each label bin's common part, mean 0 and sd 1 over clips


def _labels(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.clip(rng.normal(0.0, LABEL_SD, size=(n, 2)), -1.0, 1.0)


def _population_r(label_var: float, error_var: float, k: np.ndarray) -> np.ndarray:
    """Population r of y with y + (1 - lambda)(error): sqrt(Vy / (Vy + E[(1 - lambda)^2] Ve))."""
    return np.sqrt(label_var / (label_var + k * error_var))


def _solve(
    label_var: float, error_var: float, base_r: float, effect: float, tau: float, w: float
) -> tuple[float, float]:
    """(mu, tau_lambda) with E_gamma[Δρ] = effect and sd_gamma[Δρ] = tau, lambda's per-clip
    variance w; E over gamma ~ N(0, tau_lambda^2) by Gauss-Hermite quadrature."""
    nodes, weights = _NODES
    weights = weights / weights.sum()

    def moments(mu: float, tl: float) -> tuple[float, float]:
        r = _population_r(label_var, error_var, (1 - mu - tl * nodes) ** 2 + w)
        mean = float(weights @ r)
        return mean, float(np.sqrt(max(weights @ (r - mean) ** 2, 0.0)))

    target = base_r + effect
    if target >= float(_population_r(label_var, error_var, np.asarray(w))):
        raise EmosteerError(f"calibration: effect {effect} cannot be reached with clip variance {w:.3g}")
    mu, tl = 0.0, 0.0
    for _ in range(30):
        mu = optimize.brentq(lambda m, tl=tl: moments(m, tl)[0] - target, -3.0, 1.0, xtol=1e-14)
        if tau == 0:
            break
        tl = optimize.brentq(lambda s, mu=mu: moments(mu, s)[1] - tau, 0.0, 3.0, xtol=1e-14)
    return float(mu), float(tl)


def design(
    rows: Sequence[Row],
    tau: float,
    base_r: Sequence[float],
    n_clips: int,
    val_fraction: float,
    dev_fraction: float,
    stratify: bool,
    seeds: Sequence[int],
    pilot: int = 300,
) -> Design:
    """Solve each row's population for a regime's model spread `tau`: lambda's clip variance w so
    that a seed's Δr has the row's clip_se over round(val_fraction * n_clips) fresh clips (by a
    seeded pilot simulation, three rounds), and (mu, tau_lambda) for its effect and tau."""
    rng = np.random.default_rng(12345)
    big = _labels(rng, 200_000)
    label_var = big.var(axis=0)
    grid = Grid(STRATA)
    share = np.bincount(grid.bin_index(big[:, 0], big[:, 1]), minlength=grid.n_bins) / len(big)
    bin_effect = rng.normal(size=(len(rows), grid.n_bins))  # a property of the row's population
    bin_effect -= (bin_effect @ share)[:, None]
    bin_effect /= np.sqrt((bin_effect**2) @ share)[:, None]
    error_var = label_var * (1 / np.asarray(base_r, dtype=np.float64) ** 2 - 1)
    n_val = int(round(val_fraction * n_clips))
    mus, tls, ws = [], [], []
    for row in rows:
        d = row.dim
        w = 0.01
        for _ in range(3):
            mu, _ = _solve(label_var[d], error_var[d], base_r[d], row.effect, 0.0, w)
            prng = np.random.default_rng(777)
            y = _labels(prng, pilot * n_val)[:, d].reshape(pilot, n_val)
            base = y + np.sqrt(error_var[d]) * prng.normal(size=y.shape)
            lam = mu + np.sqrt(w) * prng.normal(size=y.shape)
            _, var = stats.jackknife_delta_r(y, base, base - lam * (base - y))
            se = float(np.sqrt(np.mean(var)))
            w = w * (row.clip_se / se) ** 2
        mu, tl = _solve(label_var[d], error_var[d], base_r[d], row.effect, tau, w)
        mus.append(mu)
        tls.append(tl)
        ws.append(w)
    return Design(
        n_clips,
        val_fraction,
        dev_fraction,
        stratify,
        tuple(int(s) for s in seeds),
        label_var,
        error_var,
        np.array(mus),
        np.array(tls),
        np.array(ws),
        bin_effect,
    )


@dataclass
class Table:
    """One simulated run: per row and seed, Δr vs unsteered and vs the global-mean row of its dim,
    their jackknife variances, and (rule "plain") their bootstrap replicates."""

    dr: np.ndarray  # (rows, seeds)
    dr_var: np.ndarray
    gm: np.ndarray  # NaN for rows compared with nothing
    gm_var: np.ndarray
    n_val: list[int]
    reps: np.ndarray | None = None  # (rows, seeds, n_boot)
    gm_reps: np.ndarray | None = None


def _references(rows: Sequence[Row]) -> np.ndarray:
    """(rows,) index of the row each is compared with beyond unsteered: the global-mean row of its
    dim (itself for that row), -1 for none."""
    gm = {}
    for i, r in enumerate(rows):
        if r.compare == "self":
            if r.dim in gm:
                raise EmosteerError(f"calibration: two global-mean rows on {DIMS[r.dim]}")
            gm[r.dim] = i
    out = []
    for r in rows:
        if r.compare == "none":
            out.append(-1)
        elif r.compare in ("self", "global_mean"):
            if r.dim not in gm:
                raise EmosteerError(f"calibration: row {r.name}: no global-mean row on {DIMS[r.dim]}")
            out.append(gm[r.dim])
        else:
            raise EmosteerError(f"calibration: row {r.name}: unknown comparison {r.compare!r}")
    return np.array(out)


def simulate(
    rows: Sequence[Row], d: Design, resplit: bool, rng: np.random.Generator, n_boot: int = 0, bank_seed: int = 0
) -> Table:
    """One table: clips (re-split by make_split, or fresh per seed), each seed's predictions, and
    every row's per-seed statistics. n_boot > 0 also draws each seed's bootstrap bank (shared by
    the seed's rows, as in the pipeline; seeded by seed + 1000 * bank_seed) for the plain rule."""
    m = len(rows)
    ref = _references(rows)
    has_ref = ref >= 0
    dims = np.array([r.dim for r in rows])
    grid = Grid(STRATA)
    n = d.n_clips
    names = [f"clip{i:05d}" for i in range(n)]
    w_clip = d.w * CLIP_SHARE
    w_seed = d.w * (1 - CLIP_SHARE)
    bin_w = w_clip * BIN_SHARE

    def clips(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k clips' labels (k, 2), own errors (k, 2) and each row's own lambda part (rows, k)."""
        y = _labels(rng, k)
        err = np.sqrt(d.error_var * SHARED_ERROR) * rng.normal(size=(k, 2))
        bins = grid.bin_index(y[:, 0], y[:, 1])
        lam = np.sqrt(bin_w)[:, None] * d.bin_effect[:, bins] + np.sqrt(w_clip - bin_w)[:, None] * rng.normal(
            size=(m, k)
        )
        return y, err, lam

    if resplit:
        y_all, err_all, lam_all = clips(n)
    shape = (m, len(d.seeds))
    dr, dr_var = np.empty(shape), np.empty(shape)
    gm, gm_var = np.full(shape, np.nan), np.full(shape, np.nan)
    reps = np.empty((*shape, n_boot)) if n_boot else None
    gm_reps = np.full((*shape, n_boot), np.nan) if n_boot else None
    n_val = []
    gamma = d.tau_lambda[:, None] * rng.normal(size=shape)
    for j, seed in enumerate(d.seeds):
        if resplit:
            idx = np.asarray(
                split.make_split(
                    names,
                    y_all[:, 0],
                    y_all[:, 1],
                    val_fraction=d.val_fraction,
                    dev_fraction=d.dev_fraction,
                    seed=seed,
                    mode="group",
                    stratify_grid=STRATA if d.stratify else None,
                )["val"]
            )
            y, err, lam = y_all[idx], err_all[idx], lam_all[:, idx]
        else:
            y, err, lam = clips(int(round(d.val_fraction * n)))
        k = len(y)
        n_val.append(k)
        own = np.sqrt(d.error_var * (1 - SHARED_ERROR)) * rng.normal(size=(k, 2))
        base = y + err + own  # (k, 2): the seed's unsteered predictions
        yr, br = y[:, dims].T, base[:, dims].T  # (rows, k): each row's dim
        lam_s = d.mu[:, None] + lam + gamma[:, j : j + 1] + np.sqrt(w_seed)[:, None] * rng.normal(size=(m, k))
        new = br - lam_s * (br - yr)
        dr[:, j], dr_var[:, j] = stats.jackknife_delta_r(yr, br, new)
        refs = new[np.where(has_ref, ref, 0)]
        g, gv = stats.jackknife_delta_r(yr[has_ref], refs[has_ref], new[has_ref])
        gm[has_ref, j], gm_var[has_ref, j] = g, gv
        if n_boot:
            bank = pooling.clip_bank(k, n_boot, seed + 1000 * bank_seed)
            counts = np.zeros((n_boot, k))  # how often each resample draws each clip
            np.add.at(counts, (np.arange(n_boot)[:, None], bank), 1.0)
            r_new = _resampled_r(counts, yr, new)
            reps[:, j] = r_new - _resampled_r(counts, yr, br)
            gm_reps[has_ref, j] = r_new[has_ref] - _resampled_r(counts, yr[has_ref], refs[has_ref])
    return Table(dr, dr_var, gm, gm_var, n_val, reps, gm_reps)


def _resampled_r(counts: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(rows, B) Pearson r of each row's (y, p) on each resample, from the resamples' clip counts
    (B, k): the weighted moments of the drawn clips, equal to r on the gathered clips (as
    `pooling.delta_r` computes it) up to rounding, without gathering B x k values per row."""
    w = counts.sum(axis=1)[None, :]  # (1, B)
    sy, sp = (y @ counts.T) / w, (p @ counts.T) / w
    cov = ((y * p) @ counts.T) / w - sy * sp
    vy = ((y * y) @ counts.T) / w - sy * sy
    vp = ((p * p) @ counts.T) / w - sp * sp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(cov / np.sqrt(vy * vp), -1.0, 1.0)


def nb_estimate(per_seed: Sequence[float], n_val: float, n_train: float) -> pooling.Sides:
    """The Nadeau & Bengio (2003) corrected resampled t's one-sided p-values: mean / sqrt((1/S +
    n_val/n_train) s^2) on S - 1 df (the alternative docs/statistics.md weighs; not the verdict)."""
    x = np.asarray(per_seed, dtype=np.float64)
    s = len(x)
    sd = float(x.std(ddof=1))
    mean = float(x.mean())
    if sd == 0.0:
        return pooling.Sides(0.0 if mean > 0 else 1.0, 0.0 if mean < 0 else 1.0)
    t = mean / (sd * np.sqrt(1 / s + n_val / n_train))
    return pooling.Sides(float(student_t.sf(t, s - 1)), float(student_t.cdf(t, s - 1)))


def judge(rows: Sequence[Row], table: Table, rule: str, n_clips: int, n_boot: int = 0) -> tuple[list[str], list[str]]:
    """Each row's plain verdict and its verdict after Holm within its family, by `rule`."""
    if rule not in RULES:
        raise EmosteerError(f"calibration: unknown rule {rule!r}; expected one of {RULES}")
    plain, entries = [], []
    n_val = table.n_val
    for i, row in enumerate(rows):
        compared = row.compare != "none"
        if rule == "resplit":
            dr = verdicts.estimate(table.dr[i], table.dr_var[i], n_val, n_clips)
            gm = verdicts.estimate(table.gm[i], table.gm_var[i], n_val, n_clips) if compared else None
            call, p = verdicts.verdict(dr, gm), verdicts.verdict_p(dr, gm)
        elif rule == "plain":
            dr = pooling.pool(list(table.dr[i]), list(table.reps[i]), n_boot)
            gm = pooling.pool(list(table.gm[i]), list(table.gm_reps[i]), n_boot) if compared else None
            call = pooling.verdict(dr, gm)
            p = pooling.verdict_p(
                pooling.seed_sides(table.dr[i]), pooling.seed_sides(table.gm[i]) if compared else None
            )
        else:
            n_train = n_clips - float(np.mean(n_val))
            sides = nb_estimate(table.dr[i], float(np.mean(n_val)), n_train)
            gsides = nb_estimate(table.gm[i], float(np.mean(n_val)), n_train) if compared else None
            p = pooling.verdict_p(sides, gsides)
            call = "none" if p >= pooling.ALPHA else ("hurts" if 2 * sides.below < pooling.ALPHA else "helps")
        plain.append(call)
        entries.append((i, row.family, call, p))
    corrected, _ = verdicts.correct(entries)
    return plain, [corrected[i].verdict for i in range(len(rows))]
