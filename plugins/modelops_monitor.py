"""UI plugin: the "Model monitor" page inside the Airflow UI, behind Airflow's own login.

A FastAPI app mounted by the api-server at `/modelops-monitor` and a navigation entry ("Model
monitor") that shows it inside the UI at `/plugin/modelops-monitor`. Every route, the OpenAPI
document included, needs the caller's Airflow JWT: the `Authorization: Bearer` header API clients
send, or the `_token` cookie the UI sets after login; anonymous requests get 401.

Routes: `/` (the HTML page, `?dataset=`), `/api/datasets`, `/api/datasets/{dataset}`,
`/api/approvals` (typed JSON, see `/openapi.json`), and `/files/<path>`, which serves only the HTML
and JSON reports, model cards and scoring manifests of the workspace (`monitor_view.resolve_file`).
The data comes from `modelops.monitor_view`; MLflow and the heavy libraries load on first request.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from modelops.monitor_view import ApprovalList, DatasetList, DatasetView

URL_PREFIX = "/modelops-monitor"
ROUTE = "modelops-monitor"
# Served files are shown as documents of their own origin with no script: a report is same-origin with the
# Airflow UI (and its login cookie), so whatever text a report quotes from the data must never run.
FILE_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
API_URL_ENV = "MODELOPS_AIRFLOW_API_URL"  # where the plugin asks Airflow's REST API (default: this api-server)

_bearer = HTTPBearer(auto_error=False, description="An Airflow JWT (POST /auth/token), or the UI's `_token` cookie")


async def require_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The Airflow user behind the request (bearer token, else the UI's cookie); 401 when anonymous."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


User = Annotated[Any, Depends(require_user)]


def _airflow_api_url() -> str:
    """This api-server's own address (loopback when it binds every interface)."""
    if os.environ.get(API_URL_ENV):
        return os.environ[API_URL_ENV].rstrip("/")
    from airflow.configuration import conf

    host = conf.get("api", "host", fallback="127.0.0.1")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    port = conf.getint("api", "port", fallback=8080)
    path = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"http://{host}:{port}{path}"


def _ui_base(request: Request) -> str:
    """The Airflow UI's root as seen by the browser (the mount prefix removed from this app's root path)."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root.removesuffix(URL_PREFIX) + "/"


def _approvals(user: Any) -> ApprovalList:
    """Pending approvals, read with a short-lived token of the same user (so their permissions apply)."""
    from airflow.api_fastapi.app import get_auth_manager

    from modelops import monitor_view

    token = get_auth_manager().generate_jwt(user, expiration_time_in_seconds=120)
    return monitor_view.pending_approvals(_airflow_api_url(), token)


def _dataset_view(dataset: str) -> DatasetView:
    from modelops import monitor_view
    from modelops.config import ConfigError

    try:
        return monitor_view.dataset_view(dataset)
    except ConfigError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


app = FastAPI(
    title="modelops model monitor",
    description="Champion and challenger with their gates, alias history, monitoring trends and verdicts, "
    "fallback share and pending approvals, per dataset.",
    openapi_url=None,  # served below, behind the login like everything else
    docs_url=None,
    redoc_url=None,
)


@app.get("/openapi.json", include_in_schema=False)
def openapi(user: User) -> dict[str, Any]:
    """This app's OpenAPI document (typed responses of the data endpoints)."""
    return app.openapi()


@app.get("/api/datasets", response_model=DatasetList)
def list_datasets(user: User) -> DatasetList:
    """Every configured dataset: its model, champion, challenger and latest monitoring action."""
    from modelops import monitor_view

    return monitor_view.dataset_list()


@app.get("/api/datasets/{dataset}", response_model=DatasetView, responses={404: {"description": "unknown dataset"}})
def get_dataset(dataset: str, user: User) -> DatasetView:
    """Everything the monitor shows for one dataset."""
    return _dataset_view(dataset)


@app.get("/api/approvals", response_model=ApprovalList)
def list_approvals(user: User) -> ApprovalList:
    """Approvals waiting in Required Actions (those this user may read)."""
    return _approvals(user)


@app.get("/files/{name:path}", response_class=FileResponse, responses={404: {"description": "not a served file"}})
def get_file(name: str, user: User) -> FileResponse:
    """A monitoring report, model card or scoring report/manifest of the workspace (HTML or JSON only)."""
    from modelops import monitor_view

    try:
        path = monitor_view.resolve_file(name)
    except monitor_view.RefusedFile as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    media = "text/html; charset=utf-8" if path.suffix == ".html" else "application/json"
    return FileResponse(path, media_type=media, headers={"Content-Security-Policy": FILE_CSP})


@app.get("/", response_class=HTMLResponse)
def page(request: Request, user: User, dataset: str | None = None) -> HTMLResponse:
    """The page for one dataset (the first configured one by default)."""
    from modelops import monitor_page, monitor_view

    datasets = monitor_view.dataset_list()
    names = [d.dataset for d in datasets.datasets]
    if dataset is None and names:
        with_model = [d.dataset for d in datasets.datasets if d.champion_version or d.challenger_version]
        dataset = (with_model or names)[0]
    view = _dataset_view(dataset) if dataset is not None else None
    html = monitor_page.render(view, datasets, _approvals(user), _ui_base(request))
    return HTMLResponse(html)


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
