"""The "Model monitor" app: its page inside the Airflow UI, behind Airflow's own login.

A FastAPI app that the plugin `plugins/modelops_monitor.py` mounts on the api-server at
`/modelops-monitor`, with a navigation entry ("Model monitor") that shows it inside the UI at
`/plugin/modelops-monitor`. Every route, the OpenAPI
document included, needs the caller's Airflow JWT: the `Authorization: Bearer` header API clients
send, or the `_token` cookie the UI sets after login; anonymous requests get 401.

Routes: `/` (the HTML page: the overview of every dataset, or one dataset's with `?dataset=`),
`/api/overview`, `/api/datasets`, `/api/datasets/{dataset}`,
`/api/approvals` (typed JSON, see `/openapi.json`), and `/files/<path>`, which serves only the HTML
and JSON reports, model cards and scoring manifests of the workspace (`catalog.resolve_served`).
The data comes from the `modelops.ui` view modules (`dataset_view`, `datasets_overview`, `approvals_view`);
MLflow and the heavy libraries load on first request.

Every response (page, JSON, files, 401, 404, errors) carries a Content-Security-Policy (`default-src
'none'` unless the page or a file needs more), `X-Content-Type-Options: nosniff`, `X-Frame-Options:
SAMEORIGIN` with `frame-ancestors 'self'` (the Airflow UI frames the page from the same origin) and
`Referrer-Policy: no-referrer`. Errors say a fixed message and never echo the request's path or names.
"""

from __future__ import annotations

import os
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelops.core.handoffs import MONITOR_URL_PREFIX
from modelops.ui.approvals_view import ApprovalList, RunRequest
from modelops.ui.dataset_view import DatasetView
from modelops.ui.datasets_overview import DatasetList, Overview

URL_PREFIX = MONITOR_URL_PREFIX  # the training run's note links its card here
ROUTE = "modelops-monitor"
# Served files are shown as documents of their own origin with no script: a report is same-origin with the
# Airflow UI (and its login cookie), so whatever text a report quotes from the data must never run.
FRAMING = "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
FILE_CSP = f"sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; {FRAMING}"
DEFAULT_CSP = f"default-src 'none'; {FRAMING}"  # JSON and errors: nothing to load, nothing to run
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",  # as frame-ancestors 'self', for browsers that only know this one
    "Referrer-Policy": "no-referrer",
}
UNKNOWN_DATASET = "unknown dataset"  # fixed: a 404 never repeats what was asked for
NOT_SERVED = "not a served file"
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


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, and a fixed 500 when a route fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "content-security-policy" not in headers:  # the page and files set their own
                    headers["Content-Security-Policy"] = DEFAULT_CSP
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:  # Starlette's own error page is sent outside this app's middleware
                await PlainTextResponse("internal error", status_code=500)(scope, receive, send_with_headers)
            raise


def _token(user: Any) -> str:
    """A short-lived token of the same user, to ask Airflow's REST API (so their permissions apply)."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().generate_jwt(user, expiration_time_in_seconds=120)


def _approvals(token: str) -> ApprovalList:
    """Pending approvals with what each would change, read as the logged-in user."""
    from modelops.ui import approvals_view

    return approvals_view.pending_approvals(_airflow_api_url(), token)


def _requests(token: str, dataset: str) -> dict[str, RunRequest]:
    """Who asked for each promotion run of the dataset, read as the logged-in user."""
    from modelops.ui import approvals_view

    return approvals_view.run_requests(_airflow_api_url(), token, dataset)


def _dataset_view(dataset: str, token: str) -> DatasetView:
    from modelops.config.checks import ConfigError
    from modelops.config.settings import load_settings
    from modelops.ui import dataset_view

    settings = load_settings()
    if dataset not in settings.datasets:
        raise HTTPException(status_code=404, detail=UNKNOWN_DATASET)
    try:
        return dataset_view.dataset_view(dataset, settings, _requests(token, dataset))
    except ConfigError:
        raise HTTPException(status_code=404, detail=UNKNOWN_DATASET) from None


app = FastAPI(
    title="modelops model monitor",
    description="Champion and challenger with their gates, alias history, monitoring trends and verdicts, "
    "fallback share and pending approvals, per dataset.",
    openapi_url=None,  # served below, behind the login like everything else
    docs_url=None,
    redoc_url=None,
)
app.add_middleware(SecurityHeaders)


@app.exception_handler(RequestValidationError)
async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A fixed answer: FastAPI's own lists the refused input, which would echo the request."""
    return JSONResponse({"detail": "invalid request"}, status_code=422)


@app.get("/openapi.json", include_in_schema=False)
def openapi(user: User) -> dict[str, Any]:
    """This app's OpenAPI document (typed responses of the data endpoints)."""
    return app.openapi()


@app.get("/api/datasets", response_model=DatasetList)
def list_datasets(user: User) -> DatasetList:
    """Every configured dataset: its model, champion, challenger and latest monitoring action."""
    from modelops.ui import datasets_overview

    return datasets_overview.dataset_list()


@app.get("/api/overview", response_model=Overview)
def get_overview(user: User) -> Overview:
    """Every configured dataset at a glance: champion, schedule, last window judged, open signals, approvals."""
    from modelops.config.settings import load_settings
    from modelops.ui import datasets_overview

    return datasets_overview.overview(load_settings(), _approvals(_token(user)))


@app.get("/api/datasets/{dataset}", response_model=DatasetView, responses={404: {"description": "unknown dataset"}})
def get_dataset(dataset: str, user: User) -> DatasetView:
    """Everything the monitor shows for one dataset, with its promotion decisions."""
    return _dataset_view(dataset, _token(user))


@app.get("/api/approvals", response_model=ApprovalList)
def list_approvals(user: User) -> ApprovalList:
    """Approvals waiting in Required Actions (those this user may read), with what each would change."""
    return _approvals(_token(user))


@app.get("/files/{name:path}", response_class=FileResponse, responses={404: {"description": "not a served file"}})
def get_file(name: str, user: User) -> FileResponse:
    """A monitoring report, model card or scoring report/manifest of the workspace (HTML or JSON only)."""
    from modelops.core import catalog

    try:
        path = catalog.resolve_served(name)
    except catalog.RefusedFile:
        raise HTTPException(status_code=404, detail=NOT_SERVED) from None
    media = "text/html; charset=utf-8" if path.suffix == ".html" else "application/json"
    return FileResponse(path, media_type=media, headers={"Content-Security-Policy": FILE_CSP})


@app.get("/", response_class=HTMLResponse)
def page(request: Request, user: User, dataset: str | None = None) -> HTMLResponse:
    """The overview of every dataset, or the page of one (`?dataset=`)."""
    from modelops.config.settings import load_settings
    from modelops.ui import datasets_overview, monitor_page

    token = _token(user)
    if not dataset:
        approvals = _approvals(token)
        html = monitor_page.render_overview(
            datasets_overview.overview(load_settings(), approvals), approvals, _ui_base(request)
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": monitor_page.PAGE_CSP})
    view = _dataset_view(dataset, token)
    html = monitor_page.render(view, datasets_overview.dataset_list(), _approvals(token), _ui_base(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": monitor_page.PAGE_CSP})
