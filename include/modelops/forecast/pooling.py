"""Empirical-Bayes pooling of per-geography logit shifts: keep what persists, drop what is noise.

A geography's fitted shift is its true deviation plus the noise of its certified outcomes (each voter's
vote is a Bernoulli draw): its sampling variance is 1 / information (`GeographyShift.*_information`). Applied
to the next cycle as fitted, that noise is added to every county's forecast: in a stable world the full
calibration worsens a forecast (measured: turnout MAE +33% at 2 500 voters per county). Pooling shrinks each
geography toward the information-weighted mean shift (which a whole state's outcomes estimate precisely)
by the share of its deviation that is signal:

    pooled_g = mean + tau^2 / (tau^2 + 1 / information_g) * (fitted_g - mean)

with tau^2, the variance of the true shifts between geographies, estimated by DerSimonian and Laird's method
of moments (tau^2 = max(0, (Q - (k - 1)) / (S1 - S2 / S1)), Q the weighted sum of squared deviations,
S1 and S2 the sums of the weights and of their squares). A common surge is kept whole (it is in the mean); a
county whose deviation is larger than its noise keeps most of it; a county whose deviation is noise gets the
mean. Geographies whose solve hit the bound, or without information, take the mean and do not inform it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from modelops.core.records import XComRecord
from modelops.forecast.calibrate import FIT, LogitShift

EMPIRICAL_BAYES = "empirical_bayes"
QUANTITIES = ("turnout", "support")


@dataclass(frozen=True)
class PooledQuantity(XComRecord):
    """How one shift (turnout or support) was pooled: the mean it shrinks to, tau^2, and how many informed them."""

    quantity: str
    mean_shift: float
    between_variance: float
    geographies: int


def pool(shift: LogitShift) -> tuple[LogitShift, tuple[PooledQuantity, ...]]:
    """`shift` with every geography's shifts pooled (the fitted ones kept in `*_fitted`), and the pooling figures."""
    if shift.pooling == EMPIRICAL_BAYES:
        raise ValueError("these logit shifts are pooled already")
    updates: dict[str, dict[object, float]] = {}
    figures = []
    for quantity in QUANTITIES:
        pooled, figure = _pool_one(shift, quantity)
        updates[quantity] = pooled
        figures.append(figure)
    shifts = tuple(
        replace(
            s,
            turnout_shift=updates["turnout"][s.geography],
            support_shift=updates["support"][s.geography],
            turnout_fitted=s.turnout_shift,
            support_fitted=s.support_shift,
        )
        for s in shift.shifts
    )
    return replace(shift, shifts=shifts, pooling=EMPIRICAL_BAYES), tuple(figures)


def _pool_one(shift: LogitShift, quantity: str) -> tuple[dict[object, float], PooledQuantity]:
    fitted = np.array([getattr(s, f"{quantity}_shift") for s in shift.shifts], dtype=float)
    info = np.array([getattr(s, f"{quantity}_information") for s in shift.shifts], dtype=float)
    usable = np.array([getattr(s, f"{quantity}_status") == FIT for s in shift.shifts]) & (info > 0)
    usable &= np.isfinite(fitted)
    if not usable.any():
        raise ValueError(f"no geography has a usable {quantity} shift to pool")
    w, x = info[usable], fitted[usable]
    mean = float(np.dot(w, x) / w.sum())
    k = int(usable.sum())
    q = float(np.dot(w, (x - mean) ** 2))
    denominator = float(w.sum() - np.dot(w, w) / w.sum())
    tau2 = max(0.0, (q - (k - 1)) / denominator) if k > 1 and denominator > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(usable, tau2 / (tau2 + 1.0 / info), 0.0)
    pooled = mean + factor * (np.where(usable, fitted, mean) - mean)
    by_geography = {s.geography: float(v) for s, v in zip(shift.shifts, pooled, strict=True)}
    return by_geography, PooledQuantity(quantity, mean, tau2, k)
