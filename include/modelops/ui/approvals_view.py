"""Approvals waiting in Airflow's Required Actions, what approving each would change, and who asked for a run.

No Airflow import here: they are read over Airflow's REST API with the caller's token, so a user
sees only what that user may read.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from modelops.config.settings import Settings, load_settings
from modelops.core.handoffs import PROMOTION_DAG_ID, TRAINING_DAG_ID
from modelops.ui.free_text import optional_bool

REQUIRED_ACTIONS_ROUTE = "required_actions"  # the Airflow UI's page of pending approvals (Browse -> Required Actions)


# Airflow's human-in-the-loop details of every DAG and run, not yet answered.
HITL_PATH = "/api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false&limit=100"


WAITING_STATES = ("awaiting_input", "deferred", "running", "queued", "scheduled", "up_for_reschedule")


class Approval(BaseModel):
    """A human approval waiting in Airflow's Required Actions."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: list[str]
    assigned_users: list[str]
    created_at: datetime
    dataset: str | None = Field(default=None, description="the dataset whose model the approval would change")
    model_name: str | None = None
    action: str | None = Field(default=None, description="promote, rollback or retire")
    from_version: str | None = Field(default=None, description="the champion when the request was planned")
    to_version: str | None = Field(default=None, description="the version that would become champion (or retire)")
    requester: str | None = Field(default=None, description="who triggered the run asking for the approval")
    change: str | None = Field(default=None, description="what approving would change, in one line")


class ApprovalList(BaseModel):
    """Pending approvals (never answered, task still waiting), and an error when Airflow could not be asked."""

    approvals: list[Approval]
    required_actions_path: str = Field(description="the Airflow UI route where they are answered")
    error: str | None = None


class RunRequest(BaseModel):
    """What a promotion run's trigger asked for, as Airflow keeps it (the run's user and conf)."""

    run_id: str
    requester: str | None
    dataset: str | None
    override: bool | None


def parse_approvals(payload: dict[str, Any]) -> list[Approval]:
    """Pending approvals from a `GET .../hitlDetails` answer: not answered, and the task still waiting."""
    out = []
    for item in payload.get("hitl_details") or []:
        ti = item.get("task_instance") or {}
        if item.get("response_received") or ti.get("state") not in WAITING_STATES:
            continue
        out.append(
            Approval(
                dag_id=str(ti["dag_id"]),
                run_id=str(ti["dag_run_id"]),
                task_id=str(ti["task_id"]),
                map_index=int(ti.get("map_index", -1)),
                subject=str(item.get("subject", "")),
                body=item.get("body"),
                options=[str(o) for o in item.get("options") or []],
                assigned_users=[str(u.get("name") or u.get("id")) for u in item.get("assigned_users") or []],
                created_at=item["created_at"],
            )
        )
    out.sort(key=lambda a: a.created_at, reverse=True)
    return out


def _get_json(url: str, token: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


# The task whose XCom says what an approval would change, per DAG that asks for one.
PLAN_TASKS = {PROMOTION_DAG_ID: "check", TRAINING_DAG_ID: "register"}


def _requester(run: dict[str, Any]) -> str | None:
    """Who triggered a run: the user, else the kind of run (a schedule or an asset event asked)."""
    if run.get("triggering_user_name"):
        return str(run["triggering_user_name"])
    return f"{run['run_type']} run" if run.get("run_type") else None


def describe_change(
    approval: Approval,
    run: dict[str, Any] | None,
    plan: dict[str, Any] | None,
    datasets: dict[str, str] | None = None,
    champion: str | None = None,
) -> Approval:
    """The approval with what approving it would change, read from its run and its plan's XCom.

    `run` is Airflow's DAG run (its triggering user and conf), `plan` the XCom of the task that planned
    the request (the promotion DAG's `check`, the training DAG's `register`), `datasets` maps model
    names to datasets, `champion` is the champion now (used when the plan does not name one).
    """
    run, plan = run or {}, plan or {}
    conf = run.get("conf") or {}
    model = plan.get("model_name")
    action = plan.get("action") or conf.get("action") or ("promote" if approval.dag_id == TRAINING_DAG_ID else None)
    to_version = plan.get("version") if plan.get("version") is not None else conf.get("version")
    from_version = plan.get("current_champion") if "current_champion" in plan else champion
    dataset = conf.get("dataset") or (datasets or {}).get(str(model))
    change = None
    if to_version is not None and action == "retire":
        change = f"retire {model or dataset} v{to_version} (its aliases removed)"
    elif to_version is not None and action:
        now = f"v{from_version}" if from_version is not None else "none"
        change = f"{action}: {model or dataset} alias champion {now} -> v{to_version}"
    return approval.model_copy(
        update={
            "dataset": None if dataset is None else str(dataset),
            "model_name": None if model is None else str(model),
            "action": None if action is None else str(action),
            "from_version": None if from_version is None else str(from_version),
            "to_version": None if to_version is None else str(to_version),
            "requester": _requester(run),
            "change": change,
        }
    )


def _xcom_value(payload: Any) -> dict[str, Any] | None:
    """An XCom entry's value as a dict (the API returns it as stored: JSON text or an object)."""
    value = payload.get("value") if isinstance(payload, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _with_change(api_url: str, token: str, approval: Approval, datasets: dict[str, str], timeout: float) -> Approval:
    """One approval with its change, asked of Airflow (its run and plan); as it is when they cannot be read."""
    quote = urllib.parse.quote
    run_url = f"{api_url}/api/v2/dags/{quote(approval.dag_id, safe='')}/dagRuns/{quote(approval.run_id, safe='')}"
    try:
        run = _get_json(run_url, token, timeout)
    except (urllib.error.URLError, OSError, ValueError):
        run = None
    plan = None
    task = PLAN_TASKS.get(approval.dag_id)
    if task:
        try:
            plan = _xcom_value(_get_json(f"{run_url}/taskInstances/{task}/xcomEntries/return_value", token, timeout))
        except (urllib.error.URLError, OSError, ValueError):
            plan = None
    champion = None
    if approval.dag_id == TRAINING_DAG_ID and plan and plan.get("model_name"):
        from modelops.store import registry

        held = registry.version_by_alias(str(plan["model_name"]), registry.CHAMPION)
        champion = None if held is None else str(held.version)
    return describe_change(approval, run, plan, datasets, champion)


def pending_approvals(
    api_url: str, token: str, timeout: float = 10.0, settings: Settings | None = None
) -> ApprovalList:
    """Approvals waiting in Required Actions, asked of Airflow's REST API (`api_url`) with `token`.

    The caller's own token is used, so the list holds only what that user may read. Each approval
    says what approving it would change and who asked (its run and its plan's XCom). When Airflow
    cannot be asked, the list is empty and `error` says why (the rest of the page still renders).
    """
    api_url = api_url.rstrip("/")
    try:
        payload = _get_json(api_url + HITL_PATH, token, timeout)
    except urllib.error.HTTPError as exc:
        return ApprovalList(
            approvals=[],
            required_actions_path=REQUIRED_ACTIONS_ROUTE,
            error=f"Airflow refused the list of required actions: HTTP {exc.code} {exc.reason}",
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return ApprovalList(
            approvals=[],
            required_actions_path=REQUIRED_ACTIONS_ROUTE,
            error=f"Airflow's API at {api_url} could not be asked for required actions: {exc}",
        )
    approvals = parse_approvals(payload)
    if approvals:
        settings = settings or load_settings()
        datasets = {spec.model_name: name for name, spec in settings.datasets.items()}
        approvals = [_with_change(api_url, token, a, datasets, timeout) for a in approvals]
    return ApprovalList(approvals=approvals, required_actions_path=REQUIRED_ACTIONS_ROUTE)


def run_requests(api_url: str, token: str, dataset: str, timeout: float = 10.0) -> dict[str, RunRequest]:
    """Who asked for each promotion run of `dataset` (the newest 100 Airflow keeps), by run id.

    Read with the caller's token; empty when Airflow cannot be asked (the decisions then say the
    requester is not known).
    """
    query = urllib.parse.urlencode({"conf_contains": dataset, "order_by": "-id", "limit": 100})
    url = f"{api_url.rstrip('/')}/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns?{query}"
    try:
        payload = _get_json(url, token, timeout)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    out = {}
    for run in payload.get("dag_runs") or []:
        conf = run.get("conf") or {}
        if conf.get("dataset") != dataset:  # conf_contains matches text: voter_turnout is in voter_turnout_2
            continue
        out[str(run["dag_run_id"])] = RunRequest(
            run_id=str(run["dag_run_id"]),
            requester=_requester(run),
            dataset=dataset,
            override=bool(optional_bool(conf.get("override"))),  # not given: the DAG's default, no override
        )
    return out
