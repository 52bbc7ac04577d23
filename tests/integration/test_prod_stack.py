"""`make up-prod`'s topology for real: Airflow on PostgreSQL, CeleryExecutor on Redis with two workers, MLflow on
PostgreSQL behind its own login. The lifecycle (training, partitioned scoring, monitoring, the retraining it
triggers) runs across it as MLflow's service account, and an anonymous alias write is refused;
Airflow's own records say both workers ran tasks, and the runs, versions, aliases and history rows are in
PostgreSQL. Then a worker is killed while it scores: the task is retried on the other and the run succeeds."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import psycopg
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import free_port, http_json, listening_addresses, refuse_in_fast_tier, shell

from modelops.config.settings import DEFAULT_CONFIG_PATH
from modelops.core.handoffs import MONITORING_DAG_ID, SCORING_DAG_ID, TRAINING_DAG_ID

pytestmark = pytest.mark.integration

PG = "postgresql://postgres@127.0.0.1:5432"


def _shell(command: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    """A command with scripts/prod_env.sh sourced under `env` (the production-shaped stack: PostgreSQL, Redis)."""
    refuse_in_fast_tier("the production-shaped stack (scripts/prod_env.sh)")
    return shell(command, env, timeout, profile="scripts/prod_env.sh")


def _rows(env: dict[str, str], database: str, sql: str) -> list[tuple]:
    with psycopg.connect(f"{PG}/{env[database]}") as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """The production-shaped stack on free ports, its own databases and its own Celery queue; dropped after."""
    tmp = tmp_path_factory.mktemp("prod")
    home = tmp / "workspace"
    # One breached window retrains (persistence 1): the first scored snapshot already triggers the retraining,
    # which keeps this module short; the persistence rule itself is tested in tests/modelops.
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["monitoring"]["persistence"] = 1
    # two families still fan out (two mapped tasks); the slowest family and most of the search are left out
    config["training"]["candidates"] = ["logistic_regression", "hist_gradient_boosting"]
    config["training"]["search"]["n_configs"] = 3
    (tmp / "modelops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    prefix = f"mo_t{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "MODELOPS_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "MODELOPS_PG_PREFIX": prefix,
        "MODELOPS_AIRFLOW_DB": f"{prefix}_airflow",
        "MODELOPS_MLFLOW_DB": f"{prefix}_mlflow",
        "MODELOPS_AUDIT_DB": f"{prefix}_audit",
        "MODELOPS_DB_URL": f"{PG}/{prefix}_audit",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/{prefix}_airflow",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{PG}/{prefix}_airflow",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/9",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": prefix,  # this module's queue: nothing else on Redis takes its tasks
        "MODELOPS_WORKER_CONCURRENCY": "2",  # pool processes per worker
        "AIRFLOW__API__PORT": str(free_port()),
        "MLFLOW_PORT": (mlflow_port := str(free_port())),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    env["MODELOPS_CONFIG"] = str(tmp / "modelops.yaml")
    try:
        started = _shell("scripts/stack.sh up", env, 300)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "started worker2" in started.stdout and "make down-prod" in started.stdout
        yield {"env": env, "home": home, "api": f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"}
    finally:
        stopped = _shell("scripts/stack.sh down", env, 120)
        dropped = _shell(".venv/bin/python scripts/prod_stores.py drop", env, 120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert dropped.returncode == 0, dropped.stdout + dropped.stderr


def _token(prod) -> str:
    users = Path(prod["env"]["AIRFLOW_HOME"], "simple_auth_manager_passwords.json.generated")
    password = json.loads(users.read_text())["admin"]
    body = {"username": "admin", "password": password}
    return http_json(f"{prod['api']}/auth/token", method="POST", body=body)["access_token"]


def test_lifecycle_runs_across_both_workers_and_lands_in_postgres(prod):
    env = prod["env"]
    command = (
        ".venv/bin/python scripts/lifecycle.py --rows 3000 --window-rows 1500 --partitions 2 --until retrain --keep-up"
    )
    result = _shell(command, env, 1200)
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-3000:]
    assert "action RETRAIN" in out and "Retraining triggered by monitoring" in out
    assert "two Celery workers" in out and "--keep-up" in out
    # the production-shaped profile asks a human (promotion.require_approval): the training DAG's own promotion
    # parked in Required Actions and the second user answered it (admin, who triggered the runs, never may)
    # every promotion decided (v1's, and the monitoring-triggered retrain's when it wins) waited for that answer
    promotions = out.count("decision  PROMOTE")
    assert out.count("waiting in Required Actions; reviewer reviews and approves") == promotions >= 1

    pids = [int(p.read_text()) for p in (prod["home"] / "run").glob("*.pid")]
    assert len(pids) == 7  # api-server, scheduler, dag-processor, triggerer, mlflow, worker1, worker2
    listening = listening_addresses(pids)
    assert listening and listening <= {"127.0.0.1", "::1"}, listening
    # each Celery worker imported the libraries before its pool forked (modelops_airflow.celery_config): the pool
    # processes, which fork every task, hold scikit-learn without ever having run one themselves
    # (Airflow titles a pool process after the last task it supervised; the worker's other child, Airflow's bundle
    # cleanup, is started before the hook and holds no scikit-learn)
    for name in ("worker1", "worker2"):
        children = psutil.Process(int((prod["home"] / "run" / f"{name}.pid").read_text())).children()
        holding = [any("/sklearn/" in m.path for m in p.memory_maps()) for p in children]
        pool = int(env["MODELOPS_WORKER_CONCURRENCY"])
        assert sum(holding) == pool, f"{name}: {sum(holding)} of {len(children)} children hold scikit-learn"

    # Airflow's own records (its PostgreSQL DB): who ran what
    tis = _rows(
        env,
        "MODELOPS_AIRFLOW_DB",
        "SELECT dag_id, task_id, map_index, hostname FROM task_instance WHERE state = 'success'",
    )
    hosts = {h.split("@")[0] for *_, h in tis}
    assert hosts == {"worker1", "worker2"}, hosts
    assert {d for d, *_ in tis} == {TRAINING_DAG_ID, SCORING_DAG_ID, MONITORING_DAG_ID}
    scored = {(d, t, m) for d, t, m, _ in tis if t == "score_group"}
    assert {m for *_, m in scored} == {0, 1}  # two partitions, fanned out
    runs = _rows(env, "MODELOPS_AIRFLOW_DB", "SELECT dag_id, state FROM dag_run WHERE dag_id = 'modelops_training'")
    assert sorted(runs) == [(TRAINING_DAG_ID, "success")] * 2  # v1, then the retraining monitoring triggered
    executor = _rows(env, "MODELOPS_AIRFLOW_DB", "SELECT DISTINCT queue FROM task_instance")
    assert executor == [(env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"],)]

    # MLflow's store is PostgreSQL: runs, both versions, the champion alias
    assert _rows(env, "MODELOPS_MLFLOW_DB", "SELECT count(*) FROM runs")[0][0] >= 6  # 2 x (umbrella + 2), scoring
    versions = _rows(
        env, "MODELOPS_MLFLOW_DB", "SELECT version FROM model_versions WHERE name = 'voter_turnout_model' ORDER BY 1"
    )
    assert versions == [(1,), (2,)]
    aliases = dict(
        _rows(
            env,
            "MODELOPS_MLFLOW_DB",
            "SELECT alias, version FROM registered_model_aliases WHERE name = 'voter_turnout_model'",
        )
    )
    assert aliases.get("champion") in {1, 2} and (aliases["champion"] == 2 or aliases.get("challenger") == 2)
    assert promotions == aliases["champion"]  # a retrain that won was approved by a person before it served
    # the audit DB: alias history and the monitoring verdicts
    history = _rows(env, "MODELOPS_AUDIT_DB", "SELECT alias, version FROM alias_history ORDER BY id")
    assert history[0] == ("champion", "1") and history[-1] in {("champion", "2"), ("challenger", "2")}
    actions = _rows(env, "MODELOPS_AUDIT_DB", "SELECT action FROM monitoring_history ORDER BY id")
    assert actions == [("retrain",)]


def _mlflow_status(prod, path: str, method: str = "GET", body: dict | None = None, login: bool = False) -> int:
    """HTTP status of one request to the stack's MLflow, anonymous or as the tasks' service account."""
    import base64

    headers = {"Content-Type": "application/json"}
    if login:
        secrets = Path(prod["env"]["MODELOPS_HOME"], "secrets", "mlflow.env").read_text().splitlines()
        password = dict(line.split("=", 1) for line in secrets)["MLFLOW_TRACKING_PASSWORD"]
        headers["Authorization"] = "Basic " + base64.b64encode(f"modelops-service:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    url = f"http://127.0.0.1:{prod['env']['MLFLOW_PORT']}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_mlflow_refuses_anonymous_requests(prod):
    model = "/api/2.0/mlflow/registered-models/get?name=voter_turnout_model"
    move = {"name": "voter_turnout_model", "alias": "champion", "version": "1"}
    assert _mlflow_status(prod, "/api/2.0/mlflow/registered-models/alias", "POST", move) == 401
    assert _mlflow_status(prod, model) == 401
    assert _mlflow_status(prod, "/health") == 200
    assert _mlflow_status(prod, model, login=True) == 200  # the lifecycle above registered it as this account
    assert stat.S_IMODE(Path(prod["env"]["MODELOPS_HOME"], "secrets", "mlflow.env").stat().st_mode) == 0o600


def test_a_killed_worker_task_is_retried_on_the_other(prod, monkeypatch):
    env = prod["env"]
    monkeypatch.setenv("MODELOPS_HOME", env["MODELOPS_HOME"])
    monkeypatch.setenv("MODELOPS_CONFIG", env["MODELOPS_CONFIG"])
    from modelops.collect import scenarios
    from modelops.config.settings import load_settings
    from modelops.core import catalog

    spec = load_settings().dataset("voter_turnout")
    snapshot = "kill-test"
    inputs = scenarios.write_window(spec, snapshot, "stable", 40000, seed=77)
    folder = catalog.production_dir(spec.name) / "partitioned" / snapshot
    folder.mkdir(parents=True)
    table = pq.read_table(inputs)
    for i in range(2):
        pq.write_table(table.slice(i * 20000, 20000), folder / f"part-{i}.parquet")

    token = _token(prod)
    base = f"{prod['api']}/api/v2/dags/{SCORING_DAG_ID}/dagRuns"
    conf = {"dataset": spec.name, "snapshot": snapshot, "input": str(folder), "groups": 1}
    run_id = http_json(base, token, "POST", {"logical_date": None, "conf": conf})["dag_run_id"]
    url = f"{base}/{run_id}/taskInstances/score_group/0"

    deadline = time.monotonic() + 300
    victim = None
    while time.monotonic() < deadline:  # the one score_group task starts on some worker: kill that worker
        try:
            ti = http_json(url, token)
        except urllib.error.HTTPError as exc:  # the mapped task exists once `group_indices` has run
            assert exc.code == 404, exc
            time.sleep(0.3)
            continue
        if ti["state"] == "running" and ti["hostname"]:
            victim = ti["hostname"].split("@")[0]
            break
        assert ti["state"] in {None, "scheduled", "queued", "running"}, ti
        time.sleep(0.3)
    assert victim in {"worker1", "worker2"}, "score_group never ran"
    pid = int((prod["home"] / "run" / f"{victim}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    state = None
    while time.monotonic() < deadline + 300 and state not in {"success", "failed"}:
        time.sleep(2)
        state = http_json(f"{base}/{run_id}", token)["state"]
    ti = http_json(url, token)
    assert state == "success", ti
    survivor = ({"worker1", "worker2"} - {victim}).pop()
    assert ti["try_number"] == 2 and ti["hostname"].split("@")[0] == survivor, ti
    first = _rows(
        env,
        "MODELOPS_AIRFLOW_DB",
        f"SELECT hostname, state FROM task_instance_history WHERE run_id = '{run_id}' AND task_id = 'score_group'",
    )
    assert [h.split("@")[0] for h, _ in first] == [victim] and first[0][1] in {"failed", "up_for_retry"}, first
    manifest = catalog.read_json(catalog.scoring_manifest(spec.name, snapshot))
    assert manifest["rows_in"] == manifest["rows_out"] == 40000
    print(f"killed {victim}; retried on {survivor}; run finished {time.monotonic() - killed_at:.0f} s after the kill")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
