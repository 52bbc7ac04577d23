"""Monitoring one production window against the champion's reference profile, and the decision.

`assess_window` measures (data quality, data drift, prediction drift, label-free expected
accuracy, and — when labels have arrived for an earlier window — labelled performance and
calibration); `decide_action` turns the breach into an action using the history: retrain only
when the breach persists for `persistence` windows and no retrain ran within the cooldown.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops import drift, registry
from modelops.config import DatasetSpec, Settings
from modelops.evaluation import compute_metrics, higher_is_better
from modelops.scenarios import list_windows, production_dir, window_paths

THRESHOLD_KEYS = (
    "alpha",
    "numeric_min_effect",
    "categorical_min_effect",
    "dataset_drift_share",
    "feature_weights",
    "prediction_psi",
    "max_relative_drop",
    "estimated_accuracy_drop",
    "calibration_max_gap",
    "calibration_min_group_rows",
    "calibration_quantiles",
    "min_labeled_rows",
    "persistence",
    "cooldown_hours",
)


class NoChampionError(RuntimeError):
    """There is no champion to monitor yet."""


def thresholds_for(settings: Settings, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configured monitoring thresholds with run-time overrides (unknown keys rejected)."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f"unknown threshold overrides {unknown}; known: {sorted(THRESHOLD_KEYS)}")
    return {**{k: settings.monitoring[k] for k in THRESHOLD_KEYS if k in settings.monitoring}, **overrides}


def champion_reference(spec: DatasetSpec) -> tuple[Any, dict[str, Any]]:
    """The champion version and its stored reference profile."""
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if champion is None:
        raise NoChampionError(f"no champion for {spec.model_name!r}: train and promote a model first")
    return champion, registry.load_profile(champion.run_id)


def _quality(frame: pd.DataFrame, spec: DatasetSpec, window_id: str) -> dict[str, Any]:
    """The dataset's GX suite in production form (no target), on the window's inputs."""
    from modelops.sources import BatchRef, content_hash
    from modelops.validation import validate_frame, write_report

    batch = BatchRef(
        dataset=spec.name,
        path="",
        content_hash=content_hash(frame),
        rows=len(frame),
        columns=list(frame.columns),
        source={"window": window_id},
    )
    report, result = validate_frame(frame, spec, batch, production=True)
    folder = production_dir(spec) / "reports" / window_id / "validation"
    write_report(report, result, folder)
    return {
        "ok": report.success,
        "validation_id": report.validation_id,
        "failed": report.failed,
        "report": str(folder / "report.html"),
    }


def _labelled_window(spec: DatasetSpec, upto: str, evaluated: set[str]) -> str | None:
    """The newest window up to `upto` whose labels arrived and were not judged before."""
    for window_id in reversed([w for w in list_windows(spec) if w <= upto]):
        if window_id not in evaluated and window_paths(spec, window_id)["labels"].exists():
            return window_id
    return None


def _performance(
    spec: DatasetSpec,
    model: Any,
    profile: dict[str, Any],
    window_id: str,
    primary: str,
    t: dict[str, Any],
    floors: dict[str, float],
) -> dict[str, Any]:
    """Labelled metrics vs the absolute floors and the champion's holdout, and the calibration tests."""
    paths = window_paths(spec, window_id)
    labelled = pd.read_parquet(paths["inputs"]).merge(pd.read_parquet(paths["labels"]), on=spec.id_column, how="inner")
    if not paths["labeled"].exists():  # materialised once: the retraining DAG can use it
        paths["labeled"].parent.mkdir(parents=True, exist_ok=True)
        labelled.to_parquet(paths["labeled"], index=False)
    y = (labelled[spec.target] == spec.positive_class).to_numpy(dtype=int)
    p = model.predict_proba(labelled[spec.features])[:, 1]
    metrics = compute_metrics(y, p)
    below = {
        name: {"value": metrics[name], "floor": floor}
        for name, floor in floors.items()
        if not (metrics[name] >= floor if higher_is_better(name) else metrics[name] <= floor)
    }
    reference = profile["metrics"][primary]
    drop = (
        (reference - metrics[primary]) / abs(reference)
        if higher_is_better(primary)
        else ((metrics[primary] - reference) / abs(reference))
    )
    quantiles = int(profile.get("calibration_quantiles", t["calibration_quantiles"]))
    min_rows = int(t["calibration_min_group_rows"])
    groups = {"score": drift.group_labels(profile["score"], "numeric", p, quantiles)}
    for column, col_profile in profile["numeric"].items():
        values = labelled[column].to_numpy(dtype=float, na_value=np.nan)
        groups[column] = drift.group_labels(col_profile, "numeric", values, quantiles)
    for column in profile["categorical"]:
        groups[column] = drift.group_labels({}, "categorical", labelled[column], quantiles)
    tests = {
        column: drift.calibration_change(y, p, g, profile["calibration"].get(column, {}), min_rows)
        for column, g in groups.items()
    }
    for test, p_adj in zip(
        tests.values(), drift.benjamini_hochberg([x["p_value"] for x in tests.values()]), strict=True
    ):
        test["p_adjusted"] = p_adj
        level = float(t.get("calibration_alpha", t["alpha"]))
        test["breach"] = bool(p_adj < level and test["max_gap"] >= float(t["calibration_max_gap"]))
    enough = len(y) >= int(t["min_labeled_rows"])
    return {
        "window_id": window_id,
        "rows": len(y),
        "metrics": metrics,
        "reference": reference,
        "relative_drop": float(drop),
        "performance_breach": bool(enough and drop > float(t["max_relative_drop"])),
        "below_floors": below if enough else {},
        "calibration": tests,
        "calibration_breach": bool(enough and any(x["breach"] for x in tests.values())),
        "judged": enough,
    }


def assess_window(
    spec: DatasetSpec,
    settings: Settings,
    window_id: str,
    thresholds: dict[str, Any],
    evaluated_labels: set[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure one window; returns (report, plot data) with no decision and nothing recorded."""
    champion, profile = champion_reference(spec)
    inputs_path = window_paths(spec, window_id)["inputs"]
    if not inputs_path.exists():
        raise FileNotFoundError(f"no production inputs for window {window_id!r} at {inputs_path}")
    frame = pd.read_parquet(inputs_path)
    primary = settings.evaluation["primary_metric"]
    report: dict[str, Any] = {
        "dataset": spec.name,
        "window_id": window_id,
        "rows": len(frame),
        "model_name": spec.model_name,
        "model_version": str(champion.version),
        "thresholds": thresholds,
    }
    report["quality"] = _quality(frame, spec, window_id)
    reasons: list[str] = []
    plot: dict[str, Any] = {"frame": frame, "profile": profile, "scores": None}
    if not report["quality"]["ok"]:
        failed = ", ".join(f"{f['expectation']}({f.get('column') or ''})" for f in report["quality"]["failed"])
        reasons.append(f"data quality: {len(report['quality']['failed'])} expectations failed: {failed}")
        report.update(data_drift=None, prediction=None, estimate=None, labelled=None, breach=True, reasons=reasons)
        return report, plot

    model = registry.load_model(f"models:/{spec.model_name}/{champion.version}")
    scores = model.predict_proba(frame[spec.features])[:, 1]
    plot["scores"] = scores
    data = drift.detect_drift(profile, frame, thresholds)
    report["data_drift"] = data.to_dict()
    if data.dataset_drift:
        reasons.append(
            f"data drift: {data.drift_share:.0%} of features drifted ({', '.join(data.drifted)}) "
            f">= {thresholds['dataset_drift_share']:.0%}"
        )
    report["prediction"] = drift.prediction_drift(profile, scores, thresholds)
    if report["prediction"]["drifted"]:
        reasons.append(
            f"prediction drift: score PSI {report['prediction']['psi']:.3f} >= {thresholds['prediction_psi']}"
            f" (KS p={report['prediction']['p_value']:.2g})"
        )
    estimate = drift.estimate_accuracy(scores)
    estimate["reference"] = profile["expected_accuracy"]
    estimate["drop"] = profile["expected_accuracy"] - estimate["expected_accuracy"]
    estimate["breach"] = bool(estimate["drop"] > float(thresholds["estimated_accuracy_drop"]))
    report["estimate"] = estimate
    if estimate["breach"]:
        reasons.append(
            f"estimated accuracy {estimate['expected_accuracy']:.3f} "
            f"(95% {estimate['low']:.3f}..{estimate['high']:.3f}) is {estimate['drop']:.3f} below reference"
        )
    labelled_id = _labelled_window(spec, window_id, evaluated_labels)
    floors = settings.evaluation.get("floors", {})
    report["labelled"] = (
        _performance(spec, model, profile, labelled_id, primary, thresholds, floors) if labelled_id else None
    )
    if report["labelled"]:
        lab = report["labelled"]
        if lab["performance_breach"]:
            reasons.append(
                f"performance: {primary} {lab['metrics'][primary]:.3f} on labelled window {labelled_id} is "
                f"{lab['relative_drop']:.1%} below the champion's {lab['reference']:.3f}"
            )
        for name, value in lab["below_floors"].items():
            reasons.append(
                f"performance: {name} {value['value']:.3f} on labelled window {labelled_id} misses the floor "
                f"{value['floor']}"
            )
        if lab["calibration_breach"]:
            worst = [
                f"{k} (gap {v['max_gap']:.3f} in {v['worst_group']})"
                for k, v in lab["calibration"].items()
                if v["breach"]
            ]
            reasons.append(f"concept drift: outcomes no longer match predicted probabilities by {', '.join(worst)}")
    report["breach"] = bool(reasons)
    report["reasons"] = reasons
    return report, plot


def decide_action(
    report: dict[str, Any], history_rows: list[dict[str, Any]], thresholds: dict[str, Any], window_end: datetime
) -> dict[str, Any]:
    """retrain / watch / cooldown / alert / none, with the reasons.

    A data-quality break alerts but never retrains (retraining on a broken extract makes it worse).
    """
    previous = [
        r
        for r in history_rows
        if not r["dry_run"] and r["window_id"] != report["window_id"] and _aware(r["window_end"]) <= window_end
    ]
    streak = 1
    for row in reversed(previous):
        if not (row["breach"] and row["data_quality_ok"]):
            break
        streak += 1
    retrains = [_aware(r["window_end"]) for r in previous if r["action"] == "retrain"]
    cooldown = timedelta(hours=float(thresholds["cooldown_hours"]))
    persistence = int(thresholds["persistence"])
    if not report["quality"]["ok"]:
        action, why = "alert", "data-quality break: alert only, retraining on broken data would make it worse"
    elif not report["breach"]:
        action, why = "none", "no threshold breached"
    elif streak < persistence:
        action, why = "watch", f"breach {streak} of {persistence} consecutive windows needed"
    elif retrains and window_end - max(retrains) < cooldown:
        action, why = "cooldown", f"breach persists but a retrain was triggered at {max(retrains).isoformat()}"
    else:
        action, why = "retrain", f"breach persisted for {streak} windows (>= {persistence}); no retrain in cooldown"
    return {"action": action, "why": why, "streak": streak}


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retrain_conf(spec: DatasetSpec, report: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """What the training DAG is told: why, and the recent labelled windows to add to the reference data."""
    labelled = sorted(str(p) for p in (production_dir(spec) / "labeled").glob("*.parquet"))
    return {
        "dataset": spec.name,
        "extra_batches": labelled,
        "reason": f"monitoring window {report['window_id']}: {decision['why']}; " + "; ".join(report["reasons"]),
    }


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
        "labeled_window": labelled.get("window_id"),
        "labeled_metrics": labelled.get("metrics"),
        "breach": report["breach"],
        "reasons": report["reasons"],
        "action": decision["action"],
        "dry_run": dry_run,
        "run_id": run_id,
        "report_path": report_path,
    }


def summary_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Headline numbers of a window for MLflow."""
    out: dict[str, float] = {
        "rows": report["rows"],
        "breach": float(report["breach"]),
        "data_quality_ok": float(report["quality"]["ok"]),
    }
    if report.get("data_drift"):
        out["drift_share"] = report["data_drift"]["drift_share"]
        for column, stats in report["data_drift"]["columns"].items():
            out[f"effect_{column}"] = stats["effect"]
    if report.get("prediction"):
        out["prediction_psi"] = report["prediction"]["psi"]
        out["prediction_ks"] = report["prediction"]["ks"]
    if report.get("estimate"):
        out["expected_accuracy"] = report["estimate"]["expected_accuracy"]
    if report.get("labelled"):
        out.update({f"labelled_{k}": v for k, v in report["labelled"]["metrics"].items()})
    return out


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (numpy scalars and NaN made plain)."""
    return json.loads(json.dumps(report, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def report_folder(spec: DatasetSpec, window_id: str) -> Path:
    """Where a window's HTML report and JSON go."""
    return production_dir(spec) / "reports" / window_id
