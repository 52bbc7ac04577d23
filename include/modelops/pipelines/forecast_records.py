"""The forecast workflow's typed records, and what an earlier forecast left for the next one.

`ForecastPlan` (task `plan`) names what will be summed: the two committed scoring outputs, the use, the
certified results and the earlier backtest the intervals come from; `ForecastOutcome` (task `forecast`)
holds every figure a person or the summary reads. `prior_backtest` finds, among this forecast's published
runs, the latest backtested one of an earlier cycle: its county residuals give the intervals, its pooled
logit shift the optional calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.forecast.backtest import Backtest, Residuals
from modelops.forecast.calibrate import LogitShift
from modelops.forecast.intervals import IntervalMethod
from modelops.forecast.pooling import PooledQuantity
from modelops.forecast.scored import ScoredOutput

NO_INTERVAL_NOTE = (
    "no model interval: no earlier backtest of this forecast gave county residuals; only the turnout-scenario "
    "band is reported"
)


@dataclass(frozen=True)
class PriorBacktest(XComRecord):
    """An earlier backtested forecast: its snapshot and cycle, county residuals and pooled logit shift."""

    snapshot: str
    cycle: int
    residuals: Residuals
    shift: LogitShift | None


@dataclass(frozen=True)
class ForecastPlan(XComRecord):
    """What a forecast run sums and against what: checked before any work (use, outputs, same rows)."""

    forecast: str
    snapshot: str
    cycle: int | None
    use: str
    geography: str
    turnout: ScoredOutput
    support: ScoredOutput
    certified_path: str | None
    certified_rows: int  # rows of the certified results for `cycle` (0: no backtest)
    prior: PriorBacktest | None
    apply_calibration: bool

    @property
    def backtests(self) -> bool:
        """Whether certified results of the cycle exist, so the run backtests and fits a shift."""
        return self.certified_rows > 0

    def brief(self) -> dict[str, object]:
        """What the plan decided, small enough for XCom (the residuals and shifts stay in the workspace)."""
        return {
            "forecast": self.forecast,
            "snapshot": self.snapshot,
            "cycle": self.cycle,
            "use": self.use,
            "turnout_model": f"{self.turnout.model_name}/{self.turnout.model_version}",
            "support_model": f"{self.support.model_name}/{self.support.model_version}",
            "backtests": self.backtests,
            "intervals_from": self.prior.snapshot if self.prior is not None else None,
            "apply_calibration": self.apply_calibration,
        }


@dataclass(frozen=True)
class Calibration(XComRecord):
    """The previous cycle's pooled shift applied to this forecast, and (with certified results) its backtest."""

    from_snapshot: str
    from_cycle: int
    unmatched_rows: int  # rows in geographies the shift did not know (no shift)
    backtest: Backtest | None


@dataclass(frozen=True)
class ForecastOutcome(XComRecord):
    """Task `forecast`'s result: what was summed, the intervals, the backtest, the calibration, where it went."""

    forecast: str
    snapshot: str
    cycle: int | None
    use: str
    geography: str
    turnout: ScoredOutput
    support: ScoredOutput
    rows: int
    rows_excluded: int
    rows_missing_geography: int
    geographies: int
    intervals: IntervalMethod | None
    interval_note: str
    backtest: Backtest | None
    calibration: Calibration | None
    pooling: tuple[PooledQuantity, ...]  # how this cycle's fitted shift was pooled (empty: none fitted)
    shift_path: str | None
    shift_artifacts: tuple[str, ...]  # the shift on the model versions' runs (runs:/ URIs)
    folder: str
    report_path: str
    mlflow_run_id: str | None

    @classmethod
    def published(cls, forecast: str, snapshot: str) -> ForecastOutcome:
        """The outcome a run published in `forecasts/<forecast>/<snapshot>/forecast.json` (its other keys ignored)."""
        path = catalog.forecast_dir(forecast, snapshot) / catalog.FORECAST_JSON
        if not path.exists():
            raise FileNotFoundError(f"no published forecast {forecast} of snapshot {snapshot!r} at {path.parent}")
        return cls.from_xcom(catalog.read_json(path), ignore_unknown=True)

    @property
    def calibrated_backtest(self) -> Backtest | None:
        """The backtest of the calibrated forecast (None without a calibration or certified results)."""
        return self.calibration.backtest if self.calibration is not None else None

    @property
    def backtested(self) -> bool:
        """Whether the forecast was compared with certified results."""
        return self.backtest is not None

    def summary_lines(self) -> list[str]:
        """A few lines for the task log and the run note: rows, geographies, intervals, backtest, calibration."""
        lines = [
            f"forecast {self.forecast} of snapshot {self.snapshot} (cycle {self.cycle}, use {self.use}): "
            f"{self.rows} voter rows in {self.geographies} geographies ({self.rows_excluded} without a score, "
            f"{self.rows_missing_geography} without a geography)",
            f"scores: {self.turnout.model_name} v{self.turnout.model_version} x "
            f"{self.support.model_name} v{self.support.model_version}",
        ]
        if self.intervals is None:
            lines.append(self.interval_note)
        else:
            m = self.intervals
            lines.append(
                f"{m.level:.0%} intervals from {m.residuals_used} residuals of cycle {m.residual_cycle}: half-width "
                f"turnout {m.turnout_half_width * 100:.2f} points, two-party share {m.dem_share_half_width * 100:.2f}"
            )
        for label, backtest in (("backtest", self.backtest), ("calibrated", self.calibrated_backtest)):
            if backtest is not None:
                lines.append(f"{label}: " + "; ".join(_errors(e) for e in backtest.errors))
        return lines


def _errors(e) -> str:
    cover = "" if e.coverage is None else f", coverage {e.coverage:.0%}"
    return f"{e.quantity} MAE {e.mae_points:.2f} points, bias {e.bias_points:+.2f}{cover}"


def prior_backtest(forecast: str, snapshot: str, cycle: int | None) -> PriorBacktest | None:
    """The latest backtested run of `forecast` of an earlier cycle (any cycle when `cycle` is None), or None."""
    best: PriorBacktest | None = None
    for other in catalog.list_forecasts(forecast):
        if other == snapshot:
            continue
        folder = catalog.forecast_dir(forecast, other)
        record = catalog.read_json(folder / catalog.FORECAST_JSON)
        earlier = record.get("cycle")
        if record.get("residuals") is None or earlier is None or (cycle is not None and earlier >= cycle):
            continue
        if best is not None and earlier < best.cycle:
            continue
        shift_file = folder / catalog.LOGIT_SHIFT_FILE
        shift = LogitShift.from_xcom(catalog.read_json(shift_file)["shift"]) if shift_file.exists() else None
        best = PriorBacktest(other, int(earlier), Residuals.from_xcom(record["residuals"]), shift)
    return best
