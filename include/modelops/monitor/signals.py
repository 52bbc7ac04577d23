"""The monitoring signals: one class each, measured on a window and registered in one ordered registry.

A signal reads a `WindowContext` (the window, the served version's reference, what was measured
before it) and returns a `SignalResult`: whether it breached, why in words, its headline figure
and, for a signal that owns one, its report section (`Signal.section`). `metrics` gives its MLflow
figures from the report. The window assessment (`modelops.monitor.assess`) measures every registered
signal in registry order: that order is the order of the report's reasons, and the names in it
(`names()`) the order of the report's signals. A new signal is one class and one `register` line;
it retrains only once listed in `config.settings.RETRAIN_SIGNALS` and `retrain_on`. The policy
around the signals is docs/monitoring.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from modelops.collect import windows
from modelops.config.settings import DatasetSpec, Settings
from modelops.monitor.evidence import FALLBACK, domain_classifier_test
from modelops.monitor.forecast_backtest import backtest_checks, backtest_section
from modelops.monitor.offline_online import gap_section, recorded_interval
from modelops.stats import drift
from modelops.store import history

DEGENERATE = "degenerate_window"


@dataclass(frozen=True)
class SignalResult:
    """One signal's measurement of a window: breached or not, the reasons in words, its headline figure, and its
    report section (None: it owns none)."""

    breach: bool
    reasons: tuple[str, ...] = ()
    value: float | None = None
    section: dict[str, Any] | None = None


@dataclass(frozen=True)
class WindowContext:
    """What a signal measures from: the scored window, the served version's reference and the sections before it.

    On a degenerate window only `served`, `quality` and `degenerate` are measured: `frame` is the raw
    inputs, `scores` None and `labelled` None.
    """

    spec: DatasetSpec
    settings: Settings
    window: windows.ScoredWindow
    profile: dict[str, Any]  # the served version's reference profile
    thresholds: dict[str, Any]
    decision_threshold: float  # the served decision: score >= it
    served: dict[str, Any]  # who served the rows (`evidence.served_summary`)
    quality: dict[str, Any]  # the data-quality suite's verdict; `ok` also needs a window that is no copy
    degenerate: dict[str, Any]  # `evidence.degenerate_window`
    frame: pd.DataFrame  # the inputs as the drift tests read them (`evidence.measurable_frame`)
    not_measured: dict[str, str]  # numeric features left out of `frame`, with why
    scores: np.ndarray | None  # the served version's own scores (no baseline score among them)
    nonfinite_scores: int  # rows the served version scored NaN/inf (they fell back)
    labelled: dict[str, Any] | None  # the labelled result (`labelled.performance`), None: none judged


class Signal(ABC):
    """A monitoring signal: its name, what it measures on a window, and its MLflow figures."""

    name: ClassVar[str]
    section: ClassVar[str | None] = None  # the report key its measurement goes under (None on a degenerate window)
    drift: ClassVar[bool] = False  # label-free drift: a judged labelled result within tolerance vetoes it
    on_degenerate: ClassVar[bool] = False  # measured on a degenerate window too (everything else is not)

    @abstractmethod
    def measure(self, ctx: WindowContext) -> SignalResult:
        """The signal on one window."""

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        """Its headline figures for MLflow, read from the window's report."""
        return {}


_REGISTRY: list[Signal] = []
S = TypeVar("S", bound=Signal)


def register(signal: S) -> S:
    """Add a signal at the end of the registry (one instance per class)."""
    if any(type(s) is type(signal) for s in _REGISTRY):
        raise ValueError(f"signal {type(signal).__name__} ({signal.name}) is registered already")
    _REGISTRY.append(signal)
    return signal


def unregister(signal: Signal) -> None:
    """Take a registered signal out of the registry."""
    _REGISTRY.remove(signal)


def registered() -> tuple[Signal, ...]:
    """The registered signals, in measuring order."""
    return tuple(_REGISTRY)


def names() -> tuple[str, ...]:
    """The signal names a window can raise, in report order (a name raised by two signals counts once)."""
    return tuple(dict.fromkeys(s.name for s in _REGISTRY))


def drift_signals() -> tuple[str, ...]:
    """The label-free drift signals: the ones a judged, within-tolerance labelled result may veto."""
    return tuple(dict.fromkeys(s.name for s in _REGISTRY if s.drift))


# --- the signals, in measuring order -----------------------------------------------------------


class DataQuality(Signal):
    """The data-quality suite failed, or the window is degenerate (alerts only)."""

    name = "data_quality"
    on_degenerate = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        failed = ctx.quality["failed"]
        reasons = ()
        if not ctx.quality["suite_ok"]:
            listed = ", ".join(f"{f['expectation']}({f.get('column') or ''})" for f in failed)
            reasons = (f"data quality: {len(failed)} expectations failed: {listed}",)
        return SignalResult(not ctx.quality["ok"], reasons, float(len(failed)))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        return {"data_quality_ok": float(report["quality"]["ok"])}


class DegenerateWindow(Signal):
    """Too few distinct rows, mostly copies, or one score: no evidence about anything (alerts only)."""

    name = DEGENERATE
    on_degenerate = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        found = ctx.degenerate
        reasons = (f"data quality: degenerate window: {'; '.join(found['reasons'])}",) if found["degenerate"] else ()
        return SignalResult(bool(found["degenerate"]), reasons, float(found["duplicate_share"]))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        found = report.get("degenerate")
        if not found:
            return {}
        return {
            "degenerate_window": float(found["degenerate"]),
            "distinct_rows": float(found["distinct_rows"]),
            "duplicate_share": float(found["duplicate_share"]),
        }


class InvalidScores(Signal):
    """The served model returned NaN/inf scores on the window (alerts only)."""

    name = "invalid_scores"

    def measure(self, ctx: WindowContext) -> SignalResult:
        invalid = ctx.nonfinite_scores
        reasons = ()
        if invalid:
            reasons = (
                f"invalid scores: the served model returned NaN/inf for {invalid} rows (of {len(ctx.window.inputs)}; "
                "they fell back); drift and the estimate use its finite scores",
            )
        return SignalResult(bool(invalid), reasons, float(invalid))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        return {"nonfinite_scores": float(report["nonfinite_scores"])} if "nonfinite_scores" in report else {}


class DataDrift(Signal):
    """The weighted share of drifted features reaches `dataset_drift_share`."""

    name = "data_drift"
    section = "data_drift"
    drift = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        data = drift.detect_drift(ctx.profile, ctx.frame, ctx.thresholds)
        reasons = ()
        if data.dataset_drift:
            reasons = (
                f"data drift: {data.drift_share:.0%} of features drifted ({', '.join(data.drifted)}) "
                f">= {ctx.thresholds['dataset_drift_share']:.0%}",
            )
        section = {**data.to_dict(), "not_measured": ctx.not_measured}
        return SignalResult(bool(data.dataset_drift), reasons, float(data.drift_share), section)

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        data = report.get("data_drift")
        if not data:
            return {}
        return {"drift_share": data["drift_share"]} | {f"effect_{c}": s["effect"] for c, s in data["columns"].items()}


class MultivariateDrift(Signal):
    """A classifier tells the window from the served version's reference sample (the domain-classifier test)."""

    name = "multivariate_drift"
    section = "multivariate"
    drift = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        seed = int(ctx.settings.training.seed)
        result = domain_classifier_test(ctx.spec, ctx.window.served_version, ctx.frame, ctx.thresholds, seed)
        reasons = (_multivariate_reason(result),) if result["drifted"] else ()
        return SignalResult(bool(result["drifted"]), reasons, result["auc"] if result["judged"] else None, result)

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        result = report.get("multivariate") or {}
        if not result.get("judged"):
            return {}
        return {
            "multivariate_auc": result["auc"],
            "multivariate_auc_low": result["low"],
            "multivariate_drift": float(result["drifted"]),
        }


def _multivariate_reason(result: dict[str, Any]) -> str:
    top = ", ".join(f"{f['feature']} ({f['importance']:.3f})" for f in result["top_features"]) or "none stands out"
    return (
        f"multivariate drift: a classifier tells the window from the reference with AUC {result['auc']:.3f} "
        f"({result['confidence']:.0%} interval {result['low']:.3f}..{result['high']:.3f}, lower bound above "
        f"{result['threshold']:.2f}); what separates them most: {top}"
    )


class PredictionDrift(Signal):
    """The served version's scores moved from its reference (PSI at least `prediction_psi`)."""

    name = "prediction_drift"
    section = "prediction"
    drift = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        result = drift.prediction_drift(ctx.profile, ctx.scores, ctx.thresholds)
        reasons = ()
        if result["drifted"]:
            withheld = ctx.served["withheld_rows"]
            reasons = (
                f"prediction drift: score PSI {result['psi']:.3f} >= {ctx.thresholds['prediction_psi']}"
                f" (KS p={result['p_value']:.2g})"
                + (f"; {withheld} of these scores were withheld by the scoring guard" if withheld else ""),
            )
        return SignalResult(bool(result["drifted"]), reasons, float(result["psi"]), result)

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        result = report.get("prediction")
        return {"prediction_psi": result["psi"], "prediction_ks": result["ks"]} if result else {}


class EstimatedAccuracy(Signal):
    """The label-free expected accuracy of the served scores fell more than `estimated_accuracy_drop`."""

    name = "estimated_accuracy"
    section = "estimate"
    drift = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        estimate = drift.estimate_accuracy(ctx.scores, ctx.decision_threshold)
        estimate["reference"] = ctx.profile["expected_accuracy"]
        estimate["drop"] = ctx.profile["expected_accuracy"] - estimate["expected_accuracy"]
        estimate["breach"] = bool(estimate["drop"] > float(ctx.thresholds["estimated_accuracy_drop"]))
        reasons = ()
        if estimate["breach"]:
            reasons = (
                f"estimated accuracy {estimate['expected_accuracy']:.3f} "
                f"(95% {estimate['low']:.3f}..{estimate['high']:.3f}) is {estimate['drop']:.3f} below reference",
            )
        return SignalResult(estimate["breach"], reasons, float(estimate["expected_accuracy"]), estimate)

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        estimate = report.get("estimate")
        return {"expected_accuracy": estimate["expected_accuracy"]} if estimate else {}


class LabelledInvalidScores(Signal):
    """The served model's scores were NaN/inf on the labelled window judged (alerts only)."""

    name = "invalid_scores"

    def measure(self, ctx: WindowContext) -> SignalResult:
        lab = ctx.labelled
        invalid = int(lab["nonfinite_scores"]) if lab else 0
        reasons = ()
        if invalid:
            reasons = (f"invalid scores: {invalid} scores were NaN/inf on labelled window {lab['window_id']}",)
        return SignalResult(bool(invalid), reasons, float(invalid))


class Performance(Signal):
    """Labelled performance of the served version fell below its reference by more than `max_relative_drop`, or
    a metric missed its floor."""

    name = "performance"

    def measure(self, ctx: WindowContext) -> SignalResult:
        lab = ctx.labelled
        if not lab:
            return SignalResult(False)
        window, primary = lab["window_id"], lab["primary"]
        reasons = []
        if lab["performance_breach"]:
            reasons.append(
                f"performance: {primary} {lab['metrics'][primary]:.3f} of v{lab['served_version']} on labelled "
                f"window {window} is {lab['relative_drop']:.1%} below its reference {lab['reference']:.3f}"
            )
        for name, value in lab["below_floors"].items():
            reasons.append(
                f"performance: {name} {value['value']:.3f} on labelled window {window} "
                f"misses the floor {value['floor']}"
            )
        breach = bool(lab["performance_breach"] or lab["below_floors"])
        return SignalResult(breach, tuple(reasons), float(lab["relative_drop"]))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        lab = report.get("labelled")
        if not lab:
            return {}
        out = {f"labelled_{k}": v for k, v in lab["metrics"].items()}
        out["labelled_rows"] = float(lab["rows"])
        out["labelled_unlabelled_rows"] = float(lab["unlabelled_rows"])
        for source, figures in (lab.get("by_source") or {}).items():  # what was served, each on its own rows
            out[f"labelled_{source}_rows"] = float(figures["rows"])
            out[f"labelled_{source}_{lab['primary']}"] = figures[lab["primary"]]
            out[f"labelled_{source}_accuracy"] = figures["accuracy"]
        return out


class Calibration(Signal):
    """Concept drift: outcomes no longer match the predicted probabilities in some group (calibration change)."""

    name = "calibration"

    def measure(self, ctx: WindowContext) -> SignalResult:
        lab = ctx.labelled
        if not lab or not lab["calibration_breach"]:
            return SignalResult(False)
        worst = [
            f"{k} (gap {v['max_gap']:.3f} in {v['worst_group']})" for k, v in lab["calibration"].items() if v["breach"]
        ]
        gap = max(v["max_gap"] for v in lab["calibration"].values() if v["breach"])
        reason = f"concept drift: outcomes no longer match predicted probabilities by {', '.join(worst)}"
        return SignalResult(True, (reason,), float(gap))


class OfflineOnlineGap(Signal):
    """The served version's labelled metric stays worse than its holdout figure beyond the window's interval and
    `offline_online_tolerance`, for `offline_online_persistence` consecutive judged labelled windows of that
    version (alerts; retrains only where `retrain_on` lists it). Earlier windows' intervals come from the
    monitoring history (`labeled_interval`); a window not judged (too few rows) is not measured."""

    name = "offline_online_gap"
    section = "offline_online"

    def measure(self, ctx: WindowContext) -> SignalResult:
        current = recorded_interval(ctx.labelled)
        if current is None:
            return SignalResult(False)
        rows = history.read_monitoring_history(ctx.spec.name)
        found = gap_section(current, rows, ctx.window.snapshot, ctx.thresholds)
        reasons = ()
        if found["breach"]:
            c = found
            reasons = (
                f"offline/online gap: {c['metric']} of v{c['version']} on labelled window {c['window_id']} is "
                f"{c['online']:.3f} ({c['confidence']:.0%} interval {c['low']:.3f}..{c['high']:.3f}), worse than "
                f"its holdout {c['holdout']:.3f} by more than {c['tolerance']:g} beyond the interval, in "
                f"{len(c['streak'])} consecutive labelled windows ({', '.join(reversed(c['streak']))}; "
                f"persistence {c['persistence']})",
            )
        return SignalResult(found["breach"], reasons, found["difference"], found)

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        found = report.get("offline_online")
        if not found:
            return {}
        out = {"online_low": float(found["low"]), "online_high": float(found["high"])}
        if found["difference"] is not None:
            out["offline_online_difference"] = float(found["difference"])
        return out | {"offline_online_streak": float(len(found["streak"]))}


class ForecastBacktest(Signal):
    """The latest backtest of a forecast the served version took part in broke the forecast's `backtest_limits`
    (alerts; retrains only where `retrain_on` lists it). No backtest by that version yet: not measured."""

    name = "forecast_backtest"
    section = "forecast_backtest"

    def measure(self, ctx: WindowContext) -> SignalResult:
        checks = backtest_checks(ctx.settings, ctx.spec, str(ctx.window.served_version))
        reasons = tuple(f"forecast backtest: v{c.model_version} {c.status}" for c in checks if c.breach)
        judged = [c for c in checks if c.judged]
        value = max((c.mae_points for c in judged), default=None)  # the worst judged MAE (points)
        return SignalResult(bool(reasons), reasons, value, backtest_section(checks, ctx.spec.name))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        section = report.get("forecast_backtest") or {}
        out = {}
        for check in section.get("forecasts") or []:
            if check["measured"]:
                out[f"forecast_{check['forecast']}_{check['rate']}_mae_points"] = float(check["mae_points"])
                if check["coverage"] is not None:
                    out[f"forecast_{check['forecast']}_{check['rate']}_coverage"] = float(check["coverage"])
        return out


class Fallback(Signal):
    """More rows than `fallback_share` were served by the rule-based baseline (said last)."""

    name = "fallback"
    on_degenerate = True

    def measure(self, ctx: WindowContext) -> SignalResult:
        served = ctx.served
        reasons = ()
        if served["fallback_breach"]:
            top = ", ".join(f"{r} {c}" for r, c in list(served["fallback_reasons"].items())[:4])
            reasons = (
                f"fallback: {served['sources'][FALLBACK]} of {sum(served['sources'].values())} rows "
                f"({served['fallback_share']:.1%}) were served by the rule-based baseline, "
                f"above {served['fallback_limit']:.1%} ({top})",
            )
        return SignalResult(bool(served["fallback_breach"]), reasons, float(served["fallback_share"]))

    def metrics(self, report: dict[str, Any]) -> dict[str, float]:
        served = report.get("served")
        if not served:
            return {}
        return {"fallback_share": served["fallback_share"]} | {
            f"rows_{source}": float(count) for source, count in served["sources"].items()
        }


for _signal in (
    DataQuality(),
    DegenerateWindow(),
    InvalidScores(),
    DataDrift(),
    MultivariateDrift(),
    PredictionDrift(),
    EstimatedAccuracy(),
    LabelledInvalidScores(),
    Performance(),
    Calibration(),
    OfflineOnlineGap(),
    ForecastBacktest(),
    Fallback(),
):
    register(_signal)
