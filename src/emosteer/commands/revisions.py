"""Revisions of the project and the results each one holds, read with git; nothing is re-run.

A revision is a git revision, a DVC experiment name, or the workspace. Its results are the files
under metrics/ and plots/ (dvc.yaml declares every metric and plot output there `cache: false`, so
git holds them; tests/test_review.py keeps it so), read with params.yaml from the commit's tree
(`git cat-file`) or from the working tree.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emosteer import jsonsafe
from emosteer.errors import EmosteerError

RESULT_ROOTS = ("metrics", "plots")  # every file below them is a result
PARAMS = "params.yaml"
MAIN = ("main", "origin/main")  # the default base: the merge base of HEAD with the first that exists
_EXPERIMENT_REF = re.compile(r"refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/([^/]+)")


@dataclass(frozen=True)
class Revision:
    """A revision as the user named it, and its commit (None: the workspace)."""

    name: str
    commit: str | None

    @property
    def label(self) -> str:
        if self.commit is None:
            return "workspace"
        return self.commit[:7] if self.commit.startswith(self.name) else f"{self.name} ({self.commit[:7]})"


def git(repo: Path, *args: str, check: bool = True) -> str | None:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        if check:
            raise EmosteerError(f"git {' '.join(args)}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
        return None
    return proc.stdout.strip()


def repo_root(start: Path) -> Path:
    root = git(start, "rev-parse", "--show-toplevel", check=False)
    if root is None:
        raise EmosteerError(f"{start}: not inside a git repository (review compares git revisions)")
    return Path(root)


def experiments(repo: Path) -> dict[str, list[str]]:
    """DVC experiment name -> commits. DVC keeps an experiment of baseline B as the git ref
    refs/exps/B[:2]/B[2:]/NAME (what `dvc exp show`, `dvc exp push` and `dvc exp pull` use), so a
    name made on any baseline, here or pulled, resolves without asking DVC to load every one."""
    out: dict[str, list[str]] = {}
    listing = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/", check=False)
    for line in (listing or "").splitlines():
        ref, _, commit = line.partition(" ")
        match = _EXPERIMENT_REF.fullmatch(ref)
        if match:
            out.setdefault(match.group(1), []).append(commit)
    return out


def resolve(repo: Path, name: str, flag: str) -> Revision:
    """A git revision, a DVC experiment name, or "workspace"."""
    if name == "workspace":
        return Revision(name, None)
    commit = git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
    found = experiments(repo).get(name, [])
    if commit and any(c != commit for c in found):
        raise EmosteerError(
            f"{flag} {name}: both a git revision ({commit[:7]}) and a DVC experiment "
            f"({', '.join(c[:7] for c in found)}); give the commit you mean"
        )
    if commit:
        return Revision(name, commit)
    if len(found) == 1:
        return Revision(name, found[0])
    if found:
        raise EmosteerError(
            f"{flag} {name}: {len(found)} DVC experiments have this name "
            f"({', '.join(c[:7] for c in found)}); give one of their commits"
        )
    raise EmosteerError(
        f"{flag} {name}: neither a git revision nor a DVC experiment name "
        "(`dvc exp list --all-commits` lists the experiments)"
    )


def merge_base(repo: Path) -> Revision:
    """The default base: where HEAD left `main` (or `origin/main`, as a CI checkout has it)."""
    for branch in MAIN:
        if git(repo, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}", check=False):
            commit = git(repo, "merge-base", "HEAD", branch)
            return Revision(f"merge base with {branch}", commit)
    raise EmosteerError("--base: no branch main or origin/main to take the merge base with; give --base REV")


@dataclass
class Snapshot:
    """The result files (metrics/, plots/) and params.yaml of one revision, as bytes by path."""

    revision: Revision
    files: dict[str, bytes]
    _parsed: dict[str, Any] = field(default_factory=dict, repr=False)

    def json(self, path: str) -> Any:
        """A JSON file's content (None when the revision lacks it), parsed strictly (jsonsafe)."""
        if path not in self._parsed:
            raw = self.files.get(path)
            where = f"{path} at {self.revision.label}"
            self._parsed[path] = None if raw is None else _shallow(jsonsafe.loads(raw, where), where)
        return self._parsed[path]

    def object(self, path: str) -> dict[str, Any]:
        """A JSON file that must hold an object ({} when the revision lacks it); any other shape
        (a list, a number) is one line naming the file."""
        found = self.json(path)
        if found is None:
            return {}
        if not isinstance(found, dict):
            raise EmosteerError(f"{path} at {self.revision.label}: expected a JSON object, got {_kind(found)}")
        return found

    def params(self) -> dict[str, Any]:
        raw = self.files.get(PARAMS)
        where = f"{PARAMS} at {self.revision.label}"
        try:
            loaded = yaml.safe_load(raw) if raw is not None else {}
        except yaml.YAMLError:
            raise EmosteerError(f"{where}: not valid YAML") from None
        except RecursionError:
            raise EmosteerError(f"{where}: not valid YAML (nested too deeply)") from None
        return _shallow(loaded, where) if isinstance(loaded, dict) else {}

    def results(self) -> dict[str, bytes]:
        return {p: b for p, b in self.files.items() if p != PARAMS}


def snapshot(repo: Path, revision: Revision) -> Snapshot:
    """Read metrics/**, plots/** and params.yaml at a commit (`git cat-file`) or in the workspace.
    A symlink is read as its link text in both (git stores it so), never followed."""
    if revision.commit is None:
        return Snapshot(revision, workspace_files(repo))
    return Snapshot(revision, committed_files(repo, revision))


MAX_DEPTH = 64  # levels of nesting in a result file or params.yaml (the pipeline's nest 4 at most)


def _shallow(value: Any, where: str) -> Any:
    """`value` if it nests at most MAX_DEPTH levels, else one line: deeper nesting is no result
    file, and the review's comparisons and formatting would recurse through every level."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise EmosteerError(f"{where}: nested more than {MAX_DEPTH} levels deep")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def workspace_files(repo: Path) -> dict[str, bytes]:
    """The working tree's result files and params.yaml, by path relative to `repo`: a regular file
    by its bytes, a symlink (to a file, a folder or nowhere) by its link text, as git would commit
    it; a folder is walked without following links. A FIFO, socket or device is refused in one
    line (reading one would block or never end), and so is a file above MAX_RESULT_BYTES."""
    found: dict[str, bytes] = {}
    tops = [*RESULT_ROOTS, PARAMS]
    stack = [(repo / top, top) for top in reversed(tops)]
    while stack:
        path, rel = stack.pop()
        if not _is_result(rel):
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(path) as entries:
                names = sorted(e.name for e in entries)
            stack.extend((path / n, f"{rel}/{n}") for n in reversed(names))
        elif stat.S_ISLNK(st.st_mode):
            found[rel] = os.fsencode(os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            found[rel] = _read_regular(path, rel)
        else:
            raise EmosteerError(
                f"{rel} in the workspace: {_special(st.st_mode)}, not a regular file; review reads results as files"
            )
    return dict(sorted(found.items()))


MAX_RESULT_BYTES = 256 * 2**20  # a result file larger than this is refused, not read


def _read_regular(path: Path, rel: str) -> bytes:
    """A regular file's bytes, opened without following a link (it may have become one since it
    was listed) and checked to be a regular file once open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise EmosteerError(f"{rel} in the workspace: {_special(st.st_mode)}, not a regular file")
        if st.st_size > MAX_RESULT_BYTES:
            raise EmosteerError(
                f"{rel} in the workspace: {st.st_size} bytes, more than a result file may hold ({MAX_RESULT_BYTES})"
            )
        return f.read()


def _special(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"


def committed_files(repo: Path, revision: Revision) -> dict[str, bytes]:
    """A commit's result files and params.yaml: blobs by their bytes (a symlink's blob is its
    link text), fetched by object id so that no path (a newline in one, bytes that are not UTF-8)
    reaches git's line protocol. A submodule (gitlink) there is refused in one line."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "-l", revision.commit, "--", *RESULT_ROOTS, PARAMS],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    blobs: list[tuple[str, str, int]] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, oid, size = meta.split()
        path = os.fsdecode(raw_path)
        if not _is_result(path):
            continue
        if kind != b"blob":
            raise EmosteerError(
                f"{path} at {revision.label}: a git {kind.decode()} (mode {mode.decode()}), "
                "not a file; review reads results as files"
            )
        if int(size) > MAX_RESULT_BYTES:
            raise EmosteerError(
                f"{path} at {revision.label}: {int(size)} bytes, more than a result file may hold ({MAX_RESULT_BYTES})"
            )
        blobs.append((path, oid.decode(), int(size)))
    request = "".join(f"{oid}\n" for _, oid, _ in blobs).encode()
    out = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=repo, input=request, capture_output=True, check=True
    ).stdout
    files, pos = {}, 0
    for path, oid, size in blobs:  # each answer: "<oid> blob <size>\n<content>\n"
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3 or header[0].decode() != oid or int(header[2]) != size:
            raise EmosteerError(
                f"{path} at {revision.label}: git cat-file answered {out[pos:end][:80].decode(errors='replace')!r}"
            )
        files[path] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return files


def _is_result(path: str) -> bool:
    """Hidden files (.gitignore, a writer's temporary file) are not results."""
    return not any(part.startswith(".") for part in path.split("/"))
