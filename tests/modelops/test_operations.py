"""Operational figures: recorded per task, added up per run, and judged against the run's history."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from conftest import use_workspace

from modelops.config.models import MonitoringSection
from modelops.monitor import operations
from modelops.store import history

SETTINGS = MonitoringSection(
    ops_history_runs=10,
    ops_min_history=3,
    ops_slower_factor=2.0,
    ops_larger_factor=2.0,
    ops_min_seconds=60,
    ops_min_mb=256,
)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def audit(tmp_path, monkeypatch):
    use_workspace(monkeypatch, tmp_path / "workspace")
    yield
    history._engines.clear()


def _run(
    dag: str,
    run_id: str,
    start: datetime,
    seconds: float,
    mb: float = 500,
    written: int = 10 << 20,
    last=True,
    dataset: str = "d",
):
    """A finished run of two tasks: `prepare` (10 s) then the DAG's last task taking the rest."""
    operations.record_task(
        dag,
        run_id,
        "prepare",
        start,
        "success",
        dataset=dataset,
        ended_at=start + timedelta(seconds=10),
        figures={"peak_rss_mb": 300.0, "bytes_written": 1 << 20},
    )
    task = operations.MEASURED_DAGS[dag] if last else "train"
    operations.record_task(
        dag,
        run_id,
        task,
        start + timedelta(seconds=10),
        "success",
        dataset=dataset,
        ended_at=start + timedelta(seconds=seconds),
        figures={"peak_rss_mb": mb, "bytes_written": written},
    )


def test_process_figures_are_this_process_memory_and_writes(tmp_path):
    before = operations.process_figures()
    with open(tmp_path / "blob", "wb") as handle:
        handle.write(os.urandom(3 << 20))
        handle.flush()
        os.fsync(handle.fileno())
    after = operations.process_figures()
    assert before["peak_rss_mb"] > 20  # a Python process with pandas/sqlalchemy loaded
    assert after["bytes_written"] - before["bytes_written"] >= 3 << 20


def test_run_figures_add_up_tasks_and_rerecording_a_task_replaces_it(audit):
    _run("modelops_scoring", "r1", T0, 100)
    # the same task try recorded again (the last task logs itself "running", then the listener at its end)
    operations.record_task(
        "modelops_scoring",
        "r1",
        "commit",
        T0 + timedelta(seconds=10),
        "success",
        dataset="d",
        ended_at=T0 + timedelta(seconds=120),
        figures={"peak_rss_mb": 700.0, "bytes_written": 5 << 20},
    )
    figures = operations.run_figures("modelops_scoring", "r1")
    assert [t["task"] for t in figures["tasks"]] == ["prepare", "commit"]
    totals = figures["totals"]
    assert totals["wall_seconds"] == 120 and totals["task_seconds"] == 120
    assert totals["peak_rss_mb"] == 700 and totals["bytes_written"] == (1 << 20) + (5 << 20)
    metrics = operations.mlflow_metrics(figures)
    assert metrics["ops.commit.wall_s"] == 110 and metrics["ops.run.mb_written"] == 6.0
    lines = operations.describe(figures)
    assert "120.0 s from first start to last end" in lines[0] and lines[1].startswith("slowest: commit 110.0 s")


def test_mapped_tasks_and_retries_are_kept_apart(audit):
    for index in range(2):
        operations.record_task(
            "modelops_training",
            "r",
            "train_candidate",
            T0,
            "failed",
            map_index=index,
            try_number=1,
            ended_at=T0 + timedelta(seconds=5),
            figures={"peak_rss_mb": 1.0, "bytes_written": 0},
        )
    operations.record_task(
        "modelops_training",
        "r",
        "train_candidate",
        T0,
        "success",
        map_index=1,
        try_number=2,
        ended_at=T0 + timedelta(seconds=9),
        figures={"peak_rss_mb": 2.0, "bytes_written": None},
    )
    figures = operations.run_figures("modelops_training", "r")
    assert [(t["task"], t["try"], t["state"]) for t in figures["tasks"]] == [
        ("train_candidate[0]", 1, "failed"),
        ("train_candidate[1]", 1, "failed"),
        ("train_candidate[1]", 2, "success"),
    ]
    assert figures["totals"]["failed_tries"] == 2
    assert "ops.train_candidate_1_try2.wall_s" in operations.mlflow_metrics(figures)


def test_a_markedly_slower_run_is_flagged_once_and_usual_runs_are_not(audit):
    for i, seconds in enumerate((100, 110, 95, 105)):
        _run("modelops_training", f"usual{i}", T0 + timedelta(hours=i), seconds)
    assert operations.unusual_runs("d", SETTINGS) == []  # the first three have too little history; the 4th is usual
    _run("modelops_training", "slow", T0 + timedelta(hours=5), 400, mb=1500)
    (found,) = operations.unusual_runs("d", SETTINGS)
    assert found["run_id"] == "slow" and found["dag_id"] == "modelops_training"
    details = {f["figure"]: f for f in found["findings"]}
    assert set(details) == {"wall_seconds", "peak_rss_mb"}  # bytes written stayed usual
    assert details["wall_seconds"]["median"] == 102.5 and "3.9x the median" in details["wall_seconds"]["detail"]
    assert operations.unusual_runs("d", SETTINGS) == []  # judged once


def test_small_runs_do_not_flap_and_unfinished_runs_wait(audit):
    for i, seconds in enumerate((12, 11, 13)):
        _run("modelops_scoring", f"s{i}", T0 + timedelta(hours=i), seconds)
    _run("modelops_scoring", "tiny_but_3x", T0 + timedelta(hours=4), 40)  # 3x the median but only +28 s
    _run("modelops_scoring", "going_on", T0 + timedelta(hours=5), 900, last=False)  # its last task not recorded
    assert operations.unusual_runs("d", SETTINGS) == []
    operations.record_task(
        "modelops_scoring",
        "going_on",
        "commit",
        T0 + timedelta(hours=5),
        "success",
        dataset="d",
        ended_at=T0 + timedelta(hours=5, seconds=950),
        figures={"peak_rss_mb": 400.0, "bytes_written": 1},
    )
    (found,) = operations.unusual_runs("d", SETTINGS)
    assert found["run_id"] == "going_on"


def test_a_dry_check_remembers_nothing(audit):
    for i, seconds in enumerate((100, 100, 100)):
        _run("modelops_monitoring", f"m{i}", T0 + timedelta(hours=i), seconds)
    _run("modelops_monitoring", "slow", T0 + timedelta(hours=4), 500)
    assert len(operations.unusual_runs("d", SETTINGS, remember=False)) == 1
    assert len(operations.unusual_runs("d", SETTINGS)) == 1  # still judged by the real check
    assert operations.unusual_runs("d", SETTINGS) == []


def test_the_alert_names_the_run_and_every_finding():
    from modelops.core.alerts import build_operations_alert

    found = {
        "dag_id": "modelops_scoring",
        "run_id": "r9",
        "dataset": "d",
        "findings": [{"figure": "wall_seconds", "detail": "wall_seconds 400.0 s is 4.0x the median"}],
    }
    alert = build_operations_alert(found)
    assert alert["kind"] == "modelops.operations.unusual_run" and alert["airflow_run_id"] == "r9"
    assert alert["reasons"] == ["wall_seconds 400.0 s is 4.0x the median"]


def test_an_audit_engine_made_before_these_tables_existed_gets_them(tmp_path, monkeypatch):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("MODELOPS_DB_URL", url)
    engine = sa.create_engine(url)
    history.alias_history.create(engine)  # a process that used the audit DB before importing operations
    monkeypatch.setitem(history._engines, url, engine)
    operations.record_task("modelops_scoring", "r", "plan", T0, "success", ended_at=T0 + timedelta(seconds=1))
    assert [t["task"] for t in operations.run_figures("modelops_scoring", "r")["tasks"]] == ["plan"]


def test_a_run_judging_several_datasets_is_checked_per_dataset_against_its_own_history(audit):
    """One monitoring run judges a small and a large dataset: each is compared with its own past only."""
    for i in range(4):
        start = T0 + timedelta(hours=i)
        _run("modelops_monitoring", f"m{i}", start, 100, dataset="small")
        _run("modelops_monitoring", f"m{i}", start, 1000, dataset="large")  # its usual: 10x the small one
    assert operations.unusual_runs(None, SETTINGS) == []  # neither is unusual against its own history
    _run("modelops_monitoring", "m4", T0 + timedelta(hours=5), 100, dataset="small")
    _run("modelops_monitoring", "m4", T0 + timedelta(hours=5), 4000, dataset="large")
    (found,) = operations.unusual_runs(None, SETTINGS)
    assert (found["run_id"], found["dataset"]) == ("m4", "large")
    assert operations.unusual_runs(None, SETTINGS) == []  # each (run, dataset) judged once


def _counted(run_id: str, start: datetime, seconds: float, rows: int | None, dag: str = "modelops_scoring"):
    """A finished run of one task taking `seconds`, with `rows` data rows recorded (None: no count)."""
    operations.record_task(
        dag,
        run_id,
        operations.MEASURED_DAGS[dag],
        start,
        "success",
        dataset="d",
        ended_at=start + timedelta(seconds=seconds),
        figures={"peak_rss_mb": 500.0, "bytes_written": 1 << 20},
    )
    if rows is not None:
        operations.record_rows(dag, run_id, "d", rows)


def _usual_big_runs(audit_dag: str = "modelops_scoring") -> None:
    """Three usual runs: 100,000 rows in 10 s each (0.1 ms per row)."""
    for i in range(3):
        _counted(f"big{i}", T0 + timedelta(hours=i), 10, 100_000, audit_dag)


def test_a_smaller_batch_at_a_much_slower_throughput_is_flagged_where_wall_time_is_not(audit):
    _usual_big_runs()
    _counted("small_but_slow", T0 + timedelta(hours=4), 9, 10_000)  # 9 s < 10 s, but 0.9 ms per row: 9x
    (found,) = operations.unusual_runs("d", SETTINGS)
    (finding,) = found["findings"]  # the wall time (9 s against 10 s) alone says nothing
    assert found["run_id"] == "small_but_slow" and finding["figure"] == "seconds_per_row"
    assert finding["value"] == pytest.approx(9 / 10_000) and finding["median"] == pytest.approx(10 / 100_000)
    assert "9.0x the median" in finding["detail"] and "10,000 rows in 9.0 s" in finding["detail"]
    assert "these rows take 1.0 s" in finding["detail"]


def test_the_same_throughput_on_a_smaller_batch_is_quiet(audit):
    _usual_big_runs()
    _counted("small_as_usual", T0 + timedelta(hours=4), 1, 10_000)  # 0.1 ms per row, as usual
    assert operations.unusual_runs("d", SETTINGS) == []


def test_a_slower_throughput_that_costs_a_usual_run_less_than_the_floor_is_quiet(audit):
    _usual_big_runs()
    # 3x the median per row, but at the usual 100,000 rows that is 20 s more, under the 60 s floor
    _counted("a_little_slower", T0 + timedelta(hours=4), 3, 10_000)
    assert operations.unusual_runs("d", SETTINGS) == []


def test_without_row_counts_throughput_is_not_judged_and_the_figures_say_so(audit):
    _usual_big_runs()
    _counted("uncounted", T0 + timedelta(hours=4), 9, None)
    assert operations.unusual_runs("d", SETTINGS) == []  # no row count: nothing guessed
    lines = operations.describe(operations.run_figures("modelops_scoring", "uncounted"))
    assert "no row count recorded: throughput not judged" in lines
    for i in range(3):  # a history without row counts: the new run's count has nothing to compare with
        _counted(f"old{i}", T0 + timedelta(days=1, hours=i), 10, None, "modelops_training")
    _counted("counted", T0 + timedelta(days=1, hours=4), 9, 10, "modelops_training")
    assert operations.unusual_runs("d", SETTINGS) == []


def test_a_run_records_its_rows_once_and_shows_its_throughput(audit):
    _counted("r", T0, 20, 1_000)
    operations.record_rows("modelops_scoring", "r", "d", 2_000)  # recorded again: replaced
    figures = operations.run_figures("modelops_scoring", "r")
    assert figures["totals"]["rows"] == 2_000
    assert "2,000 rows, 10 ms per row" in operations.describe(figures)
    assert operations.mlflow_metrics(figures)["ops.run.ms_per_row"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="cannot be negative"):
        operations.record_rows("modelops_scoring", "r", "d", -1)


def test_a_run_over_several_datasets_totals_their_rows(audit):
    """A monitoring run over every dataset (no dataset param) judges two windows: its figures total both."""
    operations.record_task(
        "modelops_monitoring", "m", "datasets_to_judge", T0, "success", ended_at=T0 + timedelta(seconds=5)
    )
    operations.record_rows("modelops_monitoring", "m", "small", 300)
    operations.record_rows("modelops_monitoring", "m", "large", 5_000)
    assert operations.run_figures("modelops_monitoring", "m")["totals"]["rows"] == 5_300
