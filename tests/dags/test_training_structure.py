"""The training DAG's shape: the chain, the mapped candidates, the branch and the join."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.core.handoffs import (
    APPROVAL_TASK_ID,
    CARD_TASK_ID,
    KEEP_TASK_ID,
    MODEL_CARD_DAG_ID,
    PROMOTE_TASK_ID,
    TRAINING_DAG_ID,
)
from modelops_airflow.champion_event import CHAMPION_MOVES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(TRAINING_DAG_ID)


def test_chain(dag):
    expected = {
        "collect": {"validate", "prepare", "summarize"},
        "validate": {"prepare", "summarize"},
        "prepare": {"list_candidates", "train_candidate", "evaluate", "register", "summarize"},
        "list_candidates": {"train_candidate"},
        "train_candidate": {"evaluate"},
        "evaluate": {"register", "summarize"},
        "register": {CARD_TASK_ID, "choose_alias", PROMOTE_TASK_ID, KEEP_TASK_ID},
        CARD_TASK_ID: {"choose_alias"},  # every registered version gets its card before any alias moves
        # the approval is always in the chain: it asks only with promotion.require_approval on
        "choose_alias": {APPROVAL_TASK_ID, KEEP_TASK_ID},
        APPROVAL_TASK_ID: {PROMOTE_TASK_ID},
        PROMOTE_TASK_ID: {"summarize"},
        KEEP_TASK_ID: {"summarize"},
        "summarize": set(),
    }
    assert set(dag.task_ids) == set(expected)
    for task_id, downstream in expected.items():
        assert dag.get_task(task_id).downstream_task_ids == downstream, task_id


def test_candidates_are_mapped_and_join_tolerates_the_skipped_branch(dag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dag.get_task("train_candidate"), MappedOperator)
    assert dag.get_task("summarize").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("validate").retries == 0  # bad data: a retry cannot help


def test_promotion_emits_the_champion_asset_and_params_are_exposed(dag):
    assert dag.get_task(PROMOTE_TASK_ID).outlets == [CHAMPION_MOVES]  # the champion event only when it moved
    assert dag.get_task(KEEP_TASK_ID).outlets == []
    params = dag.params.dump()
    assert set(params) == {
        "dataset",
        "sample_rows",
        "candidates",
        "max_fit_rows",
        "source_path",
        "extra_batches",
        "reason",
    }
    # the form does not depend on the YAML: empty = the configured default, names checked when the run starts
    assert params["dataset"] is None and "enum" not in dag.params.get_param("dataset").schema
    assert params["candidates"] == []  # empty = the configured training.candidates


def test_on_demand_card_dag_makes_the_card_of_a_named_version(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(MODEL_CARD_DAG_ID)
    assert dag.task_ids == [CARD_TASK_ID] and type(dag.timetable).__name__ == "NullTimetable"  # on demand only
    params = dag.params.dump()
    assert set(params) == {"model_name", "version"}
    assert params["model_name"] is None  # empty: the configured default dataset's model, found at run time
    assert dag.params.get_param("version").schema["minLength"] == 1  # no default: the form asks for one


def test_first_step_refuses_unreviewed_specs_without_retry(tmp_path, monkeypatch):
    """collect's first act: a parameters file outside git fails the task at once (no retry) in production,
    naming the file; the demo profile lets it through with the review for prepare to record."""
    import importlib.util

    from airflow.sdk.exceptions import AirflowFailException

    loaded = importlib.util.spec_from_file_location("training_dag_file", REPO / "dags" / "modelops_training.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    mine = tmp_path / "mine.yaml"
    mine.write_text("{}\n")
    monkeypatch.setenv("MODELOPS_CONFIG", str(mine))
    monkeypatch.setenv("MODELOPS_PROFILE", "production")
    with pytest.raises(AirflowFailException, match=f"parameters file {mine} is not in a git checkout"):
        module._review_specs()
    monkeypatch.setenv("MODELOPS_PROFILE", "demo")
    review = module._review_specs()
    assert review["reviewed"] is False and any(str(mine) in p for p in review["problems"])
