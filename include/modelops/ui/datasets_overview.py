"""Every configured dataset at a glance: the monitor's opening page and the list its pages link to."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from modelops.config.settings import Settings, load_settings
from modelops.ui.approvals_view import ApprovalList
from modelops.ui.trends_view import recorded_windows
from modelops.ui.versions_view import alias_drift_line


class DatasetSummary(BaseModel):
    """One configured dataset: its model, who serves, and the latest monitoring action."""

    dataset: str
    model_name: str
    champion_version: str | None
    challenger_version: str | None
    windows: int
    latest_action: str | None
    latest_window: str | None


class DatasetList(BaseModel):
    """Every configured dataset."""

    datasets: list[DatasetSummary]


def dataset_list(settings: Settings | None = None) -> DatasetList:
    """Every configured dataset with who serves it and its latest monitoring action."""
    from modelops.store import registry

    settings = settings or load_settings()
    out = []
    for name in sorted(settings.datasets):
        spec = settings.datasets[name]
        champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
        challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
        rows = recorded_windows(name)
        out.append(
            DatasetSummary(
                dataset=name,
                model_name=spec.model_name,
                champion_version=None if champion is None else str(champion.version),
                challenger_version=None if challenger is None else str(challenger.version),
                windows=len(rows),
                latest_action=rows[-1]["action"] if rows else None,
                latest_window=rows[-1]["window_id"] if rows else None,
            )
        )
    return DatasetList(datasets=out)


class OverviewRow(BaseModel):
    """One configured dataset at a glance: who serves, the last window judged, what is open, its page."""

    dataset: str
    model_name: str
    champion_version: str | None
    schedule: str = Field(description="its monitoring schedule (cron, preset, or off: manual runs only)")
    last_window: str | None = Field(description="the last window judged (recorded, not a dry run)")
    judged_at: datetime | None = Field(description="when that window's verdict was recorded (UTC)")
    last_action: str | None = Field(description="that window's verdict: retrain, watch, cooldown, alert or none")
    open_signals: list[str] = Field(description="the signals that window breached (open until a later one clears)")
    alias_drift: str | None = Field(description="set when the champion alias moved outside the DAGs")
    pending_approvals: int = Field(description="approvals waiting in Required Actions for this dataset's model")
    page: str = Field(description="the dataset's own page, relative to the monitor's root")


class Overview(BaseModel):
    """Every configured dataset, one row each, and approvals whose dataset is not known."""

    generated_at: datetime
    datasets: list[OverviewRow]
    unattributed_approvals: int = Field(description="waiting approvals whose dataset could not be told")
    approvals_error: str | None = Field(description="why Airflow could not be asked for approvals, if it could not")


def overview_row(settings: Settings, name: str, approvals: ApprovalList) -> OverviewRow:
    """One dataset's overview row from the registry, its monitoring history and the waiting approvals."""
    from modelops.pipelines.monitoring_flow import dataset_schedule
    from modelops.store import registry

    spec = settings.datasets[name]
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    last = (recorded_windows(name) or [None])[-1]
    judged = None if last is None else last["recorded_at"]
    return OverviewRow(
        dataset=name,
        model_name=spec.model_name,
        champion_version=None if champion is None else str(champion.version),
        schedule=dataset_schedule(settings, spec),
        last_window=None if last is None else last["window_id"],
        judged_at=None if judged is None else judged.replace(tzinfo=judged.tzinfo or UTC),
        last_action=None if last is None else last["action"],
        open_signals=[] if last is None else list(last.get("signals") or []),
        alias_drift=alias_drift_line(spec.model_name),
        pending_approvals=sum(a.dataset == name for a in approvals.approvals),
        page=f"?dataset={urllib.parse.quote(name)}",
    )


def overview(settings: Settings, approvals: ApprovalList) -> Overview:
    """The monitor's opening page: one row per configured dataset."""
    names = sorted(settings.datasets)
    return Overview(
        generated_at=datetime.now(UTC),
        datasets=[overview_row(settings, name, approvals) for name in names],
        unattributed_approvals=sum(a.dataset not in names for a in approvals.approvals),
        approvals_error=approvals.error,
    )
