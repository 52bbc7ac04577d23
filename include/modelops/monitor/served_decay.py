"""A version's score decay as it served: its primary metric by age, from the holdout (age 0) to each labelled window.

Monitoring records, per judged window, the metrics of the newest labelled window (`labeled_window`,
`labeled_metrics` of `monitoring_history`). That labelled window was itself judged earlier as a scored
window, and its own row says which version served it and when it ended; so a labelled window counts for
the version that served it, at the age `window end - start`, where the start is when the version first
became champion (the alias history), else its `champion_since` tag, else its registration. A labelled
window whose own row is not recorded cannot be attributed and is counted, not guessed. The relative drop
against the holdout is signed as in `evaluate.decay` (a worse value is a positive drop), and
`age_at_tolerance` interpolates, with `evaluate.decay.age_at_drop`, the age at which the drop reaches the
monitoring tolerance (`max_relative_drop`); the champion age bound (`max_champion_age_days`) is carried
beside it. Intervals: the holdout's when the caller has them (a card's bootstrap); windows record none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelops.core.tags import alias_tag
from modelops.evaluate.decay import age_at_drop
from modelops.stats.metrics import higher_is_better
from modelops.store import alias_log, history, registry

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Holdout:
    """The version's primary metric on its training holdout, with its interval when one was computed."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class Start:
    """When a version's age starts, and from which record."""

    at: datetime
    source: str  # "alias history", "champion_since tag" or "registration"


@dataclass(frozen=True)
class AgePoint:
    """The metric at one age: the holdout (age 0) or a labelled window the version served."""

    label: str
    age_days: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    relative_drop: float | None
    window_end: datetime | None = None


@dataclass(frozen=True)
class ServedDecay:
    """A version's metric by age (holdout first, then windows by age), with the bounds monitoring applies."""

    model_name: str
    version: str
    metric: str
    start: Start | None
    holdout: AgePoint | None
    windows: tuple[AgePoint, ...]
    unattributed: int  # labelled windows whose serving row is not recorded
    max_age_days: float | None
    max_relative_drop: float | None

    @property
    def points(self) -> tuple[AgePoint, ...]:
        """The holdout (when known) then every window."""
        return ((self.holdout,) if self.holdout is not None else ()) + self.windows

    @property
    def age_at_tolerance(self) -> float | None:
        """Days at which the drop first reaches `max_relative_drop` (linear between windows; None: not reached)."""
        if self.max_relative_drop is None:
            return None
        return age_at_drop([(p.age_days, p.relative_drop) for p in self.windows], self.max_relative_drop)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def relative_drop(metric: str, reference: float | None, value: float | None) -> float | None:
    """(reference - value) / |reference|, signed so a worse value is a positive drop (None without both)."""
    if reference is None or value is None or reference == 0:
        return None
    sign = 1.0 if higher_is_better(metric) else -1.0
    return sign * (reference - value) / abs(reference)


def window_points(
    rows: list[dict[str, Any]], model_name: str, version: str, metric: str, start: datetime, reference: float | None
) -> tuple[list[AgePoint], int]:
    """The labelled windows `version` served, by age, and how many labelled windows could not be attributed.

    `rows`: monitoring_history rows of one dataset, oldest first (dry runs are left out here)."""
    rows = [r for r in rows if not r.get("dry_run") and r.get("model_name", model_name) == model_name]
    served = {r["window_id"]: r for r in rows}  # a re-judged window: its latest row
    labelled: dict[str, float | None] = {}
    for row in rows:
        metrics = row.get("labeled_metrics") or {}
        if row.get("labeled_window") and metric in metrics:
            labelled[str(row["labeled_window"])] = _number(metrics[metric])  # re-measured: the latest
    points, unattributed = [], 0
    for window, value in labelled.items():
        own = served.get(window)
        if own is None:
            unattributed += 1
            continue
        if str(own["model_version"]) != str(version):
            continue
        end = _aware(own["window_end"])
        age = (end - _aware(start)).total_seconds() / SECONDS_PER_DAY
        points.append(AgePoint(window, age, value, None, None, relative_drop(metric, reference, value), end))
    points.sort(key=lambda p: (p.age_days, p.label))
    return points, unattributed


def served_decay(
    rows: list[dict[str, Any]],
    model_name: str,
    version: str,
    metric: str,
    holdout: Holdout | None,
    start: Start | None,
    thresholds: dict[str, Any],
) -> ServedDecay:
    """The decay of `version` from its holdout and the recorded monitoring rows (no window without a start)."""
    reference = holdout.value if holdout is not None else None
    points, unattributed = (
        window_points(rows, model_name, version, metric, start.at, reference) if start is not None else ([], 0)
    )
    return ServedDecay(
        model_name=model_name,
        version=str(version),
        metric=metric,
        start=start,
        holdout=AgePoint("holdout", 0.0, reference, holdout.ci_low, holdout.ci_high, 0.0)
        if holdout is not None and reference is not None
        else None,
        windows=tuple(points),
        unattributed=unattributed,
        max_age_days=_number(thresholds.get("max_champion_age_days")),
        max_relative_drop=_number(thresholds.get("max_relative_drop")),
    )


def version_start(model_name: str, version: str) -> Start | None:
    """When `version` first became champion (alias history), else its champion_since tag, else its registration."""
    for row in alias_log.alias_history(model_name):  # oldest first
        if str(row["version"]) == str(version):
            return Start(_aware(row["changed_at"]), "alias history")
    found = registry.model_version(model_name, str(version))
    if found is None:
        return None
    tag = (found.tags or {}).get(alias_tag(registry.CHAMPION, "since"))
    if tag:
        return Start(_aware(datetime.fromisoformat(tag)), "champion_since tag")
    return Start(datetime.fromtimestamp(int(found.creation_timestamp) / 1000, UTC), "registration")


def load_served_decay(
    dataset: str, model_name: str, version: str, metric: str, holdout: Holdout | None, thresholds: dict[str, Any]
) -> ServedDecay:
    """`served_decay` of a version from the registry, the alias history and the dataset's monitoring history."""
    rows = history.read_monitoring_history(dataset)
    return served_decay(rows, model_name, version, metric, holdout, version_start(model_name, version), thresholds)
