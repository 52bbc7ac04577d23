"""Links the monitor shows: workspace files served by the plugin, and pages of the MLflow UI when its address is set.

Files are named by their path under the workspace and served only through `catalog.resolve_served`,
which refuses anything else.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from pydantic import BaseModel, Field

from modelops.core import catalog

MLFLOW_UI_ENV = "MODELOPS_MLFLOW_UI_URL"  # e.g. http://127.0.0.1:5000; unset: runs are named, not linked


class Link(BaseModel):
    """A link the page shows: a workspace file served by the plugin, or an MLflow UI page."""

    label: str
    href: str
    external: bool = Field(description="True for MLflow UI pages (another server), false for files the view serves")


def mlflow_ui() -> str | None:
    """The MLflow UI's address (MODELOPS_MLFLOW_UI_URL) without a trailing slash, or None."""
    url = os.environ.get(MLFLOW_UI_ENV, "").strip()
    return url.rstrip("/") or None


def mlflow_run_link(label: str, experiment_id: str | None, run_id: str | None) -> list[Link]:
    """A link to a run in the MLflow UI (none when the UI address or the run is unknown)."""
    ui = mlflow_ui()
    if not ui or not experiment_id or not run_id:
        return []
    return [Link(label=label, href=f"{ui}/#/experiments/{experiment_id}/runs/{run_id}", external=True)]


def mlflow_version_link(model_name: str, version: str) -> list[Link]:
    """A link to a registered version in the MLflow UI (none without the UI address)."""
    ui = mlflow_ui()
    if not ui:
        return []
    href = f"{ui}/#/models/{urllib.parse.quote(model_name)}/versions/{urllib.parse.quote(str(version))}"
    return [Link(label=f"MLflow: {model_name} v{version}", href=href, external=True)]


def file_link(label: str, path: str | Path | None) -> list[Link]:
    """A link to a served workspace file (none when it cannot be served)."""
    name = catalog.served_name(path)
    return [] if name is None else [Link(label=label, href=f"files/{name}", external=False)]
