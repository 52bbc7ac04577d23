"""One window at a time against a real champion: labels without an id column, rows without an outcome,
NaN/inf scores, and the whole workflow step (report sections, MLflow run with the resolved config,
recording, judging a window once)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import test_monitoring_scenarios as scenario_tests

from modelops import alerts, history, monitoring, registry, scenarios

END = datetime(2028, 11, 10, tzinfo=UTC)
ROWS = scenario_tests.ROWS
champion = scenario_tests.champion  # the same fixtures: a champion for this module, fresh windows per test
fresh_windows = scenario_tests.fresh_windows


@pytest.fixture
def no_id(fresh_windows):
    """The same dataset (and champion) as if its spec had no id column."""
    return dataclasses.replace(fresh_windows, id_column=None)


def _assess(spec, settings, window_id, judged=frozenset(), overrides=None):
    return monitoring.assess_window(spec, settings, window_id, monitoring.thresholds_for(settings, overrides), judged)


def test_without_an_id_labels_delivered_with_the_inputs_are_judged(no_id, settings):
    assert "voter_id" not in no_id.kept_columns
    scenarios.write_window(no_id, "w-000", "stable", ROWS, seed=11, with_labels=True)
    paths = scenarios.window_paths(no_id, "w-000")
    assert paths["labeled"].exists() and not paths["labels"].exists()
    delivered = pd.read_parquet(paths["labeled"])
    assert "voter_id" not in delivered and no_id.target in delivered
    # some outcomes are unknown (blank) or not an outcome at all (a code the spec does not list)
    target = delivered[no_id.target].astype(float)
    target.iloc[:100] = np.nan
    target.iloc[100:150] = 7
    delivered[no_id.target] = target
    delivered.to_parquet(paths["labeled"], index=False)
    scenarios.write_window(no_id, "w-001", "stable", ROWS, seed=12)

    report, _ = _assess(no_id, settings, "w-001")
    lab = report["labelled"]
    assert lab["window_id"] == "w-000" and lab["judged"]
    assert lab["delivered_rows"] == ROWS and lab["unlabelled_rows"] == 150 and lab["rows"] == ROWS - 150
    assert lab["unlabelled_values"] == {"7.0": 50}
    assert "labeled/w-000.parquet (inputs delivered with their target)" in report["labelled_status"]
    assert "150 rows without an outcome left out" in report["labelled_status"]
    assert not lab["performance_breach"] and not lab["calibration_breach"]
    assert set(lab["slices"]) == {"gender", "race_ethnicity", "age"}  # protected columns in the inputs
    assert any("no id_column" in note for note in report["limitations"])


def test_without_an_id_labels_on_their_own_are_skipped_with_a_reason(no_id, settings):
    scenarios.write_window(no_id, "w-000", "stable", ROWS, seed=13)
    paths = scenarios.window_paths(no_id, "w-000")
    outcome = scenarios.simulate_window(no_id, "stable", ROWS, seed=13)[[no_id.target]]
    paths["labels"].parent.mkdir(parents=True, exist_ok=True)
    outcome.to_parquet(paths["labels"], index=False)  # a target column and nothing to join it on
    scenarios.write_window(no_id, "w-001", "stable", ROWS, seed=14)

    report, _ = _assess(no_id, settings, "w-001")  # never a pandas MergeError
    assert report["labelled"] is None and not report["breach"]
    status = report["labelled_status"]
    assert status.startswith("labelled monitoring skipped: labels arrived for w-000")
    assert "no id_column" in status and "deliver labeled/<window>.parquet" in status
    assert not paths["labeled"].exists()


def test_with_an_id_rows_without_an_outcome_are_dropped_and_counted(fresh_windows, settings):
    spec = fresh_windows
    scenarios.write_window(spec, "w-000", "stable", ROWS, seed=15, with_labels=True)
    labels_path = scenarios.window_paths(spec, "w-000")["labels"]
    labels = pd.read_parquet(labels_path)
    labels[spec.target] = labels[spec.target].astype(float)
    labels.loc[labels.index[:80], spec.target] = np.nan
    labels.to_parquet(labels_path, index=False)
    scenarios.write_window(spec, "w-001", "stable", ROWS, seed=16)

    report, _ = _assess(spec, settings, "w-001")
    lab = report["labelled"]
    assert lab["unlabelled_rows"] == 80 and lab["rows"] == ROWS - 80
    assert "joined labels/w-000.parquet to the inputs on 'voter_id'" in report["labelled_status"]


class _Broken:
    """The champion, except that a few scores come out NaN or inf."""

    def __init__(self, model):
        self.model = model

    def predict_proba(self, frame):
        proba = np.array(self.model.predict_proba(frame), dtype=float)
        proba[:7, 1] = np.nan
        proba[7:10, 1] = np.inf
        return proba


def test_nan_and_inf_scores_are_a_breach_never_dropped_silently(fresh_windows, settings, monkeypatch):
    load = registry.load_model
    monkeypatch.setattr(registry, "load_model", lambda uri: _Broken(load(uri)))
    scenarios.write_window(fresh_windows, "w-000", "stable", ROWS, seed=17)

    report, plot = _assess(fresh_windows, settings, "w-000")
    assert report["nonfinite_scores"] == 10 and report["breach"]
    assert report["signals"][0] == "invalid_scores"
    assert any("10 scores were NaN/inf" in r for r in report["reasons"])
    assert report["prediction"]["rows"] == ROWS - 10 and report["estimate"]["rows"] == ROWS - 10
    assert np.isfinite(report["estimate"]["expected_accuracy"]) and np.isfinite(plot["scores"]).all()
    decision = monitoring.decide_action(report, [], monitoring.thresholds_for(settings), END)
    assert decision["action"] == "alert"


def test_monitor_window_reports_logs_the_config_records_once(fresh_windows, settings):
    spec = fresh_windows
    scenarios.write_window(spec, "w-000", "concept_drift", ROWS, seed=18, with_labels=True)
    scenarios.write_window(spec, "w-001", "concept_drift", ROWS, seed=19)

    outcome = monitoring.monitor_window(spec, settings, "w-001", {}, False, END, "manual__1", [])
    assert outcome["action"] == "watch" and outcome["signals"] == ["performance", "calibration"]
    page = Path(outcome["report_path"]).read_text(encoding="utf-8")
    for section in (
        "Labelled performance",
        "By gender",
        "By race_ethnicity",
        "By age",
        "Estimated accuracy without labels",
        "95% interval",
        "Calibration groups",
        "reference gap",
        "Signals that breached: performance, calibration",
    ):
        assert section in page, section
    artifacts = {a.path for a in registry.client().list_artifacts(outcome["mlflow_run_id"])}
    assert registry.RESOLVED_CONFIG_ARTIFACT in artifacts
    run = registry.client().get_run(outcome["mlflow_run_id"])
    assert run.data.tags["modelops.signals"] == "performance,calibration"

    recorded = monitoring.record_outcome(outcome, "manual__1")
    assert "history_row" not in recorded and alerts.should_alert(recorded)
    rows = history.read_monitoring_history(spec.name)
    assert [(r["window_id"], r["signals"], r["labeled_window"]) for r in rows] == [
        ("w-001", ["performance", "calibration"], "w-000")
    ]
    window, why = monitoring.choose_window(spec, None, rows)
    assert window is None and "window w-001 of voter_turnout was already judged" in why

    # a dry run measures and reports, but records nothing and never alerts
    dry = monitoring.monitor_window(spec, settings, "w-001", {}, True, END, "manual__2", rows)
    assert dry["dry_run"] and dry["breach"] is False  # w-000's labels were judged once, by the real run
    assert Path(dry["report_path"]).parent.name == "dry_run"  # the recorded report stays as it was
    assert "Signals that breached: performance, calibration" in Path(outcome["report_path"]).read_text()
    assert not alerts.should_alert(monitoring.record_outcome(dry | {"breach": True}, "manual__2"))
    assert len(history.read_monitoring_history(spec.name)) == 1
