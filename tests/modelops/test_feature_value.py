"""Does every feature earn its place, and what does each cost? Small frames built here, with known answers.

`driver` sets the outcome, `noise` does not: the drop-one check must keep the first and flag the
second, the same way on every run. `zip` (hundreds of levels) costs the compiled scoring path more
time and memory than the plain number `cheap`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelops.config.models import EvaluationSection
from modelops.config.settings import DatasetSpec
from modelops.evaluate.evaluation import decide_promotion, paired_improvements
from modelops.evaluate.feature_value import (
    _preprocessed,
    _refit_scores,
    _unfitted_estimator,
    drop_one,
    useless_summary,
)
from modelops.govern.card_doc import Doc
from modelops.govern.card_features import feature_value_section
from modelops.score.fastpath import ColumnMeter, compile_pipeline
from modelops.score.feature_cost import feature_costs
from modelops.stats.metrics import improvement, score
from modelops.train.training import build_pipeline


def _spec(numeric: tuple[str, ...], categorical: tuple[str, ...] = ()) -> DatasetSpec:
    return DatasetSpec(
        name="t", description="", source={}, target="y", positive_class=1, numeric=numeric, categorical=categorical
    )


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "driver": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "town": rng.choice(["a", "b", "c"], n),
        }
    )
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-2.0 * frame["driver"]))).astype(int)
    return frame


def _calibrated(spec: DatasetSpec, family: str, train: pd.DataFrame, calibration: pd.DataFrame, params=None):
    """A pipeline shaped as training makes it: preprocessing, then the model calibrated on its own split."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline

    fitted = build_pipeline(spec, family, params or {}, 0).fit(train[spec.features], train["y"].to_numpy())
    features = fitted.named_steps["features"]
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted.named_steps["model"])).fit(
        features.transform(calibration[spec.features]), calibration["y"].to_numpy()
    )
    return Pipeline([("features", features), ("model", calibrated)])


OPTIONS = {"seed": 7, "max_rows": 1500, "resamples": 200, "confidence": 0.95}


@pytest.mark.slow  # eight refits and two bootstraps per family
@pytest.mark.parametrize(
    ("family", "params"), [("logistic_regression", {}), ("hist_gradient_boosting", {"max_iter": 60})]
)
def test_drop_one_flags_the_noise_and_keeps_the_driver_the_same_way_every_run(family, params):
    spec = _spec(("driver", "noise"), ("town",))
    frame = _frame(2600, seed=3)
    train, calibration, holdout = frame.iloc[:1800], frame.iloc[1800:2100], frame.iloc[2100:]
    model = _calibrated(spec, family, train, calibration, params)
    splits = {name: (part, part["y"].to_numpy()) for name, part in
              (("train", train), ("calibration", calibration), ("holdout", holdout))}  # fmt: skip
    result = drop_one(model, spec, splits, "roc_auc", OPTIONS, threshold=0.5)
    by_feature = {r["feature"]: r for r in result["features"]}
    assert list(by_feature) == ["driver", "noise", "town"]
    assert by_feature["driver"]["useless"] is False and by_feature["driver"]["ci_low"] > 0.1
    assert by_feature["noise"]["useless"] is True
    assert by_feature["noise"]["ci_low"] <= 0 < by_feature["driver"]["ci_low"]
    assert "noise" in result["useless"] and "driver" not in result["useless"]
    assert result["fit_rows"] == 1500 and result["judged_rows"] == 500  # bounded by max_rows, then by the holdout
    assert drop_one(model, spec, splits, "roc_auc", OPTIONS, threshold=0.5) == result  # seeded: deterministic
    line = useless_summary(result)
    assert line.startswith(f"{len(result['useless'])} of 3 features earn no place: ") and "noise" in line


def test_drop_one_judges_a_loss_by_its_direction():
    spec = _spec(("driver", "noise"))
    frame = _frame(1600, seed=5)
    model = _calibrated(spec, "logistic_regression", frame.iloc[:1000], frame.iloc[1000:1200])
    splits = {name: (part, part["y"].to_numpy()) for name, part in
              (("train", frame.iloc[:1000]), ("calibration", frame.iloc[1000:1200]),
               ("holdout", frame.iloc[1200:]))}  # fmt: skip
    result = drop_one(model, spec, splits, "log_loss", OPTIONS, threshold=0.5)
    driver = next(r for r in result["features"] if r["feature"] == "driver")
    assert driver["gain"] > 0 and not driver["useless"]  # lower loss with it: a positive gain


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_paired_improvements_over_several_equal_scoring_every_drawn_resample(metric):
    # one set of resamples for every dropped column (full's metric once per resample): each gain's interval is
    # the one scoring the drawn rows of both models, resample by resample, gives
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    full = np.round(np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.2, 300), 0.01, 0.99), 2)  # ties
    reduced = {"a": np.clip(full + rng.normal(0, 0.1, 300), 0.01, 0.99), "b": np.full(300, 0.5)}
    got = paired_improvements(y, full, reduced, metric, 40, 0.9, np.random.default_rng(7), 0.5, chunk=15)
    for name, scores in reduced.items():
        draw = np.random.default_rng(7)
        diffs = []
        for _ in range(40):
            idx = draw.integers(0, 300, 300)
            diffs.append(improvement(metric, score(metric, y[idx], full[idx]), score(metric, y[idx], scores[idx])))
        assert got[name]["ci_low"] == pytest.approx(np.quantile(diffs, 0.05), rel=1e-12, abs=1e-12)
        assert got[name]["ci_high"] == pytest.approx(np.quantile(diffs, 0.95), rel=1e-12, abs=1e-12)
        assert got[name]["improvement"] == improvement(metric, score(metric, y, full), score(metric, y, scores))


def _pipeline_without(pipeline, drop: str):
    """The old way, kept here as the oracle: the whole recipe (preprocessing too) unfitted, without `drop`."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    features = clone(pipeline.named_steps["features"])
    features.transformers = [(n, step, [c for c in cols if c != drop]) for n, step, cols in features.transformers]
    return Pipeline([("features", features), ("model", _unfitted_estimator(pipeline))])


@pytest.mark.parametrize("family", ["logistic_regression", "hist_gradient_boosting"])
def test_refitting_the_model_on_the_inputs_a_column_does_not_own_equals_refitting_the_pipeline_without_it(family):
    """The drop-one check fits the preprocessing once and drops a column's model inputs: a number with gaps
    (imputed value and was-missing indicator), a number with no value at all in the fit rows (dropped by the
    imputer, indicator kept), categories with rare levels pooled as infrequent and a level only the judged rows
    have. Survey weights on the fit and on the calibration."""
    import warnings

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    frame = _frame(900, seed=8)
    rng = np.random.default_rng(2)
    frame.loc[rng.random(len(frame)) < 0.15, "driver"] = np.nan
    frame["blank"] = np.nan
    frame.loc[800:, "blank"] = rng.normal(size=100)  # values only outside the fit rows
    frame.loc[frame.index[:3], "town"] = "rare"
    # a second category: two levels pooled as infrequent (one output for both), a level only the judged rows have
    frame["county"] = np.where(frame["driver"].fillna(0) > 0, "north", "south")
    frame.loc[frame.index[3:5], "county"] = "east"
    frame.loc[frame.index[5:7], "county"] = "west"
    frame.loc[frame.index[-5:], "county"] = "unseen"
    spec = _spec(("driver", "blank", "noise"), ("town", "county"))
    params = {"max_iter": 20} if family == "hist_gradient_boosting" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the imputer skipping the column without values
        model = _calibrated(spec, family, frame.iloc[:600], frame.iloc[600:750], params)
        fit = (frame.iloc[:600][spec.features], frame.iloc[:600]["y"].to_numpy(), rng.uniform(0.5, 2, 600))
        cal = (frame.iloc[600:750][spec.features], frame.iloc[600:750]["y"].to_numpy(), rng.uniform(0.5, 2, 150))
        judged = frame.iloc[750:][spec.features]
        matrices = _preprocessed(model, fit, cal, judged)
        # imputed numbers (blank has no statistic: dropped), the indicators of the numbers with gaps (blank has
        # gaps everywhere, driver some), then town's a b c and the pooled level, county's north south and the pool
        assert list(matrices.owners) == [
            *("driver", "noise", "driver", "blank"), *["town"] * 4, *["county"] * 3
        ]  # fmt: skip
        for column in spec.features:
            fast = _refit_scores(_unfitted_estimator(model), matrices, column, "sigmoid")
            slow = _pipeline_without(model, column).fit(*fit[:2], model__sample_weight=fit[2])
            calibrator = CalibratedClassifierCV(FrozenEstimator(slow.named_steps["model"]), method="sigmoid")
            calibrator.fit(slow.named_steps["features"].transform(cal[0]), cal[1], sample_weight=cal[2])
            expected = calibrator.predict_proba(slow.named_steps["features"].transform(judged))[:, 1]
            # the same numbers in a differently laid-out matrix: equal up to the solver's last bit
            np.testing.assert_allclose(fast, expected, rtol=1e-12, atol=0)


FEATURE_VALUE = {"metric": "roc_auc", "useless": ["noise"], "features": []}
EVALUATION = {"primary_metric": "roc_auc", "floors": {"roc_auc": 0.6}}
GOOD, BASELINES = {"roc_auc": 0.8}, {"majority": {"roc_auc": 0.5}, "rule": {"roc_auc": 0.7}}


def test_the_gate_refuses_more_useless_features_than_allowed_and_only_reports_with_null():
    strict = EvaluationSection(**EVALUATION, max_useless_features=0)
    verdict = decide_promotion(GOOD, BASELINES, None, strict, None, FEATURE_VALUE)
    assert verdict.promote is False
    assert verdict.reasons[0] == (
        "FAIL 1 features whose removal does not lower roc_auc beyond noise (drop-one check), at most 0 allowed: noise"
    )
    lenient = EvaluationSection(**EVALUATION, max_useless_features=1)
    assert decide_promotion(GOOD, BASELINES, None, lenient, None, FEATURE_VALUE).promote is True
    reporting = EvaluationSection(**EVALUATION)  # the default: null, reported only
    assert reporting.max_useless_features is None
    verdict = decide_promotion(GOOD, BASELINES, None, reporting, None, FEATURE_VALUE)
    assert verdict.promote is True and "useless_features" not in {c["check"] for c in verdict.checks}


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="max_useless_features"):
        EvaluationSection(**EVALUATION, max_useless_features=-1)


def _costly() -> tuple[DatasetSpec, pd.DataFrame, object]:
    rng = np.random.default_rng(11)
    n = 4000
    frame = pd.DataFrame(
        {"cheap": rng.normal(size=n), "zip": rng.choice([f"z{i:04d}" for i in range(300)], n)}
    )  # fmt: skip
    frame["y"] = (rng.random(n) < 0.5).astype(int)
    spec = _spec(("cheap",), ("zip",))
    pipeline = build_pipeline(spec, "logistic_regression", {}, 0).fit(frame[spec.features], frame["y"])
    compiled = compile_pipeline(pipeline, {"numeric": ["cheap"], "categorical": ["zip"]})
    assert compiled is not None
    return spec, frame, compiled


def test_feature_costs_sum_to_one_and_a_high_cardinality_column_costs_more_than_a_number():
    spec, frame, compiled = _costly()
    costs = feature_costs(compiled, frame[spec.features], repeats=3)
    shares = {r["feature"]: r for r in costs["features"]}
    assert sum(r["time_share"] for r in costs["features"]) == pytest.approx(1.0)
    assert sum(r["memory_share"] for r in costs["features"]) == pytest.approx(1.0)
    assert shares["zip"]["time_share"] > shares["cheap"]["time_share"]
    assert shares["zip"]["memory_share"] > 10 * shares["cheap"]["memory_share"]
    # a number: its values, its gaps and its column of the matrix (8 + 1 + 8 bytes a row)
    assert shares["cheap"]["bytes"] == 17 * len(frame)
    assert costs["rows"] == len(frame) and costs["predict_seconds"] > 0


def test_the_meter_leaves_the_matrix_as_it_was():
    spec, frame, compiled = _costly()
    plain = compiled.matrix(frame[spec.features]).copy()
    meter = ColumnMeter()
    assert np.array_equal(compiled.matrix(frame[spec.features], meter=meter), plain)
    assert set(meter.seconds) == {"cheap", "zip"} and set(meter.nbytes) == {"cheap", "zip"}


def test_the_card_section_shows_one_row_per_feature_with_the_useless_flag():
    figures = {
        "feature_value": {
            "metric": "roc_auc",
            "recorded": True,
            "drop_one": {"fit_rows": 1500, "judged_rows": 500, "confidence": 0.95},
            "costs": {"rows": 500, "column_seconds": 0.002, "column_bytes": 2_000_000, "repeats": 5,
                      "predict_seconds": 0.001},
            "cost_error": None,
            "features": [
                {"feature": "driver", "gain": 0.3, "ci_low": 0.25, "ci_high": 0.35, "useless": False,
                 "time_share": 0.25, "memory_share": 0.2},
                {"feature": "noise", "gain": -0.001, "ci_low": -0.004, "ci_high": 0.002, "useless": True,
                 "time_share": 0.75, "memory_share": 0.8},
            ],
        }
    }  # fmt: skip
    doc = Doc()
    feature_value_section(doc, None, figures)
    md = doc.markdown()
    assert "## What each feature earns and costs" in md
    assert "| feature | roc_auc gain | CI low | CI high | time share | memory share | useless |" in md
    assert "| driver | 0.300 | 0.250 | 0.350 | 0.250 | 0.200 | no |" in md
    assert "| noise | " in md and md.count("| yes |") == 1
    assert "Features that earn no place: noise." in md
