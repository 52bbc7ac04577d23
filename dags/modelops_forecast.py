"""
### ModelOps forecast: voter scores to an election forecast by county

Sums two datasets' committed scores of the same voter-file snapshot (`forecasts.<name>` in the parameters
file: a turnout dataset x a support dataset) into expected ballots, turnout and two-party share per
geography, under a low, expected and high turnout scenario.

**Intervals** come from the county residuals of this forecast's latest backtest of an earlier cycle
(split conformal at `interval_level`). Without one there is **no model interval**: the record and the
page say so, and only the turnout-scenario band is given.

**Backtest**: when the certified results file holds the run's `cycle`, the forecast is compared with them
(MAE and bias in points, interval coverage) and the per-county logit shift is fitted and pooled (empirical
Bayes); it is stored beside the forecast and on both model versions' MLflow runs. With `apply_calibration`
the previous backtested cycle's pooled shift is applied too, and both forecasts are reported.

**Outputs**: `forecasts/<name>/<snapshot>/` in the workspace (`forecast.parquet`, `forecast.json`,
`logit_shift.json`, `report.html`, published at once) and an MLflow run in `modelops/forecasts/<name>`
tagged with the permitted use.

**Params**: `forecast` (empty = the first configured), `snapshot` (scored by both datasets), `cycle` (the
election year; empty = no backtest), `apply_calibration` (empty = the configured choice).

**Refusals fail at once, without retry**: a use either dataset does not permit (the rule is named), a
configuration error, a missing scoring output, or two outputs that are not the same voters in the same
order (told by counts, never an id).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import FORECAST_DAG_ID
from modelops_airflow.defaults import make_default_args, scored_snapshot_param
from modelops_airflow.runtime import plain_config_errors, read_settings

default_args = make_default_args(execution_timeout=timedelta(minutes=60))


def _params() -> dict:
    params = get_current_context()["params"]
    return {
        "name": params.get("forecast") or None,
        "snapshot": params["snapshot"],
        "cycle": params.get("cycle"),
        "apply_calibration": params.get("apply_calibration"),
    }


def _refused(exc: Exception):
    """Airflow's fail-fast exception: the same request is refused again, so no retry."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


@task
def plan() -> dict:
    """Check the use on both datasets, the two scoring outputs and the certified results; nothing is written."""
    from modelops.config.uses import UseRefused
    from modelops.forecast.scored import ScoresMismatch
    from modelops.pipelines.forecast_flow import ForecastRefused, plan_forecast

    settings = read_settings()
    try:
        with plain_config_errors():
            return plan_forecast(settings, **_params()).brief()
    except (UseRefused, ScoresMismatch, ForecastRefused, FileNotFoundError) as exc:
        raise _refused(exc) from exc


@task
def forecast(planned: dict) -> dict:
    """Sum the scores by geography, intervals, backtest and shift when certified results exist; publish; log."""
    from modelops.config.uses import UseRefused
    from modelops.forecast.backtest import GeographyMismatch
    from modelops.forecast.scored import ScoresMismatch
    from modelops.pipelines.forecast_flow import ForecastRefused, run_forecast

    settings = read_settings()
    try:
        with plain_config_errors():
            return run_forecast(settings, **_params()).to_xcom()
    except (UseRefused, ScoresMismatch, GeographyMismatch, ForecastRefused, FileNotFoundError) as exc:
        raise _refused(exc) from exc


@task
def refresh_cards(outcome: dict) -> list[str]:
    """Remake both model versions' cards, so each shows this forecast and its backtest beside its other figures."""
    from modelops.govern.cards import CardError, build_card
    from modelops.pipelines.forecast_records import ForecastOutcome

    done, settings = ForecastOutcome.from_xcom(outcome), read_settings()
    cards = []
    for scored in (done.turnout, done.support):
        try:
            cards.append(build_card(scored.model_name, str(scored.model_version), settings)["card_html"])
        except CardError as exc:  # the version's record is gone: remaking again cannot help
            raise _refused(exc) from exc
    return cards


@task
def summary(outcome: dict) -> list[str]:
    """The forecast in a few lines: rows, geographies, intervals, backtest and calibration."""
    from modelops.pipelines.forecast_records import ForecastOutcome

    lines = ForecastOutcome.from_xcom(outcome).summary_lines()
    for line in lines:
        print(line)
    return lines


@dag(
    dag_id=FORECAST_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "forecast"],
    default_args=default_args,
    params={
        "forecast": Param(None, type=["null", "string"], description="A `forecasts` name; empty = the first."),
        "snapshot": scored_snapshot_param("The snapshot both datasets scored."),
        "cycle": Param(None, type=["null", "integer"], description="Election cycle (year): backtested when certified."),
        "apply_calibration": Param(
            None,
            type=["null", "boolean"],
            description="Also apply the previous backtested cycle's pooled shift; empty = configured.",
        ),
    },
)
def modelops_forecast():
    planned = plan()
    outcome = forecast(planned)
    outcome >> refresh_cards(outcome)
    summary(outcome)


modelops_forecast()
