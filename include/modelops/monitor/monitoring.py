"""Monitoring one production window (a snapshot the champion scored) from what was served, and the decision.

A window is a snapshot whose scoring output the `champion` alias committed (`windows.list_windows`).
`assess_window` reads the served predictions and the inputs they were made from (never scoring
again) and measures, against the reference profile of the version that actually served: data
quality, data drift, prediction drift and the label-free expected accuracy on the served version's
own scores (rows the baseline served are no part of them), the fallback share (rows served by the
rule-based baseline, and why), canary rows apart, and — when labels have arrived for an earlier
window — labelled performance and calibration of the served scores (labels join the served
predictions by id), with what was served (model, canary, fallback) judged each on its own rows. It
names the **signals** that breached; `decide_action` turns them into an action using the history;
`history_row` is what the window leaves in `monitoring_history`. The step a DAG task runs
(measure, decide, report, log to MLflow, record) is `modelops.pipelines.monitoring_flow`.

The policy (signals, decision, persistence, cooldown, the age bound) is written once, in
docs/monitoring.md; the functions here are its code and tests/modelops/test_monitoring_policy.py its proof.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelops.collect import windows
from modelops.collect.labels import label_summary, labelled_mask, target_vector
from modelops.config.settings import DEFAULT_RETRAIN_ON, MONITORING_SCHEMA, RETRAIN_SIGNALS, DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.tags import alias_tag
from modelops.evaluate.evaluation import slice_metrics
from modelops.stats import drift
from modelops.stats.metrics import compute_metrics, higher_is_better
from modelops.store import registry

if TYPE_CHECKING:
    from modelops.validate.validation import WindowLimits

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
    "calibration_alpha",
    "calibration_min_group_rows",
    "calibration_quantiles",
    "min_labeled_rows",
    "persistence",
    "cooldown_hours",
    "retrain_on",
    "fallback_share",
    "min_distinct_rows",
    "max_duplicate_share",
    "window_min_rows",
    "window_max_rows",
    "window_null_margin",
    "max_champion_age_days",
    "domain_classifier",
)
# Signals a window can raise, in report order. The first two alert only; see docs/monitoring.md.
ALERT_ONLY_SIGNALS = ("data_quality", "degenerate_window", "invalid_scores")
DRIFT_SIGNALS = ("data_drift", "multivariate_drift", "prediction_drift", "estimated_accuracy")
# `fallback`: more rows than `fallback_share` were served by the rule-based baseline (alerts; retrains
# only when listed in retrain_on).
SIGNALS = (*ALERT_ONLY_SIGNALS, *DRIFT_SIGNALS, "performance", "calibration", "fallback")
AGE_BOUND_NOTE = "the age bound never retrains inside the cooldown"
MODEL, CANARY, FALLBACK = "model", "canary", "fallback"  # scoring's sources
DEGENERATE = "degenerate_window"
SINGLE_SCORE_TOLERANCE = 1e-9  # scores this close together are one value: the model is not telling rows apart


class NoChampionError(RuntimeError):
    """There is no champion to monitor yet."""


def thresholds_for(
    settings: Settings, overrides: dict[str, Any] | None = None, spec: DatasetSpec | None = None
) -> dict[str, Any]:
    """The configured monitoring thresholds, the dataset's own (`datasets.<name>.monitoring`), then run-time
    overrides (unknown keys and signals rejected)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f"unknown threshold overrides {unknown}; known: {sorted(THRESHOLD_KEYS)}")
    if "retrain_on" in overrides:
        retrain_on = overrides["retrain_on"]
        if not isinstance(retrain_on, list) or set(map(str, retrain_on)) - set(RETRAIN_SIGNALS):
            raise ValueError(f"retrain_on must be a list of {list(RETRAIN_SIGNALS)}, got {retrain_on!r}")
    configured = {k: settings.monitoring[k] for k in THRESHOLD_KEYS if k in settings.monitoring}
    if spec is not None:
        # the dataset's schedule says when it is judged (monitoring_flow.datasets_due), not how
        configured.update({k: v for k, v in spec.monitoring.items() if v is not None and k != "schedule"})
    if "domain_classifier" in overrides:  # a partial override of the test's options
        base = dict(configured.get("domain_classifier") or {})
        given = overrides["domain_classifier"]
        if not isinstance(given, dict) or set(given) - set(base):
            raise ValueError(f"domain_classifier overrides must be a mapping of {sorted(base)}, got {given!r}")
        overrides["domain_classifier"] = {**base, **given}
    return {**configured, **overrides}


def reference_null_share(profile: dict[str, Any], column: str) -> float | None:
    """The share of a column's values missing in a reference profile (None: the profile lacks the column)."""
    if column in profile["numeric"]:
        return float(profile["numeric"][column]["null_fraction"])
    if column in profile["categorical"]:
        found = profile["categorical"][column]
        return found["counts"].get(drift.MISSING, 0) / found["rows"] if found["rows"] else 0.0
    return None


def window_limits(spec: DatasetSpec, profile: dict[str, Any], t: dict[str, Any]) -> WindowLimits:
    """The production suite's limits for a window of `spec` served by the version of `profile` (docs/monitoring.md):
    its row-count bounds and each kept column's largest missing share, with where it came from."""
    from modelops.validate.validation import WindowLimits

    margin = float(t.get("window_null_margin", MONITORING_SCHEMA["window_null_margin"][1]))
    named = t.get("window_null_fraction") or {}
    max_null, basis = {}, {}
    for column in spec.kept_columns:
        if column == spec.target:
            continue
        if column in named:
            max_null[column], basis[column] = float(named[column]), "monitoring.window_null_fraction"
            continue
        if column in (spec.id_column, spec.time_column):  # structural: the training limit, no margin
            max_null[column] = spec.null_limit(column)[0]
            role = "id" if column == spec.id_column else "time"
            basis[column] = f"training null_fraction {max_null[column]:.1%} ({role} column: no margin)"
            continue
        share = reference_null_share(profile, column)
        source = "reference"
        if share is None:
            share, source = spec.null_limit(column)[0], "training null_fraction"
        max_null[column] = min(1.0, share + margin)
        basis[column] = f"{source} {share:.1%} + window_null_margin {margin:.1%}"
    low = t.get("window_min_rows", MONITORING_SCHEMA["window_min_rows"][1])
    return WindowLimits(int(low or 0), t.get("window_max_rows"), max_null, basis)


def _quality(
    frame: pd.DataFrame, spec: DatasetSpec, window_id: str, dry_run: bool, limits: WindowLimits
) -> dict[str, Any]:
    """The dataset's GX suite in production form (no target, the window's own limits), on the window's inputs."""
    from modelops.collect.sources import BatchRef, content_hash
    from modelops.validate.validation import validate_frame, write_report

    batch = BatchRef(
        dataset=spec.name,
        path="",
        content_hash=content_hash(frame),
        rows=len(frame),
        columns=list(frame.columns),
        source={"window": window_id},
    )
    report, result = validate_frame(frame, spec, batch, window=limits)
    folder = catalog.report_dir(spec.name, window_id, dry_run) / "validation"
    write_report(report, result, folder)
    return {
        "ok": report.success,
        "validation_id": report.validation_id,
        "failed": report.failed,
        "report": str(folder / catalog.REPORT_HTML),
    }


def degenerate_window(
    features: pd.DataFrame, scores: np.ndarray, min_distinct_rows: int, max_duplicate_share: float
) -> dict[str, Any]:
    """Whether a window is degenerate (too few distinct rows, mostly copies, one score), with counts and reasons.

    `features` holds the window's feature columns, `scores` the served model's scores. Duplicates are
    rows equal over every feature to an earlier row (missing values equal). Reasons carry counts and
    column names only, never a value.
    """
    rows, columns = len(features), list(features.columns)
    distinct = int((~features.duplicated()).sum()) if rows and columns else rows
    copies = rows - distinct
    share = copies / rows if rows else 0.0
    finite = np.asarray(scores, dtype=float)
    finite = finite[np.isfinite(finite)]
    single = bool(len(finite) >= 2 and float(finite.max() - finite.min()) <= SINGLE_SCORE_TOLERANCE)
    constant = [c for c in columns if features[c].nunique(dropna=False) <= 1] if rows else []
    reasons = []
    if distinct < int(min_distinct_rows):
        reasons.append(
            f"{distinct} distinct row{'' if distinct == 1 else 's'} over the {len(columns)} features "
            f"(of {rows} rows), fewer than min_distinct_rows {int(min_distinct_rows)}"
        )
    if share > float(max_duplicate_share):
        reasons.append(
            f"{copies} of {rows} rows ({share:.1%}) are exact copies of an earlier row over the features, "
            f"above max_duplicate_share {float(max_duplicate_share):.0%}"
        )
    if single:
        reasons.append(
            f"the served model's {len(finite)} scores all take one value (within {SINGLE_SCORE_TOLERANCE:g})"
        )
    if reasons and constant:
        shown = ", ".join(constant[:8]) + (f" and {len(constant) - 8} more" if len(constant) > 8 else "")
        reasons.append(f"{len(constant)} of {len(columns)} features hold a single value: {shown}")
    return {
        "degenerate": bool(reasons),
        "rows": rows,
        "features": len(columns),
        "distinct_rows": distinct,
        "duplicate_rows": copies,
        "duplicate_share": share,
        "scores": len(finite),
        "single_valued_scores": single,
        "constant_features": constant,
        "min_distinct_rows": int(min_distinct_rows),
        "max_duplicate_share": float(max_duplicate_share),
        "reasons": reasons,
    }


def measurable_frame(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, str]]:
    """The window's columns as the drift tests read them, and the numeric features left out (with why).

    A numeric feature read as text is read as numbers when every present value is one (a blank is
    missing); one holding any other text is left out (the data-quality suite names it), never coerced.
    """
    measured, left_out = frame, {}
    for column in spec.numeric:
        if column not in frame or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        text = frame[column].astype(object)
        present = text.notna() & ~text.map(lambda v: isinstance(v, str) and not v.strip())
        parsed = pd.to_numeric(text.where(present, None), errors="coerce")
        bad = int((present & parsed.isna()).sum())
        if measured is frame:
            measured = frame.copy()
        if bad:
            measured = measured.drop(columns=[column])
            left_out[column] = f"{bad} values are not numbers (a data-quality failure): not measured"
        else:
            measured[column] = parsed.astype("float64")
    return measured, left_out


def _degenerate(spec: DatasetSpec, window: windows.ScoredWindow, t: dict[str, Any]) -> dict[str, Any]:
    """`degenerate_window` on a scored window: its features, and every finite score the served version computed."""
    features = window.inputs[[c for c in spec.features if c in window.inputs.columns]]
    # champion_score, not model_mask(): a chunk the scoring guard swapped whole still has the model's scores
    scores = window.predictions["champion_score"].to_numpy(dtype=float, na_value=np.nan)
    return degenerate_window(
        features,
        scores,
        int(t.get("min_distinct_rows", MONITORING_SCHEMA["min_distinct_rows"][1])),
        float(t.get("max_duplicate_share", MONITORING_SCHEMA["max_duplicate_share"][1])),
    )


# --- labels ----------------------------------------------------------------------------------


def labelled_source(spec: DatasetSpec, window_id: str) -> str | None:
    """How a window's outcomes can be read: "join" (labels + served predictions on the id), "delivered", or None.

    With an id column, labels arriving later are joined to the served predictions. Without one they
    cannot be: only a window delivered with its target beside the inputs (`labeled/<window>.parquet`) counts.
    """
    return windows.labelled_source(spec, window_id)


def _labelled_window(spec: DatasetSpec, upto: str, evaluated: set[str]) -> str | None:
    """The newest scored window up to `upto` whose labels arrived and were not judged before."""
    for window_id in reversed([w for w in windows.list_windows(spec) if w <= upto]):
        if window_id not in evaluated and labelled_source(spec, window_id):
            return window_id
    return None


def _unjoinable_labels(spec: DatasetSpec, upto: str, evaluated: set[str]) -> list[str]:
    """Windows whose labels arrived on their own although the spec has no id to join them on."""
    if spec.id_column:
        return []
    return [
        w
        for w in windows.list_windows(spec)
        if w <= upto
        and w not in evaluated
        and catalog.snapshot_labels(spec.name, w).exists()
        and not labelled_source(spec, w)
    ]


def _unscored_labels(spec: DatasetSpec, upto: str, evaluated: set[str]) -> list[str]:
    """Snapshots whose labels arrived but that were never scored by the champion (nothing served to judge)."""
    scored = set(windows.list_windows(spec))
    return [
        s
        for s in catalog.list_snapshots(spec.name)
        if s <= upto and s not in evaluated and s not in scored and labelled_source(spec, s)
    ]


def load_labelled(spec: DatasetSpec, window_id: str) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """A scored window's inputs, served predictions (`served_*`) and target (every served row), or None and why not."""
    return windows.attach_labels(spec, windows.load_scored_window(spec, window_id))


def reference_of(spec: DatasetSpec, version: str) -> dict[str, Any]:
    """The stored reference profile of one registered version (the one that served a window)."""
    found = registry.model_version(spec.model_name, str(version))
    if found is None:
        raise NoChampionError(f"{spec.model_name} has no version {version!r} (it served the window being judged)")
    return registry.load_profile(found.run_id)


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


def _performance(
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
    invalid = labelled_all["served_reason"].astype(str) == "invalid_score"
    nonfinite = int(invalid.sum())
    own = windows.model_rows(
        labelled_all["served_source"], labelled_all["served_reason"], labelled_all["served_champion_score"]
    )
    labelled = labelled_all.loc[own]
    p = labelled["served_champion_score"].to_numpy(dtype=float, na_value=np.nan)
    y = target_vector(labelled, spec)
    metrics = compute_metrics(y, p, threshold)
    below = {
        name: {"value": metrics[name], "floor": floor}
        for name, floor in floors.items()
        if not np.isnan(metrics[name])
        and not (metrics[name] >= floor if higher_is_better(name) else metrics[name] <= floor)
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
    # Judged only with enough rows, both outcomes present and a finite primary metric: a one-class
    # window has no AUC, and "no drop" from a NaN must not pass for good news.
    enough = bool(len(y) >= int(t["min_labeled_rows"]) and len(np.unique(y)) == 2 and np.isfinite(metrics[primary]))
    by_source = outcomes_by_source(labelled_all, spec, threshold)
    canary = None
    if CANARY in by_source:  # reported, never a retrain signal
        champion_rows, canary_rows = by_source.get(MODEL, {}), by_source[CANARY]
        canary = {
            "champion_version": window.served_version,
            "canary_version": window.challenger_version,
            "champion_rows": int(champion_rows.get("rows", 0)),
            "canary_rows": int(canary_rows["rows"]),
            "primary": primary,
            "champion": champion_rows.get(primary, float("nan")),
            "canary": canary_rows[primary],
            "difference": canary_rows[primary] - champion_rows.get(primary, float("nan")),
        }
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
        "reference": reference,
        "reference_metrics": dict(profile["metrics"]),
        "relative_drop": float(drop),
        "performance_breach": bool(enough and drop > float(t["max_relative_drop"])),
        "below_floors": below if enough else {},
        "floors": dict(floors),
        "slices": slice_metrics(labelled, y, p, spec, primary, threshold) if len(y) else {},
        "reference_slices": profile.get("slices") or {},
        "calibration": tests,
        "calibration_breach": bool(enough and any(x["breach"] for x in tests.values())),
        "judged": enough,
        "by_source": by_source,
        "canary": canary,
    }


# --- one window ------------------------------------------------------------------------------


def _served_summary(window: windows.ScoredWindow, t: dict[str, Any]) -> dict[str, Any]:
    """Who served the window's rows, and the fallback share against its threshold."""
    p = window.predictions
    rows = len(p)
    sources = {name: int(window.source_mask(name).sum()) for name in (MODEL, CANARY, FALLBACK)}
    reasons = p.loc[window.source_mask(FALLBACK), "reason"].astype(str).value_counts()
    share = sources[FALLBACK] / rows if rows else 0.0
    limit = float(t["fallback_share"])
    return {
        "manifest": str(catalog.scoring_manifest(window.manifest["dataset"], window.snapshot)),
        "scored_at": window.manifest.get("scored_at"),
        "alias": window.manifest.get("alias"),
        "served_version": window.served_version,
        "challenger_version": window.challenger_version,
        "shadow": bool(window.manifest.get("shadow")),
        "sources": sources,
        "fallback_share": share,
        "fallback_reasons": {str(k): int(v) for k, v in reasons.items()},
        "fallback_limit": limit,
        "fallback_breach": bool(share > limit),
        "withheld_rows": int(sum(reasons.get(r, 0) for r in windows.WITHHELD_REASONS)),
        "alerts": list(window.manifest.get("alerts") or []),
    }


def _fallback_reason(served: dict[str, Any]) -> str:
    top = ", ".join(f"{r} {c}" for r, c in list(served["fallback_reasons"].items())[:4])
    return (
        f"fallback: {served['sources'][FALLBACK]} of {sum(served['sources'].values())} rows "
        f"({served['fallback_share']:.1%}) were served by the rule-based baseline, "
        f"above {served['fallback_limit']:.1%} ({top})"
    )


def _canary_rows(
    spec: DatasetSpec, window: windows.ScoredWindow, t: dict[str, Any], threshold: float
) -> dict[str, Any] | None:
    """The challenger's served canary rows, against the challenger's own reference (reported, never a signal)."""
    mask = window.source_mask(CANARY)
    if not mask.any():
        return None
    scores = window.predictions.loc[mask, "score"].to_numpy(dtype=float, na_value=np.nan)
    scores = scores[np.isfinite(scores)]
    out: dict[str, Any] = {
        "version": window.challenger_version,
        "rows": int(mask.sum()),
        "mean_score": float(scores.mean()),
    }
    try:
        profile = reference_of(spec, str(window.challenger_version))
        out["prediction"] = drift.prediction_drift(profile, scores, t)
        out["expected_accuracy"] = drift.estimate_accuracy(scores, threshold)["expected_accuracy"]
        out["reference_expected_accuracy"] = profile["expected_accuracy"]
    except Exception as exc:  # a canary without a profile is still counted
        out["note"] = f"no reference profile for v{window.challenger_version}: {type(exc).__name__}: {exc}"
    return out


def champion_tenure(model_name: str, champion: Any | None) -> dict[str, Any] | None:
    """Since when the current champion serves: the alias history (its current stint), else its `champion_since`
    tag, else the version's creation time; `source` and `note` say which. None without a champion."""
    if champion is None:
        return None
    version = str(champion.version)
    since = None
    for row in registry.alias_history(model_name):  # oldest first: the last row naming it starts its stint
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


def _multivariate(
    spec: DatasetSpec, served_version: str, frame: pd.DataFrame, t: dict[str, Any], seed: int
) -> dict[str, Any]:
    """The domain-classifier test of the window against the served version's stored reference sample."""
    from modelops.stats import multivariate

    options = t.get("domain_classifier") or {}
    if not options.get("enabled", False):
        return {"available": False, "judged": False, "drifted": False, "status": "disabled in the configuration"}
    found = registry.model_version(spec.model_name, str(served_version))
    sample = registry.load_reference_sample(found.run_id) if found is not None else None
    if sample is None:
        return {
            "available": False,
            "judged": False,
            "drifted": False,
            "status": f"not available: v{served_version} was registered without a reference sample "
            f"({registry.REFERENCE_SAMPLE_ARTIFACT}); retrain to get one",
        }
    result = multivariate.domain_classifier(sample, frame, list(spec.numeric), list(spec.categorical), options, seed)
    if not result["status"]:
        result["status"] = (
            f"AUC {result['auc']:.3f} ({result['confidence']:.0%} {result['low']:.3f}..{result['high']:.3f}) on "
            f"{result['rows_per_side']} reference and {result['rows_per_side']} window rows, {result['folds']} folds; "
            f"fires above {result['threshold']:.2f}"
        )
    return result


def _multivariate_reason(result: dict[str, Any]) -> str:
    top = ", ".join(f"{f['feature']} ({f['importance']:.3f})" for f in result["top_features"]) or "none stands out"
    return (
        f"multivariate drift: a classifier tells the window from the reference with AUC {result['auc']:.3f} "
        f"({result['confidence']:.0%} interval {result['low']:.3f}..{result['high']:.3f}, lower bound above "
        f"{result['threshold']:.2f}); what separates them most: {top}"
    )


def assess_window(
    spec: DatasetSpec,
    settings: Settings,
    window_id: str,
    thresholds: dict[str, Any],
    evaluated_labels: set[str],
    dry_run: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure one scored window from what was served; returns (report, plot data), no decision, nothing recorded.

    Nothing is scored again: prediction drift and the estimate read the served version's own scores
    (`windows.model_rows`), judged against that version's reference profile; the fallback share is
    a figure of its own; canary rows are reported apart. report["signals"] names what breached (see
    SIGNALS); report["reasons"] says it in words. The validation report goes to the window's report
    folder (a dry run's to its own).
    """
    window = windows.load_scored_window(spec, window_id)
    frame = window.inputs
    served_version = window.served_version
    profile = reference_of(spec, served_version)
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    primary = settings.evaluation["primary_metric"]
    decision = settings.decision_threshold(spec.name)  # the served decision: score >= it
    report: dict[str, Any] = {
        "dataset": spec.name,
        "window_id": window_id,
        "rows": len(frame),
        "model_name": spec.model_name,
        "model_version": served_version,
        "champion_version": str(champion.version) if champion is not None else None,
        "thresholds": thresholds,
        "decision_threshold": decision,
        "limitations": spec.limitations,
        "champion_tenure": champion_tenure(spec.model_name, champion),
    }
    report["served"] = served = _served_summary(window, thresholds)
    report["canary"] = _canary_rows(spec, window, thresholds, decision)
    limits = window_limits(spec, profile, thresholds)
    report["quality"] = quality = _quality(frame, spec, window_id, dry_run, limits)
    quality["limits"] = {"min_rows": limits.min_rows, "max_rows": limits.max_rows, "max_null": limits.max_null}
    report["degenerate"] = degenerate = _degenerate(spec, window, thresholds)
    quality["suite_ok"] = quality["ok"]  # the GX suite's own verdict; `ok` also needs a window that is no copy
    quality["ok"] = bool(quality["suite_ok"] and not degenerate["degenerate"])
    reasons: list[str] = []
    signals: list[str] = []
    fallback = [_fallback_reason(served)] if served["fallback_breach"] else []  # said last, as SIGNALS orders it
    plot: dict[str, Any] = {"frame": frame, "profile": profile, "scores": None}
    if not quality["suite_ok"]:
        signals.append("data_quality")
        failed = ", ".join(f"{f['expectation']}({f.get('column') or ''})" for f in quality["failed"])
        reasons.append(f"data quality: {len(quality['failed'])} expectations failed: {failed}")
    if degenerate["degenerate"]:  # no evidence about anything: nothing else is measured
        reasons.append(f"data quality: degenerate window: {'; '.join(degenerate['reasons'])}")
        report.update(
            data_drift=None,
            multivariate=None,
            prediction=None,
            estimate=None,
            labelled=None,
            labelled_status="not measured: the window failed data quality (degenerate window)",
            breach=True,
            signals=[s for s in SIGNALS if s in ("data_quality", DEGENERATE) or (s == "fallback" and fallback)],
            reasons=reasons + fallback,
        )
        return report, plot

    invalid = int((window.predictions["reason"].astype(str) == "invalid_score").sum())
    scores = window.model_scores()  # the served version's own scores: no baseline score among them
    report["nonfinite_scores"] = invalid
    report["model_scored_rows"] = len(scores)
    if invalid:
        signals.append("invalid_scores")
        reasons.append(
            f"invalid scores: the served model returned NaN/inf for {invalid} rows (of {len(frame)}; they fell back); "
            "drift and the estimate use its finite scores"
        )
    plot["scores"] = scores
    measured, left_out = measurable_frame(frame, spec)
    plot["frame"] = measured  # the plots read what the tests measured (a number held as text, read as one)
    data = drift.detect_drift(profile, measured, thresholds)
    report["data_drift"] = {**data.to_dict(), "not_measured": left_out}
    if data.dataset_drift:
        signals.append("data_drift")
        reasons.append(
            f"data drift: {data.drift_share:.0%} of features drifted ({', '.join(data.drifted)}) "
            f">= {thresholds['dataset_drift_share']:.0%}"
        )
    report["multivariate"] = _multivariate(spec, served_version, measured, thresholds, int(settings.training["seed"]))
    if report["multivariate"]["drifted"]:
        signals.append("multivariate_drift")
        reasons.append(_multivariate_reason(report["multivariate"]))
    report["prediction"] = drift.prediction_drift(profile, scores, thresholds)
    if report["prediction"]["drifted"]:
        signals.append("prediction_drift")
        reasons.append(
            f"prediction drift: score PSI {report['prediction']['psi']:.3f} >= {thresholds['prediction_psi']}"
            f" (KS p={report['prediction']['p_value']:.2g})"
            + (
                f"; {served['withheld_rows']} of these scores were withheld by the scoring guard"
                if served["withheld_rows"]
                else ""
            )
        )
    estimate = drift.estimate_accuracy(scores, decision)
    estimate["reference"] = profile["expected_accuracy"]
    estimate["drop"] = profile["expected_accuracy"] - estimate["expected_accuracy"]
    estimate["breach"] = bool(estimate["drop"] > float(thresholds["estimated_accuracy_drop"]))
    report["estimate"] = estimate
    if estimate["breach"]:
        signals.append("estimated_accuracy")
        reasons.append(
            f"estimated accuracy {estimate['expected_accuracy']:.3f} "
            f"(95% {estimate['low']:.3f}..{estimate['high']:.3f}) is {estimate['drop']:.3f} below reference"
        )
    report["labelled"], report["labelled_status"] = None, ""
    # labels are judged on a clean window only: they wait for the next one (nothing marks them judged)
    labelled_id = _labelled_window(spec, window_id, evaluated_labels) if quality["ok"] else None
    labelled_frame, how, counts = load_labelled(spec, labelled_id) if labelled_id else (None, "", {})
    if labelled_frame is not None:
        floors = settings.evaluation.get("floors") or {}
        labelled_window = window if labelled_id == window_id else windows.load_scored_window(spec, labelled_id)
        labelled_profile = (
            profile
            if labelled_window.served_version == served_version
            else reference_of(spec, labelled_window.served_version)
        )
        lab = _performance(
            spec, labelled_profile, labelled_window, labelled_frame, counts, primary, thresholds, floors, decision
        )
        report["labelled"] = lab
        report["labelled_status"] = (
            f"window {labelled_id} (served by v{lab['served_version']}): {how}; {lab['rows']} labelled rows of the "
            "served model judged"
            + (f", {lab['unlabelled_rows']} rows without an outcome left out" if lab["unlabelled_rows"] else "")
            + ("" if lab["judged"] else f" (fewer than {thresholds['min_labeled_rows']}: reported, not judged)")
        )
        _labelled_reasons(lab, primary, signals, reasons)
    elif not quality["ok"]:
        report["labelled_status"] = "not measured: the window failed data quality (labels wait for a clean window)"
    else:
        report["labelled_status"] = _no_labels_status(spec, window_id, evaluated_labels, how)
    if fallback:
        signals.append("fallback")
    report["signals"] = [s for s in SIGNALS if s in signals]
    report["breach"] = bool(signals)
    report["reasons"] = reasons + fallback
    return report, plot


def _labelled_reasons(lab: dict[str, Any], primary: str, signals: list[str], reasons: list[str]) -> None:
    """Signals and reason lines of a labelled result."""
    window = lab["window_id"]
    if lab["nonfinite_scores"]:
        signals.append("invalid_scores")
        reasons.append(f"invalid scores: {lab['nonfinite_scores']} scores were NaN/inf on labelled window {window}")
    if lab["performance_breach"] or lab["below_floors"]:
        signals.append("performance")
    if lab["performance_breach"]:
        reasons.append(
            f"performance: {primary} {lab['metrics'][primary]:.3f} of v{lab['served_version']} on labelled window "
            f"{window} is {lab['relative_drop']:.1%} below its reference {lab['reference']:.3f}"
        )
    for name, value in lab["below_floors"].items():
        reasons.append(
            f"performance: {name} {value['value']:.3f} on labelled window {window} misses the floor {value['floor']}"
        )
    if lab["calibration_breach"]:
        signals.append("calibration")
        worst = [
            f"{k} (gap {v['max_gap']:.3f} in {v['worst_group']})" for k, v in lab["calibration"].items() if v["breach"]
        ]
        reasons.append(f"concept drift: outcomes no longer match predicted probabilities by {', '.join(worst)}")


def _no_labels_status(spec: DatasetSpec, window_id: str, evaluated: set[str], problem: str) -> str:
    """Why this window has no labelled judgement, in words."""
    if problem:
        return f"labelled monitoring skipped: {problem}"
    stranded = _unjoinable_labels(spec, window_id, evaluated)
    if stranded:
        return (
            f"labelled monitoring skipped: labels arrived for {', '.join(stranded)} but the spec has no id_column "
            "to join them to the served predictions; deliver labeled/<window>.parquet (the inputs with the target, "
            "in the scored row order) instead"
        )
    unscored = _unscored_labels(spec, window_id, evaluated)
    if unscored:
        return (
            f"labelled monitoring skipped: labels arrived for {', '.join(unscored)}, which the champion never scored "
            "(no served predictions to judge)"
        )
    if not spec.id_column:
        return "no labelled window waiting (no id_column: only windows delivered as labeled/<window>.parquet count)"
    return "no labelled window waiting"


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
    if not asking or not set(asking) <= set(DRIFT_SIGNALS) or not lab or not lab["judged"]:
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
    out: dict[str, float] = {
        "rows": report["rows"],
        "breach": float(report["breach"]),
        "data_quality_ok": float(report["quality"]["ok"]),
    }
    degenerate = report.get("degenerate")
    if degenerate:
        out["degenerate_window"] = float(degenerate["degenerate"])
        out["distinct_rows"] = float(degenerate["distinct_rows"])
        out["duplicate_share"] = float(degenerate["duplicate_share"])
    if "nonfinite_scores" in report:
        out["nonfinite_scores"] = float(report["nonfinite_scores"])
    if report.get("data_drift"):
        out["drift_share"] = report["data_drift"]["drift_share"]
        for column, stats in report["data_drift"]["columns"].items():
            out[f"effect_{column}"] = stats["effect"]
    multivariate = report.get("multivariate") or {}
    if multivariate.get("judged"):
        out["multivariate_auc"] = multivariate["auc"]
        out["multivariate_auc_low"] = multivariate["low"]
        out["multivariate_drift"] = float(multivariate["drifted"])
    age = (decision or {}).get("champion_age")
    if age:
        out["champion_age_days"] = age["days"]
        out["champion_max_age_days"] = age["max_days"]
    if report.get("prediction"):
        out["prediction_psi"] = report["prediction"]["psi"]
        out["prediction_ks"] = report["prediction"]["ks"]
    if report.get("estimate"):
        out["expected_accuracy"] = report["estimate"]["expected_accuracy"]
    served = report.get("served")
    if served:
        out["fallback_share"] = served["fallback_share"]
        out.update({f"rows_{source}": float(count) for source, count in served["sources"].items()})
    if report.get("canary"):
        out["canary_rows"] = float(report["canary"]["rows"])
        if "prediction" in report["canary"]:
            out["canary_prediction_psi"] = report["canary"]["prediction"]["psi"]
    if report.get("labelled"):
        lab = report["labelled"]
        out.update({f"labelled_{k}": v for k, v in lab["metrics"].items()})
        out["labelled_rows"] = float(lab["rows"])
        out["labelled_unlabelled_rows"] = float(lab["unlabelled_rows"])
        for source, figures in (lab.get("by_source") or {}).items():  # what was served, each on its own rows
            out[f"labelled_{source}_rows"] = float(figures["rows"])
            out[f"labelled_{source}_{lab['primary']}"] = figures[lab["primary"]]
            out[f"labelled_{source}_accuracy"] = figures["accuracy"]
    return out
