"""
### ModelOps manual promotion, rollback and retirement (with a human approval)

**Trigger with parameters**: `dataset` (empty = `default_dataset`), `action` (`promote` | `rollback` |
`retire`), `version` (empty for a rollback: the previous champion is found in the alias history), `reason` (required),
`override` + `override_reason` (promote a version whose gates failed, saying why).

1. `check` plans the request and refuses what may not happen (a failed-gates version without an
   override, a rollback with no previous champion, retiring the serving champion).
2. `approve_promotion` waits for a human in **Browse → Required Actions** (or the task's
   *Required Action* tab): the body shows what would change and the recorded evidence (an override
   first, every gate check PASS/FAIL with its numbers, the model card), the requester's reason last,
   quoted as plain text. Only the dataset's approvers (`promotion.approvers`, empty = every user who
   can answer) may answer, never the user who triggered this run; the approver may leave a comment.
   Approve carries it out; Reject, or no answer within `promotion.approval_timeout_hours`, leaves
   the registry untouched.
3. `apply` moves `champion` (or retires the version) and writes who approved, when and why to the
   `alias_history` table and to the version's tags; a new champion is announced on the asset
   `x-modelops://registry/champion`.
4. `finish` records the decision (approved, refused or timed out) in `promotion_decisions` and
   prints which version serves now.

Production profile (`MODELOPS_PROFILE=production`): a promote makes the version the `canary` (it decides
`promotion.canary.share` of each scored snapshot's rows; `champion` stays); promoting it again after
`promotion.canary.snapshots` snapshots judges its evidence in `check`: a pass is shown to the approver and
moves `champion` when approved, a fail is refused with the evidence recorded and the canary removed.
The demo profile promotes directly and records "demo profile: no canary" (docs/governance.md).

Only this DAG and the training DAG may move `champion` (the registry module refuses other actors).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import APPROVAL_TASK_ID, PROMOTION_DAG_ID
from modelops.govern.promotion_plan import ACTIONS, PLAN_ACTION, PLAN_MODEL_NAME, PLAN_VERSION
from modelops_airflow.approval import ANSWER_KEY, approval_task
from modelops_airflow.champion_event import CHAMPION_MOVES, announce_champion
from modelops_airflow.defaults import dataset_param, make_default_args
from modelops_airflow.runtime import settings_and_spec

APPROVAL_SUBJECT = (
    f"{{{{ ti.xcom_pull(task_ids='check')['{PLAN_ACTION}'] | capitalize }}}} "
    f"{{{{ ti.xcom_pull(task_ids='check')['{PLAN_MODEL_NAME}'] }}}} "
    f"v{{{{ ti.xcom_pull(task_ids='check')['{PLAN_VERSION}'] }}}}?"
)


def _plan_of(context):
    """The checked plan whose recorded evidence the approver is shown."""
    from modelops.govern.promotion_plan import PromotionPlan

    return PromotionPlan.from_xcom(context["ti"].xcom_pull(task_ids="check"))


def _approvers_of(context) -> list[str]:
    """The dataset's configured approvers (the requester is removed by the approval task)."""
    settings, spec = settings_and_spec(context["params"]["dataset"])
    return settings.approvers_for(spec.name)


default_args = make_default_args(execution_timeout=timedelta(minutes=10))


@task(retries=0)
def check() -> dict:
    """Plan the request: what changes, the gate evidence; refuse what may not happen."""
    from airflow.sdk.exceptions import AirflowFailException

    from modelops.govern.promotion import PromotionError, plan_promotion

    context = get_current_context()
    params = context["params"]
    settings, spec = settings_and_spec(params["dataset"])
    try:
        plan = plan_promotion(
            spec.model_name,
            params["action"],
            params["version"],
            params["reason"],
            bool(params["override"]),
            params["override_reason"],
            requester=getattr(context["dag_run"], "triggering_user_name", None),
            settings=settings,
            run_id=context["run_id"],
        )
    except PromotionError as exc:  # refused (a failed canary too, its evidence recorded): retrying cannot help
        raise AirflowFailException(str(exc)) from exc
    print(plan.describe())
    return plan.to_xcom()


@task(outlets=[CHAMPION_MOVES])
def apply(plan: dict) -> dict:
    """Approved: move `champion` (or retire) with who approved, when and why on record."""
    from modelops.govern.promotion import apply_promotion, read_approval
    from modelops.govern.promotion_plan import PromotionPlan

    context = get_current_context()
    answer = read_approval(context["ti"].xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_KEY))
    outcome = apply_promotion(PromotionPlan.from_xcom(plan), answer, context["run_id"])
    announce_champion(context, bool(outcome["alias_changed"]), outcome["model_name"], outcome["version"])
    return outcome


@task(trigger_rule="none_failed")
def finish(plan: dict) -> str:
    """Record a refusal (apply was skipped) and print which version serves now."""
    from modelops.govern.promotion import read_approval, record_refusal, render_outcome
    from modelops.govern.promotion_plan import PromotionPlan
    from modelops.ui.free_text import plain_text

    context = get_current_context()
    ti = context["ti"]
    outcome = ti.xcom_pull(task_ids="apply")
    if outcome is None:
        answer = read_approval(ti.xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_KEY))
        outcome = record_refusal(PromotionPlan.from_xcom(plan), answer, context["run_id"])
    text = render_outcome(outcome)
    comment = read_approval(ti.xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_KEY)).comment
    text += f"\n  comment   {plain_text(comment) or 'none'}"  # one line, escaped and cut: cannot forge a log line
    print(text)
    return text


@dag(
    dag_id=PROMOTION_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "promotion"],
    default_args=default_args,
    params={
        "dataset": dataset_param("Dataset whose model is promoted, rolled back or retired."),
        "action": Param("promote", type="string", enum=list(ACTIONS), description="What to do."),
        "version": Param(
            None,
            type=["null", "string"],
            description="Model version (promote/retire). Empty for rollback: the previous champion.",
        ),
        "reason": Param(
            type="string",
            minLength=3,
            format="multiline",
            description="Why (required; recorded with the change, shown to the approver as plain text).",
        ),
        "override": Param(False, type="boolean", description="Promote even though the version failed its gates."),
        "override_reason": Param(
            None, type=["null", "string"], description="Required with override: why the gates may be ignored."
        ),
    },
)
def modelops_promotion():
    plan = check()
    approval = approval_task(APPROVAL_TASK_ID, APPROVAL_SUBJECT, plan_of=_plan_of, approvers_of=_approvers_of)
    plan >> approval >> apply(plan) >> finish(plan)


modelops_promotion()
