"""Airflow notifier for monitoring breaches: a structured log line, and a webhook when configured.

The webhook URL comes from the Airflow connection `modelops_alerts` (optional), e.g.
`AIRFLOW_CONN_MODELOPS_ALERTS=http://127.0.0.1:9000/hooks/modelops`. Delivery problems are logged,
never fatal: the monitoring verdict is already recorded when the notifier runs.
"""

from __future__ import annotations

import json
import logging

from airflow.sdk import BaseNotifier

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


class BreachNotifier(BaseNotifier):
    """Alerts when the task it is attached to returned an outcome with `breach: true`."""

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = "modelops_alerts"):
        super().__init__()
        self.conn_id = conn_id

    def notify(self, context) -> None:
        from modelops.alerts import build_alert, post_webhook

        ti = context["ti"]
        outcome = ti.xcom_pull(task_ids=ti.task_id)
        if not outcome or not outcome.get("breach"):
            return
        alert = build_alert(outcome)
        log.warning("MODELOPS ALERT %s", json.dumps(alert))
        url = _webhook_url(self.conn_id)
        if url is None:
            return
        try:
            status = post_webhook(url, alert)
            log.info("alert delivered to %s (HTTP %s)", url, status)
        except OSError as exc:
            log.error("alert delivery to %s failed: %s", url, exc)
