"""Multivariate drift: can a classifier tell the reference rows from a window's rows? (a domain classifier)

Every per-column test in `drift` compares one marginal distribution at a time, so a change in how
features move together (two columns that were independent become coupled, each keeping its own
distribution) passes them all. A classifier trained to separate a bounded sample of the reference
rows (label 0) from the window's rows (label 1) sees the joint distribution: out-of-fold, its AUC
is about 0.5 when the two are indistinguishable and rises with any difference it can learn.

The AUC comes from stratified k-fold out-of-fold predictions on a balanced subsample, with a DeLong
confidence interval; the signal fires only when the interval's lower bound exceeds 0.5 + a margin,
so sampling noise and a trivially small difference both stay quiet. The features that separate the
two most (permutation importance on the held-out folds) say what moved.

The reference sample is stored with each model version at training time (`reference_sample`,
features only: no id, no PII); for a version without one the test reports itself "not available"
instead of failing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from modelops.stats.drift import OTHER, category_labels

MAX_LEVELS = 250  # HistGradientBoosting's categorical features take at most 255 levels
MIN_ROWS_PER_SIDE = 100  # fewer: the AUC's interval is too wide to say anything


def reference_sample(frame: pd.DataFrame, columns: list[str], rows: int, seed: int) -> pd.DataFrame:
    """A seeded random sample of at most `rows` rows of `columns` (the features), index reset."""
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise KeyError(f"reference sample: columns {missing} are not in the reference frame")
    picked = frame[columns]
    if len(picked) > rows:
        keep = np.sort(np.random.default_rng([seed, 11]).choice(len(picked), rows, replace=False))
        picked = picked.iloc[keep]
    return picked.reset_index(drop=True)


def _design(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """One float matrix of both frames: numeric columns as numbers (NaN kept), categories as shared codes.

    A missing category is its own level (`drift.MISSING`), as in the per-column tests; levels beyond
    the MAX_LEVELS most common are pooled into `drift.OTHER`.
    """
    columns, is_categorical = [], []
    for column in numeric:
        values = [f[column].to_numpy(dtype=float, na_value=np.nan) for f in (reference, current)]
        columns.append(np.concatenate(values))
        is_categorical.append(False)
    for column in categorical:
        labels = np.concatenate([category_labels(f[column]) for f in (reference, current)])
        counts = pd.Series(labels).value_counts()
        if len(counts) > MAX_LEVELS:
            labels = np.where(np.isin(labels, counts.index[: MAX_LEVELS - 1]), labels, OTHER)
        codes, _ = pd.factorize(labels)
        columns.append(codes.astype(float))
        is_categorical.append(True)
    return np.column_stack(columns), np.asarray(is_categorical, dtype=bool)


def auc_interval(y: np.ndarray, scores: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """AUC with DeLong's standard error and a two-sided normal interval (clipped to [0, 1]).

    DeLong: each positive's share of negatives it outranks (ties half) and each negative's share of
    positives outranking it; the AUC's variance is var(positives' shares)/m + var(negatives')/n.
    """
    from scipy.stats import norm, rankdata

    y = np.asarray(y, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    pos, neg = scores[y], scores[~y]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return {"auc": float("nan"), "se": float("nan"), "low": float("nan"), "high": float("nan")}
    all_ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (all_ranks[:m] - rankdata(pos)) / n  # per positive: negatives below it
    v01 = 1 - (all_ranks[m:] - rankdata(neg)) / m  # per negative: positives above it
    auc = float(v10.mean())
    se = math.sqrt(float(np.var(v10, ddof=1)) / m + float(np.var(v01, ddof=1)) / n)
    z = float(norm.ppf(0.5 + confidence / 2))
    return {"auc": auc, "se": se, "low": max(0.0, auc - z * se), "high": min(1.0, auc + z * se)}


def _fold_auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def _classifier(is_categorical: np.ndarray, seed: int) -> Any:
    """A small gradient-boosted classifier: categories as such (shared codes), missing numbers handled natively."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        early_stopping=False,
        categorical_features=is_categorical if is_categorical.any() else None,
        random_state=seed,
    )


def domain_classifier(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    options: dict[str, Any],
    seed: int = 0,
) -> dict[str, Any]:
    """Reference (0) vs current (1) rows: cross-validated AUC, its interval, the verdict, the top features.

    options: max_rows, folds, auc_margin, confidence, top_features (monitoring.domain_classifier).
    A balanced subsample of at most max_rows/2 rows per side; with fewer than MIN_ROWS_PER_SIDE on a
    side the result is reported as not judged (`judged` False, never `drifted`).
    """
    numeric = [c for c in numeric if c in reference and c in current]
    categorical = [c for c in categorical if c in reference and c in current]
    features = [*numeric, *categorical]
    margin = float(options["auc_margin"])
    per_side = min(int(options["max_rows"]) // 2, len(reference), len(current))
    out = _unjudged(features, per_side, len(reference), len(current), options)
    if not features:
        out["status"] = "no feature is in both the reference sample and the window"
        return out
    if per_side < MIN_ROWS_PER_SIDE:
        out["status"] = (
            f"too few rows to judge: {len(reference)} reference and {len(current)} window rows "
            f"(need {MIN_ROWS_PER_SIDE} on each side)"
        )
        return out
    rng = np.random.default_rng([seed, 13])
    ref = reference.iloc[np.sort(rng.choice(len(reference), per_side, replace=False))]
    cur = current.iloc[np.sort(rng.choice(len(current), per_side, replace=False))]
    x, is_categorical = _design(ref, cur, numeric, categorical)
    y = np.repeat([0, 1], per_side)
    oof, fold_aucs, held_out_parts = _cross_validate(x, y, is_categorical, int(options["folds"]), seed)
    interval = auc_interval(y, oof, float(options["confidence"]))
    out.update(interval, fold_aucs=fold_aucs, judged=True)
    out["drifted"] = bool(interval["low"] > 0.5 + margin)
    if interval["auc"] > 0.5 + margin / 2:  # something separates them: say what (a quiet window needs no ranking)
        importance = _permutation_importance(x, y, oof, held_out_parts, rng)
        order = np.argsort(-importance)[: int(options.get("top_features", 5))]
        out["top_features"] = [
            {"feature": features[j], "importance": float(importance[j])} for j in order if importance[j] > 0
        ]
    return out


def _unjudged(
    features: list[str], per_side: int, reference_rows: int, window_rows: int, options: dict[str, Any]
) -> dict[str, Any]:
    """The result's record before any fit: not judged, not drifted, no AUC yet."""
    margin = float(options["auc_margin"])
    return {
        "available": True,
        "judged": False,
        "drifted": False,
        "features": features,
        "rows_per_side": per_side,
        "reference_rows": reference_rows,
        "window_rows": window_rows,
        "folds": int(options["folds"]),
        "auc_margin": margin,
        "threshold": 0.5 + margin,
        "confidence": float(options["confidence"]),
        "auc": float("nan"),
        "low": float("nan"),
        "high": float("nan"),
        "se": float("nan"),
        "fold_aucs": [],
        "top_features": [],
        "status": "",
    }


def _cross_validate(
    x: np.ndarray, y: np.ndarray, is_categorical: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, list[float], list[tuple[Any, np.ndarray]]]:
    """Out-of-fold scores, each fold's AUC, and each fold's model with its held-out rows."""
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    oof = np.zeros(len(y))
    fold_aucs = []
    held_out_parts = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # One thread: a few thousand rows are too few for OpenMP to pay, and on a busy machine its waiting
    # threads made each fit 3-8 times slower (measured on 2 shared cores).
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splitter.split(x, y):
            model = _classifier(is_categorical, seed).fit(x[train], y[train])
            oof[test] = model.predict_proba(x[test])[:, 1]
            fold_aucs.append(_fold_auc(y[test], oof[test]))
            held_out_parts.append((model, test))
    return oof, fold_aucs, held_out_parts


def _permutation_importance(
    x: np.ndarray,
    y: np.ndarray,
    oof: np.ndarray,
    held_out_parts: list[tuple[Any, np.ndarray]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Each feature's AUC lost when its column is shuffled in the held-out rows, averaged over the folds."""
    from threadpoolctl import threadpool_limits

    importance = np.zeros(x.shape[1])
    with threadpool_limits(limits=1, user_api="openmp"):
        for model, test in held_out_parts:
            base = _fold_auc(y[test], oof[test])
            for j in range(x.shape[1]):
                shuffled = x[test].copy()
                shuffled[:, j] = rng.permutation(shuffled[:, j])  # breaks column j's link to the others
                importance[j] += base - _fold_auc(y[test], model.predict_proba(shuffled)[:, 1])
    return importance / len(held_out_parts)
