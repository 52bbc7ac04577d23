"""Structured alerts for monitoring breaches and failures, and delivery to an optional webhook."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def build_alert(outcome: dict[str, Any]) -> dict[str, Any]:
    """The alert payload: what breached, for which model and window, what happens next."""
    action = outcome["action"]
    return {
        "kind": "modelops.monitoring.breach",
        "severity": "critical" if action in {"retrain", "alert"} else "warning",
        "dataset": outcome["dataset"],
        "window_id": outcome["window_id"],
        "model": f"{outcome['model_name']} v{outcome['model_version']}",
        "action": action,
        "why": outcome["why"],
        "reasons": outcome["reasons"],
        "report": outcome.get("report_path"),
        "mlflow_run_id": outcome.get("mlflow_run_id"),
        "airflow_run_id": outcome.get("run_id"),
    }


def should_alert(outcome: dict[str, Any] | None) -> bool:
    """A recorded outcome alerts on a breach; a dry run never does (it measures, it does not act)."""
    return bool(outcome and outcome.get("breach") and not outcome.get("dry_run"))


def build_failure_alert(
    dag_id: str, task_id: str, run_id: str | None, params: dict[str, Any], error: BaseException | str | None
) -> dict[str, Any]:
    """The alert payload when a monitoring task failed: nothing was judged, a person must look."""
    if isinstance(error, BaseException):
        message = f"{type(error).__name__}: {error}"
    else:
        message = str(error) if error else "unknown error (see the task log)"
    return {
        "kind": "modelops.monitoring.failure",
        "severity": "critical",
        "dataset": params.get("dataset"),
        "window_id": params.get("window"),
        "task": f"{dag_id}.{task_id}",
        "action": "investigate",
        "why": f"monitoring task {task_id} failed: the window was not judged",
        "error": message,
        "airflow_run_id": run_id,
    }


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> int:
    """POST the payload as JSON; returns the HTTP status (raises on network errors)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status
