"""The monitoring DAG's shape: which datasets are due, then per dataset (a mapped task group) assess, a branch
to the retraining trigger or nothing, a join that records."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import (
    JUDGE_GROUP_ID,
    MONITORING_DAG_ID,
    NO_ACTION_TASK_ID,
    RETRAIN_TASK_ID,
    TRAINING_DAG_ID,
)

REPO = Path(__file__).resolve().parents[2]
ASSESS, DECIDE, RECORD = (f"{JUDGE_GROUP_ID}.{t}" for t in ("assess", "decide", "record"))
TRIGGER, NO_ACTION = f"{JUDGE_GROUP_ID}.{RETRAIN_TASK_ID}", f"{JUDGE_GROUP_ID}.{NO_ACTION_TASK_ID}"


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(MONITORING_DAG_ID)


def test_chain_and_branch_per_dataset(dag):
    expected = {
        "datasets_to_judge": {ASSESS},
        ASSESS: {DECIDE, RECORD},
        DECIDE: {TRIGGER, NO_ACTION},
        TRIGGER: {RECORD},
        NO_ACTION: {RECORD},
        RECORD: set(),
        "check_operations": set(),  # independent of the windows: runs even when there is nothing to judge
    }
    assert set(dag.task_ids) == set(expected)
    for task_id, downstream in expected.items():
        assert dag.get_task(task_id).downstream_task_ids == downstream, task_id
    # judged per map index: a "min one" rule would fail every dataset's record when one dataset's assess fails
    assert dag.get_task(RECORD).trigger_rule == "none_failed"
    # one mapped instance per dataset, each labelled with its dataset in the grid; nothing joins them,
    # so one dataset's failure leaves the others' instances alone
    group = dag.task_group_dict[JUDGE_GROUP_ID]
    assert type(group).__name__ == "MappedTaskGroup"
    for task_id in (ASSESS, DECIDE, TRIGGER, NO_ACTION, RECORD):
        assert "datasets_to_judge" in dag.get_task(task_id).map_index_template, task_id
    assert all(dag.get_task(t).trigger_rule in ("all_success", "none_failed") for t in expected)
    # a branch inside a mapped group does not skip the other branch (apache/airflow#67265): each checks itself
    for task_id in (TRIGGER, NO_ACTION):
        assert dag.get_task(task_id)._pre_execute_hook.__name__ == "only_if_chosen", task_id


def test_trigger_targets_training_with_its_own_datasets_conf_and_alerts_are_wired(dag):
    trigger = dag.get_task(TRIGGER)
    assert trigger.trigger_dag_id == TRAINING_DAG_ID
    assert f"'{ASSESS}'" in trigger.conf and "map_indexes=ti.map_index" in trigger.conf
    assert "retrain_conf" in trigger.conf and dag.render_template_as_native_obj
    callbacks = dag.get_task(RECORD).on_success_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert [type(c).__name__ for c in callbacks] == ["BreachNotifier"]
    on_failure = dag.get_task(ASSESS).on_failure_callback
    on_failure = on_failure if isinstance(on_failure, list) else [on_failure]
    assert [type(c).__name__ for c in on_failure] == ["FailureNotifier"]
    on_success = dag.get_task("check_operations").on_success_callback
    on_success = on_success if isinstance(on_success, list) else [on_success]
    assert [type(c).__name__ for c in on_success] == ["OperationsNotifier"]


def test_schedule_and_params(dag):
    assert dag.timetable.expression == "0 0 * * *"  # a daily tick: each dataset's own schedule says when it is due
    assert set(dag.params.dump()) == {"dataset", "window", "thresholds", "dry_run"}
    dataset = dag.params.get_param("dataset")
    assert dataset.value is None  # a scheduled run watches every dataset
    assert "enum" not in dataset.schema  # a named dataset is checked when the run starts
