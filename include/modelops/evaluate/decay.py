"""Score decay: how a model's primary metric falls as the data it scores gets older than its training data.

A backtest trains on one period (a cycle) with the project's own candidate training, then scores the
training period's holdout (age 0) and every later period, and reports the metric per period with a
bootstrap interval, its drop relative to the holdout, and the drop per period and per day. Periods are
the time column's values (a cycle's date from `cycle_date`, by default November 1st of its year), or,
given a date column, the calendar months of that column (the age of a period is the mean age of its
rows). `DecayReport.age_at_drop` is the age at which the relative drop first reaches a limit,
interpolated per day between periods: what a champion may serve before it is expected to have lost it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import UNLABELLED, label_values, target_vector
from modelops.config.settings import DatasetSpec
from modelops.core.records import XComRecord
from modelops.evaluate.evaluation import bootstrap_metrics
from modelops.stats.metrics import higher_is_better
from modelops.train.splits import split_indices
from modelops.train.training import train_candidate


def election_date(period: Any, month: int = 11, day: int = 1) -> date:
    """The date of a cycle: `month`/`day` of the year the cycle's value names (2024 -> 2024-11-01)."""
    return date(int(period), month, day)


@dataclass(frozen=True)
class DecayOptions:
    """How the metric and its intervals are measured."""

    metric: str
    threshold: float
    resamples: int = 400
    confidence: float = 0.95
    max_rows: int = 40000
    seed: int = 0


@dataclass(frozen=True)
class PeriodMetric(XComRecord):
    """The metric on one period's labelled rows, its interval, and its drop against the training holdout."""

    period: str
    age_days: float
    rows: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    relative_drop: float | None  # (holdout - value) / holdout, sign set so a worse value is a positive drop


@dataclass(frozen=True)
class DecayReport(XComRecord):
    """A model's metric at its training holdout (age 0) and on each later period, oldest first."""

    metric: str
    trained_on: str
    reference: PeriodMetric
    later: tuple[PeriodMetric, ...]
    drop_per_period: float | None  # least-squares slope of the relative drop on the period's rank (1, 2, ...)
    drop_per_day: float | None  # least-squares slope of the relative drop on the age in days

    def age_at_drop(self, limit: float) -> float | None:
        """Days until the relative drop first reaches `limit`, linear between periods (None: never within them)."""
        return age_at_drop([(p.age_days, p.relative_drop) for p in self.later], limit)


def age_at_drop(curve: Sequence[tuple[float, float | None]], limit: float) -> float | None:
    """First age where a drop curve (age, drop), starting at (0, 0), reaches `limit`, linear in between."""
    points = [(0.0, 0.0), *sorted((float(a), float(d)) for a, d in curve if d is not None and math.isfinite(d))]
    for (a0, d0), (a1, d1) in itertools.pairwise(points):
        if d1 >= limit:
            return a1 if d1 == d0 else a0 + (limit - d0) * (a1 - a0) / (d1 - d0)
    return None


def _slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """Least-squares slope of y on x through the origin (the drop is 0 at age 0)."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    return float(x @ y / (x @ x)) if len(x) and (x @ x) > 0 else None


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _period_metric(
    period: str, age: float, y: np.ndarray, proba: np.ndarray, options: DecayOptions, reference: float | None
) -> PeriodMetric:
    figures = bootstrap_metrics(
        y,
        proba,
        options.resamples,
        options.confidence,
        options.max_rows,
        options.seed,
        threshold=options.threshold,
    )[options.metric]
    value = _finite(figures["value"])
    drop = None
    if value is not None and reference:
        sign = 1.0 if higher_is_better(options.metric) else -1.0
        drop = sign * (reference - value) / abs(reference)
    return PeriodMetric(
        period, float(age), len(y), value, _finite(figures["ci_low"]), _finite(figures["ci_high"]), drop
    )


def measure_decay(
    reference_y: np.ndarray,
    reference_proba: np.ndarray,
    later: pd.DataFrame,
    *,
    trained_on: str,
    reference_date: date,
    options: DecayOptions,
) -> DecayReport:
    """The decay report of scores already made: the training holdout's (age 0) and `later`'s rows.

    `later` has one row per scored, labelled row: `label` (0/1), `score`, `period` (text) and `date`
    (the row's date: a period's age is the mean age of its rows, in days after `reference_date`)."""
    absent = [c for c in ("label", "score", "period", "date") if c not in later.columns]
    if absent:
        raise ValueError(f"later rows: missing column(s) {absent}")
    if later["label"].isna().any() or later["date"].isna().any():
        raise ValueError("later rows: `label` and `date` must be present on every row (drop unlabelled rows first)")
    base = _period_metric(trained_on, 0.0, np.asarray(reference_y), np.asarray(reference_proba), options, None)
    ages = (pd.to_datetime(later["date"]) - pd.Timestamp(reference_date)).dt.total_seconds() / 86400.0
    periods = []
    for period, rows in later.assign(age=ages).groupby("period", sort=False):
        y, proba = rows["label"].to_numpy(dtype=int), rows["score"].to_numpy(dtype=float)
        periods.append(_period_metric(str(period), float(rows["age"].mean()), y, proba, options, base.value))
    periods.sort(key=lambda p: p.age_days)
    drops = np.array([np.nan if p.relative_drop is None else p.relative_drop for p in periods], dtype=float)
    return DecayReport(
        metric=options.metric,
        trained_on=str(trained_on),
        reference=base,
        later=tuple(periods),
        drop_per_period=_slope(np.arange(1, len(periods) + 1, dtype=float), drops),
        drop_per_day=_slope(np.array([p.age_days for p in periods], dtype=float), drops),
    )


def period_rows(
    frame: pd.DataFrame,
    time_column: str,
    date_column: str | None = None,
    cycle_date: Callable[[Any], date] = election_date,
) -> pd.DataFrame:
    """Each row's `period` and `date`: the time column's value and its cycle date, or, given a date column,
    the row's calendar month ("2026-03") and its own date (a missing date is an error, never guessed)."""
    if date_column is None:
        dates = {value: pd.Timestamp(cycle_date(value)) for value in frame[time_column].dropna().unique()}
        if frame[time_column].isna().any():
            raise ValueError(f"column {time_column!r}: rows without a period")
        return pd.DataFrame(
            {"period": frame[time_column].astype(str), "date": frame[time_column].map(dates)}, index=frame.index
        )
    stamps = pd.to_datetime(frame[date_column], errors="coerce")
    if stamps.isna().any():
        raise ValueError(f"column {date_column!r}: {int(stamps.isna().sum())} rows without a readable date")
    return pd.DataFrame({"period": stamps.dt.strftime("%Y-%m"), "date": stamps}, index=frame.index)


@dataclass(frozen=True)
class BacktestPlan:
    """What a decay backtest trains: the training section (as a dict), search spaces and candidate families."""

    training: dict[str, Any]
    spaces: dict[str, dict[str, Any]]
    candidates: tuple[str, ...]


def fit_best(spec: DatasetSpec, frame: pd.DataFrame, plan: BacktestPlan, options: DecayOptions) -> tuple[Any, Any]:
    """Train every candidate on one period's rows; the best pipeline (by its calibration-split metric) and
    the holdout rows (`split_indices`' holdout: a stable hash of the id, as training does)."""
    parts = split_indices(frame, spec, plan.training)
    train, calibration = frame.iloc[parts["train"]], frame.iloc[parts["calibration"]]
    sign = 1.0 if higher_is_better(options.metric) else -1.0
    trained = [
        train_candidate(
            name,
            spec,
            train,
            calibration,
            plan.training,
            plan.spaces[name],
            options.metric,
            threshold=options.threshold,
        )
        for name in plan.candidates
    ]
    best = max(trained, key=lambda t: sign * t.calibration_metrics[options.metric])
    return best.pipeline, frame.iloc[parts["holdout"]]


def backtest_decay(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    train_period: Any,
    plan: BacktestPlan,
    options: DecayOptions,
    *,
    date_column: str | None = None,
    cycle_date: Callable[[Any], date] = election_date,
) -> DecayReport:
    """Train on `train_period`'s rows of the spec's time column, score its holdout and every later period."""
    if not spec.time_column or spec.time_column not in frame.columns:
        raise ValueError(f"dataset {spec.name!r}: a decay backtest needs the time column in the frame")
    model, holdout = fit_best(spec, frame.loc[frame[spec.time_column] == train_period], plan, options)
    after = frame.loc[frame[spec.time_column] > train_period]
    return score_decay(
        spec, model, holdout, after, train_period, options, date_column=date_column, cycle_date=cycle_date
    )


def score_decay(
    spec: DatasetSpec,
    model: Any,
    holdout: pd.DataFrame,
    later: pd.DataFrame,
    train_period: Any,
    options: DecayOptions,
    *,
    date_column: str | None = None,
    cycle_date: Callable[[Any], date] = election_date,
) -> DecayReport:
    """The decay report of a fitted model: its training holdout (age 0) and the labelled rows of `later`."""
    later = later.loc[label_values(later, spec) != UNLABELLED]
    if later.empty:
        raise ValueError(f"no labelled rows after period {train_period!r} of column {spec.time_column!r}")
    rows = period_rows(later, str(spec.time_column), date_column, cycle_date)
    rows["label"] = target_vector(later, spec)
    rows["score"] = model.predict_proba(later[spec.features])[:, 1]
    return measure_decay(
        target_vector(holdout, spec),
        model.predict_proba(holdout[spec.features])[:, 1],
        rows,
        trained_on=str(train_period),
        reference_date=cycle_date(train_period),
        options=options,
    )
