"""The promotion DAG end to end with a real human-in-the-loop answer.

`dag.test()` runs the DAG in this process and parks `approve_promotion` in Airflow's
AWAITING_INPUT state; a thread answers it the way the UI's Required Actions page does: a PATCH to
the api-server's HITL endpoint (Airflow's own FastAPI app, in process, on the same metadata DB) with
a JWT issued by Airflow's auth manager for a named user. Nothing of the operator is patched.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from modelops.core.handoffs import APPROVAL_TASK_ID, PROMOTION_DAG_ID, TRAINING_DAG_ID
from modelops.store import alias_log, history, registry, runs, tracking

pytestmark = pytest.mark.integration
TRAINING = registry.dag_actor(TRAINING_DAG_ID, "tests")
REQUESTER = "dag_test"  # the triggering user Airflow's dag.test() records on its runs


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's REST API app (the one behind the UI), answering in this process."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    mp = pytest.MonkeyPatch()
    # dag.test() records its runs as triggered by the user "dag_test": here that user exists (an admin),
    # so the four-eyes rule has a real requester to keep out
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"alice:admin,bob:admin,victor:viewer,{REQUESTER}:admin")
    with TestClient(create_app(apps="core")) as client:
        yield client
    mp.undo()


@pytest.fixture(scope="module")
def promotion_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from modelops.config.settings import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(PROMOTION_DAG_ID)


@pytest.fixture
def model(workspace, settings) -> str:
    """Three registered versions: v1 and v2 passed their gates, v3 failed them; v1 is champion."""
    from modelops.train.training import train_candidate

    spec = settings.dataset("anes96_vote")
    frame = pd.read_csv(spec.resolve_path(spec.source["path"]))
    training = {
        **settings.training.model_dump(),
        "search": {"n_configs": 1, "min_rows": 200, "max_rows": 400, "factor": 2},
    }
    fitted = train_candidate(
        "logistic_regression", spec, frame.iloc[:600], frame.iloc[600:800], training, {}, "roc_auc", threshold=0.5
    )
    lineage = {"airflow.run_id": "p", "airflow.dag_id": "test", "modelops.primary_metric": "roc_auc"}
    parent = runs.start_parent_run(spec, lineage)
    logged = runs.log_candidate(fitted, spec, parent, {"roc_auc": 0.7}, frame[spec.features].head(3), lineage)
    for verdict in ("promote", "promote", "keep_champion"):
        run = tracking.client().create_run(tracking.training_experiment(spec)).info.run_id
        registry.register_version(spec.model_name, logged["model_uri"], run, {"modelops.verdict": verdict}, "")
    registry.set_alias(spec.model_name, registry.CHAMPION, "1", TRAINING, "first model", None)
    return spec.model_name


def _token(user: str, role: str = "admin") -> dict[str, str]:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return {
        "Authorization": f"Bearer {get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=user, role=role))}"
    }


class Responder(threading.Thread):
    """Waits for the parked approval of the promotion DAG, then answers it through the REST API."""

    def __init__(
        self,
        api,
        user: str,
        option: str,
        comment: str,
        intruder: str | None = None,
        try_number: int = 1,
        params_input: dict | None = None,
        self_approval: bool = False,
        widen: bool = False,
    ):
        super().__init__(daemon=True)
        self.api, self.user, self.option, self.comment, self.intruder = api, user, option, comment, intruder
        self.try_number = try_number  # answer this try of the approval task
        self.params_input = {"comment": comment} if params_input is None else params_input
        self.self_approval = self_approval  # the requester tries to answer first
        self.widen = widen  # add the requester to the stored approvers (as if the endpoint's check were bypassed)
        self.seen: dict = {}

    def run(self) -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with create_session() as session:
                run_id = session.scalar(
                    select(TaskInstance.run_id).where(
                        TaskInstance.dag_id == PROMOTION_DAG_ID,
                        TaskInstance.task_id == APPROVAL_TASK_ID,
                        TaskInstance.state == "awaiting_input",
                        TaskInstance.try_number == self.try_number,
                    )
                )
            if run_id:
                break
            time.sleep(0.5)
        else:
            self.seen["error"] = "the approval never waited for input"
            return
        url = f"/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}/-1/hitlDetails"
        self.seen["request"] = self.api.get(url, headers=_token(self.user)).json()
        answer = {"chosen_options": [self.option], "params_input": self.params_input}
        if self.widen:
            _add_assigned_user(run_id, REQUESTER)
        if self.self_approval:
            response = self.api.patch(url, json=answer, headers=_token(REQUESTER))
            self.seen["self_status"], self.seen["self_answer"] = response.status_code, response.json()
            if self.widen:
                return
        if self.intruder:  # a viewer may look but not answer
            self.seen["intruder_status"] = self.api.patch(
                url, json=answer, headers=_token(self.intruder, "viewer")
            ).status_code
        response = self.api.patch(url, json=answer, headers=_token(self.user))
        self.seen["status"], self.seen["answer"] = response.status_code, response.json()


def _add_assigned_user(run_id: str, user: str) -> None:
    """Write `user` into the stored approvers of the parked approval (what a bypassed endpoint check would allow)."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti_id = session.scalar(
            select(TaskInstance.id).where(
                TaskInstance.dag_id == PROMOTION_DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == APPROVAL_TASK_ID,
            )
        )
        detail = session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti_id))
        detail.assignees = [*(detail.assignees or []), {"id": user, "name": user}]


def _conf(**given) -> dict:
    """Every param given (in-process dag.test runs can carry a previous run's values over)."""
    base = {"dataset": "anes96_vote", "version": None, "override": False, "override_reason": None}
    return {**base, **given}


def _run(dag, api, conf: dict, *answer, **kwargs):
    responder = Responder(api, *answer, **kwargs)
    responder.start()
    run = dag.test(run_conf=_conf(**conf))
    responder.join(10)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run, states, responder.seen


def _champion(name: str) -> str:
    return str(registry.version_by_alias(name, registry.CHAMPION).version)


def test_override_promotion_approved_then_rollback(promotion_dag, api, model):
    conf = {
        "action": "promote",
        "version": "3",
        "reason": "needed for the primary",
        "override": True,
        "override_reason": "slice gate flagged a 40-row group",
    }
    run, states, seen = _run(promotion_dag, api, conf, "alice", "Approve", "checked the slice by hand")
    assert run.state == "success", (states, seen)
    assert seen["status"] == 200, seen
    request = seen["request"]
    assert request["subject"] == f"Promote {model} v3?"
    assert "moves from v1 to v3" in request["body"] and request["body"].startswith("## OVERRIDE of failed gates")
    assert "**Gate verdict recorded at training**: keep\\_champion" in request["body"]
    assert "**Requested by**: dag\\_test" in request["body"]
    assert sorted(u["id"] for u in request["assigned_users"]) == ["alice", "bob"]  # never the requester
    assert states == {"check": "success", APPROVAL_TASK_ID: "success", "apply": "success", "finish": "success"}
    assert _champion(model) == "3"
    last = alias_log.alias_history(model)[-1]
    assert (last["version"], last["previous_version"], last["approver"], last["action"]) == (
        "3",
        "1",
        "alice",
        "promote",
    )
    assert last["run_id"] == run.run_id and last["approved_at"] is not None
    assert "gates overridden: slice gate flagged a 40-row group" in last["reason"]
    assert "approver: checked the slice by hand" in last["reason"]
    tags = registry.model_version(model, "3").tags
    assert tags["champion_approved_by"] == "alice" and tags["modelops.gates_overridden"]

    run, states, seen = _run(
        promotion_dag, api, {"action": "rollback", "reason": "v3 misbehaves"}, "bob", "Approve", ""
    )
    assert run.state == "success", (states, seen)
    assert "moves from v3 to v1" in seen["request"]["body"]
    assert _champion(model) == "1"
    rows = alias_log.alias_history(model)
    assert [(r["version"], r["approver"], r["action"]) for r in rows[-2:]] == [
        ("3", "alice", "promote"),
        ("1", "bob", "rollback"),
    ]
    # which version served when: the history answers for every instant
    assert alias_log.served_on(model, rows[-2]["changed_at"]) == "3"
    assert alias_log.served_on(model, rows[-1]["changed_at"]) == "1"
    decisions = history.read_promotion_decisions(model)
    assert [(d["action"], d["decision"], d["approver"]) for d in decisions] == [
        ("promote", "approved", "alice"),
        ("rollback", "approved", "bob"),
    ]


def test_failed_gates_are_refused_and_a_rejected_promotion_moves_nothing(promotion_dag, api, model):
    run = promotion_dag.test(run_conf=_conf(action="promote", version="3", reason="try"))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["check"] == "failed", states
    assert states[APPROVAL_TASK_ID] == "upstream_failed"  # nobody is even asked

    conf = {"action": "promote", "version": "2", "reason": "better on the 2024 cycle"}
    run, states, seen = _run(promotion_dag, api, conf, "bob", "Reject", "wait for the audit", intruder="victor")
    assert seen["intruder_status"] == 403, seen  # a viewer cannot answer
    assert seen["status"] == 200 and seen["answer"]["responded_by"]["name"] == "bob", seen
    assert run.state == "success", states
    assert states == {"check": "success", APPROVAL_TASK_ID: "success", "apply": "skipped", "finish": "success"}
    assert _champion(model) == "1"
    assert [r["version"] for r in alias_log.alias_history(model)] == ["1"]
    assert "champion_approved_by" not in registry.model_version(model, "2").tags
    (decision,) = history.read_promotion_decisions(model)
    assert (decision["decision"], decision["approver"], decision["comment"], decision["run_id"]) == (
        "refused",
        "bob",
        "wait for the audit",
        run.run_id,
    )


def test_a_failed_approval_asks_again_and_only_the_second_answer_counts(promotion_dag, api, model, monkeypatch):
    """An answer the API accepts but the operator refuses (a param the form does not have) fails the
    approval task; its retry parks again and the promotion goes by the answer given to that retry."""
    from datetime import timedelta

    monkeypatch.setattr(promotion_dag.get_task(APPROVAL_TASK_ID), "retry_delay", timedelta(seconds=1))
    refused = Responder(api, "alice", "Approve", "", params_input={"comment": "ok", "not_a_param": "x"})
    second = Responder(api, "bob", "Approve", "second look: fine", try_number=2)
    refused.start()
    second.start()
    run = promotion_dag.test(run_conf=_conf(action="promote", version="2", reason="better on the 2024 cycle"))
    refused.join(10)
    second.join(10)
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert refused.seen.get("status") == 200, refused.seen  # the API took it; the operator did not
    assert second.seen.get("status") == 200, second.seen
    assert run.state == "success", states
    assert states == {"check": "success", APPROVAL_TASK_ID: "success", "apply": "success", "finish": "success"}
    assert tis[APPROVAL_TASK_ID].try_number == 2
    assert _champion(model) == "2"
    last = alias_log.alias_history(model)[-1]
    assert (last["version"], last["approver"], last["action"]) == ("2", "bob", "promote")
    assert "approver: second look: fine" in last["reason"]
    (decision,) = history.read_promotion_decisions(model)
    assert (decision["decision"], decision["approver"], decision["comment"]) == ("approved", "bob", "second look: fine")


def test_the_requester_cannot_approve_and_a_second_user_can(promotion_dag, api, model):
    """Four eyes through the REST API the UI uses: the requester's answer is refused (403), bob's moves champion."""
    conf = {"action": "promote", "version": "2", "reason": "better on the 2024 cycle"}
    run, states, seen = _run(promotion_dag, api, conf, "bob", "Approve", "looked at the card", self_approval=True)
    assert seen["self_status"] == 403, seen
    assert f"User={REQUESTER} (id={REQUESTER}) is not a respondent for the task" in seen["self_answer"]["detail"]
    assert seen["status"] == 200 and seen["answer"]["responded_by"]["name"] == "bob", seen
    assert run.state == "success", states
    assert _champion(model) == "2"
    last = alias_log.alias_history(model)[-1]
    assert (last["version"], last["approver"]) == ("2", "bob")
    (decision,) = history.read_promotion_decisions(model)
    assert (decision["decision"], decision["approver"]) == ("approved", "bob")


def test_an_answer_by_the_requester_that_got_through_is_recorded_as_a_refusal(promotion_dag, api, model):
    """Defence in depth: even if the stored approvers included the requester, the operator refuses their Approve."""
    conf = {"action": "promote", "version": "2", "reason": "better on the 2024 cycle"}
    run, states, seen = _run(promotion_dag, api, conf, "bob", "Approve", "mine", self_approval=True, widen=True)
    assert seen["self_status"] == 200, seen  # the endpoint let it through: the stored list named the requester
    assert run.state == "success", states
    assert states == {"check": "success", APPROVAL_TASK_ID: "success", "apply": "skipped", "finish": "success"}
    assert _champion(model) == "1"
    (decision,) = history.read_promotion_decisions(model)
    assert (decision["decision"], decision["approver"]) == ("refused", REQUESTER)
    assert decision["comment"].startswith("refused: the requester may not answer their own request (four eyes)")


def test_nobody_left_to_approve_fails_with_a_plain_message(promotion_dag, api, model, monkeypatch):
    """Approvers naming only the requester: the approval task fails before anyone is asked, and says why."""
    from modelops.config.settings import load_settings

    monkeypatch.setattr(promotion_dag.get_task(APPROVAL_TASK_ID), "approvers_of", lambda context: [REQUESTER])
    assert load_settings().approvers_for("anes96_vote") == []  # the shipped config: anyone but the requester
    run = promotion_dag.test(run_conf=_conf(action="promote", version="2", reason="mine"))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states[APPROVAL_TASK_ID] == "failed", states
    assert _champion(model) == "1"
