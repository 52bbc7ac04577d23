"""Listener plugin: every task of the training, scoring and monitoring DAGs records its figures as it ends
(`modelops_airflow.figures`)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from modelops_airflow.figures import FiguresListener


class ModelOpsFiguresPlugin(AirflowPlugin):
    name = "modelops_figures"
    listeners: ClassVar[list[Any]] = [FiguresListener()]
