"""What the "Model monitor" view shows, per dataset: typed records built from the registry and audit tables.

One function per question the page answers: who is champion and challenger (with the promotion
gates each passed or failed), which version held which alias when (the alias history), for each
scored snapshot the version its alias pointed to and how many rows that version scored, the canary
decided and the rule-based baseline served (with the fallback's reasons and columns), the drift
and performance trends of the monitoring history, the latest verdicts, the promotion decisions
(approved, refused, timed out, overridden: who asked, who answered, their comment), and the
approvals waiting in Airflow's Required Actions with the change each would make. The records are
pydantic models: the plugin's JSON endpoints return them as they are (so they are typed in its
OpenAPI), and `monitor_page` renders them as HTML.

No Airflow import here: pending approvals, and who asked for each decided request, are read over
Airflow's REST API with the caller's token.
Files the page links to (monitoring reports, model cards, scoring reports and manifests) are named by
their path under the workspace and served only through `catalog.resolve_served`, which refuses anything else.
"""

from __future__ import annotations

import json
import os
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from modelops.config.settings import DatasetSpec, Settings, load_settings
from modelops.core import catalog
from modelops.core.handoffs import PROMOTION_DAG_ID, TRAINING_DAG_ID
from modelops.core.served import served_by
from modelops.core.tags import Tag, alias_tag, holdout_tag
from modelops.store import history

MLFLOW_UI_ENV = "MODELOPS_MLFLOW_UI_URL"  # e.g. http://127.0.0.1:5000; unset: runs are named, not linked
RECENT_SNAPSHOTS = 5  # the recent fallback share covers this many newest scored snapshots
REQUIRED_ACTIONS_ROUTE = "required_actions"  # the Airflow UI's page of pending approvals (Browse -> Required Actions)
COMMENT_LIMIT = 500  # characters of a free-text comment or reason shown (the rest is cut, and said so)
DECISIONS_SHOWN = 50  # newest decided promotion requests per dataset


def plain_text(value: Any, limit: int = COMMENT_LIMIT) -> str:
    """Free text as one line, control characters escaped and cut to `limit`: safe in a log line.

    Line breaks and other control or format characters (a bidi override, a zero-width joiner) are
    written as escapes (`\\n`, `\\u202e`), so a comment cannot forge a log line or hide text; the
    cut says how many characters it dropped. HTML still needs escaping where the text is shown.
    """
    text = "" if value is None else str(value)
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    quoted = "".join(out)
    if len(quoted) > limit:
        return f"{quoted[:limit]}... ({len(quoted) - limit} more characters cut)"
    return quoted


# --- records --------------------------------------------------------------------------------


class Link(BaseModel):
    """A link the page shows: a workspace file served by the plugin, or an MLflow UI page."""

    label: str
    href: str
    external: bool = Field(description="True for MLflow UI pages (another server), false for files the view serves")


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


class ServedSnapshot(BaseModel):
    """One committed scoring of a snapshot: rows the version scored, the canary decided, the fallback served."""

    snapshot: str
    scored_at: str
    model_version: str = Field(description="the version the alias pointed to; it scored `model_rows` of the rows")
    alias: str
    challenger_version: str | None
    rows: int
    model_rows: int = Field(description="rows the version scored itself")
    canary_rows: int = Field(description="rows the challenger decided as canary")
    fallback_rows: int = Field(description="rows the rule-based baseline served")
    fallback_share: float | None
    fallback_reasons: dict[str, int]
    fallback_columns: dict[str, list[str]] = Field(
        description="the columns the fallback reasons name, per reason kind (e.g. missing: [q1, q2])"
    )
    served_line: str = Field(description="who served the rows, in one line (modelops.core.served.ServedBy.line)")
    serving: str = Field(description="which version the alias pointed to at scoring time, from the alias history")
    links: list[Link]


class TrendPoint(BaseModel):
    """One monitoring window's value of a trend, and whether that signal breached in the window."""

    window_id: str
    window_end: datetime
    model_version: str
    value: float | None
    breach: bool


class Trend(BaseModel):
    """A series over the recorded windows (oldest first), with the configured limit where one applies."""

    key: str
    label: str
    signal: str
    limit: float | None
    higher_is_worse: bool
    points: list[TrendPoint]
    ceiling: float | None = None  # the figure's largest possible value (1 for shares and rates), if any


class WindowVerdict(BaseModel):
    """A recorded monitoring verdict: the action taken and why."""

    window_id: str
    window_end: datetime
    model_version: str
    rows: int
    breach: bool
    action: str
    signals: list[str]
    reasons: list[str]
    why: str | None
    fallback_share: float | None
    airflow_run_id: str | None
    links: list[Link]


class Approval(BaseModel):
    """A human approval waiting in Airflow's Required Actions."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: list[str]
    assigned_users: list[str]
    created_at: datetime
    dataset: str | None = Field(default=None, description="the dataset whose model the approval would change")
    model_name: str | None = None
    action: str | None = Field(default=None, description="promote, rollback or retire")
    from_version: str | None = Field(default=None, description="the champion when the request was planned")
    to_version: str | None = Field(default=None, description="the version that would become champion (or retire)")
    requester: str | None = Field(default=None, description="who triggered the run asking for the approval")
    change: str | None = Field(default=None, description="what approving would change, in one line")


class ApprovalList(BaseModel):
    """Pending approvals (never answered, task still waiting), and an error when Airflow could not be asked."""

    approvals: list[Approval]
    required_actions_path: str = Field(description="the Airflow UI route where they are answered")
    error: str | None = None


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


class RunRequest(BaseModel):
    """What a promotion run's trigger asked for, as Airflow keeps it (the run's user and conf)."""

    run_id: str
    requester: str | None
    dataset: str | None
    override: bool | None


class DatasetSummary(BaseModel):
    """One configured dataset: its model, who serves, and the latest monitoring action."""

    dataset: str
    model_name: str
    champion_version: str | None
    challenger_version: str | None
    windows: int
    latest_action: str | None
    latest_window: str | None


class DatasetList(BaseModel):
    """Every configured dataset."""

    datasets: list[DatasetSummary]


class DatasetView(BaseModel):
    """Everything the monitor shows for one dataset."""

    dataset: str
    model_name: str
    generated_at: datetime
    serving_now: str
    champion: VersionInfo | None
    challenger: VersionInfo | None
    alias_history: list[AliasChange] = Field(description="every alias change, newest first")
    served: list[ServedSnapshot] = Field(description="committed scorings, newest first")
    recent_fallback_share: float | None = Field(
        description=f"rows served by the rule-based baseline / rows, over the {RECENT_SNAPSHOTS} newest scorings"
    )
    trends: list[Trend]
    verdicts: list[WindowVerdict] = Field(description="recorded monitoring verdicts, newest first")
    mlflow_ui: str | None
    decisions: list[Decision] = Field(
        default_factory=list, description=f"decided promotion requests, newest first (at most {DECISIONS_SHOWN})"
    )
    alias_drift: str | None = Field(
        default=None,
        description="set when MLflow's champion alias disagrees with the alias history: it moved outside the "
        "training and promotion DAGs (scoring serves the recorded version and alerts)",
    )


# --- links ----------------------------------------------------------------------------------


def mlflow_ui() -> str | None:
    """The MLflow UI's address (MODELOPS_MLFLOW_UI_URL) without a trailing slash, or None."""
    url = os.environ.get(MLFLOW_UI_ENV, "").strip()
    return url.rstrip("/") or None


def mlflow_run_link(label: str, experiment_id: str | None, run_id: str | None) -> list[Link]:
    """A link to a run in the MLflow UI (none when the UI address or the run is unknown)."""
    ui = mlflow_ui()
    if not ui or not experiment_id or not run_id:
        return []
    return [Link(label=label, href=f"{ui}/#/experiments/{experiment_id}/runs/{run_id}", external=True)]


def mlflow_version_link(model_name: str, version: str) -> list[Link]:
    """A link to a registered version in the MLflow UI (none without the UI address)."""
    ui = mlflow_ui()
    if not ui:
        return []
    href = f"{ui}/#/models/{urllib.parse.quote(model_name)}/versions/{urllib.parse.quote(str(version))}"
    return [Link(label=f"MLflow: {model_name} v{version}", href=href, external=True)]


def file_link(label: str, path: str | Path | None) -> list[Link]:
    """A link to a served workspace file (none when it cannot be served)."""
    name = catalog.served_name(path)
    return [] if name is None else [Link(label=label, href=f"files/{name}", external=False)]


# --- registry -------------------------------------------------------------------------------


def _gate_checks(parent_run_id: str | None) -> list[GateCheck]:
    """The promotion gate's checks recorded with a version's training run (evaluation.json), if any."""
    from modelops.store import registry

    if not parent_run_id:
        return []
    report = registry.load_run_dict(parent_run_id, registry.EVALUATION_ARTIFACT) or {}
    checks = (report.get("verdict") or {}).get("checks") or []
    return [GateCheck(name=str(c["check"]), passed=bool(c["passed"]), detail=str(c["detail"])) for c in checks]


def version_info(spec: DatasetSpec, version: Any) -> VersionInfo:
    """A registered ModelVersion as the view shows it (gate checks read from its training run)."""
    from modelops.store import registry

    tags = dict(version.tags or {})
    primary = tags.get(Tag.PRIMARY_METRIC)
    holdout = tags.get(holdout_tag(primary)) if primary else None
    parent = tags.get(Tag.PARENT_RUN_ID)
    number = str(version.version)
    links = file_link("model card", catalog.card_html(spec.name, spec.model_name, number))
    links += mlflow_version_link(spec.model_name, number)
    if parent:
        links += mlflow_run_link("MLflow: training run", registry.run_experiment(parent), parent)
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


def _optional_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def decisions(model_name: str, requests: dict[str, RunRequest] | None = None) -> list[Decision]:
    """The decided promotion requests of a model, newest first, with who asked (from `requests` by run id)."""
    requests = requests or {}
    out = []
    for row in reversed(history.read_promotion_decisions(model_name)[-DECISIONS_SHOWN:]):
        asked = requests.get(str(row.get("run_id")))
        override = _optional_bool(row.get("override"))
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


# --- scoring --------------------------------------------------------------------------------


def served_snapshots(spec: DatasetSpec) -> list[ServedSnapshot]:
    """Every committed scoring of the dataset (its manifest), newest first, with its MLflow run."""
    from modelops.store import registry

    runs = registry.runs_by_tag(registry.scoring_experiment_name(spec.name), Tag.SNAPSHOT, Tag.MODEL_VERSION)
    out = []
    for snapshot in catalog.list_scored(spec.name):
        path = catalog.scoring_manifest(spec.name, snapshot)
        try:
            manifest = catalog.read_json(path)
        except (OSError, ValueError):
            continue  # swapped out between the listing and the read: the next page load shows it
        truth, unreadable = None, ""
        try:
            truth = served_by(manifest)
        except ValueError as exc:  # said on its row: the other snapshots stay readable
            unreadable = f"the manifest cannot say who served: {exc}"
        sources = {str(k): int(v) for k, v in (manifest.get("sources") or {}).items()}
        rows = truth.rows if truth else int(manifest.get("rows_out") or sum(sources.values()))
        fallback = sources.get("fallback", 0)
        version = str(manifest.get("model_version"))
        links = file_link("scoring report", catalog.scoring_report(spec.name, snapshot))
        links += file_link("manifest", path)
        run = runs.get((snapshot, version)) or runs.get((snapshot, None))
        if run:
            links += mlflow_run_link("MLflow: scoring run", run[0], run[1])
        out.append(
            ServedSnapshot(
                snapshot=snapshot,
                scored_at=str(manifest.get("scored_at", "")),
                model_version=version,
                alias=str(manifest.get("alias", "")),
                challenger_version=None
                if manifest.get("challenger_version") is None
                else str(manifest["challenger_version"]),
                rows=rows,
                model_rows=sources.get("model", 0),
                canary_rows=sources.get("canary", 0),
                fallback_rows=fallback,
                fallback_share=fallback / rows if rows else None,
                fallback_reasons={str(k): int(v) for k, v in (manifest.get("fallback_reasons") or {}).items()},
                fallback_columns={k: list(v) for k, v in truth.columns.items()} if truth else {},
                served_line=truth.line() if truth else unreadable,
                serving=str(manifest.get("serving", "")),
                links=links,
            )
        )
    out.sort(key=lambda s: (s.scored_at, s.snapshot), reverse=True)
    return out


def recent_fallback_share(served: list[ServedSnapshot], count: int = RECENT_SNAPSHOTS) -> float | None:
    """Rows served by the baseline / rows over the `count` newest scorings (`served` newest first); None if none."""
    recent = served[:count]
    rows = sum(s.rows for s in recent)
    return sum(s.fallback_rows for s in recent) / rows if rows else None


# --- monitoring history -----------------------------------------------------------------------

# key, label, the signal whose breach marks a point, the threshold key of its limit, higher is worse
TREND_SPECS = (
    ("drift_share", "Share of drifted features", "data_drift", "dataset_drift_share", True),
    ("prediction_psi", "Score PSI", "prediction_drift", "prediction_psi", True),
    ("expected_accuracy", "Expected accuracy (label-free)", "estimated_accuracy", None, False),
    ("fallback_share", "Fallback share", "fallback", "fallback_share", True),
)
BOUNDED = {"drift_share", "expected_accuracy", "fallback_share"}  # shares and rates: never above 1
UNBOUNDED_METRICS = {"log_loss"}  # every other primary metric is a rate or a probability score in [0, 1]


def _recorded(dataset: str) -> list[dict[str, Any]]:
    """The dataset's recorded (not dry-run) monitoring windows, oldest first, timestamps in UTC."""
    rows = [r for r in history.read_monitoring_history(dataset) if not r.get("dry_run")]
    for row in rows:
        end = row["window_end"]
        row["window_end"] = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    return rows


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def trends(
    rows: list[dict[str, Any]], thresholds: dict[str, Any], primary_metric: str, floor: float | None = None
) -> list[Trend]:
    """Drift and performance series from recorded monitoring rows (oldest first), one point per window.

    The labelled metric's limit is its configured floor (evaluation.floors), the absolute line it is judged
    against in every window; its drop against each version's own reference is in each window's report.
    """
    specs = [*TREND_SPECS, (f"labelled_{primary_metric}", f"Labelled {primary_metric}", "performance", None, False)]
    out = []
    for key, label, signal, limit_key, worse_up in specs:
        points = []
        for row in rows:
            if key.startswith("labelled_"):
                value = _number((row.get("labeled_metrics") or {}).get(primary_metric))
            else:
                value = _number(row.get(key))
            points.append(
                TrendPoint(
                    window_id=row["window_id"],
                    window_end=row["window_end"],
                    model_version=str(row["model_version"]),
                    value=value,
                    breach=signal in (row.get("signals") or []),
                )
            )
        limit = (
            _number(thresholds.get(limit_key)) if limit_key else _number(floor) if key.startswith("labelled_") else None
        )
        bounded = key in BOUNDED or (key.startswith("labelled_") and primary_metric not in UNBOUNDED_METRICS)
        out.append(
            Trend(
                key=key,
                label=label,
                signal=signal,
                limit=limit,
                higher_is_worse=worse_up,
                points=points,
                ceiling=1.0 if bounded else None,
            )
        )
    return out


def verdicts(spec: DatasetSpec, rows: list[dict[str, Any]]) -> list[WindowVerdict]:
    """Recorded monitoring verdicts, newest first, with their report and MLflow run."""
    from modelops.store import registry

    runs = registry.runs_by_tag(registry.monitoring_experiment_name(spec.name), Tag.WINDOW_ID, Tag.AIRFLOW_RUN_ID)
    out = []
    for row in reversed(rows):
        links = file_link("monitoring report", row.get("report_path"))
        run = runs.get((row["window_id"], row.get("run_id"))) or runs.get((row["window_id"], None))
        if run:
            links += mlflow_run_link("MLflow: monitoring run", run[0], run[1])
        out.append(
            WindowVerdict(
                window_id=row["window_id"],
                window_end=row["window_end"],
                model_version=str(row["model_version"]),
                rows=int(row["rows"]),
                breach=bool(row["breach"]),
                action=str(row["action"]),
                signals=list(row.get("signals") or []),
                reasons=[str(r) for r in row.get("reasons") or []],
                why=row.get("why"),
                fallback_share=_number(row.get("fallback_share")),
                airflow_run_id=row.get("run_id"),
                links=links,
            )
        )
    return out


# --- the views ------------------------------------------------------------------------------


def _spec(settings: Settings, dataset: str) -> DatasetSpec:
    return settings.dataset(dataset)  # ConfigError naming the configured datasets when unknown


def dataset_view(
    dataset: str, settings: Settings | None = None, requests: dict[str, RunRequest] | None = None
) -> DatasetView:
    """Everything the monitor shows for one configured dataset (ConfigError when it is not configured).

    `requests` (see `run_requests`) say who asked for each decided promotion; without them it is unknown.
    """
    from modelops.monitor.thresholds import thresholds_for
    from modelops.store import registry

    settings = settings or load_settings()
    spec = _spec(settings, dataset)
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
    served = served_snapshots(spec)
    rows = _recorded(spec.name)
    thresholds = thresholds_for(settings, None, spec)
    primary = str(settings.evaluation["primary_metric"])
    return DatasetView(
        dataset=spec.name,
        model_name=spec.model_name,
        generated_at=datetime.now(UTC),
        serving_now=registry.describe_serving(spec.model_name),
        champion=version_info(spec, champion) if champion is not None else None,
        challenger=version_info(spec, challenger) if challenger is not None else None,
        alias_history=alias_changes(spec.model_name),
        served=served,
        recent_fallback_share=recent_fallback_share(served),
        trends=trends(rows, thresholds, primary, (settings.evaluation.get("floors") or {}).get(primary)),
        verdicts=verdicts(spec, rows),
        mlflow_ui=mlflow_ui(),
        decisions=decisions(spec.model_name, requests),
        alias_drift=_drift_line(spec.model_name),
    )


def _drift_line(model_name: str) -> str | None:
    """The alias-drift sentence for the page, or None when MLflow and the alias history agree."""
    from modelops.store import registry

    drift = registry.alias_drift(model_name)
    return drift.line() if drift is not None else None


def dataset_list(settings: Settings | None = None) -> DatasetList:
    """Every configured dataset with who serves it and its latest monitoring action."""
    from modelops.store import registry

    settings = settings or load_settings()
    out = []
    for name in sorted(settings.datasets):
        spec = settings.datasets[name]
        champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
        challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
        rows = _recorded(name)
        out.append(
            DatasetSummary(
                dataset=name,
                model_name=spec.model_name,
                champion_version=None if champion is None else str(champion.version),
                challenger_version=None if challenger is None else str(challenger.version),
                windows=len(rows),
                latest_action=rows[-1]["action"] if rows else None,
                latest_window=rows[-1]["window_id"] if rows else None,
            )
        )
    return DatasetList(datasets=out)


# --- approvals (Airflow's REST API) ---------------------------------------------------------

# Airflow's human-in-the-loop details of every DAG and run, not yet answered.
HITL_PATH = "/api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false&limit=100"
WAITING_STATES = ("awaiting_input", "deferred", "running", "queued", "scheduled", "up_for_reschedule")


def parse_approvals(payload: dict[str, Any]) -> list[Approval]:
    """Pending approvals from a `GET .../hitlDetails` answer: not answered, and the task still waiting."""
    out = []
    for item in payload.get("hitl_details") or []:
        ti = item.get("task_instance") or {}
        if item.get("response_received") or ti.get("state") not in WAITING_STATES:
            continue
        out.append(
            Approval(
                dag_id=str(ti["dag_id"]),
                run_id=str(ti["dag_run_id"]),
                task_id=str(ti["task_id"]),
                map_index=int(ti.get("map_index", -1)),
                subject=str(item.get("subject", "")),
                body=item.get("body"),
                options=[str(o) for o in item.get("options") or []],
                assigned_users=[str(u.get("name") or u.get("id")) for u in item.get("assigned_users") or []],
                created_at=item["created_at"],
            )
        )
    out.sort(key=lambda a: a.created_at, reverse=True)
    return out


def _get_json(url: str, token: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


# The task whose XCom says what an approval would change, per DAG that asks for one.
PLAN_TASKS = {PROMOTION_DAG_ID: "check", TRAINING_DAG_ID: "register"}


def _requester(run: dict[str, Any]) -> str | None:
    """Who triggered a run: the user, else the kind of run (a schedule or an asset event asked)."""
    if run.get("triggering_user_name"):
        return str(run["triggering_user_name"])
    return f"{run['run_type']} run" if run.get("run_type") else None


def describe_change(
    approval: Approval,
    run: dict[str, Any] | None,
    plan: dict[str, Any] | None,
    datasets: dict[str, str] | None = None,
    champion: str | None = None,
) -> Approval:
    """The approval with what approving it would change, read from its run and its plan's XCom.

    `run` is Airflow's DAG run (its triggering user and conf), `plan` the XCom of the task that planned
    the request (the promotion DAG's `check`, the training DAG's `register`), `datasets` maps model
    names to datasets, `champion` is the champion now (used when the plan does not name one).
    """
    run, plan = run or {}, plan or {}
    conf = run.get("conf") or {}
    model = plan.get("model_name")
    action = plan.get("action") or conf.get("action") or ("promote" if approval.dag_id == TRAINING_DAG_ID else None)
    to_version = plan.get("version") if plan.get("version") is not None else conf.get("version")
    from_version = plan.get("current_champion") if "current_champion" in plan else champion
    dataset = conf.get("dataset") or (datasets or {}).get(str(model))
    change = None
    if to_version is not None and action == "retire":
        change = f"retire {model or dataset} v{to_version} (its aliases removed)"
    elif to_version is not None and action:
        now = f"v{from_version}" if from_version is not None else "none"
        change = f"{action}: {model or dataset} alias champion {now} -> v{to_version}"
    return approval.model_copy(
        update={
            "dataset": None if dataset is None else str(dataset),
            "model_name": None if model is None else str(model),
            "action": None if action is None else str(action),
            "from_version": None if from_version is None else str(from_version),
            "to_version": None if to_version is None else str(to_version),
            "requester": _requester(run),
            "change": change,
        }
    )


def _xcom_value(payload: Any) -> dict[str, Any] | None:
    """An XCom entry's value as a dict (the API returns it as stored: JSON text or an object)."""
    value = payload.get("value") if isinstance(payload, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _with_change(api_url: str, token: str, approval: Approval, datasets: dict[str, str], timeout: float) -> Approval:
    """One approval with its change, asked of Airflow (its run and plan); as it is when they cannot be read."""
    quote = urllib.parse.quote
    run_url = f"{api_url}/api/v2/dags/{quote(approval.dag_id, safe='')}/dagRuns/{quote(approval.run_id, safe='')}"
    try:
        run = _get_json(run_url, token, timeout)
    except (urllib.error.URLError, OSError, ValueError):
        run = None
    plan = None
    task = PLAN_TASKS.get(approval.dag_id)
    if task:
        try:
            plan = _xcom_value(_get_json(f"{run_url}/taskInstances/{task}/xcomEntries/return_value", token, timeout))
        except (urllib.error.URLError, OSError, ValueError):
            plan = None
    champion = None
    if approval.dag_id == TRAINING_DAG_ID and plan and plan.get("model_name"):
        from modelops.store import registry

        held = registry.version_by_alias(str(plan["model_name"]), registry.CHAMPION)
        champion = None if held is None else str(held.version)
    return describe_change(approval, run, plan, datasets, champion)


def pending_approvals(
    api_url: str, token: str, timeout: float = 10.0, settings: Settings | None = None
) -> ApprovalList:
    """Approvals waiting in Required Actions, asked of Airflow's REST API (`api_url`) with `token`.

    The caller's own token is used, so the list holds only what that user may read. Each approval
    says what approving it would change and who asked (its run and its plan's XCom). When Airflow
    cannot be asked, the list is empty and `error` says why (the rest of the page still renders).
    """
    api_url = api_url.rstrip("/")
    try:
        payload = _get_json(api_url + HITL_PATH, token, timeout)
    except urllib.error.HTTPError as exc:
        return ApprovalList(
            approvals=[],
            required_actions_path=REQUIRED_ACTIONS_ROUTE,
            error=f"Airflow refused the list of required actions: HTTP {exc.code} {exc.reason}",
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return ApprovalList(
            approvals=[],
            required_actions_path=REQUIRED_ACTIONS_ROUTE,
            error=f"Airflow's API at {api_url} could not be asked for required actions: {exc}",
        )
    approvals = parse_approvals(payload)
    if approvals:
        settings = settings or load_settings()
        datasets = {spec.model_name: name for name, spec in settings.datasets.items()}
        approvals = [_with_change(api_url, token, a, datasets, timeout) for a in approvals]
    return ApprovalList(approvals=approvals, required_actions_path=REQUIRED_ACTIONS_ROUTE)


def run_requests(api_url: str, token: str, dataset: str, timeout: float = 10.0) -> dict[str, RunRequest]:
    """Who asked for each promotion run of `dataset` (the newest 100 Airflow keeps), by run id.

    Read with the caller's token; empty when Airflow cannot be asked (the decisions then say the
    requester is not known).
    """
    query = urllib.parse.urlencode({"conf_contains": dataset, "order_by": "-id", "limit": 100})
    url = f"{api_url.rstrip('/')}/api/v2/dags/{PROMOTION_DAG_ID}/dagRuns?{query}"
    try:
        payload = _get_json(url, token, timeout)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    out = {}
    for run in payload.get("dag_runs") or []:
        conf = run.get("conf") or {}
        if conf.get("dataset") != dataset:  # conf_contains matches text: voter_turnout is in voter_turnout_2
            continue
        out[str(run["dag_run_id"])] = RunRequest(
            run_id=str(run["dag_run_id"]),
            requester=_requester(run),
            dataset=dataset,
            override=bool(_optional_bool(conf.get("override"))),  # not given: the DAG's default, no override
        )
    return out


# --- the overview: every configured dataset at a glance -------------------------------------


class OverviewRow(BaseModel):
    """One configured dataset at a glance: who serves, the last window judged, what is open, its page."""

    dataset: str
    model_name: str
    champion_version: str | None
    schedule: str = Field(description="its monitoring schedule (cron, preset, or off: manual runs only)")
    last_window: str | None = Field(description="the last window judged (recorded, not a dry run)")
    judged_at: datetime | None = Field(description="when that window's verdict was recorded (UTC)")
    last_action: str | None = Field(description="that window's verdict: retrain, watch, cooldown, alert or none")
    open_signals: list[str] = Field(description="the signals that window breached (open until a later one clears)")
    alias_drift: str | None = Field(description="set when the champion alias moved outside the DAGs")
    pending_approvals: int = Field(description="approvals waiting in Required Actions for this dataset's model")
    page: str = Field(description="the dataset's own page, relative to the monitor's root")


class Overview(BaseModel):
    """Every configured dataset, one row each, and approvals whose dataset is not known."""

    generated_at: datetime
    datasets: list[OverviewRow]
    unattributed_approvals: int = Field(description="waiting approvals whose dataset could not be told")
    approvals_error: str | None = Field(description="why Airflow could not be asked for approvals, if it could not")


def overview_row(settings: Settings, name: str, approvals: ApprovalList) -> OverviewRow:
    """One dataset's overview row from the registry, its monitoring history and the waiting approvals."""
    from modelops.pipelines.monitoring_flow import dataset_schedule
    from modelops.store import registry

    spec = settings.datasets[name]
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    last = (_recorded(name) or [None])[-1]
    judged = None if last is None else last["recorded_at"]
    return OverviewRow(
        dataset=name,
        model_name=spec.model_name,
        champion_version=None if champion is None else str(champion.version),
        schedule=dataset_schedule(settings, spec),
        last_window=None if last is None else last["window_id"],
        judged_at=None if judged is None else judged.replace(tzinfo=judged.tzinfo or UTC),
        last_action=None if last is None else last["action"],
        open_signals=[] if last is None else list(last.get("signals") or []),
        alias_drift=_drift_line(spec.model_name),
        pending_approvals=sum(a.dataset == name for a in approvals.approvals),
        page=f"?dataset={urllib.parse.quote(name)}",
    )


def overview(settings: Settings, approvals: ApprovalList) -> Overview:
    """The monitor's opening page: one row per configured dataset."""
    names = sorted(settings.datasets)
    return Overview(
        generated_at=datetime.now(UTC),
        datasets=[overview_row(settings, name, approvals) for name in names],
        unattributed_approvals=sum(a.dataset not in names for a in approvals.approvals),
        approvals_error=approvals.error,
    )
