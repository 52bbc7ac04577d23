"""Metrics: every metric the config may name, its direction, and the decision at a threshold.

The metric names are declared in `modelops.config.settings` (METRICS, THRESHOLD_METRICS); this
module holds how each is computed. Plain arrays in, plain floats out. Every metric takes an optional
`sample_weight` (any finite, non-negative vector: survey weights, or a turnout model's scores as the
electorate's weights, `stats.weights`); without one every row counts once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelops.config.settings import METRICS, THRESHOLD_METRICS

EPS = 1e-6


def decide(proba: np.ndarray, threshold: float) -> np.ndarray:
    """The decision per row, as scoring serves it: 1 where score >= threshold, else 0."""
    return (np.asarray(proba, dtype=float) >= float(threshold)).astype(int)


Weights = np.ndarray | None
Metric = Callable[[np.ndarray, np.ndarray, float, Weights], float]


def _decided(fn: Callable) -> Metric:
    def metric(y: np.ndarray, proba: np.ndarray, threshold: float, w: Weights) -> float:
        return float(fn(y, decide(proba, threshold), sample_weight=w))

    return metric


def _of_score(fn: Callable) -> Metric:
    return lambda y, proba, _threshold, w: fn(y, proba, w)


def _roc_auc(y: np.ndarray, proba: np.ndarray, w: Weights) -> float:
    from sklearn.metrics import roc_auc_score

    present = y if w is None else y[w > 0]  # a class only zero weights hold is absent
    return float(roc_auc_score(y, proba, sample_weight=w)) if len(np.unique(present)) == 2 else float("nan")


def _log_loss(y: np.ndarray, proba: np.ndarray, w: Weights) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(proba, EPS, 1 - EPS), labels=[0, 1], sample_weight=w))


def _brier(y: np.ndarray, proba: np.ndarray, w: Weights) -> float:
    return float(np.average((proba - y) ** 2, weights=w))


def checked_weights(weights: np.ndarray | None, rows: int) -> Weights:
    """`weights` as floats, one per row, finite and >= 0 with a positive total; a ValueError says what is wrong
    (counts only, never a value). None stays None (every row counts once)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (rows,):
        raise ValueError(f"sample weights: {w.shape[0] if w.ndim == 1 else w.shape} weights for {rows} rows")
    bad = int((~np.isfinite(w) | (w < 0)).sum())
    if bad:
        raise ValueError(f"sample weights: {bad} of {rows} are missing, infinite or negative")
    if rows and not w.sum() > 0:
        raise ValueError(f"sample weights: all {rows} are zero")
    return w


def _metric_table() -> dict[str, tuple[Metric, bool]]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    def zero_safe(fn):
        return lambda y, p, sample_weight: fn(y, p, zero_division=0, sample_weight=sample_weight)

    return {
        "accuracy": (_decided(accuracy_score), True),
        "precision": (_decided(zero_safe(precision_score)), True),
        "recall": (_decided(zero_safe(recall_score)), True),
        "f1": (_decided(zero_safe(f1_score)), True),
        "roc_auc": (_of_score(_roc_auc), True),
        "log_loss": (_of_score(_log_loss), False),
        "brier": (_of_score(_brier), False),
    }


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: False for losses."""
    return _metric_table()[metric][1]


def score(
    metric: str,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float | None = None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """One metric of positive-class probabilities against 0/1 labels (a decision metric needs the threshold),
    each row counted by its `sample_weight` when given (`checked_weights`)."""
    if threshold is None and metric in THRESHOLD_METRICS:
        raise ValueError(f"{metric} judges decisions: it needs the dataset's decision threshold (scoring.threshold)")
    y = np.asarray(y)
    w = checked_weights(sample_weight, len(y))
    return _metric_table()[metric][0](y, np.asarray(proba, dtype=float), threshold, w)


def compute_metrics(
    y: np.ndarray, proba: np.ndarray, threshold: float, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """All metrics, the decision ones at `threshold`, weighted by `sample_weight` when given; empty input gives
    NaNs rather than an exception."""
    if len(y) == 0:
        return dict.fromkeys(METRICS, float("nan"))
    w = checked_weights(sample_weight, len(y))
    return {name: score(name, y, proba, threshold, w) for name in METRICS}


def score_faults(proba: np.ndarray) -> dict[str, int]:
    """How many scores are not probabilities: missing (NaN), infinite, or finite but outside [0, 1]."""
    p = np.asarray(proba, dtype=float)
    finite = np.isfinite(p)
    return {
        "rows": int(p.size),
        "missing": int(np.isnan(p).sum()),
        "infinite": int(np.isinf(p).sum()),
        "outside_unit": int((finite & ((p < 0) | (p > 1))).sum()),
    }


def metrics_or_nan(
    y: np.ndarray, proba: np.ndarray, threshold: float, sample_weight: np.ndarray | None = None
) -> dict[str, float]:
    """`compute_metrics`, except that scores with a NaN or infinity give NaN for every metric (undefined) instead
    of scikit-learn's bare error, so training reaches the evaluation's numerical check, which names the fault."""
    if not np.isfinite(np.asarray(proba, dtype=float)).all():
        return dict.fromkeys(METRICS, float("nan"))
    return compute_metrics(y, proba, threshold, sample_weight)


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old`, positive when better whatever the direction."""
    return new - old if higher_is_better(metric) else old - new
