"""The monitoring DAG's shape: assess, a branch to the retraining trigger or nothing, a join that records."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.handoffs import MONITORING_DAG_ID, NO_ACTION_TASK_ID, RETRAIN_TASK_ID, TRAINING_DAG_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(MONITORING_DAG_ID)


def test_chain_and_branch(dag):
    expected = {
        "assess": {"decide", "record"},
        "decide": {RETRAIN_TASK_ID, NO_ACTION_TASK_ID},
        RETRAIN_TASK_ID: {"record"},
        NO_ACTION_TASK_ID: {"record"},
        "record": set(),
        "check_operations": set(),  # independent of the window: runs even when there is nothing to judge
    }
    assert set(dag.task_ids) == set(expected)
    for task_id, downstream in expected.items():
        assert dag.get_task(task_id).downstream_task_ids == downstream, task_id
    assert dag.get_task("record").trigger_rule == "none_failed_min_one_success"


def test_trigger_targets_training_with_a_native_conf_and_alerts_are_wired(dag):
    trigger = dag.get_task(RETRAIN_TASK_ID)
    assert trigger.trigger_dag_id == TRAINING_DAG_ID
    assert "retrain_conf" in trigger.conf and dag.render_template_as_native_obj
    callbacks = dag.get_task("record").on_success_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert [type(c).__name__ for c in callbacks] == ["BreachNotifier"]
    on_failure = dag.get_task("assess").on_failure_callback
    on_failure = on_failure if isinstance(on_failure, list) else [on_failure]
    assert [type(c).__name__ for c in on_failure] == ["FailureNotifier"]
    on_success = dag.get_task("check_operations").on_success_callback
    on_success = on_success if isinstance(on_success, list) else [on_success]
    assert [type(c).__name__ for c in on_success] == ["OperationsNotifier"]


def test_the_policy_is_documented(dag):
    for words in (
        "markedly slower or larger",
        "judged once",
        "retrain_on",
        "vetoes",
        "cooldown_hours",
        "dry run never",
        "Without an `id_column`",
    ):
        assert words in " ".join(dag.doc_md.split()), words


def test_schedule_and_params(dag):
    assert dag.timetable.expression == "0 0 * * *"  # @daily, from the config
    assert set(dag.params.dump()) == {"dataset", "window", "thresholds", "dry_run"}
