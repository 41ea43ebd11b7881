"""The data facts (metrics/data.json, written by the data stage from `sources.survey`) as short lines
of text: what `emosteer data check` prints, the data stage logs and the report's "Data" section
lists. A leaf: the report renders it without importing the audio stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emosteer.constants import UNIT_RANGE


def describe(facts: dict[str, Any]) -> list[str]:
    """The facts as short lines: what is used, what is skipped, how audio becomes features."""
    where = facts["path"] or "the embedded generator"
    lines = [f"{where} ({facts['source']}): {facts['n_clips']} clips used, of {facts['n_rated']} rated"]
    skipped = [
        f"{n} {reason.replace('_', ' ')} ({_first(facts['skipped_files'].get(reason, []))})"
        for reason, n in facts["skipped"].items()
        if n
    ]
    lines.append("skipped: " + ("; ".join(skipped) if skipped else "none"))
    if facts["sample_rates"]:
        rates = ", ".join(f"{hz} Hz x {n}" for hz, n in facts["sample_rates"].items())
        resampled = (
            f" -> resampled to {facts['resampled_to']} Hz (soxr_hq)"
            if facts["resampled_to"] and set(facts["sample_rates"]) != {str(facts["resampled_to"])}
            else ""
        )
        lines.append(f"sample rates: {rates}{resampled}")
    if facts["channels"]:
        chans = ", ".join(f"{c} x {n}" for c, n in facts["channels"].items())
        mono = " -> averaged to mono" if any(int(c) > 1 for c in facts["channels"]) else ""
        lines.append(f"channels: {chans}{mono}")
    d = facts["duration_seconds"]
    window = f"window {facts['frames']} frames = {facts['window_seconds']:.2f} s"
    lines.append(
        f"durations: {d['min']:.2f} to {d['max']:.2f} s, median {d['median']:.2f} s; {window}" if d else window
    )
    if facts["rating_range"]:
        r = facts["rating_range"]
        scale = facts["rating_scale"]
        lines.append(
            f"ratings: valence [{r['valence'][0]:g}, {r['valence'][1]:g}], arousal "
            f"[{r['arousal'][0]:g}, {r['arousal'][1]:g}] on the scale [{scale[0]:g}, {scale[1]:g}]"
            + ("" if scale == list(UNIT_RANGE) else " -> mapped onto [-1, 1]")
        )
    if facts["drop"]:
        lines.append(f"dropped by data.drop: {', '.join(facts['drop'])}")
    lines += [f"warning: {w}" for w in facts["warnings"]]
    return lines


def _first(names: Sequence[str], shown: int = 5) -> str:
    more = f", ... {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
