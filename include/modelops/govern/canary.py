"""The production profile's canary: a promoted version decides a share of the rows before `champion` moves.

In the production profile (MODELOPS_PROFILE=production) a promotion that would move `champion` to a
new version sets the `canary` alias instead. Scoring then lets the canary decide `promotion.canary.share`
of each snapshot's rows (a stable hash of scoring.canary_key: the same voters every snapshot, source =
canary) and writes the canary's evidence to the snapshot's manifest: its rows, the share of its hash
share it could not decide (fallback or no usable score), its decisions' agreement with the champion's
on the same rows, and its score distribution against the champion's (PSI, mean shift).

The promotion DAG judges: a promote request of the canary version, after `promotion.canary.snapshots`
scored snapshots, sums their evidence and checks it against the limits. A pass is shown to the approver
and, approved, moves `champion`; a fail is refused with the evidence on record (promotion_decisions,
the version's tags) and the canary alias removed; too few snapshots is refused and changes nothing.

Not every move needs a canary: the demo profile promotes directly (and its records say "demo profile:
no canary"), a first champion has nothing to be compared with, and a rollback returns to a version
that has served before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelops.config.models import CanaryOptions
from modelops.config.profile import is_production
from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.core.tags import Tag
from modelops.score.agreement import canary_figures
from modelops.store import alias_log, history, registry

DEMO_SKIP = "demo profile: no canary"
FIRST_CHAMPION = "no champion yet: nothing to compare a canary with, it is promoted directly"
ROLLBACK = "a rollback returns to a version that served before: no canary"
# stages of a plan's canary
SKIPPED, START, JUDGED = "skipped", "start", "judged"


class CanaryError(ValueError):
    """A canary request that cannot go on (another canary runs, too few snapshots, the evidence failed)."""


@dataclass(frozen=True)
class CanaryVerdict(XComRecord):
    """The canary's evidence summed over its scored snapshots, and each limit checked against it."""

    version: str
    needed: int  # snapshots the canary must serve before it is judged
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # per snapshot: id, time, rows, figures
    figures: dict[str, Any] = field(default_factory=dict)  # the snapshots' counts summed, and their figures
    checks: list[dict[str, Any]] = field(default_factory=list)  # {check, passed, detail}

    @property
    def ready(self) -> bool:
        """Whether the canary has served the snapshots it must before a judgement."""
        return len(self.snapshots) >= self.needed

    @property
    def passed(self) -> bool:
        return self.ready and all(c["passed"] for c in self.checks)

    def summary(self) -> str:
        """One line: the verdict and every check (a tag value, a log line)."""
        state = "passed" if self.passed else "failed"
        shown = "; ".join(f"{'PASS' if c['passed'] else 'FAIL'} {c['check']}: {c['detail']}" for c in self.checks)
        return f"canary v{self.version} {state} over {len(self.snapshots)} snapshots: {shown}"


def _fmt(value: float | None, pattern: str = "{:.4f}") -> str:
    return "none" if value is None else pattern.format(value)


def judge(version: str, snapshots: list[dict[str, Any]], limits: CanaryOptions) -> CanaryVerdict:
    """Pure: the snapshots' canary evidence (manifest `canary` blocks, oldest first) against the limits."""
    figures = canary_figures(snapshots)
    rows = int(figures["rows"])
    checks = [
        {
            "check": "rows",
            "passed": rows >= int(limits.min_rows),
            "detail": f"{rows} rows decided by the canary (need {int(limits.min_rows)})",
        }
    ]
    bounds = (
        ("decision_agreement", limits.min_agreement, ">="),
        ("fallback_share", limits.max_fallback_share, "<="),
        ("score_psi", limits.max_score_psi, "<="),
        ("mean_shift", limits.max_mean_shift, "|x| <="),
    )
    for key, limit, how in bounds:
        if limit is None:
            continue  # null: not judged
        value = figures[key]
        if value is None:
            ok = False  # no row to judge it on is no pass
        elif how == ">=":
            ok = value >= float(limit)
        elif how == "<=":
            ok = value <= float(limit)
        else:
            ok = abs(value) <= float(limit)
        checks.append({"check": key, "passed": bool(ok), "detail": f"{_fmt(value)} (limit {how} {float(limit):g})"})
    shown = [
        {k: s.get(k) for k in ("snapshot", "scored_at", "rows", "decision_agreement", "fallback_share", "score_psi")}
        for s in snapshots
    ]
    return CanaryVerdict(str(version), int(limits.snapshots), shown, figures, checks)


def started_at(model_name: str, version: str) -> datetime | None:
    """When `version` last became the canary (the alias history), or None if it never did."""
    rows = [r for r in alias_log.alias_history(model_name, registry.CANARY) if str(r["version"]) == str(version)]
    return rows[-1]["changed_at"] if rows else None


def canary_snapshots(dataset: str, model_name: str, version: str, since: datetime) -> list[dict[str, Any]]:
    """The canary blocks of the dataset's scored snapshots where `version` decided as the canary since `since`,
    oldest first (a snapshot scored again counts once: its folder is replaced)."""
    found = []
    for snapshot in catalog.list_scored(dataset):
        try:
            manifest = catalog.read_json(catalog.scoring_manifest(dataset, snapshot))
        except (OSError, ValueError):
            continue  # swapped out while listed: the next judgement reads it
        block = manifest.get("canary") or {}
        if manifest.get("model_name") != model_name or block.get("alias") != registry.CANARY:
            continue
        scored_at = datetime.fromisoformat(str(manifest.get("scored_at")))
        if str(block.get("version")) == str(version) and scored_at >= since:
            found.append({"snapshot": snapshot, "scored_at": scored_at.isoformat(), **block})
    return sorted(found, key=lambda s: s["scored_at"])


def evidence(dataset: str, model_name: str, version: str, limits: CanaryOptions) -> CanaryVerdict:
    """The running canary `version` judged on the snapshots it decided since it started."""
    since = started_at(model_name, version) or datetime.now(UTC)
    return judge(version, canary_snapshots(dataset, model_name, version, since), limits)


def plan_stage(
    model_name: str, action: str, version: str, current: str | None, limits: CanaryOptions
) -> dict[str, Any] | None:
    """What the canary does with a request that moves `champion`: skipped (and why), start it, or None when the
    version is the running canary (the caller judges it). A canary of another version running is refused."""
    if not is_production():
        return {"stage": SKIPPED, "why": DEMO_SKIP}
    if action == "rollback":
        return {"stage": SKIPPED, "why": ROLLBACK}
    if current is None:
        return {"stage": SKIPPED, "why": FIRST_CHAMPION}
    running = registry.version_by_alias(model_name, registry.CANARY)
    if running is not None and str(running.version) == str(version):
        return None
    if running is not None:
        raise CanaryError(
            f"canary v{running.version} of {model_name} is running: promote it after its judgement (or retire it) "
            f"before another version becomes the canary"
        )
    return {"stage": START, "share": float(limits.share), "snapshots": int(limits.snapshots)}


def start(model_name: str, version: str, actor: str, reason: str, run_id: str | None, **approval: Any) -> bool:
    """Make `version` the canary (the alias, its audit row, the version's state tag); False if it already is."""
    changed = registry.set_alias(
        model_name, registry.CANARY, version, actor, reason, run_id, action="canary", **approval
    )
    registry.set_version_tags(model_name, version, {Tag.CANARY_STATE: "running"})
    return changed


def refuse(model_name: str, verdict: CanaryVerdict, current: str | None, reason: str, run_id: str | None) -> None:
    """A failed canary: its evidence on record (promotion_decisions, the version's tags), the canary alias removed."""
    registry.set_version_tags(
        model_name, verdict.version, {Tag.CANARY_STATE: "failed", Tag.CANARY_EVIDENCE: verdict.summary()}
    )
    registry.remove_alias(model_name, registry.CANARY)
    history.record_promotion_decision(
        {
            "model_name": model_name,
            "action": "promote",
            "version": verdict.version,
            "previous_version": current,
            "decision": "canary_failed",
            "approver": None,
            "decided_at": datetime.now(UTC),
            "reason": f"{reason}; {verdict.summary()}",
            "comment": None,
            "run_id": run_id,
        }
    )


def passed(model_name: str, verdict: CanaryVerdict) -> None:
    """A passed canary's evidence on the version (champion moved onto it, which removed the canary alias)."""
    registry.set_version_tags(
        model_name, verdict.version, {Tag.CANARY_STATE: "passed", Tag.CANARY_EVIDENCE: verdict.summary()}
    )


def stage_lines(stage: dict[str, Any]) -> list[str]:
    """A plan's canary in plain lines, for the approver and the run summary (kept on the plan as `lines`)."""
    kind = stage.get("stage")
    if kind == SKIPPED:
        return [f"canary skipped: {stage['why']}"]
    if kind == START:
        return [
            f"canary starts: it decides {stage['share']:.0%} of the rows for {stage['snapshots']} scored snapshots; "
            "champion moves only after its evidence passes (promote this version again then)"
        ]
    verdict = CanaryVerdict.from_xcom(stage["verdict"])
    lines = [verdict.summary().split(": ", 1)[0]]
    lines += [f"{'PASS' if c['passed'] else 'FAIL'} {c['check']}: {c['detail']}" for c in verdict.checks]
    lines += [
        f"snapshot {s['snapshot']}: {s['rows']} rows, agreement {_fmt(s['decision_agreement'])}, "
        f"fallback share {_fmt(s['fallback_share'])}, score PSI {_fmt(s['score_psi'])}"
        for s in verdict.snapshots
    ]
    return lines


def with_lines(stage: dict[str, Any]) -> dict[str, Any]:
    """The stage with its `lines` (what the approval body and the summary show)."""
    return {**stage, "lines": stage_lines(stage)}
