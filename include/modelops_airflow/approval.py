"""The human approval both promotion paths use: Airflow's ApprovalOperator, four eyes, answer kept in XCom.

At run time the operator reads the `promotion` section (its timeout; for the training DAG also
whether an approval is required at all: when not, it passes without asking), builds its body from
the recorded evidence (`PromotionPlan.describe`) and names the users who may answer
(`modelops.govern.approvals.resolve_approvers`: the dataset's approvers, or every user who can
answer, always minus the requester). Airflow stores them as the Required
Action's `assigned_users`; its HITL endpoint then refuses anyone else with 403 ("... is not a
respondent for the task"), admins included (only `[core] simple_auth_manager_all_admins`, where every
visitor is an anonymous admin, skips that check, so it is refused here). Nobody left to ask fails
the task with the reason.

ApprovalOperator returns the answer as its XCom only when it is "Approve"; on "Reject" it skips
its downstream tasks by raising, and the answer would be lost to the tasks that record the
refusal. `RecordedApproval` pushes every answer under the key `answer` first. An answer given by
the requester (possible only if the endpoint's check were bypassed) is turned into a refusal and
recorded as one: defence in depth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param

from modelops.config.models import PromotionSection

ANSWER_KEY = "answer"
SELF_APPROVAL = "refused: the requester may not answer their own request (four eyes)"


def requester_of(context: Any) -> str | None:
    """Who asked: the user who triggered this DAG run (a retrain inherits its trigger's, Airflow 3.3)."""
    return getattr(context["dag_run"], "triggering_user_name", None) or None


def auth_manager_users() -> dict[str, str] | None:
    """User -> role of the simple auth manager's configured users; None for another auth manager."""
    from airflow.sdk.configuration import conf

    from modelops.govern.approvals import ApprovalError, parse_users

    if not conf.get("core", "auth_manager", fallback="").endswith("SimpleAuthManager"):
        return None
    if conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False):
        raise ApprovalError(
            "[core] simple_auth_manager_all_admins is on: every visitor is an anonymous admin, so nobody can be "
            "told apart from the requester; turn it off to approve promotions"
        )
    return parse_users(conf.get("core", "simple_auth_manager_users", fallback=""))


def response_timeout(promotion: PromotionSection) -> timedelta:
    """How long an approval waits before the timeout refuses it (`promotion.approval_timeout_hours`)."""
    return timedelta(hours=float(promotion.approval_timeout_hours))


class RecordedApproval(ApprovalOperator):
    """ApprovalOperator with a run-time body and approvers (never the requester) that records every answer.

    `optional`: ask only when `promotion.require_approval` is on; otherwise succeed at once without asking.
    """

    def __init__(
        self,
        *,
        plan_of: Callable[[Any], Any],
        approvers_of: Callable[[Any], list[str]],
        optional: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.plan_of, self.approvers_of, self.optional = plan_of, approvers_of, optional

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from modelops.govern.approvals import ApprovalError, resolve_approvers
        from modelops_airflow.runtime import read_settings

        promotion = read_settings().promotion
        if self.optional and not promotion.require_approval:
            self.log.info("promotion.require_approval is false: no human approval is asked")
            return None
        self.response_timeout = response_timeout(promotion)
        requester = requester_of(context)
        try:
            users = resolve_approvers(self.approvers_of(context), auth_manager_users(), requester)
        except ApprovalError as exc:  # a configuration to fix: asking again cannot help
            raise AirflowFailException(str(exc)) from exc
        self.body = self.plan_of(context).describe(requester)
        self.assigned_users = [{"id": user, "name": user} for user in users]
        self.log.info("Approval asked of %s (requested by %s)", ", ".join(users), requester or "unknown")
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from modelops.govern.approvals import is_requester

        if "error" not in event:
            params_input = dict(event.get("params_input") or {})
            if is_requester(event.get("responded_by_user"), requester_of(context)):
                self.log.warning("The requester answered their own approval: treated as refused")
                given = str(params_input.get("comment") or "").strip()
                params_input["comment"] = f"{SELF_APPROVAL}; their comment: {given}" if given else SELF_APPROVAL
                event = {**event, "chosen_options": [self.REJECT], "params_input": params_input}
            context["ti"].xcom_push(
                key=ANSWER_KEY,
                value={
                    "chosen_options": list(event["chosen_options"]),
                    "params_input": params_input,
                    "responded_at": event["responded_at"].isoformat(),
                    "responded_by_user": event.get("responded_by_user"),
                },
            )
        return super().execute_complete(context=context, event=event)


def approval_task(
    task_id: str,
    subject: str,
    plan_of: Callable[[Any], Any],
    approvers_of: Callable[[Any], list[str]],
    optional: bool = False,
) -> RecordedApproval:
    """The approval as configured in the `promotion` section: timeout refuses, never the requester answers.

    `plan_of(context)` gives the `PromotionPlan` whose recorded evidence the body shows;
    `approvers_of(context)` the configured approvers (users or `role:<role>`; empty = every user who can answer).
    The timeout (and, when `optional`, whether to ask at all) is read from the section when the task runs.
    """
    return RecordedApproval(
        task_id=task_id,
        subject=subject,
        plan_of=plan_of,
        approvers_of=approvers_of,
        optional=optional,
        defaults=ApprovalOperator.REJECT,  # no answer by the timeout = refused, never approved
        params={"comment": Param("", type="string", description="Why you approve or refuse (recorded).")},
        # the schema's default until the task reads the configured one; given, so that Airflow does not
        # turn the DAG's execution_timeout into the response timeout
        response_timeout=timedelta(hours=PromotionSection.model_fields["approval_timeout_hours"].default),
        # Approve, Reject and the timeout end the task in success (a refusal skips downstream), so a
        # failure is the platform's (e.g. Airflow 3.3.2's race: an answer that lands before the
        # scheduler read the worker's exit after the park is failed by that exit's "success" event)
        # or an answer the operator refuses. One retry asks the approver again; minutes, not seconds,
        # so the failed try's queued workload cannot start the retry (docs/governance.md says more).
        retries=1,
        retry_delay=timedelta(minutes=2),
    )
