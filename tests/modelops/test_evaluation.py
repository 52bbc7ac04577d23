"""Unit tests for modelops.evaluate.evaluation: metrics, baselines, slices, the paired bootstrap and the gate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelops.config.models import EvaluationSection
from modelops.config.settings import METRICS, DatasetSpec
from modelops.evaluate.evaluation import (
    RuleBaseline,
    Verdict,
    compare_slices,
    decide_promotion,
    fit_rule_baseline,
    paired_bootstrap,
    rule_holds,
    slice_metrics,
)
from modelops.stats.drift import slice_labels
from modelops.stats.metrics import compute_metrics, higher_is_better, improvement, score

AGE_BINS = [18, 30, 45, 65, 120]


def _spec(protected):
    return DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        numeric=("x",),
        protected=protected,
    )


# --- metrics ---------------------------------------------------------------------------------


def test_perfect_classifier_scores_perfectly():
    y = np.array([0, 0, 1, 1])
    proba = np.array([0.1, 0.2, 0.8, 0.9])
    metrics = compute_metrics(y, proba, 0.5)
    assert set(metrics) == set(METRICS)
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert metrics[name] == pytest.approx(1.0), name
    assert metrics["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)


def test_inverted_classifier_has_zero_auc_and_accuracy():
    y = np.array([0, 0, 1, 1])
    proba = np.array([0.9, 0.8, 0.2, 0.1])
    assert score("roc_auc", y, proba) == pytest.approx(0.0)
    assert score("accuracy", y, proba, 0.5) == pytest.approx(0.0)


def test_threshold_is_half_inclusive():
    y = np.array([0, 1, 1, 0])
    proba = np.array([0.5, 0.5, 0.49, 0.1])
    # predictions: 1, 1, 0, 0
    assert score("accuracy", y, proba, 0.5) == pytest.approx(0.5)
    assert score("precision", y, proba, 0.5) == pytest.approx(0.5)
    assert score("recall", y, proba, 0.5) == pytest.approx(0.5)


def test_precision_without_positive_predictions_is_zero_not_an_error():
    y = np.array([0, 1, 1])
    proba = np.array([0.1, 0.2, 0.3])
    assert score("precision", y, proba, 0.5) == 0.0
    assert score("f1", y, proba, 0.5) == 0.0
    assert score("recall", y, proba, 0.5) == 0.0


def test_roc_auc_of_a_single_class_is_nan():
    assert math.isnan(score("roc_auc", np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])))


def test_log_loss_clips_certain_wrong_predictions_to_a_finite_value():
    value = score("log_loss", np.array([1, 0]), np.array([0.0, 1.0]))
    assert math.isfinite(value)
    assert value == pytest.approx(-math.log(1e-6), rel=1e-4)


def test_scores_accept_plain_lists():
    assert score("accuracy", [0, 1], [0.2, 0.7], 0.5) == pytest.approx(1.0)


def test_compute_metrics_of_empty_input_is_all_nan():
    metrics = compute_metrics(np.array([], dtype=int), np.array([], dtype=float), 0.5)
    assert list(metrics) == list(METRICS)
    assert all(math.isnan(v) for v in metrics.values())


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("accuracy", True),
        ("precision", True),
        ("recall", True),
        ("f1", True),
        ("roc_auc", True),
        ("log_loss", False),
        ("brier", False),
    ],
)
def test_metric_direction(metric, expected):
    assert higher_is_better(metric) is expected


def test_unknown_metric_is_rejected():
    with pytest.raises(KeyError):
        higher_is_better("mystery")


def test_improvement_sign_follows_metric_direction():
    assert improvement("roc_auc", 0.8, 0.7) == pytest.approx(0.1)
    assert improvement("roc_auc", 0.7, 0.8) == pytest.approx(-0.1)
    assert improvement("log_loss", 0.3, 0.5) == pytest.approx(0.2)
    assert improvement("log_loss", 0.5, 0.3) == pytest.approx(-0.2)
    assert improvement("brier", 0.1, 0.1) == 0.0


# --- baselines -------------------------------------------------------------------------------


@pytest.fixture
def four_rows():
    return pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "b": ["x", "y", "x", "x"]})


def test_rule_holds_combines_conditions_with_and(four_rows):
    rule = {"all": [{"column": "a", "op": ">=", "value": 2}, {"column": "b", "op": "==", "value": "x"}]}
    assert rule_holds(four_rows, rule).tolist() == [False, False, True, False]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("==", 2, [False, True, False, False]),
        ("!=", 2, [True, False, True, False]),  # a comparison never holds on a missing value
        ("not_in", [1.0, 3.0], [False, True, False, False]),
        ("in", [1.0, 3.0], [True, False, True, False]),
        ("is_null", None, [False, False, False, True]),
        ("not_null", None, [True, True, True, False]),
        (">", 2, [False, False, True, False]),
        (">=", 2, [False, True, True, False]),
        ("<", 2, [True, False, False, False]),
        ("<=", 2, [True, True, False, False]),
        ("in", [1, 3], [True, False, True, False]),
    ],
)
def test_rule_holds_each_operator(four_rows, op, value, expected):
    assert rule_holds(four_rows, {"all": [{"column": "a", "op": op, "value": value}]}).tolist() == expected


def test_empty_rule_holds_everywhere(four_rows):
    holds = rule_holds(four_rows, {})
    assert holds.dtype == bool
    assert holds.tolist() == [True] * 4


def test_fit_rule_baseline_rates_by_hand():
    frame = pd.DataFrame({"x": [1, 1, 1, 0, 0, 0, 0, 0]})
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    rule = {"all": [{"column": "x", "op": "==", "value": 1}]}
    baseline = fit_rule_baseline(frame, y, rule)
    assert baseline.rate_if_true == pytest.approx(2 / 3)
    assert baseline.rate_if_false == pytest.approx(1 / 5)
    new = pd.DataFrame({"x": [0, 1, 5]})
    np.testing.assert_allclose(baseline.predict_proba(new), [1 / 5, 2 / 3, 1 / 5])


def test_fit_rule_baseline_falls_back_to_base_rate_when_rule_never_holds():
    frame = pd.DataFrame({"x": [0, 0, 0, 0]})
    y = np.array([1, 0, 0, 0])
    baseline = fit_rule_baseline(frame, y, {"all": [{"column": "x", "op": ">", "value": 10}]})
    assert baseline.rate_if_true == pytest.approx(0.25)
    assert baseline.rate_if_false == pytest.approx(0.25)


def test_rule_baseline_is_frozen():
    baseline = RuleBaseline(rule={}, rate_if_true=0.7, rate_if_false=0.2)
    with pytest.raises(AttributeError):
        baseline.rate_if_true = 0.9


# --- slices ----------------------------------------------------------------------------------


def test_slice_labels_bins_left_closed():
    frame = pd.DataFrame({"age": [18, 29, 30, 44, 45, 64, 65, 119]})
    labels = slice_labels(frame, "age", AGE_BINS).tolist()
    assert labels == ["[18, 30)", "[18, 30)", "[30, 45)", "[30, 45)", "[45, 65)", "[45, 65)", "[65, 120)", "[65, 120)"]


def test_slice_labels_without_bins_uses_values_and_marks_missing():
    frame = pd.DataFrame({"gender": ["F", None, "M", np.nan]})
    assert slice_labels(frame, "gender", None).tolist() == ["F", "missing", "M", "missing"]


def test_slice_labels_are_always_strings_even_for_missing_binned_values():
    frame = pd.DataFrame({"age": [20.0, np.nan, 70.0]})
    labels = slice_labels(frame, "age", AGE_BINS).tolist()
    assert all(isinstance(label, str) for label in labels), labels


def test_slice_metrics_by_hand():
    frame = pd.DataFrame({"gender": ["F", "F", "M", "M", "M"], "age": [20, 40, 25, 50, 70], "x": 0})
    y = np.array([1, 0, 1, 0, 1])
    proba = np.array([0.9, 0.2, 0.6, 0.4, 0.8])
    spec = _spec({"gender": None, "age": AGE_BINS, "not_in_frame": None})
    out = slice_metrics(frame, y, proba, spec, "accuracy", 0.5)
    assert set(out) == {"gender", "age"}
    assert out["gender"]["F"] == {"rows": 2, "positive_rate": 0.5, "mean_score": pytest.approx(0.55), "accuracy": 1.0}
    assert out["gender"]["M"]["rows"] == 3
    assert out["gender"]["M"]["positive_rate"] == pytest.approx(2 / 3)
    assert set(out["age"]) == {"[18, 30)", "[30, 45)", "[45, 65)", "[65, 120)"}
    assert out["age"]["[18, 30)"]["rows"] == 2


def test_slice_metrics_accounts_for_every_row_when_a_binned_value_is_missing():
    frame = pd.DataFrame({"age": [20.0, 40.0, np.nan, 70.0, 25.0, 50.0], "x": 0})
    y = np.array([0, 1, 1, 1, 0, 0])
    proba = np.array([0.1, 0.9, 0.8, 0.7, 0.3, 0.2])
    out = slice_metrics(frame, y, proba, _spec({"age": AGE_BINS}), "accuracy", 0.5)
    assert sum(stats["rows"] for stats in out["age"].values()) == len(frame)


def _slices(values, rows=200, metric="roc_auc"):
    return {"gender": {label: {"rows": rows, metric: value} for label, value in values.items()}}


def test_compare_slices_flags_only_losses_beyond_tolerance():
    challenger = _slices({"F": 0.70, "M": 0.78, "X": 0.80})
    champion = _slices({"F": 0.80, "M": 0.80, "X": 0.75})
    worse = compare_slices(challenger, champion, "roc_auc", tolerance=0.03, min_rows=100)
    assert [w["slice"] for w in worse] == ["F"]
    assert worse[0]["column"] == "gender"
    assert worse[0]["rows"] == 200
    assert worse[0]["change"] == pytest.approx(-0.10)
    assert worse[0]["challenger"] == 0.70
    assert worse[0]["champion"] == 0.80


def test_compare_slices_ignores_small_slices():
    challenger = _slices({"F": 0.50}, rows=99)
    champion = _slices({"F": 0.90}, rows=500)
    assert compare_slices(challenger, champion, "roc_auc", tolerance=0.0, min_rows=100) == []
    assert len(compare_slices(challenger, champion, "roc_auc", tolerance=0.0, min_rows=99)) == 1


def test_compare_slices_skips_slices_unknown_to_the_champion_and_nan():
    challenger = {
        "gender": {"F": {"rows": 500, "roc_auc": 0.1}, "M": {"rows": 500, "roc_auc": float("nan")}},
        "race": {"a": {"rows": 500, "roc_auc": 0.1}},
    }
    champion = {"gender": {"M": {"rows": 500, "roc_auc": 0.9}}}
    assert compare_slices(challenger, champion, "roc_auc", tolerance=0.0, min_rows=1) == []


def test_compare_slices_respects_lower_is_better_metrics():
    challenger = _slices({"F": 0.60, "M": 0.40}, metric="log_loss")
    champion = _slices({"F": 0.50, "M": 0.50}, metric="log_loss")
    worse = compare_slices(challenger, champion, "log_loss", tolerance=0.05, min_rows=1)
    assert [w["slice"] for w in worse] == ["F"]
    assert worse[0]["change"] == pytest.approx(-0.10)


# --- paired bootstrap ------------------------------------------------------------------------


def _labels(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, n)


def test_paired_bootstrap_of_identical_predictions_is_exactly_zero():
    y = _labels()
    proba = np.random.default_rng(1).random(len(y))
    result = paired_bootstrap(
        y, proba, proba.copy(), "roc_auc", resamples=100, confidence=0.95, max_rows=10_000, seed=3
    )
    assert result["improvement"] == 0.0
    assert result["ci_low"] == 0.0
    assert result["ci_high"] == 0.0
    assert result["rows"] == len(y)
    assert result["resamples"] == 100


def test_paired_bootstrap_detects_a_clearly_better_model():
    y = _labels()
    better = np.where(y == 1, 0.8, 0.2) + np.random.default_rng(2).normal(0, 0.05, len(y))
    noise = np.random.default_rng(3).random(len(y))
    result = paired_bootstrap(y, better, noise, "roc_auc", resamples=200, confidence=0.95, max_rows=10_000, seed=4)
    assert result["ci_low"] > 0
    assert result["ci_low"] <= result["improvement"] <= result["ci_high"]
    reverse = paired_bootstrap(y, noise, better, "roc_auc", resamples=200, confidence=0.95, max_rows=10_000, seed=4)
    assert reverse["ci_high"] < 0


def test_paired_bootstrap_improvement_is_positive_for_a_lower_loss():
    y = _labels()
    good = np.where(y == 1, 0.9, 0.1)
    poor = np.full(len(y), 0.5)
    result = paired_bootstrap(y, good, poor, "log_loss", resamples=100, confidence=0.9, max_rows=10_000, seed=0)
    assert result["improvement"] == pytest.approx(math.log(2) + math.log(0.9))
    assert result["ci_low"] > 0


def test_paired_bootstrap_is_seeded_and_caps_rows():
    y = _labels(500)
    a = np.random.default_rng(5).random(500)
    b = np.random.default_rng(6).random(500)
    first = paired_bootstrap(y, a, b, "brier", resamples=50, confidence=0.95, max_rows=120, seed=9)
    second = paired_bootstrap(y, a, b, "brier", resamples=50, confidence=0.95, max_rows=120, seed=9)
    assert first == second
    assert first["rows"] == 120


def test_paired_bootstrap_wider_confidence_gives_wider_interval():
    y = _labels()
    a = np.random.default_rng(7).random(len(y))
    b = np.random.default_rng(8).random(len(y))
    narrow = paired_bootstrap(y, a, b, "roc_auc", resamples=200, confidence=0.5, max_rows=10_000, seed=1)
    wide = paired_bootstrap(y, a, b, "roc_auc", resamples=200, confidence=0.99, max_rows=10_000, seed=1)
    assert wide["ci_low"] < narrow["ci_low"] <= narrow["ci_high"] < wide["ci_high"]


def _drawn_diffs(y, a, b, metric, resamples, rows, seed, w=None):
    """The old way, kept as the oracle: each drawn resample scored on its own by scikit-learn (NaN dropped)."""
    draw = np.random.default_rng(seed)
    if len(y) > rows:  # the capped subset, drawn first
        keep = draw.choice(len(y), size=rows, replace=False)
        y, a, b, w = y[keep], a[keep], b[keep], None if w is None else w[keep]
    diffs = []
    for _ in range(resamples):
        idx = draw.integers(0, rows, rows)
        wi = None if w is None else w[idx]
        diffs.append(
            improvement(metric, score(metric, y[idx], a[idx], 0.5, wi), score(metric, y[idx], b[idx], 0.5, wi))
        )
    diffs = np.array(diffs)
    return diffs[~np.isnan(diffs)], improvement(metric, score(metric, y, a, 0.5, w), score(metric, y, b, 0.5, w))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("weighted", [False, True])
def test_paired_bootstrap_equals_scoring_every_drawn_resample(metric, weighted):
    # The resamples are weighted sums over the rows (`weighted_metrics`), not a scikit-learn call per resample:
    # the interval must be the one the drawn rows give when each resample is scored on its own, with ties in
    # the scores (AUC) and rows drawn twice.
    rng = np.random.default_rng(11)
    y = _labels(400)
    a = np.round(rng.random(400), 1)  # few distinct scores: many ties
    b = np.clip(a + rng.normal(0, 0.2, 400), 0.01, 0.99)
    w = rng.uniform(0.2, 3.0, 400) if weighted else None
    got = paired_bootstrap(y, a, b, metric, 60, 0.9, max_rows=300, seed=5, threshold=0.5, sample_weight=w)
    diffs, point = _drawn_diffs(y, a, b, metric, 60, 300, 5, w)
    assert got["resamples"] == 60
    assert got["ci_low"] == pytest.approx(np.quantile(diffs, 0.05), rel=1e-12, abs=1e-12)
    assert got["ci_high"] == pytest.approx(np.quantile(diffs, 0.95), rel=1e-12, abs=1e-12)
    assert got["improvement"] == point


def test_paired_bootstrap_drops_the_resamples_a_metric_is_undefined_on():
    # 8 rows, one positive: many resamples hold no positive, where ROC AUC is undefined; they are dropped, as
    # scoring each resample drops them. Precision with no positive decision counts 0 (zero_division=0).
    y = np.array([0, 0, 0, 1, 0, 0, 0, 0])
    a = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.2, 0.1, 0.3])
    b = np.array([0.3, 0.1, 0.2, 0.4, 0.6, 0.2, 0.4, 0.1])
    got = paired_bootstrap(y, a, b, "roc_auc", 200, 0.9, max_rows=8, seed=2)
    diffs, _ = _drawn_diffs(y, a, b, "roc_auc", 200, 8, 2)
    assert 0 < got["resamples"] == len(diffs) < 200
    assert got["ci_low"] == pytest.approx(np.quantile(diffs, 0.05), abs=1e-12)
    low = np.full(8, 0.2)  # never selected at 0.5 by one model
    got = paired_bootstrap(y, a, low, "precision", 100, 0.9, max_rows=8, seed=2, threshold=0.5)
    diffs, _ = _drawn_diffs(y, a, low, "precision", 100, 8, 2)
    assert got["resamples"] == 100 and got["ci_high"] == pytest.approx(np.quantile(diffs, 0.95), abs=1e-12)


# --- the gate --------------------------------------------------------------------------------

EVALUATION = EvaluationSection(
    primary_metric="roc_auc",
    floors={"roc_auc": 0.60, "accuracy": 0.55},
    baseline_margin=0.01,
    champion_margin=0.0,
    confidence=0.95,
)
GOOD = {"roc_auc": 0.80, "accuracy": 0.75}
BASELINES = {"majority": {"roc_auc": 0.5}, "rule": {"roc_auc": 0.70}}


def _by_name(verdict):
    return {c["check"]: c["passed"] for c in verdict.checks}


def test_decide_promotion_without_champion_promotes_a_passing_model():
    verdict = decide_promotion(GOOD, BASELINES, None, EVALUATION)
    assert verdict.promote is True
    assert _by_name(verdict) == {
        "floor_roc_auc": True,
        "floor_accuracy": True,
        "beats_majority": True,
        "beats_rule": True,
        "champion": True,
    }
    assert all(reason.startswith("PASS ") for reason in verdict.reasons)


def test_decide_promotion_fails_a_floor():
    verdict = decide_promotion({"roc_auc": 0.80, "accuracy": 0.50}, BASELINES, None, EVALUATION)
    assert verdict.promote is False
    assert _by_name(verdict)["floor_accuracy"] is False
    assert verdict.reasons[0].startswith("FAIL accuracy 0.5000 misses floor 0.55")


def test_decide_promotion_floor_of_a_loss_is_a_ceiling():
    evaluation = EVALUATION.model_copy(update={"floors": {"log_loss": 0.6}})
    metrics = {**GOOD, "log_loss": 0.5}
    assert _by_name(decide_promotion(metrics, BASELINES, None, evaluation))["floor_log_loss"] is True
    metrics = {**GOOD, "log_loss": 0.7}
    assert _by_name(decide_promotion(metrics, BASELINES, None, evaluation))["floor_log_loss"] is False


def test_decide_promotion_needs_the_rule_margin():
    baselines = {"majority": {"roc_auc": 0.5}, "rule": {"roc_auc": 0.795}}
    verdict = decide_promotion(GOOD, baselines, None, EVALUATION)
    assert verdict.promote is False
    assert _by_name(verdict)["beats_rule"] is False
    assert _by_name(verdict)["beats_majority"] is True


def test_decide_promotion_needs_to_beat_majority():
    baselines = {"majority": {"roc_auc": 0.80}, "rule": {"roc_auc": 0.5}}
    verdict = decide_promotion(GOOD, baselines, None, EVALUATION)
    assert _by_name(verdict)["beats_majority"] is False
    assert verdict.promote is False


def _champion(ci_low, worse=()):
    return {
        "version": 3,
        "bootstrap": {"improvement": 0.02, "ci_low": ci_low, "ci_high": 0.04},
        "worse_slices": list(worse),
    }


def test_decide_promotion_beats_champion_when_ci_low_exceeds_margin():
    verdict = decide_promotion(GOOD, BASELINES, _champion(0.001), EVALUATION)
    assert verdict.promote is True
    assert _by_name(verdict)["champion"] is True
    assert _by_name(verdict)["slices"] is True


@pytest.mark.parametrize("ci_low", [-0.01, 0.0])
def test_decide_promotion_rejects_when_ci_low_not_above_margin(ci_low):
    verdict = decide_promotion(GOOD, BASELINES, _champion(ci_low), EVALUATION)
    assert verdict.promote is False
    assert _by_name(verdict)["champion"] is False
    assert "v3" in verdict.reasons[0]


def test_decide_promotion_uses_the_configured_champion_margin():
    evaluation = EVALUATION.model_copy(update={"champion_margin": 0.01})
    verdict = decide_promotion(GOOD, BASELINES, _champion(0.005), evaluation)
    assert _by_name(verdict)["champion"] is False


def test_decide_promotion_rejects_worse_slices():
    worse = [{"column": "gender", "slice": "F", "rows": 300, "challenger": 0.7, "champion": 0.8, "change": -0.1}]
    verdict = decide_promotion(GOOD, BASELINES, _champion(0.01, worse), EVALUATION)
    assert verdict.promote is False
    assert _by_name(verdict)["slices"] is False
    assert _by_name(verdict)["champion"] is True
    assert "gender=F (-0.1000)" in verdict.reasons[0]


def test_decide_promotion_champion_error_blocks_promotion():
    champion = {"version": 7, "error": "missing column age"}
    verdict = decide_promotion(GOOD, BASELINES, champion, EVALUATION)
    assert verdict.promote is False
    assert _by_name(verdict)["champion"] is False
    assert "slices" not in _by_name(verdict)
    assert verdict.reasons[0] == "FAIL champion v7 could not be compared: missing column age"


def test_verdict_to_dict_lists_failures_first():
    verdict = Verdict(
        promote=False,
        checks=[
            {"check": "a", "passed": True, "detail": "one"},
            {"check": "b", "passed": False, "detail": "two"},
        ],
    )
    data = verdict.to_dict()
    assert data["promote"] is False
    assert data["reasons"] == ["FAIL two", "PASS one"]
    assert len(data["checks"]) == 2


def test_a_resample_whose_rows_all_weigh_nothing_measures_nothing():
    from modelops.evaluate.evaluation import weighted_metrics

    y, proba = np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.4, 0.6])
    values = weighted_metrics(y, proba, np.array([[0.0, 0, 0, 0], [1, 1, 1, 1]]), 0.5)
    assert all(np.isnan(v[0]) for v in values.values())  # not 0: compute_metrics refuses all-zero weights
    assert {k: v[1] for k, v in values.items()} == pytest.approx(compute_metrics(y, proba, 0.5))
