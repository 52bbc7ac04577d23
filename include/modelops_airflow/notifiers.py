"""Airflow notifiers for monitoring: breaches and failures, as a structured log line and a webhook.

The webhook URL comes from the Airflow connection `modelops_alerts` (optional), e.g.
`AIRFLOW_CONN_MODELOPS_ALERTS=http://127.0.0.1:9000/hooks/modelops`. Delivery problems are logged,
never fatal: the monitoring verdict is already recorded when the breach notifier runs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.sdk import BaseNotifier

from modelops.core.alerts import AlertKind
from modelops_airflow.runtime import dataset_or_default

log = logging.getLogger(__name__)


def _webhook_url(conn_id: str) -> str | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    if conn.host and "://" in conn.host:  # JSON form: {"conn_type": "http", "host": "http://..."}
        return conn.host
    # URI form http://host:port/path: Airflow keeps the scheme as conn_type and the path as schema
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema}" if conn.schema else ""
    return f"{conn.conn_type or 'http'}://{conn.host}{port}{path}"


class AlertNotifier(BaseNotifier):
    """Logs an alert and posts it to the `conn_id` webhook when one is defined."""

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = "modelops_alerts"):
        super().__init__()
        self.conn_id = conn_id

    def deliver(self, alert: dict[str, Any]) -> None:
        """Log the alert, then POST it (a delivery failure is logged, never raised)."""
        from modelops.core.alerts import post_webhook

        log.warning("MODELOPS ALERT %s", json.dumps(alert, default=str))
        url = _webhook_url(self.conn_id)
        if url is None:
            return
        try:
            status = post_webhook(url, alert)
            log.info("alert delivered to %s (HTTP %s)", url, status)
        except OSError as exc:
            log.error("alert delivery to %s failed: %s", url, exc)


class BreachNotifier(AlertNotifier):
    """Alerts when the task it is attached to returned an outcome with a breach or a retrain (`alerts.should_alert`;
    never for a dry run)."""

    def notify(self, context) -> None:
        from modelops.core.alerts import build_alert, should_alert

        ti = context["ti"]
        outcome = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)  # this dataset's, when mapped
        if should_alert(outcome):
            self.deliver(build_alert(outcome))


class FailureNotifier(AlertNotifier):
    """Alerts when the task it is attached to failed (as its on_failure_callback), as alert `kind`."""

    def __init__(self, conn_id: str = "modelops_alerts", kind: str = AlertKind.MONITORING_FAILURE):
        super().__init__(conn_id)
        self.kind = kind

    def notify(self, context) -> None:
        from modelops.core.alerts import build_failure_alert

        ti = context["ti"]
        if (context.get("params") or {}).get("dry_run"):  # a dry run alerts nobody, even when it fails
            return
        params = dict(context.get("params") or {})
        if ti.map_index >= 0 and not params.get("dataset"):  # a mapped instance: its label is its dataset
            params["dataset"] = getattr(ti, "rendered_map_index", None)
        elif not params.get("dataset"):  # an empty `dataset` Param ran the configured default
            params["dataset"] = dataset_or_default(params)
        self.deliver(
            build_failure_alert(
                ti.dag_id,
                ti.task_id,
                context.get("run_id"),
                params,
                context.get("exception"),
                kind=self.kind,
            )
        )


class ScoringNotifier(AlertNotifier):
    """Alerts when a committed scoring output fell back beyond single rows (a chunk, or the whole model)."""

    def notify(self, context) -> None:
        from modelops.core.alerts import build_scoring_alert

        ti = context["ti"]
        alert = build_scoring_alert(ti.xcom_pull(task_ids=ti.task_id) or {})
        if alert is not None:
            self.deliver(alert)


class OperationsNotifier(AlertNotifier):
    """Alerts on the runs the task found markedly slower or larger than their recent history (not in a dry run)."""

    def notify(self, context) -> None:
        from modelops.core.alerts import build_operations_alert

        if (context.get("params") or {}).get("dry_run"):
            return
        ti = context["ti"]
        for found in ti.xcom_pull(task_ids=ti.task_id) or []:
            self.deliver(build_operations_alert(found))
