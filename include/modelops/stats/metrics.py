"""Metrics: every metric the config may name, its direction, and the decision at a threshold.

The metric names are declared in `modelops.config.settings` (METRICS, THRESHOLD_METRICS); this
module holds how each is computed. Plain arrays in, plain floats out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelops.config.settings import METRICS, THRESHOLD_METRICS

EPS = 1e-6


def decide(proba: np.ndarray, threshold: float) -> np.ndarray:
    """The decision per row, as scoring serves it: 1 where score >= threshold, else 0."""
    return (np.asarray(proba, dtype=float) >= float(threshold)).astype(int)


def _decided(fn: Callable) -> Callable[[np.ndarray, np.ndarray, float], float]:
    def metric(y: np.ndarray, proba: np.ndarray, threshold: float) -> float:
        return float(fn(y, decide(proba, threshold)))

    return metric


def _of_score(fn: Callable) -> Callable[[np.ndarray, np.ndarray, float], float]:
    return lambda y, proba, _threshold: fn(y, proba)


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba)) if len(np.unique(y)) == 2 else float("nan")


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(proba, EPS, 1 - EPS), labels=[0, 1]))


def _brier(y: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean((proba - y) ** 2))


def _metric_table() -> dict[str, tuple[Callable[[np.ndarray, np.ndarray, float], float], bool]]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    def zero_safe(fn):
        return lambda y, p: fn(y, p, zero_division=0)

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


def score(metric: str, y: np.ndarray, proba: np.ndarray, threshold: float | None = None) -> float:
    """One metric of positive-class probabilities against 0/1 labels (a decision metric needs the threshold)."""
    if threshold is None and metric in THRESHOLD_METRICS:
        raise ValueError(f"{metric} judges decisions: it needs the dataset's decision threshold (scoring.threshold)")
    return _metric_table()[metric][0](np.asarray(y), np.asarray(proba, dtype=float), threshold)


def compute_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """All metrics, the decision ones at `threshold`; empty input gives NaNs rather than an exception."""
    if len(y) == 0:
        return dict.fromkeys(METRICS, float("nan"))
    return {name: score(name, y, proba, threshold) for name in METRICS}


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old`, positive when better whatever the direction."""
    return new - old if higher_is_better(metric) else old - new
