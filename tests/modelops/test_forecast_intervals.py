"""Split-conformal interval half-widths, the Bernoulli floor, the scenario band and the JSON round trip."""

import numpy as np
import pandas as pd
import pytest

from modelops.core import jsonsafe
from modelops.forecast.aggregate import ScoreColumns, aggregate_scores
from modelops.forecast.backtest import Residuals
from modelops.forecast.intervals import (
    ForecastIntervals,
    conformal_half_width,
    forecast_intervals,
    minimum_residuals,
)

COLS = ScoreColumns(geography="county", turnout="t", support="s")


def test_half_width_is_the_conformal_rank_of_the_absolute_residuals():
    residuals = np.array([(-1) ** k * k for k in range(1, 19)]) / 100  # |r| = 0.01 .. 0.18, 18 of them
    assert conformal_half_width(residuals, 0.9) == pytest.approx(0.18)  # rank ceil(19 * 0.9) = 18, not 17
    assert conformal_half_width(residuals[:9], 0.9) == pytest.approx(0.09)  # n = 9: rank 9, the largest
    assert minimum_residuals(0.9) == 9 and minimum_residuals(0.8) == 4


def test_too_few_residuals_are_refused():
    with pytest.raises(ValueError, match="8 residuals are too few for a 90% interval: need at least 9"):
        conformal_half_width(np.ones(8), 0.9)


def _aggregation():
    big = pd.DataFrame({"county": "big", "t": np.full(10_000, 0.6), "s": np.full(10_000, 0.5)})
    tiny = pd.DataFrame({"county": "tiny", "t": [0.5, 0.5], "s": [0.5, 0.5]})
    return aggregate_scores([pd.concat([big, tiny])], COLS)


def test_intervals_use_the_residual_quantile_with_the_bernoulli_sd_as_floor():
    residuals = Residuals(source="backtest", cycle=2022, turnout=(0.03,) * 9 + (np.nan,), dem_share=(-0.02,) * 10)
    result = forecast_intervals(_aggregation(), residuals, level=0.9)
    big, tiny = result.table.loc["big"], result.table.loc["tiny"]
    assert big["turnout_half_width"] == pytest.approx(0.03)  # the model error dominates a big county
    assert (big["turnout_lower"], big["turnout_upper"]) == pytest.approx((0.57, 0.63))
    z = 1.6448536269514722
    assert tiny["turnout_half_width"] == pytest.approx(z * np.sqrt(0.5) / 2)  # Bernoulli floor: sd sqrt(2 * .25) / 2
    assert (tiny["turnout_lower"], tiny["turnout_upper"]) == (0.0, 1.0)  # clipped to [0, 1]
    assert big["turnout_scenario_low"] < 0.6 < big["turnout_scenario_high"]
    method = result.method
    assert (method.source, method.residuals_used, method.residuals_unusable) == ("backtest", 9, 1)
    assert method.dem_share_half_width == pytest.approx(0.02)


def test_intervals_round_trip_through_json():
    residuals = Residuals(source="holdout", cycle=None, turnout=(0.03,) * 9, dem_share=(0.02,) * 9)
    result = forecast_intervals(_aggregation(), residuals)
    back = ForecastIntervals.from_dict(jsonsafe.json_safe(result.to_dict()))
    pd.testing.assert_frame_equal(back.table, result.table, check_names=False)
    assert back.method == result.method


def test_a_rate_without_usable_residuals_is_refused_by_name():
    residuals = Residuals(source="holdout", cycle=None, turnout=(0.03,) * 9, dem_share=(np.nan,) * 9)
    with pytest.raises(ValueError, match=r"0 usable dem_share residuals \(holdout\) are too few for a 90% interval"):
        forecast_intervals(_aggregation(), residuals)
