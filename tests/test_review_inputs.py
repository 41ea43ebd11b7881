"""`emosteer review` given hostile inputs (issue 27): an --out that holds someone's files, result
files that carry markup, symlinks, special files, odd paths and odd shapes. Nothing the review did
not write is removed, every string from a result file is shown as data, and every refusal is one
line with exit 2."""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from emosteer.commands import cli
from emosteer.commands import review as review_mod
from emosteer.commands.revisions import Revision, Snapshot
from emosteer.data import sources
from emosteer.errors import EmosteerError, one_line
from tests.test_hostile import EVIL_AUDIO, EVIL_RATED, malicious_names_table
from tests.test_review import _commit, _git, _results, git_repo


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    return git_repo(tmp_path, monkeypatch)


PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
OUR_HEADINGS = {
    "Verdicts",
    "Pooled Δr that moved",
    "What else differs",
    "Params",
    "Strengths",
    "Unsteered r per seed",
    "Seeds and clips",
    "Data",
    "Machine that trained the models",
    "Model",
    "Verdict table facts",
    "Other result files that changed",
    "Figures that changed",
}


def _review(*args: str) -> int:
    return cli.main(["review", *args])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every file below `root` with its bytes, every link with its text."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


# -- --out: only what review wrote ----------------------------------------------------------------


def test_users_files_in_out_survive(repo, capsys):
    """The issue's case: `mkdir -p u/figures; echo x > u/figures/paper.png; echo n > u/comment.md;
    emosteer review --base HEAD --out u` removed both files and exited 0."""
    _commit(repo, _results(), "a")
    (repo / "u" / "figures").mkdir(parents=True)
    (repo / "u" / "figures" / "paper.png").write_text("x\n")
    (repo / "u" / "comment.md").write_text("n\n")
    before = _tree(repo / "u")
    assert _review("--base", "HEAD", "--out", "u") == 2
    assert "--out u: holds files review did not write (comment.md, figures); give a new or empty folder" in _one_line(
        capsys
    )
    assert _tree(repo / "u") == before


def test_out_that_holds_the_checkout_is_refused_and_the_checkout_survives(tmp_path, monkeypatch, capsys):
    """The issue's case: `--out ..` from a checkout that lies in a folder named `figures` deleted the
    whole checkout, .git included, and exited 0."""
    checkout = tmp_path / "parent" / "figures"
    checkout.mkdir(parents=True)
    _git(checkout, "init", "-q", "-b", "main")
    monkeypatch.chdir(checkout)
    _commit(checkout, _results(), "a")
    before = _tree(tmp_path)
    assert _review("--base", "HEAD", "--out", "..") == 2
    assert f"--out ..: holds the repository ({checkout}); give a folder of its own" in _one_line(capsys)
    assert _tree(tmp_path) == before


def test_out_as_a_symlink_or_with_a_symlinked_part_is_refused(repo, tmp_path, capsys):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "link").symlink_to(elsewhere)
    assert _review("--base", a, "--head", b, "--out", "link") == 2
    assert "--out link: a symlink" in _one_line(capsys)
    assert _review("--base", a, "--head", b, "--out", "out") == 0  # out is now review's
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    (repo / "out" / "figures").symlink_to(victim)  # the issue's `--out` whose `figures` is a symlink
    assert _review("--base", a, "--head", b, "--out", "out") == 2
    assert "--out out: figures is a symlink; review writes only files of its own there" in _one_line(capsys)
    assert (victim / "keep.txt").read_text() == "keep"


def test_a_folder_review_wrote_is_rewritten_and_only_its_files_go(repo, capsys):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    assert _review("--base", a, "--head", b, "--out", "out", "--figures-link", "https://ci.example/1") == 0
    marker = (repo / "out" / review_mod.MARKER).read_text().splitlines()
    assert marker[1:] == ["comment.md", "review.md"]
    (repo / "out" / "notes.txt").write_text("mine")  # the user's, added later
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    assert sorted(os.listdir(repo / "out")) == [review_mod.MARKER, "notes.txt", "review.md"]
    assert (repo / "out" / "notes.txt").read_text() == "mine"
    (repo / "out" / "comment.md").write_text("someone else's")  # in the way, not review's
    assert _review("--base", a, "--head", b, "--out", "out", "--figures-link", "https://ci.example/1") == 2
    assert "--out out: comment.md is not one review wrote" in _one_line(capsys)
    assert (repo / "out" / "comment.md").read_text() == "someone else's"


# -- strings from result files are data ------------------------------------------------------------


def _inlines(markdown: str, figure_titles: tuple[str, ...] = ()) -> list[str]:
    """The text each inline element shows once rendered (code spans included), and the checks
    that no HTML, link, image or heading of its own came from data (a figure's title is the
    heading of its figure)."""
    shown = []
    tokens = PARSER.parse(markdown)
    for i, token in enumerate(tokens):
        assert token.type != "html_block", token
        if token.type == "heading_open" and token.tag != "h1":
            heading = "".join(c.content for c in tokens[i + 1].children or [])
            assert heading in OUR_HEADINGS or heading in figure_titles, heading
        if token.type == "inline":
            for child in token.children or []:
                assert child.type not in ("html_inline", "image", "link_open", "s_open"), (child.type, child.content)
            shown.append("".join(c.content for c in token.children or [] if c.type in ("text", "code_inline")))
    return shown


def _cells_per_row(markdown: str) -> set[int]:
    counts, n = set(), 0
    for token in PARSER.parse(markdown):
        if token.type == "tr_open":
            n = 0
        elif token.type in ("td_open", "th_open"):
            n += 1
        elif token.type == "tr_close":
            counts.add(n)
    return counts


def _shown(value: str, markdown: str) -> None:
    """`value` (its first characters, as one line) is what some element of `markdown` shows."""
    head = one_line(value)[:40].strip()  # markdown drops the ends' whitespace: not content
    shown = [
        "".join(c.content for c in t.children or [] if c.type in ("text", "code_inline"))
        for t in PARSER.parse(markdown)
        if t.type == "inline"
    ]
    assert any(head in text for text in shown), head


def _assert_data_only(markdown: str) -> None:
    _inlines(markdown)
    assert "<!--" not in markdown
    assert "<img" not in markdown
    outside_code = re.sub(r"(`+).*?\1", "", markdown)  # nothing inside a code span is a link
    assert re.search(r"[^\\]://", outside_code) is None  # no autolink: every colon from data is escaped


def test_a_malicious_names_table_reaches_the_comment_as_text(repo, tmp_path):
    """A clip name `<img src=https://example.invalid/p.png>` rated without audio and an audio
    file name holding an escape code and a newline: the survey writes both to metrics/data.json
    (skipped_files), and the review shows them as text."""
    root = malicious_names_table(tmp_path / "emo")
    facts = sources.survey("emo_soundscapes", root, 16).facts
    assert EVIL_RATED in facts["skipped_files"]["missing_audio"]
    assert EVIL_AUDIO in facts["skipped_files"]["missing_rating"]
    a = _commit(repo, _results(), "a")
    files = _results()
    files["metrics/data.json"] = facts
    b = _commit(repo, files, "b: with the data facts")
    assert _review("--base", a, "--head", b, "--out", "out", "--figures-link", "https://ci.example/1") == 0
    for name in ("review.md", "comment.md"):
        text = (repo / "out" / name).read_text()
        _assert_data_only(text.replace("https://ci.example/1", "the run"))
        _shown(json.dumps(facts["skipped_files"]["missing_audio"], ensure_ascii=False), text)
        assert "\x1b" not in text and "&lt;img src=https\\://example\\.invalid/p\\.png&gt;" in text


def test_a_malicious_metrics_file_cannot_forge_the_comment(repo):
    """A verdict holding a newline and `<!--` (which hid the rest of the comment or added a fake
    verdict table), a key holding markup and a 50 MB string."""
    forged = "helps\n\n<!-- the rest is hidden\n| 9-bin | oracle | **none → helps** |"
    huge = "A" * 50_000_000
    a = _commit(repo, _results(), "a")
    files = _results()
    files["metrics/headline.json"]["coarse"]["oracle_categorical"]["valence"]["verdict"] = forged
    files["metrics/headline.json"]["note ![x](https://example.invalid/p.png)"] = huge
    files["metrics/seeds/train/s0.json"]["machine"]["cpu"] = "<script>alert(1)</script>"
    b = _commit(repo, files, "b")
    assert _review("--base", a, "--head", b, "--out", "out") == 0
    text = (repo / "out" / "review.md").read_text()
    assert len(text) < 20_000  # the 50 MB string is cut
    _assert_data_only(text)
    _shown(forged, text)
    _shown("<script>alert(1)</script>", text)
    assert _cells_per_row(text.split("## Verdicts")[1].split("\n## ")[0]) == {4}  # no forged row or cell
    assert "A" * review_mod.TEXT_LIMIT not in text.replace("\\", "")
    assert "AAAA…" in text


# -- what the review reads ------------------------------------------------------------------------


def test_workspace_symlinks_are_read_as_their_link_text(repo, tmp_path):
    """metrics/data.json committed as a symlink to a credentials file: the workspace snapshot
    shows the link, as git holds it, never the file it points to."""
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = hunter2\n")
    _commit(repo, _results(), "a")
    (repo / "metrics" / "data.json").symlink_to(secret)
    (repo / "metrics" / "elsewhere").symlink_to(tmp_path)  # a folder link is not walked either
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "b: links")
    snap = review_mod.snapshot(repo, Revision("workspace", None))
    assert snap.files["metrics/data.json"] == str(secret).encode()
    assert snap.files["metrics/elsewhere"] == str(tmp_path).encode()
    committed = review_mod.snapshot(repo, Revision("HEAD", _git(repo, "rev-parse", "HEAD")))
    assert committed.files == snap.files  # the same bytes as git's: nothing read through the link
    assert b"hunter2" not in b"".join(snap.files.values())


def test_review_of_a_workspace_link_reads_the_link_not_the_file(repo, tmp_path, capsys):
    secret = tmp_path / "credentials"
    secret.write_text('{"aws_secret_access_key": "hunter2"}')  # JSON, so that it would be shown
    a = _commit(repo, _results(), "a")
    (repo / "metrics" / "data.json").symlink_to(secret)
    assert _review("--base", a, "--out", "out") == 2  # the link text is a path, not JSON
    assert "metrics/data.json at workspace: not valid JSON" in (err := _one_line(capsys)) and "hunter2" not in err
    assert not (repo / "out").exists()


def test_a_fifo_under_metrics_is_refused_not_read(repo, capsys):
    a = _commit(repo, _results(), "a")
    os.mkfifo(repo / "metrics" / "pipe.json")
    assert _review("--base", a, "--out", "out") == 2
    assert "metrics/pipe.json in the workspace: a FIFO, not a regular file" in _one_line(capsys)


def test_odd_committed_paths_are_read_by_object_id(repo, capsys):
    """A newline and bytes that are not UTF-8 in a path under metrics/ (a traceback before)."""
    a = _commit(repo, _results(), "a")
    (repo / "metrics" / "new\nline.json").write_text("{}")
    (repo / os.fsdecode(b"metrics/caf\xe9.json")).write_text("{}")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "b")
    assert _review("--base", a, "--head", "HEAD", "--out", "out") == 0
    text = (repo / "out" / "review.md").read_text()
    assert "- `metrics/new\\nline.json` (new)" in text and "- `metrics/caf\\udce9.json` (new)" in text
    assert _review("--base", a, "--out", "out") == 0  # the workspace reads them the same


def test_a_gitlink_under_metrics_is_one_line(repo, capsys):
    a = _commit(repo, _results(), "a")
    _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{a},metrics/sub")
    _git(repo, "commit", "-qm", "b: a submodule entry")
    assert _review("--base", a, "--head", "HEAD", "--out", "out") == 2
    assert "metrics/sub at HEAD" in (err := _one_line(capsys)) and "a git commit (mode 160000), not a file" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "[" * 100_000 + "]" * 100_000,
            "metrics/headline.json at HEAD \\(.*\\): not valid JSON \\(nested too deeply\\)",
        ),
        ("[" * 100 + "]" * 100, "metrics/headline.json at HEAD \\(.*\\): nested more than 64 levels deep"),
        ('[{"coarse": 1}]', "metrics/headline.json at HEAD \\(.*\\): expected a JSON object, got a list"),
    ],
)
def test_json_too_deep_or_of_the_wrong_shape_is_one_line(repo, capsys, content, message):
    a = _commit(repo, _results(), "a")
    files = _results()
    files["metrics/headline.json"] = content
    _commit(repo, files, "b")
    assert _review("--base", a, "--head", "HEAD", "--out", "out") == 2
    assert re.search(message, _one_line(capsys))
    assert not (repo / "out").exists()


def test_an_experiment_named_like_a_branch_is_refused(repo, capsys):
    a = _commit(repo, _results(), "a")
    b = _commit(repo, _results(oracle_v=("none", 0.01, -0.01, 0.03)), "b")
    _git(repo, "branch", "exp-b", a)
    _git(repo, "update-ref", f"refs/exps/{a[:2]}/{a[2:]}/exp-b", b)
    assert _review("--base", a, "--head", "exp-b", "--out", "out") == 2
    assert f"--head exp-b: both a git revision ({a[:7]}) and a DVC experiment ({b[:7]}); give the commit" in _one_line(
        capsys
    )


# -- any result file, rendered: never a traceback, never markup from data ---------------------------

FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
HOSTILE = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.punctuation + " \n\t\x1b<>!-|`[]()", max_size=60),
    st.sampled_from(
        [
            "<!--",
            "-->",
            "<img src=https://example.invalid/p.png>",
            "![x](https://e.invalid/p)",
            "[a](https://e.invalid)",
            "**helps → none**",
            "\n| x | y |",
            "www.example.invalid",
            "@someone",
            "$x$",
            "`",
            "``a``",
            "\\",
            "# heading",
            "- item",
            "1. item",
        ]
    ),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), HOSTILE),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(HOSTILE, inner, max_size=3)),
    max_leaves=12,
)


@st.composite
def result_files(draw) -> dict[str, Any]:
    """A revision's results with hostile strings where the review shows strings: verdicts, group,
    method and dim names, keys, machine fields, data.json entries, params, file names."""
    group, method, dim = draw(HOSTILE), draw(HOSTILE), draw(HOSTILE)
    entry = {"verdict": draw(st.one_of(HOSTILE, JSON)), "dr": draw(st.one_of(st.floats(-1, 1), JSON))}
    if draw(st.booleans()):
        entry["verdict_corrected"] = draw(JSON)
    files: dict[str, Any] = {
        "metrics/headline.json": {group: {method: {dim: entry}}, draw(HOSTILE): draw(JSON)},
        "metrics/data.json": draw(st.dictionaries(HOSTILE, JSON, max_size=4)),
        "metrics/seeds/train/s0.json": {
            "machine": draw(st.one_of(JSON, st.dictionaries(HOSTILE, HOSTILE, max_size=3))),
            "source": draw(JSON),
        },
        "metrics/seeds/baseline.json": {draw(HOSTILE): {draw(HOSTILE) + "_r": draw(st.one_of(st.floats(), JSON))}},
        f"metrics/pooled/{group.replace('/', '_') or 'g'}/x.json": {
            "strength": draw(JSON),
            "bins": draw(JSON),
            "strength_dev_clips": draw(JSON),
        },
        f"metrics/{draw(HOSTILE).replace('/', '_') or 'f'}.json": {},
    }
    out = {path: json.dumps(value).encode() for path, value in files.items()}
    out["params.yaml"] = json.dumps({draw(HOSTILE): draw(JSON)}).encode()  # JSON is YAML
    return out


@FUZZ
@given(result_files(), result_files(), HOSTILE, st.lists(HOSTILE, max_size=2))
def test_any_result_strings_render_as_data_or_one_line(base_files, head_files, title, dvc_errors) -> None:
    base = Snapshot(Revision("base", "a" * 40), base_files)
    head = Snapshot(Revision("head", "b" * 40), head_files)
    figs = [review_mod.Figure(title, "01-plot", True, True)]
    try:
        c = review_mod.compare(base, head)
        texts = [
            review_mod.markdown(c, figs, dvc_errors, None),
            review_mod.markdown(c, figs, dvc_errors, "https://ci.example/1"),
        ]
    except EmosteerError as exc:
        assert "\n" not in str(exc)
        return
    for text in texts:
        for token in PARSER.parse(text):  # our own links and images only: the figures and the run
            for child in token.children or []:
                if child.type in ("image", "link_open"):
                    assert child.attrs["src" if child.type == "image" else "href"] in (
                        "figures/01-plot-base.png",
                        "figures/01-plot-head.png",
                        "figures/01-plot-base.svg",
                        "figures/01-plot-head.svg",
                        "figures/01-plot-both.png",
                    ), child.attrs
                    child.type = "text"  # checked: not data
        _inlines_without_our_links(
            text,
            (one_line(title)[: review_mod.TEXT_LIMIT].strip(), one_line(title)[: review_mod.TEXT_LIMIT].strip() + "…"),
        )
        assert len(_cells_per_row(text.split("## Verdicts")[1].split("\n## ")[0])) == 1
        for value in (title, *dvc_errors):
            _shown(value, text) if one_line(value).strip() and "DVC" not in value else None


def _inlines_without_our_links(markdown: str, titles: tuple[str, ...]) -> None:
    """`_inlines`, with the figures section's own images and links (checked above) taken out."""
    ours = [
        "![base](figures/01-plot-base.png)",
        "![head](figures/01-plot-head.png)",
        "[base SVG](figures/01-plot-base.svg)",
        "[head SVG](figures/01-plot-head.svg)",
        "[both, shared axes](figures/01-plot-both.png)",
        "https://ci.example/1",
    ]
    for text in ours:
        markdown = markdown.replace(text, "ours")
    _inlines(markdown, titles)
