"""The preload of task libraries (include/modelops_airflow/preloading.py, which preload.py runs in the scheduler's
forkserver and celery_config.py in each Celery worker): libraries only, never this project's code; a library that
fails is logged, never raised; the forkserver settings for the LocalExecutor only (a Celery worker's preload is
checked in tests/integration/test_prod_stack.py).
The test imports `preloading`, not `preload`: importing that would load every library into the test process."""

from __future__ import annotations

import logging
import os

from conftest import shell

from modelops_airflow import preloading as preload


def test_only_libraries_are_preloaded_so_tasks_run_the_code_checked_out_now():
    assert preload.LIBRARIES and not [n for n in preload.LIBRARIES if n.split(".")[0].startswith("modelops")]


def test_a_library_that_fails_is_logged_and_left_to_the_task(caplog):
    with caplog.at_level(logging.WARNING, logger=preload.__name__):
        assert preload.preload(("json", "no_such_library_anywhere")) == ["no_such_library_anywhere"]
    assert "preload: no_such_library_anywhere not imported (ModuleNotFoundError)" in caplog.text


def _scheduler_settings(executor: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__SCHEDULER__MP_")}
    env["AIRFLOW__CORE__EXECUTOR"] = executor
    result = shell('echo "$AIRFLOW__SCHEDULER__MP_START_METHOD|$AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"', env, 30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_local_executor_preloads_and_celery_does_not():
    assert _scheduler_settings("LocalExecutor") == "forkserver|modelops_airflow.preload"
    assert _scheduler_settings("CeleryExecutor") == "|"
