"""params.yaml `split`: how each seed divides the clips into train, dev and val."""

from __future__ import annotations

from emosteer.constants import SPLIT_MODES
from emosteer.schema.base import Fraction, _literal, _Section


class Split(_Section):
    mode: _literal(SPLIT_MODES)
    val_fraction: Fraction
    dev_fraction: Fraction
    stratify: bool
