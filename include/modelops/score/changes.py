"""What changed since the snapshot scored before this one: adds, drops, moves, new registrants, and how the new
registrants were scored (model or fallback).

At commit, a dataset with an id column diffs the snapshot it scored against the latest snapshot of the
dataset scored before it (`catalog.list_scored`, the earlier manifest's input files), reading only the id,
geography and new-registrant columns (`collect.snapshot_diff`). The totals go into the manifest
(`snapshot_diff`), the per-geography counts into `snapshot_diff.json` beside it. With `scoring.new_registrants`
and the dataset's spec, the new registrants' coverage (model vs fallback share, no labels) is set against
the rest's (`evaluate.registrants.registrant_scores`). The diff never fails a scoring: whatever goes wrong
is recorded as "not computed" with the reason (the exception's type and message: file and column names,
never a row value).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.collect.snapshot_diff import DiffColumns, SnapshotDiff, diff_snapshots, registrant_config
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.evaluate.registrants import registrant_scores
from modelops.score.output import FALLBACK
from modelops.score.plan import ScoringPlan

PREDICTION_COLUMNS = ["id", "score", "source"]  # what the coverage reads of the part files


@dataclass(frozen=True)
class SnapshotChanges:
    """The manifest's `snapshot_diff` entry, and the per-geography counts for the file beside it (None: none)."""

    entry: dict[str, Any]
    geographies: list[dict[str, Any]] | None


def not_computed(reason: str, previous: str | None = None) -> SnapshotChanges:
    """A diff that was not computed, and why."""
    return SnapshotChanges({"computed": False, "previous": previous, "reason": reason}, None)


def previous_scored(dataset: str, snapshot: str) -> str | None:
    """The latest snapshot of `dataset` whose scoring was committed before `snapshot` (ids sort in time order)."""
    earlier = [s for s in catalog.list_scored(dataset) if s < snapshot]
    return earlier[-1] if earlier else None


def file_columns(plan: ScoringPlan) -> DiffColumns | None:
    """The diff's columns under the input files' names (a population's renamed back); None without an id."""
    checks = plan.checks
    if not checks.get("id_column"):
        return None
    renamed: dict[str, str] = checks.get("columns") or {}
    rule = checks.get("new_registrants")
    if rule is not None:
        rule = {**rule, "column": renamed.get(rule["column"], rule["column"])}
    geography = checks.get("geography")
    return DiffColumns(
        checks["id_column"], renamed.get(geography, geography) if geography else None, registrant_config(rule)
    )


def snapshot_changes(plan: ScoringPlan, part_files: list[Path], spec: DatasetSpec | None) -> SnapshotChanges:
    """The diff from the previous scored snapshot, and the new registrants' coverage; never raises."""
    try:
        return _changes(plan, part_files, spec)
    except Exception as exc:  # the diff is a report: it never fails the scoring
        return not_computed(f"{type(exc).__name__}: {exc}", previous_scored(plan.dataset, plan.snapshot))


def _changes(plan: ScoringPlan, part_files: list[Path], spec: DatasetSpec | None) -> SnapshotChanges:
    columns = file_columns(plan)
    if columns is None:
        return not_computed("the dataset has no id column: snapshots cannot be matched row to row")
    if plan.input_kind == "sql":
        return not_computed("the input was a SQL query: there are no snapshot files to diff")
    previous = previous_scored(plan.dataset, plan.snapshot)
    if previous is None:
        return not_computed(f"no snapshot of {plan.dataset} was scored before {plan.snapshot}")
    manifest = catalog.read_json(catalog.scoring_manifest(plan.dataset, previous))
    old_files = [Path(f) for f in manifest.get("input_files") or []]
    if not old_files:
        return not_computed(f"the scoring of {previous} read no files (a SQL query?): nothing to diff", previous)
    missing = [f.name for f in old_files if not f.exists()]
    if missing:
        return not_computed(f"the input files of {previous} are gone: {', '.join(missing[:5])}", previous)
    current = _read(columns, [Path(f) for group in plan.groups for f in group])
    diff = diff_snapshots(_read(columns, old_files), current, columns)
    entry = _entry(diff, previous)
    entry["registrants"] = _coverage(plan, spec, current, part_files)
    return SnapshotChanges(entry, [g.to_xcom() for g in diff.geographies] if diff.geographies else None)


def _read(columns: DiffColumns, files: list[Path]) -> pd.DataFrame:
    """The diff's columns of a snapshot's files, in scoring order."""
    from modelops.collect.inputs import read_table

    frames = [read_table(path, columns=columns.read) for path in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _entry(diff: SnapshotDiff, previous: str) -> dict[str, Any]:
    """The manifest's totals of a diff (per geography: the file beside it)."""
    totals = {k: v for k, v in diff.to_xcom().items() if k != "geographies"}
    return {"computed": True, "previous": previous, **totals, "geographies": len(diff.geographies)}


def _coverage(
    plan: ScoringPlan, spec: DatasetSpec | None, current: pd.DataFrame, part_files: list[Path]
) -> dict[str, Any] | None:
    """New registrants vs the rest: rows scored by the model and by the fallback (None: no new-registrant rule)."""
    if not plan.checks.get("new_registrants"):
        return None
    if spec is None:
        return {"computed": False, "reason": "the dataset's spec was not handed to the commit"}
    from modelops.collect.parquet_files import read_parquet_file

    parts = [read_parquet_file(path, PREDICTION_COLUMNS) for path in part_files]
    predictions = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    predictions = predictions.assign(source=predictions["source"].astype(object))
    back = {file: model for model, file in (plan.checks.get("columns") or {}).items()}
    scores = registrant_scores(
        current.rename(columns=back),
        predictions,
        spec,
        fallback_source=FALLBACK,
        id_column=plan.checks["id_column"],
    )
    keep = ("rows", "unscored", "model_rows", "fallback_rows", "model_share")
    return {
        "computed": True,
        "rule": scores.rule,
        "missing_ids": scores.missing_ids,
        "new": {k: getattr(scores.new, k) for k in keep},
        "rest": {k: getattr(scores.rest, k) for k in keep},
    }
