"""Turnout scenarios: every voter's turnout log-odds moved by -delta (low), 0 (expected) or +delta (high).

A uniform shift on the log-odds scale is the turnout model's own way of saying "more (fewer) people vote
than expected": it moves a voter near 50% the most (d t / d delta = t (1 - t)) and a near-certain voter
hardly at all, so no probability leaves [0, 1]. For an electorate with mean turnout t the shift moves
turnout by about delta * t (1 - t) points: with the default DEFAULT_DELTA = 0.2 that is +-4.9 points at
t = 0.6 and +-5.0 at t = 0.5 (exactly: sigmoid(0.2) - 0.5 = 0.0498). `delta_for_points` gives the delta
for another size of swing. The aggregation accumulates every scenario's sums in the same streaming pass
(`aggregate.GeographyAccumulator`), so one read of the scores gives all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from modelops.forecast.logodds import logit

DEFAULT_DELTA = 0.2  # log-odds; about +-5 turnout points for an electorate near 50-60% turnout


class Scenario(StrEnum):
    """The three turnout scenarios."""

    LOW = "low"
    EXPECTED = "expected"
    HIGH = "high"


@dataclass(frozen=True)
class TurnoutScenarios:
    """The shift of each scenario on the log-odds scale: -delta, 0, +delta."""

    delta: float = DEFAULT_DELTA

    def __post_init__(self) -> None:
        if not np.isfinite(self.delta) or self.delta < 0:
            raise ValueError("forecast scenario delta must be a finite number >= 0")

    def shifts(self) -> dict[Scenario, float]:
        """Each scenario's log-odds shift."""
        return {Scenario.LOW: -self.delta, Scenario.EXPECTED: 0.0, Scenario.HIGH: self.delta}


def delta_for_points(mean_turnout: float, points: float) -> float:
    """The log-odds shift that moves a voter at `mean_turnout` up by `points` (percentage points)."""
    target = mean_turnout + points / 100.0
    if not 0.0 < mean_turnout < 1.0 or not 0.0 < target < 1.0:
        raise ValueError("mean_turnout and mean_turnout + points/100 must both lie strictly between 0 and 1")
    return float(logit(np.array([target]))[0] - logit(np.array([mean_turnout]))[0])
