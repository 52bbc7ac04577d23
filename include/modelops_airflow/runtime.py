"""The parameters files as the DAG tasks read them: at run time, never at parse.

A DAG file's shape (task ids, Params, schedule) does not depend on the YAML, so a configuration
error never hides a DAG: the task that reads the files fails at once with the plain ConfigError
message (no retry: the same files give the same error).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelops.config.checks import ConfigError
from modelops.config.settings import DatasetSpec, Settings, load_settings


@contextmanager
def plain_config_errors() -> Iterator[None]:
    """Turn a ConfigError raised inside into Airflow's fail-fast exception carrying its plain message."""
    try:
        yield
    except ConfigError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


def read_settings() -> Settings:
    """The parameters files in force, read now; a ConfigError fails the task with its plain message."""
    with plain_config_errors():
        return load_settings()


def settings_and_spec(dataset: str | None) -> tuple[Settings, DatasetSpec]:
    """The settings and the spec of `dataset` (empty: the configured `default_dataset`), checked now.

    An unknown name fails the task with the ConfigError naming it and the configured datasets.
    """
    settings = read_settings()
    with plain_config_errors():
        return settings, settings.dataset(dataset or settings.default_dataset)


def model_name_or_default(model_name: str | None) -> str:
    """`model_name`, or (empty) the registered model of the configured `default_dataset`."""
    if model_name:
        return model_name
    settings = read_settings()
    return settings.dataset(settings.default_dataset).model_name


def dataset_or_default(params: dict[str, Any]) -> str | None:
    """The run's `dataset` Param, or the configured default when it is empty (None when the files are broken).

    For callbacks and listeners, which must never fail: they only label what they record.
    """
    if params.get("dataset"):
        return params["dataset"]
    try:
        return load_settings().default_dataset
    except ConfigError:
        return None
