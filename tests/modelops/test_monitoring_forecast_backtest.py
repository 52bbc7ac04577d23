"""A poor forecast backtest is a monitoring signal like the others: hand-written forecast.json files in a tmp
workspace, the version under judgement served v3, and the signal breaches, stays within its limits, is not
measured, alerts, and retrains only when `retrain_on` lists it. Known answers, real code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelops.collect import windows
from modelops.config.checks import ConfigError
from modelops.config.models import BacktestLimits
from modelops.config.settings import load_settings
from modelops.core import catalog
from modelops.monitor import signals
from modelops.monitor.assess import measure_signals
from modelops.monitor.decision import decide_action
from modelops.monitor.evidence import degenerate_window, served_summary
from modelops.monitor.record import summary_metrics
from modelops.monitor.thresholds import thresholds_for
from modelops.stats import drift

FORECAST = "voter_forecast"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "ws"))
    return tmp_path / "ws"


def _settings(limits: BacktestLimits | None):
    settings = load_settings()
    forecast = settings.forecasts[FORECAST].model_copy(update={"backtest_limits": limits})
    return dataclasses.replace(settings, forecasts={FORECAST: forecast})


def _served(dataset: str, model: str, version: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "snapshot": "s",
        "model_name": model,
        "model_version": version,
        "model_run_id": None,
        "permitted_use": "forecast",
        "rows": 10,
        "fallback_share": 0.0,
        "parts": [],
        "input_files": [],
    }


def _publish(snapshot: str, turnout_version: str, support_version: str, backtest: dict | None) -> None:
    """A forecast.json as forecast_flow writes it (the keys every reader of a published run requires)."""
    settings = load_settings()
    t, s = settings.dataset("voter_turnout"), settings.dataset("voter_support")
    record = {
        "forecast": FORECAST,
        "snapshot": snapshot,
        "cycle": backtest["cycle"] if backtest else None,
        "turnout": _served(t.name, t.model_name, turnout_version),
        "support": _served(s.name, s.model_name, support_version),
        "use": "forecast",
        "rows": 1200,
        "geographies": 12,
        "intervals": None,
        "interval_note": "no model interval",
        "backtest": backtest,
    }
    catalog.write_json(catalog.forecast_dir(FORECAST, snapshot) / catalog.FORECAST_JSON, record)


def _backtest(cycle: int, turnout_mae: float, share_mae: float, coverage: float | None) -> dict[str, Any]:
    errors = [
        {"quantity": "turnout", "mae_points": turnout_mae, "bias_points": 0.5, "coverage": coverage},
        {"quantity": "dem_share", "mae_points": share_mae, "bias_points": -0.2, "coverage": coverage},
    ]
    return {"cycle": cycle, "geographies": 12, "errors": errors, "worst": []}


def _measure(settings, dataset: str, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every registered signal on a quiet window of `dataset` served by `version`; (report, thresholds)."""
    rng = np.random.default_rng(3)
    rows = 300
    inputs = pd.DataFrame({"age": rng.integers(18, 90, rows).astype(float), "party": rng.choice(["D", "R"], rows)})
    scores = rng.uniform(0.05, 0.95, rows)
    predictions = pd.DataFrame(
        {
            "row": np.arange(rows),
            "id": np.arange(rows).astype(str),
            "score": scores,
            "source": "model",
            "reason": "",
            "model_version": version,
            "champion_score": scores,
            "challenger_score": np.nan,
        }
    )
    window = windows.ScoredWindow("w-001", {"dataset": dataset, "model_version": version}, inputs, predictions)
    profile = drift.build_profile(inputs, ["age"], ["party"], scores, {"roc_auc": 0.8}, threshold=0.5)
    thresholds = thresholds_for(settings, {"domain_classifier": {"enabled": False}})
    report: dict[str, Any] = {"dataset": dataset, "window_id": "w-001", "rows": rows, "model_version": version}
    report["served"] = served_summary(window, thresholds)
    report["quality"] = {"ok": True, "suite_ok": True, "failed": []}
    report["degenerate"] = degenerate_window(inputs, scores, 0, 1.0)
    ctx = signals.WindowContext(
        spec=settings.dataset(dataset),
        settings=settings,
        window=window,
        profile=profile,
        thresholds=thresholds,
        decision_threshold=0.5,
        served=report["served"],
        quality=report["quality"],
        degenerate=report["degenerate"],
        frame=inputs,
        not_measured={},
        scores=window.model_scores(),
        nonfinite_scores=0,
        labelled=None,
    )
    breached, reasons = measure_signals(ctx, report, degenerate=False)
    report.update(labelled=None, signals=breached, breach=bool(breached), reasons=reasons)
    return report, thresholds


LIMITS = BacktestLimits(turnout_mae_points=2.0, share_mae_points=3.0, min_coverage=0.8)


def test_the_latest_backtest_by_the_served_version_breaching_a_limit_is_the_signal(workspace):
    _publish("2024-01", "3", "7", _backtest(2020, turnout_mae=1.0, share_mae=1.0, coverage=0.9))  # older: fine
    _publish("2024-06", "3", "7", _backtest(2022, turnout_mae=2.5, share_mae=1.0, coverage=0.75))  # latest by v3
    _publish("2024-09", "4", "7", _backtest(2024, turnout_mae=9.0, share_mae=9.0, coverage=0.1))  # another version
    report, thresholds = _measure(_settings(LIMITS), "voter_turnout", "3")

    assert report["signals"] == ["forecast_backtest"]
    assert report["reasons"] == [
        "forecast backtest: v3 forecast voter_forecast of snapshot 2024-06 (cycle 2022): "
        "turnout MAE 2.50 points > turnout_mae_points 2; turnout interval coverage 75% < min_coverage 80%"
    ]
    section = report["forecast_backtest"]
    assert section["measured"] and section["judged"] and section["breach"]
    (check,) = section["forecasts"]
    assert (check["role"], check["rate"], check["snapshot"], check["mae_points"]) == (
        "turnout",
        "turnout",
        "2024-06",
        2.5,
    )
    assert summary_metrics(report)["forecast_voter_forecast_turnout_mae_points"] == 2.5
    assert summary_metrics(report)["forecast_voter_forecast_turnout_coverage"] == 0.75

    # it alerts and watches: not in the default retrain_on
    decision = decide_action(report, [], thresholds, datetime(2030, 1, 1, tzinfo=UTC))
    assert decision["action"] == "watch" and decision["retrain_signals"] == []


def test_the_support_dataset_is_judged_on_the_two_party_share(workspace):
    _publish("2024-06", "3", "7", _backtest(2022, turnout_mae=9.0, share_mae=2.9, coverage=None))
    report, _ = _measure(_settings(LIMITS), "voter_support", "7")
    assert report["signals"] == []  # the turnout MAE of 9 is the turnout model's, not this one's
    (check,) = report["forecast_backtest"]["forecasts"]
    assert check["rate"] == "dem_share" and check["mae_points"] == 2.9 and check["judged"] and not check["exceeded"]
    assert report["forecast_backtest"]["status"].endswith("within its limits")

    _publish("2024-09", "3", "7", _backtest(2024, turnout_mae=0.1, share_mae=3.1, coverage=None))
    report, _ = _measure(_settings(LIMITS), "voter_support", "7")
    assert report["signals"] == ["forecast_backtest"]
    assert "dem_share MAE 3.10 points > share_mae_points 3" in report["reasons"][0]


def test_no_backtest_by_the_version_is_not_measured(workspace):
    _publish("2024-06", "3", "7", None)  # a forecast without certified results: no backtest
    _publish("2024-09", "4", "7", _backtest(2024, turnout_mae=9.0, share_mae=9.0, coverage=0.1))
    report, _ = _measure(_settings(LIMITS), "voter_turnout", "3")
    section = report["forecast_backtest"]
    assert report["signals"] == [] and not section["measured"] and not section["breach"]
    assert section["status"] == (
        "not measured: no published backtest of forecast voter_forecast used v3 of voter_turnout_model "
        "as its turnout model yet"
    )
    assert "forecast_voter_forecast_turnout_mae_points" not in summary_metrics(report)


def test_without_limits_the_backtest_is_reported_not_judged(workspace):
    _publish("2024-06", "3", "7", _backtest(2022, turnout_mae=9.0, share_mae=9.0, coverage=0.1))
    report, _ = _measure(_settings(None), "voter_turnout", "3")
    section = report["forecast_backtest"]
    assert report["signals"] == [] and section["measured"] and not section["judged"]
    assert "backtest_limits is not set" in section["status"]


def test_an_unreadable_forecast_json_is_passed_over_and_named(workspace):
    _publish("2024-06", "3", "7", _backtest(2022, turnout_mae=2.5, share_mae=1.0, coverage=None))
    broken = catalog.forecast_dir(FORECAST, "2024-09") / catalog.FORECAST_JSON
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    report, _ = _measure(_settings(LIMITS), "voter_turnout", "3")
    (check,) = report["forecast_backtest"]["forecasts"]
    assert check["snapshot"] == "2024-06" and report["signals"] == ["forecast_backtest"]
    assert check["notes"] == [
        "forecast voter_forecast of snapshot 2024-09: forecast.json unreadable (PublishedForecastError)"
    ]


def test_it_retrains_only_when_retrain_on_lists_it(workspace):
    _publish("2024-06", "3", "7", _backtest(2022, turnout_mae=2.5, share_mae=1.0, coverage=None))
    settings = _settings(LIMITS)
    report, _ = _measure(settings, "voter_turnout", "3")
    listed = thresholds_for(settings, {"retrain_on": ["forecast_backtest"], "persistence": 1})
    unlisted = thresholds_for(settings, {"persistence": 1})
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert decide_action(report, [], listed, when)["action"] == "retrain"
    assert decide_action(report, [], unlisted, when)["action"] == "watch"


def test_backtest_limits_are_checked_at_load():
    from modelops.config.forecasts import parse_forecasts

    settings = load_settings()
    body = {"turnout": "voter_turnout", "support": "voter_support", "backtest_limits": {"min_coverage": 1.5}}
    body["certified"] = {"path": "{raw}/certified_results.parquet"}
    with pytest.raises(ConfigError, match=r"forecasts\.f\.backtest_limits\.min_coverage"):
        parse_forecasts({"f": body}, settings.datasets)
    without = {"turnout": "voter_turnout", "support": "voter_support", "backtest_limits": {"share_mae_points": 2}}
    with pytest.raises(ConfigError, match="no certified results"):
        parse_forecasts({"f": without}, settings.datasets)
    body["backtest_limits"] = {"share_mae_points": 2, "turnout_mae_points": 1.5}
    parsed = parse_forecasts({"f": body}, settings.datasets)["f"]
    assert parsed.backtest_limits == BacktestLimits(turnout_mae_points=1.5, share_mae_points=2, min_coverage=None)
