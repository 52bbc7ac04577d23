"""MLflow with its own authentication, as the production-shaped stack runs it: a real `mlflow server --app-name
basic-auth` on a free 127.0.0.1 port, prepared by scripts/mlflow_auth.py. Anonymous reads and writes get 401, a
user without a grant 403; the service account moves `champion` through the product; a move it makes outside
the DAGs is still caught by `alias_log.alias_drift`."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import REPO, free_port

from modelops.core.handoffs import PROMOTION_DAG_ID
from modelops.store import alias_log, registry, tracking

pytestmark = pytest.mark.integration

MODEL = "auth_test_model"
ALIAS_API = "/api/2.0/mlflow/registered-models/alias"


def _password() -> str:
    return secrets.token_hex(16)


def _request(base: str, path: str, method: str = "GET", body: dict | None = None, user: tuple[str, str] | None = None):
    """(status, parsed body) of one request; `user` as HTTP basic credentials, or anonymous."""
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An MLflow server with the basic-auth app on a free port, its users prepared; stopped after."""
    tmp = tmp_path_factory.mktemp("mlflow-auth")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp / "auth" / "basic_auth.ini"),
        "MODELOPS_MLFLOW_AUTH_DB": f"sqlite:///{tmp / 'auth' / 'basic_auth.db'}",
        "MODELOPS_MLFLOW_ADMIN_USER": "admin",
        "MODELOPS_MLFLOW_ADMIN_PASSWORD": _password(),
        "MLFLOW_TRACKING_USERNAME": "modelops-service",
        "MLFLOW_TRACKING_PASSWORD": _password(),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": _password(),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for _ in range(2):  # idempotent: the second run sets the same passwords again
        prepared = subprocess.run(
            [sys.executable, "scripts/mlflow_auth.py", "prepare"], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert prepared.returncode == 0, prepared.stderr
    assert "service account 'modelops-service': password set" in prepared.stdout
    assert "NO_PERMISSIONS" in (tmp / "auth" / "basic_auth.ini").read_text()
    assert env["MODELOPS_MLFLOW_ADMIN_PASSWORD"] not in (tmp / "auth" / "basic_auth.ini").read_text()
    command = [
        str(REPO / ".venv" / "bin" / "mlflow"),
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(tmp / "artifacts"),
    ]
    log = (tmp / "mlflow.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp / "mlflow.log").read_text()[-3000:]
            try:
                if _request(base, "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("MLflow did not come up: " + (tmp / "mlflow.log").read_text()[-3000:])
        yield {
            "base": base,
            "tmp": tmp,
            "admin": ("admin", env["MODELOPS_MLFLOW_ADMIN_PASSWORD"]),
            "service": ("modelops-service", env["MLFLOW_TRACKING_PASSWORD"]),
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def as_service(server, workspace, monkeypatch):
    """The product's registry module talking to the server as the service account (as the Airflow tasks do)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["base"])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", server["service"][0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server["service"][1])
    return server


def _two_versions(name: str = MODEL) -> tuple[str, str]:
    """Model `name` with two versions (from one run) created as the service account."""
    mlflow_client = tracking.client()
    run = mlflow_client.create_run(tracking.experiment_id("auth-test"))
    mlflow_client.create_registered_model(name)
    versions = [
        mlflow_client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id) for _ in range(2)
    ]
    return str(versions[0].version), str(versions[1].version)


def test_anonymous_and_ungranted_requests_are_refused_and_the_service_account_promotes(as_service):
    base = as_service["base"]
    v1, v2 = _two_versions()
    actor = registry.dag_actor(PROMOTION_DAG_ID, "tests")
    assert registry.set_alias(MODEL, registry.CHAMPION, v1, actor, "first champion", None)
    assert alias_log.alias_drift(MODEL) is None

    move = {"name": MODEL, "alias": registry.CHAMPION, "version": v2}
    status, _ = _request(base, ALIAS_API, "POST", move)
    assert status == 401  # the side door of issue 18: an anonymous alias write
    assert _request(base, f"/api/2.0/mlflow/registered-models/get?name={MODEL}")[0] == 401  # and a read
    assert _request(base, "/api/2.0/mlflow/experiments/search?max_results=5")[0] == 401
    assert _request(base, ALIAS_API, "POST", move, ("modelops-service", "wrong-password-123"))[0] == 401

    # a known user without a grant gets nothing either (default_permission NO_PERMISSIONS)
    nobody = ("reader", _password())
    account = {"username": nobody[0], "password": nobody[1]}
    created = _request(base, "/api/2.0/mlflow/users/create", "POST", account, as_service["admin"])
    assert created[0] == 200, created
    assert _request(base, ALIAS_API, "POST", move, nobody)[0] == 403
    assert _request(base, f"/api/2.0/mlflow/registered-models/get?name={MODEL}", user=nobody)[0] == 403
    # the service account moves aliases but administers nobody
    other = {"username": "intruder", "password": _password()}
    assert _request(base, "/api/2.0/mlflow/users/create", "POST", other, as_service["service"])[0] == 403
    assert str(registry.version_by_alias(MODEL, registry.CHAMPION).version) == v1

    # through the product: the service account moves champion, the alias history records it
    assert registry.set_alias(MODEL, registry.CHAMPION, v2, actor, "promoted", None)
    assert alias_log.alias_drift(MODEL) is None
    assert [r["version"] for r in alias_log.alias_history(MODEL)] == [v1, v2]


def test_a_move_with_the_service_account_outside_the_dags_is_caught(as_service):
    name = f"{MODEL}_side_door"
    v1, v2 = _two_versions(name)
    registry.set_alias(name, registry.CHAMPION, v1, registry.dag_actor(PROMOTION_DAG_ID), "first champion", None)
    tracking.client().set_registered_model_alias(name, registry.CHAMPION, v2)  # the credentials, not the DAGs
    drift = alias_log.alias_drift(name)
    assert drift is not None and (drift.registry_version, drift.recorded_version) == (v2, v1)
    assert alias_log.alias_drift(f"{MODEL}_never_registered") is None  # a missing model is no drift (and no 403)
