"""Reproduction's tolerance guard: holdout predictions that differ by 1e-6 are NOT a reproduction.

1e-6 is far under any loose tolerance (1e-3, 1e-4) and far above the project's 1e-9: a check that
compared loosely would call a different model the same. Tested on the comparison itself and on the
whole check of a real registered version whose recorded holdout scores are moved by 1e-6.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_training, use_workspace

from modelops.govern.reproduce import compare_predictions, reproduce_version
from modelops.store import artifacts, registry

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

MODEL = "voter_turnout_model"
SHIFT = 1e-6


def _moved(scores: np.ndarray) -> np.ndarray:
    """Every score moved by SHIFT, toward the middle so it stays a probability."""
    return np.where(scores > 0.5, scores - SHIFT, scores + SHIFT)


def test_a_one_in_a_million_difference_is_not_equal():
    rng = np.random.default_rng(3)
    recorded = pd.DataFrame(
        {"key": rng.permutation(np.arange(1, 201, dtype=np.uint64)), "score": rng.uniform(size=200)}
    )
    rebuilt = recorded.assign(score=_moved(recorded["score"].to_numpy()))
    out = compare_predictions(recorded, rebuilt)  # the default tolerance: the one reproduce_version uses
    assert out["equal"] is False
    assert out["differing_rows"] == out["rows"] == 200 and out["bitwise_equal_rows"] == 0
    assert out["max_abs_diff"] == pytest.approx(SHIFT, rel=1e-6)
    assert out["tolerance"] < SHIFT
    one = compare_predictions(
        recorded, recorded.assign(score=np.r_[_moved(recorded["score"].to_numpy()[:1]), recorded["score"][1:]])
    )
    assert one["equal"] is False and one["differing_rows"] == 1  # one row is enough


@pytest.fixture(scope="module")
def version(tmp_path_factory, settings):
    """voter_turnout v1 trained on 3000 synthetic voters in a module-wide workspace."""
    patch = pytest.MonkeyPatch()
    root = use_workspace(patch, tmp_path_factory.mktemp("guard-reproduce") / "workspace")
    done = run_training(settings, "voter_turnout", "guard-repro-v1", rows=3000)
    yield {"root": root, "version": done["outcome"]["version"]}
    patch.undo()


def test_a_version_whose_recorded_scores_moved_by_one_in_a_million_is_not_reproduced(version, monkeypatch):
    use_workspace(monkeypatch, version["root"])
    v = version["version"]
    control = reproduce_version(MODEL, v)  # untouched record: the rebuild matches, so only the shift can fail it
    assert control["reproduced"] is True, control["reason"]

    run_id = registry.model_version(MODEL, v).run_id
    recorded = artifacts.load_holdout_predictions(run_id)
    artifacts.log_holdout_predictions(run_id, recorded["key"], _moved(recorded["score"].to_numpy()))
    moved = artifacts.load_holdout_predictions(run_id)
    assert np.abs(moved["score"] - recorded["score"]).max() == pytest.approx(SHIFT, rel=1e-6)  # the record changed

    verdict = reproduce_version(MODEL, v)
    assert verdict["reproduced"] is False
    predictions = verdict["predictions"]
    assert predictions["equal"] is False and predictions["differing_rows"] == predictions["rows"] == len(recorded)
    assert predictions["max_abs_diff"] == pytest.approx(SHIFT, rel=1e-3)
    assert verdict["metrics"]["equal"] is True  # the metrics alone would not have caught it
    assert verdict["reason"].startswith(f"predictions differ: {len(recorded)} of {len(recorded)} rows beyond")
    assert registry.model_version(MODEL, v).tags["modelops.reproduced"] == "false"
