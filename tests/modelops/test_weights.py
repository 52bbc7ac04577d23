"""Row weights: config refusal, validation, weighted metrics with known answers, weighted training, monitoring.

The survey examples are built so the answer is known: a population of two groups whose outcome rates differ
(group A: 70% of the population, rate 0.2; group B: 30%, rate 0.6; population rate 0.32), and a sample that
over-represents B (40% A, 60% B), weighted by population share / sample share (A 1.75, B 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelops.collect.sources import BatchRef, content_hash
from modelops.config.checks import ConfigError
from modelops.config.models import DatasetWeights, EvaluationSection
from modelops.config.settings import DatasetSpec, parse_settings
from modelops.evaluate.evaluation import (
    bootstrap_metrics,
    fit_rule_baseline,
    paired_bootstrap,
    weighted_figures,
    weighted_metrics,
)
from modelops.monitor.labelled import weighted_window_metrics
from modelops.stats.metrics import compute_metrics, score
from modelops.stats.weights import (
    WeightError,
    effective_rows,
    electorate_weights,
    survey_weights,
    weighted_mean,
)
from modelops.train.lineage import weighting
from modelops.train.splits import key_columns
from modelops.train.training import build_pipeline, fit_pipeline, train_candidate
from modelops.validate.validation import validate_frame

POPULATION_RATE = 0.7 * 0.2 + 0.3 * 0.6  # 0.32
SAMPLE_SHARE = {"A": 0.4, "B": 0.6}
WEIGHT = {"A": 0.7 / 0.4, "B": 0.3 / 0.6}
RATE = {"A": 0.2, "B": 0.6}


def _survey(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """The over-sampled survey: group, a noise feature, the outcome drawn at the group's rate, and the weight."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) < SAMPLE_SHARE["A"] * n, "A", "B")
    rng.shuffle(group)
    rate = np.where(group == "A", RATE["A"], RATE["B"])
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "noise": rng.normal(size=n),
            "group": group,
            "y": (rng.random(n) < rate).astype(int),
            "w": np.where(group == "A", WEIGHT["A"], WEIGHT["B"]),
        }
    )


def _spec(use: str | None) -> DatasetSpec:
    """Features: noise only (the group is not a feature), so a model can only learn the base rate."""
    return DatasetSpec(
        name="poll",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        id_column="id",
        numeric=("noise",),
        weights=None if use is None else DatasetWeights(column="w", use=use),
    )


# --- (a) a survey estimate with known weights ------------------------------------------------------


def test_weighted_outcome_rate_recovers_the_population_and_the_unweighted_one_misses():
    sample = _survey()
    weights = survey_weights(sample, "w")

    weighted = weighted_mean(sample["y"], weights, 0.95)
    plain = weighted_mean(sample["y"], None, 0.95)

    assert weighted.ci_low <= POPULATION_RATE <= weighted.ci_high
    assert not plain.ci_low <= POPULATION_RATE <= plain.ci_high
    assert plain.value == pytest.approx(0.4 * 0.2 + 0.6 * 0.6, abs=0.03)  # the sample's own mix, 0.44
    # Kish: (sum w)^2 / sum w^2 = 4000^2 / (1600 * 1.75^2 + 2400 * 0.5^2)
    assert weighted.effective_rows == pytest.approx(4000**2 / (1600 * 1.75**2 + 2400 * 0.25))
    assert effective_rows(np.ones(10)) == 10


def test_weighted_mean_interval_is_the_linearised_one():
    x, w = np.array([0.0, 1.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0, 4.0])
    mean = 3 / 8
    se = np.sqrt(4 / 3 * np.sum((w * (x - mean)) ** 2)) / 8
    est = weighted_mean(x, w, 0.95)
    assert est.value == pytest.approx(mean)
    assert est.ci_high - est.value == pytest.approx(1.959964 * se, rel=1e-5)


# --- (b) weighted metrics on a 6-row example, computed by hand -----------------------------------

Y6 = np.array([1, 0, 1, 0, 1, 0])
P6 = np.array([0.9, 0.4, 0.3, 0.2, 0.8, 0.6])
W6 = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0])


def test_weighted_metrics_equal_the_hand_computed_values():
    weighted = compute_metrics(Y6, P6, 0.5, W6)
    # decisions at 0.5: 1 0 0 0 1 1; right on rows 0, 1, 3, 4 (weights 1 + 2 + 1 + 3 of 9)
    assert weighted["accuracy"] == pytest.approx(7 / 9)
    # predicted positive: rows 0, 4 (positive, weights 1 + 3) and 5 (negative, weight 1); positives weigh 5
    assert weighted["precision"] == pytest.approx(4 / 5)
    assert weighted["recall"] == pytest.approx(4 / 5)
    assert weighted["f1"] == pytest.approx(4 / 5)
    # pairs weigh 5 x 4 = 20; ordered right: 0.9 over all (1 x 4), 0.3 over 0.2 (1 x 1), 0.8 over all (3 x 4)
    assert weighted["roc_auc"] == pytest.approx(17 / 20)
    assert weighted["brier"] == pytest.approx((0.01 + 2 * 0.16 + 0.49 + 0.04 + 3 * 0.04 + 0.36) / 9)
    losses = -np.log([0.9, 0.6, 0.3, 0.8, 0.8, 0.4])
    assert weighted["log_loss"] == pytest.approx(np.sum(W6 * losses) / 9)
    plain = compute_metrics(Y6, P6, 0.5)
    assert plain["accuracy"] == pytest.approx(4 / 6) and plain["roc_auc"] == pytest.approx(7 / 9)
    # the bootstrap's matrix form agrees with the scikit-learn one under the same weights
    for name, values in weighted_metrics(Y6, P6, W6, 0.5).items():
        assert values[0] == pytest.approx(weighted[name]), name


def test_unit_weights_give_the_unweighted_metrics_and_bad_weights_are_refused():
    assert compute_metrics(Y6, P6, 0.5, np.ones(6)) == pytest.approx(compute_metrics(Y6, P6, 0.5))
    for bad, said in (
        (np.array([1, 1, 1, np.nan, 1, 1.0]), "1 of 6 are missing, infinite or negative"),
        (np.array([1, 1, 1, -7.5, 1, 1.0]), "1 of 6 are missing, infinite or negative"),
        (np.zeros(6), "all 6 are zero"),
        (np.ones(5), "5 weights for 6 rows"),
    ):
        with pytest.raises(ValueError, match=said) as caught:
            score("accuracy", Y6, P6, 0.5, bad)
        assert "7.5" not in str(caught.value)


def test_electorate_weights_judge_a_voter_file_model_on_the_expected_electorate():
    turnout = electorate_weights(np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0]))  # only rows 0, 2, 4 vote
    on_voters = compute_metrics(Y6, P6, 0.5, turnout)
    assert on_voters["recall"] == pytest.approx(2 / 3)  # 0.9 and 0.8 decided positive, 0.3 not
    assert on_voters["precision"] == pytest.approx(1.0)  # the false positive (row 5) does not vote
    assert np.isnan(on_voters["roc_auc"])  # every voter is a positive: no pair to rank
    with pytest.raises(WeightError, match=r"turnout scores: 2 of 3 are missing or outside \[0, 1\]"):
        electorate_weights(np.array([0.5, 1.2, np.nan]))


def test_weighted_bootstrap_intervals_and_paired_test():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    proba = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    w = rng.uniform(0.5, 3.0, 300)
    boot = bootstrap_metrics(y, proba, 200, 0.9, 10_000, 0, threshold=0.5, sample_weight=w)
    assert boot["roc_auc"]["value"] == pytest.approx(compute_metrics(y, proba, 0.5, w)["roc_auc"])
    assert boot["roc_auc"]["ci_low"] < boot["roc_auc"]["value"] < boot["roc_auc"]["ci_high"]
    # unit weights: exactly the unweighted bootstrap (same draws, same values)
    assert bootstrap_metrics(y, proba, 50, 0.9, 10_000, 0, threshold=0.5, sample_weight=np.ones(300)) == (
        bootstrap_metrics(y, proba, 50, 0.9, 10_000, 0, threshold=0.5)
    )
    paired = paired_bootstrap(y, proba, np.full(300, 0.5), "roc_auc", 50, 0.9, 10_000, 0, 0.5, w)
    assert paired["improvement"] == pytest.approx(compute_metrics(y, proba, 0.5, w)["roc_auc"] - 0.5)
    figures = weighted_figures(
        y, proba, w, {"majority": np.full(300, 0.5)}, EvaluationSection(primary_metric="roc_auc"), 0, threshold=0.5
    )
    assert figures["metrics"]["accuracy"] == pytest.approx(compute_metrics(y, proba, 0.5, w)["accuracy"])
    assert figures["baselines"]["majority"]["roc_auc"] == pytest.approx(0.5)
    assert figures["positive_rate"]["value"] == pytest.approx(np.average(y, weights=w))


def test_rule_baseline_rates_are_weighted_when_fitted_with_weights():
    sample = _survey()
    rule = {"all": [{"column": "noise", "op": ">", "value": 100}]}  # never holds: both rates are the base rate
    weighted = fit_rule_baseline(sample, sample["y"].to_numpy(), rule, survey_weights(sample, "w"))
    plain = fit_rule_baseline(sample, sample["y"].to_numpy(), rule)
    assert weighted.rate_if_false == pytest.approx(POPULATION_RATE, abs=0.03)
    assert plain.rate_if_false == pytest.approx(sample["y"].mean())


# --- (c) training with survey weights ---------------------------------------------------------------


def _training(**overrides):
    search = {"n_configs": 2, "min_rows": 400, "max_rows": 4000, "factor": 2, "safety_stop_seconds": 600}
    return {"seed": 3, "max_fit_rows": 250000, "calibration_method": "sigmoid", "search": search, **overrides}


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("logistic_regression", {"C": 1.0}),
        ("hist_gradient_boosting", {"max_iter": 20}),
        ("random_forest", {"n_estimators": 20, "min_samples_leaf": 50}),
    ],
)
def test_every_family_fits_with_sample_weights_toward_the_population_rate(family, params):
    sample = _survey()
    X, y = sample[["noise"]], sample["y"].to_numpy()
    spec = _spec("survey")
    plain = fit_pipeline(build_pipeline(spec, family, params, 0), X, y, None).predict_proba(X)[:, 1]
    weighted = fit_pipeline(build_pipeline(spec, family, params, 0), X, y, survey_weights(sample, "w"))
    mean_weighted = weighted.predict_proba(X)[:, 1].mean()
    assert mean_weighted == pytest.approx(POPULATION_RATE, abs=0.04)
    assert plain.mean() == pytest.approx(0.44, abs=0.04)
    assert mean_weighted < plain.mean() - 0.08  # the weights pull toward the under-sampled, lower-rate group


def test_a_survey_weighted_candidate_predicts_the_population_rate_through_search_cap_and_calibration():
    train, calibration = _survey(4000, seed=1), _survey(2000, seed=2)
    args = ("logistic_regression", train, calibration)
    space = {"C": {"log_uniform": [0.01, 1.0]}}
    # max_fit_rows below the train rows: the stratified cap keeps the rows' weights
    options = _training(max_fit_rows=1500)
    survey = train_candidate(args[0], _spec("survey"), *args[1:], options, space, "log_loss", threshold=0.5)
    plain = train_candidate(args[0], _spec(None), *args[1:], options, space, "log_loss", threshold=0.5)
    scores = survey.pipeline.predict_proba(calibration[["noise"]])[:, 1]
    plain_scores = plain.pipeline.predict_proba(calibration[["noise"]])[:, 1]
    assert scores.mean() == pytest.approx(POPULATION_RATE, abs=0.03)
    assert plain_scores.mean() == pytest.approx(0.44, abs=0.03)
    assert survey.fit_rows == plain.fit_rows == 1500
    # the calibration metrics that rank candidates are weighted too
    w_cal = survey_weights(calibration, "w")
    expected = compute_metrics(calibration["y"].to_numpy(), scores, 0.5, w_cal)
    assert survey.calibration_metrics["log_loss"] == pytest.approx(expected["log_loss"])


def test_use_unweighted_trains_exactly_as_without_weights():
    train, calibration = _survey(3000, seed=5), _survey(1000, seed=6)
    space = {"C": {"log_uniform": [0.01, 1.0]}}
    runs = [
        train_candidate(
            "logistic_regression",
            _spec(use),
            train,
            calibration,
            _training(max_fit_rows=2000),
            space,
            "roc_auc",
            threshold=0.5,
        )
        for use in (None, "unweighted")
    ]
    X = calibration[["noise"]]
    np.testing.assert_array_equal(runs[0].pipeline.predict_proba(X), runs[1].pipeline.predict_proba(X))
    assert runs[0].calibration_metrics == runs[1].calibration_metrics
    assert runs[0].search.trace == runs[1].search.trace


def test_a_missing_weight_stops_survey_training_naming_the_column():
    train = _survey(500, seed=1)
    train.loc[[3, 7], "w"] = np.nan
    with pytest.raises(WeightError, match=r"weight column 'w': 2 of 500 rows have no usable weight \(2 missing\)"):
        train_candidate(
            "logistic_regression",
            _spec("survey"),
            train,
            _survey(200),
            _training(),
            {"C": {"choice": [1.0]}},
            "roc_auc",
            threshold=0.5,
        )


def test_the_weighting_is_part_of_the_identity_and_the_lineage_tag():
    digests = {}
    for use in (None, "survey", "unweighted"):
        settings = _settings_with({"column": "w", "use": use} if use else None)
        digests[use] = settings.digest_for("poll")
        assert weighting(settings.dataset("poll")) == (f"{use}:w" if use else "none")
    assert len(set(digests.values())) == 3
    assert digests[None] == parse_settings(_settings_raw()).digest_for("poll")  # no key, no change
    spec = _settings_with({"column": "w", "use": "survey"}).dataset("poll")
    assert "w" in spec.kept_columns and "w" not in spec.features
    assert spec.null_limit("w") == (0.0, False)
    assert key_columns(spec) == ["x"]  # no id: a row's content, weight aside


# --- (d) refusals: config and validation --------------------------------------------------------------


def _settings_raw() -> dict:
    return {
        "training": {"seed": 1, "candidates": ["logistic_regression"]},
        "search_spaces": {"logistic_regression": {"C": {"log_uniform": [0.1, 1.0]}}},
        "evaluation": {"primary_metric": "roc_auc"},
        "datasets": {
            "poll": {
                "source": {"kind": "file", "path": "p.csv"},
                "target": "y",
                "numeric": ["x"],
                "permitted_uses": ["research"],
            }
        },
    }


def _settings_with(weights, **dataset):
    raw = _settings_raw()
    raw["datasets"]["poll"].update(weights=weights, **dataset)
    return parse_settings(raw)


@pytest.mark.parametrize(
    ("weights", "dataset", "message"),
    [
        ({"column": "w"}, {}, r"datasets\.poll\.weights\.use: required, one of \['survey', 'unweighted'\] \(missing\)"),
        ({"column": "w", "use": "yes please"}, {}, r"weights\.use: required, .*got 'yes please'"),
        ({"use": "survey"}, {}, r"datasets\.poll\.weights: missing required key 'column'"),
        ({"column": "w", "use": "survey", "scale": 2}, {}, r"datasets\.poll\.weights: unknown key 'scale'"),
        ({"column": "x", "use": "survey"}, {}, r"weights\.column: 'x' is also the spec's features"),
        ({"column": "y", "use": "survey"}, {}, r"weights\.column: 'y' is also the spec's target/id/time"),
        (
            {"column": "w", "use": "survey"},
            {"validation": {"null_fraction": {"w": 0.1}}},
            r"validation\.null_fraction\.w: the weight column allows no missing value",
        ),
    ],
)
def test_config_refuses_weights_without_an_explicit_use_or_in_another_role(weights, dataset, message):
    with pytest.raises(ConfigError, match=message):
        _settings_with(weights, **dataset)


def test_validation_refuses_missing_and_non_positive_weights_naming_the_column_and_count():
    spec = DatasetSpec(
        name="poll",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        numeric=("x",),
        weights=DatasetWeights(column="w", use="survey"),
    )
    frame = pd.DataFrame({"x": np.arange(20.0), "y": [0, 1] * 10, "w": np.full(20, 1.5)})
    ref = BatchRef(
        dataset="poll", path="", content_hash=content_hash(frame), rows=20, columns=["x", "y", "w"], source={}
    )
    report, _ = validate_frame(frame, spec, ref)
    assert report.success

    bad = frame.copy()
    bad.loc[[2, 5], "w"] = np.nan
    bad.loc[[7], "w"] = -13.25
    bad.loc[[8, 9, 11], "w"] = 0.0
    bad.loc[[12], "w"] = np.inf
    report, _ = validate_frame(bad, spec, ref)
    assert not report.success
    failed = {f["expectation"]: f for f in report.failed if f.get("column") == "w"}
    assert failed["expect_column_values_to_not_be_null"]["unexpected_count"] == 2
    assert failed["expect_column_values_to_be_between"]["unexpected_count"] == 5  # -13.25, three zeros, inf
    assert "13.25" not in str(report.failed) and "inf" not in str(failed["expect_column_values_to_be_between"])
    with pytest.raises(WeightError, match=r"'w': 7 of 20 rows .*2 missing, 1 infinite, 4 zero or negative"):
        survey_weights(bad, "w")


# --- monitoring: a labelled window's weighted metrics, beside ----------------------------------------


def test_a_labelled_window_reports_weighted_metrics_when_it_carries_the_weights():
    spec = _spec("survey")
    window = pd.DataFrame({"y": Y6, "w": W6})
    figures = weighted_window_metrics(spec, window, Y6, P6, 0.5)
    assert figures["metrics"]["accuracy"] == pytest.approx(7 / 9)
    assert figures["source"] == "survey weights (column 'w')"
    assert weighted_window_metrics(spec, window.drop(columns="w"), Y6, P6, 0.5) is None
    assert weighted_window_metrics(_spec(None), window, Y6, P6, 0.5) is None
    window.loc[1, "w"] = np.nan
    broken = weighted_window_metrics(spec, window, Y6, P6, 0.5)
    assert "metrics" not in broken and "1 of 6 rows have no usable weight (1 missing)" in broken["error"]


def _window_report(weighted: dict | None) -> dict:
    labelled = {
        "primary": "roc_auc",
        "metrics": {"roc_auc": 0.75, "accuracy": 0.70},
        "weighted_metrics": weighted,
        "reference": 0.76,
        "reference_metrics": {"roc_auc": 0.76, "accuracy": 0.70},
        "floors": {},
        "below_floors": {},
        "relative_drop": 0.01,
        "performance_breach": False,
        "judged": True,
        "delivered_rows": 900,
        "unlabelled_rows": 0,
        "nonfinite_scores": 0,
        "slices": {},
        "by_source": {},
    }
    return {
        "dataset": "poll",
        "window_id": "s-001",
        "rows": 900,
        "model_name": "poll_model",
        "model_version": "1",
        "thresholds": {"max_relative_drop": 0.05},
        "served": None,
        "labelled": labelled,
        "labelled_status": "window s-001",
        "estimate": None,
        "data_drift": None,
        "signals": [],
        "reasons": [],
    }


def test_the_window_page_shows_the_weighted_metrics_beside_the_unweighted(tmp_path):
    from modelops.present import window_page

    plot = {"profile": {"numeric": {}, "categorical": {}}, "frame": pd.DataFrame({"a": [1.0]}), "scores": None}
    decision = {"action": "none", "why": "no breach"}
    weighted = {"source": "survey weights (column 'w')", "metrics": {"roc_auc": 0.71, "accuracy": 0.66}}
    page = window_page.render_window_report(
        _window_report({**weighted, "effective_rows": 512.4}), decision, plot, tmp_path / "a"
    ).read_text()
    assert "Weighted by survey weights (column &#39;w&#39;)" in page
    assert "roc_auc 0.710 (unweighted 0.750); accuracy 0.660 (unweighted 0.700)" in page
    assert "worth 512 equally weighted rows" in page
    refused = {
        "source": "survey weights (column 'w')",
        "error": "weight column 'w': 3 of 900 rows have no usable weight",
    }
    page = window_page.render_window_report(_window_report(refused), decision, plot, tmp_path / "b").read_text()
    assert "not computed: weight column" in page
    plain = window_page.render_window_report(_window_report(None), decision, plot, tmp_path / "c").read_text()
    assert "Weighted by" not in plain


def test_a_monitoring_window_may_come_without_the_weight_column_but_never_with_bad_weights():
    from modelops.validate.suite import WindowLimits

    spec = DatasetSpec(
        name="poll",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        numeric=("x",),
        weights=DatasetWeights(column="w", use="survey"),
    )
    limits = WindowLimits(min_rows=1, max_null={"x": 0.0, "w": 0.0})
    window = pd.DataFrame({"x": np.arange(10.0)})

    def checked(frame):
        ref = BatchRef(
            dataset="poll", path="", content_hash=content_hash(frame), rows=len(frame), columns=list(frame), source={}
        )
        return validate_frame(frame, spec, ref, limits)[0]

    assert checked(window).success
    carried = window.assign(w=[1.0] * 9 + [0.0])
    report = checked(carried)
    assert not report.success
    (failure,) = [f for f in report.failed if f.get("column") == "w"]
    assert failure["expectation"] == "expect_column_values_to_be_between" and failure["unexpected_count"] == 1
    assert checked(window.assign(w=2.0)).success


def test_a_logged_spec_with_weights_reads_back_with_the_same_identity():
    from modelops.config.settings import settings_from_resolved
    from modelops.govern.card_facts import spec_from_resolved

    settings = _settings_with({"column": "w", "use": "survey"})
    resolved = settings.resolved("poll")
    assert resolved["dataset"]["weights"] == {"column": "w", "use": "survey"}
    again = settings_from_resolved(resolved)
    assert again.dataset("poll").weights == settings.dataset("poll").weights
    assert again.digest_for("poll") == settings.digest_for("poll")
    assert spec_from_resolved(resolved["dataset"]).survey_weighted
    plain = parse_settings(_settings_raw())
    assert spec_from_resolved(plain.resolved("poll")["dataset"]).weights is None
