"""params.yaml validation: the shipped file is valid, and each bad value is one clear line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from emosteer import params
from emosteer.errors import EmosteerError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw() -> dict:
    return params.load(REPO / "params.yaml")


def test_shipped_params_are_valid(raw):
    assert params.seed(raw) == 0
    assert params.grid(raw) == 5
    assert params.data(raw).source == "synthetic"
    assert params.split(raw).mode in params.SPLIT_MODES
    assert params.model(raw).forward_passes == 2
    assert params.train(raw).epochs >= 1
    s = params.steering(raw)
    assert s.coarse_grid == 3 and 5.0 in s.strengths and s.alpha == 1.0 and s.first_pass
    assert params.evaluate(raw).n_boot >= 100


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        (None, "grid", 1, "grid: must be >= 2"),
        (None, "grid", "7", "grid: expected an integer"),
        ("steering", "strength", -1.0, "steering.strength: must be >= 0"),
        ("steering", "strengths", [1.0, -2.0], "steering.strengths[1]: must be >= 0"),
        ("steering", "alpha", 1.5, "steering.alpha: must be <= 1"),
        ("split", "mode", "random", "split.mode: unknown value 'random'"),
        ("data", "source", "mp3s", "data.source: unknown value 'mp3s'"),
        ("data", "path", "/no/such/file.h5", "data.path: path does not exist"),
        ("model", "panns_checkpoint", "/no/such.pth", "model.panns_checkpoint: path does not exist"),
        ("train", "loss_passes", "first", "train.loss_passes: unknown value 'first'"),
        ("train", "epoch", 3, "train.epoch: unknown key"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(raw, section, key, value, message):
    bad = copy.deepcopy(raw)
    (bad if section is None else bad[section])[key] = value
    readers = {None: (params.grid, params.seed), "steering": (params.steering,),
               "split": (params.split,), "data": (params.data,), "model": (params.model,),
               "train": (params.train,)}
    reader = readers[section][0]
    with pytest.raises(EmosteerError) as info:
        reader(bad, Path("params.yaml"))
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("params.yaml: ")


def test_external_source_requires_a_path(raw):
    bad = copy.deepcopy(raw)
    bad["data"]["source"] = "features_h5"
    with pytest.raises(EmosteerError, match="data.path: a path is required"):
        params.data(bad)


def test_strength_dev_or_number(raw):
    ok = copy.deepcopy(raw)
    ok["steering"]["strength"] = 2.5
    assert params.steering(ok).strength == 2.5
    ok["steering"]["strength"] = "dev"
    assert params.steering(ok).strength == "dev"
    ok["steering"]["strength"] = "auto"
    with pytest.raises(EmosteerError, match="steering.strength: expected a number"):
        params.steering(ok)
