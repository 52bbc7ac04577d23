"""The forecast workflow: from two datasets' scores of one snapshot to a county forecast, backtest and calibration.

`plan_forecast` (task `plan`) checks, before any work, that both datasets permit the forecast's use
(`uses.check_use`: a refusal names the rule and writes nothing), that both committed scoring outputs exist
and cover the same input files and rows, whether certified results of the cycle exist, and which earlier
backtest gives the intervals. `run_forecast` (task `forecast`) then streams both outputs row-aligned with
the snapshot's geography (`forecast.scored.paired_chunks`), sums them by geography under the turnout
scenarios, builds split-conformal intervals from the earlier backtest's county residuals (without one: no
model interval, and the record says so), and, with certified results of the cycle, backtests the forecast
and fits the per-geography logit shift, pooled (empirical Bayes: unpooled shifts make a stable world's
forecast worse; the fit's first pass rides on the aggregation's, so a backtest reads the scores twice, not
three times). With `apply_calibration` the earlier cycle's pooled shift is applied too and both
forecasts are reported. Everything is published at once in `forecasts/<name>/<snapshot>/` and logged as
an MLflow run tagged with the use; the shift also goes to both model versions' runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modelops.config.forecasts import certified_path
from modelops.config.models import ForecastSpec
from modelops.config.settings import Settings
from modelops.config.uses import check_use
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.forecast.aggregate import Aggregation, GeographyAccumulator, MissingPolicy, ScoreColumns
from modelops.forecast.backtest import (
    Backtest,
    CertifiedColumns,
    Residuals,
    ResidualSource,
    backtest_table,
    residuals_from,
    summarize_backtest,
)
from modelops.forecast.calibrate import LogitShift, TurnoutPass, apply_shift, fit_logit_shift
from modelops.forecast.intervals import ForecastIntervals, forecast_intervals
from modelops.forecast.pooling import PooledQuantity, pool
from modelops.forecast.report import forecast_page
from modelops.forecast.scenarios import TurnoutScenarios
from modelops.forecast.scored import ScoredOutput, check_pair, paired_chunks
from modelops.pipelines.forecast_records import (
    NO_INTERVAL_NOTE,
    Calibration,
    ForecastOutcome,
    ForecastPlan,
    prior_backtest,
)

TURNOUT_SCORE, SUPPORT_SCORE = "turnout_score", "support_score"  # the paired chunks' score columns
CALIBRATED = "calibrated"  # suffix of the calibrated forecast's columns in forecast.parquet


def plan_forecast(
    settings: Settings, name: str | None, snapshot: str, cycle: int | None, apply_calibration: bool | None = None
) -> ForecastPlan:
    """Check the use, the two scoring outputs, the certified results and the earlier backtest; nothing is written."""
    name, spec = settings.forecast(name)
    turnout_spec, support_spec = settings.dataset(spec.turnout), settings.dataset(spec.support)
    use = check_use(turnout_spec, spec.use)  # UseRefused names the rule: before any read
    check_use(support_spec, spec.use)
    catalog.safe_id(snapshot, "snapshot id")
    turnout, support = ScoredOutput.of(spec.turnout, snapshot), ScoredOutput.of(spec.support, snapshot)
    check_pair(turnout, support)
    path = certified_path(spec, turnout_spec)
    rows = len(_certified(spec, path, cycle)) if path is not None and cycle is not None else 0
    return ForecastPlan(
        forecast=name,
        snapshot=snapshot,
        cycle=cycle,
        use=use,
        geography=str(spec.geography),
        turnout=turnout,
        support=support,
        certified_path=str(path) if path is not None else None,
        certified_rows=rows,
        prior=prior_backtest(name, snapshot, cycle),
        apply_calibration=spec.apply_calibration if apply_calibration is None else bool(apply_calibration),
    )


class ForecastRefused(ValueError):
    """A request the same inputs would refuse again (no earlier shift to apply, a certified file without its
    cycle column): the DAG fails it at once, without a retry."""


def _certified(spec: ForecastSpec, path: Path, cycle: int) -> pd.DataFrame:
    """The certified results of `cycle` (empty when the file or the cycle is absent), the cycle column dropped."""
    from modelops.collect.inputs import read_table

    if not path.exists():
        return pd.DataFrame()
    frame = read_table(path)
    column = spec.certified.cycle_column
    if column not in frame.columns:
        raise ForecastRefused(f"certified results {path.name} lack the cycle column {column!r}")
    return frame[frame[column] == cycle].drop(columns=[column]).reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class _Sums:
    """What the streaming pass and the backtest produced, before anything is written."""

    aggregation: Aggregation
    intervals: ForecastIntervals | None
    calibrated: Aggregation | None
    unmatched_rows: int
    backtest: Backtest | None
    calibrated_backtest: Backtest | None
    residuals: Residuals | None
    shift: LogitShift | None
    pooling: tuple[PooledQuantity, ...]


def run_forecast(
    settings: Settings,
    name: str | None,
    snapshot: str,
    cycle: int | None,
    apply_calibration: bool | None = None,
    track: bool = True,
) -> ForecastOutcome:
    """Forecast `snapshot` by geography, backtest it when certified results of `cycle` exist, publish, log."""
    plan = plan_forecast(settings, name, snapshot, cycle, apply_calibration)
    spec = settings.forecasts[plan.forecast]
    chunk_rows = int(settings.scoring_for(spec.turnout).chunk_rows)
    sums = _sum_and_backtest(plan, spec, chunk_rows)
    folder = catalog.forecast_dir(plan.forecast, plan.snapshot)
    outcome = _publish(plan, spec, sums, folder)
    if not track:
        return outcome
    artifacts = _attach_shift(plan, folder) if sums.shift is not None else ()
    run_id = _log_run(plan, outcome, folder)
    return ForecastOutcome.from_xcom({**outcome.to_xcom(), "shift_artifacts": artifacts, "mlflow_run_id": run_id})


def _sum_and_backtest(plan: ForecastPlan, spec: ForecastSpec, chunk_rows: int) -> _Sums:
    columns = ScoreColumns(plan.geography, TURNOUT_SCORE, SUPPORT_SCORE)
    scenarios = TurnoutScenarios(float(spec.scenario_delta))

    def read_chunks():
        return paired_chunks(plan.turnout, plan.support, plan.geography, (TURNOUT_SCORE, SUPPORT_SCORE), chunk_rows)

    plain = GeographyAccumulator(columns, scenarios, MissingPolicy.EXCLUDE)
    prior_shift = plan.prior.shift if plan.apply_calibration and plan.prior is not None else None
    if plan.apply_calibration and prior_shift is None:
        raise ForecastRefused(
            f"forecast {plan.forecast}: apply_calibration asks for an earlier cycle's logit shift, and no earlier "
            "backtest of this forecast stored one: run the forecast of an earlier cycle with certified results first"
        )
    shifted = GeographyAccumulator(columns, scenarios, MissingPolicy.EXCLUDE) if prior_shift else None
    first_pass = TurnoutPass(columns) if plan.backtests else None  # the fit's first pass rides on this one
    unmatched = 0
    for chunk in read_chunks():
        plain.add(chunk)
        if first_pass is not None:
            first_pass.add(chunk)
        if shifted is not None:
            moved = apply_shift(chunk, prior_shift, columns)
            unmatched += moved.unmatched_rows
            shifted.add(moved.frame)
    aggregation = plain.result()
    calibrated = shifted.result() if shifted is not None else None
    intervals = None
    if plan.prior is not None:
        intervals = forecast_intervals(aggregation, plan.prior.residuals, float(spec.interval_level))
    if not plan.backtests:
        return _Sums(aggregation, intervals, calibrated, unmatched, None, None, None, None, ())
    cert = spec.certified
    certified = _certified(spec, Path(str(plan.certified_path)), int(plan.cycle))
    geography = cert.geography or plan.geography
    cols = CertifiedColumns(geography, cert.ballots, cert.dem_votes, cert.turnout, cert.dem_share)
    table = backtest_table(aggregation, certified, cols, intervals.table if intervals is not None else None)
    backtest = summarize_backtest(table, plan.cycle)
    calibrated_backtest = None
    if calibrated is not None:
        calibrated_backtest = summarize_backtest(backtest_table(calibrated, certified, cols), plan.cycle)
    fitted = fit_logit_shift(read_chunks, certified, columns, cols, cycle=plan.cycle, first_pass=first_pass)
    shift, pooling = pool(fitted)
    residuals = residuals_from(table, ResidualSource.BACKTEST, plan.cycle)
    return _Sums(
        aggregation, intervals, calibrated, unmatched, backtest, calibrated_backtest, residuals, shift, pooling
    )


def _county_table(sums: _Sums) -> pd.DataFrame:
    """forecast.parquet: the aggregation per geography, the interval columns, the calibrated rates."""
    table = sums.aggregation.table.copy()
    if sums.intervals is not None:
        table = table.join(sums.intervals.table.drop(columns=[c for c in sums.intervals.table if c in table]))
    if sums.calibrated is not None:
        for quantity in ("turnout", "dem_share"):
            table[f"{quantity}_{CALIBRATED}"] = sums.calibrated.table[quantity].reindex(table.index)
    return table.reset_index()


def _publish(plan: ForecastPlan, spec: ForecastSpec, sums: _Sums, folder: Path) -> ForecastOutcome:
    calibration = None
    if sums.calibrated is not None and plan.prior is not None:
        calibration = Calibration(plan.prior.snapshot, plan.prior.cycle, sums.unmatched_rows, sums.calibrated_backtest)
    agg = sums.aggregation
    outcome = ForecastOutcome(
        forecast=plan.forecast,
        snapshot=plan.snapshot,
        cycle=plan.cycle,
        use=plan.use,
        geography=plan.geography,
        turnout=plan.turnout,
        support=plan.support,
        rows=agg.rows,
        rows_excluded=agg.rows_excluded,
        rows_missing_geography=agg.rows_missing_geography,
        geographies=len(agg.table),
        intervals=sums.intervals.method if sums.intervals is not None else None,
        interval_note="" if sums.intervals is not None else NO_INTERVAL_NOTE,
        backtest=sums.backtest,
        calibration=calibration,
        pooling=sums.pooling,
        shift_path=str(folder / catalog.LOGIT_SHIFT_FILE) if sums.shift is not None else None,
        shift_artifacts=(),
        folder=str(folder),
        report_path=str(folder / catalog.REPORT_HTML),
        mlflow_run_id=None,
    )
    notes = tuple(outcome.summary_lines()[2:])
    title = f"Forecast {plan.forecast}: snapshot {plan.snapshot}"
    page = forecast_page(agg, sums.intervals, title, sums.backtest, notes)
    with catalog.atomic_dir(folder) as staging:
        _county_table(sums).to_parquet(staging / catalog.FORECAST_TABLE, index=False)
        catalog.write_json(
            staging / catalog.FORECAST_JSON,
            {
                **outcome.to_xcom(),
                "aggregation": agg.to_dict(),
                "residuals": sums.residuals,  # what the next cycle's intervals are built from
                "intervals_from": plan.prior.snapshot if plan.prior is not None else None,
                "apply_calibration": plan.apply_calibration,
            },
        )
        if sums.shift is not None:
            catalog.write_json(staging / catalog.LOGIT_SHIFT_FILE, {"shift": sums.shift, "pooling": sums.pooling})
        catalog.write_text(staging / catalog.REPORT_HTML, page)
    return outcome


def _attach_shift(plan: ForecastPlan, folder: Path) -> tuple[str, ...]:
    """The pooled shift on the training runs of both model versions that served (those that name a run)."""
    from modelops.store.forecast_runs import attach_to_run

    where = f"forecasts/{plan.forecast}/cycle={plan.cycle}"
    runs = dict.fromkeys(r for r in (plan.turnout.model_run_id, plan.support.model_run_id) if r)
    return tuple(attach_to_run(run_id, str(folder / catalog.LOGIT_SHIFT_FILE), where) for run_id in runs)


def _log_run(plan: ForecastPlan, outcome: ForecastOutcome, folder: Path) -> str:
    from modelops.store.forecast_runs import log_forecast

    params = {
        "forecast": plan.forecast,
        "snapshot": plan.snapshot,
        "cycle": plan.cycle,
        "use": plan.use,
        "turnout_model": f"{plan.turnout.model_name}/{plan.turnout.model_version}",
        "support_model": f"{plan.support.model_name}/{plan.support.model_version}",
        "apply_calibration": plan.apply_calibration,
    }
    metrics: dict[str, float | None] = {"rows": outcome.rows, "geographies": outcome.geographies}
    for prefix, backtest in (("", outcome.backtest), ("calibrated_", outcome.calibrated_backtest)):
        for e in backtest.errors if backtest is not None else ():
            metrics |= {
                f"{prefix}{e.quantity}_mae_points": e.mae_points,
                f"{prefix}{e.quantity}_bias_points": e.bias_points,
                f"{prefix}{e.quantity}_coverage": e.coverage,
            }
    tags = {
        Tag.FORECAST: plan.forecast,
        Tag.SNAPSHOT: plan.snapshot,
        Tag.CYCLE: str(plan.cycle),
        Tag.PERMITTED_USE: plan.use,
        Tag.TURNOUT_VERSION: plan.turnout.model_version,
        Tag.SUPPORT_VERSION: plan.support.model_version,
    }
    files = [str(folder / n) for n in (catalog.FORECAST_JSON, catalog.REPORT_HTML)]
    return log_forecast(plan.forecast, params, metrics, outcome.to_xcom(), files, tags)
