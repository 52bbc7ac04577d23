"""A model's versions as the monitor shows them: champion and challenger with their gates, the alias history,
alias drift, and the decided promotion requests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.tags import Tag, alias_tag, holdout_tag
from modelops.store import history
from modelops.ui.approvals_view import RunRequest
from modelops.ui.free_text import optional_bool, plain_text
from modelops.ui.links import Link, file_link, mlflow_run_link, mlflow_version_link

DECISIONS_SHOWN = 50  # newest decided promotion requests per dataset


class GateCheck(BaseModel):
    """One check of the promotion gate as the version's evaluation recorded it."""

    name: str
    passed: bool
    detail: str


class VersionInfo(BaseModel):
    """A registered model version with its aliases, verdict, gate checks and links."""

    model_name: str
    version: str
    aliases: list[str]
    run_id: str | None
    candidate: str | None
    created_at: datetime | None
    verdict: str | None = Field(description="the gate's verdict at registration: promote or keep_champion")
    compared_to: str | None
    primary_metric: str | None
    holdout_value: float | None
    gates: list[GateCheck]
    retired: bool
    champion_since: str | None
    links: list[Link]


class AliasChange(BaseModel):
    """One row of the alias history: which version an alias moved to, from which, when, by whom and why."""

    alias: str
    version: str
    previous_version: str | None
    changed_at: datetime
    actor: str
    reason: str
    action: str | None
    approver: str | None
    approved_at: datetime | None
    run_id: str | None


class Decision(BaseModel):
    """A decided promotion request: what was asked and by whom, who answered how, when and why."""

    action: str
    version: str | None
    previous_version: str | None = Field(description="the champion when the request was planned")
    decision: str = Field(description="approved, refused or timed_out (as recorded)")
    override: bool | None = Field(description="the request overrode failed gates; None when not known")
    requester: str | None = Field(description="who asked (the run's triggering user); None when not known")
    approver: str | None = Field(description="who answered; None when nobody did before the timeout")
    decided_at: datetime
    reason: str = Field(description="the request's reason as recorded (plain text, cut)")
    comment: str | None = Field(description="the approver's comment (plain text, cut)")
    run_id: str | None

    @property
    def label(self) -> str:
        """approved, overridden (approved over failed gates), refused or timed out."""
        if self.decision == "approved" and self.override:
            return "overridden"
        return self.decision.replace("_", " ")


def _gate_checks(parent_run_id: str | None) -> list[GateCheck]:
    """The promotion gate's checks recorded with a version's training run (evaluation.json), if any."""
    from modelops.store import artifacts

    if not parent_run_id:
        return []
    report = artifacts.load_run_dict(parent_run_id, artifacts.EVALUATION_ARTIFACT) or {}
    checks = (report.get("verdict") or {}).get("checks") or []
    return [GateCheck(name=str(c["check"]), passed=bool(c["passed"]), detail=str(c["detail"])) for c in checks]


def version_info(spec: DatasetSpec, version: Any) -> VersionInfo:
    """A registered ModelVersion as the view shows it (gate checks read from its training run)."""
    from modelops.store import registry, tracking

    tags = dict(version.tags or {})
    primary = tags.get(Tag.PRIMARY_METRIC)
    holdout = tags.get(holdout_tag(primary)) if primary else None
    parent = tags.get(Tag.PARENT_RUN_ID)
    number = str(version.version)
    links = file_link("model card", catalog.card_html(spec.name, spec.model_name, number))
    links += mlflow_version_link(spec.model_name, number)
    if parent:
        links += mlflow_run_link("MLflow: training run", tracking.run_experiment(parent), parent)
    created = version.creation_timestamp
    return VersionInfo(
        model_name=spec.model_name,
        version=number,
        aliases=sorted(str(a) for a in (version.aliases or [])),
        run_id=version.run_id,
        candidate=tags.get(Tag.CANDIDATE),
        created_at=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        verdict=tags.get(Tag.VERDICT),
        compared_to=tags.get(Tag.COMPARED_TO),
        primary_metric=primary,
        holdout_value=float(holdout) if holdout not in (None, "") else None,
        gates=_gate_checks(parent),
        retired=tags.get(Tag.RETIRED) == "true",
        champion_since=tags.get(alias_tag(registry.CHAMPION, "since")),
        links=links,
    )


def alias_changes(model_name: str) -> list[AliasChange]:
    """Every alias change of a model (champion, challenger, ...), newest first."""
    rows = history.read_alias_history(model_name)
    return [
        AliasChange(**{k: row[k] for k in AliasChange.model_fields if k in row} | {"version": str(row["version"])})
        for row in reversed(rows)
    ]


def decisions(model_name: str, requests: dict[str, RunRequest] | None = None) -> list[Decision]:
    """The decided promotion requests of a model, newest first, with who asked (from `requests` by run id)."""
    requests = requests or {}
    out = []
    for row in reversed(history.read_promotion_decisions(model_name)[-DECISIONS_SHOWN:]):
        asked = requests.get(str(row.get("run_id")))
        override = optional_bool(row.get("override"))
        out.append(
            Decision(
                action=str(row["action"]),
                version=None if row.get("version") is None else str(row["version"]),
                previous_version=None if row.get("previous_version") is None else str(row["previous_version"]),
                decision=str(row["decision"]),
                override=override if override is not None else (asked.override if asked else None),
                requester=row.get("requester") or (asked.requester if asked else None),
                approver=row.get("approver"),
                decided_at=row["decided_at"],
                reason=plain_text(row.get("reason")),
                comment=plain_text(row["comment"]) if row.get("comment") else None,
                run_id=row.get("run_id"),
            )
        )
    return out


def alias_drift_line(model_name: str) -> str | None:
    """The alias-drift sentence for the page, or None when MLflow and the alias history agree."""
    from modelops.store import alias_log

    drift = alias_log.alias_drift(model_name)
    return drift.line() if drift is not None else None
