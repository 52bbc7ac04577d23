"""Do offline and online metrics agree? A version's holdout figure (its evaluation at training) beside what its
labelled production windows measured, per window and across versions.

Per labelled window (signal `offline_online_gap`, `signals.OfflineOnlineGap`): the window's primary metric
with its bootstrap interval (`labelled.primary_interval`) against the holdout figure of the version that
served it. The window shows a *gap* when the whole interval is worse than the holdout by more than
`offline_online_tolerance` (below it for a metric where higher is better, above it for a loss): sampling
noise alone does not explain it. Monitoring records each judged window's interval in `monitoring_history`
(`labeled_interval`: the interval, the version and its holdout figure), so a gap is re-read from facts with
the tolerance of the day, and the streak counts consecutive judged labelled windows of one version.

Across versions (`agreement`): each version with labelled windows, its holdout figure and the mean of its
windows' metric, and the rank (Spearman) and linear (Pearson) correlation of the two over the versions that
have both; with fewer than `MIN_VERSIONS` versions there is no correlation to speak of, and it says so.
Labelled windows are counted for the version that served them, as `served_decay` counts them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from modelops.config.models import MonitoringSection
from modelops.core.tags import holdout_tag
from modelops.stats.metrics import higher_is_better
from modelops.store import history, registry

MIN_VERSIONS = 3  # a correlation over fewer versions says nothing


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def setting(thresholds: dict[str, Any], key: str) -> Any:
    """A monitoring threshold, its MonitoringSection default when not given."""
    value = thresholds.get(key)
    return MonitoringSection.model_fields[key].default if value is None else value


def persistence_of(thresholds: dict[str, Any]) -> int:
    """Consecutive gap windows that fire the signal: `offline_online_persistence`, else `persistence`."""
    own = thresholds.get("offline_online_persistence")
    return int(own if own is not None else setting(thresholds, "persistence"))


def recorded_interval(labelled: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a window's history row keeps of its judged labelled result: the interval, the version that served
    the labelled window and that version's holdout figure (None: nothing judged)."""
    if not labelled or not labelled.get("judged") or not labelled.get("interval"):
        return None
    return {
        **labelled["interval"],
        "window_id": labelled["window_id"],
        "version": str(labelled["served_version"]),
        "holdout": _number(labelled.get("reference")),
    }


def is_gap(interval: dict[str, Any], tolerance: float) -> bool:
    """The whole interval is worse than the holdout by more than `tolerance` (False without a holdout)."""
    holdout, low, high = (_number(interval.get(k)) for k in ("holdout", "low", "high"))
    if holdout is None or low is None or high is None:
        return False
    if higher_is_better(str(interval["metric"])):
        return high < holdout - tolerance
    return low > holdout + tolerance


def earlier_intervals(rows: list[dict[str, Any]], window_id: str, labelled_window: str) -> list[dict[str, Any]]:
    """The recorded labelled intervals judged before window `window_id` (dry runs left out; a labelled window
    judged twice: its latest row), oldest first, `labelled_window` itself left out."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        interval = row.get("labeled_interval")
        if row.get("dry_run") or not interval or str(row["window_id"]) >= str(window_id):
            continue
        key = str(interval.get("window_id") or row.get("labeled_window"))
        if key != str(labelled_window):
            found.pop(key, None)  # re-judged: it counts where it was judged last
            found[key] = interval
    return list(found.values())


def gap_streak(current: dict[str, Any], earlier: list[dict[str, Any]], tolerance: float) -> list[str]:
    """The labelled windows of the current gap streak, newest first: the current window when it shows a gap,
    then each earlier judged window of the same version and metric with one, until one without (or another
    version's) ends it. Empty: the current window shows no gap."""
    if not is_gap(current, tolerance):
        return []
    streak = [str(current["window_id"])]
    for interval in reversed(earlier):
        if str(interval.get("version")) != str(current["version"]) or interval.get("metric") != current["metric"]:
            break
        if not is_gap(interval, tolerance):
            break
        streak.append(str(interval["window_id"]))
    return streak


def gap_section(current: dict[str, Any], rows: list[dict[str, Any]], window_id: str, t: dict[str, Any]) -> dict:
    """The signal's report section for one window: the evidence (holdout, online value and interval), whether it
    is a gap, the streak and whether it reached the persistence."""
    tolerance = float(setting(t, "offline_online_tolerance"))
    persistence = persistence_of(t)
    streak = gap_streak(current, earlier_intervals(rows, window_id, current["window_id"]), tolerance)
    holdout, online = current.get("holdout"), current["value"]
    sign = 1.0 if higher_is_better(str(current["metric"])) else -1.0
    return {
        **current,
        "online": online,
        "difference": None if holdout is None else sign * (holdout - online),  # positive: online is worse
        "tolerance": tolerance,
        "gap": bool(streak),
        "streak": streak,
        "persistence": persistence,
        "breach": len(streak) >= persistence,
    }


# --- across versions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionFigures:
    """One version's holdout figure beside its labelled windows' metric."""

    version: str
    holdout: float | None
    online: float | None  # the mean of its labelled windows' metric
    windows: int
    lowest: float | None
    highest: float | None
    gap_windows: int  # windows whose interval lies entirely worse than the holdout by more than the tolerance


@dataclass(frozen=True)
class Correlation:
    """The correlation of holdout and online figures over the versions with both (None: not computed, `note`)."""

    versions: int
    spearman: float | None
    spearman_p: float | None
    pearson: float | None
    pearson_p: float | None
    note: str


@dataclass(frozen=True)
class Agreement:
    """Every version with labelled windows (oldest version first) and the correlation across them."""

    metric: str
    versions: tuple[VersionFigures, ...]
    correlation: Correlation
    unattributed: int  # labelled windows whose serving version is not recorded

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def correlation(pairs: list[tuple[float, float]]) -> Correlation:
    """Spearman and Pearson correlation of (holdout, online) pairs; with fewer than MIN_VERSIONS pairs, or no
    spread on one side, none, and the note says why."""
    from scipy import stats

    n = len(pairs)
    if n < MIN_VERSIONS:
        return Correlation(
            n, None, None, None, None, f"not enough versions: {n} with both figures, {MIN_VERSIONS} needed"
        )
    holdout, online = [a for a, _ in pairs], [b for _, b in pairs]
    if len(set(holdout)) < 2 or len(set(online)) < 2:
        side = "holdout" if len(set(holdout)) < 2 else "online"
        return Correlation(n, None, None, None, None, f"no correlation: every version has the same {side} figure")
    rank, linear = stats.spearmanr(holdout, online), stats.pearsonr(holdout, online)
    return Correlation(
        n,
        float(rank.statistic),
        float(rank.pvalue),
        float(linear.statistic),
        float(linear.pvalue),
        f"over {n} versions with both figures",
    )


def _attributed(
    rows: list[dict[str, Any]], model_name: str, metric: str
) -> tuple[dict[str, list[tuple[float, dict | None]]], int]:
    """Per version, its labelled windows' (metric, recorded interval); and how many could not be attributed."""
    rows = [r for r in rows if not r.get("dry_run") and r.get("model_name", model_name) == model_name]
    served = {str(r["window_id"]): str(r["model_version"]) for r in rows}
    labelled: dict[str, tuple[float | None, dict | None]] = {}
    for row in rows:
        metrics = row.get("labeled_metrics") or {}
        if row.get("labeled_window") and metric in metrics:
            labelled[str(row["labeled_window"])] = (_number(metrics[metric]), row.get("labeled_interval"))
    out: dict[str, list[tuple[float, dict | None]]] = {}
    unattributed = 0
    for window, (value, interval) in labelled.items():
        version = (interval or {}).get("version") or served.get(window)
        if version is None:
            unattributed += 1
        elif value is not None:
            out.setdefault(str(version), []).append((value, interval))
    return out, unattributed


def agreement(
    rows: list[dict[str, Any]], model_name: str, metric: str, holdouts: dict[str, float | None], tolerance: float
) -> Agreement:
    """Holdout beside online per version and their correlation, from a dataset's monitoring history (`rows`) and
    the versions' holdout figures (`holdouts`; a window's recorded one when the version is not in it)."""
    found, unattributed = _attributed(rows, model_name, metric)
    figures = []
    for version in sorted(found, key=lambda v: (len(v), v)):
        values = [v for v, _ in found[version]]
        recorded = [i for _, i in found[version] if i and i.get("metric") == metric]
        holdout = _number(holdouts.get(version))
        if holdout is None:
            holdout = next(
                (_number(i.get("holdout")) for i in reversed(recorded) if i.get("holdout") is not None), None
            )
        gaps = sum(is_gap({**i, "holdout": holdout}, tolerance) for i in recorded)
        mean = sum(values) / len(values)
        figures.append(VersionFigures(version, holdout, mean, len(values), min(values), max(values), gaps))
    pairs = [(f.holdout, f.online) for f in figures if f.holdout is not None and f.online is not None]
    return Agreement(metric, tuple(figures), correlation(pairs), unattributed)


def load_agreement(dataset: str, model_name: str, metric: str, thresholds: dict[str, Any]) -> Agreement:
    """`agreement` of a dataset's model from its monitoring history and each version's holdout tag."""
    rows = history.read_monitoring_history(dataset)
    versions = {str(r["model_version"]) for r in rows} | {
        str((r.get("labeled_interval") or {}).get("version")) for r in rows if r.get("labeled_interval")
    }
    holdouts: dict[str, float | None] = {}
    for version in versions:
        found = registry.model_version(model_name, version)
        holdouts[version] = _number((found.tags or {}).get(holdout_tag(metric))) if found is not None else None
    return agreement(rows, model_name, metric, holdouts, float(setting(thresholds, "offline_online_tolerance")))
