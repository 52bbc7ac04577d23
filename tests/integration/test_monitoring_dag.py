"""The monitoring DAG through Airflow: branch to retraining on a persistent breach, alert to a webhook, record."""

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

from modelops import history, registry, scenarios
from modelops.config import REPO_ROOT
from modelops.handoffs import MONITORING_DAG_ID, NO_ACTION_TASK_ID, RETRAIN_TASK_ID, TRAINING_DAG_ID

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
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_persistent_drift_triggers_retraining_and_alerts(airflow_db, workspace, settings, webhook):
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
    for i in range(2):
        scenarios.write_window(spec, f"2028-10-0{i + 1}", "covariate_shift", 3000, seed=50 + i)
    first = dag.test(run_conf={"window": "2028-10-01"})
    assert first.state == "success", _states(first)
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

    client = registry.client()
    experiment = client.get_experiment_by_name("modelops/voter_turnout/monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.data.tags["modelops.action"] for r in runs} == {"watch", "retrain"}
    assert all("drift_share" in r.data.metrics for r in runs)


def test_no_production_data_yet_skips_cleanly(airflow_db, workspace, settings):
    spec = settings.dataset("voter_turnout")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(MONITORING_DAG_ID)
    run = dag.test(run_conf={"dry_run": True})  # no champion, no windows: the check is skipped, not failed
    assert run.state == "success"
    assert _states(run)["assess"] == "skipped"
    assert history.read_monitoring_history(spec.name) == []
