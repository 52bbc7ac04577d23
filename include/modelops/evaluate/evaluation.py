"""Evaluation: metrics, baselines, per-slice quality, the paired champion test and the promotion gate.

Everything here takes arrays and plain dicts and returns plain numbers and a verdict. The metrics of
`config.THRESHOLD_METRICS` judge decisions (score >= the dataset's decision threshold, the one scoring
serves): every function computing them takes that threshold, none assumes one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.models import EvaluationSection
from modelops.config.settings import METRICS, DatasetSpec
from modelops.core.rules import rule_holds
from modelops.evaluate.fairness import describe as describe_fairness
from modelops.stats.drift import slice_labels
from modelops.stats.metrics import (
    EPS,
    compute_metrics,
    decide,
    higher_is_better,
    improvement,
    score,
    score_faults,
)
from modelops.stats.weights import effective_rows, weighted_mean

# --- baselines -------------------------------------------------------------------------------


def _rows(weights: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if weights is None else weights[idx]


@dataclass(frozen=True)
class RuleBaseline:
    """Rule-based model: the positive rate where the rule holds, and where it does not."""

    rule: dict[str, Any]
    rate_if_true: float
    rate_if_false: float

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probability per row."""
        return np.where(rule_holds(frame, self.rule), self.rate_if_true, self.rate_if_false)


def fit_rule_baseline(
    frame: pd.DataFrame, y: np.ndarray, rule: dict[str, Any], sample_weight: np.ndarray | None = None
) -> RuleBaseline:
    """Estimate the rule's two rates on training rows, weighted when given (falling back to the base rate if empty)."""
    holds = rule_holds(frame, rule)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    base = base_rate(y, w) if len(y) else 0.5
    rate_true = base_rate(y[holds], _rows(w, holds)) if holds.any() else base
    rate_false = base_rate(y[~holds], _rows(w, ~holds)) if (~holds).any() else base
    return RuleBaseline(rule=rule, rate_if_true=rate_true, rate_if_false=rate_false)


def base_rate(y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """The (weighted) share of positive outcomes: the majority baseline's score for every row."""
    return float(np.average(np.asarray(y, dtype=float), weights=sample_weight))


# --- slices ----------------------------------------------------------------------------------


def slice_metrics(
    frame: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    spec: DatasetSpec,
    metric: str,
    threshold: float | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per protected column and slice: rows, positive rate, mean score and the metric (a decision one at threshold)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for column, bins in spec.protected.items():
        if column not in frame:
            continue
        labels = slice_labels(frame, column, bins).to_numpy()
        out[column] = {}
        for label in sorted(set(labels)):
            mask = labels == label
            out[column][label] = {
                "rows": int(mask.sum()),
                "positive_rate": float(y[mask].mean()),
                "mean_score": float(proba[mask].mean()),
                metric: score(metric, y[mask], proba[mask], threshold),
            }
    return out


def compare_slices(
    challenger: dict[str, dict[str, dict[str, float]]],
    champion: dict[str, dict[str, dict[str, float]]],
    metric: str,
    tolerance: float,
    min_rows: int,
) -> list[dict[str, Any]]:
    """Slices where the challenger loses more than `tolerance` to the champion (gated sizes only)."""
    worse = []
    for column, slices in challenger.items():
        for label, stats in slices.items():
            old = champion.get(column, {}).get(label)
            if old is None or stats["rows"] < min_rows:
                continue
            new_value, old_value = stats[metric], old[metric]
            if math.isnan(new_value) or math.isnan(old_value):
                continue
            gain = improvement(metric, new_value, old_value)
            if gain < -tolerance:
                worse.append(
                    {
                        "column": column,
                        "slice": label,
                        "rows": stats["rows"],
                        "challenger": new_value,
                        "champion": old_value,
                        "change": gain,
                    }
                )
    return worse


# --- champion comparison ---------------------------------------------------------------------


def paired_bootstrap(
    y: np.ndarray,
    proba_new: np.ndarray,
    proba_old: np.ndarray,
    metric: str,
    resamples: int,
    confidence: float,
    max_rows: int,
    seed: int,
    threshold: float | None = None,
    sample_weight: np.ndarray | None = None,
) -> dict[str, float]:
    """CI of the improvement (new over old) in `metric` (a decision one at `threshold`), resampling the same rows
    for both models; each row counted by its `sample_weight` when given (a resample keeps its rows' weights)."""
    rng = np.random.default_rng(seed)
    y, proba_new, proba_old = np.asarray(y), np.asarray(proba_new), np.asarray(proba_old)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if len(y) > max_rows:  # a fixed random subset keeps the cost bounded on large holdouts
        keep = rng.choice(len(y), size=max_rows, replace=False)
        y, proba_new, proba_old, w = y[keep], proba_new[keep], proba_old[keep], _rows(w, keep)
    paired = paired_improvements(y, proba_new, {"old": proba_old}, metric, resamples, confidence, rng, threshold, w)
    return {**paired["old"], "rows": len(y)}


def paired_improvements(
    y: np.ndarray,
    new: np.ndarray,
    olds: dict[str, np.ndarray],
    metric: str,
    resamples: int,
    confidence: float,
    rng: np.random.Generator,
    threshold: float | None = None,
    sample_weight: np.ndarray | None = None,
    chunk: int = 50,
) -> dict[str, dict[str, float]]:
    """Per name in `olds`: the improvement of `new` over those scores in `metric` on every row, and its percentile
    interval from resampling the same rows for both (paired): {improvement, ci_low, ci_high, resamples}.

    Every name is judged on the same resamples (`new`'s metric computed once per resample); a resample the metric
    is undefined on is left out (`resamples` counts the ones kept). A decision metric needs `threshold`."""
    point = score(metric, y, new, threshold, sample_weight)
    cut = 0.5 if threshold is None else threshold  # read only by the decision metrics, which `score` made ask for one
    parts: dict[str, list[np.ndarray]] = {name: [] for name in olds}
    for counts in resampled_counts(rng, len(y), resamples, chunk):
        weights = counts if sample_weight is None else counts * sample_weight
        ours = weighted_metrics(y, new, weights, cut)[metric]
        for name, scores in olds.items():
            parts[name].append(improvement(metric, ours, weighted_metrics(y, scores, weights, cut)[metric]))
    out = {}
    for name, scores in olds.items():
        diffs = np.concatenate(parts[name]) if parts[name] else np.array([])
        low, high, kept = percentile_interval(diffs, confidence)
        gain = improvement(metric, point, score(metric, y, scores, threshold, sample_weight))
        out[name] = {"improvement": float(gain), "ci_low": low, "ci_high": high, "resamples": kept}
    return out


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """The two-sided percentile interval of the bootstrap draws that are defined (NaN left out), and their count;
    NaN bounds when none is."""
    values = draws[~np.isnan(draws)]
    if not len(values):
        return float("nan"), float("nan"), 0
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)), len(values)


def resampled_counts(rng: np.random.Generator, n: int, resamples: int, chunk: int = 50) -> Iterator[np.ndarray]:
    """Seeded bootstrap resamples of `n` rows as row counts, `chunk` resamples (rows of the array) at a time.

    A resample drawn as `rng.integers(0, n, n)` positions is the same rows as its counts: metrics weighted by
    the counts (`weighted_metrics`) equal the metrics of the drawn rows.
    """
    for start in range(0, resamples if n else 0, chunk):
        size = min(chunk, resamples - start)
        yield np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)])


def weighted_metrics(y: np.ndarray, proba: np.ndarray, weights: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Every metric of `config.METRICS` (decisions at `threshold`) under each row of `weights` (resamples x rows).

    A bootstrap resample is a vector of row counts, so all resamples are weighted sums over the same
    rows: a few matrix products instead of one scikit-learn call per metric and resample (40 000 rows
    x 400 resamples: about 2 s instead of a minute). With weights of one it equals `compute_metrics`.
    """
    y = np.asarray(y, dtype=float)
    proba = np.asarray(proba, dtype=float)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    pred = decide(proba, threshold).astype(float)
    total = w.sum(axis=1)
    tp, fp, fn = w @ (y * pred), w @ ((1 - y) * pred), w @ (y * (1 - pred))
    tn = total - tp - fp - fn

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # zero_division=0, as compute_metrics
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    clipped = np.clip(proba, EPS, 1 - EPS)
    losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    # ROC AUC: P(positive scores above negative) + half the ties, summed over groups of equal scores
    order = np.argsort(proba, kind="stable")
    sorted_scores, ys = proba[order], y[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ws = w[:, order]
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1 - ys), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    auc = np.full(len(w), np.nan)
    np.divide((pos * (below + 0.5 * neg)).sum(axis=1), pairs, out=auc, where=pairs > 0)
    values = {
        "accuracy": ratio(tp + tn, total),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": auc,
        "log_loss": ratio(w @ losses, total),
        "brier": ratio(w @ (proba - y) ** 2, total),
    }
    empty = ~(total > 0)  # a resample whose rows all weigh 0 measures nothing (compute_metrics refuses it)
    for metric in values.values():
        metric[empty] = np.nan
    return values


def bootstrap_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    resamples: int,
    confidence: float,
    max_rows: int,
    seed: int,
    chunk: int = 50,
    *,
    threshold: float,
    sample_weight: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Per metric: the value on every row and a seeded percentile-bootstrap interval {value, ci_low, ci_high}.

    The interval resamples at most `max_rows` rows (a fixed seeded subset; then `rows` says so), so the
    cost is bounded on large holdouts; an empty input gives NaNs. With `sample_weight`, the value and every
    resample are weighted (a resample's row counts times the rows' weights): no extra cost.
    """
    y, proba = np.asarray(y), np.asarray(proba, dtype=float)
    point = compute_metrics(y, proba, threshold, sample_weight)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:
        keep = rng.choice(len(y), size=max_rows, replace=False)
        y, proba, w = y[keep], proba[keep], w[keep]
    n = len(y)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for counts in resampled_counts(rng, n, resamples, chunk):
        for name, values in weighted_metrics(y, proba, counts * w, threshold).items():
            draws[name].append(values)
    out = {}
    for name in METRICS:
        low, high, kept = percentile_interval(np.concatenate(draws[name]) if draws[name] else np.array([]), confidence)
        out[name] = {"value": point[name], "ci_low": low, "ci_high": high, "rows": n, "resamples": kept}
    return out


def weighted_figures(
    y: np.ndarray,
    proba: np.ndarray,
    sample_weight: np.ndarray,
    baselines: dict[str, np.ndarray],
    evaluation: EvaluationSection,
    seed: int,
    *,
    threshold: float,
) -> dict[str, Any]:
    """The holdout judged with every row counted by its weight (survey weights, or turnout scores as electorate
    weights): every metric with its bootstrap interval, the baselines' (`baselines`: name -> their scores), the
    weighted outcome rate and mean score with their intervals, and the rows the weights are worth (Kish)."""
    confidence = float(evaluation.confidence)
    intervals = bootstrap_metrics(
        y,
        proba,
        int(evaluation.bootstrap_resamples),
        confidence,
        int(evaluation.bootstrap_max_rows),
        seed,
        threshold=threshold,
        sample_weight=sample_weight,
    )
    return {
        "metrics": {name: values["value"] for name, values in intervals.items()},
        "intervals": intervals,
        "baselines": {name: compute_metrics(y, p, threshold, sample_weight) for name, p in baselines.items()},
        "positive_rate": asdict(weighted_mean(y, sample_weight, confidence)),
        "mean_score": asdict(weighted_mean(proba, sample_weight, confidence)),
        "effective_rows": effective_rows(sample_weight),
    }


# --- numerical stability -----------------------------------------------------------------------

NUMERIC_CHECK = "numerically_stable"


def _faults_text(faults: dict[str, int]) -> str:
    parts = [
        f"{faults[key]} {label}"
        for key, label in (("missing", "NaN"), ("infinite", "infinite"), ("outside_unit", "outside [0, 1]"))
        if faults[key]
    ]
    return f"{', '.join(parts)} of {faults['rows']}"


def numeric_check(
    scores: dict[str, np.ndarray], metrics: dict[str, float | None], judged: Iterable[str]
) -> dict[str, Any]:
    """The gate check that a candidate is numerically stable (ML Test Score, Monitor 5).

    `scores`: the candidate's probabilities per row set (e.g. holdout, calibration), each of which must
    be finite and within [0, 1]; `judged`: the metrics the gate compares, each of which must be a number.
    A failure refuses the candidate; the detail gives counts only, never a score.
    """
    faults = {name: score_faults(values) for name, values in scores.items()}
    bad = [f"{name} scores: {_faults_text(f)}" for name, f in faults.items() if _bad_scores(f)]
    undefined = sorted(m for m in judged if metrics.get(m) is None or not math.isfinite(float(metrics[m])))
    if undefined:
        bad.append("undefined (NaN) metric: " + ", ".join(undefined))
    rows = ", ".join(f"{f['rows']} {name}" for name, f in faults.items())
    detail = (
        f"numerically unstable, refused: {'; '.join(bad)}"
        if bad
        else f"numerically stable: every score finite and within [0, 1] ({rows} rows), judged metrics defined"
    )
    return {"check": NUMERIC_CHECK, "passed": not bad, "detail": detail, "faults": faults}


def _bad_scores(faults: dict[str, int]) -> int:
    return faults["missing"] + faults["infinite"] + faults["outside_unit"]


# --- the gate --------------------------------------------------------------------------------


@dataclass
class Verdict:
    """The promotion decision with every check that made it."""

    promote: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """One line per check, failures first."""
        ordered = sorted(self.checks, key=lambda c: c["passed"])
        return [("PASS " if c["passed"] else "FAIL ") + c["detail"] for c in ordered]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for XCom, tags and reports."""
        return {**asdict(self), "reasons": self.reasons}


def decide_promotion(
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    champion: dict[str, Any] | None,
    evaluation: EvaluationSection,
    fairness: dict[str, Any] | None = None,
    feature_value: dict[str, Any] | None = None,
    numeric: dict[str, Any] | None = None,
) -> Verdict:
    """Apply the numerical check, floors, baseline margins, the paired champion test, the slice tolerance and the
    fairness gate.

    `champion` is None when there is no champion yet; otherwise it holds `version`, and either
    `bootstrap` + `worse_slices`, or `error` when the champion could not score this holdout.
    `fairness` is a `fairness.assess_fairness` report (with the champion's gaps when compared);
    None leaves the fairness check out. `feature_value` is a `feature_value.drop_one` result: with
    `evaluation.max_useless_features` set, more useless features than that refuse the version. `numeric` is a
    `numeric_check` (None leaves it out).
    """
    primary = evaluation.primary_metric
    # an unstable candidate's refusal leads the reasons (its other figures mean little); a pass closes them
    checks: list[dict[str, Any]] = [numeric] if numeric is not None and not numeric["passed"] else []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"check": name, "passed": bool(passed), "detail": detail})

    for metric, floor in evaluation.floors.items():
        value = metrics[metric]
        ok = value >= floor if higher_is_better(metric) else value <= floor
        check(f"floor_{metric}", ok, f"{metric} {value:.4f} {'meets' if ok else 'misses'} floor {floor}")
    majority = baselines["majority"][primary]
    gain = improvement(primary, metrics[primary], majority)
    check("beats_majority", gain > 0, f"{primary} {metrics[primary]:.4f} vs majority-class baseline {majority:.4f}")
    rule = baselines["rule"][primary]
    margin = float(evaluation.baseline_margin)
    gain = improvement(primary, metrics[primary], rule)
    check(
        "beats_rule",
        gain >= margin,
        f"{primary} {metrics[primary]:.4f} vs rule-based baseline {rule:.4f} (gain {gain:+.4f}, needs {margin:+.4f})",
    )
    if champion is None:
        check("champion", True, "no champion yet: the first model that passes the gates becomes champion")
    elif champion.get("error"):
        check("champion", False, f"champion v{champion['version']} could not be compared: {champion['error']}")
    else:
        boot = champion["bootstrap"]
        needed = float(evaluation.champion_margin)
        ok = boot["ci_low"] > needed
        check(
            "champion",
            ok,
            f"{primary} change vs champion v{champion['version']}: {boot['improvement']:+.4f} "
            f"({evaluation.confidence:.0%} CI {boot['ci_low']:+.4f} .. {boot['ci_high']:+.4f}; "
            f"promotion needs the lower bound > {needed:+.4f})",
        )
        worse = champion.get("worse_slices", [])
        detail = (
            "no protected slice loses more than the tolerance vs the champion"
            if not worse
            else "protected slices worse than the champion beyond tolerance: "
            + ", ".join(f"{w['column']}={w['slice']} ({w['change']:+.4f})" for w in worse)
        )
        check("slices", not worse, detail)
    if fairness is not None:
        check("fairness", fairness["passed"], describe_fairness(fairness))
    limit = evaluation.max_useless_features
    if limit is not None and feature_value is not None:
        useless = list(feature_value.get("useless") or [])
        named = f": {', '.join(useless)}" if useless else ""
        check(
            "useless_features",
            len(useless) <= limit,
            f"{len(useless)} features whose removal does not lower {feature_value['metric']} beyond noise "
            f"(drop-one check), at most {limit} allowed{named}",
        )
    if numeric is not None and numeric["passed"]:
        checks.append(numeric)
    return Verdict(promote=all(c["passed"] for c in checks), checks=checks)
