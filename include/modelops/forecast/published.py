"""The published forecast runs as the Model monitor and the model cards read them: one typed record per run.

A forecast run publishes `forecasts/<name>/<snapshot>/forecast.json` (see `pipelines.forecast_flow`); this
module reads the part of it a person compares runs by: who served the scores, how many rows and
geographies, how the intervals were built (or that there was no model interval), the backtest against
certified results and, when a calibration was applied, its backtest beside the plain one. A file without a
key it needs is refused with the file and the keys named (`PublishedForecastError`), never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.core import catalog
from modelops.forecast.backtest import Backtest
from modelops.forecast.intervals import IntervalMethod
from modelops.forecast.scored import ScoredOutput

REQUIRED_KEYS = ("forecast", "snapshot", "cycle", "turnout", "support", "rows", "geographies", "intervals")


class PublishedForecastError(ValueError):
    """A forecast.json that lacks what a reader needs (the file and the keys are named)."""


@dataclass(frozen=True)
class PublishedForecast:
    """One published forecast run: what was summed, the intervals, the backtest (and the calibrated one)."""

    forecast: str
    snapshot: str
    cycle: int | None
    use: str | None
    turnout: ScoredOutput
    support: ScoredOutput
    rows: int
    geographies: int
    intervals: IntervalMethod | None
    interval_note: str
    backtest: Backtest | None
    calibrated: Backtest | None  # the backtest of the calibrated forecast (None: no calibration applied)
    folder: Path

    @property
    def report_path(self) -> Path:
        """The run's page."""
        return self.folder / catalog.REPORT_HTML

    @property
    def json_path(self) -> Path:
        """The run's figures."""
        return self.folder / catalog.FORECAST_JSON

    def served_by(self, model_name: str, version: str) -> list[str]:
        """The roles ("turnout", "support") in which `model_name` v`version` served this run's scores."""
        return [
            role
            for role, out in (("turnout", self.turnout), ("support", self.support))
            if out.model_name == model_name and str(out.model_version) == str(version)
        ]


def _backtest(body: Any) -> Backtest | None:
    return Backtest.from_xcom(body) if isinstance(body, dict) else None


def parse_published(record: dict[str, Any], folder: Path) -> PublishedForecast:
    """A forecast.json's content as a record (`folder`: where it was published)."""
    where = folder / catalog.FORECAST_JSON
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise PublishedForecastError(f"{where}: missing key(s) {missing}")
    try:
        calibration = record.get("calibration")
        return PublishedForecast(
            forecast=str(record["forecast"]),
            snapshot=str(record["snapshot"]),
            cycle=None if record["cycle"] is None else int(record["cycle"]),
            use=record.get("use"),
            turnout=ScoredOutput.from_xcom(record["turnout"]),
            support=ScoredOutput.from_xcom(record["support"]),
            rows=int(record["rows"]),
            geographies=int(record["geographies"]),
            intervals=IntervalMethod.from_xcom(record["intervals"]) if record["intervals"] is not None else None,
            interval_note=str(record.get("interval_note") or ""),
            backtest=_backtest(record.get("backtest")),
            calibrated=_backtest(calibration.get("backtest")) if isinstance(calibration, dict) else None,
            folder=folder,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise PublishedForecastError(f"{where}: not a forecast record ({type(exc).__name__})") from None


def read_published(forecast: str, snapshot: str) -> PublishedForecast:
    """The published run of `forecast` for `snapshot` (FileNotFoundError when there is none)."""
    folder = catalog.forecast_dir(forecast, snapshot)
    path = folder / catalog.FORECAST_JSON
    if not path.exists():
        raise FileNotFoundError(f"forecast {forecast!r} has no published run of snapshot {snapshot!r} at {folder}")
    try:
        record = catalog.read_json(path)
    except ValueError:
        raise PublishedForecastError(f"{path}: not readable JSON") from None
    if not isinstance(record, dict):
        raise PublishedForecastError(f"{path}: not a JSON object")
    return parse_published(record, folder)


def published_runs(names: Iterable[str]) -> list[PublishedForecast | PublishedForecastError]:
    """Every published run of the named forecasts, newest snapshot first per forecast; an unreadable run is its
    error (so one bad file does not hide the others)."""
    out: list[PublishedForecast | PublishedForecastError] = []
    for name in names:
        for snapshot in reversed(catalog.list_forecasts(name)):
            try:
                out.append(read_published(name, snapshot))
            except PublishedForecastError as exc:
                out.append(exc)
    return out
