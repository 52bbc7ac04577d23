"""The Celery configuration of the production-shaped stacks: Airflow's defaults, and a worker that imports the
libraries of `preloading` once, before its pool forks.

scripts/prod_env.sh and docker-compose.yaml set
`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=modelops_airflow.celery_config.CELERY_CONFIG`. A Celery worker runs each
task in a process forked from one of its pool processes (Airflow's supervisor forks without exec), and the pool
processes are forked from the worker once it has started: the worker's start imports pandas, scikit-learn, MLflow
and GX (celery's `worker_init` signal), so no task spends seconds of CPU importing them again. The LocalExecutor's
counterpart is `modelops_airflow.preload`, through the scheduler's forkserver.

The scheduler and the API server import this module too (the executor builds its Celery app from it): they only
read the configuration; the signal fires in a Celery worker alone.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

from modelops_airflow.preloading import preload

# Airflow's own object, not a copy: its Celery app treats that object as "no settings of the user's" (a team's
# broker settings then stay the team's)
CELERY_CONFIG: dict[str, Any] = DEFAULT_CELERY_CONFIG


@worker_init.connect
def preload_libraries(**_: Any) -> None:
    """Import the libraries every task would import, once per worker, before the pool forks (failures logged)."""
    preload()
