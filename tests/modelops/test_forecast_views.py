"""Forecasts and score decay where people read them: the Model monitor's dataset page and the model card.

Hand-written forecast.json files in a fresh workspace (what `forecast_flow` publishes), hand-built
monitoring history rows and a hand-built card record: the records carry the known values, the links
point at files the monitor serves, the page escapes what it shows, and with nothing yet each place says
so in a sentence (no empty table). Fast: nothing is trained.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelops.core import catalog
from modelops.forecast.backtest import Backtest, QuantityErrors
from modelops.forecast.intervals import IntervalMethod
from modelops.forecast.published import PublishedForecastError, published_runs, read_published
from modelops.forecast.scored import ScoredOutput
from modelops.govern.card_doc import Doc
from modelops.govern.card_forecast import CardHistory, history_plots, served_sections
from modelops.monitor.served_decay import Holdout, Start, served_decay, version_start
from modelops.ui import datasets_overview, monitor_page
from modelops.ui.approvals_view import ApprovalList
from modelops.ui.dataset_view import DatasetView
from modelops.ui.forecasts_view import NO_MODEL_INTERVAL, card_holdout, decay_view, forecasts_view

FORECAST = "voter_forecast"  # bundled: turnout voter_turnout x support voter_support
TURNOUT_MODEL, SUPPORT_MODEL = "voter_turnout_model", "voter_support_model"


def _scored(dataset: str, model: str, version: str) -> dict:
    return ScoredOutput(dataset, "2028-10", model, version, "run1", "forecast", 1000, 0.0, (), ()).to_xcom()


def _backtest(cycle: int, t_mae: float, s_mae: float, coverage: float | None) -> dict:
    errors = (QuantityErrors("turnout", t_mae, -0.5, coverage), QuantityErrors("dem_share", s_mae, 1.25, coverage))
    return Backtest(cycle, 12, errors, ()).to_xcom()


def write_forecast(
    snapshot: str,
    cycle: int | None,
    *,
    turnout: tuple[str, str] = (TURNOUT_MODEL, "3"),
    support: tuple[str, str] = (SUPPORT_MODEL, "2"),
    intervals: bool = True,
    backtest: dict | None = None,
    calibrated: dict | None = None,
) -> Path:
    """A forecast.json and report.html as a forecast run publishes them (the keys `ForecastOutcome` writes)."""
    folder = catalog.forecast_dir(FORECAST, snapshot)
    method = IntervalMethod(0.9, "backtest", 2024, 12, 0, 0.031, 0.024, 1.645).to_xcom() if intervals else None
    record = {
        "forecast": FORECAST,
        "snapshot": snapshot,
        "cycle": cycle,
        "use": "forecast",
        "geography": "county",
        "turnout": _scored("voter_turnout", *turnout),
        "support": _scored("voter_support", *support),
        "rows": 9876,
        "rows_excluded": 4,
        "rows_missing_geography": 0,
        "geographies": 12,
        "intervals": method,
        "interval_note": "" if intervals else "no model interval: no earlier backtest",
        "backtest": backtest,
        "calibration": None
        if calibrated is None
        else {"from_snapshot": "x", "from_cycle": 2024, "backtest": calibrated},
        "pooling": [],
        "folder": str(folder),
        "report_path": str(folder / catalog.REPORT_HTML),
        "residuals": None,
    }
    catalog.write_json(folder / catalog.FORECAST_JSON, record)
    catalog.write_text(folder / catalog.REPORT_HTML, "<html>forecast</html>")
    return folder


# --- the published records ---------------------------------------------------------------------------------


def test_a_published_run_reads_back_with_its_figures(workspace):
    write_forecast("2028-10", 2028, backtest=_backtest(2028, 2.5, 3.75, 0.9), calibrated=_backtest(2028, 1.5, 2.0, 0.8))
    run = read_published(FORECAST, "2028-10")
    assert (run.cycle, run.rows, run.geographies) == (2028, 9876, 12)
    assert run.backtest.of("turnout").mae_points == 2.5 and run.calibrated.of("dem_share").mae_points == 2.0
    assert run.intervals.level == 0.9 and run.served_by(TURNOUT_MODEL, "3") == ["turnout"]
    assert run.served_by(TURNOUT_MODEL, "2") == [] and run.served_by(SUPPORT_MODEL, "2") == ["support"]


def test_a_forecast_file_without_its_keys_is_named_and_does_not_hide_the_others(workspace):
    write_forecast("2028-10", 2028)
    bad = catalog.forecast_dir(FORECAST, "2028-11")
    catalog.write_json(bad / catalog.FORECAST_JSON, {"forecast": FORECAST, "snapshot": "2028-11"})
    with pytest.raises(PublishedForecastError, match=r"2028-11/forecast\.json: missing key\(s\) \['cycle'"):
        read_published(FORECAST, "2028-11")
    runs = published_runs([FORECAST])
    assert isinstance(runs[0], PublishedForecastError) and runs[1].snapshot == "2028-10"  # newest first


# --- the Model monitor -------------------------------------------------------------------------------------


def test_the_monitor_lists_each_run_with_its_backtest_and_links(workspace, settings):
    write_forecast("2028-06", None, intervals=False)
    write_forecast("2028-10", 2028, backtest=_backtest(2028, 2.5, 3.75, 0.9), calibrated=_backtest(2028, 1.5, 2.0, 0.8))
    view = forecasts_view(settings, "voter_support")
    assert view.forecasts == [FORECAST] and view.unreadable == []
    newest, oldest = view.runs
    assert (newest.snapshot, newest.cycle, newest.rows, newest.geographies) == ("2028-10", 2028, 9876, 12)
    assert (newest.turnout_model, newest.support_model) == (f"{TURNOUT_MODEL} v3", f"{SUPPORT_MODEL} v2")
    assert newest.interval == "90% split conformal, 12 backtest residuals of cycle 2024"
    assert [(e.quantity, e.mae_points, e.bias_points, e.coverage) for e in newest.backtest] == [
        ("turnout", 2.5, -0.5, 0.9),
        ("dem_share", 3.75, 1.25, 0.9),
    ]
    assert [e.mae_points for e in newest.calibrated] == [1.5, 2.0]
    hrefs = [link.href for link in newest.links]
    assert hrefs == [
        f"files/forecasts/{FORECAST}/2028-10/report.html",
        f"files/forecasts/{FORECAST}/2028-10/forecast.json",
    ]
    assert (
        catalog.resolve_served(hrefs[0].removeprefix("files/"))
        == (workspace / hrefs[0].removeprefix("files/")).resolve()
    )
    assert oldest.interval == NO_MODEL_INTERVAL and oldest.backtest == [] and oldest.cycle is None

    html = _page(forecasts=view)
    rows = re.findall(r'<tr data-forecast="voter_forecast" data-snapshot="([^"]+)" data-cycle="([^"]*)" '
                      r'data-backtested="(\w+)">(.*?)</tr>', html)  # fmt: skip
    assert [(s, c, b) for s, c, b, _ in rows] == [("2028-10", "2028", "true"), ("2028-06", "", "false")]
    assert "<td>2.50 / -0.50 / 90.0%</td><td>3.75 / +1.25 / 90.0%</td><td>1.50 / -0.50 / 80.0%</td>" in rows[0][3]
    assert f'href="files/forecasts/{FORECAST}/2028-10/report.html"' in rows[0][3]
    assert "<td>no model interval</td><td>not backtested</td>" in rows[1][3]


def test_the_monitor_escapes_what_a_forecast_file_says(workspace, settings):
    write_forecast("2028-10", 2028, turnout=("<script>alert(1)</script>", "3"))
    html = _page(forecasts=forecasts_view(settings, "voter_turnout"))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; v3" in html


def test_the_monitor_says_when_there_is_no_forecast(workspace, settings):
    none_yet = forecasts_view(settings, "voter_turnout")
    assert none_yet.forecasts == [FORECAST] and none_yet.runs == []
    html = _page(forecasts=none_yet)
    assert 'id="forecasts"' in html and f"No run of {FORECAST} was published yet." in html
    unrelated = forecasts_view(settings, "some_other_dataset")
    assert unrelated.forecasts == [] and unrelated.runs == []
    html = _page(forecasts=unrelated)
    assert 'id="no-forecasts"' in html and 'id="forecasts"' not in html


# --- score decay -------------------------------------------------------------------------------------------

START = datetime(2028, 1, 1, tzinfo=UTC)
THRESHOLDS = {"max_champion_age_days": 487, "max_relative_drop": 0.05}


def _row(window: str, end: datetime, version: str, labelled: str | None = None, auc: float | None = None, **kw):
    metrics = {"roc_auc": auc, "accuracy": 0.7} if labelled else None
    return {"window_id": window, "window_end": end, "model_name": TURNOUT_MODEL, "model_version": version,
            "labeled_window": labelled, "labeled_metrics": metrics, "dry_run": False, **kw}  # fmt: skip


def history_rows() -> list[dict]:
    """w1 and w2 served by v1 (labelled later: 0.78 at 30 days, 0.72 at 60), w3 by v2, a dry run, a lost window."""
    return [
        _row("w1", datetime(2028, 1, 31), "1"),
        _row("w2", datetime(2028, 3, 1), "1", "w1", 0.78),
        _row("w3", datetime(2028, 4, 30), "2", "w2", 0.72),
        _row("w4", datetime(2028, 5, 30), "2", "w3", 0.90),
        _row("w5", datetime(2028, 6, 30), "2", "w4", 0.10, dry_run=True),
        _row("w6", datetime(2028, 7, 30), "2", "w0", 0.50),  # w0 was never recorded: cannot be attributed
    ]


def test_decay_counts_each_labelled_window_for_the_version_that_served_it():
    decay = served_decay(
        history_rows(),
        TURNOUT_MODEL,
        "1",
        "roc_auc",
        Holdout(0.80, 0.78, 0.82),
        Start(START, "alias history"),
        THRESHOLDS,
    )
    assert [(p.label, round(p.age_days, 6), p.value) for p in decay.points] == [
        ("holdout", 0.0, 0.80),
        ("w1", 30.0, 0.78),
        ("w2", 60.0, 0.72),
    ]
    assert decay.holdout.ci_low == 0.78 and decay.windows[0].ci_low is None  # windows record no interval
    assert [round(p.relative_drop, 6) for p in decay.windows] == [0.025, 0.1]
    assert decay.unattributed == 1 and decay.max_age_days == 487
    assert decay.age_at_tolerance == pytest.approx(40.0)  # 0.05 between 0.025 (30 days) and 0.1 (60 days)
    other = served_decay(history_rows(), TURNOUT_MODEL, "2", "roc_auc", Holdout(0.85), Start(START, "x"), THRESHOLDS)
    assert [p.label for p in other.windows] == ["w3"]  # w4's labels (dry run) do not count


def test_a_loss_decays_upwards():
    rows = [_row("w1", datetime(2028, 1, 11), "1"), _row("w2", datetime(2028, 2, 1), "1", "w1")]
    rows[1]["labeled_metrics"] = {"log_loss": 0.6}
    decay = served_decay(rows, TURNOUT_MODEL, "1", "log_loss", Holdout(0.5), Start(START, "x"), THRESHOLDS)
    assert decay.windows[0].age_days == 10.0 and decay.windows[0].relative_drop == pytest.approx(0.2)


def test_the_start_is_when_the_version_first_became_champion(workspace):
    from modelops.store import history

    with history.get_engine().begin() as connection:
        for version, previous in (("1", None), ("2", "1"), ("1", "2")):
            history.alias_change(connection, TURNOUT_MODEL, "champion", version, previous, "test", "why", None)
    first = history.read_alias_history(TURNOUT_MODEL)[0]["changed_at"]
    assert version_start(TURNOUT_MODEL, "1") == Start(first, "alias history")


def test_the_monitor_shows_the_champions_decay_and_its_bound():
    decay = served_decay(
        history_rows(), TURNOUT_MODEL, "1", "roc_auc", Holdout(0.8), Start(START, "alias history"), THRESHOLDS
    )
    html = _page(decay=decay_view(decay))
    rows = re.findall(r'<tr data-label="(\w+)" data-age="([\d.]+)" data-value="([\d.]*)">', html)
    assert rows == [("holdout", "0.00", "0.800000"), ("w1", "30.00", "0.780000"), ("w2", "60.00", "0.720000")]
    assert "<td>+10.0%</td>" in html and 'data-value="487.0">487 days' in html
    assert "reaches the monitoring tolerance (5" in html and "about 40 days" in html
    assert "1 labelled window(s) left out" in html
    alone = served_decay([], TURNOUT_MODEL, "1", "roc_auc", Holdout(0.8), Start(START, "registration"), {})
    html = _page(decay=decay_view(alone))
    assert "No labelled monitoring window of v1 yet." in html and "No champion age bound is configured." in html
    assert 'id="no-decay"' in _page(decay=None)


def test_the_monitor_takes_the_holdout_interval_from_the_card(workspace):
    assert card_holdout("voter_turnout", TURNOUT_MODEL, "1", "roc_auc", 0.8) == Holdout(0.8)
    card = catalog.card_dir("voter_turnout", TURNOUT_MODEL, "1") / catalog.CARD_JSON
    catalog.write_json(card, {"metrics": {"roc_auc": {"value": 0.8, "ci_low": 0.77, "ci_high": 0.83}}})
    assert card_holdout("voter_turnout", TURNOUT_MODEL, "1", "roc_auc", 0.8) == Holdout(0.8, 0.77, 0.83)


# --- the model card ----------------------------------------------------------------------------------------


def _card(h: CardHistory) -> tuple[str, list]:
    doc = Doc()
    served_sections(doc, h)
    return doc.markdown(), doc.blocks


def test_the_card_lists_the_forecasts_of_its_version_with_their_backtests(workspace):
    write_forecast("2028-10", 2028, backtest=_backtest(2028, 2.5, 3.75, 0.9), calibrated=_backtest(2028, 1.5, 2.0, 0.8))
    runs = tuple(r for r in published_runs([FORECAST]) if r.served_by(TURNOUT_MODEL, "3"))
    history = CardHistory(TURNOUT_MODEL, "3", (FORECAST,), runs, (), None)
    text, blocks = _card(history)
    tables = [b for b in blocks if b.kind == "table"]
    assert tables[0].rows == [
        [FORECAST, "2028-10", 2028, "turnout", f"{SUPPORT_MODEL} v2", 9876, 12,
         "90% split conformal from 12 backtest residuals of cycle 2024: half-width turnout 3.10, share 2.40 points"],
    ]  # fmt: skip
    assert tables[1].rows == [
        [FORECAST, "2028-10", 2028, "plain", "turnout", "2.50", "-0.50", "90% (nominal 90%)"],
        [FORECAST, "2028-10", 2028, "plain", "dem_share", "3.75", "+1.25", "90% (nominal 90%)"],
        [FORECAST, "2028-10", 2028, "calibrated", "turnout", "1.50", "-0.50", "80% (nominal 90%)"],
        [FORECAST, "2028-10", 2028, "calibrated", "dem_share", "2.00", "+1.25", "80% (nominal 90%)"],
    ]
    assert "## Forecast and backtest" in text and "No labelled" not in text
    assert history.to_json()["forecasts"][0]["served_as"] == ["turnout"]


def test_the_card_says_plainly_when_there_is_nothing_yet():
    text, blocks = _card(CardHistory(TURNOUT_MODEL, "3", (FORECAST,), (), (), None))
    assert "No published forecast used this version's scores yet (forecasts: voter_forecast)." in text
    assert "No score decay can be shown" in text and not [b for b in blocks if b.kind == "table"]
    decay = served_decay(
        [], TURNOUT_MODEL, "3", "roc_auc", Holdout(0.8, 0.78, 0.82), Start(START, "registration"), THRESHOLDS
    )
    text, blocks = _card(CardHistory(TURNOUT_MODEL, "3", (), (), (), decay))
    assert "forecasts: none is configured" in text
    assert (
        "No labelled monitoring window of this version yet: only the holdout is known "
        "(roc_auc 0.800, CI 0.780 to 0.820)" in text
    )
    assert "Champion age bound (monitoring.max_champion_age_days): 487 days" in text
    assert (
        not [b for b in blocks if b.kind in ("table", "img")]
        and history_plots(CardHistory("m", "3", (), (), (), decay)) == {}
    )


def test_the_card_draws_the_decay_by_age_with_the_bound():
    decay = served_decay(
        history_rows(),
        TURNOUT_MODEL,
        "1",
        "roc_auc",
        Holdout(0.80, 0.78, 0.82),
        Start(START, "alias history"),
        THRESHOLDS,
    )
    history = CardHistory(TURNOUT_MODEL, "1", (), (), (), decay)
    text, blocks = _card(history)
    table = next(b for b in blocks if b.kind == "table")
    assert table.rows == [
        ["holdout", "0", 0.80, 0.78, 0.82, "+0.0%"],
        ["w1", "30", 0.78, None, None, "+2.5%"],
        ["w2", "60", 0.72, None, None, "+10.0%"],
    ]
    assert "2028-01-01 (from the alias history)" in text
    assert "reaches the monitoring tolerance (5%) at about 40 days" in text and "1 labelled window(s) left out" in text
    assert set(history_plots(history)) == {"decay.png"} and any(b.kind == "img" for b in blocks)
    assert history.to_json()["decay"]["windows"][1]["label"] == "w2"


def _page(**fields) -> str:
    base = {
        "dataset": "voter_turnout",
        "model_name": TURNOUT_MODEL,
        "generated_at": START,
        "serving_now": "serving",
        "champion": None,
        "challenger": None,
        "alias_history": [],
        "served": [],
        "recent_fallback_share": None,
        "trends": [],
        "verdicts": [],
        "mlflow_ui": None,
    }
    view = DatasetView(**(base | fields))
    approvals = ApprovalList(approvals=[], required_actions_path="required_actions")
    return monitor_page.render(view, datasets_overview.DatasetList(datasets=[]), approvals, "/")
