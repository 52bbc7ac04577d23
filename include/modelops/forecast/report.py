"""The forecast as people read it: a table per geography, a ranked chart with intervals, one HTML page.

The table lists each geography's registered voters, turnout and two-party share with their interval
(`intervals`) and their turnout-scenario band, ranked by the chosen rate. The chart draws the same
ranking: a dot per geography at the expected scenario, a bar for its interval, a thin line for the
scenario band. The page (`present/templates/forecast_report.html.j2`) adds how the intervals were
built and, given one, the last backtest. Writing the page to disk is the caller's (the catalog's).
"""

from __future__ import annotations

import pandas as pd

from modelops.core import jsonsafe
from modelops.forecast.aggregate import LOWER, QUANTITIES, REGISTERED, UPPER, Aggregation, bound_column
from modelops.forecast.backtest import Backtest
from modelops.forecast.intervals import SCENARIO_HIGH, SCENARIO_LOW, ForecastIntervals, scenario_band
from modelops.present import pages
from modelops.present.reports import format_value, png_base64

CHART_ROWS = 40  # geographies drawn in the ranked chart (the table lists all)
TEMPLATE = "forecast_report.html.j2"


def forecast_table(
    aggregation: Aggregation, intervals: ForecastIntervals | None, rank_by: str = QUANTITIES[1]
) -> pd.DataFrame:
    """Per geography, ranked by `rank_by` (highest first): registered, each rate, its interval and scenario band.

    Without `intervals` (no earlier backtest) the bounds are empty and only the scenario band is given.
    """
    table = intervals.table if intervals is not None else scenario_band(aggregation)
    out = pd.DataFrame({REGISTERED: aggregation.table[REGISTERED]}, index=table.index)
    for quantity in QUANTITIES:
        out[quantity] = table[quantity]
        for column in (bound_column(quantity, LOWER), bound_column(quantity, UPPER)):
            out[column] = table[column]
        for column in (f"{quantity}_{SCENARIO_LOW}", f"{quantity}_{SCENARIO_HIGH}"):
            out[column] = table[column]
    return out.sort_values(rank_by, ascending=False, kind="stable")


def ranked_chart(table: pd.DataFrame, quantity: str, title: str, rows: int = CHART_ROWS) -> str:
    """The first `rows` geographies of a `forecast_table`: dot, interval bar, scenario band; base64 PNG.

    Drawn on a bare `Figure` laid out once (no pyplot import, no second draw to find a tight bounding box):
    the page's charts are a fixed cost of every forecast run, whatever the number of voters."""
    from matplotlib.figure import Figure

    part = table.head(rows).iloc[::-1]
    y = range(len(part))
    fig = Figure(figsize=(6.5, max(2.0, 0.22 * len(part) + 1.0)))
    fig.subplots_adjust(left=0.16, right=0.97, top=0.93, bottom=0.12)
    ax = fig.add_subplot()
    ax.hlines(y, part[f"{quantity}_{SCENARIO_LOW}"], part[f"{quantity}_{SCENARIO_HIGH}"], color="#999999", lw=1)
    low, high = part[bound_column(quantity, LOWER)], part[bound_column(quantity, UPPER)]
    ax.hlines(y, low, high, color="#4c72b0", lw=4, alpha=0.45, label="interval")
    ax.plot(part[quantity], y, "o", color="#1f3b73", ms=4, label="expected")
    ax.set_yticks(list(y), [str(g) for g in part.index], fontsize=7)
    ax.set_xlabel(quantity)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return png_base64(fig, tight=False)


def forecast_page(
    aggregation: Aggregation,
    intervals: ForecastIntervals | None,
    title: str,
    backtest: Backtest | None = None,
    notes: tuple[str, ...] = (),
) -> str:
    """The forecast's HTML page: method (or why no interval), the ranked charts, the table, the backtest, `notes`."""
    table = forecast_table(aggregation, intervals)
    header = [table.index.name or "geography", *table.columns]
    formats = ["" if c == REGISTERED else "%" for c in table.columns]
    # every column as floats, as a row of the table reads (thousands of geographies: no Series per row)
    rows = [[str(g), *(format_value(v, f) for f, v in zip(formats, values, strict=True))]
            for g, values in zip(table.index, table.to_numpy(dtype=float).tolist(), strict=True)]  # fmt: skip
    charts = {q: ranked_chart(forecast_table(aggregation, intervals, q), q, f"{q} by geography") for q in QUANTITIES}
    return pages.render(
        TEMPLATE,
        title=title,
        method=intervals.method if intervals is not None else None,
        aggregation=aggregation,
        notes=notes,
        charts=charts,
        header=header,
        rows=rows,
        backtest=backtest,
        record_json=jsonsafe.dumps(
            {"method": intervals.method if intervals is not None else None, "backtest": backtest}, indent=2
        ),
    )
