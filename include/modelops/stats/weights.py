"""Row weights: survey weights read from a frame, a turnout model's scores as electorate weights, and a weighted
mean with its interval.

A survey over-represents some groups; its weights (population share / sample share) make the sample's
estimates the population's. A voter file has no such weights, but a model of who votes does: weighting a
support model's metrics by each voter's turnout score judges it on the expected electorate instead of the
whole file (`electorate_weights`). Every metric of `stats.metrics` takes either as `sample_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class WeightError(ValueError):
    """Weights that cannot be used: the message names the column and how many rows, never a value."""


def survey_weights(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The `column` of `frame` as weights: every value a finite number > 0, else a WeightError naming the column
    and the count of missing, non-numeric, infinite and non-positive weights (a missing weight is never 1)."""
    if column not in frame.columns:
        raise WeightError(f"weight column {column!r} is not in the frame")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = frame[column].notna().to_numpy()
    problems = {
        "missing": int((~present).sum()),
        "not a number": int((present & np.isnan(values)).sum()),
        "infinite": int(np.isinf(values).sum()),
        "zero or negative": int((np.isfinite(values) & (values <= 0)).sum()),
    }
    found = {k: v for k, v in problems.items() if v}
    if found:
        counts = ", ".join(f"{n} {what}" for what, n in found.items())
        raise WeightError(
            f"weight column {column!r}: {sum(found.values())} of {len(frame)} rows have no usable weight "
            f"({counts}); a weight must be a finite number > 0"
        )
    return values


def electorate_weights(turnout_scores: np.ndarray) -> np.ndarray:
    """A turnout model's scores as weights: each voter counts by their probability of voting, so a metric
    weighted by them judges a model on the expected electorate (scores must be finite, within [0, 1])."""
    scores = np.asarray(turnout_scores, dtype=float)
    bad = int((~np.isfinite(scores) | (scores < 0) | (scores > 1)).sum())
    if bad:
        raise WeightError(f"turnout scores: {bad} of {len(scores)} are missing or outside [0, 1]")
    if len(scores) and not scores.sum() > 0:
        raise WeightError(f"turnout scores: all {len(scores)} are zero (an electorate of nobody)")
    return scores


def effective_rows(weights: np.ndarray) -> float:
    """Kish's effective sample size, (sum w)^2 / sum w^2: how many equally weighted rows the weights are worth."""
    w = np.asarray(weights, dtype=float)
    squares = float((w**2).sum())
    return float(w.sum() ** 2 / squares) if squares > 0 else 0.0


@dataclass(frozen=True)
class Estimate:
    """A (weighted) mean with its normal-approximation interval and the effective number of rows behind it."""

    value: float
    ci_low: float
    ci_high: float
    effective_rows: float


def weighted_mean(values: np.ndarray, weights: np.ndarray | None = None, confidence: float = 0.95) -> Estimate:
    """The weighted mean of `values` and its interval (the ratio estimator's linearised standard error,
    sqrt(sum w^2 (x - mean)^2) / sum w, as survey software computes it); no weights: the plain mean."""
    from scipy.stats import norm

    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    total = float(w.sum())
    if len(x) == 0 or total <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0.0)
    mean = float((w * x).sum() / total)
    n = len(x)
    # n / (n - 1): the with-replacement correction survey software applies to the linearised variance
    correction = n / (n - 1) if n > 1 else float("nan")
    se = float(np.sqrt(correction * ((w * (x - mean)) ** 2).sum()) / total)
    z = float(norm.ppf(0.5 + confidence / 2))
    return Estimate(mean, mean - z * se, mean + z * se, effective_rows(w))
