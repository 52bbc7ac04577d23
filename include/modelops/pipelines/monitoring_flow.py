"""The monitoring workflow's steps, one function per DAG task, and the typed records they hand on.

`judge_window` (task `assess`) picks the window, measures it, decides, writes the report and logs
the MLflow run, and returns a `WindowOutcome`; the branch reads `WindowOutcome.retrains`;
`record_verdict` (task `record`) appends the history row and returns the `WindowVerdict` the
breach notifier reads. The records become dicts only at the XCom boundary (`to_xcom` /
`from_xcom`, called in the DAG file); the flat XCom shape is what the retraining trigger's
template (`['retrain_conf']`) and `modelops.core.alerts` read. The measuring modules are imported inside
the steps, so the branch task reading a record imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.config.checks import SCHEDULE_OFF, monitoring_cron
from modelops.config.settings import DatasetSpec, Settings, settings_and_spec
from modelops.core import catalog
from modelops.core.jsonsafe import json_safe
from modelops.core.records import XComRecord
from modelops.core.tags import Tag

# The key of task `assess`'s XCom holding the training DAG's conf (the retraining trigger's template reads it).
RETRAIN_CONF_KEY = "retrain_conf"


class NothingToJudge(RuntimeError):
    """No window waits to be judged: the run skips, and the message says why."""


@dataclass(frozen=True)
class WindowVerdict(XComRecord):
    """What was judged and decided for one window: what alerts and people read."""

    dataset: str
    window_id: str
    window_end: datetime
    model_name: str
    model_version: str
    breach: bool
    reasons: tuple[str, ...]
    action: str  # retrain / watch / cooldown / alert / none (see `monitor.decision.decide_action`)
    why: str
    streak: int
    signals: tuple[str, ...]
    retrain_signals: tuple[str, ...]
    dry_run: bool
    report_path: str
    mlflow_run_id: str
    run_id: str | None = None  # the Airflow run that recorded the verdict (set by `record_verdict`)
    alias_drift: str | None = None  # the champion moved outside the DAGs (alias_log.AliasDrift.line): alerts
    environment_drift: str | None = None  # other library versions than the served version's training: alerts


@dataclass(frozen=True)
class WindowOutcome:
    """Task `assess`'s result: the verdict, the monitoring_history row to record, and the retraining conf."""

    verdict: WindowVerdict
    history_row: dict[str, Any]  # `monitor.record.history_row`: JSON-safe but for window_end (a datetime)
    retrain_conf: dict[str, Any]  # the training DAG's conf: dataset, extra_batches, reason

    @property
    def retrains(self) -> bool:
        """Whether the branch triggers retraining (never from a dry run)."""
        return self.verdict.action == "retrain" and not self.verdict.dry_run

    def to_xcom(self) -> dict[str, Any]:
        """One flat dict (what the retraining template and the alerts read): the verdict's keys, plus
        `history_row` and `retrain_conf`."""
        extra = json_safe({"history_row": self.history_row, RETRAIN_CONF_KEY: self.retrain_conf})
        return {**self.verdict.to_xcom(), **extra}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> WindowOutcome:
        """The outcome back from `to_xcom`'s dict."""
        values = dict(data)
        missing = sorted({"history_row", RETRAIN_CONF_KEY} - set(values))
        if missing:
            raise ValueError(f"not a WindowOutcome XCom: missing keys {missing}")
        row, conf = values.pop("history_row"), values.pop(RETRAIN_CONF_KEY)
        row = {**row, "window_end": datetime.fromisoformat(row["window_end"])}
        return cls(WindowVerdict.from_xcom(values), row, conf)


def retrain_conf(spec: DatasetSpec, report: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """What the training DAG is told: why, and the labelled windows to add to the reference data."""
    return {
        "dataset": spec.name,
        "extra_batches": [str(catalog.snapshot_labeled(spec.name, s)) for s in catalog.list_labeled(spec.name)],
        "reason": f"monitoring window {report['window_id']}: {decision['why']}; " + "; ".join(report["reasons"]),
    }


def served_environment(report: dict[str, Any]) -> dict[str, Any]:
    """The served version's training libraries against this process's (`core.environment.compare`)."""
    from modelops.core import environment
    from modelops.store import registry

    name, version = report["model_name"], str(report["model_version"])
    found = registry.model_version(name, version)
    return environment.compare((found.tags or {}).get(Tag.ENVIRONMENT) if found else None, f"{name} v{version}")


def monitor_window(
    spec: DatasetSpec,
    settings: Settings,
    window_id: str,
    overrides: dict[str, Any] | None,
    dry_run: bool,
    window_end: datetime,
    airflow_run_id: str,
    history_rows: list[dict[str, Any]],
) -> WindowOutcome:
    """Measure, decide, write the report and log the MLflow run (with the resolved config); record nothing."""
    from modelops.monitor.assess import assess_window
    from modelops.monitor.decision import decide_action
    from modelops.monitor.record import history_row, summary_metrics
    from modelops.monitor.thresholds import thresholds_for
    from modelops.present import window_page
    from modelops.store import alias_log, artifacts, runs

    thresholds = thresholds_for(settings, overrides, spec)
    # A rerun of this Airflow run (a cleared task) decides as the first try did: its own row is not history.
    history_rows = [r for r in history_rows if r.get("run_id") != airflow_run_id]
    judged = {r["labeled_window"] for r in history_rows if r["labeled_window"] and not r["dry_run"]}
    report, plot = assess_window(spec, settings, window_id, thresholds, judged, dry_run)
    drift = alias_log.alias_drift(spec.model_name)  # a champion moved behind the alias history's back alerts
    report["environment"] = served_environment(report)  # in report.json: the window's record
    env_drift = report["environment"]["alert"]
    decision = decide_action(report, history_rows, thresholds, window_end)
    folder = catalog.report_dir(spec.name, window_id, dry_run)
    html = str(window_page.render_window_report(report, decision, plot, folder))
    run_id = runs.log_monitoring(
        spec.name,
        window_id,
        summary_metrics(report, decision),
        json_safe(report),
        html,
        {
            Tag.ACTION: decision["action"],
            Tag.SIGNALS: ",".join(report["signals"]) or "none",
            Tag.DRY_RUN: str(bool(dry_run)).lower(),
            Tag.AIRFLOW_RUN_ID: airflow_run_id,
            Tag.ALIAS_DRIFT: "none" if drift is None else drift.line(),
            Tag.ENVIRONMENT_DRIFT: (env_drift or "none")[:4000],
        },
    )
    artifacts.log_resolved_config(run_id, settings.resolved(spec.name))
    row = history_row(report, decision, window_end, airflow_run_id, bool(dry_run), html)
    verdict = WindowVerdict(
        dataset=spec.name,
        window_id=window_id,
        window_end=window_end,
        model_name=report["model_name"],
        model_version=str(report["model_version"]),
        breach=bool(report["breach"]),
        reasons=tuple(report["reasons"]),
        action=decision["action"],
        why=decision["why"],
        streak=int(decision["streak"]),
        signals=tuple(decision["signals"]),
        retrain_signals=tuple(decision["retrain_signals"]),
        dry_run=bool(dry_run),
        report_path=html,
        mlflow_run_id=run_id,
        alias_drift=None if drift is None else drift.line(),
        environment_drift=env_drift,
    )
    return WindowOutcome(
        verdict,
        json_safe({**row, "window_end": None}) | {"window_end": window_end},
        json_safe(retrain_conf(spec, report, decision)),
    )


# --- which datasets a run judges ---------------------------------------------------------------


def dataset_schedule(settings: Settings, spec: DatasetSpec) -> str:
    """A dataset's monitoring schedule: its own `datasets.<name>.monitoring.schedule`, else the section's."""
    return spec.monitoring.schedule or settings.monitoring.schedule


def tick_interval(tick: str, start: datetime | None, end: datetime, timezone: str = "UTC") -> tuple[datetime, datetime]:
    """The (start, end] a scheduled run covers, in the DAG's `timezone` (cron lines are read in it, as
    Airflow reads the tick's): its data interval, or (Airflow 3's cron trigger timetable gives an empty
    one) from the tick's fire time before `end` up to `end`."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    end = end.astimezone(zone)
    if start is not None and start < end:
        return start.astimezone(zone), end
    from croniter import croniter

    return croniter(monitoring_cron("monitoring.schedule", tick), end).get_prev(datetime), end


def fires_within(schedule: str, interval: tuple[datetime, datetime]) -> bool:
    """Whether a schedule (cron or preset; "off" never) has a fire time in (start, end]."""
    if schedule == SCHEDULE_OFF:
        return False
    from croniter import croniter

    start, end = interval
    return croniter(monitoring_cron("schedule", schedule), start).get_next(datetime) <= end


def datasets_due(
    settings: Settings,
    dataset: str | None,
    interval: tuple[datetime, datetime] | None,
    has_champion: Callable[[DatasetSpec], bool],
) -> tuple[list[str], list[str]]:
    """(datasets this run judges, why each other configured one is left out).

    A named dataset is judged alone (schedule ignored); otherwise every configured dataset whose
    schedule fires within the scheduled run's `interval` (None: a manual run, every schedule is due).
    A dataset without a champion has nothing served to judge and is left out, saying so.
    """
    if dataset is not None and dataset not in settings.datasets:
        raise ValueError(f"unknown dataset {dataset!r}; configured: {sorted(settings.datasets)}")
    due, left_out = [], []
    for name in [dataset] if dataset is not None else sorted(settings.datasets):
        spec = settings.datasets[name]
        schedule = dataset_schedule(settings, spec)
        if dataset is None and interval is not None and not fires_within(schedule, interval):
            left_out.append(f"{name}: its schedule {schedule!r} does not fire in this run's interval")
        elif not has_champion(spec):
            left_out.append(f"{name}: no champion of {spec.model_name}, nothing served to judge")
        else:
            due.append(name)
    return due, left_out


# --- one function per DAG task ----------------------------------------------------------------


def judge_datasets(
    dataset: str | None, scheduled: bool, start: datetime | None, end: datetime, timezone: str = "UTC", *, tick: str
) -> tuple[list[str], list[str]]:
    """Task `datasets_to_judge`: the datasets due (`datasets_due`) with the champion looked up in the registry.

    `tick` is the DAG's own schedule: a scheduled run covers the time since the tick before it.
    """
    from modelops.config.settings import load_settings
    from modelops.store import registry

    settings = load_settings()
    interval = tick_interval(tick, start, end, timezone) if scheduled else None
    return datasets_due(
        settings,
        dataset or None,
        interval,
        lambda spec: registry.version_by_alias(spec.model_name, registry.CHAMPION) is not None,
    )


def judge_window(
    dataset: str,
    window: str | None,
    overrides: dict[str, Any] | None,
    dry_run: bool,
    window_end: datetime,
    airflow_run_id: str,
) -> WindowOutcome:
    """Task `assess`: the named window, or the next one not judged yet, through `monitor_window`.

    Raises `NothingToJudge` (the task skips) when no window is named and none waits.
    """
    from modelops.monitor.decision import choose_window
    from modelops.store import history

    settings, spec = settings_and_spec(dataset)
    rows = history.read_monitoring_history(spec.name)
    window_id, why = choose_window(spec, window, rows)
    if window_id is None:
        raise NothingToJudge(why)
    return monitor_window(spec, settings, window_id, overrides, dry_run, window_end, airflow_run_id, rows)


def record_verdict(outcome: WindowOutcome, airflow_run_id: str) -> WindowVerdict:
    """Task `record`: append the window's history row (never for a dry run); returns what the notifier reads."""
    from modelops.store import history

    if not outcome.verdict.dry_run:
        history.record_window(dict(outcome.history_row))
    return dataclasses.replace(outcome.verdict, run_id=airflow_run_id)
