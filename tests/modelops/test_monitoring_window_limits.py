"""Windows are judged as windows: a production window's data quality is checked by its own limits (rows,
and each column's missing share against the serving version's reference + a margin), not the training
batch's `validation.row_count` and `null_fraction`; a window that still breaks them alerts, never retrains,
and has its drift, prediction drift and label-free estimate measured all the same.

Limits and the suite on the real ANES 1996 extract; the decision on hand-made histories; then windows
served by a real champion (voter file, real MLflow store) and assessed."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import test_monitoring_scenarios as scenario_tests
import yaml

from modelops.collect import scenarios
from modelops.collect.sources import BatchRef, content_hash
from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT, load_settings
from modelops.monitor.assess import assess_window
from modelops.monitor.decision import decide_action
from modelops.monitor.evidence import measurable_frame
from modelops.monitor.record import summary_metrics
from modelops.monitor.thresholds import thresholds_for, window_limits
from modelops.score.snapshot import score_snapshot
from modelops.stats import drift
from modelops.validate.suite import WindowLimits
from modelops.validate.validation import validate_frame

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

START = datetime(2028, 10, 1, tzinfo=UTC)
champion = scenario_tests.champion  # a champion for this module, fresh windows per test
fresh_windows = scenario_tests.fresh_windows


@pytest.fixture(scope="module")
def anes():
    """The ANES 1996 spec and its 944 respondents (training's row_count minimum is 100)."""
    spec = load_settings().dataset("anes96_vote")
    frame = pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv")
    return spec, frame[spec.kept_columns]


def _profile(spec, frame: pd.DataFrame) -> dict:
    """The reference profile a version trained on `frame` would carry (what monitoring reads)."""
    scores = np.linspace(0.05, 0.95, len(frame))
    return drift.build_profile(
        frame, list(spec.numeric), list(spec.categorical), scores, {"roc_auc": 0.9}, threshold=0.5
    )


def _ref(spec, frame: pd.DataFrame) -> BatchRef:
    return BatchRef(spec.name, "", content_hash(frame), len(frame), list(frame.columns), {"window": "w"})


def _window(frame: pd.DataFrame, rows: int, missing: dict[str, int] | None = None) -> pd.DataFrame:
    """The first `rows` respondents, without the target, `missing[column]` of them with that value blanked."""
    window = frame.drop(columns=["vote"]).iloc[:rows].reset_index(drop=True)
    for column, count in (missing or {}).items():
        window[column] = window[column].astype("float64")
        window.loc[: count - 1, column] = np.nan
    return window


def _failed(report) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f.get("column")) for f in report.failed}


# --- the limits ------------------------------------------------------------------------------------


def test_limits_come_from_the_reference_share_plus_the_margin(anes):
    spec, frame = anes
    reference = frame.copy()
    reference["income"] = reference["income"].astype("float64")
    reference.loc[: len(reference) // 20 - 1, "income"] = np.nan  # 5% of the reference misses income
    limits = window_limits(spec, _profile(spec, reference), {"window_null_margin": 0.1})
    assert limits.min_rows == 1 and limits.max_rows is None  # the default: an empty window is the break
    assert spec.target not in limits.max_null  # a window has no target
    assert limits.max_null["income"] == pytest.approx(len(reference) // 20 / len(reference) + 0.1)
    assert limits.null_basis["income"] == "reference 5.0% + window_null_margin 10.0%"
    assert limits.max_null["age"] == pytest.approx(0.1)
    # the id is structural: no missing id unless the spec names a limit for it, and no margin
    assert limits.max_null["respondent_id"] == 0.0
    assert limits.null_basis["respondent_id"] == "training null_fraction 0.0% (id column: no margin)"
    pinned = dataclasses.replace(
        spec, validation=spec.validation.model_copy(update={"null_fraction": {"respondent_id": 0.01}})
    )
    assert window_limits(pinned, _profile(spec, reference), {}).max_null["respondent_id"] == 0.01
    named = window_limits(
        spec,
        _profile(spec, reference),
        {"window_null_margin": 0.0, "window_null_fraction": {"age": 0.5}, "window_min_rows": 30, "window_max_rows": 90},
    )
    assert named.max_null["age"] == 0.5 and named.null_basis["age"] == "monitoring.window_null_fraction"
    assert named.max_null["income"] == pytest.approx(len(reference) // 20 / len(reference))  # margin 0: the reference
    assert (named.min_rows, named.max_rows) == (30, 90)


def test_a_window_below_the_training_row_minimum_passes_the_window_suite(anes):
    spec, frame = anes
    window = _window(frame, 60)  # training wants at least 100 rows
    training_form, _ = validate_frame(frame.iloc[:60], spec, _ref(spec, frame.iloc[:60]))
    assert ("expect_table_row_count_to_be_between", None) in _failed(training_form)
    limits = window_limits(spec, _profile(spec, frame), {})
    report, _ = validate_frame(window, spec, _ref(spec, window), window=limits)
    assert report.success, report.failed
    bounded = WindowLimits(min_rows=61, max_null=limits.max_null)
    report, _ = validate_frame(window, spec, _ref(spec, window), window=bounded)
    (failure,) = report.failed
    assert failure["expectation"] == "expect_table_row_count_to_be_between"
    assert "window_min_rows" in failure["why"]


def test_missing_values_within_the_margin_pass_and_beyond_it_fail_naming_the_limit(anes):
    spec, frame = anes
    limits = window_limits(spec, _profile(spec, frame), {})  # income: reference 0% + 10%
    within = _window(frame, 200, {"income": 16})  # 8%: more than a strict training null_fraction (0) allows
    strict = dataclasses.replace(
        spec, validation=spec.validation.model_copy(update={"null_fraction": {"default": 0.0}})
    )
    training_form, _ = validate_frame(within.assign(vote=frame["vote"].iloc[:200]), strict, _ref(spec, within))
    assert ("expect_column_values_to_not_be_null", "income") in _failed(training_form)
    report, _ = validate_frame(within, spec, _ref(spec, within), window=limits)
    assert report.success, report.failed
    beyond = _window(frame, 200, {"income": 30})  # 15%
    report, _ = validate_frame(beyond, spec, _ref(spec, beyond), window=limits)
    (failure,) = report.failed
    assert (failure["expectation"], failure["column"]) == ("expect_column_values_to_not_be_null", "income")
    assert failure["why"] == "at most 10.0% missing (reference 0.0% + window_null_margin 10.0%)"
    assert failure["unexpected_count"] == 30


def test_a_numeric_column_holding_text_is_left_out_of_the_drift_tests_and_said(anes):
    spec, frame = anes
    window = _window(frame, 50)
    window["age"] = window["age"].astype(str)
    window.loc[3, "age"] = " "  # a blank is missing
    measured, left_out = measurable_frame(window, spec)
    assert measured["age"].dtype == "float64" and measured["age"].isna().sum() == 1 and left_out == {}
    window.loc[[5, 7], "age"] = "ZZ-MARKER-7731"
    measured, left_out = measurable_frame(window, spec)
    assert "age" not in measured and left_out == {
        "age": "2 values are not numbers (a data-quality failure): not measured"
    }
    assert window["age"].iloc[5] == "ZZ-MARKER-7731"  # the window itself is not changed


def test_the_limits_are_configured_and_set_per_dataset(tmp_path):
    settings = load_settings()
    assert settings.monitoring.window_min_rows == 1 and settings.monitoring.window_null_margin == 0.1
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    own = copy.deepcopy(raw)
    own["datasets"]["anes96_vote"]["monitoring"] = {
        "window_min_rows": 20,
        "window_null_margin": 0.2,
        "window_null_fraction": {"income": 0.3},
    }
    path = tmp_path / "modelops.yaml"
    path.write_text(yaml.safe_dump(own))
    custom = load_settings(path)
    thresholds = thresholds_for(custom, None, custom.dataset("anes96_vote"))
    assert thresholds["window_min_rows"] == 20 and thresholds["window_null_margin"] == 0.2
    assert thresholds["window_null_fraction"] == {"income": 0.3}
    assert thresholds_for(custom, {"window_min_rows": 5})["window_min_rows"] == 5  # a run may override
    for section, bad, match in (
        ("global", {"window_null_margin": 1.5}, r"monitoring.window_null_margin: a share between 0 and 1"),
        ("global", {"window_min_rows": -1}, r"monitoring.window_min_rows: a whole number of rows, at least 0"),
        ("global", {"window_min_rows": 10, "window_max_rows": 5}, r"window_min_rows 10 is above window_max_rows 5"),
        ("dataset", {"window_null_fraction": {"income": 2}}, r"window_null_fraction.income: a share between 0 and 1"),
        ("dataset", {"window_null_fraction": {"incme": 0.2}}, r"column 'incme' is not one of the spec's columns"),
        ("dataset", {"window_max_rows": 0}, r"window_max_rows: a whole number of rows, at least 1"),
    ):
        broken = copy.deepcopy(raw)
        if section == "global":
            broken["monitoring"].update(bad)
        else:
            broken["datasets"]["anes96_vote"]["monitoring"] = bad
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(ConfigError, match=match):
            load_settings(path)


# --- the decision ------------------------------------------------------------------------------

THRESHOLDS = {"persistence": 2, "cooldown_hours": 24, "retrain_on": ["prediction_drift", "performance"]}


def _report(window_id: str, signals: list[str]) -> dict:
    return {
        "window_id": window_id,
        "signals": signals,
        "breach": bool(signals),
        "quality": {"ok": "data_quality" not in signals},
    }


def _row(window_id: str, day: int, action: str, signals: list[str]) -> dict:
    return {
        "window_id": window_id,
        "window_end": START + timedelta(days=day),
        "action": action,
        "signals": signals,
        "breach": bool(signals),
        "data_quality_ok": "data_quality" not in signals,
        "dry_run": False,
        "model_version": None,
    }


def test_a_quality_break_with_measured_drift_alerts_and_never_feeds_a_streak():
    rows = [_row("w1", 0, "watch", ["prediction_drift"])]
    broken = _report("w2", ["data_quality", "prediction_drift"])
    decision = decide_action(broken, rows, THRESHOLDS, START + timedelta(days=1))
    assert decision["action"] == "alert" and decision["retrain_signals"] == [] and decision["streak"] == 0
    assert decision["signals"] == ["data_quality", "prediction_drift"]  # reported, not retrain evidence
    # recorded, it breaks the streak like any data-quality break: w3 is a first breach again
    recorded = [*rows, _row("w2", 1, "alert", ["data_quality", "prediction_drift"])]
    after = decide_action(_report("w3", ["prediction_drift"]), recorded, THRESHOLDS, START + timedelta(days=2))
    assert after["action"] == "watch" and after["streak"] == 1


# --- windows served by a real champion -----------------------------------------------------------


def _serve(spec, window_id: str, rows: int, seed: int, missing: dict[str, float] | None = None) -> None:
    """A stable voter-file window of `rows` rows (a share `missing[column]` of them blanked), served."""
    path = scenarios.write_window(spec, window_id, "stable", rows, seed=seed)
    inputs = pd.read_parquet(path)
    for column, share in (missing or {}).items():
        inputs.loc[inputs.sample(frac=share, random_state=seed).index, column] = None
    inputs.to_parquet(path, index=False)
    score_snapshot(spec, load_settings(), snapshot=window_id)


def _assess(spec, settings, window_id: str) -> dict:
    thresholds = thresholds_for(settings, None, spec)
    report, _ = assess_window(spec, settings, window_id, thresholds, set())
    return report


def _measured(report: dict) -> None:
    """Drift, prediction drift and the label-free estimate are in the report, with figures."""
    assert report["data_drift"] and report["data_drift"]["columns"], "data drift not measured"
    assert {"age", "party", "income_bracket"} <= set(report["data_drift"]["columns"])
    assert report["prediction"] is not None and np.isfinite(report["prediction"]["psi"])
    assert report["estimate"] is not None and np.isfinite(report["estimate"]["expected_accuracy"])
    assert report["multivariate"] is not None
    metrics = summary_metrics(report)
    assert {"drift_share", "prediction_psi", "expected_accuracy"} <= set(metrics)


def test_a_window_below_the_training_row_minimum_is_measured_and_no_quality_break(fresh_windows, settings):
    spec = fresh_windows
    minimum = spec.validation.row_count[0]
    _serve(spec, "w-000", minimum // 2, seed=71)  # 250 rows: a county's window, half training's minimum
    report = _assess(spec, settings, "w-000")
    assert report["rows"] == minimum // 2
    assert report["quality"]["ok"] and report["quality"]["failed"] == []
    assert "data_quality" not in report["signals"]
    _measured(report)
    assert report["data_drift"]["columns"]["age"]["rows"] == minimum // 2


def test_missing_values_within_the_window_margin_pass_and_beyond_it_alert_with_drift_measured(fresh_windows, settings):
    spec = fresh_windows
    trained = spec.validation.null_fraction["income_bracket"]  # 5% in training batches
    _serve(spec, "w-000", 3000, seed=72, missing={"income_bracket": trained + 0.04})  # + the ~2% it always has
    report = _assess(spec, settings, "w-000")
    assert report["quality"]["ok"], report["quality"]["failed"]
    assert "data_quality" not in report["signals"]
    _measured(report)

    _serve(spec, "w-001", 3000, seed=73, missing={"income_bracket": 0.3})
    report = _assess(spec, settings, "w-001")
    assert not report["quality"]["ok"] and report["signals"][0] == "data_quality"
    (failure,) = report["quality"]["failed"]
    assert (failure["expectation"], failure["column"]) == ("expect_column_values_to_not_be_null", "income_bracket")
    assert "+ window_null_margin 10.0%" in failure["why"] and failure["why"].startswith("at most ")
    _measured(report)  # the data-quality break did not stop the measurement
    assert report["data_drift"]["not_measured"] == {}
    assert report["labelled_status"].startswith("not measured: the window failed data quality")
    decision = decide_action(report, [], thresholds_for(settings, None, spec), START)
    assert decision["action"] == "alert" and decision["retrain_signals"] == []


def test_a_drifted_number_held_as_text_is_measured_and_drawn(fresh_windows, settings, tmp_path):
    """Ages arrive as text with a blank, and older: the drift test reads them as numbers, and so does its plot."""
    from modelops.present import window_page

    spec = fresh_windows
    path = scenarios.write_window(spec, "w-000", "stable", 600, seed=73)
    score_snapshot(spec, load_settings(), snapshot="w-000")
    inputs = pd.read_parquet(path)
    aged = (inputs["age"] + 30).astype("Int64").astype(str).astype(object)
    aged.iloc[4] = " "
    inputs["age"] = aged
    inputs.to_parquet(path, index=False)
    thresholds = thresholds_for(settings, None, spec)
    report, plot = assess_window(spec, settings, "w-000", thresholds, set())
    assert "age" in report["data_drift"]["drifted"]
    assert plot["frame"]["age"].dtype == "float64" and plot["frame"]["age"].isna().sum() == 1
    decision = decide_action(report, [], thresholds, START)
    page = window_page.render_window_report(report, decision, plot, tmp_path).read_text()
    assert "age" in page
