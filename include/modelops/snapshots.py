"""Voter-file snapshots: what a delivery to score is, and how a scoring run learns what to score.

A snapshot is one delivery of rows to score (a Parquet/CSV file, a folder of Parquet partitions,
or a SQL query), named by an id that sorts in time order (e.g. `2028-10-01`). Registering a snapshot
checks it is there and emits an asset event whose extra carries `{dataset, snapshot, input}`;
the scoring DAG reads that extra when the event, not a person, started it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelops import catalog

REQUEST_KEYS = ("dataset", "input", "conn_id", "query", "snapshot", "alias", "groups")


def default_snapshot_id(input_path: str | None) -> str | None:
    """A snapshot id from an input's name: `.../2028-10-01.parquet` -> `2028-10-01`."""
    if not input_path:
        return None
    path = Path(input_path)
    name = path.name if path.is_dir() else path.stem
    return catalog.safe_id(name.removesuffix(".csv").removesuffix(".parquet"), "snapshot id")


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


def describe(dataset: str, input_path: str | None, snapshot: str | None) -> dict[str, Any]:
    """Check a snapshot to register exists and say what it is (the asset event's extra)."""
    snapshot = snapshot or default_snapshot_id(input_path)
    if not snapshot:
        raise ValueError("a snapshot needs an id or an input path to take it from")
    path = Path(input_path) if input_path else catalog.snapshot_inputs(dataset, snapshot)
    if not path.exists():
        raise FileNotFoundError(f"snapshot {snapshot!r} of {dataset!r}: no input at {path}")
    if path.is_dir():
        files = sorted(str(p) for p in path.glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"snapshot {snapshot!r}: the folder {path} holds no .parquet partitions")
    elif path.suffix.lower() not in {".parquet", ".csv"}:
        raise ValueError(f"snapshot {snapshot!r}: {path.name} is neither .parquet nor .csv")
    return {"dataset": dataset, "snapshot": catalog.safe_id(snapshot, "snapshot id"), "input": str(path)}
