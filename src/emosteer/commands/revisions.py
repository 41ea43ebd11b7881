"""Revisions of the project and the results each one holds, read with git; nothing is re-run.

A revision is a git revision, a DVC experiment name, or the workspace. Its results are the files
under metrics/ and plots/ (dvc.yaml declares every metric and plot output there `cache: false`, so
git holds them; tests/test_review.py keeps it so), read with params.yaml from the commit's tree
(`git cat-file`) or from the working tree.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
    if commit:
        return Revision(name, commit)
    found = experiments(repo).get(name, [])
    if len(found) == 1:
        return Revision(name, found[0])
    if found:
        raise EmosteerError(f"{flag} {name}: {len(found)} DVC experiments have this name "
                            f"({', '.join(c[:7] for c in found)}); give one of their commits")
    raise EmosteerError(f"{flag} {name}: neither a git revision nor a DVC experiment name "
                        "(`dvc exp list --all-commits` lists the experiments)")


def merge_base(repo: Path) -> Revision:
    """The default base: where HEAD left `main` (or `origin/main`, as a CI checkout has it)."""
    for branch in MAIN:
        if git(repo, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}", check=False):
            commit = git(repo, "merge-base", "HEAD", branch)
            return Revision(f"merge base with {branch}", commit)
    raise EmosteerError("--base: no branch main or origin/main to take the merge base with; "
                        "give --base REV")


@dataclass
class Snapshot:
    """The result files (metrics/, plots/) and params.yaml of one revision, as bytes by path."""

    revision: Revision
    files: dict[str, bytes]
    _parsed: dict[str, Any] = field(default_factory=dict, repr=False)

    def json(self, path: str) -> Any:
        """A JSON file's content (None when the revision lacks it)."""
        if path not in self._parsed:
            raw = self.files.get(path)
            try:
                self._parsed[path] = None if raw is None else json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise EmosteerError(f"{path} at {self.revision.label}: not valid JSON") from None
        return self._parsed[path]

    def params(self) -> dict[str, Any]:
        raw = self.files.get(PARAMS)
        try:
            loaded = yaml.safe_load(raw) if raw is not None else {}
        except yaml.YAMLError:
            raise EmosteerError(f"{PARAMS} at {self.revision.label}: not valid YAML") from None
        return loaded if isinstance(loaded, dict) else {}

    def results(self) -> dict[str, bytes]:
        return {p: b for p, b in self.files.items() if p != PARAMS}


def snapshot(repo: Path, revision: Revision) -> Snapshot:
    """Read metrics/**, plots/** and params.yaml at a commit (`git cat-file`) or in the workspace."""
    if revision.commit is None:
        paths = [p.relative_to(repo).as_posix() for root in RESULT_ROOTS for p in (repo / root).rglob("*")
                 if p.is_file()] + ([PARAMS] if (repo / PARAMS).is_file() else [])
        return Snapshot(revision, {p: (repo / p).read_bytes() for p in sorted(paths) if _is_result(p)})
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "--name-only", revision.commit, "--",
                              *RESULT_ROOTS, PARAMS], cwd=repo, capture_output=True, check=True).stdout
    paths = [p for p in listing.decode().split("\0") if p and _is_result(p)]
    request = "".join(f"{revision.commit}:{p}\n" for p in paths).encode()
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=request, capture_output=True,
                         check=True).stdout
    files, pos = {}, 0
    for path in paths:  # each answer: "<oid> blob <size>\n<content>\n"
        end = out.index(b"\n", pos)
        size = int(out[pos:end].split()[2])
        files[path] = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return Snapshot(revision, files)


def _is_result(path: str) -> bool:
    """Hidden files (.gitignore, a writer's temporary file) are not results."""
    return not any(part.startswith(".") for part in path.split("/"))
