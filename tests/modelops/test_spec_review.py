"""Specs reviewed and checked in: production refuses a dirty tree or a parameters file outside git, by path;
the demo warns, trains, and tags the run; a clean checkout (or a clean, known image) passes."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from conftest import run_training

from modelops.config.profile import PROFILE_ENV
from modelops.core.tags import Tag
from modelops.train.spec_review import (
    COMMIT_ENV,
    DIRTY_ENV,
    SpecRefused,
    SpecReview,
    require_reviewed_specs,
    review_specs,
)

SECRET = "C: {log_uniform: [0.01, 10.0]}"  # a value of the file: never in a message


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A real checkout: code and a parameters file, committed."""
    root = tmp_path / "project"
    (root / "include" / "config").mkdir(parents=True)
    (root / "include" / "code.py").write_text("VALUE = 1\n")
    _config(root).write_text(f"search_spaces:\n  logistic_regression:\n    {SECRET}\n")
    _git(root, "init", "-q")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "specs")
    return root


def _config(repo: Path) -> Path:
    return repo / "include" / "config" / "modelops.yaml"


def test_clean_checkout_passes_in_production(repo, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "production")
    review = require_reviewed_specs([_config(repo)], repo)
    assert review.reviewed and review.problems == () and review.source == "git"
    assert review.lineage_tags() == {Tag.SPEC_REVIEWED: "true", Tag.SPEC_REVIEW: "clean"}


def test_production_refuses_a_modified_config_naming_it(repo, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "production")
    _config(repo).write_text(_config(repo).read_text() + "  # edited, not reviewed\n")
    with pytest.raises(SpecRefused) as refused:
        require_reviewed_specs([_config(repo)], repo)
    message = str(refused.value)
    assert f"parameters file {_config(repo)} has uncommitted changes" in message
    assert "uncommitted changes in 1 file(s): include/config/modelops.yaml" in message
    assert SECRET not in message and "edited" not in message  # paths only, never contents


def test_production_refuses_an_untracked_config_and_a_config_outside_git(repo, tmp_path, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "production")
    untracked = repo / "include" / "config" / "local.yaml"
    untracked.write_text("default_dataset: voter_turnout\n")
    outside = tmp_path / "elsewhere" / "mine.yaml"
    outside.parent.mkdir()
    outside.write_text("default_dataset: voter_turnout\n")
    with pytest.raises(SpecRefused) as refused:
        require_reviewed_specs([_config(repo), untracked, outside], repo)
    message = str(refused.value)
    assert f"parameters file {untracked} is not tracked by git" in message
    assert f"parameters file {outside} is not in a git checkout" in message
    assert "uncommitted changes" not in message  # the committed file and the tracked tree are clean


def test_a_dirty_tree_is_refused_with_its_paths_counted_when_many(repo, monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "production")
    for i in range(12):
        (repo / "include" / f"extra_{i:02d}.py").write_text("")
    _git(repo, "add", ".")  # staged, not committed
    (repo / "include" / "code.py").write_text("VALUE = 2\n")
    with pytest.raises(SpecRefused, match=r"uncommitted changes in 13 file\(s\): include/code\.py, .* and 3 more"):
        require_reviewed_specs([_config(repo)], repo)


def test_demo_warns_and_goes_on(repo, monkeypatch, caplog):
    monkeypatch.setenv(PROFILE_ENV, "demo")
    (repo / "include" / "code.py").write_text("VALUE = 2\n")
    with caplog.at_level(logging.WARNING, logger="modelops.train.spec_review"):
        review = require_reviewed_specs([_config(repo)], repo)
    assert not review.reviewed
    assert review.lineage_tags()[Tag.SPEC_REVIEWED] == "false"
    assert "include/code.py" in review.lineage_tags()[Tag.SPEC_REVIEW]
    assert any("specs not reviewed" in r.getMessage() and "include/code.py" in r.getMessage() for r in caplog.records)


def test_image_without_git_needs_a_known_commit_and_a_clean_build(tmp_path, monkeypatch):
    code = tmp_path / "image"  # no .git, as in the docker image
    (code / "include" / "config").mkdir(parents=True)
    baked = code / "include" / "config" / "modelops.yaml"
    baked.write_text("{}\n")
    monkeypatch.setenv(PROFILE_ENV, "production")
    monkeypatch.delenv(COMMIT_ENV, raising=False)
    monkeypatch.delenv(DIRTY_ENV, raising=False)
    with pytest.raises(SpecRefused) as refused:
        require_reviewed_specs([baked], code)
    assert COMMIT_ENV in str(refused.value) and f"{DIRTY_ENV} is unset" in str(refused.value)
    monkeypatch.setenv(COMMIT_ENV, "0123abc")
    monkeypatch.setenv(DIRTY_ENV, "true")
    with pytest.raises(SpecRefused, match=f"{DIRTY_ENV} is true, not false"):
        require_reviewed_specs([baked], code)
    monkeypatch.setenv(DIRTY_ENV, "false")
    assert require_reviewed_specs([baked], code).source == "image"
    mounted = tmp_path / "mounted.yaml"  # a file outside the image's code, in no checkout
    mounted.write_text("{}\n")
    assert review_specs([baked, mounted], code).problems == (
        f"parameters file {mounted} is not in a git checkout (not under version control)",
    )


def test_demo_training_from_unreviewed_specs_is_tagged_and_summarized(repo, workspace, settings, monkeypatch):
    from modelops.pipelines.training_summary import render_summary
    from modelops.store import registry, tracking

    monkeypatch.setenv(PROFILE_ENV, "demo")
    _config(repo).write_text(_config(repo).read_text() + "\n")
    review = require_reviewed_specs([_config(repo)], repo).to_xcom()
    done = run_training(settings, "voter_turnout", "unreviewed", rows=2000, spec_review=review)
    plan = done["plan"]
    tags = tracking.run_record(plan["parent_run_id"])["tags"]
    assert tags[Tag.SPEC_REVIEWED] == "false" and "modelops.yaml has uncommitted changes" in tags[Tag.SPEC_REVIEW]
    version = registry.model_version(done["spec"].model_name, done["outcome"]["version"])
    assert version.tags[Tag.SPEC_REVIEWED] == "false"
    summary = render_summary(
        done["batch"].to_xcom(), done["validation"].to_xcom(), plan, done["report"], done["outcome"]
    )
    assert "WARNING   spec not reviewed" in summary and "modelops.yaml has uncommitted changes" in summary


def test_review_crosses_xcom():
    review = SpecReview(False, ("a", "b"), "image")
    assert SpecReview.from_xcom(review.to_xcom()) == review
