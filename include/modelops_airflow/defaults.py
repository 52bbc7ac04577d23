"""What every DAG file shares: the default_args base and the Params repeated across DAGs.

Light at parse: Airflow's SDK and the typed settings only. A DAG states only its difference from the base.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param

from modelops.config.settings import Settings

BASE_DEFAULT_ARGS: dict[str, Any] = {
    "owner": "modelops",
    "retries": 1,
    "retry_delay": timedelta(seconds=20),
}


def make_default_args(execution_timeout: timedelta, **difference: Any) -> dict[str, Any]:
    """The shared default_args with this DAG's task timeout and any other key it sets differently."""
    return {**BASE_DEFAULT_ARGS, "execution_timeout": execution_timeout, **difference}


def dataset_param(settings: Settings, description: str | None = None) -> Param:
    """One configured dataset, the default one preselected."""
    return Param(settings.default_dataset, type="string", enum=sorted(settings.datasets), description=description)


def optional_dataset_param(settings: Settings, description: str) -> Param:
    """One configured dataset, or empty (None) for the DAG's own choice, which `description` names."""
    return Param(None, type=["null", "string"], enum=[None, *sorted(settings.datasets)], description=description)


def model_name_param(settings: Settings, description: str, **schema: Any) -> Param:
    """A registered model name, the default dataset's preselected; `schema` adds JSON-schema keywords."""
    return Param(
        settings.dataset(settings.default_dataset).model_name, type="string", description=description, **schema
    )


def input_param() -> Param:
    """A file or folder to read rows from."""
    return Param(None, type=["null", "string"], description="Parquet/CSV file or folder of Parquet parts.")


def snapshot_param() -> Param:
    """The snapshot id the rows are recorded under."""
    return Param(None, type=["null", "string"], description="Snapshot id; empty = from the input name.")
