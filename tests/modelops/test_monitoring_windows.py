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
from conftest import run_training, train_and_promote

from modelops.collect import scenarios, windows
from modelops.config.settings import load_settings
from modelops.core import alerts, catalog
from modelops.monitor.assess import assess_window
from modelops.monitor.decision import choose_window, decide_action
from modelops.monitor.record import history_row, summary_metrics
from modelops.monitor.thresholds import thresholds_for
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.store import artifacts, history, registry, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

END = datetime(2028, 11, 10, tzinfo=UTC)
# Windows end in 2028, years after the champion was registered (today): the bundled champion-age bound would
# retrain in every one. These tests judge the window's evidence; the age bound has its own tests.
NO_AGE_BOUND = {"max_champion_age_days": None}
ROWS = scenario_tests.ROWS
champion = scenario_tests.champion  # the same fixtures: a champion for this module, fresh windows per test
fresh_windows = scenario_tests.fresh_windows


@pytest.fixture
def no_id(fresh_windows):
    """The same dataset (and champion) as if its spec had no id column."""
    return dataclasses.replace(fresh_windows, id_column=None)


def _deliver(spec, window_id, scenario, rows, seed, with_labels=False, settings=None):
    """A snapshot delivered and served by the champion (score_snapshot, as the scoring DAG does)."""
    path = scenarios.write_window(spec, window_id, scenario, rows, seed=seed, with_labels=with_labels)
    score_snapshot(spec, settings or load_settings(), snapshot=window_id)
    return path


def _assess(spec, settings, window_id, judged=frozenset(), overrides=None):
    return assess_window(spec, settings, window_id, thresholds_for(settings, overrides), judged)


def test_without_an_id_labels_delivered_with_the_inputs_are_judged(no_id, settings):
    assert "voter_id" not in no_id.kept_columns
    _deliver(no_id, "w-000", "stable", ROWS, seed=11, with_labels=True)
    labeled = catalog.snapshot_labeled(no_id.name, "w-000")
    assert labeled.exists() and not catalog.snapshot_labels(no_id.name, "w-000").exists()
    delivered = pd.read_parquet(labeled)
    assert "voter_id" not in delivered and no_id.target in delivered
    # some outcomes are unknown (blank) or not an outcome at all (a code the spec does not list)
    target = delivered[no_id.target].astype(float)
    target.iloc[:100] = np.nan
    target.iloc[100:150] = 7
    delivered[no_id.target] = target
    delivered.to_parquet(labeled, index=False)
    _deliver(no_id, "w-001", "stable", ROWS, seed=12)

    # the delivery is a whole voter file, names and phones included; monitoring reads the kept columns only
    assert set(no_id.pii) <= set(pd.read_parquet(catalog.snapshot_inputs(no_id.name, "w-001")).columns)
    assert not set(no_id.pii) & set(windows.load_scored_window(no_id, "w-001").inputs.columns)

    report, _ = _assess(no_id, settings, "w-001")
    lab = report["labelled"]
    assert lab["window_id"] == "w-000" and lab["judged"]
    assert lab["delivered_rows"] == ROWS and lab["unlabelled_rows"] == 150 and lab["rows"] == ROWS - 150
    assert lab["unlabelled_values"] == {"7.0": 50}
    assert (
        "labeled/w-000.parquet (inputs delivered with their target, aligned by row order)" in report["labelled_status"]
    )
    assert "150 rows without an outcome left out" in report["labelled_status"]
    assert not lab["performance_breach"] and not lab["calibration_breach"]
    assert set(lab["slices"]) == {"gender", "race_ethnicity", "age"}  # protected columns in the inputs
    assert any("no id_column" in note for note in report["limitations"])


def test_without_an_id_labels_on_their_own_are_skipped_with_a_reason(no_id, settings):
    _deliver(no_id, "w-000", "stable", ROWS, seed=13)
    outcome = scenarios.simulate_window(no_id, "stable", ROWS, seed=13)[[no_id.target]]
    # a target column and nothing to join it on
    catalog.write_parquet(outcome, catalog.snapshot_labels(no_id.name, "w-000"))
    _deliver(no_id, "w-001", "stable", ROWS, seed=14)

    report, _ = _assess(no_id, settings, "w-001")  # never a pandas MergeError
    assert report["labelled"] is None and not report["breach"]
    status = report["labelled_status"]
    assert status.startswith("labelled monitoring skipped: labels arrived for w-000")
    assert "no id_column" in status and "deliver labeled/<window>.parquet" in status
    assert not catalog.snapshot_labeled(no_id.name, "w-000").exists()


def test_with_an_id_rows_without_an_outcome_are_dropped_and_counted(fresh_windows, settings):
    spec = fresh_windows
    _deliver(spec, "w-000", "stable", ROWS, seed=15, with_labels=True)
    labels_path = catalog.snapshot_labels(spec.name, "w-000")
    labels = pd.read_parquet(labels_path)
    labels[spec.target] = labels[spec.target].astype(float)
    labels.loc[labels.index[:80], spec.target] = np.nan
    labels.to_parquet(labels_path, index=False)
    _deliver(spec, "w-001", "stable", ROWS, seed=16)

    report, _ = _assess(spec, settings, "w-001")
    lab = report["labelled"]
    assert lab["unlabelled_rows"] == 80 and lab["rows"] == ROWS - 80
    assert "joined labels/w-000.parquet to the served predictions on 'voter_id'" in report["labelled_status"]


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
    load = artifacts.load_model
    monkeypatch.setattr(artifacts, "load_model", lambda uri: _Broken(load(uri)))
    _deliver(fresh_windows, "w-000", "stable", ROWS, seed=17)  # the scoring run serves the broken scores
    served = windows.load_scored_window(fresh_windows, "w-000").predictions
    assert (served["reason"] == "invalid_score").sum() == 10 and served["score"].notna().all()  # baseline served

    report, plot = _assess(fresh_windows, settings, "w-000")
    assert report["nonfinite_scores"] == 10 and report["breach"]
    assert report["signals"][0] == "invalid_scores"
    assert any("the served model returned NaN/inf for 10 rows" in r for r in report["reasons"])
    assert report["served"]["fallback_reasons"] == {"invalid_score": 10} and not report["served"]["fallback_breach"]
    assert report["prediction"]["rows"] == ROWS - 10 and report["estimate"]["rows"] == ROWS - 10
    assert np.isfinite(report["estimate"]["expected_accuracy"]) and np.isfinite(plot["scores"]).all()
    np.testing.assert_array_equal(plot["scores"], served.loc[served["source"] == "model", "score"].to_numpy())
    decision = decide_action(report, [], thresholds_for(settings, NO_AGE_BOUND), END)
    assert decision["action"] == "alert"


def test_monitor_window_reports_logs_the_config_records_once(fresh_windows, settings):
    spec = fresh_windows
    _deliver(spec, "w-000", "concept_drift", ROWS, seed=18, with_labels=True)
    _deliver(spec, "w-001", "concept_drift", ROWS, seed=19)

    outcome = monitoring_flow.monitor_window(spec, settings, "w-001", NO_AGE_BOUND, False, END, "manual__1", [])
    verdict = outcome.verdict
    assert verdict.action == "watch" and verdict.signals == ("performance", "calibration")
    assert not outcome.retrains
    assert Path(verdict.report_path) == catalog.report_dir(spec.name, "w-001") / "report.html"
    assert (catalog.report_dir(spec.name, "w-001") / "validation" / "report.html").exists()
    page = Path(verdict.report_path).read_text(encoding="utf-8")
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
    logged = {a.path for a in tracking.client().list_artifacts(verdict.mlflow_run_id)}
    assert artifacts.RESOLVED_CONFIG_ARTIFACT in logged
    run = tracking.client().get_run(verdict.mlflow_run_id)
    assert run.data.tags["modelops.signals"] == "performance,calibration"
    # labels joined on the id were materialised beside the inputs: the retraining DAG is told of them
    assert outcome.retrain_conf["extra_batches"] == [str(catalog.snapshot_labeled(spec.name, "w-000"))]

    recorded = monitoring_flow.record_verdict(outcome, "manual__1")
    assert recorded.run_id == "manual__1" and alerts.should_alert(recorded.to_xcom())
    rows = history.read_monitoring_history(spec.name)
    assert [(r["window_id"], r["signals"], r["labeled_window"]) for r in rows] == [
        ("w-001", ["performance", "calibration"], "w-000")
    ]
    interval = rows[0]["labeled_interval"]  # what the offline/online gap reads on later windows
    assert (interval["window_id"], interval["version"], interval["metric"]) == ("w-000", "1", "roc_auc")
    assert interval["low"] <= rows[0]["labeled_metrics"]["roc_auc"] == interval["value"] <= interval["high"]
    holdout = float(registry.model_version(spec.model_name, "1").tags["modelops.holdout_roc_auc"])
    assert interval["holdout"] == pytest.approx(holdout, abs=5e-5)  # the tag keeps 4 decimals
    window, why = choose_window(spec, None, rows)
    assert window is None and "window w-001 of voter_turnout was already judged" in why

    # a dry run measures and reports, but records nothing and never alerts
    dry = monitoring_flow.monitor_window(spec, settings, "w-001", NO_AGE_BOUND, True, END, "manual__2", rows)
    assert dry.verdict.dry_run and dry.verdict.breach is False  # w-000's labels were judged once, by the real run
    assert Path(dry.verdict.report_path).parent == catalog.report_dir(spec.name, "w-001", dry_run=True)
    assert (catalog.report_dir(spec.name, "w-001", dry_run=True) / "validation" / "report.html").exists()
    assert "Signals that breached: performance, calibration" in Path(verdict.report_path).read_text()
    breached = dataclasses.replace(dry, verdict=dataclasses.replace(dry.verdict, breach=True, action="retrain"))
    assert not breached.retrains  # a dry run never triggers retraining
    assert not alerts.should_alert(monitoring_flow.record_verdict(breached, "manual__2").to_xcom())
    assert len(history.read_monitoring_history(spec.name)) == 1


def test_the_assess_adapter_judges_each_waiting_window_once_then_skips(fresh_windows, settings):
    spec = fresh_windows
    for i, window in enumerate(("w-000", "w-001")):
        _deliver(spec, window, "stable", ROWS, seed=20 + i)
    judged = []
    for run in ("scheduled__1", "scheduled__2"):
        outcome = monitoring_flow.judge_window(spec.name, None, {}, False, END, run)
        monitoring_flow.record_verdict(outcome, run)
        judged.append(outcome.verdict.window_id)
    assert judged == ["w-000", "w-001"]  # the older first, each once
    with pytest.raises(monitoring_flow.NothingToJudge, match="window w-001 of voter_turnout was already judged"):
        monitoring_flow.judge_window(spec.name, None, {}, False, END, "scheduled__3")
    # a named window is re-judged on purpose
    again = monitoring_flow.judge_window(spec.name, "w-001", {"persistence": 1}, False, END, "manual__9")
    assert again.verdict.window_id == "w-001" and again.history_row["run_id"] == "manual__9"
    with pytest.raises(monitoring_flow.NothingToJudge):  # nothing recorded yet: still nothing new
        monitoring_flow.judge_window(spec.name, None, {}, False, END, "scheduled__4")
    with pytest.raises(ValueError, match="unknown threshold overrides"):
        monitoring_flow.judge_window(spec.name, "w-001", {"psi": 1}, False, END, "manual__1")


def test_monitoring_reads_the_served_scores_and_never_scores_again(fresh_windows, settings, monkeypatch):
    spec = fresh_windows
    _deliver(spec, "w-000", "stable", ROWS, seed=30)
    window = windows.load_scored_window(spec, "w-000")

    def refuse(uri):
        raise AssertionError(f"monitoring loaded {uri}: it must read what was served")

    monkeypatch.setattr(artifacts, "load_model", refuse)
    report, plot = _assess(spec, settings, "w-000")
    np.testing.assert_array_equal(plot["scores"], window.predictions["score"].to_numpy())  # every row: model
    assert report["model_version"] == "1" and report["served"]["sources"] == {"model": ROWS, "canary": 0, "fallback": 0}
    assert report["served"]["fallback_share"] == 0 and not report["breach"]


def test_inputs_that_are_not_the_scored_rows_are_a_clear_error(fresh_windows, settings):
    spec = fresh_windows
    path = _deliver(spec, "w-000", "stable", ROWS, seed=31)
    inputs = pd.read_parquet(path)
    inputs.iloc[::-1].reset_index(drop=True).to_parquet(path, index=False)  # same rows, another order
    with pytest.raises(windows.WindowError, match=r"rows whose input id differs from the served prediction's"):
        _assess(spec, settings, "w-000")
    inputs.iloc[:-5].to_parquet(path, index=False)
    with pytest.raises(windows.WindowError, match=rf"{ROWS - 5} input rows but {ROWS} served predictions"):
        _assess(spec, settings, "w-000")
    scenarios.write_window(spec, "w-001", "stable", ROWS, seed=32)  # delivered, never scored
    with pytest.raises(FileNotFoundError, match=r"no committed scoring output .*score the snapshot first"):
        _assess(spec, settings, "w-001")
    assert choose_window(spec, None, [])[0] == "w-000"  # w-001 is no window until it is scored


def test_the_fallback_share_is_measured_even_when_the_inputs_fail_quality(fresh_windows, settings):
    spec = fresh_windows
    path = scenarios.write_window(spec, "w-000", "stable", ROWS, seed=33)
    inputs = pd.read_parquet(path)
    inputs.loc[inputs.index[:300], "party"] = "dem"  # a vendor sends 10% of the rows with a code the spec refuses
    inputs.to_parquet(path, index=False)
    score_snapshot(spec, settings, snapshot="w-000")

    report, _ = _assess(spec, settings, "w-000")
    served = report["served"]
    assert served["sources"]["fallback"] == 300 and served["fallback_reasons"] == {"not_allowed:party": 300}
    assert served["fallback_share"] == pytest.approx(0.1) and served["fallback_breach"]
    assert report["signals"] == ["data_quality", "fallback"]
    assert any(
        r.startswith("fallback: 300 of 3000 rows (10.0%)") and "not_allowed:party 300" in r for r in report["reasons"]
    )
    metrics = summary_metrics(report)
    assert metrics["fallback_share"] == pytest.approx(0.1) and metrics["rows_fallback"] == 300
    decision = decide_action(report, [], thresholds_for(settings, NO_AGE_BOUND), END)
    assert decision["action"] == "alert"
    history.record_window(history_row(report, decision, END, "manual__1", False, None))
    (stored,) = history.read_monitoring_history(spec.name)
    assert stored["fallback_share"] == pytest.approx(0.1) and stored["signals"] == ["data_quality", "fallback"]


def test_rows_the_score_guard_withheld_keep_the_models_scores_in_the_drift_figures(fresh_windows, settings):
    spec = fresh_windows
    scenarios.write_window(spec, "w-000", "stable", ROWS, seed=36)
    # the opt-in guard (score_guard psi) with a limit any PSI trips
    guarded = dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"score_guard": "psi", "score_psi_limit": 1e-9})
    )
    score_snapshot(spec, guarded, snapshot="w-000")
    served = windows.load_scored_window(spec, "w-000").predictions
    assert (served["source"] == "fallback").all() and (served["reason"] == "score_distribution").all()

    report, plot = _assess(spec, settings, "w-000")
    # the model's own scores of the withheld chunk, never the baseline's two rates
    np.testing.assert_array_equal(plot["scores"], served["champion_score"].to_numpy())
    assert served["score"].nunique() <= 2 and len(np.unique(plot["scores"])) > 100
    assert report["prediction"]["rows"] == ROWS and not report["prediction"]["drifted"]
    assert report["served"]["withheld_rows"] == ROWS and report["signals"] == ["fallback"]
    thresholds = thresholds_for(settings, NO_AGE_BOUND)
    decision = decide_action(report, [], thresholds, END)
    assert decision["action"] == "watch" and decision["retrain_signals"] == []  # alerts, never retrains by default
    listed = thresholds_for(settings, {"retrain_on": ["fallback"], "persistence": 1, **NO_AGE_BOUND})
    assert decide_action(report, [], listed, END)["action"] == "retrain"  # unless retrain_on lists it


def test_without_an_id_delivered_labels_must_match_the_served_row_count(no_id, settings):
    _deliver(no_id, "w-000", "stable", ROWS, seed=34, with_labels=True)
    labeled = catalog.snapshot_labeled(no_id.name, "w-000")
    pd.read_parquet(labeled).iloc[:-1].to_parquet(labeled, index=False)
    _deliver(no_id, "w-001", "stable", ROWS, seed=35)
    report, _ = _assess(no_id, settings, "w-001")
    assert report["labelled"] is None
    assert f"holds {ROWS - 1} rows but {ROWS} were served" in report["labelled_status"]


def test_canary_and_champion_outcomes_are_each_judged_on_their_own_rows(workspace, settings):
    spec = train_and_promote(settings, 6000, "v1")
    run_training(settings, "voter_turnout", "v2", rows=9000)  # a second version (champion or challenger)
    champion = str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version)
    other = "1" if champion == "2" else "2"
    registry.set_alias(spec.model_name, registry.CHALLENGER, other, "tests", "canary under test", None)
    canary = dataclasses.replace(settings, scoring=settings.scoring.model_copy(update={"canary_share": 0.3}))
    for i, window in enumerate(("w-000", "w-001")):
        scenarios.write_window(spec, window, "stable", ROWS, seed=40 + i, with_labels=i == 0)
        score_snapshot(spec, canary, snapshot=window)
    served = windows.load_scored_window(spec, "w-000").predictions
    canary_rows = int((served["source"] == "canary").sum())
    assert 0.2 * ROWS < canary_rows < 0.4 * ROWS

    outcome = monitoring_flow.monitor_window(spec, settings, "w-001", NO_AGE_BOUND, False, END, "manual__1", [])
    report = catalog.read_json(catalog.report_dir(spec.name, "w-001") / "report.json")
    assert report["model_version"] == champion and report["canary"]["version"] == other
    lab = report["labelled"]
    by_source = lab["by_source"]
    assert by_source["canary"]["rows"] == canary_rows and by_source["canary"]["versions"] == [other]
    assert by_source["model"]["rows"] == ROWS - canary_rows and by_source["model"]["versions"] == [champion]
    assert by_source["served"]["rows"] == ROWS
    assert lab["rows"] == ROWS - canary_rows  # the champion is judged on the rows it served, against its profile
    assert lab["canary"]["canary_rows"] == canary_rows and lab["canary"]["champion_version"] == champion
    assert lab["canary"]["difference"] == pytest.approx(by_source["canary"]["roc_auc"] - by_source["model"]["roc_auc"])
    assert "canary" not in report["signals"] and outcome.verdict.action in {"none", "watch"}
    metrics = tracking.client().get_run(outcome.verdict.mlflow_run_id).data.metrics
    assert metrics["labelled_canary_rows"] == canary_rows and metrics["labelled_model_rows"] == ROWS - canary_rows
    assert "labelled_canary_roc_auc" in metrics and metrics["canary_rows"] > 0
    page = Path(outcome.verdict.report_path).read_text(encoding="utf-8")
    assert "What was served, each on its own rows" in page and f"Canary: v{other}" in page
