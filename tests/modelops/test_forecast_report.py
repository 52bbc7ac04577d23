"""The forecast table, ranked chart and HTML page."""

import base64

import numpy as np
import pandas as pd
import pytest

from modelops.forecast.aggregate import ScoreColumns, aggregate_scores
from modelops.forecast.backtest import Backtest, QuantityErrors, Residuals
from modelops.forecast.intervals import forecast_intervals
from modelops.forecast.report import forecast_page, forecast_table, ranked_chart

COLS = ScoreColumns(geography="county", turnout="t", support="s")


def _forecast():
    frame = pd.DataFrame(
        {"county": np.repeat(["<b>x</b>", "north", "south"], 100), "t": 0.6, "s": np.repeat([0.5, 0.7, 0.3], 100)}
    )
    aggregation = aggregate_scores([frame], COLS)
    residuals = Residuals(source="backtest", cycle=2022, turnout=(0.03,) * 9, dem_share=(0.02,) * 9)
    return aggregation, forecast_intervals(aggregation, residuals)


def test_table_is_ranked_by_share_with_intervals_and_bands():
    aggregation, intervals = _forecast()
    table = forecast_table(aggregation, intervals)
    assert table.index.tolist() == ["north", "<b>x</b>", "south"]
    assert table.loc["north", "dem_share"] == pytest.approx(0.7)
    assert table.loc["north", "dem_share_lower"] < 0.7 < table.loc["north", "dem_share_upper"]
    assert table.loc["north", "turnout_scenario_low"] < 0.6 < table.loc["north", "turnout_scenario_high"]
    assert forecast_table(aggregation, intervals, "turnout")["registered"].tolist() == [100, 100, 100]


def test_chart_is_a_png_and_the_page_escapes_names():
    aggregation, intervals = _forecast()
    png = ranked_chart(forecast_table(aggregation, intervals), "dem_share", "share")
    assert base64.b64decode(png)[:4] == b"\x89PNG"
    backtest = Backtest(
        cycle=2022,
        geographies=3,
        errors=(QuantityErrors("turnout", 1.5, -0.5, 0.9), QuantityErrors("dem_share", 2.0, 0.25, None)),
        worst=(),
    )
    page = forecast_page(aggregation, intervals, "Forecast 2024", backtest)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Forecast 2024" in page and "90.0%" in page and "no intervals" in page
    assert page.count("data:image/png;base64,") == 2
