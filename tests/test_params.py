"""params.yaml by schema: the shipped file is valid, unknown keys fail at every level, each bad
value is one line naming the key path and the value, and DVC's -S writes the file back unchanged."""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path

import pytest

from emosteer.errors import EmosteerError
from emosteer.schema import params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw() -> dict:
    return params.read_raw(REPO / "params.yaml")


def test_shipped_params_are_valid(raw):
    p = params.validate(raw)
    assert p.seeds == [0, 1, 2, 3, 4] and p.grid == 5 and p.amp == "off"
    assert p.data.source == "synthetic" and p.data.path is None
    assert p.model.forward_passes == 2 and p.model.train_fc1 is True
    assert p.steering.strength == "dev" and 5.0 in p.steering.strengths


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("gird",), 7, "params.yaml: gird: unknown key (did you mean grid?)"),
        (("train", "epoch"), 3, "params.yaml: train.epoch: unknown key (did you mean epochs?)"),
        (("data", "synthetic", "nclips"), 3, "params.yaml: data.synthetic.nclips: unknown key (did you mean n_clips?)"),
        (("zzz",), 3, "params.yaml: zzz: unknown key"),
        (("grid",), 1, "params.yaml: grid: Input should be greater than or equal to 2 (got 1)"),
        (("grid",), "7", "params.yaml: grid: Input should be a valid integer (got '7')"),
        (("seeds",), [0, 0], "params.yaml: seeds: seed 0 repeated at index 1"),
        (("seeds",), [], "params.yaml: seeds: List should have at least 1 item"),
        (
            ("steering", "strength"),
            [1.0, 2.0, 3.0],
            "params.yaml: steering.strength: a strength pair is [neg, pos]: exactly two numbers, not 3 (got [1.0, 2.0, 3.0])",  # noqa: E501 (a message: one line, so a user can grep for it)
        ),
        (("steering", "strength"), True, "params.yaml: steering.strength: Input should be a valid number (got True)"),
        (
            ("steering", "strength"),
            "banana",
            "params.yaml: steering.strength: Input should be a valid number (got 'banana')",
        ),
        (("steering", "strength"), math.inf, "params.yaml: steering.strength: Input should be a finite number"),
        (
            ("steering", "strengths"),
            [1.0, "2"],
            "params.yaml: steering.strengths[1]: Input should be a valid number (got '2')",
        ),
        (
            ("steering", "strengths"),
            [1.0, [0.5]],
            "params.yaml: steering.strengths[1]: a strength pair is [neg, pos]: exactly two",
        ),
        (
            ("steering", "strengths"),
            [1.0, [0.5, math.nan]],
            "params.yaml: steering.strengths[1]: pos of [neg, pos]: Input should be a finite number (got [0.5, nan])",
        ),
        (
            ("steering", "strengths"),
            [[None, 1.0]],
            "params.yaml: steering.strengths[0]: neg of [neg, pos]: Input should be a valid number",
        ),
        (
            ("steering", "strengths"),
            [1.0, 2.0, 1],
            "params.yaml: steering.strengths: strength 1 at index 2 repeats 1 at index 0 (got [1.0, 2.0, 1])",
        ),
        (
            ("steering", "strengths"),
            [-1.0, 2.0, [2.0, 2]],
            "params.yaml: steering.strengths: strength 2/2 at index 2 repeats 2 at index 1",
        ),
        (
            ("steerability", "strength"),
            math.inf,
            "params.yaml: steerability.strength: Input should be a finite number (got inf)",
        ),
        (
            ("steerability", "strength"),
            [1.0, 2.0, 3.0],
            "params.yaml: steerability.strength: a strength pair is [neg, pos]",
        ),
        (("steering", "alpha"), 1.5, "params.yaml: steering.alpha: Input should be less than or equal to 1"),
        (("split", "mode"), "random", "params.yaml: split.mode: Input should be 'group' or 'original' (got 'random')"),
        (
            ("data", "source"),
            "mp3s",
            "params.yaml: data.source: unknown source 'mp3s'; expected one of synthetic, features_h5, emo_soundscapes",
        ),
        (("data", "path"), "/no/such/file.h5", "params.yaml: data.path: path does not exist: /no/such/file.h5"),
        (("data", "groups"), "/no/groups.csv", "params.yaml: data.groups: path does not exist: /no/groups.csv"),
        (("data", "rating_range"), [9, 1], "params.yaml: data.rating_range: expected lo < hi, got [9, 1]"),
        (("data", "rating_range"), [1, 5, 9], "params.yaml: data.rating_range: expected [lo, hi]"),
        (
            ("data", "rating_range"),
            [1, math.inf],
            "params.yaml: data.rating_range: hi of [lo, hi]: Input should be a finite number",
        ),
        (
            ("data", "rating_range"),
            [1, 9],
            "params.yaml: data.rating_range: applies to source emo_soundscapes only (source is synthetic)",
        ),
        (("data", "drop"), ["quiet"], "params.yaml: data.drop[0]: Input should be 'low_rate' or 'short' (got 'quiet')"),
        (("data", "drop"), ["short", "short"], "params.yaml: data.drop: 'short' repeated at index 1"),
        (("data", "drop"), ["short"], "params.yaml: data.drop: applies to source emo_soundscapes only"),
        (("model", "panns_checkpoint"), "/no/such.pth", "params.yaml: model.panns_checkpoint: path does not exist"),
        (("train", "loss_passes"), "first", "params.yaml: train.loss_passes: Input should be 'last' or 'mean'"),
        (("device",), "tpu", "params.yaml: device: Input should be 'auto', 'cpu' or 'cuda' (got 'tpu')"),
        (("train", "heads"), "mlp", "params.yaml: train.heads: Input should be 'ridge', 'ridge_pca' or 'trained'"),
        (("train", "patience"), 0, "params.yaml: train.patience: Input should be greater than or equal to 1 (got 0)"),
        (
            ("steering", "fusion_weights"),
            [0.0, 1.5],
            "params.yaml: steering.fusion_weights[1]: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            ("steering", "fusion_weights"),
            [-0.1],
            "params.yaml: steering.fusion_weights[0]: Input should be greater than or equal to 0",
        ),
        (("steering", "fusion_weights"), [], "params.yaml: steering.fusion_weights: List should have at least 1 item"),
        (
            ("steering", "fusion_weights"),
            [0.5, math.nan],
            "params.yaml: steering.fusion_weights[1]: Input should be a finite number",
        ),
        (
            ("steering", "fusion_weights"),
            [0.5, 0.2, 0.5],
            "params.yaml: steering.fusion_weights: weight 0.5 at index 2 repeats index 0 (got [0.5, 0.2, 0.5])",
        ),
        (("train", "optimizer"), "lion", "params.yaml: train.optimizer: Input should be 'adam' or 'sgd'"),
        (("train", "ridge_lambda"), 0.0, "params.yaml: train.ridge_lambda: Input should be greater than 0"),
        (("train", "momentum"), 1.0, "params.yaml: train.momentum: Input should be less than 1"),
        (("train", "head_epochs"), 5, "params.yaml: train: train.head_epochs > 0 trains the heads"),
        # upper bounds (issue #24): before, each of these was accepted
        (
            ("evaluate", "n_boot"),
            10**9,
            "params.yaml: evaluate.n_boot: Input should be less than or equal to 100000 (got 1000000000)",
        ),
        (("seeds",), list(range(10_000)), "params.yaml: seeds: List should have at most 100 items"),
        (("seeds",), [0, 2**32], "params.yaml: seeds[1]: Input should be less than or equal to 4294967294"),
        (("grid",), 10**6, "params.yaml: grid: Input should be less than or equal to 100 (got 1000000)"),
        (("steering", "grids"), [3, 101], "params.yaml: steering.grids[1]: Input should be less than or equal to 100"),
        (("steering", "grids"), [], "params.yaml: steering.grids: List should have at least 1 item"),
        (("steering", "grids"), [3, 4, 3], "params.yaml: steering.grids: grid 3 repeated at index 2"),
        (("steering", "grids"), [3, 5], "params.yaml: grid 5 is also in steering.grids: each grid is evaluated once"),
        (("workers",), 1000, "params.yaml: workers: Input should be less than or equal to 64 (got 1000)"),
        (("threads",), 10**6, "params.yaml: threads: Input should be less than or equal to 256 (got 1000000)"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(raw, path, value, message):
    bad = copy.deepcopy(raw)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


@pytest.mark.parametrize(
    "changes, message",
    [
        # a section's own check names the values it compared; before, it ended "(got dict)"
        (
            {("data", "synthetic", "n_clips"): 1000, ("data", "synthetic", "segments"): 1000},
            "params.yaml: data.synthetic: n_clips x segments = 1000 x 1000 = 1000000 rows, more than 100000",
        ),
        (
            {("train", "head_epochs"): 5},
            "params.yaml: train: train.head_epochs > 0 trains the heads; train.heads: "
            "ridge sets them in closed form (set head_epochs: 0, or heads: trained)",
        ),
        # a nested value where a number or a section belongs is quoted (before: "(got dict)", "(got list)")
        ({("data", "frames"): {"a": 1}}, "params.yaml: data.frames: Input should be a valid integer (got {'a': 1})"),
        ({("seeds",): [0, [1]]}, "params.yaml: seeds[1]: Input should be a valid integer (got [1])"),
        (
            {("data", "synthetic"): 5},
            "params.yaml: data.synthetic: Input should be a section (key: value lines), "
            "not a single value or a list (got 5)",
        ),
        (
            {("data", "synthetic"): [1, 2]},
            "params.yaml: data.synthetic: Input should be a section (key: value "
            "lines), not a single value or a list (got [1, 2])",
        ),
        # -S data.frames=1e11: YAML reads it as a float
        (
            {("data", "frames"): 1e11},
            "params.yaml: data.frames: Input should be a valid integer, written as "
            "digits: YAML reads 1e6 and 6.0 as floats (got 100000000000.0)",
        ),
        # a long value is cut, and a long list or mapping says how many items it holds
        (
            {("split", "mode"): "x" * 10**6},
            f"params.yaml: split.mode: Input should be 'group' or 'original' (got '{'x' * 59}...)",
        ),
        (
            {("data", "frames"): {str(i): i for i in range(40)}},
            "params.yaml: data.frames: Input should be a valid integer (got {'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, "
            "'5': 5, '6': 6, '7'..., 40 items)",
        ),
    ],
)
def test_the_bad_value_is_quoted_as_written_or_not_at_all(raw, changes, message):
    bad = copy.deepcopy(raw)
    for path, value in changes.items():
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    assert str(info.value) == message


def test_ridge_heads_need_a_fixed_pass_one(raw):
    bad = copy.deepcopy(raw)
    bad["train"]["cache_first_pass"] = False
    bad["model"]["freeze_backbone"] = False
    with pytest.raises(EmosteerError, match="train.heads: ridge needs model.freeze_backbone: true"):
        params.validate(bad, "params.yaml")
    bad["train"]["heads"] = "trained"
    params.validate(bad, "params.yaml")


def test_external_source_requires_a_path(raw):
    bad = copy.deepcopy(raw)
    bad["data"]["source"] = "features_h5"
    with pytest.raises(EmosteerError, match="data.path: a path is required for source features_h5"):
        params.validate(bad)


def test_a_path_with_the_synthetic_source_is_refused(raw, tmp_path):
    bad = copy.deepcopy(raw)
    bad["data"]["path"] = str(tmp_path)
    with pytest.raises(
        EmosteerError,
        match=r"data.path: source synthetic reads no path \(got '.*'\); "
        "set data.path: null, or data.source to the path's kind",
    ):
        params.validate(bad)


def test_one_split_with_several_seeds_is_refused(raw):
    """split.mode: original is one split: several seeds on it are not independent evidence."""
    bad = copy.deepcopy(raw)
    bad["split"]["mode"] = "original"
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    assert str(info.value).startswith(
        "params.yaml: split.mode: original is one fixed split, so 5 seeds would all validate on the same clips"
    )
    assert "use seeds: [0]" in str(info.value) and "\n" not in str(info.value)
    bad["seeds"] = [3]
    assert params.validate(bad).split.mode == "original"


def test_emo_soundscapes_options(raw, tmp_path):
    ok = copy.deepcopy(raw)
    ok["data"].update(
        source="emo_soundscapes", path=str(tmp_path), rating_range=[1, 9], drop=["low_rate", "short"], groups=None
    )
    d = params.validate(ok).data
    assert d.rating_range == (1.0, 9.0) and d.drop == ["low_rate", "short"]


def test_strength_dev_or_number(raw):
    ok = copy.deepcopy(raw)
    ok["steering"]["strength"] = 2.5
    assert params.validate(ok).steering.strength == 2.5


def test_strengths_of_either_sign_and_pairs(raw):
    ok = copy.deepcopy(raw)
    ok["steering"].update(strength=[-1, 3], strengths=[-1.0, 0, 2, [0.5, 2.0], [2, 0.5]])
    ok["steerability"]["strength"] = -5
    p = params.validate(ok)
    assert p.steering.strength == (-1.0, 3.0)  # a pair is read as a tuple: a hashable key
    assert p.steering.strengths == [-1.0, 0.0, 2.0, (0.5, 2.0), (2.0, 0.5)]
    assert all(type(x) in (float, tuple) for x in p.steering.strengths)
    assert p.steerability.strength == -5.0 and type(p.steerability.strength) is float


def test_check_value_gives_the_cli_the_same_limits():
    assert params.check_value(params.Strength, 2, "--strength") == 2.0
    assert params.check_value(params.Strength, -5, "--strength") == -5.0
    assert params.check_value(params.Strength, [-1.0, 3.0], "--strength") == (-1.0, 3.0)
    for bad in (float("nan"), float("inf"), [1.0, float("inf")], [1.0], "2", 10**400):
        with pytest.raises(EmosteerError, match="--strength: ") as info:
            params.check_value(params.Strength, bad, "--strength")
        assert "\n" not in str(info.value)
    with pytest.raises(EmosteerError, match="--alpha: Input should be less than or equal to 1"):
        params.check_value(params.Alpha, 2.0, "--alpha")


def test_dvc_set_writes_params_yaml_back_byte_identical(tmp_path):
    """`dvc exp run -S` rewrites params.yaml in DVC's YAML style; ours is already that style, so an
    experiment's diff shows only the changed value."""
    from dvc.utils.hydra import apply_overrides

    target = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", target)
    apply_overrides(target, ["grid=5"])
    assert target.read_text() == (REPO / "params.yaml").read_text()
    apply_overrides(target, ["grid=7"])
    changed = [
        line for line in target.read_text().splitlines() if line not in (REPO / "params.yaml").read_text().splitlines()
    ]
    assert changed == ["grid: 7"]


def test_unreadable_files_are_one_line(tmp_path):
    with pytest.raises(EmosteerError, match="file not found"):
        params.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("grid: [1\n")
    with pytest.raises(EmosteerError, match="not valid YAML"):
        params.load(tmp_path / "bad.yaml")


# Property test: whatever a params.yaml holds, validation gives Params or one EmosteerError line.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)
_SHIPPED = params.read_raw(REPO / "params.yaml")


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    yield prefix


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_mutation_of_params_is_a_result_or_one_line(data):
    raw = copy.deepcopy(_SHIPPED)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from([p for p in _paths(raw) if p]))
        node = raw
        for key in path[:-1]:
            node = node[key] if isinstance(node, dict) and key in node else None
            if node is None:
                break
        if isinstance(node, dict):
            if data.draw(st.booleans()):
                node[path[-1]] = data.draw(_VALUES)
            else:
                node.pop(path[-1], None)
    try:
        params.validate(raw, "params.yaml")
    except EmosteerError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("params.yaml: ")


_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.one_of(_FINITE, st.integers(-(10**6), 10**6), st.lists(_FINITE, min_size=2, max_size=2)))
def test_any_finite_number_or_pair_is_a_strength(value):
    got = params.check_value(params.Strength, value, "--strength")
    if isinstance(value, list):
        assert got == tuple(value) and all(type(x) is float for x in got)
    else:
        assert got == value and type(got) is float


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    _VALUES.filter(
        lambda v: (
            not (
                (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
                or (
                    isinstance(v, list)
                    and len(v) == 2
                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
                )
            )
        )
    )
)
def test_anything_else_is_refused_in_one_line(value):
    with pytest.raises(EmosteerError) as info:
        params.check_value(params.Strength, value, "--strength")
    assert "\n" not in str(info.value) and str(info.value).startswith("--strength: ")


def test_seeds_times_resamples_is_bounded(raw):
    """Every seed's clip bank (n_boot x clips indices) is held at once while strengths are picked."""
    bad = copy.deepcopy(raw)
    bad["seeds"], bad["evaluate"]["n_boot"] = list(range(30)), 100_000
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    assert str(info.value) == (
        "params.yaml: seeds x evaluate.n_boot = 30 x 100000 = 3000000 resamples, more "
        "than 2000000 (each seed's n_boot x clips indices are held at once: "
        "8 bytes each)"
    )
    ok = copy.deepcopy(raw)
    ok["seeds"], ok["evaluate"]["n_boot"] = list(range(20)), 100_000
    params.validate(ok, "params.yaml")


@pytest.mark.parametrize(
    "section, key, typo", [("evaluate", "n_boot", "n_bot"), ("train", "epochs", "epoch"), (None, "grid", "gird")]
)
def test_a_mistyped_key_is_named_not_the_key_it_left_missing(raw, section, key, typo):
    """A typo renames a key: the message names the unknown key (and the one it resembles), not
    "n_boot: missing"."""
    bad = copy.deepcopy(raw)
    node = bad if section is None else bad[section]
    node[typo] = node.pop(key)
    where = typo if section is None else f"{section}.{typo}"
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    assert str(info.value) == f"params.yaml: {where}: unknown key (did you mean {key}?)"


def test_an_unknown_key_like_no_other_gets_no_suggestion(raw):
    bad = {**raw, "zzz": 1}
    with pytest.raises(EmosteerError) as info:
        params.validate(bad, "params.yaml")
    assert str(info.value) == "params.yaml: zzz: unknown key"


def test_the_sections_stages_leave_to_others_are_the_whole_files_sections():
    """schema.base.SECTIONS (what a stage's schema may leave to another) + the top level every stage
    reads = the whole file's keys: a section missing there would be refused as unknown by every
    stage, an extra one would let a typo of that name through."""
    from emosteer.schema import base

    assert set(base.SECTIONS) | set(base.Stage.model_fields) == set(params.Params.model_fields)
    assert not set(base.SECTIONS) & set(base.Stage.model_fields)
