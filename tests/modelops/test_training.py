"""Unit tests for modelops.train.training: estimators, config sampling, successive halving and candidate fits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from modelops.config.settings import DatasetSpec
from modelops.train.training import make_estimator, sample_configs, successive_halving, train_candidate

SPEC = DatasetSpec(
    name="toy",
    description="",
    source={"kind": "file", "path": "unused.csv"},
    target="y",
    positive_class=1,
    numeric=("x1", "x2"),
    categorical=("color",),
)
LOGISTIC_SPACE = {"C": {"log_uniform": [0.001, 10.0]}}
FOREST_SPACE = {"n_estimators": {"choice": [10, 20]}, "max_depth": {"choice": [2, 4]}}


def toy_frame(n=600, seed=0):
    """The toy spec's rows: two numbers and a colour drive the outcome (test_tuning uses them too)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    logit = 2.0 * frame["x1"] - 1.0 * frame["x2"] + (frame["color"] == "red") * 0.8
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _search(**overrides):
    search = {"n_configs": 4, "min_rows": 60, "max_rows": 600, "factor": 2, "safety_stop_seconds": 600}
    return {**search, **overrides}


def _halve(frame=None, space=LOGISTIC_SPACE, metric="roc_auc", seed=11, **search):
    frame = toy_frame() if frame is None else frame
    return successive_halving(
        SPEC,
        "logistic_regression",
        frame[list(SPEC.features)],
        frame["y"].to_numpy(),
        space,
        _search(**search),
        metric,
        seed,
    )


# --- estimators and configs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "cls"),
    [
        ("logistic_regression", {"C": 0.5}, LogisticRegression),
        ("hist_gradient_boosting", {"learning_rate": 0.1}, HistGradientBoostingClassifier),
        ("random_forest", {"n_estimators": 5}, RandomForestClassifier),
    ],
)
def test_make_estimator_builds_the_named_model_with_params_and_seed(name, params, cls):
    estimator = make_estimator(name, params, seed=13)
    assert isinstance(estimator, cls)
    fitted = estimator.get_params()
    for key, value in params.items():
        assert fitted[key] == value
    assert fitted["random_state"] == 13


def test_make_estimator_lets_the_search_space_override_a_default():
    # a capped max_iter (bounded scoring cost) replaces the default cap instead of clashing with it
    boosted = make_estimator("hist_gradient_boosting", {"max_iter": 40, "max_leaf_nodes": 7}, seed=1).get_params()
    assert (boosted["max_iter"], boosted["max_leaf_nodes"], boosted["early_stopping"]) == (40, 7, True)
    assert make_estimator("hist_gradient_boosting", {}, seed=1).get_params()["max_iter"] == 300
    assert make_estimator("logistic_regression", {"max_iter": 50}, seed=1).get_params()["max_iter"] == 50
    assert make_estimator("random_forest", {"n_jobs": 2}, seed=1).get_params()["n_jobs"] == 2


def test_make_estimator_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown candidate 'svm'"):
        make_estimator("svm", {}, seed=0)


def test_sample_configs_is_deterministic_and_within_ranges():
    space = {
        "lr": {"log_uniform": [0.01, 1.0]},
        "leaves": {"choice": [15, 31, 63]},
        "mode": {"choice": ["a", "b"]},
    }
    first = sample_configs(space, 20, seed=5)
    assert first == sample_configs(space, 20, seed=5)
    assert first != sample_configs(space, 20, seed=6)
    assert 1 <= len(first) <= 20
    for config in first:
        assert set(config) == {"lr", "leaves", "mode"}
        assert 0.01 <= config["lr"] <= 1.0
        assert isinstance(config["lr"], float)
        assert config["leaves"] in (15, 31, 63)
        assert config["mode"] in ("a", "b")
    assert {c["leaves"] for c in first} == {15, 31, 63}


def test_sample_configs_log_uniform_covers_orders_of_magnitude():
    configs = sample_configs({"C": {"log_uniform": [0.001, 1000.0]}}, 200, seed=0)
    values = np.array([c["C"] for c in configs])
    assert len(values) == 200
    # log-uniform: about half the draws fall below the geometric midpoint 1.0
    assert 0.35 < (values < 1.0).mean() < 0.65
    assert values.min() >= 0.001
    assert values.max() <= 1000.0


def test_sample_configs_drops_duplicate_draws():
    configs = sample_configs({"depth": {"choice": [3]}, "kind": {"choice": ["x", "y"]}}, 10, seed=1)
    assert sorted(c["kind"] for c in configs) == ["x", "y"]


def test_sample_configs_rejects_unknown_distributions():
    with pytest.raises(ValueError, match="needs log_uniform or choice"):
        sample_configs({"C": {"uniform": [0, 1]}}, 2, seed=0)


# --- successive halving ----------------------------------------------------------------------


def test_successive_halving_is_deterministic():
    first, second = _halve(), _halve()
    assert first.best_params == second.best_params
    assert first.best_score == second.best_score
    assert first.trace == second.trace


def test_successive_halving_grows_rows_and_shrinks_survivors_by_factor():
    result = _halve()
    rounds = sorted({row["round"] for row in result.trace})
    assert rounds == list(range(result.rounds_completed))
    counts = [sum(row["round"] == r for row in result.trace) for r in rounds]
    rows = [next(row["rows"] for row in result.trace if row["round"] == r) for r in rounds]
    # 600 rows -> 450 in the search pool (25% validation): 60, 120, 240 rows for 4, 2, 1 configs
    assert result.configs_evaluated == 4
    assert counts == [4, 2, 1]
    assert rows == [60, 120, 240]
    assert result.rounds_completed == 3
    assert result.stopped_by_budget is False
    for earlier, later in itertools.pairwise(counts):
        assert later == math.ceil(earlier / 2)


def test_successive_halving_keeps_the_best_configs_each_round():
    result = _halve()
    for r in range(result.rounds_completed - 1):
        scored = sorted((row for row in result.trace if row["round"] == r), key=lambda row: -row["roc_auc"])
        kept = [row["params"] for row in scored[: math.ceil(len(scored) / 2)]]
        survivors = [row["params"] for row in result.trace if row["round"] == r + 1]
        assert sorted(map(str, survivors)) == sorted(map(str, kept))
    last = [row for row in result.trace if row["round"] == result.rounds_completed - 1]
    assert result.best_params == last[0]["params"]
    assert result.best_score == last[0]["roc_auc"]


def test_successive_halving_rows_stop_at_the_pool_size():
    result = _halve(n_configs=8, min_rows=100, factor=3)
    rows = [row["rows"] for row in result.trace]
    assert rows == sorted(rows)
    assert max(rows) == 450
    assert result.trace[-1]["rows"] == 450


def test_successive_halving_zero_budget_stops_after_the_first_round():
    result = _halve(safety_stop_seconds=0)
    assert result.stopped_by_budget is True
    assert result.rounds_completed == 1
    assert len(result.trace) == 4
    assert {row["round"] for row in result.trace} == {0}
    best_first_round = max(row["roc_auc"] for row in result.trace)
    assert result.best_score == best_first_round


def test_successive_halving_budget_is_a_count_of_rounds():
    result = _halve(n_configs=8, min_rows=60, factor=2, max_rounds=2)
    assert result.rounds_completed == 2
    assert result.stopped_by_budget is False
    again = _halve(n_configs=8, min_rows=60, factor=2, max_rounds=2)
    assert again.best_params == result.best_params and again.trace == result.trace


@pytest.mark.parametrize(("metric", "pick"), [("roc_auc", max), ("log_loss", min)])
def test_successive_halving_single_round_picks_by_metric_direction(metric, pick):
    result = _halve(metric=metric, min_rows=10_000)  # whole pool in round one: a single round
    assert result.rounds_completed == 1
    assert result.best_score == pick(row[metric] for row in result.trace)


def test_successive_halving_caps_the_search_sample():
    result = _halve(max_rows=200, min_rows=50)
    # 200 rows capped -> 150 in the pool
    assert max(row["rows"] for row in result.trace) == 150


# --- train_candidate -------------------------------------------------------------------------


def _training(**overrides):
    return {
        "seed": 3,
        "max_fit_rows": 10_000,
        "calibration_method": "sigmoid",
        "search": _search(n_configs=3, min_rows=100),
        **overrides,
    }


def test_train_candidate_probabilities_are_valid_and_reproducible():
    train, calibration, holdout = toy_frame(600, seed=1), toy_frame(200, seed=2), toy_frame(200, seed=3)
    args = ("logistic_regression", SPEC, train, calibration, _training(), LOGISTIC_SPACE, "roc_auc")
    first, second = train_candidate(*args, threshold=0.5), train_candidate(*args, threshold=0.5)
    proba = first.pipeline.predict_proba(holdout[list(SPEC.features)])
    assert proba.shape == (200, 2)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba, second.pipeline.predict_proba(holdout[list(SPEC.features)]))
    assert first.params == second.params
    assert first.name == "logistic_regression"
    assert first.params == first.search.best_params
    assert first.fit_rows == 600
    assert first.fit_seconds >= 0
    assert first.calibration_metrics["roc_auc"] > 0.75  # the signal is strong and learnable


def test_train_candidate_caps_fit_rows_and_ignores_extra_columns():
    train = toy_frame(600, seed=1)
    train["unrelated"] = "noise"
    result = train_candidate(
        "random_forest",
        SPEC,
        train,
        toy_frame(200, seed=2),
        _training(max_fit_rows=300),
        FOREST_SPACE,
        "roc_auc",
        threshold=0.5,
    )
    assert result.fit_rows == 300
    assert result.params["n_estimators"] in (10, 20)
    assert result.params["max_depth"] in (2, 4)
    proba = result.pipeline.predict_proba(toy_frame(50, seed=4))[:, 1]
    assert ((proba >= 0) & (proba <= 1)).all()
    assert set(result.calibration_metrics) >= {"roc_auc", "log_loss", "brier", "accuracy"}


def test_train_candidate_changes_with_the_seed():
    train, calibration = toy_frame(600, seed=1), toy_frame(200, seed=2)
    a = train_candidate(
        "random_forest", SPEC, train, calibration, _training(seed=1), FOREST_SPACE, "roc_auc", threshold=0.5
    )
    b = train_candidate(
        "random_forest", SPEC, train, calibration, _training(seed=2), FOREST_SPACE, "roc_auc", threshold=0.5
    )
    holdout = toy_frame(100, seed=5)
    assert not np.array_equal(a.pipeline.predict_proba(holdout), b.pipeline.predict_proba(holdout))


def test_a_run_note_stays_within_what_airflow_keeps():
    from modelops.pipelines.training_summary import RUN_NOTE_LIMIT, render_run_note

    report = {
        "primary_metric": "roc_auc",
        "champion": None,
        "ranking": [{"holdout": {"roc_auc": 0.8}}],
        "verdict": {"reasons": ["a reason " * 200] * 3},
    }
    outcome = {"model_name": "m", "version": "1", "promote": True, "alias": "champion"}
    note = render_run_note(report, outcome, None)
    assert len(note) == RUN_NOTE_LIMIT and note.endswith("…") and note.startswith("**PROMOTE**")
