"""The forecast DAG's shape: plan, forecast, both cards remade and the summary; four Params; no retry of refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import FORECAST_DAG_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(FORECAST_DAG_ID)


def test_chain(dag):
    assert set(dag.task_ids) == {"plan", "forecast", "refresh_cards", "summary"}
    assert dag.get_task("plan").downstream_task_ids == {"forecast"}
    assert dag.get_task("forecast").downstream_task_ids == {"refresh_cards", "summary"}
    assert dag.get_task("refresh_cards").downstream_task_ids == set()
    assert dag.get_task("summary").downstream_task_ids == set()
    assert dag.timetable.can_be_scheduled is False  # on demand only
    assert "forecast" in dag.tags


def test_params(dag):
    params = dag.params.dump()
    assert set(params) == {"forecast", "snapshot", "cycle", "apply_calibration"}
    assert params["forecast"] is None and params["cycle"] is None and params["apply_calibration"] is None
    assert params["snapshot"] is None  # required: no default, the trigger form asks for it
    assert dag.params.get_param("cycle").schema["type"] == ["null", "integer"]
    assert dag.params.get_param("apply_calibration").schema["type"] == ["null", "boolean"]
