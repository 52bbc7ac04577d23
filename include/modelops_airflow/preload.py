"""What every task process would import anyway, imported once before the LocalExecutor forks its workers.

`AIRFLOW__CORE__MP_START_METHOD=forkserver` with `AIRFLOW__CORE__MP_FORKSERVER_PRELOAD=modelops_airflow.preload`
(scripts/env.sh, tests/conftest.py): the scheduler's forkserver imports this module once; the executor's
workers are forked from it, and each task process is forked from a worker (Airflow's supervisor forks without
exec on Linux), so a task starts with pandas, scikit-learn, MLflow, GX and the steps already imported instead
of spending seconds of CPU importing them again. Importing is all this module does.
"""

from __future__ import annotations

import airflow.sdk.execution_time.task_runner  # noqa: F401
import mlflow
import mlflow.sklearn  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import scipy.stats  # noqa: F401
import sklearn.calibration
import sklearn.compose
import sklearn.ensemble
import sklearn.linear_model
import sklearn.pipeline  # noqa: F401

from modelops.pipelines import forecast_flow, monitoring_flow, workflow  # noqa: F401
from modelops.validate.suite import import_gx

import_gx()  # GX quietly, as validation imports it
