"""The scoring DAG's shape: plan -> mapped score_group -> commit, scheduled on the snapshot asset."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import SCORING_DAG_ID, SNAPSHOT_ASSET_URI, SNAPSHOT_DAG_ID

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_plan_fans_out_to_groups_then_commits(dagbag):
    dag = dagbag.get_dag(SCORING_DAG_ID)
    assert dag.get_task("plan").downstream_task_ids == {"group_indices", "score_group", "commit"}
    assert dag.get_task("score_group").downstream_task_ids == {"commit"}
    # a teardown after the commit: whatever failed, no staged part stays behind, and it never fails the run
    cleanup = dag.get_task("discard_staging")
    assert cleanup.is_teardown and dag.get_task("commit").downstream_task_ids == {"discard_staging"}
    assert dag.get_task("score_group").max_active_tis_per_dagrun == 4
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [SNAPSHOT_ASSET_URI]
    assert set(dag.params) == {"dataset", "input", "conn_id", "query", "snapshot", "alias", "groups", "use"}
    assert dag.params["alias"] == "champion"


def test_alerts_are_wired(dagbag):
    dag = dagbag.get_dag(SCORING_DAG_ID)

    def names(callbacks):
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        return {type(c).__name__ for c in callbacks if c is not None}

    assert names(dag.get_task("commit").on_success_callback) == {"ScoringNotifier"}
    for task_id in ("plan", "score_group", "commit"):
        callbacks = dag.get_task(task_id).on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert [n.kind for n in callbacks if hasattr(n, "kind")] == ["modelops.scoring.failure"], task_id


def test_registration_emits_the_snapshot_asset(dagbag):
    dag = dagbag.get_dag(SNAPSHOT_DAG_ID)
    assert [o.uri for o in dag.get_task("register").outlets] == [SNAPSHOT_ASSET_URI]
    assert dag.schedule is None or dag.timetable.summary in {"None", "Never, external triggers only"}
