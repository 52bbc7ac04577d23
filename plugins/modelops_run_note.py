"""Listener plugin: a finished training run's note in the Airflow UI is its decision, metric and model card
(`modelops_airflow.run_note`)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from modelops_airflow.run_note import RunNoteListener


class ModelOpsRunNotePlugin(AirflowPlugin):
    name = "modelops_run_note"
    listeners: ClassVar[list[Any]] = [RunNoteListener()]
