"""UI plugin: the "Model monitor" page inside the Airflow UI, behind Airflow's own login
(the app: `modelops_airflow.monitor_app`)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from modelops_airflow.monitor_app import ROUTE, URL_PREFIX, app


class ModelopsMonitorPlugin(AirflowPlugin):
    """The model monitor: its FastAPI app and its entry in the UI's navigation."""

    name = "modelops_monitor"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [{"app": app, "url_prefix": URL_PREFIX, "name": "Model monitor"}]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Model monitor",
            "href": f"{ROUTE}/",
            "destination": "nav",
            "url_route": ROUTE,
        }
    ]
