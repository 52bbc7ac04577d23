"""Specs reviewed and checked in: a production training runs from committed code and committed parameters files.

`review_specs` looks at the project checkout and at every parameters file in force (`config_paths`):

- in a git checkout, the tree must have no uncommitted change to a tracked file (what `git_commit` calls
  `-dirty`), and each parameters file must be tracked by git (in this repository or in its own) and
  unchanged since the last commit;
- without a `.git` (the docker image), the image must say at build which commit it holds
  (`MODELOPS_GIT_COMMIT`) and that the tree was clean (`MODELOPS_GIT_DIRTY=false`); a parameters file
  outside the image's code (a mounted file) must sit in a git checkout of its own, checked as above.

`require_reviewed_specs` is the training's first step: under the production profile a problem is a
`SpecRefused` (deterministic: the same tree is refused again, so the task fails without retry); under the
demo profile it logs a warning and the run goes on, carrying the review (`lineage_tags`) on its MLflow runs
and version. Problems name paths only (never contents), and at most `SHOWN` of them.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from modelops.config.profile import is_production
from modelops.config.settings import REPO_ROOT, config_paths
from modelops.core.records import XComRecord
from modelops.core.tags import Tag

log = logging.getLogger(__name__)

COMMIT_ENV = "MODELOPS_GIT_COMMIT"  # the commit an image was built from (there is no .git in it)
DIRTY_ENV = "MODELOPS_GIT_DIRTY"  # `false` when that tree had no uncommitted change (set at build)
SHOWN = 10  # dirty paths named in a message; the rest are counted
_UNKNOWN = {"", "unknown"}


class SpecRefused(ValueError):
    """The production profile refuses to train from unreviewed specs: deterministic, retrying cannot help."""


@dataclass(frozen=True)
class SpecReview(XComRecord):
    """What `review_specs` found: `reviewed` when nothing is wrong, else the problems (paths only)."""

    reviewed: bool
    problems: tuple[str, ...] = field(default_factory=tuple)
    source: str = "git"  # git (a checkout) or image (no .git: the build's declaration)

    def lineage_tags(self) -> dict[str, str]:
        """The run's and version's tags: `modelops.spec_reviewed` true/false and what was wrong."""
        return {
            Tag.SPEC_REVIEWED: str(self.reviewed).lower(),
            Tag.SPEC_REVIEW: "; ".join(self.problems)[:4000] if self.problems else "clean",
        }

    def message(self) -> str:
        """One line naming every problem."""
        return "specs not reviewed and checked in: " + "; ".join(self.problems)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """`git args` in `cwd` (None when git cannot run there at all)."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def _toplevel(folder: Path) -> Path | None:
    """The root of the git checkout holding `folder`, or None."""
    done = _git(folder, "rev-parse", "--show-toplevel") if folder.is_dir() else None
    return Path(done.stdout.strip()).resolve() if done is not None and done.returncode == 0 else None


def _named(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def _dirty_paths(root: Path) -> list[str] | None:
    """Tracked files changed since HEAD (staged or not), relative to `root`; None when there is no commit."""
    if (head := _git(root, "rev-parse", "--verify", "--quiet", "HEAD")) is None or head.returncode != 0:
        return None
    done = _git(root, "diff", "--name-only", "-z", "HEAD", "--")
    if done is None or done.returncode != 0:
        return None
    return sorted(p for p in done.stdout.split("\0") if p)


def _tree_problems(root: Path) -> list[str]:
    dirty = _dirty_paths(root)
    if dirty is None:
        return [f"the checkout {root} has no commit to train from"]
    if dirty:
        return [f"the checkout {root} has uncommitted changes in {len(dirty)} file(s): {_named(dirty)}"]
    return []


def _config_problem(path: Path, trees: dict[Path, list[str] | None]) -> str | None:
    """Why a parameters file is not checked in (not in git, not tracked, changed since the commit), or None."""
    root = _toplevel(path.parent)
    if root is None:
        return f"parameters file {path} is not in a git checkout (not under version control)"
    relative = path.resolve().relative_to(root).as_posix()
    tracked = _git(root, "ls-files", "--error-unmatch", "--", relative)
    if tracked is None or tracked.returncode != 0:
        return f"parameters file {path} is not tracked by git"
    if root not in trees:
        trees[root] = _dirty_paths(root)
    dirty = trees[root]
    if dirty is None or relative in dirty:
        return f"parameters file {path} has uncommitted changes"
    return None


def _image_problems() -> list[str]:
    """The build's declaration, when the code has no .git (the docker image)."""
    commit = os.environ.get(COMMIT_ENV, "").strip()
    dirty = os.environ.get(DIRTY_ENV, "").strip().lower()
    problems = []
    if commit.lower() in _UNKNOWN:
        problems.append(f"the code has no .git and {COMMIT_ENV} does not say which commit it is (set it at build)")
    if dirty != "false":
        problems.append(
            f"the code has no .git and {DIRTY_ENV} is {dirty or 'unset'}, not false: the image was not built "
            "from a clean checkout"
        )
    return problems


def review_specs(paths: list[Path] | None = None, repo: Path = REPO_ROOT) -> SpecReview:
    """Whether the code (`repo`) and the parameters files (`paths`; default: those in force) are checked in."""
    paths = [Path(p).resolve() for p in (paths if paths is not None else config_paths())]
    repo = Path(repo).resolve()
    root = _toplevel(repo)
    problems = _tree_problems(root) if root is not None else _image_problems()
    trees: dict[Path, list[str] | None] = {}
    for path in paths:
        if root is None and path.is_relative_to(repo):
            continue  # baked into the image: the build's declaration covers it
        if problem := _config_problem(path, trees):
            problems.append(problem)
    return SpecReview(not problems, tuple(problems), "git" if root is not None else "image")


def require_reviewed_specs(paths: list[Path] | None = None, repo: Path = REPO_ROOT) -> SpecReview:
    """The review, refused (`SpecRefused`) under the production profile; under demo a warning, and the review."""
    review = review_specs(paths, repo)
    if review.reviewed:
        return review
    if is_production():
        raise SpecRefused(
            f"{review.message()}. The production profile trains only from committed code and committed "
            "parameters files: commit (or revert) them and run again"
        )
    log.warning("%s (the demo profile trains anyway; the run is tagged %s=false)", review.message(), Tag.SPEC_REVIEWED)
    return review
