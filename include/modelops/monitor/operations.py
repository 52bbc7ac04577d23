"""Operational figures of every run: wall time per task, peak memory and bytes written.

Each task of the training, scoring and monitoring DAGs is measured in its own process when it
ends (the `modelops_figures` listener plugin calls `record_task`): how long it ran, the process's
peak resident memory (VmHWM) and the bytes it wrote to storage (`write_bytes` of /proc/self/io).
The rows go to the audit table `task_figures`; a DAG's last task also records how many data rows the
run handled (`run_rows`: the training batch's labelled rows, the snapshot's scored rows, the judged
window's rows). `run_figures` adds them up per DAG run, and `unusual_runs` compares a run with the
recent history of the same DAG and dataset, which the monitoring DAG turns into an alert when a run
is markedly slower or larger than usual, or slower per row (throughput) than usual.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelops.config.models import MonitoringSection
from modelops.core.handoffs import JUDGE_GROUP_ID
from modelops.store import history

# DAGs whose tasks are measured (the listener ignores every other DAG), with the task that ends a run:
# a run is judged against its history once that task has recorded (a run still going on is not).
# each measured DAG's last task (a monitoring run has one `record` per dataset judged)
MEASURED_DAGS = {
    "modelops_training": "summarize",
    "modelops_scoring": "commit",
    "modelops_monitoring": f"{JUDGE_GROUP_ID}.record",
}

task_figures = sa.Table(
    "task_figures",
    history.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False, index=True),
    sa.Column("run_id", sa.String(250), nullable=False, index=True),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("map_index", sa.Integer, nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("dataset", sa.String(200)),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("wall_seconds", sa.Float, nullable=False),
    sa.Column("peak_rss_mb", sa.Float),  # None where /proc is not readable
    sa.Column("bytes_written", sa.BigInteger),
)

# Runs whose figures were already judged against their history (each run alerts at most once).
operations_checks = sa.Table(
    "operations_checks",
    history.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("dataset", sa.String(200)),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
)


# How many data rows a run handled, recorded by its last task (a run without a row is judged without throughput).
run_rows = sa.Table(
    "run_rows",
    history.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False, index=True),
    sa.Column("run_id", sa.String(250), nullable=False, index=True),
    sa.Column("dataset", sa.String(200)),
    sa.Column("rows", sa.BigInteger, nullable=False),
)


def record_rows(dag_id: str, run_id: str, dataset: str | None, rows: int) -> None:
    """Store how many data rows a run handled (for its dataset); recording again replaces the count."""
    if int(rows) < 0:
        raise ValueError(f"run {run_id} of {dag_id}: a row count cannot be negative ({int(rows)})")
    r = run_rows.c
    same = (r.dag_id == dag_id) & (r.run_id == run_id)
    same &= r.dataset.is_(None) if dataset is None else r.dataset == dataset
    with history.get_engine().begin() as connection:
        connection.execute(run_rows.delete().where(same))
        connection.execute(run_rows.insert().values(dag_id=dag_id, run_id=run_id, dataset=dataset, rows=int(rows)))


def _row_counts(dag_id: str, dataset: str | None, run_id: str | None = None) -> dict[str, int]:
    """run id -> data rows of the DAG's runs that recorded a count: for `dataset`, or (None) over every dataset a
    run handled (a monitoring run judging several windows)."""
    r = run_rows.c
    query = sa.select(r.run_id, r.rows).where(r.dag_id == dag_id)
    if dataset is not None:
        query = query.where(r.dataset == dataset)
    if run_id is not None:
        query = query.where(r.run_id == run_id)
    counts: dict[str, int] = {}
    with history.get_engine().connect() as connection:
        for row in connection.execute(query):
            counts[row.run_id] = counts.get(row.run_id, 0) + int(row.rows)
    return counts


def _proc_value(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_figures() -> dict[str, float | int | None]:
    """This process's peak resident memory (MiB) and bytes written to storage so far (None if unknown)."""
    hwm = _proc_value("/proc/self/status", "VmHWM")  # kB
    written = _proc_value("/proc/self/io", "write_bytes")
    return {"peak_rss_mb": None if hwm is None else round(hwm / 1024, 1), "bytes_written": written}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record_task(
    dag_id: str,
    run_id: str,
    task_id: str,
    started_at: datetime,
    state: str,
    map_index: int = -1,
    try_number: int = 1,
    dataset: str | None = None,
    ended_at: datetime | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store one finished task's figures (idempotent per dag, run, task, map index and try); returns the row."""
    ended = _utc(ended_at or datetime.now(UTC))
    started = _utc(started_at)
    measured = process_figures() if figures is None else figures
    row = {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": int(map_index if map_index is not None else -1),
        "try_number": int(try_number or 1),
        "dataset": dataset,
        "state": state,
        "started_at": started,
        "ended_at": ended,
        "wall_seconds": max(0.0, (ended - started).total_seconds()),
        "peak_rss_mb": measured.get("peak_rss_mb"),
        "bytes_written": measured.get("bytes_written"),
    }
    t = task_figures.c
    with history.get_engine().begin() as connection:
        connection.execute(
            task_figures.delete().where(
                (t.dag_id == dag_id)
                & (t.run_id == run_id)
                & (t.task_id == task_id)
                & (t.map_index == row["map_index"])
                & (t.try_number == row["try_number"])
            )
        )
        connection.execute(task_figures.insert().values(**row))
    return row


def _rows(dag_id: str, run_id: str | None = None, dataset: str | None = None) -> list[dict[str, Any]]:
    t = task_figures.c
    query = sa.select(task_figures).where(t.dag_id == dag_id)
    if run_id is not None:
        query = query.where(t.run_id == run_id)
    if dataset is not None:
        query = query.where(t.dataset == dataset)
    with history.get_engine().connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(query.order_by(t.started_at, t.id))]
    for row in rows:
        row["started_at"], row["ended_at"] = _utc(row["started_at"]), _utc(row["ended_at"])
    return rows


def _summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals of one run's task rows: span of the run, task time, peak memory, bytes written."""
    peaks = [r["peak_rss_mb"] for r in rows if r["peak_rss_mb"] is not None]
    written = [r["bytes_written"] for r in rows if r["bytes_written"] is not None]
    return {
        "tasks": len(rows),
        "failed_tries": sum(r["state"] != "success" for r in rows),
        "wall_seconds": round(
            (max(r["ended_at"] for r in rows) - min(r["started_at"] for r in rows)).total_seconds(), 3
        ),
        "task_seconds": round(sum(r["wall_seconds"] for r in rows), 3),
        "peak_rss_mb": max(peaks) if peaks else None,
        "bytes_written": sum(written) if written else None,
        "started_at": min(r["started_at"] for r in rows).isoformat(),
    }


def run_figures(dag_id: str, run_id: str) -> dict[str, Any]:
    """One run's figures: per task (every try, mapped tasks by index) and the totals; empty if none recorded."""
    rows = _rows(dag_id, run_id)
    if not rows:
        return {"dag_id": dag_id, "run_id": run_id, "tasks": [], "totals": None}
    tasks = [
        {
            "task": r["task_id"] if r["map_index"] < 0 else f"{r['task_id']}[{r['map_index']}]",
            "try": r["try_number"],
            "state": r["state"],
            "wall_seconds": round(r["wall_seconds"], 3),
            "peak_rss_mb": r["peak_rss_mb"],
            "bytes_written": r["bytes_written"],
        }
        for r in rows
    ]
    totals = _summarize(rows)
    totals["rows"] = _row_counts(dag_id, rows[0]["dataset"], run_id).get(run_id)
    return {"dag_id": dag_id, "run_id": run_id, "dataset": rows[0]["dataset"], "tasks": tasks, "totals": totals}


def mlflow_metrics(figures: dict[str, Any]) -> dict[str, float]:
    """The figures as MLflow metric names: ops.<task>.wall_s / peak_rss_mb / mb_written, and ops.run.*."""
    out: dict[str, float] = {}
    for task in figures.get("tasks") or []:
        name = task["task"].replace("[", "_").replace("]", "")
        suffix = "" if task["try"] == 1 else f"_try{task['try']}"
        out[f"ops.{name}{suffix}.wall_s"] = float(task["wall_seconds"])
        if task["peak_rss_mb"] is not None:
            out[f"ops.{name}{suffix}.peak_rss_mb"] = float(task["peak_rss_mb"])
        if task["bytes_written"] is not None:
            out[f"ops.{name}{suffix}.mb_written"] = round(task["bytes_written"] / 2**20, 3)
    totals = figures.get("totals")
    if totals:
        out["ops.run.wall_s"] = float(totals["wall_seconds"])
        out["ops.run.task_s"] = float(totals["task_seconds"])
        if totals["peak_rss_mb"] is not None:
            out["ops.run.peak_rss_mb"] = float(totals["peak_rss_mb"])
        if totals["bytes_written"] is not None:
            out["ops.run.mb_written"] = round(totals["bytes_written"] / 2**20, 3)
        if totals.get("rows"):
            out["ops.run.rows"] = float(totals["rows"])
            out["ops.run.ms_per_row"] = 1000 * float(totals["wall_seconds"]) / totals["rows"]
    return out


def describe(figures: dict[str, Any]) -> list[str]:
    """Summary lines: the run's totals and its slowest tasks."""
    totals = figures.get("totals")
    if not totals:
        return ["no task figures recorded yet for this run"]
    peak = "n/a" if totals["peak_rss_mb"] is None else f"{totals['peak_rss_mb']:.0f} MiB"
    written = "n/a" if totals["bytes_written"] is None else f"{totals['bytes_written'] / 2**20:.1f} MiB"
    lines = [
        f"{totals['tasks']} task tries so far, {totals['wall_seconds']:.1f} s from first start to last end, "
        f"{totals['task_seconds']:.1f} s of task time; peak memory {peak}; written {written}"
    ]
    slowest = sorted(figures["tasks"], key=lambda t: -t["wall_seconds"])[:3]
    lines.append("slowest: " + ", ".join(f"{t['task']} {t['wall_seconds']:.1f} s" for t in slowest))
    rows = totals.get("rows")
    lines.append(
        "no row count recorded: throughput not judged"
        if not rows
        else f"{rows:,} rows, {1000 * totals['wall_seconds'] / rows:.3g} ms per row"
    )
    return lines


def _run_totals(dag_id: str, dataset: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(run id, totals) of every finished run of a DAG (and dataset), oldest first."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(dag_id, dataset=dataset):
        by_run.setdefault(row["run_id"], []).append(row)
    last = MEASURED_DAGS.get(dag_id)
    counts = _row_counts(dag_id, dataset)
    runs = [
        (run_id, {**_summarize(rows), "rows": counts.get(run_id)})
        for run_id, rows in by_run.items()
        if any(r["task_id"] == last and r["state"] != "running" for r in rows)
    ]
    return sorted(runs, key=lambda item: item[1]["started_at"])


def compare_with_history(
    totals: dict[str, Any], past: list[dict[str, Any]], settings: MonitoringSection
) -> list[dict[str, Any]]:
    """What is markedly above the median of `past` runs: wall time, peak memory, bytes written, seconds per row.

    A figure is flagged when it exceeds `ops_slower_factor` (time) or `ops_larger_factor` (memory,
    bytes) times the median AND by more than an absolute floor (`ops_min_seconds`, `ops_min_mb`), so
    small runs do not flap; fewer than `ops_min_history` past runs: nothing to compare with. Throughput
    (`_throughput_finding`) catches a slowdown that a smaller batch hides from the wall time.
    """
    if len(past) < int(settings.ops_min_history):
        return []
    checks = (
        ("wall_seconds", float(settings.ops_slower_factor), float(settings.ops_min_seconds), "s"),
        ("peak_rss_mb", float(settings.ops_larger_factor), float(settings.ops_min_mb), "MiB"),
        ("bytes_written", float(settings.ops_larger_factor), float(settings.ops_min_mb) * 2**20, "bytes"),
    )
    findings = []
    for key, factor, floor, unit in checks:
        values = [p[key] for p in past if p.get(key) is not None]
        now = totals.get(key)
        if now is None or len(values) < int(settings.ops_min_history):
            continue
        median = statistics.median(values)
        if now > factor * median and now - median > floor:
            findings.append(
                {
                    "figure": key,
                    "value": now,
                    "median": median,
                    "factor": factor,
                    "history_runs": len(values),
                    "detail": f"{key} {now:,.1f} {unit} is {now / median if median else float('inf'):.1f}x the median "
                    f"{median:,.1f} {unit} of the previous {len(values)} runs (flagged above {factor:g}x)",
                }
            )
    slower = _throughput_finding(totals, past, settings)
    return findings + ([slower] if slower else [])


def _throughput_finding(
    totals: dict[str, Any], past: list[dict[str, Any]], settings: MonitoringSection
) -> dict[str, Any] | None:
    """The run's seconds per row against the median of the past runs that recorded a row count.

    Unusual when above `ops_slower_factor` x that median AND when the extra time per row, at the past
    runs' median size, comes to more than `ops_min_seconds` (the floor of a usual-size run, scaled to
    this run's rows). Without a row count (this run's, or of fewer than `ops_min_history` past runs)
    throughput is not judged: no row count is ever guessed.
    """
    rows = totals.get("rows")
    counted = [p for p in past if p.get("rows")]
    if not rows or len(counted) < int(settings.ops_min_history):
        return None
    per_row = totals["wall_seconds"] / rows
    median = statistics.median(p["wall_seconds"] / p["rows"] for p in counted)
    usual_rows = statistics.median(p["rows"] for p in counted)
    factor, floor = float(settings.ops_slower_factor), float(settings.ops_min_seconds)
    if not (per_row > factor * median and (per_row - median) * usual_rows > floor):
        return None
    return {
        "figure": "seconds_per_row",
        "value": per_row,
        "median": median,
        "factor": factor,
        "history_runs": len(counted),
        "detail": f"throughput: {1000 * per_row:.3g} ms per row ({rows:,} rows in {totals['wall_seconds']:,.1f} s) "
        f"is {per_row / median if median else float('inf'):.1f}x the median {1000 * median:.3g} ms per row of the "
        f"previous {len(counted)} runs with a row count (flagged above {factor:g}x); at the usual throughput "
        f"these rows take {median * rows:,.1f} s",
    }


def unusual_runs(dataset: str | None, settings: MonitoringSection, remember: bool = True) -> list[dict[str, Any]]:
    """Finished runs not yet checked whose figures are markedly above their recent history.

    Each finished run (its last task recorded) is judged once against the runs before it; with
    `remember` false (a dry run) nothing is marked as checked, so a later real check judges it again.
    """
    found = []
    history_runs = int(settings.ops_history_runs)
    with history.get_engine().connect() as connection:
        done = {(r.dag_id, r.run_id, r.dataset) for r in connection.execute(sa.select(operations_checks))}
    for dag_id in MEASURED_DAGS:
        # each dataset against its own history: a run judging several datasets is several runs here
        for name in [dataset] if dataset is not None else _datasets_measured(dag_id):
            runs = _run_totals(dag_id, name)
            for index, (run_id, totals) in enumerate(runs):
                if (dag_id, run_id, name) in done:
                    continue
                past = [t for _, t in runs[max(0, index - history_runs) : index]]
                findings = compare_with_history(totals, past, settings)
                if findings:
                    found.append({"dag_id": dag_id, "run_id": run_id, "dataset": name, "findings": findings})
                if remember:
                    _remember_check(dag_id, run_id, name, findings)
    return found


def _datasets_measured(dag_id: str) -> list[str]:
    """The datasets a DAG's recorded task figures name."""
    t = task_figures.c
    query = sa.select(t.dataset).where((t.dag_id == dag_id) & t.dataset.is_not(None)).distinct()
    with history.get_engine().connect() as connection:
        return sorted(r.dataset for r in connection.execute(query))


def _remember_check(dag_id: str, run_id: str, dataset: str | None, findings: list[Any]) -> None:
    with history.get_engine().begin() as connection:
        connection.execute(
            operations_checks.insert().values(
                dag_id=dag_id, run_id=run_id, dataset=dataset, checked_at=datetime.now(UTC), findings=findings
            )
        )


def log_run_figures(
    mlflow_run_id: str | None,
    dag_id: str,
    run_id: str,
    task_id: str,
    started_at: datetime,
    dataset: str | None,
    map_index: int = -1,
    try_number: int = 1,
    rows: int | None = None,
) -> dict[str, Any]:
    """Called by a DAG's last task: record itself so far (and the data rows the run handled, when known), then
    log the run's figures to its MLflow run.

    The last task's own row is marked `running` here and replaced by the listener when it ends, so
    the MLflow run holds every earlier task in full and the last one up to this point.
    """
    if rows is not None:
        record_rows(dag_id, run_id, dataset, rows)
    record_task(dag_id, run_id, task_id, started_at, "running", map_index, try_number, dataset)
    figures = run_figures(dag_id, run_id)
    if mlflow_run_id:
        from modelops.core.jsonsafe import json_safe
        from modelops.store import tracking

        client = tracking.client()
        for name, value in mlflow_metrics(figures).items():
            client.log_metric(mlflow_run_id, name, value)
        client.log_dict(mlflow_run_id, json_safe(figures), "operations/figures.json")
    return figures
