"""Labelled performance of a served window: which labelled window is judged, the served version's metrics on
its own scored rows against the floors and its holdout, per slice, the calibration change, and what was served
(model, canary, fallback) judged each on its own rows (docs/monitoring.md)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect import windows
from modelops.collect.labels import label_summary, labelled_mask, target_vector
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.evaluate.evaluation import bootstrap_metrics, slice_metrics
from modelops.evaluate.registrants import ERROR_METRICS, registrant_scores
from modelops.monitor.evidence import CANARY, FALLBACK, MODEL, reference_of
from modelops.monitor.offline_online import setting
from modelops.stats import drift
from modelops.stats.metrics import compute_metrics, higher_is_better
from modelops.stats.weights import WeightError, effective_rows, electorate_weights, survey_weights


@dataclass(frozen=True)
class LabelledJudgement:
    """What the labelled part of a window's report holds: the labelled result (None: none judged) and why."""

    result: dict[str, Any] | None
    status: str


def labelled_window(spec: DatasetSpec, upto: str, evaluated: set[str]) -> str | None:
    """The newest scored window up to `upto` whose labels arrived and were not judged before."""
    for window_id in reversed([w for w in windows.list_windows(spec) if w <= upto]):
        if window_id not in evaluated and windows.labelled_source(spec, window_id):
            return window_id
    return None


def unjoinable_labels(spec: DatasetSpec, upto: str, evaluated: set[str]) -> list[str]:
    """Windows whose labels arrived on their own although the spec has no id to join them on."""
    if spec.id_column:
        return []
    return [
        w
        for w in windows.list_windows(spec)
        if w <= upto
        and w not in evaluated
        and catalog.snapshot_labels(spec.name, w).exists()
        and not windows.labelled_source(spec, w)
    ]


def unscored_labels(spec: DatasetSpec, upto: str, evaluated: set[str]) -> list[str]:
    """Snapshots whose labels arrived but that were never scored by the champion (nothing served to judge)."""
    scored = set(windows.list_windows(spec))
    return [
        s
        for s in catalog.list_snapshots(spec.name)
        if s <= upto and s not in evaluated and s not in scored and windows.labelled_source(spec, s)
    ]


def _metrics_of(frame: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    y = target_vector(frame, spec)
    metrics = compute_metrics(y, scores, threshold)
    return {"rows": len(y), "positive_rate": float(y.mean()) if len(y) else float("nan"), **metrics}


def outcomes_by_source(labelled: pd.DataFrame, spec: DatasetSpec, threshold: float) -> dict[str, dict[str, Any]]:
    """What was served, judged on its own rows: the served score's metrics (decisions at `threshold`) per source,
    and over all rows."""
    served = labelled["served_score"].to_numpy(dtype=float, na_value=np.nan)
    source = labelled["served_source"].astype(str).to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for name in (MODEL, CANARY, FALLBACK):
        mask = (source == name) & np.isfinite(served)
        if mask.any():
            versions = sorted(set(labelled.loc[mask, "served_model_version"].astype(str)))
            out[name] = {**_metrics_of(labelled.loc[mask], spec, served[mask], threshold), "versions": versions}
    finite = np.isfinite(served)
    out["served"] = _metrics_of(labelled.loc[finite], spec, served[finite], threshold)
    return out


def no_labels_status(spec: DatasetSpec, window_id: str, evaluated: set[str], problem: str) -> str:
    """Why this window has no labelled judgement, in words."""
    if problem:
        return f"labelled monitoring skipped: {problem}"
    stranded = unjoinable_labels(spec, window_id, evaluated)
    if stranded:
        return (
            f"labelled monitoring skipped: labels arrived for {', '.join(stranded)} but the spec has no id_column "
            "to join them to the served predictions; deliver labeled/<window>.parquet (the inputs with the target, "
            "in the scored row order) instead"
        )
    unscored = unscored_labels(spec, window_id, evaluated)
    if unscored:
        return (
            f"labelled monitoring skipped: labels arrived for {', '.join(unscored)}, which the champion never scored "
            "(no served predictions to judge)"
        )
    if not spec.id_column:
        return "no labelled window waiting (no id_column: only windows delivered as labeled/<window>.parquet count)"
    return "no labelled window waiting"


def judge_labels(
    spec: DatasetSpec,
    window: windows.ScoredWindow,
    profile: dict[str, Any],
    thresholds: dict[str, Any],
    evaluated: set[str],
    quality_ok: bool,
    floors: dict[str, float],
    primary: str,
    threshold: float,
) -> LabelledJudgement:
    """The newest labelled window not judged before, judged against the version that served it (labels are judged
    on a clean window only: they wait for the next one, nothing marks them judged)."""
    labelled_id = labelled_window(spec, window.snapshot, evaluated) if quality_ok else None
    if labelled_id:
        frame, how, counts = windows.attach_labels(spec, windows.load_scored_window(spec, labelled_id))
    else:
        frame, how, counts = None, "", {}
    if frame is None:
        if not quality_ok:
            return LabelledJudgement(
                None, "not measured: the window failed data quality (labels wait for a clean window)"
            )
        return LabelledJudgement(None, no_labels_status(spec, window.snapshot, evaluated, how))
    served = window if labelled_id == window.snapshot else windows.load_scored_window(spec, labelled_id)
    own_profile = (
        profile if served.served_version == window.served_version else reference_of(spec, served.served_version)
    )
    lab = performance(spec, own_profile, served, frame, counts, primary, thresholds, floors, threshold)
    status = (
        f"window {labelled_id} (served by v{lab['served_version']}): {how}; {lab['rows']} labelled rows of the "
        "served model judged"
        + (f", {lab['unlabelled_rows']} rows without an outcome left out" if lab["unlabelled_rows"] else "")
        + ("" if lab["judged"] else f" (fewer than {thresholds['min_labeled_rows']}: reported, not judged)")
    )
    return LabelledJudgement(lab, status)


def performance(
    spec: DatasetSpec,
    profile: dict[str, Any],
    window: windows.ScoredWindow,
    frame: pd.DataFrame,
    counts: dict[str, Any],
    primary: str,
    t: dict[str, Any],
    floors: dict[str, float],
    threshold: float,
) -> dict[str, Any]:
    """The served version's labelled metrics (its own scores; decisions at `threshold`) vs the floors and its
    holdout, per slice, calibration; and what was served (model, canary, fallback) judged each on its own rows."""
    summary = label_summary(frame, spec)
    labelled_all = frame.loc[labelled_mask(frame, spec)]  # a row without an outcome is never judged
    nonfinite = int((labelled_all["served_reason"].astype(str) == "invalid_score").sum())
    own = windows.model_rows(
        labelled_all["served_source"], labelled_all["served_reason"], labelled_all["served_champion_score"]
    )
    labelled = labelled_all.loc[own]
    p = labelled["served_champion_score"].to_numpy(dtype=float, na_value=np.nan)
    y = target_vector(labelled, spec)
    metrics = compute_metrics(y, p, threshold)
    reference = profile["metrics"][primary]
    drop = _relative_drop(reference, metrics[primary], primary)
    tests = calibration_tests(profile, labelled, y, p, t)
    # Judged only with enough rows, both outcomes present and a finite primary metric: a one-class
    # window has no AUC, and "no drop" from a NaN must not pass for good news.
    enough = bool(len(y) >= int(t["min_labeled_rows"]) and len(np.unique(y)) == 2 and np.isfinite(metrics[primary]))
    by_source = outcomes_by_source(labelled_all, spec, threshold)
    return {
        "window_id": window.snapshot,
        "served_version": window.served_version,
        "rows": len(y),
        "delivered_rows": summary["rows"],
        "unlabelled_rows": summary["unlabelled"],
        "unlabelled_values": summary["other_values"],
        "unmatched_labels": int(counts.get("unmatched_labels", 0)),
        "nonfinite_scores": nonfinite,
        "withheld_rows": int((labelled["served_source"].astype(str) == FALLBACK).sum()),
        "primary": primary,
        "metrics": metrics,
        "weighted_metrics": weighted_window_metrics(spec, labelled, y, p, threshold),
        "electorate_metrics": electorate_window_metrics(spec, y, p, threshold),
        "reference": reference,
        "reference_metrics": dict(profile["metrics"]),
        "relative_drop": float(drop),
        "performance_breach": bool(enough and drop > float(t["max_relative_drop"])),
        "below_floors": _below_floors(metrics, floors) if enough else {},
        "floors": dict(floors),
        "slices": slice_metrics(labelled, y, p, spec, primary, threshold) if len(y) else {},
        "reference_slices": profile.get("slices") or {},
        "calibration": tests,
        "calibration_breach": bool(enough and any(x["breach"] for x in tests.values())),
        "judged": enough,
        "interval": primary_interval(y, p, primary, threshold, t, window.snapshot) if enough else None,
        "by_source": by_source,
        "canary": _canary_comparison(window, by_source, primary),
        "new_registrants": new_registrant_errors(spec, frame),
    }


def primary_interval(
    y: np.ndarray, p: np.ndarray, primary: str, threshold: float, t: dict[str, Any], window_id: str
) -> dict[str, Any]:
    """The window's primary metric with a seeded percentile-bootstrap interval (`offline_online_confidence`,
    `offline_online_resamples`, at most `offline_online_max_rows` rows): what the offline/online gap reads.
    The seed is the window's id, so judging the same window again gives the same interval."""
    confidence = float(setting(t, "offline_online_confidence"))
    seed = zlib.crc32(str(window_id).encode())
    found = bootstrap_metrics(
        y,
        p,
        int(setting(t, "offline_online_resamples")),
        confidence,
        int(setting(t, "offline_online_max_rows")),
        seed,
        threshold=threshold,
    )[primary]
    return {
        "metric": primary,
        "value": float(found["value"]),
        "low": float(found["ci_low"]),
        "high": float(found["ci_high"]),
        "confidence": confidence,
        "rows": int(found["rows"]),
        "resamples": int(found["resamples"]),
    }


def new_registrant_errors(spec: DatasetSpec, frame: pd.DataFrame) -> dict[str, Any] | None:
    """The served model's error on the window's new registrants (`scoring.new_registrants`) against the rest, on
    the labelled rows it scored (reported, never a signal); None without a rule, with why when not computed.

    `frame`: the window's inputs beside its served predictions (`served_*`) and the target, as `attach_labels`
    gives it; rows are matched by the served id."""
    if spec.scoring.new_registrants is None:
        return None
    if not spec.id_column:
        return {"computed": False, "reason": f"dataset {spec.name!r} has no id_column"}
    try:
        ids = frame["served_id"]
        predictions = pd.DataFrame(
            {"id": ids, "score": frame["served_champion_score"], "source": frame["served_source"].astype(object)}
        )
        labels = pd.DataFrame({spec.id_column: ids, spec.target: frame[spec.target]})
        found = registrant_scores(
            frame, predictions, spec, fallback_source=FALLBACK, labels=labels, id_column="served_id"
        )
    except (KeyError, ValueError, TypeError) as exc:
        return {"computed": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {
        "computed": True,
        "rule": found.rule,
        "new": found.new.to_xcom(),
        "rest": found.rest.to_xcom(),
        "gaps": {metric: found.gap(metric) for metric in ERROR_METRICS},
    }


def weighted_window_metrics(
    spec: DatasetSpec, labelled: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float
) -> dict[str, Any] | None:
    """The window's labelled metrics weighted by its rows' survey weights, beside the unweighted ones (reported,
    never a signal); None when the spec has no weight column or the window does not carry it. Rows without a
    usable weight leave the weighted metrics out, with why (the column and the count, never a weight)."""
    column = spec.weight_column
    if not column or column not in labelled.columns or not len(y):
        return None
    source = {"source": f"survey weights (column {column!r})", "column": column}
    return _metrics_weighted_by(lambda: survey_weights(labelled, column), source, y, p, threshold)


def electorate_window_metrics(
    spec: DatasetSpec, y: np.ndarray, p: np.ndarray, threshold: float
) -> dict[str, Any] | None:
    """The window's labelled metrics with every row counted by the served score, its probability of voting (the
    expected electorate; `electorate_weights: own_scores`), beside the unweighted ones; None when not asked for."""
    if spec.electorate_weights != "own_scores" or not len(y):
        return None
    source = {"source": "the served scores (the expected electorate)"}
    return _metrics_weighted_by(lambda: electorate_weights(p), source, y, p, threshold)


def _metrics_weighted_by(
    weigh: Callable[[], np.ndarray], source: dict[str, Any], y: np.ndarray, p: np.ndarray, threshold: float
) -> dict[str, Any]:
    """The window's metrics with the rows weighted by `weigh()`, or why not (its WeightError: counts, never values)."""
    try:
        weights = weigh()
    except WeightError as exc:
        return {**source, "error": str(exc)}
    return {**source, "metrics": compute_metrics(y, p, threshold, weights), "effective_rows": effective_rows(weights)}


def _relative_drop(reference: float, value: float, metric: str) -> float:
    """How far `value` fell short of `reference`, relative to it (positive: worse)."""
    return (reference - value) / abs(reference) if higher_is_better(metric) else (value - reference) / abs(reference)


def _below_floors(metrics: dict[str, float], floors: dict[str, float]) -> dict[str, dict[str, float]]:
    """The metrics that miss their floor, with the value and the floor."""
    return {
        name: {"value": metrics[name], "floor": floor}
        for name, floor in floors.items()
        if not np.isnan(metrics[name])
        and not (metrics[name] >= floor if higher_is_better(name) else metrics[name] <= floor)
    }


def calibration_tests(
    profile: dict[str, Any], labelled: pd.DataFrame, y: np.ndarray, p: np.ndarray, t: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The calibration-change test per group column (score quantiles, each reference feature), Benjamini-Hochberg
    adjusted, each with its breach."""
    quantiles = int(profile.get("calibration_quantiles", t["calibration_quantiles"]))
    min_rows = int(t["calibration_min_group_rows"])
    groups = {"score": drift.group_labels(profile["score"], "numeric", p, quantiles)}
    for column, col_profile in profile["numeric"].items():
        if column in labelled:
            values = labelled[column].to_numpy(dtype=float, na_value=np.nan)
            groups[column] = drift.group_labels(col_profile, "numeric", values, quantiles)
    for column in profile["categorical"]:
        if column in labelled:
            groups[column] = drift.group_labels({}, "categorical", labelled[column], quantiles)
    tests = {
        column: drift.calibration_change(y, p, g, profile["calibration"].get(column, {}), min_rows)
        for column, g in groups.items()
    }
    level = float(t.get("calibration_alpha", t["alpha"]))
    for test, p_adj in zip(
        tests.values(), drift.benjamini_hochberg([x["p_value"] for x in tests.values()]), strict=True
    ):
        test["p_adjusted"] = p_adj
        test["breach"] = bool(p_adj < level and test["max_gap"] >= float(t["calibration_max_gap"]))
    return tests


def _canary_comparison(
    window: windows.ScoredWindow, by_source: dict[str, dict[str, Any]], primary: str
) -> dict[str, Any] | None:
    """The canary's primary metric beside the champion's on their own labelled rows (reported, never a signal)."""
    if CANARY not in by_source:
        return None
    champion_rows, canary_rows = by_source.get(MODEL, {}), by_source[CANARY]
    return {
        "champion_version": window.served_version,
        "canary_version": window.challenger_version,
        "champion_rows": int(champion_rows.get("rows", 0)),
        "canary_rows": int(canary_rows["rows"]),
        "primary": primary,
        "champion": champion_rows.get(primary, float("nan")),
        "canary": canary_rows[primary],
        "difference": canary_rows[primary] - champion_rows.get(primary, float("nan")),
    }
