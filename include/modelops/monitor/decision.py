"""The decision on a judged window: retrain, watch, cooldown, alert or none, from its signals and the history
(persistence, cooldown, the labelled veto, the champion's age bound), and which window a run judges.

The policy is written once, in docs/monitoring.md; tests/modelops/test_monitoring_policy.py is its proof.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelops.collect import windows
from modelops.config.models import DEFAULT_RETRAIN_ON
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.tags import alias_tag
from modelops.monitor.signals import DEGENERATE, drift_signals
from modelops.store import alias_log, registry

AGE_BOUND_NOTE = "the age bound never retrains inside the cooldown"


def decide_action(
    report: dict[str, Any], history_rows: list[dict[str, Any]], thresholds: dict[str, Any], window_end: datetime
) -> dict[str, Any]:
    """retrain / watch / cooldown / alert / none, with the reasons (the policy: docs/monitoring.md)."""
    configured = thresholds.get("retrain_on")
    retrain_on = list(DEFAULT_RETRAIN_ON if configured is None else configured)  # [] means: never retrain
    signals = list(report.get("signals", []))
    degenerate = DEGENERATE in signals
    # a copied or broken window is no evidence for a retrain (its drift figures are reported all the same)
    asking = [] if not report["quality"]["ok"] else [s for s in signals if s in retrain_on]
    recorded = [r for r in history_rows if not r["dry_run"] and _aware(r["window_end"]) <= window_end]
    streak, streak_windows = 0, [report["window_id"]]
    if asking:
        streak = 1
        # A streak is the same model suffering in consecutive windows: it restarts after a retrain
        # and when another version took over. A degenerate window is passed over (docs/monitoring.md).
        for row in reversed(_latest_per_window([r for r in recorded if r["window_id"] != report["window_id"]])):
            if DEGENERATE in (row.get("signals") or []):
                continue
            version = row.get("model_version")
            if row["action"] == "retrain" or (version is not None and str(version) != str(report.get("model_version"))):
                break
            if not _asked_to_retrain(row, retrain_on):
                break
            streak += 1
            streak_windows.append(row["window_id"])
    retrains = [_aware(r["window_end"]) for r in recorded if r["action"] == "retrain"]  # this window's too
    cooldown = timedelta(hours=float(thresholds["cooldown_hours"]))
    persistence = int(thresholds["persistence"])
    veto = _labelled_veto(report, asking, streak_windows)
    in_cooldown = bool(retrains and window_end - max(retrains) <= cooldown)  # a daily run 24 h later is inside
    age = champion_age(report, thresholds, window_end)
    if degenerate:
        action, why = (
            "alert",
            "data-quality break (degenerate window): alert only; it is no evidence about the model, so it neither "
            "counts toward nor breaks a retrain streak",
        )
    elif not report["quality"]["ok"]:
        action, why = "alert", "data-quality break: alert only, retraining on broken data would make it worse"
    elif "invalid_scores" in signals:
        action, why = (
            "alert",
            "the champion returned NaN/inf scores: alert only, a broken input or model needs a person",
        )
    elif not signals:
        action, why = "none", "no threshold breached"
    elif not asking:
        action, why = (
            "watch",
            f"{' and '.join(signals)} alone is no evidence the model suffers (retrain_on: {', '.join(retrain_on)}): "
            "watch and alert",
        )
    elif veto:
        action, why = "watch", veto
    elif streak < persistence:
        action, why = "watch", f"{', '.join(asking)}: breach {streak} of {persistence} consecutive windows needed"
    elif in_cooldown:
        action, why = "cooldown", f"breach persists but a retrain was triggered at {max(retrains).isoformat()}"
    else:
        action, why = (
            "retrain",
            f"{', '.join(asking)}: breach persisted for {streak} windows (>= {persistence}); no retrain in cooldown",
        )
    if age and age["exceeded"]:
        action, why = _age_bound(action, why, age, max(retrains) if in_cooldown else None)
    return {
        "action": action,
        "why": why,
        "streak": streak,
        "signals": signals,
        "retrain_signals": asking,
        "champion_age": age,
    }


def champion_age(report: dict[str, Any], thresholds: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """How long the current champion has served at `now` against `max_champion_age_days` (None: no bound or
    no champion); `why` says it in words, naming where the start came from when not the alias history."""
    limit = thresholds.get("max_champion_age_days")
    tenure = report.get("champion_tenure")
    if limit is None or not tenure:
        return None
    limit = float(limit)
    since = _aware(datetime.fromisoformat(tenure["since"]))
    days = max(0.0, (now - since).total_seconds() / 86400)
    exceeded = days > limit
    shown = f"{days:.0f}" if abs(days - limit) >= 1 else f"{days:.2f}"
    why = (
        f"champion v{tenure['version']} has served {shown} days (> {limit:g} allowed)"
        if exceeded
        else f"champion v{tenure['version']} has served {shown} of {limit:g} days allowed"
    )
    if tenure["source"] != "alias history":
        why += f" (measured from its {tenure['source']}: {tenure['note']})"
    return {**tenure, "days": days, "max_days": limit, "exceeded": exceeded, "why": why}


def _age_bound(action: str, why: str, age: dict[str, Any], cooldown_from: datetime | None) -> tuple[str, str]:
    """The decision once the champion is past its maximum age (docs/monitoring.md)."""
    if action == "alert":  # broken data or scores: a person first, retraining on clean data later
        return action, f"{why}; {age['why']}, but the age bound waits for clean data"
    if action == "retrain":
        return action, f"{why}; {age['why']} besides"
    if cooldown_from is not None:
        return "cooldown", (
            f"{age['why']}, but a retrain was triggered at {cooldown_from.isoformat()}: {AGE_BOUND_NOTE}"
            + ("" if action != "cooldown" else f"; {why}")
        )
    return "retrain", f"{age['why']}: the age bound retrains even without a breach (otherwise: {action}, {why})"


def _labelled_veto(report: dict[str, Any], asking: list[str], streak_windows: list[str]) -> str | None:
    """Why a judged, within-tolerance labelled result overrules drift-only signals (None: no veto).

    Only labels of a window inside the current breach streak may veto: labels from before the drift
    say nothing about the model in the drifted world.
    """
    lab = report.get("labelled")
    if not asking or not set(asking) <= set(drift_signals()) or not lab or not lab["judged"]:
        return None
    if lab["window_id"] not in streak_windows:
        return None
    if lab["performance_breach"] or lab["below_floors"] or lab["calibration_breach"]:
        return None
    primary = lab["primary"]
    return (
        f"labelled performance on window {lab['window_id']} ({lab['rows']} rows) is within tolerance "
        f"({primary} {lab['metrics'][primary]:.3f} vs the champion's {lab['reference']:.3f}, calibration unchanged): "
        f"it vetoes a retrain asked for only by drift signals ({', '.join(asking)}); watch"
    )


def _asked_to_retrain(row: dict[str, Any], retrain_on: list[str]) -> bool:
    """Did a clean recorded window raise a retrain signal?"""
    signals = row.get("signals") or []
    return "data_quality" not in signals and any(s in retrain_on for s in signals)


def _latest_per_window(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per window (its latest judgement), in the order windows were first judged."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row["window_id"]] = row  # a re-judged window keeps its place, with the newest verdict
    return list(latest.values())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choose_window(
    spec: DatasetSpec, requested: str | None, history_rows: list[dict[str, Any]]
) -> tuple[str | None, str]:
    """(window to judge, "") or (None, why the run skips).

    A named window is judged on request. Otherwise windows are judged once each, in order: the
    oldest window after the last judged one, so two windows arriving between runs are both judged
    and persistence counts consecutive windows.
    """
    if requested:
        return requested, ""
    scored = windows.list_windows(spec)
    if not scored:
        waiting = catalog.list_snapshots(spec.name)
        return None, f"no scored production windows for {spec.name} yet" + (
            f" ({len(waiting)} snapshots have inputs: the scoring DAG scores them)" if waiting else ""
        )
    judged = {r["window_id"]: r for r in history_rows if not r["dry_run"]}
    last_judged = max((w for w in scored if w in judged), default=None)
    waiting = [w for w in scored if w not in judged and (last_judged is None or w > last_judged)]
    if waiting:
        return waiting[0], ""
    last = judged[last_judged]
    when = last.get("recorded_at") or last["window_end"]
    when = when.isoformat(timespec="seconds") if isinstance(when, datetime) else str(when)
    return None, (
        f"window {last_judged} of {spec.name} was already judged at {when} (action {last['action']}, "
        f"run {last.get('run_id')}) and no newer window arrived; scheduled runs judge each window once: trigger "
        f"with window={last_judged!r} to re-judge it on purpose"
    )


def champion_tenure(model_name: str, champion: Any | None) -> dict[str, Any] | None:
    """Since when the current champion serves: the alias history (its current stint), else its `champion_since`
    tag, else the version's creation time; `source` and `note` say which. None without a champion."""
    if champion is None:
        return None
    version = str(champion.version)
    since = None
    for row in alias_log.alias_history(model_name):  # oldest first: the last row naming it starts its stint
        if str(row["version"]) == version:
            since = row["changed_at"]
    source, note = "alias history", ""
    if since is None:
        tag = (champion.tags or {}).get(alias_tag(registry.CHAMPION, "since"))
        if tag:
            since = _aware(datetime.fromisoformat(tag))
            source = "champion_since tag"
            note = "the alias history has no promotion of this version: read from its champion_since tag"
        else:
            since = datetime.fromtimestamp(int(champion.creation_timestamp) / 1000, UTC)
            source = "version creation time"
            note = (
                "no record of when this version became champion (no alias history, no champion_since tag): "
                "measured from when it was registered, so it may be older as a model than as a champion"
            )
    return {"version": version, "since": _aware(since).isoformat(timespec="seconds"), "source": source, "note": note}
