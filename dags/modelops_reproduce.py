"""
### ModelOps reproduction check of a registered version

Rebuilds `model_name` v`version` from what its training recorded: the batch (its content hash is
checked first), the resolved configuration and training options (not today's YAML), the splits,
the candidate family and its seed; then scores the holdout and compares every prediction with the
recorded ones (equal within 1e-9) and the metrics. The git commit trained at is compared with the
current one and reported; the predictions decide.

**Trigger with parameters**: `model_name` (empty: the default dataset's model) and `version`.

**Outputs**: tags `modelops.reproduced` (true/false), `modelops.reproduced_at`,
`modelops.reproduce_detail` and `modelops.reproduce_run_id` on the version, and a run with
`reproduction.json` in the MLflow experiment `modelops/<dataset>/reproduce`. The `report` task
fails (red) when the version was not reproduced, after the verdict is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import REPRODUCE_DAG_ID
from modelops_airflow.defaults import make_default_args, model_name_param
from modelops_airflow.runtime import model_name_or_default

default_args = make_default_args(execution_timeout=timedelta(minutes=10))


@dag(
    dag_id=REPRODUCE_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "governance"],
    default_args=default_args,
    params={
        "model_name": model_name_param("Registered model to check.", minLength=1),
        "version": Param(
            type=["integer", "string"],
            minLength=1,
            minimum=1,
            description="Version to rebuild (required).",
        ),
    },
)
def modelops_reproduce():
    @task(execution_timeout=timedelta(minutes=45))
    def reproduce() -> dict:
        """Rebuild the version from its record, compare its holdout predictions, record the verdict."""
        from modelops.govern.reproduce import reproduce_version

        context = get_current_context()
        params = context["params"]
        return reproduce_version(
            model_name_or_default(params["model_name"]), params["version"], run_key=context["run_id"]
        )

    @task(retries=0)
    def report(verdict: dict) -> dict:
        """Print the verdict; fail (red) when the version was not reproduced."""
        from modelops.govern.reproduce import describe_verdict

        print(describe_verdict(verdict))
        if not verdict["reproduced"]:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"{verdict['model_name']} v{verdict['version']} was not reproduced: {verdict['reason']}"
            )
        return {k: verdict[k] for k in ("model_name", "version", "reproduced", "detail")}

    report(reproduce())


modelops_reproduce()
