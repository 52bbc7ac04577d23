"""What a window is judged from: the served version's reference, the data-quality suite, the degenerate-window
check, the frame the drift tests read, who served the rows, the canary rows and the domain-classifier test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelops.collect import windows
from modelops.config.models import MonitoringSection
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.stats import drift
from modelops.store import artifacts, registry

if TYPE_CHECKING:
    from modelops.validate.suite import WindowLimits

MODEL, CANARY, FALLBACK = "model", "canary", "fallback"  # scoring's sources
SINGLE_SCORE_TOLERANCE = 1e-9  # scores this close together are one value: the model is not telling rows apart


class NoChampionError(RuntimeError):
    """There is no champion to monitor yet."""


def reference_of(spec: DatasetSpec, version: str) -> dict[str, Any]:
    """The stored reference profile of one registered version (the one that served a window)."""
    found = registry.model_version(spec.model_name, str(version))
    if found is None:
        raise NoChampionError(f"{spec.model_name} has no version {version!r} (it served the window being judged)")
    return artifacts.load_profile(found.run_id)


def validate_window(
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


def degenerate_of(spec: DatasetSpec, window: windows.ScoredWindow, t: dict[str, Any]) -> dict[str, Any]:
    """`degenerate_window` on a scored window: its features, and every finite score the served version computed."""
    features = window.inputs[[c for c in spec.features if c in window.inputs.columns]]
    # champion_score, not model_mask(): a chunk the scoring guard swapped whole still has the model's scores
    scores = window.predictions["champion_score"].to_numpy(dtype=float, na_value=np.nan)
    return degenerate_window(
        features,
        scores,
        int(t.get("min_distinct_rows", MonitoringSection.model_fields["min_distinct_rows"].default)),
        float(t.get("max_duplicate_share", MonitoringSection.model_fields["max_duplicate_share"].default)),
    )


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


def served_summary(window: windows.ScoredWindow, t: dict[str, Any]) -> dict[str, Any]:
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


def canary_rows(
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


def domain_classifier_test(
    spec: DatasetSpec, served_version: str, frame: pd.DataFrame, t: dict[str, Any], seed: int
) -> dict[str, Any]:
    """The domain-classifier test of the window against the served version's stored reference sample."""
    from modelops.stats import multivariate

    options = t.get("domain_classifier") or {}
    if not options.get("enabled", False):
        return {"available": False, "judged": False, "drifted": False, "status": "disabled in the configuration"}
    found = registry.model_version(spec.model_name, str(served_version))
    sample = artifacts.load_reference_sample(found.run_id) if found is not None else None
    if sample is None:
        return {
            "available": False,
            "judged": False,
            "drifted": False,
            "status": f"not available: v{served_version} was registered without a reference sample "
            f"({artifacts.REFERENCE_SAMPLE_ARTIFACT}); retrain to get one",
        }
    result = multivariate.domain_classifier(sample, frame, list(spec.numeric), list(spec.categorical), options, seed)
    if not result["status"]:
        result["status"] = (
            f"AUC {result['auc']:.3f} ({result['confidence']:.0%} {result['low']:.3f}..{result['high']:.3f}) on "
            f"{result['rows_per_side']} reference and {result['rows_per_side']} window rows, {result['folds']} folds; "
            f"fires above {result['threshold']:.2f}"
        )
    return result
