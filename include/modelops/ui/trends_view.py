"""The monitoring history as the monitor shows it: drift and performance trends, one point per window, and verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from modelops.config.settings import DatasetSpec
from modelops.core.tags import Tag
from modelops.store import history
from modelops.ui.links import Link, file_link, mlflow_run_link


class TrendPoint(BaseModel):
    """One monitoring window's value of a trend, and whether that signal breached in the window."""

    window_id: str
    window_end: datetime
    model_version: str
    value: float | None
    breach: bool


class Trend(BaseModel):
    """A series over the recorded windows (oldest first), with the configured limit where one applies."""

    key: str
    label: str
    signal: str
    limit: float | None
    higher_is_worse: bool
    points: list[TrendPoint]
    ceiling: float | None = None  # the figure's largest possible value (1 for shares and rates), if any


class WindowVerdict(BaseModel):
    """A recorded monitoring verdict: the action taken and why."""

    window_id: str
    window_end: datetime
    model_version: str
    rows: int
    breach: bool
    action: str
    signals: list[str]
    reasons: list[str]
    why: str | None
    fallback_share: float | None
    airflow_run_id: str | None
    links: list[Link]


# key, label, the signal whose breach marks a point, the threshold key of its limit, higher is worse
TREND_SPECS = (
    ("drift_share", "Share of drifted features", "data_drift", "dataset_drift_share", True),
    ("prediction_psi", "Score PSI", "prediction_drift", "prediction_psi", True),
    ("expected_accuracy", "Expected accuracy (label-free)", "estimated_accuracy", None, False),
    ("fallback_share", "Fallback share", "fallback", "fallback_share", True),
)


BOUNDED = {"drift_share", "expected_accuracy", "fallback_share"}  # shares and rates: never above 1
UNBOUNDED_METRICS = {"log_loss"}  # every other primary metric is a rate or a probability score in [0, 1]


def recorded_windows(dataset: str) -> list[dict[str, Any]]:
    """The dataset's recorded (not dry-run) monitoring windows, oldest first, timestamps in UTC."""
    rows = [r for r in history.read_monitoring_history(dataset) if not r.get("dry_run")]
    for row in rows:
        end = row["window_end"]
        row["window_end"] = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    return rows


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def trends(
    rows: list[dict[str, Any]], thresholds: dict[str, Any], primary_metric: str, floor: float | None = None
) -> list[Trend]:
    """Drift and performance series from recorded monitoring rows (oldest first), one point per window.

    The labelled metric's limit is its configured floor (evaluation.floors), the absolute line it is judged
    against in every window; its drop against each version's own reference is in each window's report.
    """
    specs = [*TREND_SPECS, (f"labelled_{primary_metric}", f"Labelled {primary_metric}", "performance", None, False)]
    out = []
    for key, label, signal, limit_key, worse_up in specs:
        points = []
        for row in rows:
            if key.startswith("labelled_"):
                value = _number((row.get("labeled_metrics") or {}).get(primary_metric))
            else:
                value = _number(row.get(key))
            points.append(
                TrendPoint(
                    window_id=row["window_id"],
                    window_end=row["window_end"],
                    model_version=str(row["model_version"]),
                    value=value,
                    breach=signal in (row.get("signals") or []),
                )
            )
        limit = (
            _number(thresholds.get(limit_key)) if limit_key else _number(floor) if key.startswith("labelled_") else None
        )
        bounded = key in BOUNDED or (key.startswith("labelled_") and primary_metric not in UNBOUNDED_METRICS)
        out.append(
            Trend(
                key=key,
                label=label,
                signal=signal,
                limit=limit,
                higher_is_worse=worse_up,
                points=points,
                ceiling=1.0 if bounded else None,
            )
        )
    return out


def verdicts(spec: DatasetSpec, rows: list[dict[str, Any]]) -> list[WindowVerdict]:
    """Recorded monitoring verdicts, newest first, with their report and MLflow run."""
    from modelops.store import tracking

    runs = tracking.runs_by_tag(tracking.monitoring_experiment_name(spec.name), Tag.WINDOW_ID, Tag.AIRFLOW_RUN_ID)
    out = []
    for row in reversed(rows):
        links = file_link("monitoring report", row.get("report_path"))
        run = runs.get((row["window_id"], row.get("run_id"))) or runs.get((row["window_id"], None))
        if run:
            links += mlflow_run_link("MLflow: monitoring run", run[0], run[1])
        out.append(
            WindowVerdict(
                window_id=row["window_id"],
                window_end=row["window_end"],
                model_version=str(row["model_version"]),
                rows=int(row["rows"]),
                breach=bool(row["breach"]),
                action=str(row["action"]),
                signals=list(row.get("signals") or []),
                reasons=[str(r) for r in row.get("reasons") or []],
                why=row.get("why"),
                fallback_share=_number(row.get("fallback_share")),
                airflow_run_id=row.get("run_id"),
                links=links,
            )
        )
    return out
