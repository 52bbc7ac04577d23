"""Structured alerts for monitoring breaches, scoring fallbacks and task failures, and delivery to a webhook."""

from __future__ import annotations

import json
import urllib.request
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    """The `kind` of every alert this project sends (a receiver routes on it)."""

    MONITORING_BREACH = "modelops.monitoring.breach"
    MONITORING_FAILURE = "modelops.monitoring.failure"
    SCORING_ALERT = "modelops.scoring.alert"
    SCORING_FALLBACK = "modelops.scoring.fallback"
    SCORING_FAILURE = "modelops.scoring.failure"
    OPERATIONS_UNUSUAL_RUN = "modelops.operations.unusual_run"
    ALIAS_DRIFT = "modelops.registry.alias_drift"
    ENVIRONMENT_DRIFT = "modelops.environment.drift"


def alias_drift_alert(line: str, source: dict[str, Any]) -> dict[str, Any]:
    """The critical alert for a champion moved outside the training and promotion DAGs (`alias_log.AliasDrift`)."""
    return {
        "kind": AlertKind.ALIAS_DRIFT,
        "severity": "critical",
        "dataset": source.get("dataset"),
        "model": f"{source.get('model_name')} v{source.get('model_version')}",
        "action": "investigate",
        "why": line,
        "reasons": [line],
        "mlflow_run_id": source.get("mlflow_run_id"),
        "airflow_run_id": source.get("airflow_run_id") or source.get("run_id"),
    }


def build_alert(outcome: dict[str, Any]) -> dict[str, Any]:
    """The alert payload: what breached, for which model and window, what happens next.

    A champion moved outside the DAGs (`alias_drift`) makes it critical, first among the reasons; with no
    breach besides, it is a `modelops.registry.alias_drift` alert.
    """
    action = outcome["action"]
    drift = outcome.get("alias_drift")
    if drift and not outcome.get("breach") and action != "retrain":
        return {**alias_drift_alert(drift, outcome), "window_id": outcome["window_id"]}
    environment = outcome.get("environment_drift")
    if environment and not outcome.get("breach") and action != "retrain":
        return environment_alert(environment, outcome)
    return {
        "kind": AlertKind.MONITORING_BREACH,
        "severity": "critical" if drift or action in {"retrain", "alert"} else "warning",
        "dataset": outcome["dataset"],
        "window_id": outcome["window_id"],
        "model": f"{outcome['model_name']} v{outcome['model_version']}",
        "action": action,
        "why": outcome["why"],
        "reasons": ([drift] if drift else []) + list(outcome["reasons"]) + ([environment] if environment else []),
        "report": outcome.get("report_path"),
        "mlflow_run_id": outcome.get("mlflow_run_id"),
        "airflow_run_id": outcome.get("run_id"),
    }


def environment_alert(line: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """The warning for a window whose served version was trained with other library versions than monitoring runs
    (`core.environment.compare`'s line names each: trained -> serving)."""
    return {
        "kind": AlertKind.ENVIRONMENT_DRIFT,
        "severity": "warning",
        "dataset": outcome.get("dataset"),
        "window_id": outcome.get("window_id"),
        "model": f"{outcome.get('model_name')} v{outcome.get('model_version')}",
        "action": "investigate",
        "why": line,
        "reasons": [line],
        "report": outcome.get("report_path"),
        "mlflow_run_id": outcome.get("mlflow_run_id"),
        "airflow_run_id": outcome.get("run_id"),
    }


def should_alert(outcome: dict[str, Any] | None) -> bool:
    """A recorded outcome alerts on a breach, on a retrain without one (the champion's age bound), on a champion
    moved outside the DAGs, or on other library versions than the served version's training; a dry run never does
    (it measures, it does not act)."""
    signal = ("breach", "alias_drift", "environment_drift")
    return bool(
        outcome
        and (any(outcome.get(k) for k in signal) or outcome.get("action") == "retrain")
        and not outcome.get("dry_run")
    )


# What a failed task of each kind leaves undone, for the alert's "why".
_FAILURE_CONSEQUENCE = {
    AlertKind.MONITORING_FAILURE: "the window was not judged",
    AlertKind.SCORING_FAILURE: "the snapshot was not scored (no output was committed)",
}


def build_failure_alert(
    dag_id: str,
    task_id: str,
    run_id: str | None,
    params: dict[str, Any],
    error: BaseException | str | None,
    kind: str = AlertKind.MONITORING_FAILURE,
) -> dict[str, Any]:
    """The alert payload when a task failed: a person must look."""
    if isinstance(error, BaseException):
        message = f"{type(error).__name__}: {error}"
    else:
        message = str(error) if error else "unknown error (see the task log)"
    what = kind.split(".")[1] if kind.count(".") >= 2 else "modelops"
    return {
        "kind": kind,
        "severity": "critical",
        "dataset": params.get("dataset"),
        "window_id": params.get("window"),
        "snapshot": params.get("snapshot"),
        "task": f"{dag_id}.{task_id}",
        "action": "investigate",
        "why": f"{what} task {task_id} failed: {_FAILURE_CONSEQUENCE.get(kind, 'see the task log')}",
        "error": message,
        "airflow_run_id": run_id,
    }


def build_scoring_alert(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """An alert when a scoring run raised any (fallback share, a broken model, ids, a score shift); else None.

    Kind `modelops.scoring.fallback` (critical) when rows fell back beyond single rows' checks: the
    fallback share above its limit, or a whole chunk or model withheld; else `modelops.scoring.alert`
    (warning: the model served, e.g. its scores shifted).
    """
    alerts = list(manifest.get("alerts") or [])
    if not alerts:
        return None
    if manifest.get("alias_drift"):  # the champion moved outside the DAGs: louder than any fallback
        return {
            **alias_drift_alert(manifest["alias_drift"], manifest),
            "snapshot": manifest.get("snapshot"),
            "reasons": alerts,
        }
    reasons = manifest.get("fallback_reasons") or {}
    rows = int(manifest.get("rows") or 0)
    share = int(manifest.get("rows_fallback") or 0) / rows if rows else 0.0
    whole = {"model_unavailable", "degenerate_scores", "score_distribution"} & set(reasons)
    fallback = bool(whole) or any("were served by the rule-based fallback" in a for a in alerts) or share == 1.0
    return {
        "kind": AlertKind.SCORING_FALLBACK if fallback else AlertKind.SCORING_ALERT,
        "severity": "critical" if fallback else "warning",
        "dataset": manifest.get("dataset"),
        "snapshot": manifest.get("snapshot"),
        "model": f"{manifest.get('model_name')} v{manifest.get('model_version')}",
        "action": "investigate",
        "why": f"{manifest.get('rows_fallback', 0)} of {rows} rows were scored by the rule-based fallback"
        + ("" if fallback else f"; the model served the rest and the run raised {len(alerts)} alert(s)"),
        "reasons": alerts,
        "mlflow_run_id": manifest.get("mlflow_run_id"),
        "airflow_run_id": manifest.get("airflow_run_id"),
    }


def build_operations_alert(found: dict[str, Any]) -> dict[str, Any]:
    """An alert for one run whose wall time, peak memory or bytes written jumped above its recent history."""
    return {
        "kind": AlertKind.OPERATIONS_UNUSUAL_RUN,
        "severity": "warning",
        "dataset": found.get("dataset"),
        "dag_id": found["dag_id"],
        "airflow_run_id": found["run_id"],
        "action": "investigate",
        "why": f"run {found['run_id']} of {found['dag_id']} was markedly slower or larger than its recent history",
        "reasons": [f["detail"] for f in found["findings"]],
    }


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> int:
    """POST the payload as JSON; returns the HTTP status (raises on network errors)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status
