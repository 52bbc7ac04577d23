"""The reproduction DAG's shape: reproduce then report, and its two parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import REPRODUCE_DAG_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(REPRODUCE_DAG_ID)


def test_chain(dag):
    assert set(dag.task_ids) == {"reproduce", "report"}
    assert dag.get_task("reproduce").downstream_task_ids == {"report"}
    assert dag.get_task("report").downstream_task_ids == set()
    assert dag.get_task("report").retries == 0  # a failed verdict is an answer: a retry cannot change it


def test_params(dag):
    params = dag.params.dump()
    assert set(params) == {"model_name", "version"}
    assert params["model_name"] is None  # empty: the configured default dataset's model, found at run time
    assert params["version"] is None  # required: no default, the trigger form asks for it
    assert dag.params.get_param("version").schema["type"] == ["integer", "string"]
