"""Monitoring signals are registered objects: the registry's order is the report's, and a signal registered here
(in the test, nowhere else) is measured on a window, reported (section, signal, reason, MLflow figure) and decided
on by the unchanged window assessment, record and decision code. Tiny frames, real code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelops.collect import windows
from modelops.config.models import RETRAIN_SIGNALS
from modelops.config.settings import load_settings
from modelops.core.jsonsafe import json_safe
from modelops.monitor import signals
from modelops.monitor.assess import measure_signals
from modelops.monitor.decision import decide_action
from modelops.monitor.evidence import degenerate_window, served_summary
from modelops.monitor.record import summary_metrics
from modelops.monitor.thresholds import thresholds_for
from modelops.stats import drift

BUILT_IN = (
    "data_quality",
    "degenerate_window",
    "invalid_scores",
    "data_drift",
    "multivariate_drift",
    "prediction_drift",
    "estimated_accuracy",
    "performance",
    "calibration",
    "offline_online_gap",
    "forecast_backtest",
    "fallback",
)


class ScoreCeiling(signals.Signal):
    """The test's own signal: too many scores near 1."""

    name = "score_ceiling"
    section = "score_ceiling"
    drift = True

    def measure(self, ctx: signals.WindowContext) -> signals.SignalResult:
        share = float((ctx.scores > 0.9).mean())
        breach = share > 0.2
        reasons = (f"score ceiling: {share:.0%} of scores above 0.9",) if breach else ()
        return signals.SignalResult(breach, reasons, share, {"share": share, "breach": breach})

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        section = report.get("score_ceiling")
        return {"score_ceiling_share": section["share"]} if section else {}


@pytest.fixture
def ceiling():
    signal = signals.register(ScoreCeiling())
    try:
        yield signal
    finally:
        signals.unregister(signal)


def _window(rows: int = 300) -> tuple[windows.ScoredWindow, dict[str, Any]]:
    """A served window and the reference profile of the version that served it: the same rows and scores, so
    that no built-in signal moves; a third of the scores sit above 0.9."""
    rng = np.random.default_rng(7)
    inputs = pd.DataFrame({"age": rng.integers(18, 90, rows).astype(float), "party": rng.choice(["D", "R"], rows)})
    scores = np.where(np.arange(rows) % 3 == 0, 0.95, rng.uniform(0.05, 0.85, rows))
    predictions = pd.DataFrame(
        {
            "row": np.arange(rows),
            "id": np.arange(rows).astype(str),
            "score": scores,
            "source": "model",
            "reason": "",
            "model_version": "1",
            "champion_score": scores,
            "challenger_score": np.nan,
        }
    )
    window = windows.ScoredWindow("w-001", {"dataset": "demo", "model_version": "1"}, inputs, predictions)
    profile = drift.build_profile(inputs, ["age"], ["party"], scores, {"roc_auc": 0.8}, threshold=0.5)
    return window, profile


def _measure(window: windows.ScoredWindow, profile: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The registered signals on the window, as the window assessment runs them; (report, thresholds)."""
    settings = load_settings()
    spec = next(iter(settings.datasets.values()))
    thresholds = thresholds_for(settings, {"domain_classifier": {"enabled": False}})
    scores = window.model_scores()
    report: dict[str, Any] = {"dataset": "demo", "window_id": window.snapshot, "rows": len(window.inputs)}
    report["model_name"], report["model_version"] = "demo_model", window.served_version
    report["served"] = served_summary(window, thresholds)
    report["quality"] = {"ok": True, "suite_ok": True, "failed": []}
    report["degenerate"] = degenerate_window(window.inputs, scores, 0, 1.0)
    ctx = signals.WindowContext(
        spec=spec,
        settings=settings,
        window=window,
        profile=profile,
        thresholds=thresholds,
        decision_threshold=0.5,
        served=report["served"],
        quality=report["quality"],
        degenerate=report["degenerate"],
        frame=window.inputs,
        not_measured={},
        scores=scores,
        nonfinite_scores=0,
        labelled=None,
    )
    breached, reasons = measure_signals(ctx, report, degenerate=False)
    report.update(labelled=None, signals=breached, breach=bool(breached), reasons=reasons)
    return report, thresholds


def test_the_built_in_signals_in_report_order_and_every_retrain_signal_is_one():
    assert signals.names() == BUILT_IN
    assert signals.drift_signals() == ("data_drift", "multivariate_drift", "prediction_drift", "estimated_accuracy")
    assert set(RETRAIN_SIGNALS) <= set(signals.names())


def test_a_window_like_its_reference_raises_no_built_in_signal():
    report, _ = _measure(*_window())
    assert report["signals"] == [] and report["reasons"] == []
    assert report["data_drift"]["drift_share"] == 0.0 and not report["prediction"]["drifted"]
    assert "score_ceiling" not in report


def test_a_signal_registered_in_a_test_is_measured_reported_and_decided_on(ceiling):
    window, profile = _window()
    report, thresholds = _measure(window, profile)

    assert report["signals"] == ["score_ceiling"] and report["breach"]
    assert report["reasons"] == ["score ceiling: 33% of scores above 0.9"]
    assert json_safe(report)["score_ceiling"] == {"share": pytest.approx(1 / 3), "breach": True}
    assert summary_metrics(report)["score_ceiling_share"] == pytest.approx(1 / 3)
    assert signals.names()[-1] == "score_ceiling" and "score_ceiling" in signals.drift_signals()

    decision = decide_action(report, [], thresholds, datetime(2030, 1, 1, tzinfo=UTC))
    assert decision["action"] == "watch" and decision["signals"] == ["score_ceiling"]
    assert decision["retrain_signals"] == []  # it retrains only once listed in RETRAIN_SIGNALS and retrain_on


def test_a_registered_signal_leaves_the_registry_and_a_class_registers_once(ceiling):
    with pytest.raises(ValueError, match="registered already"):
        signals.register(ScoreCeiling())
    signals.unregister(ceiling)
    assert signals.names() == BUILT_IN
    signals.register(ceiling)  # the fixture takes it out again
