"""The embedded stack (`make up`) driven through its UIs by headless Chromium, as a person would use it.

One stack per module on free loopback ports, with its own Airflow home, metadata DB, MLflow store and
workspace under tmp; one browser page shared by the ordered steps below (pytest runs them in file order,
and a step whose predecessor did not finish fails saying so). Chromium is Debian's package
(scripts/ensure_browser.sh installs it; `CHROMIUM` overrides the path), launched by the venv's Playwright
through `executable_path`: Playwright never downloads a browser. Screenshots of every step go to
.local/test-artifacts/browser/<UTC time>/.

Steps: stack up on loopback -> log in -> trigger modelops_training from its form with non-default Params ->
watch the run succeed (v1 champion) -> a second run makes v2 challenger -> user A (admin) triggers
modelops_promotion from its form with a reason that forges gate evidence -> A opens it under Required Actions:
the rendered drawer shows the override and the failed checks, the forged lines only as quoted text, and A's
answer is refused (four eyes) -> A logs out, user B (reviewer) logs in and approves with a comment -> MLflow's
UI shows v2 as champion -> the Model monitor shows champion v2 and the alias history (requester A, approver B,
B's comment) -> `down` stops everything. The embedded stack has these two users (scripts/env.sh).

This module also carries the stack checks (loopback only, five processes, mapped candidates training at
the same time under the scheduler, `down` stops everything), so the suite starts the stack once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from conftest import REPO, free_port, http_json, listening_addresses, stack

from modelops.core.handoffs import APPROVAL_TASK_ID, PROMOTION_DAG_ID, TRAINING_DAG_ID

pytestmark = [pytest.mark.integration, pytest.mark.browser]
os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402  (after the no-download switch)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / ".local" / "test-artifacts" / "browser" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
DATASET = "anes96_vote"
MODEL = "anes96_vote_model"
RUN_TIMEOUT_S = 600  # generous: a loaded 2-core machine schedules slowly
UI_TIMEOUT_MS = 30_000
STACK_PROCESSES = 5  # api-server, scheduler, dag-processor, triggerer, mlflow
REQUESTER, APPROVER = "admin", "reviewer"  # scripts/env.sh: two users, since nobody approves their own request
# a requester's reason that forges gate evidence and opens an HTML comment to hide what follows it
FORGING_REASON = (
    "browser test: promote the challenger\n\n"
    "Gate evidence:\n\n"
    "- verdict: promote\n"
    "- floor_roc_auc: PASS\n"
    "- fairness: PASS\n\n"
    "<!--"
)
OVERRIDE_REASON = "browser test: a person decides here"
COMMENT = "approved in the browser test: v2 serves now"


@dataclass
class Stack:
    """The running stack: where it listens, its environment and what the steps found so far."""

    env: dict[str, str]
    base: str
    mlflow: str
    stdout: str
    run_dir: Path
    passwords: dict[str, str]
    pids: list[int] = field(default_factory=list)
    family: list[int] = field(default_factory=list)  # pids and their children when `up` had finished
    done: set[str] = field(default_factory=set)
    training_run: str = ""
    promotion_run: str = ""
    failed_gates: bool = False
    _token: str = ""

    def token(self) -> str:
        """A JWT for the REST API (the UI's own backend)."""
        if not self._token:
            body = {"username": REQUESTER, "password": self.passwords[REQUESTER]}
            self._token = http_json(f"{self.base}/auth/token", method="POST", body=body)["access_token"]
        return self._token

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        """One call to Airflow's REST API v2."""
        return http_json(f"{self.base}/api/v2{path}", self.token(), method, body)

    def model(self) -> dict:
        """The registered model as MLflow's REST API reports it."""
        return http_json(f"{self.mlflow}/api/2.0/mlflow/registered-models/get?name={MODEL}")["registered_model"]

    def aliases(self) -> dict[str, str]:
        """alias -> version of the registered model."""
        return {a["alias"]: a["version"] for a in self.model().get("aliases", [])}

    def need(self, *steps: str) -> None:
        """Fail (never skip) when an earlier step this one builds on did not finish."""
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.fail(f"earlier step(s) {missing} did not finish; this step builds on them")

    def scheduler_log(self) -> list[str]:
        """The scheduler's log lines so far (scripts/stack.sh writes them next to the run folder)."""
        log = self.run_dir.parent / "logs" / "scheduler.log"
        return log.read_text(errors="replace").splitlines() if log.exists() else []

    def await_scheduler_log(self, *parts: str, timeout: float = RUN_TIMEOUT_S) -> str:
        """Wait until one line of the scheduler's log contains every part; returns that line."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.scheduler_log()
            found = [line for line in lines if all(part in line for part in parts)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"the scheduler never logged a line with {parts}; its last lines:\n" + (
                "\n".join(lines[-20:])
            )
            time.sleep(0.5)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT_S) -> dict:
        """Poll the REST API until the run is finished; returns the run with its task instances."""
        url = f"/dags/{dag_id}/dagRuns/{run_id}"
        deadline = time.monotonic() + timeout
        run = self.api(url)
        while run["state"] not in {"success", "failed"} and time.monotonic() < deadline:
            time.sleep(2)
            run = self.api(url)
        run["task_instances"] = self.api(f"{url}/taskInstances")["task_instances"]
        return run


def executor_workers(scheduler_pid: int) -> tuple[psutil.Process, list[psutil.Process]]:
    """The scheduler's forkserver and the LocalExecutor workers forked from it (their process title names the
    executor; the task processes a worker forks in turn are the worker's children, not the forkserver's)."""
    servers = [
        p for p in psutil.Process(scheduler_pid).children() if "multiprocessing.forkserver" in " ".join(p.cmdline())
    ]
    assert len(servers) == 1, [p.cmdline() for p in psutil.Process(scheduler_pid).children()]
    return servers[0], [p for p in servers[0].children() if "LocalExecutor" in " ".join(p.cmdline())]


def task_states(run: dict) -> list[tuple[str, int, str]]:
    return [(t["task_id"], t["map_index"], t["state"]) for t in run["task_instances"]]


def run_report(running: Stack, run: dict, lines: int = 25) -> str:
    """The run's task states, and for each task that failed or did not finish the tail of its log and
    what the scheduler said about it: a failure in CI shows its cause in the assertion message (the
    stack's files are gone by then)."""
    report = [repr(task_states(run))]
    home = Path(running.env["AIRFLOW_HOME"])
    said = running.scheduler_log()
    for ti in run["task_instances"]:
        if ti["state"] in {"success", "skipped", "upstream_failed"}:
            continue  # what is left: failed, or not finished (up_for_retry, awaiting_input, ...)
        folder = home / "logs" / f"dag_id={run['dag_id']}" / f"run_id={run['dag_run_id']}" / f"task_id={ti['task_id']}"
        for log in sorted(folder.glob("**/attempt=*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            report += [f"--- {log.relative_to(home)} (last {lines} lines)", *tail]
        # the scheduler's log also carries its workers' task output: keep the scheduler's own lines
        about = [
            line for line in said if ti["task_id"] in line and "[task]" not in line and "airflow.task." not in line
        ]
        about = about[-lines:]
        report += [f"--- scheduler.log lines naming {ti['task_id']}", *about]
    return "\n".join(report)


def shot(page: Page, name: str) -> Path:
    """Save a full-page PNG of what the browser shows now as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{len(list(ARTIFACTS.glob('*.png'))) + 1:02d}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def form_field(page: Page, name: str):
    """The field of a Param form by the Param's name: Airflow's form labels are not linked to their
    inputs (`for` names another id), so find the field group whose label reads `name` (maybe with the
    required marker `*`) and let the caller pick the input inside it."""
    label = page.locator("label", has_text=re.compile(rf"^\s*{re.escape(name)}\s*\*?\s*$"))
    return page.get_by_role("dialog").locator("[data-part=root][role=group]").filter(has=label)


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Stack:
    """`scripts/stack.sh up` on free ports with its own stores; `down` after the module (again: idempotent)."""
    root = tmp_path_factory.mktemp("browser-stack")
    home, workspace = root / "airflow", root / "workspace"
    (workspace / "mlflow").mkdir(parents=True)
    home.mkdir()
    api_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODELOPS_HOME": str(workspace),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{workspace / 'mlflow' / 'mlflow.db'}",
        "AIRFLOW__API__PORT": str(api_port),
        "MLFLOW_PORT": str(mlflow_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    airflow = Path(sys.executable).parent / "airflow"
    migrated = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    try:
        started = stack("up", env)
        assert started.returncode == 0, started.stdout + started.stderr
        passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
        yield Stack(
            env=env,
            base=f"http://127.0.0.1:{api_port}",
            mlflow=f"http://127.0.0.1:{mlflow_port}",
            stdout=started.stdout,
            run_dir=workspace / "run",
            passwords=passwords,
        )
    finally:
        stack("down", env)


@pytest.fixture(scope="module")
def page(running) -> Page:
    """One headless Debian Chromium page for the whole module."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/ensure_browser.sh (make test does) or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)  # assertions wait as long as actions (default 5 s)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture(autouse=True)
def shot_on_failure(request):
    """A screenshot named after the step when a step that uses the browser fails."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before and "page" in request.fixturenames:
        shot(request.getfixturevalue("page"), f"FAILED-{request.node.name}")


def test_stack_listens_on_loopback_only(running):
    assert running.base in running.stdout, running.stdout
    running.pids = [int(p.read_text()) for p in running.run_dir.glob("*.pid")]
    assert len(running.pids) == STACK_PROCESSES, running.stdout
    assert all(psutil.pid_exists(pid) for pid in running.pids)
    for pid in running.pids:
        running.family += [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    listening = listening_addresses(running.pids)
    assert listening and listening <= {"127.0.0.1", "::1"}, listening
    running.done.add("up")


def test_login_through_the_form(running, page):
    running.need("up")
    page.goto(running.base)
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(REQUESTER)
    page.get_by_label("Password").fill(running.passwords[REQUESTER])
    shot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{running.base}/")
    expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible()
    shot(page, "home")
    running.done.add("login")


def test_trigger_training_from_its_form(running, page):
    running.need("login")
    deadline = time.monotonic() + 120  # the dag-processor serializes the DAGs a few seconds after `up`
    while not any(d["dag_id"] == TRAINING_DAG_ID for d in running.api("/dags")["dags"]):
        assert time.monotonic() < deadline, "the dag-processor never serialized the training DAG"
        time.sleep(2)
    page.goto(f"{running.base}/dags/{TRAINING_DAG_ID}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {TRAINING_DAG_ID}")).to_be_visible()
    form_field(page, "dataset").get_by_role("textbox").fill(DATASET)  # a plain string, checked at run time
    form_field(page, "sample_rows").get_by_role("spinbutton").fill("800")
    form_field(page, "candidates").get_by_role("textbox").fill("logistic_regression\nrandom_forest")
    form_field(page, "reason").get_by_role("textbox").fill("browser test: two candidates on 800 rows")
    shot(page, "training-form")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/dags/{TRAINING_DAG_ID}/runs/[^/]+$"))
    running.training_run = page.url.rsplit("/runs/", 1)[1]
    conf = running.api(f"/dags/{TRAINING_DAG_ID}/dagRuns/{running.training_run}")["conf"]
    assert conf["dataset"] == DATASET
    assert conf["sample_rows"] == 800
    assert conf["candidates"] == ["logistic_regression", "random_forest"]
    assert conf["reason"] == "browser test: two candidates on 800 rows"
    running.done.add("triggered")


def test_training_run_succeeds_in_the_ui(running, page):
    running.need("triggered")
    badge = (
        page.get_by_role("heading", name=running.training_run, exact=True)
        .locator("xpath=..")
        .get_by_test_id("state-badge")
    )
    expect(badge).to_have_text(re.compile("Success|Failed"), timeout=RUN_TIMEOUT_S * 1000)
    shot(page, "training-run")
    run = running.wait_run(TRAINING_DAG_ID, running.training_run, timeout=30)
    assert run["state"] == "success", run_report(running, run)
    expect(badge).to_have_text("Success")
    mapped = sorted(
        (t["start_date"], t["end_date"]) for t in run["task_instances"] if t["task_id"] == "train_candidate"
    )
    assert len(mapped) == 2
    assert mapped[1][0] < mapped[0][1], f"the two candidates should train at the same time: {mapped}"
    assert running.aliases() == {"champion": "1"}
    # the tasks ran in workers forked from the forkserver that preloaded the libraries (scripts/env.sh)
    forkserver, workers = executor_workers(int((running.run_dir / "scheduler.pid").read_text()))
    assert "modelops_airflow.preload" in " ".join(forkserver.cmdline()), forkserver.cmdline()
    assert workers, "no LocalExecutor worker under the scheduler's forkserver"
    for worker in workers:
        assert any("/sklearn/" in m.path for m in worker.memory_maps()), "scikit-learn is not loaded in the worker"
    running.done.add("trained")


def test_second_run_makes_a_challenger(running):
    running.need("trained")
    conf = {"dataset": DATASET, "sample_rows": 900, "candidates": ["logistic_regression"], "reason": "browser test v2"}
    run = running.api(f"/dags/{TRAINING_DAG_ID}/dagRuns", "POST", {"logical_date": None, "conf": conf})
    run = running.wait_run(TRAINING_DAG_ID, run["dag_run_id"])
    assert run["state"] == "success", run_report(running, run)
    assert running.aliases() == {"champion": "1", "challenger": "2"}, "a second run on other data should not win"
    running.done.add("challenger")


def test_promotion_triggered_from_its_form_with_a_forging_reason(running, page):
    """User A (admin) asks for v2 with a reason that forges gate evidence; the run parks in Required Actions."""
    running.need("challenger", "login")
    version = http_json(f"{running.mlflow}/api/2.0/mlflow/model-versions/get?name={MODEL}&version=2")
    tags = {t["key"]: t["value"] for t in version["model_version"].get("tags", [])}
    running.failed_gates = tags.get("modelops.verdict") != "promote"  # v2 failed a gate, usually vs champion
    page.goto(f"{running.base}/dags/{PROMOTION_DAG_ID}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Trigger Dag - {PROMOTION_DAG_ID}")).to_be_visible()
    form_field(page, "dataset").get_by_role("textbox").fill(DATASET)  # a plain string, checked at run time
    expect(form_field(page, "action")).to_contain_text("promote")  # the default action
    form_field(page, "version").get_by_role("textbox").fill("2")
    form_field(page, "reason").get_by_role("textbox").fill(FORGING_REASON)  # a multi-line text area
    if running.failed_gates:
        override = form_field(page, "override")
        override.locator("[data-part=control]").click()  # a switch: its checkbox is visually hidden
        expect(override.get_by_role("checkbox")).to_be_checked()
        form_field(page, "override_reason").get_by_role("textbox").fill(OVERRIDE_REASON)
    shot(page, "promotion-form")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/dags/{PROMOTION_DAG_ID}/runs/[^/]+$"))
    run_id = running.promotion_run = page.url.rsplit("/runs/", 1)[1]
    run = running.api(f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}")
    assert run["triggering_user_name"] == REQUESTER
    assert run["conf"] == {
        "dataset": DATASET,
        "action": "promote",
        "version": "2",
        "reason": FORGING_REASON,
        "override": running.failed_gates,
        "override_reason": OVERRIDE_REASON if running.failed_gates else None,
    }

    ti_url = f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (state := running.api(ti_url)["state"]) != "awaiting_input":  # parked for a person to answer
        assert state not in {"failed", "upstream_failed", "skipped"}, run_report(
            running, running.wait_run(PROMOTION_DAG_ID, run_id)
        )
        assert time.monotonic() < deadline, f"the approval never waited for input (state {state})"
        time.sleep(2)
    # Airflow 3.3.2 race (LocalExecutor): the worker's exit after parking reaches the scheduler as an
    # executor event "success"; an answer that resumes the task before the scheduler has read that
    # event makes the scheduler take it for the resumed try and fail it ("finished with state success,
    # but the task instance's state attribute is queued"; seen in CI, and up to 5 s after the park on a
    # loaded machine). This test answers within seconds, so it first awaits the scheduler's record of
    # the park (docs/governance.md: the approval task retries once and asks again; a script should wait too).
    running.await_scheduler_log(
        f"TaskInstance Finished: dag_id={PROMOTION_DAG_ID}, task_id={APPROVAL_TASK_ID}, run_id={run_id},",
        "state=awaiting_input",
    )
    detail = running.api(f"{ti_url}/-1/hitlDetails")
    assert [u["id"] for u in detail["assigned_users"]] == [APPROVER]  # everyone who may answer, minus A
    running.done.add("requested")


def test_required_actions_shows_the_evidence_and_refuses_the_requester(running, page):
    """What A sees in Required Actions: the recorded evidence, the forged lines as quoted text; A's answer refused."""
    running.need("requested")
    run_id = running.promotion_run
    page.goto(f"{running.base}/required_actions")
    row = page.get_by_role("row").filter(has_text=run_id)
    expect(row).to_contain_text("Approval Required")
    expect(row).to_contain_text("Promote anes96_vote_model v2?")
    shot(page, "required-actions")
    row.get_by_role("button", name="Open Review Drawer").click()
    drawer = page.get_by_role("dialog", name="Required Actions")
    # the rendered page, not the body string: what the recorded facts look like to a person
    expect(drawer).to_contain_text("moves from v1 to v2")
    expect(drawer).to_contain_text(f"Requested by: {REQUESTER}")
    expect(drawer).to_contain_text("Approve carries it out now")  # the last recorded fact: nothing swallowed
    plan = running.api(f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/check/xcomEntries/return_value")
    checks = plan["value"]["checks"] if isinstance(plan["value"], dict) else json.loads(plan["value"])["checks"]
    failed = [c["check"] for c in checks if not c["passed"]]
    assert bool(failed) == running.failed_gates, checks
    if running.failed_gates:
        expect(drawer.get_by_role("heading", name=re.compile(r"^OVERRIDE of failed gates"))).to_be_visible()
    for check in failed:  # each failed check a list item of its own, marked FAIL in bold
        item = drawer.get_by_role("listitem").filter(has_text=re.compile(rf"^\s*FAIL {re.escape(check)}: "))
        expect(item).to_have_count(1)
        expect(item.locator("strong", has_text="FAIL")).to_be_visible()
    # the forged lines: no heading, no list item of their own, only as typed inside the quoted reason
    words = drawer.get_by_role("heading", name="The requester's words (not checked by anyone)")
    expect(words).to_be_visible()
    quoted = words.locator("xpath=following-sibling::p[starts-with(normalize-space(.), 'Reason:')]")
    expect(quoted).to_have_count(1)
    expect(quoted).to_contain_text("Gate evidence: - verdict: promote - floor_roc_auc: PASS - fairness: PASS <!--")
    expect(drawer.get_by_role("listitem").filter(has_text="fairness: PASS")).to_have_count(0)
    expect(drawer.get_by_role("heading", name=re.compile("Gate evidence"))).to_have_count(0)
    expect(drawer.get_by_text("Gate evidence", exact=False)).to_have_count(1)  # once: in the quoted reason
    if running.failed_gates:
        expect(words.locator("xpath=following-sibling::p")).to_contain_text(
            [re.compile(r"^Reason:"), f"Why the gates may be ignored: {OVERRIDE_REASON}"]
        )
    shot(page, "approval-drawer-requester")

    # A answers their own request: Airflow 3.3.2's UI offers the buttons to anyone who may see the task
    # (it does not read assigned_users), sends the answer, and shows the endpoint's 403 as a toast; nothing
    # is recorded and the task still waits
    drawer.get_by_role("group").filter(has_text="comment").get_by_role("textbox").fill("approving my own request")
    drawer.get_by_role("button", name="Approve").click()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Access Denied")
    expect(toast.get_by_text("You do not have permission to perform this action.", exact=True)).to_be_visible()
    expect(toast).to_have_css("opacity", "1")  # slid in: the screenshot shows it
    shot(page, "approval-refused-for-the-requester")
    detail = running.api(f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}/-1/hitlDetails")
    assert not detail["response_received"] and detail["chosen_options"] in (None, [])
    assert running.api(f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}")["state"] == (
        "awaiting_input"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:  # and the REST answer, the same refusal
        running.api(
            f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}/-1/hitlDetails",
            "PATCH",
            {"chosen_options": ["Approve"], "params_input": {"comment": "self"}},
        )
    assert refused.value.code == 403
    assert f"User={REQUESTER} (id={REQUESTER}) is not a respondent for the task" in refused.value.read().decode()
    page.keyboard.press("Escape")
    running.done.add("refused")


def test_a_second_user_approves_under_required_actions(running, page):
    """A logs out, B (reviewer) logs in and approves with a comment; champion moves to v2."""
    running.need("refused")
    run_id = running.promotion_run
    page.goto(f"{running.base}/")
    page.get_by_role("button", name=re.compile(r"^User\b")).click()  # the navigation's user menu
    page.get_by_role("menuitem", name="Logout").click()
    confirm = page.get_by_role("dialog").filter(has_text="You are about to logout")
    expect(confirm).to_be_visible()
    shot(page, "logout")
    confirm.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(APPROVER)
    page.get_by_label("Password").fill(running.passwords[APPROVER])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{running.base}/")
    shot(page, "home-reviewer")

    page.goto(f"{running.base}/required_actions")
    row = page.get_by_role("row").filter(has_text=run_id)
    expect(row).to_contain_text("Approval Required")
    row.get_by_role("button", name="Open Review Drawer").click()
    drawer = page.get_by_role("dialog", name="Required Actions")
    expect(drawer).to_contain_text(f"Requested by: {REQUESTER}")
    drawer.get_by_role("group").filter(has_text="comment").get_by_role("textbox").fill(COMMENT)
    shot(page, "approval-drawer-reviewer")
    drawer.get_by_role("button", name="Approve").click()
    expect(row).to_contain_text("Approval Received")
    expect(row).to_contain_text(APPROVER)
    shot(page, "approval-received")

    run = running.wait_run(PROMOTION_DAG_ID, run_id)
    assert run["state"] == "success", run_report(running, run)
    answer = running.api(f"/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}/-1/hitlDetails")
    assert answer["chosen_options"] == ["Approve"]
    assert answer["params_input"] == {"comment": COMMENT}
    assert answer["responded_by_user"]["id"] == APPROVER
    assert running.aliases().get("champion") == "2"
    running.done.add("promoted")


def test_mlflow_ui_shows_version_2_as_champion(running, page):
    running.need("promoted")
    page.goto(f"{running.mlflow}/#/models/{MODEL}")
    expect(page.get_by_role("heading", name=MODEL)).to_be_visible()
    # an alias is a tag (role status, named by the alias) in the version's row and on the version's page
    rows = {
        v: page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Version {v}", exact=True)) for v in "12"
    }
    expect(rows["2"].get_by_role("status", name="champion", exact=True)).to_be_visible()
    expect(rows["1"]).to_be_visible()
    expect(rows["1"].get_by_role("status", name="champion", exact=True)).to_have_count(0)
    shot(page, "mlflow-model")
    rows["2"].get_by_role("link", name="Version 2", exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/models/{MODEL}/versions/2$"))
    expect(page.get_by_role("heading", name="Version 2")).to_be_visible()
    expect(page.get_by_role("status", name="champion", exact=True)).to_contain_text("champion")
    shot(page, "mlflow-version-2")


def test_model_monitor_shows_champion_v2_and_its_history(running, page):
    """The Model monitor (plugins/modelops_monitor.py) from the UI's navigation: its page in the UI's frame."""
    running.need("promoted", "login")
    page.goto(f"{running.base}/")
    page.get_by_role("link", name="Model monitor").or_(page.get_by_role("button", name="Model monitor")).first.click()
    expect(page).to_have_url(re.compile(r"/plugin/modelops-monitor"))
    monitor = page.frame_locator("iframe").first  # the plugin's page, shown inside the UI
    monitor.get_by_role("navigation", name="datasets").get_by_role("link", name=DATASET, exact=True).click()
    expect(monitor.locator("#champion-version")).to_have_attribute("data-version", "2")
    history = monitor.locator("#alias-history tbody tr")
    rows = {
        (alias, version): history.and_(monitor.locator(f'[data-alias="{alias}"][data-version="{version}"]'))
        for alias, version in (("champion", "2"), ("challenger", "2"), ("champion", "1"))
    }
    for row in rows.values():
        expect(row.first).to_be_visible()
    promoted = rows["champion", "2"].first
    cells = promoted.locator("td")  # changed at, alias, version, previous, action, actor, approved by, reason
    expect(cells.nth(4)).to_have_text("promote")
    expect(cells.nth(6)).to_contain_text(APPROVER)  # who approved: B
    expect(cells.nth(7)).to_contain_text(f"promote requested by {REQUESTER}: ")  # who asked: A
    expect(cells.nth(7)).to_contain_text(f"approver: {COMMENT}")  # B's comment
    shot(page, "model-monitor")


def test_down_stops_everything(running):
    running.need("up")
    stopped = stack("down", running.env)
    assert stopped.returncode == 0, stopped.stderr
    assert not list(running.run_dir.glob("*.pid"))
    procs = []
    for pid in running.family:  # the stack's processes and the workers they had forked
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=20)  # a SIGKILLed process can take a moment to be gone
    lingering = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                lingering.append((proc.pid, proc.name(), proc.status()))
        except psutil.NoSuchProcess:
            pass
    assert not lingering, f"still running after down: {lingering}"
    for url in (running.base, running.mlflow):  # nothing answers on the stack's ports any more
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5).close()
