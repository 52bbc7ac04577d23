"""The monitoring DAG through Airflow: branch to retraining on a persistent breach, alert to a webhook, record;
judge each window once, hold a second retrain of the same window in the cooldown, never alert from a dry
run, alert when `assess` fails."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import typing
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import train_and_promote

from modelops.collect import scenarios
from modelops.config.settings import REPO_ROOT
from modelops.core.handoffs import (
    JUDGE_GROUP_ID,
    MONITORING_DAG_ID,
    NO_ACTION_TASK_ID,
    RETRAIN_TASK_ID,
    TRAINING_DAG_ID,
)
from modelops.monitor import operations
from modelops.score.snapshot import score_snapshot
from modelops.store import artifacts, history, tracking

pytestmark = pytest.mark.integration


class _Hook(BaseHTTPRequestHandler):
    received: typing.ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    """A webhook receiver on loopback, wired to the `modelops_alerts` Airflow connection; stopped after."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    monkeypatch.setenv("AIRFLOW_CONN_MODELOPS_ALERTS", f"http://127.0.0.1:{server.server_port}/hooks/modelops")
    yield _Hook.received
    server.shutdown()
    server.server_close()


def _states(run) -> dict[str, str]:
    """Task states by task id without the `judge.` group (one dataset has a champion here: one instance each)."""
    states = {}
    for ti in run.get_task_instances():
        task_id = ti.task_id.removeprefix(f"{JUDGE_GROUP_ID}.")
        assert task_id not in states, f"{task_id} ran for more than one dataset"
        states[task_id] = ti.state
    return states


def test_persistent_drift_triggers_retraining_once_and_alerts(airflow_db, workspace, settings, webhook):
    spec = train_and_promote(settings, 12000, "v1")
    # The trigger needs the training DAG in the metadata DB, as the dag-processor would have put it.
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "reserialize"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(MONITORING_DAG_ID)
    for i in range(2):  # delivered, then served by the champion (the scoring DAG's domain call)
        scenarios.write_window(spec, f"2028-10-0{i + 1}", "covariate_shift", 3000, seed=50 + i)
        score_snapshot(spec, settings, snapshot=f"2028-10-0{i + 1}")
    first = dag.test(run_conf={"window": "2028-10-01"})
    assert first.state == "success", _states(first)
    figures = operations.run_figures(MONITORING_DAG_ID, first.run_id)
    assert {"judge.assess[0]", "judge.decide[0]", "judge.record[0]", "check_operations"} <= {
        t["task"] for t in figures["tasks"]
    }
    assert {t["dataset"] for t in operations._rows(MONITORING_DAG_ID, first.run_id) if t["map_index"] >= 0} == {
        "voter_turnout"
    }  # a mapped task's figures name the dataset it judged
    assert figures["totals"]["rows"] > 0  # the judged window's rows go with the figures: throughput
    judged = tracking.client().search_runs([tracking.monitoring_experiment(spec.name)])
    assert any(
        {"ops.judge.assess_0.wall_s", "ops.judge.decide_0.peak_rss_mb", "ops.run.task_s"} <= set(r.data.metrics)
        for r in judged
    )
    assert _states(first)[RETRAIN_TASK_ID] == "skipped" and _states(first)[NO_ACTION_TASK_ID] == "success"
    assert [a["action"] for a in webhook] == ["watch"]

    second = dag.test(run_conf={"window": "2028-10-02"})
    states = _states(second)
    assert second.state == "success", states
    assert states[RETRAIN_TASK_ID] == "success" and states[NO_ACTION_TASK_ID] == "skipped"
    alert = webhook[-1]
    assert alert["action"] == "retrain" and alert["severity"] == "critical" and alert["window_id"] == "2028-10-02"
    assert any(r.startswith("data drift") for r in alert["reasons"])

    rows = history.read_monitoring_history(spec.name)
    assert [(r["window_id"], r["action"]) for r in rows] == [("2028-10-01", "watch"), ("2028-10-02", "retrain")]
    assert Path(rows[-1]["report_path"]).read_text().count("data:image/png;base64") >= 3  # scores + drifted features

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        confs = [r.conf for r in session.query(DagRun).filter(DagRun.dag_id == TRAINING_DAG_ID).all()]
    (conf,) = [c for c in confs if "monitoring window 2028-10-02" in (c or {}).get("reason", "")]
    assert conf["dataset"] == "voter_turnout" and "breach persisted" in conf["reason"]
    assert isinstance(conf["extra_batches"], list)

    client = tracking.client()
    experiment = client.get_experiment_by_name("modelops/voter_turnout/monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.data.tags["modelops.action"] for r in runs} == {"watch", "retrain"}
    assert all("drift_share" in r.data.metrics for r in runs)
    for r in runs:  # the configuration each window was judged with
        assert artifacts.RESOLVED_CONFIG_ARTIFACT in {a.path for a in client.list_artifacts(r.info.run_id)}
    # a shifted electorate is served by the champion (no fallback); prediction drift is measured on its scores
    assert rows[-1]["signals"] == ["data_drift", "multivariate_drift", "prediction_drift"]
    assert rows[-1]["fallback_share"] == 0.0
    assert all(r.data.metrics["fallback_share"] == 0.0 for r in runs)

    # A scheduled run (no window named) finds the newest window judged already: every window task skips;
    # the operational check, which judges earlier runs, and the choice of datasets still run.
    # (A freshly parsed DAG, as each scheduled run gets: in-process dag.test() runs share Param objects,
    # so a previous run's conf would otherwise stand in for the defaults.)
    scheduled = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(MONITORING_DAG_ID).test()
    assert scheduled.state == "success"
    states = _states(scheduled)
    assert states.pop("check_operations") == "success" and states.pop("datasets_to_judge") == "success"
    assert set(states.values()) == {"skipped"}, states
    assert len(history.read_monitoring_history(spec.name)) == 2 and len(webhook) == 2

    # Naming the window re-judges it on purpose; the breach persists, but the retrain this same window
    # triggered minutes ago holds a second one back.
    again = dag.test(run_conf={"window": "2028-10-02"})
    states = _states(again)
    assert states[RETRAIN_TASK_ID] == "skipped" and states[NO_ACTION_TASK_ID] == "success", states
    rows = history.read_monitoring_history(spec.name)
    assert [(r["window_id"], r["action"]) for r in rows][-1] == ("2028-10-02", "cooldown")
    assert webhook[-1]["action"] == "cooldown" and len(webhook) == 3

    # A dry run measures and reports, but records nothing and alerts nobody.
    dry = dag.test(run_conf={"window": "2028-10-02", "dry_run": True})
    assert dry.state == "success" and _states(dry)["record"] == "success"
    assert len(history.read_monitoring_history(spec.name)) == 3 and len(webhook) == 3

    with create_session() as session:
        triggered = session.query(DagRun).filter(DagRun.dag_id == TRAINING_DAG_ID).count()
    assert triggered == len(confs)  # no retraining beyond the one on 2028-10-02

    # A failing assess (no such window) alerts once, after its retry, with the error.
    # (dry_run named: in-process dag.test() runs share Param objects, so the dry run's True would linger.)
    failed = dag.test(run_conf={"window": "2028-10-09", "dry_run": False})
    assert failed.state == "failed" and _states(failed)["assess"] == "failed"
    (failure,) = [a for a in webhook if a["kind"] == "modelops.monitoring.failure"]
    assert failure["window_id"] == "2028-10-09" and failure["task"] == f"{MONITORING_DAG_ID}.{JUDGE_GROUP_ID}.assess"
    assert failure["dataset"] == "voter_turnout"  # the mapped instance's dataset, though no `dataset` param named it
    assert failure["error"].startswith("FileNotFoundError: window '2028-10-09' of voter_turnout has no committed")
    assert len(history.read_monitoring_history(spec.name)) == 3


def test_no_production_data_yet_skips_cleanly(airflow_db, workspace, settings):
    spec = settings.dataset("voter_turnout")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(MONITORING_DAG_ID)
    run = dag.test(run_conf={"dry_run": True})  # no champion, no windows: the check is skipped, not failed
    assert run.state == "success"
    assert _states(run)["assess"] == "skipped"
    assert history.read_monitoring_history(spec.name) == []
