"""`make up`'s stack for real: scheduler + LocalExecutor + api-server + MLflow, loopback only, stopped after."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest
from conftest import free_port, http_json, listening_addresses, stack

from modelops.handoffs import TRAINING_DAG_ID

pytestmark = pytest.mark.integration


def test_stack_runs_the_dag_on_loopback_and_stops(airflow_db, workspace):
    api_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "AIRFLOW__API__PORT": str(api_port),
        "MLFLOW_PORT": str(mlflow_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    run_dir = workspace / "run"
    pids: list[int] = []
    try:
        started = stack("up", env)
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{api_port}" in started.stdout
        pids = [int(p.read_text()) for p in run_dir.glob("*.pid")]
        assert len(pids) == 5
        listening = listening_addresses(pids)
        assert listening and listening <= {"127.0.0.1", "::1"}, listening

        base = f"http://127.0.0.1:{api_port}"
        password = json.loads(
            Path(os.environ["AIRFLOW_HOME"], "simple_auth_manager_passwords.json.generated").read_text()
        )["admin"]
        token = http_json(f"{base}/auth/token", method="POST", body={"username": "admin", "password": password})[
            "access_token"
        ]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the dag-processor must have serialized the DAG first
            dags = http_json(f"{base}/api/v2/dags", token)["dags"]
            if any(d["dag_id"] == TRAINING_DAG_ID for d in dags):
                break
            time.sleep(2)
        http_json(f"{base}/api/v2/dags/{TRAINING_DAG_ID}", token, "PATCH", {"is_paused": False})
        run = http_json(
            f"{base}/api/v2/dags/{TRAINING_DAG_ID}/dagRuns",
            token,
            "POST",
            {"logical_date": None, "conf": {"dataset": "anes96_vote"}},
        )
        url = f"{base}/api/v2/dags/{TRAINING_DAG_ID}/dagRuns/{run['dag_run_id']}"
        deadline = time.monotonic() + 600  # generous: a loaded 2-core machine schedules slowly
        state = run["state"]
        while state not in {"success", "failed"} and time.monotonic() < deadline:
            time.sleep(3)
            state = http_json(url, token)["state"]
        tis = http_json(f"{url}/taskInstances", token)["task_instances"]
        assert state == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
        mapped = sorted((t["start_date"], t["end_date"]) for t in tis if t["task_id"] == "train_candidate")
        assert len(mapped) == 3
        assert mapped[1][0] < mapped[0][1], "two candidates should train at the same time under the scheduler"

        model = http_json(
            f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/registered-models/get?name=anes96_vote_model"
        )["registered_model"]
        assert {"alias": "champion", "version": "1"} in model["aliases"]
    finally:
        stopped = stack("down", env)
    assert stopped.returncode == 0, stopped.stderr
    assert not list(run_dir.glob("*.pid"))
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
