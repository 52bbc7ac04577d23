"""The third-party libraries every task process would import anyway, imported once before the LocalExecutor
forks its workers.

scripts/env.sh sets, for the LocalExecutor, `AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver` and
`AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=modelops_airflow.preload`: the scheduler's forkserver imports this
module once; the executor's workers are forked from it, and each task process is forked from a worker (Airflow's
supervisor forks without exec on Linux), so a task starts with pandas, scikit-learn, MLflow and GX imported
instead of spending seconds of CPU importing them again.

Only libraries: this project's own code (`modelops`) is imported by each task from disk, so a task runs the code
checked out now, the code its lineage records, and not the code of the day the scheduler started. A library that
fails to import is logged and left to the task, which reports it; the scheduler never stops over it.
"""

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
    """Import each of `names`; the ones that failed, each logged with its error type (never raised)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # an optimisation only: the task imports it again and reports the error
            logging.getLogger(__name__).warning("preload: %s not imported (%s)", name, type(exc).__name__)
            failed.append(name)
    return failed


logging.getLogger("great_expectations").setLevel(logging.WARNING)  # GX quietly (scripts/env.sh: no analytics)
preload()
