"""Every hyperparameter tuned: preprocessing keys in the search, the calibration method chosen per candidate,
the scoring budget counted in tree levels (modelops.train.training, features, calibration, cost)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from test_training import SPEC, toy_frame

from modelops.train.calibration import choose_calibration
from modelops.train.cost import tree_levels_per_row
from modelops.train.training import MODEL_STEP, build_pipeline, successive_halving, train_candidate

PREP_SPACE = {
    "C": {"log_uniform": [0.01, 10.0]},
    "prep__min_frequency": {"choice": [1, 1000]},
    "prep__imputer_strategy": {"choice": ["mean", "median"]},
}
SEARCH = {"n_configs": 6, "min_rows": 100, "max_rows": 800, "factor": 2, "safety_stop_seconds": 600}
TRAINING = {"seed": 5, "max_fit_rows": 10_000, "search": SEARCH}


def _frame(n=800, seed=0):
    frame = toy_frame(n, seed)
    frame.loc[frame.index[::7], "x2"] = np.nan
    return frame


def _train(space=PREP_SPACE, name="logistic_regression", methods=("sigmoid", "isotonic"), frame=None):
    frame = _frame() if frame is None else frame
    training = {**TRAINING, "calibration_method": list(methods)}
    return train_candidate(name, SPEC, frame.iloc[:600], frame.iloc[600:], training, space, "roc_auc", threshold=0.5)


# --- the search samples the preprocessing, the pipeline honours it ---------------------------------------


def test_the_search_samples_preprocessing_keys_and_the_winner_is_built_with_them():
    trained = _train()
    chosen = trained.params
    assert set(chosen) == {"C", "prep__min_frequency", "prep__imputer_strategy"}
    tried = {
        (row["params"]["prep__min_frequency"], row["params"]["prep__imputer_strategy"]) for row in trained.search.trace
    }
    assert len(tried) > 1  # the draws vary the preprocessing, not only C
    features = trained.pipeline.named_steps["features"]
    assert features.named_transformers_["categorical"].min_frequency == chosen["prep__min_frequency"]
    assert features.named_transformers_["numeric"]["impute"].strategy == chosen["prep__imputer_strategy"]
    assert trained.search.space == PREP_SPACE and trained.search_record()["best_params"] == chosen


def test_min_frequency_groups_the_rare_categories():
    frame = pd.DataFrame(
        {"x1": np.arange(20.0), "x2": np.zeros(20), "color": ["red"] * 12 + ["blue"] * 6 + ["green"] * 2}
    )
    X, y = frame, np.arange(20) % 2

    def columns(min_frequency):
        pipeline = build_pipeline(SPEC, "logistic_regression", {"prep__min_frequency": min_frequency}, 0).fit(X, y)
        return [c for c in pipeline.named_steps["features"].get_feature_names_out() if c.startswith("color")]

    assert columns(1) == ["color_blue", "color_green", "color_red"]
    assert columns(5) == ["color_blue", "color_red", "color_infrequent_sklearn"]  # green (2 rows) grouped
    assert columns(10) == ["color_red", "color_infrequent_sklearn"]  # blue (6) and green (2) grouped


@pytest.mark.parametrize(("strategy", "fill"), [("median", 2.5), ("mean", 4.0)])
def test_the_imputer_strategy_sets_the_fill_value(strategy, fill):
    frame = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 10.0, np.nan], "x2": [0.0, 1.0, 0.0, 1.0, 0.0], "color": ["red"] * 5})
    params = {"prep__imputer_strategy": strategy}
    pipeline = build_pipeline(SPEC, "logistic_regression", params, 0).fit(frame, np.array([0, 1, 0, 1, 1]))
    imputer = pipeline.named_steps["features"].named_transformers_["numeric"]["impute"]
    assert imputer.statistics_[0] == pytest.approx(fill)
    assert imputer.transform(frame[["x1", "x2"]])[4, 0] == pytest.approx(fill)  # the gap gets that value


def test_without_prep_keys_the_pipeline_keeps_the_defaults():
    pipeline = build_pipeline(SPEC, "logistic_regression", {"C": 1.0}, 0)
    parts = {name: part for name, part, _ in pipeline.named_steps["features"].transformers}
    assert parts["categorical"].min_frequency == 5
    assert parts["numeric"].named_steps["impute"].strategy == "median"


# --- calibration: chosen on held-out calibration rows ------------------------------------------------


def _calibration_data(n, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 1.5
    # stairs: flat plateaus and sharp steps, which no sigmoid of the model's score follows; otherwise the
    # logistic model is right and a sigmoid is all the calibration needs
    stairs = np.where(x < -1, 0.02, np.where(x < 1, 0.5, 0.98))
    p = stairs if kind == "stairs" else 1 / (1 + np.exp(-1.5 * x))
    return x.reshape(-1, 1), (rng.random(n) < p).astype(int)


@pytest.mark.parametrize(("kind", "expected"), [("stairs", "isotonic"), ("logistic", "sigmoid")])
def test_the_calibration_method_is_chosen_by_held_out_log_loss(kind, expected):
    X, y = _calibration_data(2000, kind, 0)
    model = LogisticRegression().fit(X, y)
    X_cal, y_cal = _calibration_data(2000, kind, 1)
    choice = choose_calibration(model, X_cal, y_cal, None, ["sigmoid", "isotonic"], seed=3)
    assert choice["method"] == expected and choice["folds"] == 3
    other = "sigmoid" if expected == "isotonic" else "isotonic"
    assert choice["log_loss"][expected] < choice["log_loss"][other]
    assert choose_calibration(model, X_cal, y_cal, None, ["sigmoid", "isotonic"], seed=3) == choice


def test_train_candidate_calibrates_with_the_chosen_method_and_a_single_method_is_kept():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x1": rng.normal(size=3000) * 1.5, "x2": np.zeros(3000), "color": ["red"] * 3000})
    p = np.where(frame["x1"] < -1, 0.02, np.where(frame["x1"] < 1, 0.5, 0.98))
    frame["y"] = (rng.random(3000) < p).astype(int)
    space = {"C": {"log_uniform": [0.1, 1.0]}}
    chosen = train_candidate(
        "logistic_regression",
        SPEC,
        frame.iloc[:1500],
        frame.iloc[1500:],
        {**TRAINING, "calibration_method": ["sigmoid", "isotonic"]},
        space,
        "roc_auc",
        threshold=0.5,
    )
    assert chosen.calibration_choice["method"] == "isotonic"
    assert chosen.pipeline.named_steps[MODEL_STEP].method == "isotonic"
    fixed = train_candidate(
        "logistic_regression",
        SPEC,
        frame.iloc[:1500],
        frame.iloc[1500:],
        {**TRAINING, "calibration_method": "sigmoid"},
        space,
        "roc_auc",
        threshold=0.5,
    )
    assert fixed.calibration_choice == {"method": "sigmoid", "log_loss": {}, "folds": 0}
    assert fixed.pipeline.named_steps[MODEL_STEP].method == "sigmoid"


def test_same_data_and_config_give_the_same_choices():
    space = {**PREP_SPACE, "C": {"log_uniform": [0.01, 10.0]}}
    first, second = _train(space), _train(space)
    assert first.params == second.params and first.search.trace == second.search.trace
    assert first.calibration_choice == second.calibration_choice and first.calibration_choice["log_loss"]
    frame = _frame()
    X = frame[list(SPEC.features)]
    assert np.array_equal(first.pipeline.predict_proba(X), second.pipeline.predict_proba(X))


# --- the scoring budget, counted ----------------------------------------------------------------------


def test_tree_levels_count_the_depth_a_row_passes_through():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    stump = RandomForestClassifier(n_estimators=3, max_depth=1, bootstrap=False, random_state=0).fit(X, y)
    assert tree_levels_per_row(stump) == pytest.approx(3.0)  # three stumps: one test each
    deep = RandomForestClassifier(n_estimators=2, max_depth=2, bootstrap=False, random_state=0).fit(X, y)
    assert tree_levels_per_row(deep) == pytest.approx(4.0)  # two full depth-2 trees
    boosted = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=2, early_stopping=False).fit(X, y)
    assert tree_levels_per_row(boosted) == pytest.approx(5.0)  # five one-split trees
    assert tree_levels_per_row(LogisticRegression().fit(X, y)) == 0.0


def _boosting_search(max_tree_levels):
    from threadpoolctl import threadpool_limits

    frame = _frame(1200, seed=3)
    space = {
        "max_iter": {"choice": [3, 40]},
        "max_leaf_nodes": {"choice": [15]},
        "learning_rate": {"log_uniform": [0.05, 0.1]},
        "early_stopping": {"choice": [False]},
    }
    search = {**SEARCH, "n_configs": 4, "max_rounds": 2, "max_tree_levels": max_tree_levels}
    with threadpool_limits(1):  # tiny fits: OpenMP threads would only wait on each other
        return successive_halving(
            SPEC,
            "hist_gradient_boosting",
            frame[list(SPEC.features)],
            frame["y"].to_numpy(),
            space,
            search,
            "roc_auc",
            1,
        )


def test_configurations_over_the_scoring_budget_are_excluded_and_said_so():
    result = _boosting_search(max_tree_levels=20)  # 3 trees of <= 15 leaves stay under 20 levels; 60 trees do not
    over = [row for row in result.trace if row["tree_levels"] > 20]
    assert over and all(row["excluded"] == "over the scoring budget" for row in over)
    assert all("excluded" not in row for row in result.trace if row["tree_levels"] <= 20)
    assert result.best_params["max_iter"] == 3 and result.max_tree_levels == 20.0
    unbounded = _boosting_search(max_tree_levels=None)
    assert not any("excluded" in row for row in unbounded.trace) and unbounded.best_params["max_iter"] == 40


def test_a_space_entirely_over_the_budget_is_refused_naming_the_budget():
    with pytest.raises(ValueError, match=r"hist_gradient_boosting: .*training.search.max_tree_levels \(1\)"):
        _boosting_search(max_tree_levels=1)


def _forest(max_tree_levels):
    """Two-tree forests: min_samples_leaf 3 wins the search, whose 225-row fits stay shallow (<= 10 levels);
    its final fit on 2,500 rows grows to about 18 levels, min_samples_leaf 30's to about 12."""
    frame = _frame(3000, seed=4)
    space = {
        "n_estimators": {"choice": [2]},
        "min_samples_leaf": {"choice": [3, 30]},
        "max_features": {"choice": [None]},
    }
    search = {"n_configs": 4, "min_rows": 100, "max_rows": 300, "factor": 2, "max_tree_levels": max_tree_levels}
    training = {"seed": 5, "max_fit_rows": 10_000, "calibration_method": "sigmoid", "search": search}
    return train_candidate(
        "random_forest", SPEC, frame.iloc[:2500], frame.iloc[2500:], training, space, "roc_auc", threshold=0.5
    )


def test_a_final_fit_over_the_budget_gives_way_to_the_next_best_configuration():
    unbounded = _forest(None)
    assert unbounded.params["min_samples_leaf"] == 3 and unbounded.tree_levels > 16 and not unbounded.over_budget_fits
    bounded = _forest(14)
    assert bounded.search.best_params["min_samples_leaf"] == 3  # within the budget on the search's rows
    assert all(row["tree_levels"] <= 14 for row in bounded.search.trace)
    assert bounded.params["min_samples_leaf"] == 30 and bounded.tree_levels <= 14
    (over,) = bounded.over_budget_fits
    assert over["params"]["min_samples_leaf"] == 3 and over["tree_levels"] == pytest.approx(unbounded.tree_levels)
    assert bounded.search_record()["best_params"] == bounded.params
    with pytest.raises(ValueError, match=r"random_forest: the final fit of every configuration the search kept"):
        _forest(5)
