"""Manual promotion, rollback and retirement of model versions, decided by a human approval.

`plan_promotion` checks a request against the registry (gate verdicts, the alias history) and says
what would change; the promotion DAG shows that to an approver (Airflow's Required Actions) and
only then calls `apply_promotion`, or `record_refusal` when the answer is no (or none came).

Rules:
- promote: a version whose gate verdict is not `promote` (failed gates, lost to the champion, or no
  verdict on record) or that was retired is refused, unless `override` is set with a reason.
- rollback: back to the previous champion in the alias history, skipping versions that were rolled
  back from, retired ones and the one serving now; an error when there is none.
- retire: tags the version retired and removes its aliases; the serving champion is never retired
  (promote or roll back to another version first), so `champion` is never left empty.
- canary (production profile, govern.canary): a promote first makes the version the canary; promoting
  it again after its snapshots judges the evidence: a pass goes to the approver, a fail is refused and
  recorded. The demo profile promotes directly and records "demo profile: no canary".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.config.settings import Settings
from modelops.core import catalog
from modelops.core.handoffs import PROMOTION_DAG_ID
from modelops.core.tags import HOLDOUT_PREFIX, PREFIX, Tag
from modelops.govern import approvals, canary
from modelops.govern.promotion_plan import ACTIONS, PromotionPlan
from modelops.store import alias_log, artifacts, history, registry, tracking

APPROVE = "Approve"  # the ApprovalOperator's options
REJECT = "Reject"
PASSED_VERDICT = "promote"  # modelops.verdict tag of a version whose gates all passed (workflow.register_best)


class PromotionError(ValueError):
    """A promotion request that cannot be carried out, with the reason in words."""


@dataclass(frozen=True)
class Approval:
    """A human answer read from the approval task's output (who, when, what, why)."""

    approved: bool
    approver: str | None
    decided_at: datetime
    comment: str
    timed_out: bool

    def who(self) -> str:
        """The approver, or what happened when nobody answered."""
        return self.approver or "nobody (timed out)"


def read_approval(response: dict[str, Any] | None) -> Approval:
    """The approval task's XCom (chosen_options, params_input, responded_at, responded_by_user) as an Approval.

    No response (the task was skipped or produced nothing) is an error, never an approval.
    """
    if not response or not response.get("chosen_options"):
        raise PromotionError(f"no approval answer on record: {response!r}")
    chosen = list(response["chosen_options"])
    user = response.get("responded_by_user") or None
    approver = (user.get("name") or user.get("id")) if user else None
    when = response.get("responded_at")
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when is None:
        raise PromotionError(f"approval answer without a time: {response!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    comment = str((response.get("params_input") or {}).get("comment") or "").strip()
    approved = chosen == [APPROVE] and approver is not None  # a timeout default never approves
    return Approval(approved, approver, when, comment, timed_out=approver is None)


def _gates(tags: dict[str, str]) -> list[str]:
    """The gate evidence a version carries (written by the training workflow at registration)."""
    shown = []
    for key in sorted(tags):
        if key == Tag.VERDICT or key == Tag.COMPARED_TO or key.startswith(HOLDOUT_PREFIX):
            shown.append(f"{key.removeprefix(PREFIX)}: {tags[key]}")
        elif key == Tag.RETIRED:
            shown.append(f"retired {tags.get(Tag.RETIRED_AT, '')}: {tags.get(Tag.RETIRED_REASON, '')}".strip())
    return shown


def recorded_checks(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The gate checks the version's training run recorded (its evaluation report), PASS or FAIL with numbers."""
    parent = tags.get(Tag.PARENT_RUN_ID)
    report = artifacts.load_run_dict(parent, artifacts.EVALUATION_ARTIFACT) if parent else None
    checks = ((report or {}).get("verdict") or {}).get("checks") or []
    return [
        {"check": str(c.get("check")), "passed": bool(c.get("passed")), "detail": str(c.get("detail"))} for c in checks
    ]


def card_link(tags: dict[str, str]) -> str | None:
    """The version's model card: the Model monitor's link when the card is in the workspace, else its artifact URI."""
    path = tags.get(Tag.CARD_PATH)
    if path:
        try:
            relative = Path(path).resolve().relative_to(catalog.root().resolve()).as_posix()
        except ValueError:
            relative = None
        if relative and Path(path).is_file():
            return approvals.MONITOR_FILES + relative
    return tags.get(Tag.CARD) or None


def plan_training_promotion(model_name: str, version: str, reason: str) -> PromotionPlan:
    """The training DAG's own promotion as a plan (gates passed, so no override), for its approval body."""
    champion = registry.version_by_alias(model_name, registry.CHAMPION)
    found = registry.model_version(model_name, version)
    tags = dict(found.tags or {}) if found is not None else {}
    return PromotionPlan(
        model_name=model_name,
        action="promote",
        version=str(version),
        reason=reason,
        current_champion=str(champion.version) if champion is not None else None,
        verdict=tags.get(Tag.VERDICT),
        gates=_gates(tags),
        checks=recorded_checks(tags),
        card=card_link(tags),
    )


def rollback_target(rows: list[dict[str, Any]], current: str | None, retired: set[str]) -> str | None:
    """The champion to roll back to: latest earlier champion not rolled back from, not retired, not `current`.

    `rows` are the champion alias history, oldest first. Rolling back twice walks further back
    (v1 -> v2 -> v3, rollback -> v2, rollback -> v1) instead of bouncing between two versions.
    """
    rolled_back_from = {r["previous_version"] for r in rows if r.get("action") == "rollback" and r["previous_version"]}
    for row in reversed(rows):
        version = row["version"]
        if version != current and version not in rolled_back_from and version not in retired:
            return version
    return None


def _checked_request(
    action: str, reason: str | None, override: bool, override_reason: str | None
) -> tuple[str, str | None]:
    """The request's reason and override reason, stripped; PromotionError for an unknown action or a missing why."""
    if action not in ACTIONS:
        raise PromotionError(f"unknown action {action!r}; one of {list(ACTIONS)}")
    reason = (reason or "").strip()
    if not reason:
        raise PromotionError("a reason is required: it goes to the alias history and the version's tags")
    override_reason = (override_reason or "").strip() or None
    if override and not override_reason:
        raise PromotionError("override needs an override_reason saying why the failed gates may be ignored")
    return reason, override_reason


def _rollback_version(model_name: str, current: str | None, asked: str | None) -> str:
    """The version a rollback goes to (the previous champion); PromotionError when none, or another was asked."""
    rows = alias_log.alias_history(model_name, registry.CHAMPION)
    candidates = {r["version"] for r in rows}
    retired = {v for v in candidates if _tags(model_name, v).get(Tag.RETIRED) == "true"}
    target = rollback_target(rows, current, retired)
    if target is None:
        raise PromotionError(f"{model_name} has no previous champion to roll back to (champion now: {current})")
    if asked is not None and asked != target:
        raise PromotionError(
            f"rollback goes to the previous champion v{target}, not v{asked}; use promote for another version"
        )
    return target


def _gate_override(
    model_name: str,
    action: str,
    version: str,
    current: str | None,
    tags: dict[str, str],
    override: bool,
    override_reason: str | None,
) -> tuple[bool, str | None]:
    """Check the target against the gates; returns the override as recorded (none when nothing was overridden)."""
    retired = tags.get(Tag.RETIRED) == "true"
    if action == "retire":
        if retired:
            raise PromotionError(f"{model_name} v{version} is already retired")
        if version == current:
            raise PromotionError(
                f"{model_name} v{version} is the serving champion: promote another version or roll back first"
            )
        return False, None  # nothing to override when retiring
    if version == current:
        raise PromotionError(f"{model_name} v{version} is already the champion")
    verdict = tags.get(Tag.VERDICT)
    failed = []
    if action == "promote" and verdict != PASSED_VERDICT:
        failed.append(f"its gate verdict is {verdict!r}" if verdict else "it has no gate verdict on record")
    if retired:
        failed.append("it is retired")
    if failed and not override:
        raise PromotionError(
            f"refusing to {action} {model_name} v{version}: {' and '.join(failed)}; "
            "set override with an override_reason to promote it anyway"
        )
    if not failed:
        return False, None  # an override of nothing is not recorded as one
    return override, override_reason


def plan_promotion(
    model_name: str,
    action: str,
    version: str | None,
    reason: str | None,
    override: bool = False,
    override_reason: str | None = None,
    requester: str | None = None,
    *,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> PromotionPlan:
    """Check a request against the registry and return what it would change, or raise PromotionError.

    A move of `champion` passes through the canary (`_canary_stage`): `settings` gives its limits (None: the
    bundled parameters file); a failed canary is refused and recorded under `run_id`.
    """
    reason, override_reason = _checked_request(action, reason, override, override_reason)
    champion = registry.version_by_alias(model_name, registry.CHAMPION)
    current = str(champion.version) if champion is not None else None
    version = str(version).strip() if version not in (None, "") else None
    if action == "rollback":
        version = _rollback_version(model_name, current, version)
    elif version is None:
        raise PromotionError(f"{action} needs a version")
    found = registry.model_version(model_name, version)
    if found is None:
        raise PromotionError(f"{model_name} has no version {version!r}")
    tags = dict(found.tags or {})
    override, override_reason = _gate_override(model_name, action, version, current, tags, override, override_reason)
    stage = None
    if action in ("promote", "rollback"):
        stage = _canary_stage(model_name, action, version, current, tags, reason, settings, run_id)
    return PromotionPlan(
        model_name=model_name,
        action=action,
        version=version,
        reason=reason,
        current_champion=current,
        verdict=tags.get(Tag.VERDICT),
        gates=_gates(tags),
        override=bool(override),
        override_reason=override_reason,
        checks=recorded_checks(tags),
        card=card_link(tags),
        requester=requester or None,
        canary=stage,
    )


def _canary_stage(
    model_name: str,
    action: str,
    version: str,
    current: str | None,
    tags: dict[str, str],
    reason: str,
    settings: Settings | None,
    run_id: str | None,
) -> dict[str, Any]:
    """The canary of a move of `champion`: skipped (why), started, or judged; PromotionError when it refuses.

    Judging the running canary: too few snapshots refuses and changes nothing; failed limits record the
    evidence, remove the canary and refuse; a pass is the plan the approver sees.
    """
    if settings is None:
        from modelops.config.settings import load_settings

        settings = load_settings()
    limits = settings.promotion.canary
    try:
        stage = canary.plan_stage(model_name, action, version, current, limits)
    except canary.CanaryError as exc:
        raise PromotionError(str(exc)) from None
    if stage is None:  # the version is the running canary: judge it
        verdict = canary.evidence(_dataset_of(settings, model_name, tags), model_name, version, limits)
        if not verdict.ready:
            raise PromotionError(
                f"canary v{version} of {model_name} decided in {len(verdict.snapshots)} of the {verdict.needed} "
                f"scored snapshots it serves before it is judged; champion stays v{current}. Promote it again "
                "after the next scoring"
            )
        if not verdict.passed:
            canary.refuse(model_name, verdict, current, reason, run_id)
            raise PromotionError(
                f"refusing to promote {model_name} v{version}: {verdict.summary()}; the canary is removed and "
                f"champion stays v{current}"
            )
        stage = {"stage": canary.JUDGED, "verdict": verdict.to_xcom()}
    return canary.with_lines(stage)


def _dataset_of(settings: Settings, model_name: str, tags: dict[str, str]) -> str:
    """The dataset whose scored snapshots hold the canary's evidence: the version's lineage, else the model's spec."""
    named = tags.get(Tag.DATASET)
    if named in settings.datasets:
        return str(named)
    for name, spec in settings.datasets.items():
        if spec.model_name == model_name:
            return name
    raise PromotionError(f"no configured dataset scores {model_name}: its canary's evidence cannot be read")


def _tags(model_name: str, version: str) -> dict[str, str]:
    found = registry.model_version(model_name, version)
    return dict(found.tags or {}) if found is not None else {}


def apply_promotion(plan: PromotionPlan, approval: Approval, run_id: str | None) -> dict[str, Any]:
    """Carry out an approved plan as the promotion DAG: move `champion` (or retire) and record who/when/why."""
    if not approval.approved:
        raise PromotionError(f"{plan.headline()} was not approved ({approval.who()}); nothing is changed")
    actor = registry.dag_actor(PROMOTION_DAG_ID, approval.approver)
    reason = plan.full_reason(approval.comment)
    outcome: dict[str, Any] = {**plan.to_xcom(), "approver": approval.approver, "decision": "approved"}
    judged = bool(plan.canary) and plan.canary.get("stage") == canary.JUDGED
    if plan.starts_canary:  # production: champion stays until the canary's evidence is judged
        outcome["canary_started"] = canary.start(
            plan.model_name,
            plan.version,
            actor,
            reason,
            run_id,
            approver=approval.approver,
            approved_at=approval.decided_at,
        )
        outcome["alias_changed"] = False
    elif plan.moves_champion:
        changed = registry.set_alias(
            plan.model_name,
            registry.CHAMPION,
            plan.version,
            actor,
            reason,
            run_id,
            approver=approval.approver,
            approved_at=approval.decided_at,
            action="promote (canary passed)" if judged else plan.action,
        )
        if judged and plan.canary:
            canary.passed(plan.model_name, canary.CanaryVerdict.from_xcom(plan.canary["verdict"]))
        if plan.override:
            tracking.client().set_model_version_tag(
                plan.model_name, plan.version, Tag.GATES_OVERRIDDEN, plan.override_reason or ""
            )
        outcome["alias_changed"] = changed
    else:
        outcome["aliases_removed"] = registry.retire_version(
            plan.model_name, plan.version, actor, reason, approver=approval.approver, approved_at=approval.decided_at
        )
        outcome["alias_changed"] = False
    _record(plan, approval, "approved", run_id)
    return outcome


def record_refusal(plan: PromotionPlan, approval: Approval, run_id: str | None) -> dict[str, Any]:
    """Record a refused (or unanswered) request; the registry is left as it is."""
    decision = "timed_out" if approval.timed_out else "refused"
    _record(plan, approval, decision, run_id)
    return {**plan.to_xcom(), "approver": approval.approver, "decision": decision, "alias_changed": False}


def _record(plan: PromotionPlan, approval: Approval, decision: str, run_id: str | None) -> None:
    history.record_promotion_decision(
        {
            "model_name": plan.model_name,
            "action": plan.action,
            "version": plan.version,
            "previous_version": plan.current_champion,
            "decision": decision,
            "approver": approval.approver,
            "decided_at": approval.decided_at,
            "reason": plan.full_reason(),
            "comment": approval.comment or None,
            "run_id": run_id,
        }
    )


def render_outcome(outcome: dict[str, Any], when: datetime | None = None) -> str:
    """The promotion run's summary: the request, the decision, and which version serves now."""
    plan = PromotionPlan.from_xcom(outcome, ignore_unknown=True)  # the outcome is the plan and its decision
    decision = outcome["decision"].upper().replace("_", " ")
    lines = [
        f"Promotion request: {plan.headline()}",
        f"  requested by {plan.requester or 'unknown'}: {plan.reason}",
        f"  decision  {decision} by {outcome.get('approver') or 'nobody (no answer before the timeout)'}",
    ]
    if plan.override:
        lines.append(f"  override  failed gates overridden: {plan.override_reason}")
    lines += [f"  gate      {gate}" for gate in plan.gates]
    lines += [f"  canary    {line}" for line in (plan.canary or {}).get("lines", [])]
    lines.append(f"  serving   {alias_log.describe_serving(plan.model_name, when)}")
    return "\n".join(lines)
