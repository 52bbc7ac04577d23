"""The forecast DAG through Airflow on a small real workspace: both datasets trained and serving, two cycles
of the voter file scored by both; the first forecast backtests and fits the shift, the second takes its
intervals from the first's residuals and reports the calibrated forecast beside the plain one."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import run_training

from modelops.collect.scenarios import deliver_cycle
from modelops.config.settings import REPO_ROOT
from modelops.core import catalog
from modelops.core.handoffs import FORECAST_DAG_ID, TRAINING_DAG_ID
from modelops.core.tags import Tag
from modelops.pipelines import workflow
from modelops.pipelines.forecast_records import ForecastOutcome
from modelops.score.snapshot import score_snapshot
from modelops.store import registry, tracking
from modelops.store.forecast_runs import forecast_experiment_name

pytestmark = pytest.mark.integration

ROWS = 6000  # voters over the bundled three cycles: 2000 a cycle, about 50 a county
FORECAST = "voter_forecast"
CYCLES = (2022, 2024)


def _serving(settings, dataset: str, rows: int | None):
    """Train `dataset` without Airflow and make the version champion (a small run may miss a gate)."""
    done = run_training(settings, dataset, f"{dataset}-v1", rows=rows)
    if done["outcome"]["alias"] != registry.CHAMPION:
        actor = registry.dag_actor(TRAINING_DAG_ID, "tests")
        workflow.apply_alias(done["outcome"], registry.CHAMPION, actor, f"{dataset}-v1")
    return done["spec"]


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(FORECAST_DAG_ID)


def _finite(backtest, with_coverage: bool) -> None:
    assert backtest is not None
    assert {e.quantity for e in backtest.errors} == {"turnout", "dem_share"}
    for e in backtest.errors:
        assert math.isfinite(e.mae_points) and e.mae_points >= 0 and math.isfinite(e.bias_points)
        assert (e.coverage is not None and 0.0 <= e.coverage <= 1.0) if with_coverage else e.coverage is None


def test_forecast_dag_backtests_one_cycle_then_calibrates_the_next(airflow_db, workspace, settings):
    turnout = _serving(settings, "voter_turnout", ROWS)
    support = _serving(settings, "voter_support", None)
    for cycle in CYCLES:
        deliver_cycle(turnout, cycle, f"cycle-{cycle}")
        score_snapshot(turnout, settings, snapshot=f"cycle-{cycle}")
        score_snapshot(support, settings, snapshot=f"cycle-{cycle}", use="forecast")

    dag = _dag()
    first = dag.test(run_conf={"snapshot": "cycle-2022", "cycle": 2022})
    assert first.state == "success", {ti.task_id: ti.state for ti in first.get_task_instances()}
    second = dag.test(run_conf={"snapshot": "cycle-2024", "cycle": 2024, "apply_calibration": True})
    assert second.state == "success", {ti.task_id: ti.state for ti in second.get_task_instances()}

    for cycle in CYCLES:
        folder = catalog.forecast_dir(FORECAST, f"cycle-{cycle}")
        names = (catalog.FORECAST_TABLE, catalog.FORECAST_JSON, catalog.LOGIT_SHIFT_FILE, catalog.REPORT_HTML)
        assert all((folder / name).is_file() for name in names), sorted(p.name for p in folder.iterdir())
        table = pd.read_parquet(folder / catalog.FORECAST_TABLE)
        assert len(table) == settings.dataset("voter_turnout").source["counties"]
        assert table["registered"].sum() == ROWS // 3  # every voter of the cycle, in a county

    plain = ForecastOutcome.published(FORECAST, "cycle-2022")
    assert plain.rows == ROWS // 3 and plain.intervals is None and plain.calibration is None
    _finite(plain.backtest, with_coverage=False)  # no earlier backtest: no interval to cover

    calibrated = ForecastOutcome.published(FORECAST, "cycle-2024")
    assert calibrated.intervals is not None and calibrated.intervals.residual_cycle == 2022
    assert calibrated.calibration is not None and calibrated.calibration.from_snapshot == "cycle-2022"
    _finite(calibrated.backtest, with_coverage=True)
    _finite(calibrated.calibrated_backtest, with_coverage=False)
    table = pd.read_parquet(catalog.forecast_dir(FORECAST, "cycle-2024") / catalog.FORECAST_TABLE)
    assert table[["turnout_lower", "turnout_upper", "dem_share_calibrated"]].notna().all().all()
    assert (table["turnout_lower"] <= table["turnout"]).all() and (table["turnout"] <= table["turnout_upper"]).all()

    runs = tracking.runs_by_tag(forecast_experiment_name(FORECAST), Tag.SNAPSHOT)
    assert {key for key, second_tag in runs if second_tag is None} == {"cycle-2022", "cycle-2024"}
