"""
### ModelOps monitoring: is the champion still right for the world it scores?

It ticks daily; each tick judges the datasets whose own schedule (`monitoring.schedule`, or the
dataset's) fires within the day it covers.

A **window is a scored snapshot**: the output the `modelops_scoring` DAG committed with the `champion`
alias. For each dataset due (`datasets_to_judge`; a manual run judges the `dataset` it names, or every
dataset), the task group `judge` measures the next window against the reference of the version that
served it (`assess`), decides (`decide`: `trigger_retraining` or `no_action`) and records the verdict
in `monitoring_history` (`record`, which alerts on a breach). `check_operations` flags runs markedly
slower or larger than their history.

What is measured, every signal and how the decision is made (persistence, cooldown, labelled veto,
the age bound): `docs/monitoring.md`, the one description of the policy.

**Params**: `dataset` (empty: every dataset due), `window` (default: the oldest not judged yet),
`thresholds` (overrides of `monitoring:` in `include/config/modelops.yaml`), `dry_run` (measure and
report, but record nothing, trigger nothing, alert nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task, task_group

from modelops.core.handoffs import (
    JUDGE_GROUP_ID,
    MONITORING_DAG_ID,
    MONITORING_TICK,
    NO_ACTION_TASK_ID,
    RETRAIN_TASK_ID,
    TRAINING_DAG_ID,
)
from modelops.pipelines.monitoring_flow import RETRAIN_CONF_KEY
from modelops_airflow.defaults import make_default_args, optional_dataset_param
from modelops_airflow.notifiers import BreachNotifier, FailureNotifier, OperationsNotifier
from modelops_airflow.runtime import plain_config_errors, read_settings

# Every task of the mapped group shows its dataset in the grid (the map index's label).
DATASET_LABEL = "{{ ti.xcom_pull(task_ids='datasets_to_judge')[ti.map_index] }}"
ASSESS_ID, DECIDE_ID = f"{JUDGE_GROUP_ID}.assess", f"{JUDGE_GROUP_ID}.decide"


def only_if_chosen(context) -> None:
    """Run a task after `decide` only when the same map index's `decide` chose it; else skip.

    A branch inside a mapped task group does not skip the branch it did not choose (Airflow 3.3,
    apache/airflow#67265: the skip is looked up at map index -1), so each branch checks for itself.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    ti = context["ti"]
    chosen = ti.xcom_pull(task_ids=DECIDE_ID, map_indexes=ti.map_index)
    if chosen != ti.task_id:
        raise AirflowSkipException(f"{DECIDE_ID} chose {chosen}")


default_args = make_default_args(execution_timeout=timedelta(minutes=20))


@task
def datasets_to_judge() -> list[str]:
    """The named dataset, or every dataset whose schedule is due; one without a champion is left out."""
    import logging

    from modelops.pipelines.monitoring_flow import judge_datasets

    context = get_current_context()
    run = context["dag_run"]
    with plain_config_errors():
        due, left_out = judge_datasets(
            context["params"]["dataset"],
            run.run_type == "scheduled",
            context.get("data_interval_start"),
            context.get("data_interval_end") or run.run_after,
            context["dag"].timezone.name,  # cron lines are read in the DAG's zone, as its tick is
            tick=MONITORING_TICK,
        )
    for why in left_out:
        logging.getLogger(__name__).info("not judged: %s", why)
    return due


@task(on_failure_callback=FailureNotifier(), map_index_template=DATASET_LABEL)
def assess(dataset: str) -> dict:
    """Measure the window, decide, write the report, log the MLflow run; nothing is recorded yet."""
    from airflow.sdk.exceptions import AirflowSkipException

    from modelops.pipelines.monitoring_flow import NothingToJudge, judge_window

    context = get_current_context()
    params = context["params"]
    try:
        outcome = judge_window(
            dataset,
            params["window"],
            params["thresholds"],
            bool(params["dry_run"]),
            context["dag_run"].run_after,
            context["run_id"],
        )
    except NothingToJudge as exc:  # no window waits: the dataset's tasks skip, saying why
        raise AirflowSkipException(str(exc)) from exc
    return outcome.to_xcom()


@task.branch(map_index_template=DATASET_LABEL)
def decide(outcome: dict) -> str:
    """Retrain only on a persistent breach outside the cooldown (never in a dry run)."""
    from modelops.pipelines.monitoring_flow import WindowOutcome

    retrains = WindowOutcome.from_xcom(outcome).retrains
    return f"{JUDGE_GROUP_ID}.{RETRAIN_TASK_ID if retrains else NO_ACTION_TASK_ID}"


@task(task_id=NO_ACTION_TASK_ID, map_index_template=DATASET_LABEL, pre_execute=only_if_chosen)
def no_action() -> None:
    """Nothing to trigger for this dataset (runs, unlike an EmptyOperator, so it can skip itself)."""


@task(
    # none_failed, not none_failed_min_one_success: Airflow holds the not yet expanded instance of a
    # "min one" join until every dataset's upstreams are done and fails it for all on any failure;
    # none_failed is judged per map index (a dataset with nothing judged skips below)
    trigger_rule="none_failed",
    on_success_callback=BreachNotifier(),
    map_index_template=DATASET_LABEL,
)
def record(outcome: dict | None) -> dict:
    """Append the window's figures and verdict to monitoring_history (not in a dry run)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from modelops.pipelines.monitoring_flow import WindowOutcome, record_verdict
    from modelops_airflow.figures import log_figures

    if outcome is None:  # assess skipped: no window waited for this dataset
        raise AirflowSkipException("nothing was judged")
    verdict = record_verdict(WindowOutcome.from_xcom(outcome), get_current_context()["run_id"])
    return {**verdict.to_xcom(), "operations": log_figures(verdict.mlflow_run_id, outcome["history_row"].get("rows"))}


@task_group(group_id=JUDGE_GROUP_ID)
def judge(dataset: str):
    """One dataset's window: assess, branch, record (a mapped instance per dataset)."""
    trigger = TriggerDagRunOperator(
        task_id=RETRAIN_TASK_ID,
        trigger_dag_id=TRAINING_DAG_ID,
        # this dataset's conf: the assess of the same map index
        conf=f"{{{{ ti.xcom_pull(task_ids='{ASSESS_ID}', map_indexes=ti.map_index)['{RETRAIN_CONF_KEY}'] }}}}",
        wait_for_completion=False,
        map_index_template=DATASET_LABEL,
        pre_execute=only_if_chosen,
    )
    outcome = assess(dataset)
    branch = decide(outcome)
    idle = no_action()
    branch >> [trigger, idle]
    [trigger, idle] >> record(outcome)


@task(on_success_callback=OperationsNotifier())
def check_operations() -> list[dict]:
    """Finished training/scoring/monitoring runs markedly slower or larger than their history (each once)."""
    from modelops.monitor.operations import unusual_runs

    params = get_current_context()["params"]
    settings = read_settings()
    return unusual_runs(params["dataset"], settings.monitoring, remember=not params["dry_run"])


@dag(
    dag_id=MONITORING_DAG_ID,
    doc_md=__doc__,
    schedule=MONITORING_TICK,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "monitoring"],
    default_args=default_args,
    render_template_as_native_obj=True,  # the retrain conf reaches the training DAG as a dict
    params={
        "dataset": optional_dataset_param(
            "The one dataset to judge; empty = every dataset due (each by its own schedule)."
        ),
        "window": Param(
            None, type=["null", "string"], description="Window id to (re-)judge; empty = the newest, once."
        ),
        "thresholds": Param({}, type="object", description="Overrides of the configured monitoring thresholds."),
        "dry_run": Param(
            False, type="boolean", description="Measure and report only: no history, no trigger, no alert."
        ),
    },
)
def modelops_monitoring():
    check_operations()
    judge.expand(dataset=datasets_to_judge())


modelops_monitoring()
