"""The promotion DAG's shape, and the training DAG with `promotion.require_approval` on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings
from modelops.core.handoffs import (
    APPROVAL_TASK_ID,
    KEEP_TASK_ID,
    PROMOTE_TASK_ID,
    PROMOTION_DAG_ID,
    TRAINING_DAG_ID,
)
from modelops_airflow.approval import response_timeout
from modelops_airflow.champion_event import CHAMPION_MOVES

REPO = Path(__file__).resolve().parents[2]


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def test_promotion_dag_waits_for_an_approval_before_apply(airflow_db):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = _bag().get_dag(PROMOTION_DAG_ID)
    expected = {"check": {APPROVAL_TASK_ID, "apply", "finish"}, APPROVAL_TASK_ID: {"apply"}, "apply": {"finish"}}
    assert set(dag.task_ids) == {"check", APPROVAL_TASK_ID, "apply", "finish"}
    for task_id, downstream in expected.items():
        assert dag.get_task(task_id).downstream_task_ids == downstream, task_id
    approval = dag.get_task(APPROVAL_TASK_ID)
    assert isinstance(approval, ApprovalOperator)
    assert approval.defaults == ["Reject"]  # a timeout refuses, never approves
    assert approval.optional is False  # always asks
    # read from the promotion section when the task runs (the schema's default until then)
    assert response_timeout(load_settings().promotion).total_seconds() == 72 * 3600
    assert approval.retries == 1  # a platform failure (not an answer) asks the approver again
    assert approval.retry_delay.total_seconds() == 120
    assert set(approval.params) == {"comment"}
    assert dag.get_task("finish").trigger_rule == "none_failed"  # runs after a refusal skipped apply
    assert dag.get_task("apply").outlets == [CHAMPION_MOVES]  # the champion event only when champion moved
    params = dag.params.dump()
    assert set(params) == {"dataset", "action", "version", "reason", "override", "override_reason"}
    assert dag.params.get_param("action").schema["enum"] == ["promote", "rollback", "retire"]


def test_training_dags_approval_passes_without_asking_by_default(airflow_db):
    dag = _bag().get_dag(TRAINING_DAG_ID)
    approval = dag.get_task(APPROVAL_TASK_ID)
    assert approval.optional is True
    assert load_settings().promotion.require_approval is False
    assert approval.execute({}) is None  # asks nobody, parks nothing: the promotion follows at once
    assert dag.get_task("choose_alias").downstream_task_ids == {APPROVAL_TASK_ID, KEEP_TASK_ID}


def test_training_dag_with_the_switch_on_approves_before_promoting(airflow_db, tmp_path, monkeypatch):
    """The same shape with the switch on (the DAG file reads no YAML); the approval asks at run time."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["promotion"] = {"require_approval": True, "approval_timeout_hours": 4, "approvers": ["alice"]}
    (tmp_path / "modelops.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MODELOPS_CONFIG", str(tmp_path / "modelops.yaml"))
    dag = _bag().get_dag(TRAINING_DAG_ID)
    approval = dag.get_task(APPROVAL_TASK_ID)
    assert isinstance(approval, ApprovalOperator)
    assert dag.get_task("choose_alias").downstream_task_ids == {APPROVAL_TASK_ID, KEEP_TASK_ID}
    assert approval.downstream_task_ids == {PROMOTE_TASK_ID}
    assert dag.get_task(PROMOTE_TASK_ID).downstream_task_ids == {"summarize"}
    assert response_timeout(load_settings().promotion).total_seconds() == 4 * 3600
    # the approvers are resolved at run time (minus the requester): only the configured list is known now
    assert approval.assigned_users is None
    assert approval.approvers_of({"params": {"dataset": config["default_dataset"]}}) == ["alice"]
    assert approval.defaults == ["Reject"]
    assert approval.retries == 1
    # a refusal skips only the promotion; the summary still runs and says so
    assert dag.get_task("summarize").trigger_rule == "none_failed_min_one_success"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"require_approval": "yes"}, "promotion.require_approval: expected bool"),
        ({"approvers": [""]}, "promotion.approvers"),
        ({"approval_timeout_hours": 0}, "approval_timeout_hours: must be > 0"),
        ({"require_aproval": True}, "did you mean 'require_approval'"),
    ],
)
def test_promotion_section_is_checked(body, message):
    from modelops.config.checks import ConfigError
    from modelops.config.settings import parse_settings

    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["promotion"] = body
    with pytest.raises(ConfigError, match=message):
        parse_settings(config)
