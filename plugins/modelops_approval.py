"""The human approval both promotion paths use: Airflow's ApprovalOperator, answer kept in XCom.

ApprovalOperator returns the answer as its XCom only when it is "Approve"; on "Reject" it skips
its downstream tasks by raising, and the answer (who refused, when, why) would be lost to the
tasks that record the refusal. `RecordedApproval` pushes every answer under the key `answer`
first, then lets the stock operator do the rest (waiting in Required Actions, validation, skips).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param

ANSWER_KEY = "answer"


class RecordedApproval(ApprovalOperator):
    """ApprovalOperator that records every answer (approve, reject, timeout default) in XCom."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        if "error" not in event:
            context["ti"].xcom_push(
                key=ANSWER_KEY,
                value={
                    "chosen_options": list(event["chosen_options"]),
                    "params_input": dict(event.get("params_input") or {}),
                    "responded_at": event["responded_at"].isoformat(),
                    "responded_by_user": event.get("responded_by_user"),
                },
            )
        return super().execute_complete(context=context, event=event)


def approval_task(task_id: str, subject: str, body: str, promotion: dict[str, Any]) -> RecordedApproval:
    """The approval as configured in the `promotion` section: timeout refuses, optional named approvers."""
    return RecordedApproval(
        task_id=task_id,
        subject=subject,
        body=body,
        defaults=ApprovalOperator.REJECT,  # no answer by the timeout = refused, never approved
        params={"comment": Param("", type="string", description="Why you approve or refuse (recorded).")},
        response_timeout=timedelta(hours=float(promotion["approval_timeout_hours"])),
        assigned_users=[{"id": a, "name": a} for a in promotion["approvers"]] or None,
        # Approve, Reject and the timeout end the task in success (a refusal skips downstream), so a
        # failure is the platform's (e.g. Airflow 3.3.2's race: an answer that lands before the
        # scheduler read the worker's exit after the park is failed by that exit's "success" event)
        # or an answer the operator refuses. One retry asks the approver again; minutes, not seconds,
        # so the failed try's queued workload cannot start the retry (the README says more).
        retries=1,
        retry_delay=timedelta(minutes=2),
    )
