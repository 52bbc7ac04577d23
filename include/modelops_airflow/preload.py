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

from modelops_airflow.preloading import preload

preload()
