"""The project's `dvc plots` figures as PNG and SVG files, rendered without a browser or a network.

DVC fills each plot's Vega-Lite template (the custom ones in .dvc/plots/, or a built-in one) with the
plot's data at every revision it is given: `dvc plots diff --json REV...` prints one filled spec per
plot, every data row tagged with its revision in the field `rev`. Keeping the rows of one revision
gives that revision's figure; keeping all of them gives DVC's own overlay, both revisions on shared
axes. vl-convert renders a spec with the Vega and Vega-Lite JavaScript it bundles (in an embedded
engine, no browser). `allowed_base_urls=[]` makes it refuse any data URL, so nothing is fetched;
text uses the system's fonts and the Liberation Sans it bundles, so glyphs can differ between
machines while marks and axes do not. vl-convert still fetches the url of an `image` mark when it
draws a PNG (measured: a GET to a local listener), so `offline` refuses image marks and data urls
and drops `href`/`url` links before rendering: a template from a pull request cannot make the
review fetch anything.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emosteer.errors import EmosteerError

REV_FIELD = "rev"  # the field DVC tags each data row with (dvc.render.REVISION)
WORKSPACE = "workspace"  # DVC's name for the working tree in that field


@dataclass(frozen=True)
class Plot:
    """One `dvc.yaml` plot filled with the data of two revisions (`spec`), and each side's rows."""

    title: str
    spec: dict[str, Any]
    base_rows: list[dict[str, Any]]
    head_rows: list[dict[str, Any]]

    @property
    def changed(self) -> bool:
        return _without_rev(self.base_rows) != _without_rev(self.head_rows)

    def side(self, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The spec with only `rows` as its data (None when that revision has no data for it)."""
        if not rows:
            return None
        spec = copy.deepcopy(self.spec)
        spec["data"] = {"values": rows}
        return spec


def _without_rev(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != REV_FIELD} for row in rows]


def plots(
    repo: Path, base: str | None, head: str | None, names: tuple[str, str] | None = None
) -> tuple[list[Plot], list[str]]:
    """Every plot of dvc.yaml at two commits (None: the workspace), and DVC's errors (one line
    each). Runs `dvc plots diff --json` with this interpreter's DVC; nothing is re-run. `names`
    replace the two revisions' `rev` in the data (what legends and facets show)."""
    if base is None and head is None:
        return [], []
    revs = [r for r in (base, head) if r is not None]  # one revision: DVC adds the workspace
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "diff", "--json", *revs], cwd=repo, capture_output=True, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise EmosteerError(f"dvc plots diff {' '.join(revs)}: exit {proc.returncode}: {last}")
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise EmosteerError(f"dvc plots diff --json: not JSON (line {exc.lineno})") from None
    labels = (base or WORKSPACE, head or WORKSPACE)
    names = names or labels
    found = []
    for title, entries in (out.get("data") or {}).items():
        for entry in entries:
            if entry.get("type") != "vega" or "content" not in entry:
                continue  # an image plot (PNG/SVG file) has no spec to fill
            spec = entry["content"]
            rows = (spec.get("data") or {}).get("values") or []
            sides = [
                [{**r, REV_FIELD: name} for r in rows if r.get(REV_FIELD) == label]
                for label, name in zip(labels, names)
            ]
            spec = {**spec, "data": {"values": sides[0] + sides[1]}}
            found.append(Plot(title, spec, *sides))
    return found, _errors(out.get("errors"))


def _errors(errors: Any) -> list[str]:
    """DVC's `errors` (a mapping or list of records, its shape varies by version) as one-liners."""
    if not errors:
        return []
    items = errors.items() if isinstance(errors, dict) else enumerate(errors)
    return [f"{key}: {json.dumps(value, sort_keys=True)[:300]}" for key, value in items]


def vegalite_version(spec: dict[str, Any]) -> str | None:
    """The newest Vega-Lite that vl-convert bundles with the major version of the spec's `$schema`
    (the templates are written for v5); None (vl-convert's newest) if the schema names none."""
    import vl_convert

    match = re.search(r"/vega-lite/v(\d+)", str(spec.get("$schema", "")))
    if not match:
        return None
    same = [v for v in vl_convert.get_vegalite_versions() if v.split(".")[0] == match.group(1)]
    return max(same, key=lambda v: tuple(int(p) for p in v.split("."))) if same else None


LINK_CHANNELS = ("href", "url")  # encodings and mark properties that name a URL: a link, an image


def offline(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of `spec` that renders without fetching anything: an `image` mark (vl-convert fetches
    its url when it draws a PNG, whatever allowed_base_urls says) and a data `url` are refused in
    one line; `href` and `url` encodings and mark properties (links in the SVG) are dropped."""
    spec = copy.deepcopy(spec)
    stack: list[tuple[str, Any]] = [("", spec)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, list):
            stack.extend((key, item) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if key in ("data", "from") and "url" in node:
            raise EmosteerError(
                f"figure {name!r}: data from a url ({str(node['url'])[:80]!r}); emosteer renders "
                "only the data DVC filled in, offline"
            )
        mark = node.get("mark")
        kind = mark.get("type") if isinstance(mark, dict) else mark
        if kind == "image":
            raise EmosteerError(
                f"figure {name!r}: an image mark (it fetches each image's url); emosteer renders "
                "figures offline and does not draw one"
            )
        if isinstance(mark, dict):
            for channel in LINK_CHANNELS:
                mark.pop(channel, None)
        if key == "encoding":
            for channel in LINK_CHANNELS:
                node.pop(channel, None)
        stack.extend(node.items())
    return spec


def render(spec: dict[str, Any], stem: Path, svg: bool = True) -> list[Path]:
    """`stem`.png (and `stem`.svg) from a filled Vega-Lite spec; nothing is fetched (`offline`)."""
    import vl_convert

    title = spec.get("title", {})
    spec = offline(spec, title.get("text") if isinstance(title, dict) else title)
    version = vegalite_version(spec)
    try:
        png = vl_convert.vegalite_to_png(spec, vl_version=version, allowed_base_urls=[])
        text = vl_convert.vegalite_to_svg(spec, vl_version=version, allowed_base_urls=[]) if svg else None
    except ValueError as exc:  # vl-convert's error for a spec it cannot compile or render
        title = spec.get("title", {})
        name = title.get("text") if isinstance(title, dict) else title
        why = " ".join(line.strip() for line in str(exc).splitlines()[:2])
        raise EmosteerError(f"figure {name!r}: {why}") from None
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = [stem.with_suffix(".png")]
    written[0].write_bytes(png)
    if text is not None:
        written.append(stem.with_suffix(".svg"))
        written[1].write_text(text, encoding="utf-8")
    return written


def slug(title: str, limit: int = 40) -> str:
    """A file-name stem from a plot title: lower-case ASCII words joined by '-'."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    out = "-".join(words)[:limit].rstrip("-")
    return out or "plot"
