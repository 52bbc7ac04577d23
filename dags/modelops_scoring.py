"""
### ModelOps scoring: the champion scores a voter file, row for row

Loads the model behind `alias` (default `champion`), records the exact version in every output row
and in the MLflow run `modelops/<dataset>/scoring`, and streams the input in Arrow record batches
(memory stays flat whatever the file size). A folder of Parquet partitions fans out as mapped
`score_group` tasks, one per group of partitions; `commit` combines their parts into
`scoring/<dataset>/<snapshot>/` atomically (a rerun of the snapshot replaces it, never duplicates)
and, when `scoring.output_table` is set, loads the rows into PostgreSQL with `COPY` (idempotent per
snapshot and version).

**Rows in = rows out; the fallback answers for a row, not a crowd.** A row is scored by the
rule-based baseline (`source = fallback`, with its reason) only when the model cannot answer for it:
its input checks compiled from the spec fail (required values, ranges, codes, unseen categories beyond
the tolerated share, non-finite numbers), its id is missing or repeats an earlier row's, or its own
score is unusable. A chunk falls back whole only for a broken model (it cannot be loaded, or its
scores are all equal although its inputs differ). A shifted score distribution is an alert and
monitoring's evidence, never a swap (unless the dataset sets `scoring.score_guard: psi`). Above
`monitoring.fallback_share` of fallback rows the run alerts, whatever the cause. With a `challenger`
alias, the challenger scores a stable hashed sample in shadow (`scoring.shadow_sample`; every row of a
small input) and the agreement report, with its sample size and intervals, goes to MLflow and the HTML
report; a configured canary share gets the challenger's decisions (`source = canary`).

**Started** manually (Params below) or by the asset `x-modelops://production/snapshots`, which the
`modelops_register_snapshot` DAG emits with `{dataset, snapshot, input}` in the event's extra.

**Params**: `dataset` (empty = `default_dataset`); `input` (a Parquet/CSV file or a folder of Parquet
partitions; empty = the snapshot's file in the workspace); `conn_id` + `query` (a SQL source through an
Airflow connection, instead of `input`); `snapshot` (id of this delivery; default from the input's name); `alias`;
`groups` (partition groups to fan out; empty = configured); `use` (the permitted use the scores serve, one
of the dataset's `permitted_uses`; empty = its first): a use the dataset does not permit is refused before
any work, without retry, and the use is carried on the manifest, the Parquet metadata, the table's
`permitted_use` column and the MLflow run.

**Inputs that cannot hurt.** A file is read only under `production/<dataset>/` or a folder listed in
`scoring.input_roots`, by its resolved absolute path (a relative `input` is taken from the workspace
root; `../` out of those folders is refused), and the manifest records that path. A query is one
`SELECT`/`WITH` statement, run in a read-only transaction. An unreadable file (not UTF-8, a wrong
delimiter, a ragged row told by its line, never its text, a truncated Parquet file), an input with
no rows, a missing id column or a bad snapshot id is refused, and a refusal fails its task at once:
no retry, since the same input is refused again; only transient errors retry. A failed run removes
its staged parts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task, teardown

from modelops.core.alerts import AlertKind
from modelops.core.handoffs import SCORING_DAG_ID, SNAPSHOT_ASSET_URI
from modelops_airflow.defaults import dataset_param, input_param, make_default_args, snapshot_param
from modelops_airflow.notifiers import FailureNotifier, ScoringNotifier
from modelops_airflow.runtime import settings_and_spec

SNAPSHOT_REGISTERED = Asset(SNAPSHOT_ASSET_URI)

default_args = make_default_args(execution_timeout=timedelta(minutes=60))


def _request() -> dict:
    """What this run scores: the Params (an empty dataset is the configured default), or the triggering
    snapshot event's extra."""
    from modelops.collect.snapshots import request_from

    context = get_current_context()
    params = dict(context["params"])
    events = [e.extra for evs in (context.get("triggering_asset_events") or {}).values() for e in evs]
    if not params.get("dataset") and not events:
        params["dataset"] = settings_and_spec(None)[1].name
    return request_from(params, events)


def _uri(conn_id: str | None) -> str | None:
    """The SQLAlchemy URL of an Airflow connection (None without one)."""
    if not conn_id:
        return None
    from airflow.sdk import BaseHook

    from modelops.collect.sources import sql_url_from_uri

    return sql_url_from_uri(BaseHook.get_connection(conn_id).get_uri())


def _refused(exc: Exception):
    """Airflow's fail-fast exception for a deterministic refusal: the same input is refused again, so no retry."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))


_ON_FAILURE = [FailureNotifier(kind=AlertKind.SCORING_FAILURE)]


def _plan(data: dict):
    """The plan from XCom, with the SQL source's URL resolved again from its connection."""
    from dataclasses import replace

    from modelops.score.plan import ScoringPlan

    conn_id = data.get("conn_id")
    plan = ScoringPlan.from_xcom({k: v for k, v in data.items() if k != "conn_id"})
    return replace(plan, sql_url=_uri(conn_id)) if conn_id else plan


@task(on_failure_callback=FailureNotifier(kind=AlertKind.SCORING_FAILURE))
def plan() -> dict:
    """Resolve the input, the snapshot id, the exact model version(s) and the partition groups."""
    from modelops.collect.refusals import InputRefused
    from modelops.config.uses import UseRefused
    from modelops.score.plan import plan_scoring

    request = _request()
    settings, spec = settings_and_spec(request["dataset"])
    try:
        planned = plan_scoring(
            spec,
            settings,
            request.get("input"),
            request.get("snapshot"),
            alias=request.get("alias") or "champion",
            sql_url=_uri(request.get("conn_id")),
            query=request.get("query"),
            groups=request.get("groups"),
            use=request.get("use"),
        ).to_xcom()
    except (InputRefused, UseRefused) as exc:  # deterministic: the same request is refused again
        raise _refused(exc) from exc
    # The database URL (credentials included) never goes to XCom: each task resolves the connection.
    return {**planned, "sql_url": None, "conn_id": request.get("conn_id")}


@task
def group_indices(plan: dict) -> list[int]:
    """One mapped task per partition group."""
    return list(range(len(plan["groups"])))


@task(max_active_tis_per_dagrun=4, on_failure_callback=_ON_FAILURE)
def score_group(plan: dict, group_index: int) -> dict:
    """Score one group of partitions chunk by chunk; its part waits in staging for the commit."""
    from modelops.collect.refusals import InputRefused
    from modelops.score.run import score_group

    try:
        return score_group(_plan(plan), group_index)
    except InputRefused as exc:  # e.g. a ragged row found while reading: the same file fails again
        raise _refused(exc) from exc


@task(on_success_callback=ScoringNotifier(), on_failure_callback=_ON_FAILURE)
def commit(plan: dict, parts: list[dict]) -> dict:
    """Combine the groups' parts atomically (rows in = rows out), load the table, log the run."""
    from modelops.collect.refusals import InputRefused
    from modelops.score.commit import commit_scoring
    from modelops_airflow.figures import log_figures

    options = plan["options"]  # the dataset's own scoring options, resolved at plan
    output_url = _uri(options["output_conn_id"]) if options.get("output_table") else None
    try:  # the snapshot diff's new-registrant coverage reads the spec; without it the diff says so
        spec = settings_and_spec(plan["dataset"])[1]
    except Exception:
        spec = None
    try:
        result = commit_scoring(_plan(plan), list(parts), output_url, spec)
    except InputRefused as exc:
        raise _refused(exc) from exc
    return {**result, "operations": log_figures(result.get("mlflow_run_id"), result.get("rows"))}


@teardown
def discard_staging() -> None:
    """Whatever happened, no staged part stays behind: it runs once every group and the commit are done
    (a failed group's siblings may still be writing when it fails; the commit links what it publishes)."""
    from modelops.collect.snapshots import discard_staging

    planned = get_current_context()["ti"].xcom_pull(task_ids="plan")
    if planned:  # a refused plan staged nothing
        discard_staging(planned["dataset"], planned["snapshot"])


@dag(
    dag_id=SCORING_DAG_ID,
    doc_md=__doc__,
    schedule=[SNAPSHOT_REGISTERED],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "scoring"],
    default_args=default_args,
    params={
        "dataset": dataset_param(),
        "input": input_param(),
        "conn_id": Param(None, type=["null", "string"], description="Airflow connection of a SQL source."),
        "query": Param(None, type=["null", "string"], description="SQL query returning the rows to score."),
        "snapshot": snapshot_param(),
        "alias": Param("champion", type="string", description="Registered-model alias to score with."),
        "groups": Param(None, type=["null", "integer"], minimum=1, description="Partition groups (mapped tasks)."),
        "use": Param(
            None,
            type=["null", "string"],
            description="Permitted use served (the dataset's permitted_uses); empty = its first.",
        ),
    },
)
def modelops_scoring():
    planned = plan()
    scored = score_group.partial(plan=planned).expand(group_index=group_indices(planned))
    commit(planned, scored) >> discard_staging()


modelops_scoring()
