"""The evaluation's numerical check (ML Test Score, Monitor 5): a candidate whose scores hold a NaN, an infinity
or a value outside [0, 1], or whose judged metric is undefined, is refused with counts, never a score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelops.config.models import EvaluationSection
from modelops.config.settings import DatasetSpec
from modelops.evaluate.evaluation import NUMERIC_CHECK, decide_promotion, numeric_check
from modelops.pipelines.judging import UnstableScores, best_candidate_scores, ranked_candidates
from modelops.pipelines.training_records import CandidateResult, TrainingPlan
from modelops.stats.metrics import compute_metrics, metrics_or_nan, score_faults

EVALUATION = EvaluationSection(primary_metric="roc_auc", floors={"roc_auc": 0.60}, baseline_margin=0.01)
GOOD = {"roc_auc": 0.80}
BASELINES = {"majority": {"roc_auc": 0.5}, "rule": {"roc_auc": 0.70}}
SOUND = np.array([0.1, 0.4, 0.6, 0.9])


def test_score_faults_counts_each_kind():
    faults = score_faults(np.array([0.2, np.nan, np.inf, -np.inf, 1.5, -0.1, 1.0, 0.0]))
    assert faults == {"rows": 8, "missing": 1, "infinite": 2, "outside_unit": 2}


def test_finite_probabilities_pass():
    check = numeric_check({"holdout": SOUND, "calibration": SOUND[:3]}, GOOD, ["roc_auc"])
    assert check["check"] == NUMERIC_CHECK and check["passed"] is True
    assert "4 holdout, 3 calibration rows" in check["detail"]


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (np.array([0.1, np.nan, 0.6, np.nan]), "holdout scores: 2 NaN of 4"),
        (np.array([0.1, np.inf, 0.6, 0.9]), "holdout scores: 1 infinite of 4"),
        (np.array([0.1, 1.2, -0.3, 0.9]), "holdout scores: 2 outside [0, 1] of 4"),
    ],
)
def test_holdout_scores_that_are_not_probabilities_are_refused_with_counts(bad, said):
    check = numeric_check({"holdout": bad, "calibration": SOUND}, GOOD, ["roc_auc"])
    assert check["passed"] is False
    assert said in check["detail"] and "calibration" not in check["detail"]
    assert "1.2" not in check["detail"] and "0.3" not in check["detail"]  # counts only, never a score


def test_calibration_scores_are_judged_too():
    check = numeric_check({"holdout": SOUND, "calibration": np.array([0.5, np.nan])}, GOOD, ["roc_auc"])
    assert check["passed"] is False and "calibration scores: 1 NaN of 2" in check["detail"]


def test_an_undefined_judged_metric_is_refused():
    check = numeric_check({"holdout": SOUND}, {"roc_auc": float("nan"), "brier": 0.1}, ["roc_auc", "brier"])
    assert check["passed"] is False and "undefined (NaN) metric: roc_auc" in check["detail"]
    assert numeric_check({"holdout": SOUND}, {"roc_auc": None}, ["roc_auc"])["passed"] is False
    assert numeric_check({"holdout": SOUND}, {"roc_auc": float("nan")}, [])["passed"] is True  # not judged


def test_the_gate_refuses_an_unstable_candidate_whatever_its_metrics():
    bad = numeric_check({"holdout": np.array([0.1, 1.5])}, GOOD, ["roc_auc"])
    verdict = decide_promotion(GOOD, BASELINES, None, EVALUATION, numeric=bad)
    assert verdict.promote is False
    assert verdict.reasons[0].startswith("FAIL numerically unstable, refused: holdout scores: 1 outside [0, 1]")
    good = numeric_check({"holdout": SOUND}, GOOD, ["roc_auc"])
    passed = decide_promotion(GOOD, BASELINES, None, EVALUATION, numeric=good)
    assert passed.promote is True and passed.checks[-1]["check"] == NUMERIC_CHECK  # a pass closes the reasons


def test_metrics_of_nan_scores_are_nan_not_an_error():
    y = np.array([0, 1, 0, 1])
    assert all(np.isnan(v) for v in metrics_or_nan(y, np.array([0.1, np.nan, 0.2, 0.9]), 0.5).values())
    assert metrics_or_nan(y, SOUND, 0.5) == compute_metrics(y, SOUND, 0.5)


class NanModel:
    """A fitted binary classifier (scikit-learn's predict_proba shape) that returns NaN for rows with x < 0."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = np.where(frame["x"].to_numpy() < 0, np.nan, 0.3)
        return np.column_stack([1 - p, p])


def _candidate(tmp_path, calibration: pd.DataFrame):
    spec = DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        numeric=("x",),
    )
    path = tmp_path / "calibration.parquet"
    calibration.to_parquet(path)
    plan = TrainingPlan("toy", {"calibration": str(path)}, "", {}, {}, "run", {}, {}, ("nan_model",))
    best = CandidateResult("nan_model", "run", "models:/x", 0.5, {})
    return spec, plan, best


def test_a_model_scoring_nan_on_calibration_rows_is_refused_before_any_figure(tmp_path):
    holdout = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    spec, plan, best = _candidate(tmp_path, pd.DataFrame({"x": [1.0, -7.25, -8.5, 2.0], "y": [0, 1, 1, 0]}))
    with pytest.raises(UnstableScores, match=r"candidate nan_model numerically unstable") as refused:
        best_candidate_scores(NanModel(), best, plan, spec, holdout)
    assert "calibration scores: 2 NaN of 4" in str(refused.value) and "7.25" not in str(refused.value)


def test_a_model_with_finite_scores_passes_its_scores_on(tmp_path):
    holdout = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    spec, plan, best = _candidate(tmp_path, pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}))
    scores = best_candidate_scores(NanModel(), best, plan, spec, holdout)
    assert list(scores) == ["holdout", "calibration"] and np.allclose(scores["holdout"], 0.3)


def test_a_candidate_with_an_undefined_selection_score_ranks_last():
    def result(name, selection):
        return CandidateResult(name, f"run-{name}", f"models:/{name}", selection, {}).to_xcom()

    results = [result("nan_scores", float("nan")), result("weak", 0.6), result("lost", None), result("strong", 0.8)]
    assert [r.candidate for r in ranked_candidates(results, "roc_auc")][:2] == ["strong", "weak"]
    assert [r.candidate for r in ranked_candidates(results, "log_loss")][:2] == ["weak", "strong"]  # lower is better
