"""The monitoring DAG's hand-offs: typed records that survive the XCom boundary, the branch predicate,
and the `assess` adapter's skip when no window waits (the adapters on a real champion are in
test_monitoring_windows.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from modelops.core import alerts, catalog
from modelops.pipelines import monitoring_flow
from modelops.pipelines.monitoring_flow import NothingToJudge, WindowOutcome, WindowVerdict

END = datetime(2028, 11, 10, tzinfo=UTC)


def _outcome(action: str = "retrain", dry_run: bool = False, breach: bool = True) -> WindowOutcome:
    verdict = WindowVerdict(
        dataset="voter_turnout",
        window_id="w-002",
        window_end=END,
        model_name="voter_turnout_model",
        model_version="3",
        breach=breach,
        reasons=("prediction drift: score PSI 0.300 >= 0.1",),
        action=action,
        why="prediction_drift: breach persisted for 2 windows (>= 2); no retrain in cooldown",
        streak=2,
        signals=("prediction_drift",),
        retrain_signals=("prediction_drift",),
        dry_run=dry_run,
        report_path="/ws/reports/voter_turnout/w-002/report.html",
        mlflow_run_id="abc123",
    )
    row = {"dataset": "voter_turnout", "window_id": "w-002", "window_end": END, "action": action, "signals": []}
    conf = {"dataset": "voter_turnout", "extra_batches": ["/ws/x.parquet"], "reason": "monitoring window w-002"}
    return WindowOutcome(verdict, row, conf)


def test_an_outcome_crosses_the_xcom_boundary_as_plain_json_and_comes_back_equal():
    outcome = _outcome()
    data = json.loads(json.dumps(outcome.to_xcom()))  # what XCom stores
    assert data["retrain_conf"]["extra_batches"] == ["/ws/x.parquet"]  # the trigger's template reads this key
    assert data["action"] == "retrain" and data["signals"] == ["prediction_drift"]
    assert data["window_end"] == "2028-11-10T00:00:00+00:00" and data["history_row"]["window_end"] == data["window_end"]
    back = WindowOutcome.from_xcom(data)
    assert back == outcome and back.history_row["window_end"] == END


def test_the_verdict_is_what_the_breach_alert_reads():
    verdict = dataclasses.replace(_outcome().verdict, run_id="manual__1")
    data = json.loads(json.dumps(verdict.to_xcom()))
    assert WindowVerdict.from_xcom(data) == verdict
    assert alerts.should_alert(data)
    alert = alerts.build_alert(data)
    assert alert["model"] == "voter_turnout_model v3" and alert["airflow_run_id"] == "manual__1"
    assert alert["severity"] == "critical" and alert["reasons"] == list(verdict.reasons)


def test_a_malformed_xcom_is_refused_naming_the_keys():
    data = _outcome().to_xcom()
    with pytest.raises(ValueError, match=r"missing keys \['history_row'\]"):
        WindowOutcome.from_xcom({k: v for k, v in data.items() if k != "history_row"})
    verdict = _outcome().verdict.to_xcom()
    with pytest.raises(ValueError, match=r"missing keys \['action'\], unknown keys \['verdict'\]"):
        WindowVerdict.from_xcom({k: v for k, v in verdict.items() if k != "action"} | {"verdict": "retrain"})


@pytest.mark.parametrize(
    ("action", "dry_run", "retrains"),
    [("retrain", False, True), ("retrain", True, False), ("watch", False, False), ("cooldown", False, False)],
)
def test_the_branch_retrains_only_on_a_recorded_retrain(action, dry_run, retrains):
    assert _outcome(action, dry_run).retrains is retrains


def test_assess_skips_when_no_window_waits_saying_why(workspace):
    with pytest.raises(NothingToJudge, match="no scored production windows for voter_turnout yet"):
        monitoring_flow.judge_window("voter_turnout", None, {}, False, END, "scheduled__1")


def test_retrain_conf_lists_the_labelled_windows_oldest_first(workspace, settings):
    spec = settings.dataset("voter_turnout")
    for window in ("w-002", "w-001"):
        catalog.write_parquet(
            pd.DataFrame({"voter_id": ["a"], "voted": [1]}), catalog.snapshot_labeled(spec.name, window)
        )
    catalog.write_parquet(pd.DataFrame({"voter_id": ["a"]}), catalog.pending_labels(spec.name, "w-003"))
    report = {"window_id": "w-003", "reasons": ["data drift: 40% of features drifted"]}
    conf = monitoring_flow.retrain_conf(spec, report, {"why": "breach persisted"})
    assert conf["extra_batches"] == [str(catalog.snapshot_labeled(spec.name, w)) for w in ("w-001", "w-002")]
    assert conf["reason"] == "monitoring window w-003: breach persisted; data drift: 40% of features drifted"
