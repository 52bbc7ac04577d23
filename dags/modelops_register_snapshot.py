"""
### Register a voter-file snapshot (and so start its scoring)

Checks that the snapshot's input exists where scoring may read it (a Parquet/CSV file or a folder of
Parquet partitions under `production/<dataset>/` or `scoring.input_roots`; empty `input` = the
snapshot's file under `production/<dataset>/inputs/`; empty `dataset` = `default_dataset`), is
readable and holds rows (an input scoring would refuse fails here, without retry, and announces
nothing) and emits the asset `x-modelops://production/snapshots` with `{dataset, snapshot, input}` in
the event's extra. The `modelops_scoring` DAG is scheduled on that asset, so registering a snapshot scores it with the
champion. Another system can do the same through the REST API
(`POST /api/v2/assets/events` with the same extra).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, get_current_context, task

from modelops.core.handoffs import SNAPSHOT_ASSET_URI, SNAPSHOT_DAG_ID
from modelops_airflow.defaults import dataset_param, input_param, make_default_args, snapshot_param
from modelops_airflow.runtime import settings_and_spec

SNAPSHOT_REGISTERED = Asset(SNAPSHOT_ASSET_URI)


@dag(
    dag_id=SNAPSHOT_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "scoring"],
    default_args=make_default_args(execution_timeout=timedelta(minutes=5), retries=0),
    params={
        "dataset": dataset_param(),
        "input": input_param(),
        "snapshot": snapshot_param(),
    },
)
def modelops_register_snapshot():
    @task(outlets=[SNAPSHOT_REGISTERED])
    def register(*, outlet_events=None) -> dict:
        """Check the snapshot is there and announce it (the event's extra names it)."""
        from airflow.sdk.exceptions import AirflowFailException

        from modelops.collect.refusals import InputRefused
        from modelops.collect.snapshots import describe

        params = get_current_context()["params"]
        settings, spec = settings_and_spec(params["dataset"])
        roots = settings.scoring_for(spec.name).input_roots  # the dataset's own, if set
        try:
            extra = describe(spec.name, params["input"], params["snapshot"], roots)
        except InputRefused as exc:  # the same input is refused again: no retry, no event
            raise AirflowFailException(str(exc)) from exc
        outlet_events[SNAPSHOT_REGISTERED].extra = extra
        return extra

    register()


modelops_register_snapshot()
