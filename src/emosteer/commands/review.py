"""`emosteer review`: what a change did to the results, in one markdown file with its figures.

Compares two revisions (git revisions, DVC experiment names, or the workspace) from the files the
pipeline commits: everything under metrics/ and plots/ (every metric and plot output in dvc.yaml
is `cache: false`, so git holds it) and params.yaml. Nothing is re-run. OUT/review.md holds

- the verdict table of metrics/verdicts.json (headline.json before it) with every changed verdict
  marked old → new, and the corrected verdicts where a revision has them (`verdict_corrected`);
- each pooled Δr that moved, in units of the base's CI half-width, with a flag where a CI bound
  that decides a verdict lies within FRAGILE_BOUND of 0;
- the chosen strengths, the unsteered r per seed, the seeds, the data (metrics/data.json) and the
  machines that trained the models, where they differ; other result files that changed;
- the figures whose data changed, base and head side by side (emosteer.commands.figures, offline);

or only "no change in results". Files a revision lacks (an older base predates a metrics file or a
key) are shown as "—", never an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from emosteer.commands import figures
from emosteer.commands.revisions import RESULT_ROOTS, Revision, Snapshot, git, merge_base, repo_root, resolve, snapshot
from emosteer.errors import EmosteerError, one_line
from emosteer.evaluation.report import row_label
from emosteer.strength import label as strength_label

NO_CHANGE = "no change in results\n"
VERDICTS = "metrics/verdicts.json"  # every verdict of the table
HEADLINE = "metrics/headline.json"  # before verdicts.json existed, every verdict was here
POOLED = "metrics/pooled"
BASELINE = "metrics/pooled/baseline.json"
SEED_BASELINE = "metrics/seeds/baseline.json"
TRAIN = "metrics/seeds/train"
DATA = "metrics/data.json"
# A CI bound within this of 0 can change sign on another machine, and its verdict with it. Metrics
# are written to 6 decimals (±5e-7); a rerun at another thread count or instruction set moved
# every pooled Δr by at most 2e-5 (docs/reproducibility.md, "What is reproducible"). 5e-5 is 2.5 times that move,
# and it covers both bounds docs/reproducibility.md names as fragile (+0.00001 and +0.00004).
FRAGILE_BOUND = 5e-5
_MACHINE = "machine"
_TRAIN_FACTS = re.compile(r"^(source|heads|frontend|frames|forward_passes|.*checkpoint.*)$")


# -- comparing ------------------------------------------------------------------------------------


def _is_group(value: Any) -> bool:
    """A headline group maps methods to dims to entries with a verdict; other top-level keys (the
    correction's "correction") are facts about the table."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(dims, dict) and dims and all(isinstance(e, dict) and "verdict" in e for e in dims.values())
            for dims in value.values()
        )
    )


def table_file(snap: Snapshot) -> str | None:
    """The file holding a revision's verdict table: metrics/verdicts.json, or headline.json for a
    revision from before it (where headline.json held every verdict), or None."""
    return next(
        (
            f
            for f in (VERDICTS, HEADLINE)
            if snap.json(f) is not None and any(_is_group(v) for v in snap.object(f).values())
        ),
        None,
    )


def verdict_rows(snap: Snapshot) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """{(group, method): {dim: entry}}: the verdict table file's groups (`table_file`), or, for a
    revision without one, the pooled files' `<dim>_verdict` and `<dim>_dr`."""
    if (table := table_file(snap)) is not None:
        return {
            (group, method): dims
            for group, methods in snap.object(table).items()
            if _is_group(methods)
            for method, dims in methods.items()
        }
    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for path in sorted(snap.files):
        parts = path.split("/")
        if len(parts) == 4 and path.startswith(POOLED + "/") and path.endswith(".json"):
            m = snap.object(path)
            dims = {
                k[: -len("_verdict")]: {"verdict": v, "dr": m.get(k[: -len("verdict")] + "dr")}
                for k, v in m.items()
                if k.endswith("_verdict")
            }
            if dims:
                rows[(parts[2], parts[3][:-5])] = dims
    return rows


def pooled(snap: Snapshot, group: str, method: str) -> dict[str, Any]:
    return snap.object(f"{POOLED}/{group}/{method}.json")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


@dataclass(frozen=True)
class Cell:
    """One (group, method, dim) at one revision: verdict, corrected verdict, Δr and its CI."""

    verdict: str | None
    corrected: str | None
    dr: float | None
    lo: float | None
    hi: float | None
    vs_global_mean_lo: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.lo is None or self.hi is None else (self.hi - self.lo) / 2

    def weak(self) -> list[str]:
        """The CI bounds that decide the verdict and lie within FRAGILE_BOUND of 0: Δr's upper
        bound (hurts), its lower bound (helps) and, when Δr's CI is above 0, the lower bound of Δr
        against the global-mean control (helps needs both above 0)."""
        bounds = [("upper", self.hi), ("lower", self.lo)]
        if self.lo is not None and self.lo > 0:
            bounds.append(("lower vs global mean", self.vs_global_mean_lo))
        return [f"{name} {x + 0.0:+.6f}" for name, x in bounds if x is not None and abs(x) <= FRAGILE_BOUND]


def cell(
    snap: Snapshot, group: str, method: str, dim: str, rows: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]]
) -> Cell | None:
    entry = rows.get((group, method), {}).get(dim)
    if entry is None:
        return None
    m = pooled(snap, group, method)
    pick = lambda key, pooled_key: _num(entry.get(key, m.get(pooled_key)))  # noqa: E731
    corrected = entry.get("verdict_corrected", m.get(f"{dim}_verdict_corrected"))
    return Cell(
        entry.get("verdict"),
        corrected,
        pick("dr", f"{dim}_dr"),
        pick("dr_lo", f"{dim}_dr_lo"),
        pick("dr_hi", f"{dim}_dr_hi"),
        _num(m.get(f"{dim}_dr_vs_global_mean_lo")),
    )


def _union(*keys: Iterable[Any]) -> list[Any]:
    """Every key once, in first-seen order (also within one sequence: (group, method) keys repeat
    each group); linear, so a file of a million keys costs a million steps, not 10^12."""
    out: dict[Any, None] = {}
    for seq in keys:
        out.update(dict.fromkeys(seq))
    return list(out)


def _grid(base: Snapshot, head: Snapshot, group: str, method: str) -> str:
    if group == "control":
        return "any"
    if group == "feedback":  # the report's row: the same model, 2 passes vs 1, no bins
        return "—"
    bins = [pooled(s, group, method).get("bins") for s in (base, head)]
    labels = [f"{b}-bin" for b in bins if isinstance(b, int) and not isinstance(b, bool)]
    if not labels:
        return text(group)
    return labels[0] if len(set(labels)) == 1 else " → ".join(labels)


def _method(c: Comparison, group: str, name: str) -> str:
    """The report's label of the row (feedback: from its pass count, at head or else at base)."""
    m = pooled(c.head, group, name) or pooled(c.base, group, name)
    return text(row_label(name, m))


def _change(old: Any, new: Any, shown: Callable[[Any], str] | None = None) -> str:
    """A value, or **old → new** where it changed; a value from a result file is escaped
    (`text`), one this module formatted (`shown`) is not."""
    show = lambda x: "—" if x is None else (shown or text)(x)  # noqa: E731
    return show(new) if old == new else f"**{show(old)} → {show(new)}**"


def _ci(c: Cell | None) -> str:
    if c is None or c.dr is None:
        return ""
    if c.lo is None or c.hi is None:
        return f"{c.dr:+.3f}"
    return f"{c.dr:+.3f} [{c.lo:+.3f}, {c.hi:+.3f}]"


@dataclass
class Comparison:
    base: Snapshot
    head: Snapshot
    keys: list[tuple[str, str]]
    dims: list[str]
    cells: dict[tuple[str, str, str], tuple[Cell | None, Cell | None]]

    @property
    def corrected(self) -> bool:
        return any(c is not None and c.corrected is not None for pair in self.cells.values() for c in pair)

    def changed(self, attr: str) -> list[tuple[str, str, str]]:
        return [
            k
            for k, (b, h) in self.cells.items()
            if (getattr(b, attr) if b else None) != (getattr(h, attr) if h else None)
        ]

    def moved(self) -> list[tuple[tuple[str, str, str], Cell, Cell]]:
        return [
            (k, b, h)
            for k, (b, h) in self.cells.items()
            if b is not None and h is not None and b.dr is not None and h.dr is not None and b.dr != h.dr
        ]


MAX_CELLS = 1_000_000  # (group, method) rows x dims of one verdict table; a real one has about 30


def compare(base: Snapshot, head: Snapshot) -> Comparison:
    rows = (verdict_rows(base), verdict_rows(head))
    keys = _union(rows[1], rows[0])
    dims = _union(*(d for r in (rows[1], rows[0]) for d in r.values()))
    if len(keys) * len(dims) > MAX_CELLS:
        raise EmosteerError(
            f"{table_file(head) or table_file(base) or POOLED}: {len(keys)} methods x {len(dims)} dims, more than a verdict table "  # noqa: E501 (a message: one line, so a user can grep for it)
            f"holds ({MAX_CELLS} cells)"
        )
    cells = {(g, m, d): (cell(base, g, m, d, rows[0]), cell(head, g, m, d, rows[1])) for g, m in keys for d in dims}
    return Comparison(base, head, keys, dims, {k: v for k, v in cells.items() if v != (None, None)})


# -- text from result files ---------------------------------------------------------------------

TEXT_LIMIT = 120  # characters of one string from a result file that the review shows ("…" after)
ROWS_LIMIT = 200  # rows of one table; the rest is counted, not shown
# Every ASCII character that starts markdown (emphasis, code, links and images, headings, tables,
# strikethrough, autolinks, mentions, math) is backslash-escaped, as CommonMark lets any ASCII
# punctuation be, and so is a leading - or + (a list item); within a line those two start nothing.
# <, > and & become entities, so no HTML (a tag, a comment) ever opens.
_MARKUP = frozenset("\\`*_[]#.!|~:@$")
_LEADING = frozenset("-+")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def _plain(value: Any, limit: int) -> str:
    """A value as one line of at most `limit` characters (JSON for what is not a string; control
    characters and newlines written \\n, \\x1b: errors.one_line) and "…" where it was cut."""
    try:
        raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError):
        raw = f"({type(value).__name__} nested too deeply to show)"
    cut = len(raw) > limit
    return one_line(raw[:limit]) + ("…" if cut else "")


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A string (or value) from a result file as markdown that shows it and does nothing else:
    no HTML, link, image, emphasis, heading, table cell or line break can come from it."""
    shown = _plain(value, limit)
    escaped = "".join(_ENTITIES.get(c) or (f"\\{c}" if c in _MARKUP else c) for c in shown)
    return f"\\{escaped}" if escaped[:1] in _LEADING else escaped


def code(value: Any, limit: int = TEXT_LIMIT, in_table: bool = True) -> str:
    """A value as an inline code span (verbatim: no markup inside one), fenced by one backtick
    more than its longest run of them; `|` is escaped for the table it sits in."""
    shown = _plain(value, limit)
    run = max((len(r) for r in re.findall(r"`+", shown)), default=0)
    fence = "`" * (run + 1)
    pad = " " if shown[:1] in ("`", " ", "") or shown[-1:] in ("`", " ") else ""
    if in_table:
        shown = shown.replace("|", "\\|")
    return f"{fence}{pad}{shown}{pad}{fence}"


# -- markdown -------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table of at most ROWS_LIMIT rows (cells already escaped), a line counting the rest."""
    shown = rows[:ROWS_LIMIT]
    more = (
        ["", f"{len(rows) - ROWS_LIMIT} more rows not shown (`dvc metrics diff` lists them all)."]
        if len(rows) > ROWS_LIMIT
        else []
    )
    return (
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(r) + " |" for r in shown]
        + more
    )


def verdict_section(c: Comparison) -> list[str]:
    header = (
        ["grid", "method"]
        + [text(d) for d in c.dims]
        + ([f"{text(d)} corrected" for d in c.dims] if c.corrected else [])
    )
    rows = []
    for g, m in c.keys:
        row = [_grid(c.base, c.head, g, m), _method(c, g, m)]
        for d in c.dims:
            b, h = c.cells.get((g, m, d), (None, None))
            verdict = _change(b and b.verdict, h and h.verdict)
            weak = " *(weak)*" if h is not None and h.weak() else ""
            row.append(f"{verdict}{weak} {_ci(h if h is not None else b)}".strip())
        if c.corrected:
            for d in c.dims:
                b, h = c.cells.get((g, m, d), (None, None))
                row.append(_change(b and b.corrected, h and h.corrected))
        rows.append(row)
    return (
        [
            "## Verdicts",
            "",
            "Head's pooled Δr [95% CI]; **old → new** marks a verdict that changed, — a row a "
            f"revision lacks, *(weak)* a deciding CI bound within {FRAGILE_BOUND:g} of 0 at head.",
            "",
        ]
        + _table(header, rows)
        + [""]
    )


def moved_section(c: Comparison) -> list[str]:
    moved = c.moved()
    if not moved:
        return []

    def units(b: Cell, h: Cell) -> float | None:
        hw = b.half_width
        return None if not hw else (h.dr - b.dr) / hw

    moved.sort(key=lambda item: -abs(units(item[1], item[2]) or 0.0))
    rows = []
    for (g, m, d), b, h in moved:
        u = units(b, h)
        weak = "; ".join([f"base {w}" for w in b.weak()] + [f"head {w}" for w in h.weak()])
        rows.append(
            [
                _grid(c.base, c.head, g, m),
                _method(c, g, m),
                text(d),
                f"{b.dr:+.6f}",
                f"{h.dr:+.6f}",
                f"{h.dr - b.dr:+.6f}",
                "—" if u is None else f"{u:+.3f}",
                weak or "",
            ]
        )
    return (
        [
            "## Pooled Δr that moved",
            "",
            "Moved = head − base; half-widths = moved / the base's 95% CI half-width. Weak: a CI "
            f"bound that decides the verdict lies within {FRAGILE_BOUND:g} of 0 (metrics carry 6 "
            "decimals; another machine or thread count moved pooled Δr by up to 2e-5), so the "
            "verdict may differ on another machine.",
            "",
        ]
        + _table(["grid", "method", "dim", "Δr base", "Δr head", "moved", "half-widths", "weak"], rows)
        + [""]
    )


def _flat(obj: Any) -> dict[str, Any]:
    """Nested objects as {"a.b.c": leaf}. A key longer than TEXT_LIMIT is cut and tagged with its
    hash (keys stay distinct, and a file of long keys cannot multiply into gigabytes of paths)."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, dict) and value:
            stack.extend((f"{prefix}.{_key(k)}" if prefix else _key(k), v) for k, v in reversed(value.items()))
        else:
            out[prefix] = value
    return out


def _key(key: Any) -> str:
    key = str(key)
    if len(key) <= TEXT_LIMIT:
        return key
    return f"{key[:TEXT_LIMIT]}…#{hashlib.sha256(key.encode(errors='surrogatepass')).hexdigest()[:12]}"


def _show(value: Any, limit: int = 80) -> str:
    return "—" if value is None else text(value, limit)


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(k, old.get(k), new.get(k)) for k in _union(old, new) if old.get(k) != new.get(k)]


def _facts(title: str, note: str, diffs: list[tuple[str, Any, Any]]) -> list[str]:
    if not diffs:
        return []
    return (
        [f"### {title}", ""]
        + ([note, ""] if note else [])
        + _table(["", "base", "head"], [[code(k), _show(a), _show(b)] for k, a, b in diffs])
        + [""]
    )


def params_section(base: Snapshot, head: Snapshot) -> list[str]:
    return _facts(
        "Params",
        "params.yaml, the cause; `dvc params diff` shows the same.",
        _diff(_flat(base.params()), _flat(head.params())),
    )


def strengths_section(c: Comparison) -> list[str]:
    rows = []
    groups = _union((g for g, _ in c.keys), _pooled_groups(c.base), _pooled_groups(c.head))
    for g in groups:
        methods = _union(_pooled_methods(c.base, g), _pooled_methods(c.head, g))
        for m in methods:
            pb, ph = pooled(c.base, g, m), pooled(c.head, g, m)
            sb, sh = (_strength(p["strength"]) if "strength" in p else None for p in (pb, ph))
            nb, nh = pb.get("strength_dev_clips"), ph.get("strength_dev_clips")
            if (sb, nb) != (sh, nh):
                rows.append([_grid(c.base, c.head, g, m), _method(c, g, m), _change(sb, sh), _change(nb, nh)])
    if not rows:
        return []
    return (
        ["### Strengths", "", "Chosen per method on the pooled dev clips (`strength` in metrics/pooled/).", ""]
        + _table(["grid", "method", "strength", "dev clips"], rows)
        + [""]
    )


def _strength(value: Any) -> Any:
    """The report's label of a strength; a value that is no strength is shown as it is."""
    try:
        return strength_label(value)
    except (TypeError, ValueError, OverflowError, EmosteerError):
        return value


def _pooled_groups(snap: Snapshot) -> list[str]:
    return _union(p.split("/")[2] for p in snap.files if p.startswith(POOLED + "/") and p.count("/") == 3)


def _pooled_methods(snap: Snapshot, group: str) -> list[str]:
    prefix = f"{POOLED}/{group}/"
    return [
        p[len(prefix) : -5]
        for p in snap.files
        if p.startswith(prefix) and p.endswith(".json") and "/" not in p[len(prefix) :]
    ]


def baseline_section(base: Snapshot, head: Snapshot) -> list[str]:
    """Unsteered r per seed (metrics/seeds/baseline.json), the seeds and validation clips."""
    out: list[str] = []
    sb, sh = _entries(base, SEED_BASELINE), _entries(head, SEED_BASELINE)
    seeds = _union(sb, sh)
    dims = _union(*([k for k in snap.get(seed, {}) if k.endswith("_r")] for snap in (sh, sb) for seed in seeds))
    rows = []
    for s in seeds:
        cells = [_change(_fmt6(sb.get(s, {}).get(k)), _fmt6(sh.get(s, {}).get(k)), str) for k in dims]
        if any("→" in x for x in cells):
            rows.append([text(s.removeprefix("s"))] + cells)
    if rows:
        out += ["### Unsteered r per seed", "", "Validation clips, `metrics/seeds/baseline.json`.", ""]
        out += _table(["seed"] + [text(k.removesuffix("_r")) + " r" for k in dims], rows) + [""]
    pb, ph = base.object(BASELINE), head.object(BASELINE)
    out += _facts(
        "Seeds and clips",
        "",
        [(k, pb.get(k), ph.get(k)) for k in ("n_seeds", "n_val_per_seed") if pb.get(k) != ph.get(k)],
    )
    return out


def _entries(snap: Snapshot, path: str) -> dict[str, dict[str, Any]]:
    """A file of objects by key (seed -> metrics); an entry of another shape is one line."""
    found = snap.object(path)
    for key, value in found.items():
        if not isinstance(value, dict):
            raise EmosteerError(f"{path} at {snap.revision.label}: key {_plain(key, 40)!r}: expected a JSON object")
    return found


def _fmt6(x: Any) -> str | None:
    return None if _num(x) is None else f"{x:.6f}"


def data_section(base: Snapshot, head: Snapshot) -> list[str]:
    if base.json(DATA) is None and head.json(DATA) is None:
        return []
    db, dh = base.object(DATA), head.object(DATA)
    note = "" if base.json(DATA) is not None else "metrics/data.json is new at head (— at base: the base predates it)."
    return _facts("Data", note, _diff(_flat(db), _flat(dh)))


def _train(snap: Snapshot) -> dict[str, dict[str, Any]]:
    prefix = TRAIN + "/"
    return {
        p[len(prefix) : -5]: snap.object(p)
        for p in sorted(snap.files)
        if p.startswith(prefix) and p.endswith(".json") and "/" not in p[len(prefix) :]
    }


def _machines(train: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each distinct `machine` record (as one line) and the seeds it trained."""
    out: dict[str, list[str]] = {}
    for seed, t in train.items():
        m = t.get(_MACHINE)
        line = ", ".join(f"{k} {_plain(v, TEXT_LIMIT)}" for k, v in m.items()) if isinstance(m, dict) else m
        out.setdefault(_show(line, 2 * TEXT_LIMIT), []).append(text(seed.removeprefix("s")))
    return out


def machine_section(base: Snapshot, head: Snapshot) -> list[str]:
    tb, th = _train(base), _train(head)
    out: list[str] = []
    mb, mh = _machines(tb), _machines(th)
    if mb != mh:
        rows = [[rev, ", ".join(seeds), line] for rev, ms in (("base", mb), ("head", mh)) for line, seeds in ms.items()]
        out += [
            "### Machine that trained the models",
            "",
            "`machine` in `metrics/seeds/train/s<seed>.json`. Another CPU type or thread count "
            "changes the last digits, not the verdicts (README, 'What is reproducible').",
            "",
        ]
        out += _table(["", "seeds", "machine"], rows) + [""]
    diffs = []
    for seed in _union(tb, th):
        fb = {k: v for k, v in (tb.get(seed) or {}).items() if _TRAIN_FACTS.match(k)}
        fh = {k: v for k, v in (th.get(seed) or {}).items() if _TRAIN_FACTS.match(k)}
        diffs += [(f"{_key(seed)} {_key(k)}", a, b) for k, a, b in _diff(fb, fh)]
    return out + _facts("Model", "Per seed, from metrics/seeds/train/.", diffs)


def headline_facts_section(base: Snapshot, head: Snapshot) -> list[str]:
    """Top-level headline keys that are not groups of verdicts (e.g. the correction's family)."""
    fb, fh = (
        {k: v for k, v in s.object(t).items() if not _is_group(v)} if (t := table_file(s)) else {} for s in (base, head)
    )
    return _facts(
        "Verdict table facts",
        "Top-level keys of metrics/verdicts.json (before it: headline.json) that are not verdicts.",
        _diff(_flat(fb), _flat(fh)),
    )


COVERED = (VERDICTS, HEADLINE, BASELINE, SEED_BASELINE, DATA)  # headline: a summary of verdicts


def other_files(base: Snapshot, head: Snapshot) -> list[str]:
    """Changed result files that no section above summarises, and the plot data that changed (the
    figures below draw what dvc.yaml's `plots:` use of it)."""
    rb, rh = base.results(), head.results()
    changed = [p for p in _union(sorted(rb), sorted(rh)) if rb.get(p) != rh.get(p)]
    rest = [p for p in changed if p not in COVERED and not p.startswith((POOLED + "/", TRAIN + "/", "plots/"))]
    plots = [p for p in changed if p.startswith("plots/")]
    if not rest and not plots:
        return []

    def state(p: str) -> str:
        return " (new)" if p not in rb else " (removed)" if p not in rh else ""

    out = ["### Other result files that changed", ""]
    if rest:
        out += ["Not summarised above; `dvc metrics diff BASE HEAD --targets FILE` shows their numbers.", ""]
        out += [f"- {code(p, in_table=False)}{state(p)}" for p in rest[:ROWS_LIMIT]]
        out += ([f"- and {len(rest) - ROWS_LIMIT} more"] if len(rest) > ROWS_LIMIT else []) + [""]
    if plots:
        out += [
            "Plot data: "
            + ", ".join(f"{code(p, in_table=False)}{state(p)}" for p in plots[:ROWS_LIMIT])
            + (f" and {len(plots) - ROWS_LIMIT} more" if len(plots) > ROWS_LIMIT else "")
            + ".",
            "",
        ]
    return out


def summary(c: Comparison) -> str:
    n = sum(1 for b, h in c.cells.values() if (b and b.verdict) or (h and h.verdict))
    verdicts = len(c.changed("verdict"))
    parts = [f"{verdicts} of {n} verdicts changed"]
    if c.corrected:
        k = len(c.changed("corrected"))
        parts.append(f"{k} corrected verdict{'s' if k != 1 else ''} changed")
    moved = c.moved()
    widths = [abs(h.dr - b.dr) / b.half_width for _, b, h in moved if b.half_width]
    parts.append(
        f"{len(moved)} pooled Δr moved" + (f", the largest by {max(widths):.3f} CI half-widths" if widths else "")
    )
    weak = sum(1 for _, h in c.cells.values() if h is not None and h.weak())
    if weak:
        parts.append(
            f"{weak} weak verdict{'s' if weak != 1 else ''} at head (a deciding CI bound within {FRAGILE_BOUND:g} of 0)"
        )
    return "; ".join(parts) + "."


# -- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    title: str
    stem: str  # figures/<stem>-{base,head,both}.{png,svg}
    base: bool  # base has data for it
    head: bool


def render_figures(repo: Path, base: Revision, head: Revision, out: Path) -> tuple[list[Figure], list[str]]:
    """The plots whose data differ between the revisions, rendered into `out`/figures."""
    found, errors = figures.plots(repo, base.commit, head.commit, (base.label, head.label))
    changed = [p for p in found if p.changed]
    done = []
    for i, plot in enumerate(tqdm(changed, desc="figures", unit="figure", disable=not changed)):
        stem = f"{i + 1:02d}-{figures.slug(plot.title)}"
        for side, rows in (("base", plot.base_rows), ("head", plot.head_rows)):
            spec = plot.side(rows)
            if spec is not None:
                figures.render(spec, out / "figures" / f"{stem}-{side}")
        if plot.base_rows and plot.head_rows:
            figures.render(plot.spec, out / "figures" / f"{stem}-both", svg=False)
        done.append(Figure(plot.title, stem, bool(plot.base_rows), bool(plot.head_rows)))
    return done, errors


def figures_section(
    figs: list[Figure], errors: list[str], base: Revision, head: Revision, link: str | None
) -> list[str]:
    if not figs and not errors:
        return []
    out = ["## Figures that changed", ""]
    if link is not None:
        out += [
            f"{len(figs)} `dvc plots` figures changed. Base and head side by side (PNG and SVG) "
            f"are in review.md of the workflow run's artifact: {link}",
            "",
        ]
        out += [f"- {text(f.title)}" for f in figs] + [""]
    else:
        out += [
            "Rendered offline from `dvc plots diff --json` (each figure has its own axes; "
            "*both* overlays the two revisions on shared axes).",
            "",
        ]
        for f in figs:

            def img(side: str, ok: bool, f: Path = f) -> str:
                return f"![{side}](figures/{f.stem}-{side}.png)" if ok else f"(no data at {side})"

            out += [f"### {text(f.title)}", ""]
            out += _table(
                [f"base: {text(base.label)}", f"head: {text(head.label)}"], [[img("base", f.base), img("head", f.head)]]
            )
            links = [
                f"[{side} SVG](figures/{f.stem}-{side}.svg)" for side, ok in (("base", f.base), ("head", f.head)) if ok
            ]
            if f.base and f.head:
                links.append(f"[both, shared axes](figures/{f.stem}-both.png)")
            out += ["", " · ".join(links), ""]
    if errors:
        out += ["DVC could not read some plot data:", ""] + [f"- {text(e, 300)}" for e in errors] + [""]
    return out


# -- the command ----------------------------------------------------------------------------------


def review(repo: Path, base: Revision, head: Revision, out: Path, figures_link: str | None = None) -> str:
    """Write `out`/review.md (and `out`/comment.md when `figures_link` is given: the same text
    with the figures as a link, for a pull-request comment, which cannot embed local files) and
    `out`/figures/. `out` must be a new or empty folder, or one review wrote before (`owned`);
    everything is written to a temporary folder first, so a failure leaves `out` as it was, and
    only files review wrote there are ever replaced or removed. Returns review.md's text."""
    owned = check_out(repo, out)
    snaps = snapshot(repo, base), snapshot(repo, head)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp_name:
        tmp = Path(tmp_name)
        if snaps[0].results() == snaps[1].results():
            texts = {"review.md": NO_CHANGE}
        else:
            c = compare(*snaps)
            plotted = _plotted(snaps)
            figs, errors = render_figures(repo, base, head, tmp) if plotted else ([], [])
            note = _uncommitted(repo, snaps[1])
            texts = {"review.md": markdown(c, figs, errors, None, note)}
            if figures_link is not None:
                texts["comment.md"] = markdown(c, figs, errors, figures_link, note)
        if figures_link is not None:
            texts.setdefault("comment.md", texts["review.md"])
        for name, body in texts.items():
            (tmp / name).write_text(body, encoding="utf-8")
        install(tmp, out, owned)
    return texts["review.md"]


# -- the output folder: review writes only what it owns -------------------------------------------

MARKER = ".emosteer-review"  # in OUT: the files review wrote there, one path a line
OUT_FILES = ("review.md", "comment.md")
FIGURES = "figures"


def check_out(repo: Path, out: Path) -> set[str]:
    """Refuse an `out` that review may not write into, in one line; return what it wrote there
    before (empty for a new or empty folder). Refused: the repository root, a folder that holds
    the repository (`--out ..`), one among the results and inputs review reads, a symlink, a
    folder that holds anything review did not write (no marker), and a marker whose files have
    become symlinks or folders."""
    target = out.resolve()
    root = repo.resolve()
    if out.is_symlink():
        raise EmosteerError(f"--out {out}: a symlink (to {os.readlink(out)}); give the folder itself")
    if target == root:
        raise EmosteerError(f"--out {out}: the repository root; give a folder of its own (default: review)")
    if target in root.parents:
        raise EmosteerError(f"--out {out}: holds the repository ({root}); give a folder of its own (default: review)")
    for name in (*RESULT_ROOTS, "reports", "data", ".dvc", ".git"):
        inside = root / name
        if target == inside or inside in target.parents:
            raise EmosteerError(f"--out {out}: inside {name}/, which the review reads or DVC owns; give another folder")
    if not out.exists():
        return set()
    if not out.is_dir():
        raise EmosteerError(f"--out {out}: exists and is not a folder")
    return owned(out)


def owned(out: Path) -> set[str]:
    """The files (and the figures folder) review wrote in the existing folder `out`, from its
    marker; an empty folder owns nothing yet. Anything else is refused in one line."""
    entries = sorted(os.listdir(out))
    if not entries:
        return set()
    if MARKER not in entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise EmosteerError(
            f"--out {out}: holds files review did not write ({shown}); give a new or "
            "empty folder (review never replaces or removes what it did not write)"
        )
    marker = out / MARKER
    if not stat.S_ISREG(os.lstat(marker).st_mode):
        raise EmosteerError(f"--out {out}: {MARKER} is not a regular file")
    listed = {
        line
        for line in marker.read_text(encoding="utf-8", errors="replace").splitlines()
        if line and not line.startswith("#")
    }
    for rel in sorted(listed):
        if not _ours(rel):
            raise EmosteerError(f"--out {out}: {MARKER} lists {rel!r}, which review never writes")
    for rel in sorted(listed | set(OUT_FILES) | {FIGURES}):
        try:
            mode = os.lstat(out / rel).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise EmosteerError(f"--out {out}: {rel} is a symlink; review writes only files of its own there")
        if rel not in listed:
            raise EmosteerError(
                f"--out {out}: {rel} is not one review wrote ({MARKER} does not list it); "
                "move it, or give another folder"
            )
        if not (stat.S_ISDIR(mode) if rel == FIGURES else stat.S_ISREG(mode)):
            raise EmosteerError(f"--out {out}: {rel} is not the {'folder' if rel == FIGURES else 'file'} review wrote")
    return listed


def _ours(rel: str) -> bool:
    """A path review writes in OUT: review.md, comment.md, figures, figures/<name>."""
    parts = rel.split("/")
    if len(parts) == 1:
        return rel in (*OUT_FILES, FIGURES)
    return len(parts) == 2 and parts[0] == FIGURES and parts[1] not in ("", ".", "..")


def install(tmp: Path, out: Path, before: set[str]) -> None:
    """Move what `tmp` holds into `out` and remove what review wrote there before and did not
    write now. The marker is written first with both lists, so that an interruption leaves every
    file review made listed; a file in the way that review did not write is refused first."""
    new = {name for name in OUT_FILES if (tmp / name).exists()}
    if (tmp / FIGURES).is_dir():
        new |= {FIGURES} | {f"{FIGURES}/{p.name}" for p in (tmp / FIGURES).iterdir()}
    out.mkdir(exist_ok=True)
    for rel in sorted(new - before):
        if os.path.lexists(out / rel) and not (
            rel == FIGURES and (out / rel).is_dir() and not (out / rel).is_symlink() and not os.listdir(out / rel)
        ):
            raise EmosteerError(f"--out {out}: {rel} is in the way and review did not write it; nothing was changed")
    _write_marker(out, before | new)
    if FIGURES in new:
        (out / FIGURES).mkdir(exist_ok=True)
    for rel in sorted(new - {FIGURES}):
        os.replace(tmp / rel, out / rel)
    kept = set(new)
    for rel in sorted(before - new, reverse=True):  # figures/<name> before figures
        path = out / rel
        try:
            if rel == FIGURES:
                path.rmdir()  # only if empty: a file someone put there stays, and so does the folder
            elif stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            kept.add(rel)
    _write_marker(out, kept)


def _write_marker(out: Path, files: set[str]) -> None:
    tmp = out / f"{MARKER}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.write_text(
        "# emosteer review wrote these files here; it replaces or removes only them\n"
        + "".join(f"{rel}\n" for rel in sorted(files)),
        encoding="utf-8",
    )
    os.replace(tmp, out / MARKER)


def _plotted(snaps: tuple[Snapshot, Snapshot]) -> set[str]:
    """Plot data files that changed (under plots/)."""
    rb, rh = snaps[0].results(), snaps[1].results()
    return {p for p in _union(rb, rh) if p.startswith("plots/") and rb.get(p) != rh.get(p)}


def _uncommitted(repo: Path, head: Snapshot) -> str:
    """For a workspace head: which of its result files differ from the commit HEAD (a run here
    that was not committed, or another machine's last digits)."""
    if head.revision.commit is None and git(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False):
        committed = snapshot(repo, Revision("HEAD", git(repo, "rev-parse", "HEAD"))).results()
        ours = head.results()
        differ = [p for p in _union(sorted(committed), sorted(ours)) if committed.get(p) != ours.get(p)]
        if differ:
            return (
                f"The workspace's results are not HEAD's: {len(differ)} result files differ from "
                f"the commit ({', '.join(code(p, in_table=False) for p in differ[:3])}"
                f"{', ...' if len(differ) > 3 else ''})."
            )
    return ""


def markdown(c: Comparison, figs: list[Figure], errors: list[str], link: str | None, note: str = "") -> str:
    base, head = text(c.base.revision.label), text(c.head.revision.label)
    lines = [
        f"# Review: {base} → {head}",
        "",
        f"Base {base}, head {head}; read from the metrics and "
        "plot data of each (nothing re-run). " + summary(c) + (f" {note}" if note else ""),
        "",
    ]
    lines += verdict_section(c) + moved_section(c)
    facts = (
        params_section(c.base, c.head)
        + strengths_section(c)
        + baseline_section(c.base, c.head)
        + data_section(c.base, c.head)
        + machine_section(c.base, c.head)
        + headline_facts_section(c.base, c.head)
        + other_files(c.base, c.head)
    )
    if facts:
        lines += ["## What else differs", ""] + facts
    lines += figures_section(figs, errors, c.base.revision, c.head.revision, link)
    return "\n".join(lines).rstrip("\n") + "\n"


def run(args: Any) -> None:
    repo = repo_root(Path.cwd())
    base = merge_base(repo) if args.base is None else resolve(repo, args.base, "--base")
    head = Revision("workspace", None) if args.head is None else resolve(repo, args.head, "--head")
    out = args.out  # as given (relative to the working directory), so that messages name it so
    review(repo, base, head, out, args.figures_link)
    print(f"{out / 'review.md'}: {base.label} → {head.label}")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "review",
        help="what a change did to the verdicts, with its figures, as markdown",
        description="Compare the committed metrics and plot data of two revisions (git revisions, DVC "
        "experiment names, or the workspace) and write OUT/review.md and OUT/figures/. "
        "Nothing is re-run.",
    )
    p.add_argument(
        "--base", help="git revision or DVC experiment (default: the merge base of HEAD with main, or origin/main)"
    )
    p.add_argument("--head", help="git revision or DVC experiment (default: the workspace)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("review"),
        help="folder for review.md and figures/: a new or empty one, or one review wrote before "
        "(its .emosteer-review lists its files; nothing else is touched; default: review)",
    )
    p.add_argument(
        "--figures-link",
        metavar="URL",
        help="also write comment.md: review.md with the figures replaced by this link "
        "(a pull-request comment cannot embed local images)",
    )
    p.set_defaults(func=run)
