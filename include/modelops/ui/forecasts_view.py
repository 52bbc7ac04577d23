"""What the Model monitor shows of forecasts and score decay on a dataset's page: typed records.

`forecasts_view` lists the published runs (`forecast.published`) of every configured forecast whose
turnout or support dataset is this one: snapshot, cycle, rows, geographies, who served the scores, how
the intervals were built (or "no model interval"), the backtest per rate in points beside the
calibrated one, and links to the run's page and figures (served through `catalog.resolve_served`). A
forecast file that cannot be read is listed with why, never hides the others. `decay_view` is the
champion's primary metric by age (`monitor.served_decay`), the same figures as its model card.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from modelops.config.settings import Settings
from modelops.core import catalog
from modelops.ui.links import Link, file_link

if TYPE_CHECKING:  # numpy, scipy and the registry wait for a request (the plugin imports this module)
    from modelops.forecast.backtest import Backtest
    from modelops.forecast.published import PublishedForecast
    from modelops.monitor.served_decay import Holdout, ServedDecay

NO_MODEL_INTERVAL = "no model interval"


class RateErrors(BaseModel):
    """One rate's backtest against certified results: errors in percentage points, interval coverage."""

    quantity: str
    mae_points: float
    bias_points: float
    coverage: float | None = Field(description="share of geographies whose interval held the certified value")


class ForecastRun(BaseModel):
    """One published forecast run as the page lists it."""

    forecast: str
    snapshot: str
    cycle: int | None
    rows: int
    geographies: int
    turnout_model: str
    support_model: str
    interval: str = Field(description='how the intervals were built, or "no model interval"')
    interval_level: float | None
    backtest: list[RateErrors] = Field(description="against certified results (empty: not backtested)")
    calibrated: list[RateErrors] = Field(description="the calibrated forecast's backtest (empty: no calibration)")
    links: list[Link]


class ForecastsView(BaseModel):
    """The forecasts built on a dataset's scores: their names, published runs (newest first) and unreadable files."""

    forecasts: list[str]
    runs: list[ForecastRun]
    unreadable: list[str]


def _errors(backtest: Backtest | None) -> list[RateErrors]:
    if backtest is None:
        return []
    return [RateErrors(quantity=e.quantity, mae_points=e.mae_points, bias_points=e.bias_points, coverage=e.coverage)
            for e in backtest.errors]  # fmt: skip


def interval_text(run: PublishedForecast) -> str:
    """The interval method in words, or `NO_MODEL_INTERVAL`."""
    m = run.intervals
    if m is None:
        return NO_MODEL_INTERVAL
    cycle = f" of cycle {m.residual_cycle}" if m.residual_cycle is not None else ""
    return f"{m.level:.0%} split conformal, {m.residuals_used} {m.source} residuals{cycle}"


def forecast_run(run: PublishedForecast) -> ForecastRun:
    """The page's record of one published run."""
    return ForecastRun(
        forecast=run.forecast,
        snapshot=run.snapshot,
        cycle=run.cycle,
        rows=run.rows,
        geographies=run.geographies,
        turnout_model=f"{run.turnout.model_name} v{run.turnout.model_version}",
        support_model=f"{run.support.model_name} v{run.support.model_version}",
        interval=interval_text(run),
        interval_level=run.intervals.level if run.intervals is not None else None,
        backtest=_errors(run.backtest),
        calibrated=_errors(run.calibrated),
        links=file_link("forecast page", run.report_path) + file_link("figures (JSON)", run.json_path),
    )


def forecasts_view(settings: Settings, dataset: str) -> ForecastsView:
    """Every published run of the forecasts whose turnout or support dataset is `dataset`."""
    from modelops.forecast.published import PublishedForecast, published_runs

    names = [n for n, f in settings.forecasts.items() if dataset in (f.turnout, f.support)]
    runs = published_runs(names)
    return ForecastsView(
        forecasts=names,
        runs=[forecast_run(r) for r in runs if isinstance(r, PublishedForecast)],
        unreadable=[str(r) for r in runs if not isinstance(r, PublishedForecast)],
    )


class AgeRow(BaseModel):
    """The metric at one age: the holdout (age 0) or a labelled window."""

    label: str
    age_days: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    relative_drop: float | None = Field(description="against the holdout, positive when worse")
    window_end: datetime | None


class DecayView(BaseModel):
    """A version's primary metric by age, with the champion age bound and the monitoring tolerance."""

    version: str
    metric: str
    start: datetime | None = Field(description="when the version first became champion, else was registered")
    start_source: str | None
    points: list[AgeRow]
    max_age_days: float | None
    max_relative_drop: float | None
    age_at_tolerance: float | None = Field(description="days at which the drop reaches the tolerance (None: not)")
    unattributed: int = Field(description="labelled windows whose serving version is not recorded")


def decay_view(decay: ServedDecay) -> DecayView:
    """The page's record of a `ServedDecay`."""
    return DecayView(
        version=decay.version,
        metric=decay.metric,
        start=decay.start.at if decay.start is not None else None,
        start_source=decay.start.source if decay.start is not None else None,
        points=[
            AgeRow(
                label=p.label,
                age_days=p.age_days,
                value=p.value,
                ci_low=p.ci_low,
                ci_high=p.ci_high,
                relative_drop=p.relative_drop,
                window_end=p.window_end,
            )
            for p in decay.points
        ],
        max_age_days=decay.max_age_days,
        max_relative_drop=decay.max_relative_drop,
        age_at_tolerance=decay.age_at_tolerance,
        unattributed=decay.unattributed,
    )


def card_holdout(dataset: str, model_name: str, version: str, metric: str, value: float | None) -> Holdout:
    """The holdout value, with the interval of the version's model card when the card was made."""
    from modelops.monitor.served_decay import Holdout

    path = catalog.card_dir(dataset, model_name, version) / catalog.CARD_JSON
    if path.exists():
        figures = (catalog.read_json(path).get("metrics") or {}).get(metric) or {}
        if figures.get("value") is not None:
            return Holdout(figures["value"], figures.get("ci_low"), figures.get("ci_high"))
    return Holdout(value)
