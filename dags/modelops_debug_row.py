"""
### ModelOps debug of one row

Shows why one voter got their score: the raw values, each preprocessing step's output (imputed,
scaled, encoded), the score exactly as batch scoring gives it, every per-row fallback check with pass
or fail and the reason batch scoring records, and the columns that moved the score most (exact for a
logistic model, a documented one-at-a-time approximation for trees). See docs/scoring.md.

**Trigger with parameters**: `dataset` (empty: the default), `version` (an alias or a number; default
`champion`), and either `id` (read from the latest scored snapshot, or `snapshot`) or `row` (a JSON
object of column: value; only the dataset's columns, PII columns refused).

**Outputs**: `row.json` and `row.html` under `debug/<dataset>/<request>/` in the workspace (no PII; the
id only when its column is no PII). The task's log and XCom carry the summary line and the paths,
never a row value. A refused request (unknown id or column, bad JSON) fails at once without retry; a
transient error (the MLflow store unreachable) retries as any task does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import DEBUG_ROW_DAG_ID
from modelops_airflow.defaults import dataset_param, latest_scored_snapshot_param, make_default_args
from modelops_airflow.runtime import settings_and_spec

default_args = make_default_args(execution_timeout=timedelta(minutes=10))


@dag(
    dag_id=DEBUG_ROW_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "scoring"],
    default_args=default_args,
    params={
        "dataset": dataset_param("Dataset of the row."),
        "version": Param("champion", type="string", minLength=1, description="An alias or a version number."),
        "id": Param(None, type=["null", "string", "integer"], description="The row's id in the scored snapshot."),
        "row": Param(None, type=["null", "object", "string"], description="Or a row: a JSON object of column: value."),
        "snapshot": latest_scored_snapshot_param("Scored snapshot the id is read from."),
    },
)
def modelops_debug_row():
    @task
    def debug() -> dict:
        """Debug the row and write its record; a refused request fails at once (the same request is refused again)."""
        from airflow.sdk.exceptions import AirflowFailException

        from modelops.collect.refusals import InputRefused
        from modelops.score.debug_page import summary
        from modelops.score.debug_row import debug_row, write_debug
        from modelops.score.plan import ScoringError

        params = get_current_context()["params"]
        settings, spec = settings_and_spec(params["dataset"])
        row_id = None if params["id"] in (None, "") else str(params["id"])
        try:
            record = debug_row(spec, settings, params["version"], row_id, params["row"] or None, params["snapshot"])
        except (InputRefused, ScoringError) as exc:  # deterministic: the same request is refused again
            raise AirflowFailException(str(exc)) from None
        paths = write_debug(record)
        line = summary(record)
        print(f"{line}\nrecord: {paths['html']} (and {paths['json']})")
        return {"summary": line, **paths}

    debug()


modelops_debug_row()
