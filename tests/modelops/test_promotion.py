"""Promotion rules, the champion guard and "which model served on date D", on a real MLflow store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from modelops.core.handoffs import PROMOTION_DAG_ID, TRAINING_DAG_ID
from modelops.govern import promotion
from modelops.govern.promotion import PromotionError, plan_promotion, read_approval, rollback_target
from modelops.store import alias_log, history, registry, runs, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

TRAINING = registry.dag_actor(TRAINING_DAG_ID, "tests")


@pytest.fixture
def versions(workspace, settings):
    """A model with three registered versions: v1 and v2 passed their gates, v3 failed them."""
    from modelops.train.training import train_candidate

    spec = settings.dataset("anes96_vote")
    frame = pd.read_csv(spec.resolve_path(spec.source["path"]))
    training = {
        **settings.training.model_dump(),
        "search": {"n_configs": 1, "min_rows": 200, "max_rows": 400, "factor": 2},
    }
    model = train_candidate(
        "logistic_regression", spec, frame.iloc[:600], frame.iloc[600:800], training, {}, "roc_auc", threshold=0.5
    )
    lineage = {"airflow.run_id": "p", "airflow.dag_id": "test", "modelops.primary_metric": "roc_auc"}
    parent = runs.start_parent_run(spec, lineage)
    logged = runs.log_candidate(model, spec, parent, {"roc_auc": 0.7}, frame[spec.features].head(3), lineage)
    experiment = tracking.training_experiment(spec)
    for verdict in ("promote", "promote", "keep_champion"):
        run = tracking.client().create_run(experiment).info.run_id
        tags = {"modelops.verdict": verdict, "modelops.holdout_roc_auc": "0.7000", "modelops.compared_to": "none"}
        registry.register_version(spec.model_name, logged["model_uri"], run, tags, "")
    return spec.model_name


def _approval(name: str | None, option: str = "Approve", comment: str = "ok") -> promotion.Approval:
    return read_approval(
        {
            "chosen_options": [option],
            "params_input": {"comment": comment},
            "responded_at": datetime.now(UTC),
            "responded_by_user": {"id": name, "name": name} if name else None,
        }
    )


def test_only_the_training_and_promotion_dags_may_move_champion(versions):
    name = versions
    with pytest.raises(registry.AliasGuardError, match=r"only the DAGs .* may move the 'champion' alias"):
        registry.set_alias(name, registry.CHAMPION, "1", "someone in a notebook", "why not", None)
    with pytest.raises(registry.AliasGuardError):  # a look-alike prefix is not the DAG id
        registry.set_alias(name, registry.CHAMPION, "1", f"{TRAINING_DAG_ID}_copy", "x", None)
    assert registry.version_by_alias(name, registry.CHAMPION) is None
    assert history.read_alias_history(name) == []
    assert registry.set_alias(name, registry.CHALLENGER, "1", "anyone", "challenger is free", None)
    assert registry.set_alias(name, registry.CHAMPION, "1", TRAINING, "first", "r1")
    assert registry.set_alias(name, registry.CHAMPION, "2", registry.dag_actor(PROMOTION_DAG_ID, "alice"), "b", "r2")


def test_which_version_served_on_each_date(versions):
    name = versions
    before_any = datetime.now(UTC)
    moves = ["1", "2", "1", "3"]
    for i, version in enumerate(moves):
        registry.set_alias(name, registry.CHAMPION, version, TRAINING, f"move {i}", f"r{i}")
    rows = alias_log.alias_history(name)
    assert [r["version"] for r in rows] == moves
    assert alias_log.served_on(name, before_any - timedelta(days=1)) is None  # before the first champion
    for row, version in zip(rows, moves, strict=True):
        at = row["changed_at"]
        assert alias_log.served_on(name, at) == version  # at the exact instant of a change: the new version
        assert alias_log.served_on(name, at + timedelta(microseconds=1)) == version
    for earlier, later in itertools.pairwise(rows):
        assert alias_log.served_on(name, later["changed_at"] - timedelta(microseconds=1)) == earlier["version"]
    assert alias_log.served_on(name, datetime.now(UTC) + timedelta(days=365)) == "3"
    # the same instant in another timezone has the same answer
    first = rows[0]["changed_at"]
    assert alias_log.served_on(name, first.astimezone(datetime.now().astimezone().tzinfo)) == "1"
    with pytest.raises(ValueError, match="timezone-aware"):
        alias_log.served_on(name, datetime.now())
    assert alias_log.describe_serving(name).startswith(f"{name}@champion pointed to v3 at ")
    assert "no version" in alias_log.describe_serving(name, before_any - timedelta(days=1))


def test_promote_refuses_failed_gates_unless_overridden_with_a_reason(versions):
    name = versions
    registry.set_alias(name, registry.CHAMPION, "1", TRAINING, "first", "r1")
    with pytest.raises(PromotionError, match=r"gate verdict is 'keep_champion'.*override"):
        plan_promotion(name, "promote", "3", "the business wants it")
    with pytest.raises(PromotionError, match="override needs an override_reason"):
        plan_promotion(name, "promote", "3", "the business wants it", override=True, override_reason="  ")
    with pytest.raises(PromotionError, match="reason is required"):
        plan_promotion(name, "promote", "2", " ")
    with pytest.raises(PromotionError, match="no version '9'"):
        plan_promotion(name, "promote", "9", "typo")
    with pytest.raises(PromotionError, match="already the champion"):
        plan_promotion(name, "promote", "1", "again")
    with pytest.raises(PromotionError, match="unknown action"):
        plan_promotion(name, "demote", "2", "x")

    plan = plan_promotion(
        name, "promote", "3", "needed for the primary", True, "slice gate is a known artefact", requester="bob"
    )
    assert (plan.version, plan.current_champion, plan.override, plan.requester) == ("3", "1", True, "bob")
    body = plan.describe()
    assert "**Requested by**: bob" in body
    assert body.startswith("## OVERRIDE of failed gates") and "recorded at training**: keep\\_champion" in body
    outcome = promotion.apply_promotion(plan, _approval("alice", comment="checked the slices"), "run-o")
    assert outcome["alias_changed"] and str(registry.version_by_alias(name, registry.CHAMPION).version) == "3"
    last = alias_log.alias_history(name)[-1]
    assert (last["version"], last["previous_version"], last["approver"], last["action"]) == (
        "3",
        "1",
        "alice",
        "promote",
    )
    assert last["actor"] == f"{PROMOTION_DAG_ID} (alice)" and last["approved_at"] is not None
    assert last["reason"].startswith("promote requested by bob: needed for the primary")  # who asked, who approved
    assert "gates overridden: slice gate is a known artefact" in last["reason"]
    assert "approver: checked the slices" in last["reason"]
    tags = registry.model_version(name, "3").tags
    assert tags["champion_approved_by"] == "alice" and tags["champion_approved_at"]
    assert "needed for the primary" in tags["champion_reason"]
    assert tags["modelops.gates_overridden"] == "slice gate is a known artefact"
    (decision,) = history.read_promotion_decisions(name)
    assert (decision["decision"], decision["approver"], decision["version"]) == ("approved", "alice", "3")

    # an override on a version that passed is not recorded as one
    assert not plan_promotion(name, "promote", "2", "fine", True, "not needed").override


def test_refused_and_unanswered_requests_change_nothing(versions):
    name = versions
    registry.set_alias(name, registry.CHAMPION, "1", TRAINING, "first", "r1")
    plan = plan_promotion(name, "promote", "2", "better on the new cycle")
    refused = _approval("bob", "Reject", "wait for the audit")
    assert not refused.approved
    with pytest.raises(PromotionError, match="was not approved"):
        promotion.apply_promotion(plan, refused, "run-r")
    assert promotion.record_refusal(plan, refused, "run-r")["decision"] == "refused"
    timed_out = _approval(None, "Reject", "")
    assert timed_out.timed_out and not timed_out.approved
    assert promotion.record_refusal(plan, timed_out, "run-t")["decision"] == "timed_out"
    # a default "Approve" without a human is no approval either
    assert not _approval(None, "Approve").approved
    with pytest.raises(PromotionError, match="no approval answer"):
        read_approval(None)
    assert str(registry.version_by_alias(name, registry.CHAMPION).version) == "1"
    assert len(alias_log.alias_history(name)) == 1
    decisions = history.read_promotion_decisions(name)
    assert [(d["decision"], d["approver"], d["comment"]) for d in decisions] == [
        ("refused", "bob", "wait for the audit"),
        ("timed_out", None, None),
    ]


def test_rollback_walks_back_through_previous_champions(versions):
    name = versions
    with pytest.raises(PromotionError, match="no previous champion"):
        plan_promotion(name, "rollback", None, "bad model")
    for version in ("1", "2"):
        registry.set_alias(name, registry.CHAMPION, version, TRAINING, "trained", None)
    registry.set_alias(name, registry.CHAMPION, "3", registry.dag_actor(PROMOTION_DAG_ID, "a"), "forced", None)
    plan = plan_promotion(name, "rollback", None, "v3 misbehaves")
    assert (plan.version, plan.current_champion) == ("2", "3")
    with pytest.raises(PromotionError, match="previous champion v2, not v1"):
        plan_promotion(name, "rollback", "1", "x")
    promotion.apply_promotion(plan, _approval("alice"), "rb1")
    second = plan_promotion(name, "rollback", "", "v2 too")
    assert second.version == "1"  # not back to v3, which was rolled back from
    promotion.apply_promotion(second, _approval("alice"), "rb2")
    assert str(registry.version_by_alias(name, registry.CHAMPION).version) == "1"
    with pytest.raises(PromotionError, match="no previous champion"):
        plan_promotion(name, "rollback", None, "and again")


def test_rollback_target_is_a_pure_function_of_the_history():
    rows = [
        {"version": "1", "previous_version": None, "action": None},
        {"version": "2", "previous_version": "1", "action": "training"},
        {"version": "3", "previous_version": "2", "action": "promote"},
    ]
    assert rollback_target(rows, "3", set()) == "2"
    assert rollback_target(rows, "3", {"2"}) == "1"
    assert rollback_target(rows, "3", {"1", "2"}) is None
    assert rollback_target([], None, set()) is None


def test_retire_never_empties_champion_and_removes_other_aliases(versions):
    name = versions
    registry.set_alias(name, registry.CHAMPION, "1", TRAINING, "first", None)
    registry.set_alias(name, registry.CHALLENGER, "2", TRAINING, "second", None)
    with pytest.raises(PromotionError, match="serving champion"):
        plan_promotion(name, "retire", "1", "old")
    plan = plan_promotion(name, "retire", "2", "trained on a bad extract")
    assert plan.headline() == f"Retire {name} v2"
    outcome = promotion.apply_promotion(plan, _approval("carol"), "ret")
    assert outcome["aliases_removed"] == [registry.CHALLENGER]
    tags = registry.model_version(name, "2").tags
    assert tags["modelops.retired"] == "true" and tags["retired_approved_by"] == "carol"
    assert registry.version_by_alias(name, registry.CHALLENGER) is None
    assert str(registry.version_by_alias(name, registry.CHAMPION).version) == "1"
    with pytest.raises(PromotionError, match="already retired"):
        plan_promotion(name, "retire", "2", "again")
    with pytest.raises(PromotionError, match="it is retired"):
        plan_promotion(name, "promote", "2", "bring it back")
    assert "retired" in " ".join(plan_promotion(name, "promote", "2", "back", True, "extract was fine").gates)
