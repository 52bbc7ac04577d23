"""Voter-file snapshots: what a delivery to score is, and how a scoring run learns what to score.

A snapshot is one delivery of rows to score (a Parquet/CSV file, a folder of Parquet partitions,
or a SQL query), named by an id that sorts in time order (e.g. `2028-10-01`). Registering a snapshot
checks it is where scoring may read, readable and not empty (the checks and words of scoring's plan),
then emits an asset event whose extra carries `{dataset, snapshot, input}`; the scoring DAG reads
that extra when the event, not a person, started it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelops.collect import file_formats, inputs
from modelops.collect.refusals import InputMissing, InputRefused
from modelops.core import catalog

REQUEST_KEYS = ("dataset", "input", "conn_id", "query", "snapshot", "alias", "groups", "use")


def default_snapshot_id(input_path: str | None) -> str | None:
    """A snapshot id from an input's name: `.../2028-10-01.parquet` or `.../2028-10-01.csv.gz` -> `2028-10-01`."""
    if not input_path:
        return None
    path = Path(input_path)
    path = path if path.is_absolute() else catalog.root() / path  # as scoring resolves it, never from the cwd
    return catalog.safe_id(file_formats.input_stem(path), "snapshot id")


def request_from(params: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The scoring request: the run's Params, or, when snapshot events started it, the newest event's extra.

    Several events may have queued while a run was busy (`max_active_runs=1`); each event names a
    whole snapshot and later ones supersede nothing, so the newest is scored here and earlier ones
    are listed in the run's request for a person to trigger (none is lost silently).
    """
    request = {k: params.get(k) for k in REQUEST_KEYS}
    usable = [e for e in events if isinstance(e, dict) and e.get("dataset") and (e.get("input") or e.get("snapshot"))]
    if usable:
        newest = usable[-1]
        request.update({k: newest[k] for k in REQUEST_KEYS if newest.get(k) is not None})
        request["queued_snapshots"] = [e.get("snapshot") for e in usable[:-1]]
    elif events:
        raise ValueError(f"a snapshot event without dataset and input/snapshot in its extra cannot be scored: {events}")
    if not request.get("dataset"):
        raise ValueError("no dataset to score: set the `dataset` Param")
    return request


def describe(
    dataset: str, input_path: str | None, snapshot: str | None, input_roots: list[str] | None = None
) -> dict[str, Any]:
    """Check a snapshot to register is there, readable and not empty, and say what it is (the asset event's extra).

    The input is refused like scoring refuses it (outside the production folder and `input_roots`,
    unreadable, 0 rows), so no event announces a snapshot scoring would refuse; `input` in the extra
    is its resolved absolute path.
    """
    try:
        snapshot = catalog.safe_id(snapshot or default_snapshot_id(input_path) or "", "snapshot id")
    except ValueError as exc:
        raise InputRefused(str(exc) if snapshot or input_path else "a snapshot needs an id or an input path") from None
    roots = inputs.input_roots(dataset, {"input_roots": input_roots})
    path = inputs.resolve_input(input_path or catalog.snapshot_inputs(dataset, snapshot), roots)
    try:
        kind, files = inputs.locate(path, roots)
    except InputMissing as exc:
        raise InputMissing(f"snapshot {snapshot!r} of {dataset!r}: {exc}") from None
    inputs.file_rows(kind, files, path)
    return {"dataset": dataset, "snapshot": snapshot, "input": str(path)}


def discard_staging(dataset: str, snapshot: str) -> None:
    """Remove a failed scoring run's staged parts of a snapshot, and `.parts/` itself once it is empty."""
    import contextlib
    import shutil

    folder = catalog.scoring_staging(dataset, snapshot)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # another snapshot's run still stages there: leave it
        folder.parent.rmdir()
