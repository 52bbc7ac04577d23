"""The debug-row DAG's shape: one task, its parameters (a refusal fails without retry: tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import DEBUG_ROW_DAG_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(DEBUG_ROW_DAG_ID)


def test_one_task(dag):
    assert dag.task_ids == ["debug"]
    assert dag.get_task("debug").retries == 1  # a transient error retries; a refusal is AirflowFailException


def test_params(dag):
    params = dag.params.dump()
    assert set(params) == {"dataset", "version", "id", "row", "snapshot"}
    assert params["version"] == "champion"
    assert params["dataset"] is None and params["id"] is None and params["row"] is None
    assert "object" in dag.params.get_param("row").schema["type"]
