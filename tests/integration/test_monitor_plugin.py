"""The model monitor inside the real api-server (`make up`'s stack on free loopback ports): behind
Airflow's login, typed in its OpenAPI, listed as a UI navigation entry, serving the page and the
workspace's files (and nothing else), with security headers on every response and no echo in a 404,
and showing an approval that really waits in Required Actions (what it would change, who asked)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from conftest import admin_token, free_port, http_json, run_training, stack, train_and_promote, use_workspace

from modelops.collect import scenarios
from modelops.core.handoffs import PROMOTION_DAG_ID
from modelops.score.snapshot import score_snapshot
from modelops.store import history, registry

pytestmark = pytest.mark.integration

PREFIX = "/modelops-monitor"


def _get(url: str, token: str | None = None, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET (errors included; redirects not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = f"_token={cookie}"
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def live(airflow_db, tmp_path_factory, settings):
    """Two versions and one scored snapshot in a fresh workspace, then the stack on it."""
    patch = pytest.MonkeyPatch()
    root = use_workspace(patch, tmp_path_factory.mktemp("monitor-plugin") / "workspace")
    spec = train_and_promote(settings, 3000, "plugin-v1")
    run_training(settings, "voter_turnout", "plugin-v2", rows=3500)
    scenarios.write_window(spec, "s-000", "stable", 800, seed=5)
    score_snapshot(spec, settings, snapshot="s-000")
    champion = str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version)
    api_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "AIRFLOW__API__PORT": str(api_port),
        "MLFLOW_PORT": str(mlflow_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    try:
        started = stack("up", env)
        assert started.returncode == 0, started.stdout + started.stderr
        base = f"http://127.0.0.1:{api_port}"
        token = admin_token(base)
        yield {"base": base, "token": token, "root": root, "champion": champion, "mlflow_port": mlflow_port}
    finally:
        stopped = stack("down", env)
        patch.undo()
        assert stopped.returncode == 0, stopped.stderr


ENDPOINTS = (
    "/",
    "/api/overview",
    "/api/datasets",
    "/api/datasets/voter_turnout",
    "/api/approvals",
    "/files/scoring/voter_turnout/s-000/manifest.json",
    "/openapi.json",
)


def test_anonymous_and_forged_requests_are_refused(live):
    for path in ENDPOINTS:
        status, _, body = _get(live["base"] + PREFIX + path)
        assert status == 401, (path, status, body[:200])
        status, _, _ = _get(live["base"] + PREFIX + path, token="not-a-jwt")
        assert status in (401, 403), (path, status)
        status, _, _ = _get(live["base"] + PREFIX + path, cookie=live["token"][:-4] + "AAAA")  # a tampered cookie
        assert status in (401, 403), (path, status)


def test_the_data_endpoints_answer_a_logged_in_user(live):
    base, token = live["base"] + PREFIX, live["token"]
    listed = {d["dataset"]: d for d in http_json(f"{base}/api/datasets", token)["datasets"]}
    assert listed["voter_turnout"]["champion_version"] == live["champion"]
    view = http_json(f"{base}/api/datasets/voter_turnout", token)
    assert view["champion"]["version"] == live["champion"] and view["champion"]["gates"]
    assert [s["snapshot"] for s in view["served"]] == ["s-000"] and view["served"][0]["rows"] == 800
    assert view["mlflow_ui"] == f"http://127.0.0.1:{live['mlflow_port']}"  # exported by scripts/stack.sh
    status, _, body = _get(f"{base}/api/datasets/nope", token)
    assert status == 404 and json.loads(body)["detail"] == "unknown dataset"


def test_the_openapi_document_types_every_data_endpoint(live):
    spec = http_json(live["base"] + PREFIX + "/openapi.json", live["token"])
    expected = {
        "/api/overview": "Overview",
        "/api/datasets": "DatasetList",
        "/api/datasets/{dataset}": "DatasetView",
        "/api/approvals": "ApprovalList",
    }
    for path, schema in expected.items():
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["schema"]["$ref"] == f"#/components/schemas/{schema}"
    schemas = spec["components"]["schemas"]
    assert {"VersionInfo", "GateCheck", "AliasChange", "Trend", "TrendPoint", "WindowVerdict", "Approval"} <= set(
        schemas
    )
    assert schemas["DatasetView"]["properties"]["recent_fallback_share"]["anyOf"][0]["type"] == "number"


def test_the_ui_lists_the_nav_entry(live):
    plugins = http_json(f"{live['base']}/api/v2/plugins", live["token"])["plugins"]
    mine = next(p for p in plugins if p["name"] == "modelops_monitor")
    view = mine["external_views"][0]
    assert (view["name"], view["href"], view["url_route"], view["destination"]) == (
        "Model monitor",
        "modelops-monitor/",
        "modelops-monitor",
        "nav",
    )
    assert any(app.get("url_prefix") == PREFIX for app in mine["fastapi_apps"])


def test_the_page_is_served_with_the_ui_cookie(live):
    status, headers, body = _get(live["base"] + PREFIX + "/?dataset=voter_turnout", cookie=live["token"])
    html = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f'id="champion-version" data-version="{live["champion"]}"' in html
    assert 'id="recent-fallback-share"' in html and 'id="required-actions-link" href="/required_actions"' in html


def test_the_monitor_opens_on_the_overview_of_every_dataset(live):
    base, token = live["base"] + PREFIX, live["token"]
    status, headers, body = _get(base + "/", cookie=token)
    html = body.decode()
    assert status == 200 and headers["content-security-policy"].startswith("default-src 'none'")
    assert f'<tr data-dataset="voter_turnout" data-champion="{live["champion"]}"' in html
    assert '<tr data-dataset="anes96_vote" data-champion=""' in html and 'href="?dataset=voter_turnout"' in html
    rows = {r["dataset"]: r for r in http_json(f"{base}/api/overview", token)["datasets"]}
    assert rows["voter_turnout"]["champion_version"] == live["champion"] and rows["anes96_vote"]["last_window"] is None


def test_files_are_served_only_from_the_reports_cards_and_scoring_folders(live):
    base, token = live["base"] + PREFIX + "/files/", live["token"]
    status, headers, body = _get(base + "scoring/voter_turnout/s-000/manifest.json", token)
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["snapshot"] == "s-000"
    status, headers, _ = _get(base + "scoring/voter_turnout/s-000/report.html", token)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"].startswith("sandbox;")  # a report never runs script as the UI
    for name in (
        "../../modelops.db",
        "scoring/voter_turnout/..%2F..%2F..%2Fmodelops.db",
        "scoring/%2e%2e/%2e%2e/modelops.db",
        "%2Fetc%2Fpasswd",
        "mlflow/mlflow.db",
        "scoring/voter_turnout/s-000/predictions/part-00000.parquet",
    ):
        status, _, body = _get(base + name, token)
        assert status == 404, (name, status, body[:200])
        assert b"SQLite format" not in body and b"root:" not in body


def test_every_response_carries_the_security_headers_and_no_404_echoes(live):
    """Page, JSON, files, 401 and 404s: CSP, nosniff, same-origin framing, no referrer; a 10 kB name is not echoed."""
    base, token = live["base"] + PREFIX, live["token"]
    big = "q" * 10_000
    cases = [
        ("/", token, 200),
        ("/?dataset=voter_turnout", token, 200),
        ("/api/datasets", token, 200),
        ("/api/datasets/voter_turnout", token, 200),
        ("/api/approvals", token, 200),
        ("/openapi.json", token, 200),
        ("/files/scoring/voter_turnout/s-000/manifest.json", token, 200),
        ("/files/scoring/voter_turnout/s-000/report.html", token, 200),
        ("/", None, 401),
        ("/api/datasets", None, 401),
        (f"/api/datasets/{big}", None, 401),
        (f"/api/datasets/{big}", token, 404),
        (f"/?dataset={big}", token, 404),
        (f"/files/reports/voter_turnout/{big}.html", token, 404),
        (f"/files/{big}", token, 404),
        (f"/{big}", token, 404),
    ]
    for path, auth, expected in cases:
        status, headers, body = _get(base + path, token=auth)
        headers = {k.lower(): v for k, v in headers.items()}
        shown = path[:60]
        assert status == expected, (shown, status, body[:200])
        assert headers.get("x-content-type-options") == "nosniff", (shown, headers)
        assert headers.get("x-frame-options") == "SAMEORIGIN", (shown, headers)
        assert headers.get("referrer-policy") == "no-referrer", (shown, headers)
        csp = headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp, (shown, csp)
        assert "unsafe-eval" not in csp and "script-src 'unsafe-inline'" not in csp, (shown, csp)
        if status != 200:
            assert b"q" * 20 not in body and len(body) < 300, (shown, body[:300])
    _, headers, _ = _get(base + "/", token=token)
    assert "script-src 'sha256-" in headers["content-security-policy"]  # the page's one inline script, by hash


def test_a_waiting_approval_is_listed_and_linked(live):
    base, token = live["base"], live["token"]
    view = http_json(f"{base}{PREFIX}/api/datasets/voter_turnout", token)
    other = "1" if live["champion"] == "2" else "2"  # the version not serving can be retired
    deadline = time.monotonic() + 90
    while not any(d["dag_id"] == PROMOTION_DAG_ID for d in http_json(f"{base}/api/v2/dags", token)["dags"]):
        assert time.monotonic() < deadline, "the dag-processor never serialized the promotion DAG"
        time.sleep(2)
    http_json(f"{base}/api/v2/dags/{PROMOTION_DAG_ID}", token, "PATCH", {"is_paused": False})
    conf = {"dataset": "voter_turnout", "action": "retire", "version": other, "reason": "monitor plugin test"}
    run = http_json(
        f"{base}/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns", token, "POST", {"logical_date": None, "conf": conf}
    )
    run_id = run["dag_run_id"]
    try:
        deadline = time.monotonic() + 150
        approvals = []
        while time.monotonic() < deadline:
            answer = http_json(f"{base}{PREFIX}/api/approvals", token)
            assert answer["error"] is None, answer["error"]
            approvals = [a for a in answer["approvals"] if a["run_id"] == run_id]
            if approvals:
                break
            state = http_json(f"{base}/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}", token)["state"]
            assert state in ("queued", "running"), f"the promotion run ended ({state}) before asking"
            time.sleep(3)
        assert approvals, "no approval appeared within 150 s"
        waiting = approvals[0]
        assert waiting["task_id"] == "approve_promotion" and f"v{other}" in waiting["subject"]
        assert (waiting["dataset"], waiting["requester"], waiting["action"], waiting["to_version"]) == (
            "voter_turnout",
            "admin",
            "retire",
            other,
        )
        assert waiting["change"] == f"retire voter_turnout_model v{other} (its aliases removed)"
        assert waiting["from_version"] == live["champion"]  # read from the plan the check task handed on
        status, _, body = _get(f"{base}{PREFIX}/?dataset=voter_turnout", cookie=token)
        html = body.decode()
        assert status == 200 and f'data-run-id="{run_id}" data-dag-id="{PROMOTION_DAG_ID}"' in html
        assert 'data-dataset="voter_turnout" data-requester="admin"' in html
        assert html.index('id="approvals"') < html.index('id="champion-version"')  # pending approvals first
        assert view["challenger"] is None or view["challenger"]["version"] == other
        # a decision recorded for this run (as the DAG's finish would): the monitor says who asked, from Airflow
        history.record_promotion_decision(
            {
                "model_name": "voter_turnout_model",
                "action": "retire",
                "version": other,
                "previous_version": live["champion"],
                "decision": "refused",
                "approver": "bob",
                "decided_at": datetime.now(UTC),
                "reason": "retire: monitor plugin test",
                "comment": "keep it <b>one more week</b>",
                "run_id": run_id,
            }
        )
        decided = http_json(f"{base}{PREFIX}/api/datasets/voter_turnout", token)["decisions"]
        mine = next(d for d in decided if d["run_id"] == run_id)
        assert (mine["decision"], mine["requester"], mine["approver"], mine["override"]) == (
            "refused",
            "admin",
            "bob",
            False,
        )
        _, _, body = _get(f"{base}{PREFIX}/?dataset=voter_turnout", cookie=token)
        assert "keep it &lt;b&gt;one more week&lt;/b&gt;" in body.decode()
    finally:  # the session's Airflow DB is shared: leave no run waiting (end it, then delete it)
        url = f"{base}/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}"
        http_json(url, token, "PATCH", {"state": "failed"})
        urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}, method="DELETE"), timeout=30
        ).close()
