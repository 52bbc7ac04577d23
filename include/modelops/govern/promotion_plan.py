"""The promotion plan the promotion DAG's tasks hand each other, and the XCom keys its templates name.

Light on purpose (core and the approval body only): the DAG file imports the keys at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelops.core.records import XComRecord
from modelops.govern import approvals

ACTIONS = ("promote", "rollback", "retire")

# Keys of the `check` task's XCom (a PromotionPlan) that the promotion DAG's approval template names.
PLAN_ACTION = "action"
PLAN_MODEL_NAME = "model_name"
PLAN_VERSION = "version"


@dataclass(frozen=True)
class PromotionPlan(XComRecord):
    """What a request would change: the target version, the champion now, and the gate evidence."""

    model_name: str
    action: str
    version: str
    reason: str
    current_champion: str | None
    verdict: str | None
    gates: list[str] = field(default_factory=list)
    override: bool = False
    override_reason: str | None = None
    # the version's gate checks as its training run recorded them ({check, passed, detail}) and its card
    checks: list[dict[str, Any]] = field(default_factory=list)
    card: str | None = None
    requester: str | None = None  # who asked (the run's triggering user): never its approver
    # the production profile's canary (govern.canary): {stage: skipped|start|judged, lines, ...}; None: retire
    canary: dict[str, Any] | None = None

    @property
    def starts_canary(self) -> bool:
        """The production profile's first step of a promotion: the version becomes the canary, `champion` stays."""
        return bool(self.canary) and self.canary.get("stage") == "start"

    @property
    def moves_champion(self) -> bool:
        """Promote and rollback move `champion` (unless a canary starts first); retire never does."""
        return self.action in ("promote", "rollback") and not self.starts_canary

    def headline(self) -> str:
        """One line: what changes if approved."""
        if self.action == "retire":
            return f"Retire {self.model_name} v{self.version}"
        if self.starts_canary:
            share = float(self.canary["share"]) if self.canary else 0.0
            return (
                f"Canary {self.model_name}: v{self.version} decides {share:.0%} of the rows; "
                f"champion stays v{self.current_champion}"
            )
        now = f"v{self.current_champion}" if self.current_champion else "none"
        return f"{self.action.capitalize()} {self.model_name}: champion {now} -> v{self.version}"

    def describe(self, requester: str | None = None) -> str:
        """Markdown body for the approver: recorded evidence first, the requester's words quoted last."""
        return approvals.build_body(self.to_xcom(), requester or self.requester)

    def full_reason(self, comment: str | None = None) -> str:
        """The reason written to the alias history and tags: request, override and approver's comment."""
        asked = f"{self.action} requested by {self.requester}" if self.requester else self.action
        parts = [f"{asked}: {self.reason}"]
        if self.override:
            parts.append(f"gates overridden: {self.override_reason}")
        if self.canary and self.canary.get("lines"):
            parts.append(self.canary["lines"][0])  # the canary skipped and why, started, or its verdict
        if comment:
            parts.append(f"approver: {comment}")
        return "; ".join(parts)
