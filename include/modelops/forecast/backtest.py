"""Backtest: a forecast against certified results, geography by geography.

`backtest_table` lines the forecast's turnout and two-party share up with the certified ones (errors are
forecast - certified, as proportions; with intervals, whether each covers the certified value);
`summarize_backtest` gives MAE and signed bias in points (x 100), interval coverage and the worst
geographies; `residuals_from` keeps the errors for the next cycle's intervals, and `holdout_residuals`
gives the fallback ones from the training holdout when there is no backtest yet. A forecast and certified
results that cover different geographies are refused (`GeographyMismatch`, naming how many are missing on
each side), never silently inner-joined.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from modelops.core.records import XComRecord
from modelops.forecast.aggregate import LOWER, QUANTITIES, UPPER, Aggregation, ScoreColumns, bound_column

POINTS = 100.0  # a proportion in percentage points
DEFAULT_WORST = 5  # geographies listed per quantity in a backtest summary


class GeographyMismatch(ValueError):
    """The forecast and the certified results do not cover the same geographies."""


class ResidualSource(StrEnum):
    """Where interval residuals come from: last cycle's backtest, or the training holdout by geography."""

    BACKTEST = "backtest"
    HOLDOUT = "holdout"


@dataclass(frozen=True)
class CertifiedColumns:
    """Names of the certified results' columns (from config): the geography, counts and rates."""

    geography: str
    ballots: str
    dem_votes: str
    turnout: str
    dem_share: str

    def rate(self, quantity: str) -> str:
        """The certified column of a forecast rate (`turnout` or `dem_share`)."""
        return {QUANTITIES[0]: self.turnout, QUANTITIES[1]: self.dem_share}[quantity]


@dataclass(frozen=True)
class QuantityErrors(XComRecord):
    """One rate's errors over the geographies, in points; coverage is None without intervals."""

    quantity: str
    mae_points: float
    bias_points: float
    coverage: float | None


@dataclass(frozen=True)
class WorstGeography(XComRecord):
    """A geography among the largest absolute errors of one rate."""

    geography: str
    quantity: str
    forecast: float
    certified: float
    error_points: float


@dataclass(frozen=True)
class Backtest(XComRecord):
    """A backtest's figures: per rate the errors, and the worst geographies."""

    cycle: int | None
    geographies: int
    errors: tuple[QuantityErrors, ...]
    worst: tuple[WorstGeography, ...]

    def of(self, quantity: str) -> QuantityErrors:
        """The errors of one rate."""
        return next(e for e in self.errors if e.quantity == quantity)


@dataclass(frozen=True)
class Residuals(XComRecord):
    """Per-geography errors (forecast - certified, proportions) of each rate, for intervals."""

    source: str
    cycle: int | None
    turnout: tuple[float, ...]
    dem_share: tuple[float, ...]

    def __post_init__(self) -> None:
        ResidualSource(self.source)  # an unknown source is an error

    def of(self, quantity: str) -> np.ndarray:
        """The residuals of one rate as an array."""
        return np.asarray(getattr(self, quantity), dtype=float)


def backtest_table(
    forecast: Aggregation | pd.DataFrame,
    certified: pd.DataFrame,
    columns: CertifiedColumns,
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per geography: forecast, certified, error (and `covered` with intervals) of turnout and two-party share."""
    table = forecast.table if isinstance(forecast, Aggregation) else forecast
    truth = _certified_rates(certified, columns)
    _require_same_geographies(table.index, truth.index, columns.geography)
    if intervals is not None:
        _require_same_geographies(intervals.index, truth.index, columns.geography)
    out = pd.DataFrame(index=table.index.sort_values())
    for quantity in QUANTITIES:
        predicted = table[quantity].reindex(out.index).to_numpy(dtype=float)
        actual = truth[columns.rate(quantity)].reindex(out.index).to_numpy(dtype=float)
        out[f"{quantity}_forecast"] = predicted
        out[f"{quantity}_certified"] = actual
        out[f"{quantity}_error"] = predicted - actual
        if intervals is not None:
            low = intervals[bound_column(quantity, LOWER)].reindex(out.index).to_numpy(dtype=float)
            high = intervals[bound_column(quantity, UPPER)].reindex(out.index).to_numpy(dtype=float)
            out[f"{quantity}_covered"] = (low <= actual) & (actual <= high)
    return out


def summarize_backtest(table: pd.DataFrame, cycle: int | None = None, worst: int = DEFAULT_WORST) -> Backtest:
    """MAE and bias in points, coverage, and the `worst` largest absolute errors per rate, from `backtest_table`."""
    errors, worst_rows = [], []
    for quantity in QUANTITIES:
        error = table[f"{quantity}_error"]
        covered = table.get(f"{quantity}_covered")
        errors.append(
            QuantityErrors(
                quantity=quantity,
                mae_points=float(error.abs().mean() * POINTS),
                bias_points=float(error.mean() * POINTS),
                coverage=None if covered is None else float(covered.mean()),
            )
        )
        for geography in error.abs().sort_values(ascending=False, kind="stable").index[:worst]:
            worst_rows.append(
                WorstGeography(
                    geography=str(geography),
                    quantity=quantity,
                    forecast=float(table.at[geography, f"{quantity}_forecast"]),
                    certified=float(table.at[geography, f"{quantity}_certified"]),
                    error_points=float(error[geography] * POINTS),
                )
            )
    return Backtest(cycle=cycle, geographies=len(table), errors=tuple(errors), worst=tuple(worst_rows))


def residuals_from(table: pd.DataFrame, source: ResidualSource, cycle: int | None = None) -> Residuals:
    """The per-geography errors of a `backtest_table`, kept for the next forecast's intervals."""
    return Residuals(
        source=ResidualSource(source).value,
        cycle=cycle,
        turnout=tuple(float(v) for v in table[f"{QUANTITIES[0]}_error"]),
        dem_share=tuple(float(v) for v in table[f"{QUANTITIES[1]}_error"]),
    )


def holdout_residuals(
    chunks: Iterable[pd.DataFrame], scores: ScoreColumns, voted: str, dem_vote: str | None = None
) -> Residuals:
    """The fallback residuals: the training holdout's scores against its own outcomes, per geography.

    `voted` is 1 when the voter voted, `dem_vote` 1 when they voted Democratic (0 otherwise, non-voters
    included); without `dem_vote` the two-party share has no residuals (NaN, which `intervals` refuses by
    name). A missing outcome or score is refused: the holdout is labelled by construction.
    """
    sums: pd.DataFrame | None = None
    for chunk in chunks:
        needed = [scores.geography, scores.turnout, scores.support, voted, *([dem_vote] if dem_vote else [])]
        absent = [c for c in needed if c not in chunk.columns]
        if absent:
            raise ValueError(f"holdout chunk lacks column(s) {absent}")
        missing = {c: int(chunk[c].isna().sum()) for c in needed if chunk[c].isna().any()}
        if missing:
            raise ValueError(f"holdout chunk has missing values (rows per column: {missing})")
        t, s = chunk[scores.turnout].to_numpy(dtype=float), chunk[scores.support].to_numpy(dtype=float)
        dem = chunk[dem_vote].to_numpy(dtype=float) if dem_vote else np.full(len(chunk), np.nan)
        part = pd.DataFrame({"n": 1.0, "t": t, "ts": t * s, "v": chunk[voted].to_numpy(dtype=float), "d": dem})
        part = part.groupby(chunk[scores.geography].to_numpy()).sum(min_count=1)
        sums = part if sums is None else sums.add(part, fill_value=0.0)
    if sums is None:
        raise ValueError("no holdout chunk was read (the input was empty)")
    with np.errstate(invalid="ignore", divide="ignore"):
        turnout = (sums["t"] - sums["v"]) / sums["n"]
        share = sums["ts"] / sums["t"] - sums["d"] / sums["v"]
    return Residuals(
        source=ResidualSource.HOLDOUT.value,
        cycle=None,
        turnout=tuple(float(v) for v in turnout),
        dem_share=tuple(float(v) for v in share),
    )


def _certified_rates(certified: pd.DataFrame, columns: CertifiedColumns) -> pd.DataFrame:
    needed = [columns.geography, columns.turnout, columns.dem_share]
    absent = [c for c in needed if c not in certified.columns]
    if absent:
        raise ValueError(f"certified results lack column(s) {absent}")
    if certified[columns.geography].duplicated().any():
        raise ValueError(f"certified results repeat geographies in column {columns.geography!r}")
    missing = {c: int(certified[c].isna().sum()) for c in needed if certified[c].isna().any()}
    if missing:
        raise ValueError(f"certified results have missing values (rows per column: {missing})")
    return certified.set_index(columns.geography)[[columns.turnout, columns.dem_share]]


def _require_same_geographies(ours: pd.Index, theirs: pd.Index, geography: str) -> None:
    only_ours, only_theirs = ours.difference(theirs), theirs.difference(ours)
    if len(only_ours) or len(only_theirs):
        hint = "" if len(ours.intersection(theirs)) else f" (none in common; key types {ours.dtype} vs {theirs.dtype})"
        raise GeographyMismatch(
            f"forecast and certified results cover different geographies in {geography!r}: "
            f"{len(only_ours)} only in the forecast (or its intervals), {len(only_theirs)} only in the certified "
            f"results{hint}"
        )
