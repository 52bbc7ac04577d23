"""Who served each scored snapshot: the version its alias named, and the rows it, the canary and the fallback served."""

from __future__ import annotations

from pydantic import BaseModel, Field

from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.served import served_by
from modelops.core.tags import Tag
from modelops.ui.links import Link, file_link, mlflow_run_link

RECENT_SNAPSHOTS = 5  # the recent fallback share covers this many newest scored snapshots


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


def served_snapshots(spec: DatasetSpec) -> list[ServedSnapshot]:
    """Every committed scoring of the dataset (its manifest), newest first, with its MLflow run."""
    from modelops.store import tracking

    runs = tracking.runs_by_tag(tracking.scoring_experiment_name(spec.name), Tag.SNAPSHOT, Tag.MODEL_VERSION)
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
