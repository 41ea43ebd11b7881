"""The data sources: one module each, one entry here.

A source (`base.Source`) says what `data.path` must name for it and which `data.*` keys apply to it
alone, and gives its survey (what it holds: `emosteer data check`, check_params,
metrics/data.json), its featurizer (the data stage, `emosteer featurize`) and its clip count
before featurizing (the cost estimate). `survey.survey`, `featurize.build_features`,
`jobs.inputs` and `jobs.cost` look a source up here by params' `data.source`; nothing else
dispatches on its name. docs/architecture.md, "How to add a data source".
"""

from __future__ import annotations

from typing import Any

from emosteer.data.sources import emo_soundscapes, features_h5, synthetic
from emosteer.data.sources.base import Source
from emosteer.errors import EmosteerError

SOURCES: dict[str, Source] = {s.SOURCE.name: s.SOURCE for s in (synthetic, features_h5, emo_soundscapes)}
OPTION_DEFAULTS = {"rating_range": (-1.0, 1.0), "drop": ()}  # data.* keys a source may own, unset


def get(name: str) -> Source:
    """The source params' `data.source` names; one line for an unknown name."""
    if name not in SOURCES:
        raise EmosteerError(f"data.source: unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    return SOURCES[name]


def mismatch(data: Any) -> str | None:
    """What is wrong with params' `data` section for its source's entry, or None: an unknown source,
    a path missing where the source reads one or given where it reads none, or a source-specific
    key set for another source. params.yaml's schema (schema.params) refuses the file with it."""
    if data.source not in SOURCES:
        return f"data.source: unknown source {data.source!r}; expected one of {', '.join(SOURCES)}"
    source = SOURCES[data.source]
    if source.path is not None and data.path is None:
        return f"data.path: a path is required for source {source.name}"
    if source.path is None and data.path is not None:
        return (f"data.path: source {source.name} reads no path (got {data.path!r}); "
                "set data.path: null, or data.source to the path's kind")
    for key, unset in OPTION_DEFAULTS.items():
        if key not in source.options and tuple(getattr(data, key)) != tuple(unset):
            owners = [s.name for s in SOURCES.values() if key in s.options]
            return f"data.{key}: applies to source {', '.join(owners)} only (source is {source.name})"
    return None
