"""What a strength is as a key, a size, an axis label and JSON (emosteer.strength)."""

from __future__ import annotations

import pytest

from emosteer import strength
from emosteer.errors import EmosteerError


@pytest.mark.parametrize(
    "value, key, size, label, as_json",
    [
        (2, 2.0, 2.0, "2", 2.0),
        (-1.0, -1.0, 1.0, "-1", -1.0),
        (0.25, 0.25, 0.25, "0.25", 0.25),
        (-0.0, 0.0, 0.0, "0", 0.0),
        ((0.5, 2), (0.5, 2.0), 2.0, "0.5/2", [0.5, 2.0]),
        ([-5, 1.0], (-5.0, 1.0), 5.0, "-5/1", [-5.0, 1.0]),  # a JSON list is a pair too
        (1e-7, 1e-7, 1e-7, "1e-07", 1e-7),
    ],
)
def test_key_size_label_json(value, key, size, label, as_json):
    assert strength.key(value) == key and hash(strength.key(value)) == hash(key)
    assert strength.size(value) == size
    assert strength.label(value) == label
    assert strength.to_json(value) == as_json


def test_labels_tell_close_strengths_apart():
    assert strength.label(0.1 + 0.2) != strength.label(0.3)


def test_one_number_is_its_own_pair():
    assert strength.scales(2.5) == (2.5, 2.5)
    assert strength.scales((0.5, 2.0)) == (0.5, 2.0)
    with pytest.raises(EmosteerError, match=r"a pair is \(neg, pos\)"):
        strength.scales((1.0,))
