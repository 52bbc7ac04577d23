"""What every DAG file shares: the default_args base and the Params repeated across DAGs.

Light at parse: Airflow's SDK only, and nothing read from the parameters files (the tasks read them at run
time, `runtime`). A DAG states only its difference from the base.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param

BASE_DEFAULT_ARGS: dict[str, Any] = {
    "owner": "modelops",
    "retries": 1,
    "retry_delay": timedelta(seconds=20),
}


def make_default_args(execution_timeout: timedelta, **difference: Any) -> dict[str, Any]:
    """The shared default_args with this DAG's task timeout and any other key it sets differently."""
    return {**BASE_DEFAULT_ARGS, "execution_timeout": execution_timeout, **difference}


def dataset_param(description: str | None = None) -> Param:
    """A configured dataset's name; empty = the configured `default_dataset`, checked when the run starts."""
    what = f"{description} " if description else ""
    return Param(None, type=["null", "string"], description=f"{what}Empty = the configured default dataset.")


def optional_dataset_param(description: str) -> Param:
    """A configured dataset's name, or empty (None) for the DAG's own choice, which `description` names."""
    return Param(None, type=["null", "string"], description=description)


def model_name_param(description: str, **schema: Any) -> Param:
    """A registered model name; empty = the configured default dataset's; `schema` adds JSON-schema keywords."""
    return Param(
        None,
        type=["null", "string"],
        description=f"{description} Empty = the configured default dataset's model.",
        **schema,
    )


def input_param() -> Param:
    """A file or folder to read rows from."""
    return Param(None, type=["null", "string"], description="Parquet/CSV file or folder of Parquet parts.")


def snapshot_param() -> Param:
    """The snapshot id the rows are recorded under."""
    return Param(None, type=["null", "string"], description="Snapshot id; empty = from the input name.")


def latest_scored_snapshot_param(description: str) -> Param:
    """A snapshot that is already scored, or empty for the one scored last (found at run time)."""
    return Param(None, type=["null", "string"], description=f"{description} Empty = the snapshot scored last.")


def scored_snapshot_param(description: str) -> Param:
    """A snapshot that must already be scored (no default: the run names it)."""
    return Param(type="string", minLength=1, description=description)
