"""What a judged window leaves behind: its `monitoring_history` row, its headline figures for MLflow (each
registered signal gives its own) and the JSON-safe copy of its report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelops.monitor import signals
from modelops.monitor.offline_online import recorded_interval


def history_row(
    report: dict[str, Any],
    decision: dict[str, Any],
    window_end: datetime,
    run_id: str | None,
    dry_run: bool,
    report_path: str | None,
) -> dict[str, Any]:
    """The monitoring_history row for a window."""
    data = report.get("data_drift") or {}
    prediction = report.get("prediction") or {}
    labelled = report.get("labelled") or {}
    return {
        "dataset": report["dataset"],
        "window_id": report["window_id"],
        "window_end": window_end,
        "model_name": report["model_name"],
        "model_version": report["model_version"],
        "rows": report["rows"],
        "data_quality_ok": report["quality"]["ok"],
        "drift_share": float(data.get("drift_share", 0.0)),
        "drifted_columns": data.get("drifted", []),
        "prediction_psi": prediction.get("psi"),
        "prediction_drift": bool(prediction.get("drifted", False)),
        "expected_accuracy": (report.get("estimate") or {}).get("expected_accuracy"),
        "fallback_share": (report.get("served") or {}).get("fallback_share"),
        "labeled_window": labelled.get("window_id"),
        "labeled_metrics": labelled.get("metrics"),
        "labeled_interval": recorded_interval(report.get("labelled")),
        "breach": report["breach"],
        "signals": list(report.get("signals", [])),
        "reasons": report["reasons"],
        "why": decision["why"],
        "action": decision["action"],
        "dry_run": dry_run,
        "run_id": run_id,
        "report_path": report_path,
    }


def summary_metrics(report: dict[str, Any], decision: dict[str, Any] | None = None) -> dict[str, float]:
    """Headline numbers of a window for MLflow (with the decision: the champion's age against its bound)."""
    out: dict[str, float] = {"rows": report["rows"], "breach": float(report["breach"])}
    for signal in signals.registered():
        out.update(signal.metrics(report))
    age = (decision or {}).get("champion_age")
    if age:
        out["champion_age_days"] = age["days"]
        out["champion_max_age_days"] = age["max_days"]
    if report.get("canary"):
        out["canary_rows"] = float(report["canary"]["rows"])
        if "prediction" in report["canary"]:
            out["canary_prediction_psi"] = report["canary"]["prediction"]["psi"]
    return out
