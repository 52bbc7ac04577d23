"""The monitoring decision and its plumbing on small hand-made inputs with known answers: each window
judged once, the cooldown, persistence, the labelled veto, alerts (never for a dry run, also on a
failure), the report's category plot data and the history table's added columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from modelops.core import alerts, catalog
from modelops.monitor import signals
from modelops.monitor.decision import choose_window, decide_action
from modelops.present import reports, window_page
from modelops.stats import drift
from modelops.store import history

REPO = Path(__file__).resolve().parents[2]
START = datetime(2028, 9, 1, tzinfo=UTC)
THRESHOLDS = {
    "persistence": 2,
    "cooldown_hours": 24,
    "retrain_on": ["performance", "calibration", "prediction_drift", "estimated_accuracy"],
}


def _report(window_id: str, signals: list[str], labelled: dict | None = None, quality_ok: bool = True) -> dict:
    return {
        "window_id": window_id,
        "signals": signals,
        "breach": bool(signals),
        "quality": {"ok": quality_ok},
        "labelled": labelled,
    }


def _row(window_id: str, hours: float, action: str, signals: list[str] | None, dry_run: bool = False) -> dict:
    return {
        "window_id": window_id,
        "window_end": START + timedelta(hours=hours),
        "action": action,
        "signals": signals,
        "breach": bool(signals),
        "data_quality_ok": True,
        "dry_run": dry_run,
        "run_id": f"run-{window_id}-{hours}",
        "recorded_at": START + timedelta(hours=hours, minutes=5),
    }


def _labelled(
    performance_breach: bool = False, calibration_breach: bool = False, judged: bool = True, window_id: str = "w1"
) -> dict:
    return {
        "window_id": window_id,
        "rows": 3000,
        "judged": judged,
        "primary": "roc_auc",
        "metrics": {"roc_auc": 0.80},
        "reference": 0.79,
        "performance_breach": performance_breach,
        "below_floors": {},
        "calibration_breach": calibration_breach,
    }


def _decide(report: dict, rows: list[dict], hours: float, **overrides) -> dict:
    return decide_action(report, rows, {**THRESHOLDS, **overrides}, START + timedelta(hours=hours))


# --- decide_action ---------------------------------------------------------------------------


def test_the_cooldown_counts_a_retrain_triggered_on_the_same_window():
    rows = [_row("w1", 0, "watch", ["prediction_drift"]), _row("w2", 24, "retrain", ["prediction_drift"])]
    # w2 re-judged two hours after its own retrain: the breach persists, the retrain is recent
    again = _decide(_report("w2", ["prediction_drift"]), rows, 26)
    assert again["action"] == "cooldown" and again["streak"] == 2
    assert (START + timedelta(hours=24)).isoformat() in again["why"]
    # outside the cooldown the persisting breach may retrain again
    assert _decide(_report("w2", ["prediction_drift"]), rows, 49)["action"] == "retrain"


def test_persistence_counts_each_window_once_and_ignores_dry_runs():
    rows = [
        _row("w1", 0, "watch", ["prediction_drift"]),
        _row("w1", 2, "watch", ["prediction_drift"]),  # re-judged on purpose
        _row("w0", 3, "watch", ["prediction_drift"], dry_run=True),
    ]
    decision = _decide(_report("w2", ["prediction_drift"]), rows, 24, persistence=3)
    assert decision["action"] == "watch" and decision["streak"] == 2
    assert "breach 2 of 3" in decision["why"]


def test_a_window_without_a_retrain_signal_breaks_the_streak():
    rows = [_row("w1", 0, "watch", ["prediction_drift"]), _row("w2", 24, "watch", ["data_drift"])]
    assert _decide(_report("w3", ["prediction_drift"]), rows, 48)["streak"] == 1


def test_signals_outside_retrain_on_watch_and_alert():
    decision = _decide(_report("w1", ["data_drift"]), [], 0)
    assert decision["action"] == "watch" and decision["retrain_signals"] == [] and decision["streak"] == 0
    assert "data_drift alone is no evidence the model suffers" in decision["why"]
    assert _decide(_report("w1", ["data_drift"]), [], 0, retrain_on=["data_drift"], persistence=1)["action"] == (
        "retrain"
    )


def test_a_judged_labelled_result_within_tolerance_vetoes_drift_only_retrains():
    rows = [_row("w1", 0, "watch", ["prediction_drift"])]
    vetoed = _decide(_report("w2", ["data_drift", "prediction_drift", "estimated_accuracy"], _labelled()), rows, 24)
    assert vetoed["action"] == "watch" and vetoed["streak"] == 2
    assert "within tolerance" in vetoed["why"]
    assert "vetoes a retrain asked for only by drift signals (prediction_drift, estimated_accuracy)" in vetoed["why"]
    # labels from before the breach began say nothing about the drifted world: no veto
    stale = _report("w2", ["prediction_drift"], _labelled(window_id="w0"))
    assert _decide(stale, rows, 24)["action"] == "retrain"
    # no veto from a result too small to judge, or one that is itself a breach
    assert _decide(_report("w2", ["prediction_drift"], _labelled(judged=False)), rows, 24)["action"] == "retrain"
    worse = _report("w2", ["prediction_drift", "performance"], _labelled(performance_breach=True))
    assert _decide(worse, rows, 24)["action"] == "retrain"
    # calibration moved but is not a retrain signal here: the labelled result is not clean, so no veto
    moved = _report("w2", ["prediction_drift", "calibration"], _labelled(calibration_breach=True))
    assert _decide(moved, rows, 24, retrain_on=["prediction_drift"])["action"] == "retrain"


def test_quality_breaks_and_invalid_scores_alert_only():
    rows = [_row("w1", 0, "watch", ["prediction_drift"])]
    broken = _decide(_report("w2", ["data_quality"], quality_ok=False), rows, 24)
    assert broken["action"] == "alert"
    nan = _decide(_report("w2", ["invalid_scores", "prediction_drift"]), rows, 24)
    assert nan["action"] == "alert" and "NaN/inf" in nan["why"]
    assert _decide(_report("w2", []), rows, 24)["action"] == "none"


# --- choose_window ---------------------------------------------------------------------------


def _windows(spec, names: list[str], alias: str = "champion") -> None:
    """Snapshots delivered and scored (a committed scoring manifest: what makes a snapshot a window)."""
    for name in names:
        path = catalog.snapshot_inputs(spec.name, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        catalog.write_json(catalog.scoring_manifest(spec.name, name), {"snapshot": name, "alias": alias})


def test_a_run_without_a_window_judges_each_window_once_in_order(workspace, settings):
    spec = settings.dataset("voter_turnout")
    assert choose_window(spec, None, []) == (None, "no scored production windows for voter_turnout yet")
    _windows(spec, ["2028-09-30"], alias="challenger")  # scored by another alias: no production window
    assert choose_window(spec, None, []) == (
        None,
        "no scored production windows for voter_turnout yet (1 snapshots have inputs: the scoring DAG scores them)",
    )
    _windows(spec, ["2028-10-01", "2028-10-02"])
    # two windows arrived between runs: both are judged, the older first
    assert choose_window(spec, None, []) == ("2028-10-01", "")
    assert choose_window(spec, None, [_row("2028-10-01", 0, "none", [])]) == ("2028-10-02", "")
    # a dry run records nothing, so it does not count as judged
    assert choose_window(spec, None, [_row("2028-10-01", 0, "watch", [], dry_run=True)])[0] == "2028-10-01"
    judged = [_row("2028-10-01", 0, "none", []), _row("2028-10-02", 24, "watch", ["data_drift"])]
    window, why = choose_window(spec, None, judged)
    assert window is None
    assert "window 2028-10-02 of voter_turnout was already judged at 2028-09-02T00:05:00+00:00" in why
    assert "action watch" in why and "window='2028-10-02'" in why
    # naming a window re-judges it on purpose
    assert choose_window(spec, "2028-10-02", judged) == ("2028-10-02", "")
    _windows(spec, ["2028-10-03"])  # a new window arrived: the next run judges it
    assert choose_window(spec, None, judged) == ("2028-10-03", "")


# --- alerts and notifiers --------------------------------------------------------------------


def _outcome(**changes) -> dict:
    return {
        "dataset": "voter_turnout",
        "window_id": "w1",
        "model_name": "voter_turnout_model",
        "model_version": "1",
        "action": "watch",
        "why": "data_drift alone",
        "reasons": ["data drift: 40% of features drifted"],
        "breach": True,
        "dry_run": False,
    } | changes


def test_dry_runs_never_alert():
    assert alerts.should_alert(_outcome())
    assert not alerts.should_alert(_outcome(dry_run=True))
    assert not alerts.should_alert(_outcome(breach=False))
    assert not alerts.should_alert(None)


class _TI:
    """A mapped instance of the judge group (map index 1, labelled with its dataset)."""

    def __init__(self, task_id: str, xcom: dict | None = None):
        self.dag_id, self.task_id, self._xcom = "modelops_monitoring", f"judge.{task_id}", xcom
        self.map_index, self.rendered_map_index = 1, "voter_turnout"

    def xcom_pull(self, task_ids: str, map_indexes: int) -> dict | None:
        assert task_ids == self.task_id and map_indexes == self.map_index  # this dataset's, not every dataset's
        return self._xcom


@pytest.fixture
def notifiers(monkeypatch):
    """The DAGs' notifiers, with delivery captured instead of logged and posted."""
    from modelops_airflow import notifiers

    sent: list[dict] = []
    monkeypatch.setattr(notifiers.AlertNotifier, "deliver", lambda self, alert: sent.append(alert))
    return notifiers, sent


def test_breach_notifier_skips_dry_runs(notifiers):
    module, sent = notifiers
    module.BreachNotifier().notify({"ti": _TI("record", _outcome(dry_run=True))})
    assert sent == []
    module.BreachNotifier().notify({"ti": _TI("record", _outcome())})
    assert [a["kind"] for a in sent] == ["modelops.monitoring.breach"]


def test_failure_notifier_sends_the_error(notifiers):
    module, sent = notifiers
    context = {
        "ti": _TI("assess"),
        "run_id": "manual__1",
        "params": {"dataset": "voter_turnout", "window": "2028-10-09"},
        "exception": FileNotFoundError("no production inputs for window '2028-10-09'"),
    }
    module.FailureNotifier().notify(context)
    (alert,) = sent
    assert alert["kind"] == "modelops.monitoring.failure" and alert["severity"] == "critical"
    assert alert["error"] == "FileNotFoundError: no production inputs for window '2028-10-09'"
    assert alert["task"] == "modelops_monitoring.judge.assess" and alert["window_id"] == "2028-10-09"
    assert alert["dataset"] == "voter_turnout" and alert["airflow_run_id"] == "manual__1"
    # a run that named no dataset (every dataset due): the mapped instance's label names it
    module.FailureNotifier().notify({**context, "params": {"dataset": None, "window": None}})
    assert sent[-1]["dataset"] == "voter_turnout"


# --- report plot data ------------------------------------------------------------------------


def test_category_shares_show_the_top_levels_and_pool_the_rest():
    rng = np.random.default_rng(5)
    levels = [f"level_{i:02d}" for i in range(30)]
    weights = np.linspace(30, 1, 30) / np.linspace(30, 1, 30).sum()
    profile = drift.profile_categorical(pd.Series(rng.choice(levels, 5_000, p=weights)))
    table = reports.category_shares(profile, pd.Series(rng.choice(levels, 5_000, p=weights)))
    assert len(table) == reports.TOP_LEVELS + 1
    assert table.index[-1] == "other (18 levels)"
    assert table.index[0] == "level_00"
    assert table["reference"].sum() == pytest.approx(1.0) and table["current"].sum() == pytest.approx(1.0)
    # levels are matched by value, as the drift test matches them
    codes = reports.category_shares(drift.profile_categorical(pd.Series([1, 2, 2])), pd.Series([1.0, 2.0, np.nan]))
    assert list(codes.index) == ["2", "1", drift.MISSING]


def test_bar_plot_renders_many_levels():
    import matplotlib

    matplotlib.use("Agg")
    levels = pd.Series([f"a rather long category name {i}" for i in range(40)] * 5)
    png = reports.bar_plot("many", reports.category_shares(drift.profile_categorical(levels), levels))
    assert len(png) > 1000


def test_every_signal_and_retrain_option_is_described_in_the_policy():
    """docs/monitoring.md is the one description of the policy: it names every signal the code can raise."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    assert [s for s in (*signals.names(), signals.DEGENERATE) if f"`{s}`" not in text] == []


# --- history table ---------------------------------------------------------------------------


def test_history_gains_the_new_columns_on_an_existing_table(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in history.monitoring_history.columns
        if c.name not in {"signals", "why"}
    ]
    sa.Table("monitoring_history", old, *columns)
    engine = sa.create_engine(url)
    old.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("MODELOPS_DB_URL", url)
    names = {c["name"] for c in sa.inspect(history.get_engine()).get_columns("monitoring_history")}
    assert {"signals", "why"} <= names
    row = {
        "dataset": "d",
        "window_id": "w1",
        "window_end": START,
        "model_name": "m",
        "model_version": "1",
        "rows": 1,
        "data_quality_ok": True,
        "drift_share": 0.0,
        "drifted_columns": [],
        "prediction_drift": False,
        "breach": False,
        "reasons": [],
        "action": "none",
        "dry_run": False,
    }
    history.record_window(row)
    history.record_window(row | {"window_id": "w2", "signals": ["performance"], "why": "labels say so"})
    stored = history.read_monitoring_history("d")
    assert [(r["signals"], r["why"]) for r in stored] == [(None, None), (["performance"], "labels say so")]


def test_a_daily_run_24_hours_after_a_retrain_is_still_in_the_cooldown():
    rows = [_row("w1", 0, "watch", ["prediction_drift"]), _row("w2", 24, "retrain", ["prediction_drift"])]
    assert _decide(_report("w3", ["prediction_drift"]), rows, 48, persistence=1)["action"] == "cooldown"


def test_the_streak_restarts_after_a_retrain_and_with_another_model():
    rows = [_row("w1", 0, "watch", ["prediction_drift"]), _row("w2", 24, "retrain", ["prediction_drift"])]
    assert _decide(_report("w3", ["prediction_drift"]), rows, 96)["streak"] == 1
    other = [_row("w1", 0, "watch", ["prediction_drift"]) | {"model_version": "7"}]
    assert _decide(_report("w2", ["prediction_drift"]) | {"model_version": "8"}, other, 24)["streak"] == 1


def test_an_empty_retrain_on_means_never_retrain():
    decision = _decide(_report("w1", ["prediction_drift", "performance"]), [], 0, retrain_on=[], persistence=1)
    assert decision["action"] == "watch" and decision["retrain_signals"] == []


# --- the champion's maximum age (the upper bound) ----------------------------------------------


def _tenure(days_before_start: float, source: str = "alias history", version: str = "3") -> dict:
    since = START - timedelta(days=days_before_start)
    note = "" if source == "alias history" else "no record of when this version became champion"
    return {"version": version, "since": since.isoformat(timespec="seconds"), "source": source, "note": note}


def _aged(window_id: str, signals: list[str], days: float, **changes) -> dict:
    return _report(window_id, signals, **changes) | {"champion_tenure": _tenure(days)}


def test_an_old_champion_is_retrained_without_a_breach_and_the_reason_says_why():
    decision = _decide(_aged("w1", [], 97), [], 0, max_champion_age_days=90)
    assert decision["action"] == "retrain" and decision["retrain_signals"] == []
    assert decision["why"].startswith("champion v3 has served 97 days (> 90 allowed): the age bound retrains")
    assert decision["champion_age"]["exceeded"] and decision["champion_age"]["days"] == pytest.approx(97)
    # the same champion, younger than the bound (or no bound configured): nothing happens
    young = _decide(_aged("w1", [], 30), [], 0, max_champion_age_days=90)
    assert young["action"] == "none" and young["why"] == "no threshold breached"
    assert young["champion_age"]["why"] == "champion v3 has served 30 of 90 days allowed"
    assert _decide(_aged("w1", [], 970), [], 0)["champion_age"] is None  # default: no bound
    # measured at the window's end: the bound is crossed between two windows
    assert _decide(_aged("w1", [], 89.5), [], 0, max_champion_age_days=90)["action"] == "none"
    assert _decide(_aged("w1", [], 89.5), [], 13, max_champion_age_days=90)["action"] == "retrain"


def test_the_age_bound_never_retrains_inside_the_cooldown():
    rows = [_row("w1", 0, "retrain", ["prediction_drift"])]
    held = _decide(_aged("w2", [], 97), rows, 20, max_champion_age_days=90)
    assert held["action"] == "cooldown"
    assert held["why"] == (
        f"champion v3 has served 98 days (> 90 allowed), but a retrain was triggered at {START.isoformat()}: "
        "the age bound never retrains inside the cooldown"
    )
    # once the cooldown is over, it retrains
    assert _decide(_aged("w2", [], 97), rows, 25, max_champion_age_days=90)["action"] == "retrain"


def test_the_age_bound_passes_a_veto_and_an_unfinished_streak_but_not_broken_data():
    labelled = _labelled(window_id="w1")
    vetoed = _decide(_aged("w1", ["prediction_drift"], 120, labelled=labelled), [], 0, max_champion_age_days=90)
    assert vetoed["action"] == "retrain"
    assert "the age bound retrains even without a breach (otherwise: watch, labelled performance" in vetoed["why"]
    streak = _decide(_aged("w1", ["data_drift"], 120), [], 0, max_champion_age_days=90)
    assert streak["action"] == "retrain" and "data_drift alone is no evidence" in streak["why"]
    broken = _decide(_aged("w1", ["data_quality"], 120, quality_ok=False), [], 0, max_champion_age_days=90)
    assert broken["action"] == "alert" and broken["why"].endswith("but the age bound waits for clean data")
    # a persisting breach retrains anyway: the age is said besides
    rows = [_row("w0", -24, "watch", ["prediction_drift"])]
    both = _decide(_aged("w1", ["prediction_drift"], 120), rows, 0, max_champion_age_days=90)
    assert both["action"] == "retrain" and both["why"].endswith(
        "champion v3 has served 120 days (> 90 allowed) besides"
    )


def test_a_champion_age_without_alias_history_says_where_it_was_measured_from():
    report = _report("w1", []) | {"champion_tenure": _tenure(200, source="version creation time")}
    decision = _decide(report, [], 0, max_champion_age_days=90)
    assert decision["action"] == "retrain"
    assert (
        "(measured from its version creation time: no record of when this version became champion)" in (decision["why"])
    )


def test_an_age_retrain_alerts_even_without_a_breach_but_never_from_a_dry_run():
    assert alerts.should_alert(_outcome(breach=False, action="retrain"))
    assert not alerts.should_alert(_outcome(breach=False, action="retrain", dry_run=True))
    assert not alerts.should_alert(_outcome(breach=False, action="cooldown"))


def test_multivariate_drift_watches_and_alerts_unless_retrain_on_lists_it():
    decision = _decide(_report("w1", ["multivariate_drift"]), [], 0, persistence=1)
    assert decision["action"] == "watch" and "multivariate_drift alone is no evidence" in decision["why"]
    listed = _decide(_report("w1", ["multivariate_drift"]), [], 0, persistence=1, retrain_on=["multivariate_drift"])
    assert listed["action"] == "retrain" and listed["retrain_signals"] == ["multivariate_drift"]
    # it is a drift signal: labels judged within tolerance veto a retrain it alone asks for
    vetoed = _report("w1", ["multivariate_drift"], _labelled(window_id="w1"))
    assert _decide(vetoed, [], 0, persistence=1, retrain_on=["multivariate_drift"])["action"] == "watch"


def test_the_report_of_a_window_the_fallback_served_whole_says_so(tmp_path):
    """The report's first line and its served section carry the rows truth, never "served by v1"."""
    served = {
        "manifest": "scoring/voter_turnout/s-001/manifest.json",
        "scored_at": "2028-10-01T12:00:00+00:00",
        "alias": "champion",
        "served_version": "1",
        "challenger_version": None,
        "shadow": False,
        "sources": {"model": 0, "canary": 0, "fallback": 4000},
        "fallback_share": 1.0,
        "fallback_reasons": {"missing:q1": 3000, "missing:q2": 1000},
        "fallback_limit": 0.05,
        "fallback_breach": True,
        "withheld_rows": 0,
        "alerts": [],
    }
    report = {
        "dataset": "voter_turnout",
        "window_id": "s-001",
        "rows": 4000,
        "model_name": "voter_turnout_model",
        "model_version": "1",
        "thresholds": {},
        "served": served,
        "canary": None,
        "data_drift": None,
        "labelled": None,
        "labelled_status": "no labelled window",
        "signals": ["fallback"],
        "reasons": ["fallback: 4000 of 4000 rows (100.0%) were served by the rule-based baseline, above 5.0%"],
    }
    plot = {"profile": {"numeric": {}, "categorical": {}}, "frame": pd.DataFrame({"age": [30.0]}), "scores": None}
    path = window_page.render_window_report(report, {"action": "alert", "why": "fallback"}, plot, tmp_path)
    page = path.read_text()
    truth = "the rule-based fallback served all 4,000 rows (missing:q1 3,000, missing:q2 1,000); v1 scored none"
    assert page.count(truth) == 2  # the first line and the served section
    assert "Served by voter_turnout_model v1" not in page and "by v1" not in page
    assert "Judged: voter_turnout_model v1's own scores" in page
