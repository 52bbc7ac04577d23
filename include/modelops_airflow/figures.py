"""Task figures: every task of the training, scoring and monitoring DAGs records its figures as it ends.

Airflow calls the listener in the task's own process right after the task finished (success, or a
failure/retry), so the process's peak memory and bytes written are the task's. The figures go to
the audit table `task_figures` (`modelops.monitor.operations`); the DAGs' last tasks log them to MLflow
with the data rows the run handled (for throughput).
A state change made through the API (a person marking a task) carries no process figures and is
ignored. A recording problem is logged by Airflow and never fails the task. The listener is registered
by the plugin `plugins/modelops_figures.py`.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl

from modelops.core.handoffs import MONITORING_DAG_ID
from modelops_airflow.runtime import dataset_or_default


def _dataset_of(ti: Any, params: dict[str, Any]) -> str | None:
    """The run's `dataset` param; a mapped monitoring task's is its label (the dataset it judges).

    An empty `dataset` is the configured default, except in monitoring, where it means every dataset.
    """
    if ti.map_index >= 0 and not params.get("dataset"):
        return getattr(ti, "rendered_map_index", None)
    if ti.dag_id == MONITORING_DAG_ID:
        return params.get("dataset")
    return dataset_or_default(params)


def _record(task_instance: Any, state: str) -> None:
    if type(task_instance).__name__ != "RuntimeTaskInstance":  # changed through the API: no process to measure
        return
    from modelops.monitor.operations import MEASURED_DAGS, record_task

    if task_instance.dag_id not in MEASURED_DAGS or task_instance.start_date is None:
        return
    params = task_instance.get_template_context().get("params") or {}
    record_task(
        task_instance.dag_id,
        task_instance.run_id,
        task_instance.task_id,
        task_instance.start_date,
        state,
        map_index=task_instance.map_index,
        try_number=task_instance.try_number,
        dataset=_dataset_of(task_instance, params),
    )


def log_figures(mlflow_run_id: str | None, rows: int | None = None) -> list[str]:
    """From a DAG's last task: record the data rows the run handled (None: unknown, throughput not judged) and
    log the run's task figures to its MLflow run; returns summary lines."""
    from airflow.sdk import get_current_context

    from modelops.monitor.operations import describe, log_run_figures

    context = get_current_context()
    ti = context["ti"]
    figures = log_run_figures(
        mlflow_run_id,
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.start_date,
        _dataset_of(ti, context.get("params") or {}),
        map_index=ti.map_index,
        try_number=ti.try_number,
        rows=rows,
    )
    return describe(figures)


class FiguresListener:
    """Records each finished task's figures (success, or a failure/retry)."""

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        _record(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        _record(task_instance, "failed")
