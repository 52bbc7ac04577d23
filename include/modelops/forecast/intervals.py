"""Forecast intervals per geography that carry model error, not only the Bernoulli sampling noise.

The Bernoulli sd of a county's turnout is a fraction of a point for any county of a few thousand voters,
while real county errors are several points and correlated (a model misses a whole region's swing).
So the half-width of each rate's interval is split-conformal: the empirical ceil((n + 1) level)-th
smallest absolute county residual (forecast - certified) of a previous forecast, which covers a new
county with probability >= level when the counties' errors are exchangeable across cycles. Each
geography's own Bernoulli noise is a floor: half-width_g = max(q, z * sd_g) with z the normal quantile
of the level, which only binds for very small geographies. Bounds are clipped to [0, 1].

Residuals come from the backtest of the previous cycle (`ResidualSource.BACKTEST`); with no backtest
history, the fallback is a backtest of the training holdout aggregated by geography
(`ResidualSource.HOLDOUT`: the holdout's scores against its own outcomes per geography). The holdout
shares the training cycle, so it misses cycle-to-cycle shifts and tends to give narrower intervals; the
record says which source was used. Residuals that are not finite (a geography with no scored rows) are
not used and counted. Fewer residuals than ceil(level / (1 - level)) cannot give the level: refused.

Beside the interval at the expected scenario, the table reports the turnout-scenario band (the rate
under the low and the high scenario, lower first): two different questions, both answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modelops.core.jsonsafe import json_safe
from modelops.core.records import XComRecord
from modelops.forecast.aggregate import (
    DEM_SHARE_SD,
    LOWER,
    QUANTITIES,
    TURNOUT_SD,
    UPPER,
    Aggregation,
    bound_column,
    scenario_column,
)
from modelops.forecast.backtest import Residuals
from modelops.forecast.scenarios import Scenario

DEFAULT_LEVEL = 0.90  # nominal coverage of a forecast interval
SCENARIO_LOW, SCENARIO_HIGH = "scenario_low", "scenario_high"  # the band's bounds: `turnout_scenario_low`
_SD = {QUANTITIES[0]: TURNOUT_SD, QUANTITIES[1]: DEM_SHARE_SD}


@dataclass(frozen=True)
class IntervalMethod(XComRecord):
    """How the intervals were built: level, residual source, how many residuals, each rate's conformal half-width."""

    level: float
    source: str
    residual_cycle: int | None
    residuals_used: int
    residuals_unusable: int
    turnout_half_width: float
    dem_share_half_width: float
    floor_z: float


@dataclass(frozen=True, eq=False)
class ForecastIntervals:
    """Per geography: each rate, its interval (`_lower`, `_upper`, `_half_width`) and its scenario band."""

    table: pd.DataFrame
    method: IntervalMethod

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the table as column lists, the geography first; NaN as null)."""
        return {
            "table": json_safe(self.table.reset_index().to_dict(orient="list")),
            "method": self.method.to_xcom(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecastIntervals:
        """The record `to_dict` gave `data`."""
        table = pd.DataFrame(data["table"])
        table = table.set_index(table.columns[0]).astype(float)
        return cls(table=table, method=IntervalMethod.from_xcom(data["method"]))


def minimum_residuals(level: float) -> int:
    """The fewest residuals whose conformal quantile exists at `level`: ceil((n + 1) level) <= n."""
    return math.ceil(level / (1.0 - level) - 1e-9)


def conformal_half_width(residuals: np.ndarray, level: float = DEFAULT_LEVEL, what: str = "residuals") -> float:
    """The ceil((n + 1) level)-th smallest absolute residual (split conformal); too few residuals are refused."""
    if not 0.0 < level < 1.0:
        raise ValueError("interval level must lie strictly between 0 and 1")
    values = np.sort(np.abs(np.asarray(residuals, dtype=float)))
    n, rank = len(values), math.ceil((len(values) + 1) * level - 1e-9)
    if rank > n:
        raise ValueError(f"{n} {what} are too few for a {level:.0%} interval: need at least {minimum_residuals(level)}")
    return float(values[rank - 1])


def scenario_band(aggregation: Aggregation) -> pd.DataFrame:
    """The table `forecast_intervals` gives, without a model interval: each rate, NaN bounds, its scenario band.

    What a forecast without earlier residuals reports (no backtest yet): only the turnout-scenario band,
    and bounds that say "unknown" rather than a Bernoulli interval that would pretend to be one.
    """
    table = aggregation.table
    out = pd.DataFrame(index=table.index)
    for quantity in QUANTITIES:
        low = table[scenario_column(quantity, Scenario.LOW)].to_numpy(dtype=float)
        high = table[scenario_column(quantity, Scenario.HIGH)].to_numpy(dtype=float)
        out[quantity] = table[quantity].to_numpy(dtype=float)
        for column in (bound_column(quantity, LOWER), bound_column(quantity, UPPER), f"{quantity}_half_width"):
            out[column] = np.nan
        out[f"{quantity}_{SCENARIO_LOW}"] = np.fmin(low, high)
        out[f"{quantity}_{SCENARIO_HIGH}"] = np.fmax(low, high)
    return out


def forecast_intervals(
    aggregation: Aggregation, residuals: Residuals, level: float = DEFAULT_LEVEL
) -> ForecastIntervals:
    """Intervals of turnout and two-party share per geography at the expected scenario, and the scenario band."""
    table = aggregation.table
    usable = {q: residuals.of(q)[np.isfinite(residuals.of(q))] for q in QUANTITIES}
    unusable = max(len(residuals.of(q)) - len(usable[q]) for q in QUANTITIES)
    half = {q: conformal_half_width(usable[q], level, f"usable {q} residuals ({residuals.source})") for q in QUANTITIES}
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    out = pd.DataFrame(index=table.index)
    for quantity in QUANTITIES:
        centre = table[quantity].to_numpy(dtype=float)
        width = np.maximum(half[quantity], z * table[_SD[quantity]].to_numpy(dtype=float))
        low = table[scenario_column(quantity, Scenario.LOW)].to_numpy(dtype=float)
        high = table[scenario_column(quantity, Scenario.HIGH)].to_numpy(dtype=float)
        out[quantity] = centre
        out[bound_column(quantity, LOWER)] = np.clip(centre - width, 0.0, 1.0)
        out[bound_column(quantity, UPPER)] = np.clip(centre + width, 0.0, 1.0)
        out[f"{quantity}_half_width"] = width
        out[f"{quantity}_{SCENARIO_LOW}"] = np.fmin(low, high)
        out[f"{quantity}_{SCENARIO_HIGH}"] = np.fmax(low, high)
    method = IntervalMethod(
        level=level,
        source=residuals.source,
        residual_cycle=residuals.cycle,
        residuals_used=min(len(v) for v in usable.values()),
        residuals_unusable=unusable,
        turnout_half_width=half[QUANTITIES[0]],
        dem_share_half_width=half[QUANTITIES[1]],
        floor_z=z,
    )
    return ForecastIntervals(table=out, method=method)
