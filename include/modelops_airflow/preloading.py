"""The libraries a task process would import, imported once before the processes that run tasks are forked: by the
LocalExecutor's forkserver (`modelops_airflow.preload` runs `preload()` on import) and by each Celery worker
(`modelops_airflow.celery_config`, on `worker_init`); and the import that logs a failure instead of raising it."""

from __future__ import annotations

import importlib
import logging

LIBRARIES = (
    "airflow.sdk.execution_time.task_runner",
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.calibration",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "mlflow",
    "mlflow.sklearn",
    "great_expectations",
)


def preload(names: tuple[str, ...] = LIBRARIES) -> list[str]:
    """Import each of `names`; the ones that failed, each logged with its error type (never raised).

    GX is imported quietly (its import logs a line per documented function otherwise; scripts/env.sh turns its
    analytics off)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optimisation only: the task imports it again and reports the error
            logging.getLogger(__name__).warning("preload: %s not imported (%s)", name, type(exc).__name__)
            failed.append(name)
    return failed
