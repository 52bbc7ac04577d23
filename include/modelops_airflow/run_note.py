"""Run note: a finished training run's note in the Airflow UI is its decision, metric and model card.

The `summarize` task pushes a short Markdown note as the XCom `run_note`
(modelops.pipelines.training_summary.render_run_note).
When the run finishes, this listener, in the process that recorded the run's state (the scheduler, or
`airflow dags test`), makes that XCom the DAG run's note, which the UI shows in Markdown on the run's own page.
Why here: in Airflow 3.3 a task cannot set its run's note (the Task SDK's execution API has no such call,
and tasks have no database access); the run's state change is committed by the scheduler in the same
transaction as this note. A note a person wrote is never overwritten. The listener is registered by
the plugin `plugins/modelops_run_note.py`.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl


def _note_from_summary(dag_run: Any) -> None:
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy.orm import object_session

    from modelops.core.handoffs import RUN_NOTE_XCOM_KEY, SUMMARY_TASK_ID, TRAINING_DAG_ID

    if dag_run.dag_id != TRAINING_DAG_ID:
        return
    # The caller's own session (the scheduler's holds the run; `airflow dags test` hands a detached copy but
    # commits its thread's scoped session right after): the note joins the state change's transaction, and
    # no second connection waits on the row the caller has locked.
    session = object_session(dag_run) or settings.Session()
    run = session.get(DagRun, dag_run.id)
    if run is None or run.note:  # a note a person wrote stays
        return
    row = session.scalars(
        XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=SUMMARY_TASK_ID, key=RUN_NOTE_XCOM_KEY)
    ).first()
    note = XComModel.deserialize_value(row) if row is not None else None
    if isinstance(note, str) and note.strip():
        run.note = note


class RunNoteListener:
    """Copies the training summary's note onto the finished DAG run."""

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        _note_from_summary(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        _note_from_summary(dag_run)
