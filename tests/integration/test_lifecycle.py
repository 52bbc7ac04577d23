"""`make run`'s lifecycle, for real: scheduler, train v1, drifted cycle, monitoring, retraining, verdict, stop."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from modelops import history, registry
from modelops.config import REPO_ROOT

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lifecycle_script_closes_the_loop(tmp_path, monkeypatch):
    home = tmp_path / "workspace"
    env = {
        **os.environ,
        "MODELOPS_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "AIRFLOW__API__PORT": str(_free_port()),
        "MLFLOW_PORT": str(_free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    env.pop("MODELOPS_DB_URL", None)
    (home / "airflow").mkdir(parents=True)
    command = (
        "source scripts/env.sh && .venv/bin/airflow db migrate > /dev/null && "
        ".venv/bin/python scripts/lifecycle.py --rows 8000 --window-rows 4000"
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-3000:]
    assert "action WATCH" in out and "action RETRAIN" in out
    assert "Retraining triggered by monitoring" in out
    assert out.rstrip().endswith("Stopped everything this run started.")
    assert not list((home / "run").glob("*.pid"))

    monkeypatch.setenv("MODELOPS_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    actions = [r["action"] for r in history.read_monitoring_history("voter_turnout")]
    assert actions[-2:] == ["watch", "retrain"]
    aliases = [(r["alias"], r["version"]) for r in history.read_alias_history("voter_turnout_model")]
    assert aliases[0] == ("champion", "1")
    assert aliases[-1] in {("champion", "2"), ("challenger", "2")}  # judged against v1 either way
    retrained = registry.client().get_model_version("voter_turnout_model", "2")
    assert retrained.tags["modelops.trigger_reason"].startswith("monitoring window")
    assert retrained.tags["modelops.compared_to"] == "v1"
    assert int(retrained.tags["modelops.extra_batches"]) >= 1
