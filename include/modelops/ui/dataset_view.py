"""What the "Model monitor" shows for one dataset: typed records built from the registry and audit tables.

Who is champion and challenger (with the promotion gates each passed or failed), which version held
which alias when, for each scored snapshot who served its rows, the drift and performance trends and
the latest verdicts, and the decided promotion requests. The records are pydantic models: the plugin's
JSON endpoints return them as they are (so they are typed in its OpenAPI), and `monitor_page` renders
them as HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from modelops.config.settings import DatasetSpec, Settings, load_settings
from modelops.ui.approvals_view import RunRequest
from modelops.ui.forecasts_view import DecayView, ForecastsView, card_holdout, decay_view, forecasts_view
from modelops.ui.links import mlflow_ui
from modelops.ui.offline_online_view import OfflineOnlineView, offline_online_view
from modelops.ui.serving_view import RECENT_SNAPSHOTS, ServedSnapshot, recent_fallback_share, served_snapshots
from modelops.ui.trends_view import Trend, WindowVerdict, recorded_windows, trends, verdicts
from modelops.ui.versions_view import (
    DECISIONS_SHOWN,
    AliasChange,
    Decision,
    VersionInfo,
    alias_changes,
    alias_drift_line,
    decisions,
    version_info,
)


class DatasetView(BaseModel):
    """Everything the monitor shows for one dataset."""

    dataset: str
    model_name: str
    generated_at: datetime
    serving_now: str
    champion: VersionInfo | None
    challenger: VersionInfo | None
    alias_history: list[AliasChange] = Field(description="every alias change, newest first")
    served: list[ServedSnapshot] = Field(description="committed scorings, newest first")
    recent_fallback_share: float | None = Field(
        description=f"rows served by the rule-based baseline / rows, over the {RECENT_SNAPSHOTS} newest scorings"
    )
    trends: list[Trend]
    verdicts: list[WindowVerdict] = Field(description="recorded monitoring verdicts, newest first")
    mlflow_ui: str | None
    decisions: list[Decision] = Field(
        default_factory=list, description=f"decided promotion requests, newest first (at most {DECISIONS_SHOWN})"
    )
    alias_drift: str | None = Field(
        default=None,
        description="set when MLflow's champion alias disagrees with the alias history: it moved outside the "
        "training and promotion DAGs (scoring serves the recorded version and alerts)",
    )
    forecasts: ForecastsView | None = Field(
        default=None, description="published runs of the forecasts built on this dataset's scores"
    )
    decay: DecayView | None = Field(
        default=None, description="the champion's primary metric by age: holdout (0) and labelled windows"
    )
    offline_online: OfflineOnlineView | None = Field(
        default=None, description="each version's holdout figure beside its labelled windows', and their correlation"
    )


def _spec(settings: Settings, dataset: str) -> DatasetSpec:
    return settings.dataset(dataset)  # ConfigError naming the configured datasets when unknown


def dataset_view(
    dataset: str, settings: Settings | None = None, requests: dict[str, RunRequest] | None = None
) -> DatasetView:
    """Everything the monitor shows for one configured dataset (ConfigError when it is not configured).

    `requests` (see `approvals_view.run_requests`) say who asked for each decided promotion; without them it is unknown.
    """
    from modelops.monitor.served_decay import load_served_decay
    from modelops.monitor.thresholds import thresholds_for
    from modelops.store import alias_log, registry

    settings = settings or load_settings()
    spec = _spec(settings, dataset)
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
    served = served_snapshots(spec)
    rows = recorded_windows(spec.name)
    thresholds = thresholds_for(settings, None, spec)
    primary = str(settings.evaluation.primary_metric)
    info = version_info(spec, champion) if champion is not None else None
    decay = None
    if info is not None:
        metric = info.primary_metric or primary  # the version's own: its holdout value is of that metric
        holdout = card_holdout(spec.name, spec.model_name, info.version, metric, info.holdout_value)
        decay = decay_view(load_served_decay(spec.name, spec.model_name, info.version, metric, holdout, thresholds))
    return DatasetView(
        dataset=spec.name,
        model_name=spec.model_name,
        generated_at=datetime.now(UTC),
        serving_now=alias_log.describe_serving(spec.model_name),
        champion=info,
        challenger=version_info(spec, challenger) if challenger is not None else None,
        alias_history=alias_changes(spec.model_name),
        served=served,
        recent_fallback_share=recent_fallback_share(served),
        trends=trends(rows, thresholds, primary, (settings.evaluation.floors or {}).get(primary)),
        verdicts=verdicts(spec, rows),
        mlflow_ui=mlflow_ui(),
        decisions=decisions(spec.model_name, requests),
        alias_drift=alias_drift_line(spec.model_name),
        forecasts=forecasts_view(settings, spec.name),
        decay=decay,
        offline_online=_offline_online(spec, primary, thresholds),
    )


def _offline_online(spec: DatasetSpec, primary: str, thresholds: dict) -> OfflineOnlineView:
    """Holdout beside online figures of the dataset's model versions (`monitor.offline_online`)."""
    from modelops.monitor.offline_online import load_agreement

    return offline_online_view(load_agreement(spec.name, spec.model_name, primary, thresholds))
