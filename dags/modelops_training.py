"""
### ModelOps training pipeline

Collect a dataset → validate it with Great Expectations → train candidate pipelines in parallel →
evaluate the best against the majority and rule-based baselines and the current champion →
register it in MLflow → promote it to `champion` only when every gate passes (else `challenger`).

**Trigger with parameters** (Trigger DAG w/ config): `dataset` (any spec in
`include/config/modelops.yaml`; empty = `default_dataset`), `sample_rows`, `candidates` (empty = the
configured ones), `max_fit_rows`, `source_path`
(a CSV/Parquet that replaces the configured source), `extra_batches` (labelled Parquet batches
added to the data, e.g. recent production windows) and `reason`. The monitoring DAG triggers it
with the last two when drift persists.

**Outputs**: an immutable batch (path + content hash), a validation report (GX data docs), one MLflow
run per candidate under an umbrella run, a registered model version carrying lineage tags (data hash,
validation id, git commit, config hash, dag/run ids, verdict), its model card (task `model_card`:
Markdown + HTML, logged on the version's run, linked by the tag `modelops.card`), an alias change recorded in the
`alias_history` table, and the asset `x-modelops://registry/champion` when a new champion is promoted.

With `promotion.require_approval: true` (the production-shaped profile sets it), the promotion waits
for a human in **Browse → Required Actions** (task `approve_promotion`), shown the version's recorded
gate checks and card; the user who triggered the run may not answer. Approve moves `champion`,
Reject (or no answer within `approval_timeout_hours`) leaves it and the summary says who refused.
With false (the embedded demo) `approve_promotion` passes without asking and the summary says the
promotion had no human approval.

A batch that fails validation is moved to `quarantine/` with its report and the run fails with the
list of failed expectations: nothing is trained or registered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import (
    APPROVAL_TASK_ID,
    CARD_TASK_ID,
    KEEP_TASK_ID,
    PROMOTE_TASK_ID,
    RUN_NOTE_XCOM_KEY,
    SUMMARY_TASK_ID,
    TRAINING_DAG_ID,
)
from modelops.pipelines.training_records import REGISTRATION_MODEL_NAME, REGISTRATION_VERSION
from modelops_airflow.approval import ANSWER_KEY, approval_task
from modelops_airflow.champion_event import CHAMPION_MOVES, announce_champion
from modelops_airflow.defaults import dataset_param, make_default_args
from modelops_airflow.runtime import read_settings, settings_and_spec

UNAPPROVED = "promoted without human approval (promotion.require_approval is false: the embedded demo)"
APPROVAL_SUBJECT = (
    f"Promote {{{{ ti.xcom_pull(task_ids='register')['{REGISTRATION_MODEL_NAME}'] }}}} "
    f"v{{{{ ti.xcom_pull(task_ids='register')['{REGISTRATION_VERSION}'] }}}} to champion?"
)

default_args = make_default_args(execution_timeout=timedelta(minutes=45))


def _training_plan(context):
    """The training run's own promotion as a plan: the approval body shows its recorded evidence."""
    from modelops.govern.promotion import plan_training_promotion

    registration = context["ti"].xcom_pull(task_ids="register")
    why = f"training run {context['run_id']} passed every gate"
    if context["params"].get("reason"):
        why += f"; triggered because: {context['params']['reason']}"
    return plan_training_promotion(registration["model_name"], registration["version"], why)


def _approvers_of(context) -> list[str]:
    """The run's dataset's configured approvers (the requester is removed by the approval task)."""
    settings, spec = settings_and_spec(context["params"]["dataset"])
    return settings.approvers_for(spec.name)


def _settings_and_spec():
    return settings_and_spec(get_current_context()["params"]["dataset"])


def _require_approval() -> bool:
    return bool(read_settings().promotion.require_approval)


SPEC_REVIEW_KEY = "spec_review"  # collect's XCom of the specs' review, carried onto the runs by prepare


def _review_specs() -> dict:
    """Specs reviewed and checked in, before any work: refused under the production profile (no retry),
    a warning in the task log under the demo profile."""
    from modelops.train.spec_review import SpecRefused, require_reviewed_specs

    try:
        review = require_reviewed_specs()
    except SpecRefused as exc:  # the same tree is refused again: retrying cannot help
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
    if not review.reviewed:
        print(f"WARNING {review.message()} (demo profile: training anyway)")
    return review.to_xcom()


@task(retries=2, execution_timeout=timedelta(minutes=20))
def collect() -> dict:
    """Check the specs are checked in, then read and join the sources and freeze an immutable batch."""
    from modelops.collect.sources import SourceError, collect_batch, sql_url_from_uri

    review = _review_specs()
    settings, spec = _settings_and_spec()
    context = get_current_context()
    context["ti"].xcom_push(key=SPEC_REVIEW_KEY, value=review)
    params = context["params"]
    sql_url = None
    if spec.source["kind"] == "sql":
        from airflow.sdk import BaseHook

        sql_url = sql_url_from_uri(BaseHook.get_connection(spec.source["conn_id"]).get_uri())
    try:
        batch = collect_batch(
            spec,
            sample_rows=params["sample_rows"],
            seed=int(settings.training.seed),
            sql_url=sql_url,
            path=params["source_path"],
            extra_paths=params["extra_batches"],
        )
    except SourceError as exc:  # an unreadable or misshapen file: retrying cannot help
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
    return batch.to_xcom()


@task(retries=0)
def validate(batch: dict) -> dict:
    """Great Expectations gate: pass, or quarantine the batch and fail with the reasons."""
    from airflow.sdk.exceptions import AirflowFailException

    from modelops.validate.validation import DataValidationError, validate_batch

    _, spec = _settings_and_spec()
    try:
        return validate_batch(batch, spec).to_xcom()
    except DataValidationError as exc:
        raise AirflowFailException(str(exc)) from exc  # bad data: retrying cannot help


@task
def prepare(batch: dict, validation: dict) -> dict:
    """Write the train/calibration/holdout splits and open the umbrella MLflow run."""
    from modelops.pipelines.workflow import prepare_training, training_options

    settings, spec = _settings_and_spec()
    context = get_current_context()
    params = context["params"]
    training = training_options(settings, params["candidates"], params["max_fit_rows"])
    ids = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"], "reason": params["reason"]}
    review = context["ti"].xcom_pull(task_ids="collect", key=SPEC_REVIEW_KEY)
    return prepare_training(batch, validation, spec, settings, training, ids, spec_review=review)


@task
def list_candidates(plan: dict) -> list[str]:
    """The candidate families this run trains (from the `candidates` param)."""
    return plan["candidates"]


@task(max_active_tis_per_dagrun=2)
def train_candidate(plan: dict, candidate: str) -> dict:
    """Search, fit, calibrate and log one candidate family."""
    from modelops.pipelines.workflow import run_candidate

    settings, spec = _settings_and_spec()
    return run_candidate(plan, candidate, spec, settings)


@task
def evaluate(plan: dict, results: list[dict]) -> dict:
    """Best candidate vs baselines and champion: metrics, slices, paired test, verdict."""
    from modelops.pipelines.judging import UnstableScores
    from modelops.pipelines.workflow import evaluate_candidates

    settings, spec = _settings_and_spec()
    try:
        return evaluate_candidates(plan, list(results), spec, settings)
    except UnstableScores as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc  # the same model scores the same: no retry


@task
def register(plan: dict, report: dict) -> dict:
    """Register the best candidate as a new model version with lineage tags."""
    from modelops.pipelines.workflow import register_best

    _, spec = _settings_and_spec()
    return register_best(plan, report, spec)


# Before the alias: every registered version has a card, and an approver can read it. A card that
# cannot be made fails the run loudly and holds the alias (the version stays registered; clear the
# task to retry). A duplicate registration refreshes the existing version's card.
@task(task_id=CARD_TASK_ID, execution_timeout=timedelta(minutes=20))
def model_card(registration: dict) -> dict:
    """Write the version's model card (Markdown + HTML), log it on its run and link it from its tags."""
    from modelops.govern.cards import build_card

    settings, _ = _settings_and_spec()
    return build_card(registration["model_name"], registration["version"], settings)


@task.branch
def choose_alias(registration: dict) -> str:
    """Champion only when every gate passed, through `approve_promotion` (which asks only when configured)."""
    return APPROVAL_TASK_ID if registration["promote"] else KEEP_TASK_ID


def _actor() -> tuple[str, str]:
    from modelops.store.registry import dag_actor

    context = get_current_context()
    dag_run = context["dag_run"]
    user = getattr(dag_run, "triggering_user_name", None) or f"{dag_run.run_type} run"
    return dag_actor(context["dag"].dag_id, user), context["run_id"]


def _approval(required: bool):
    """The human answer to approve_promotion, or None when no approval is required."""
    from modelops.govern.promotion import read_approval

    if not required:
        return None
    response = get_current_context()["ti"].xcom_pull(task_ids=APPROVAL_TASK_ID, key=ANSWER_KEY)
    return read_approval(response) if response else None


@task(task_id=PROMOTE_TASK_ID, outlets=[CHAMPION_MOVES])
def promote_champion(registration: dict) -> dict:
    """Point the `champion` alias at the new version and announce it as an asset event."""
    from modelops.pipelines.workflow import apply_alias
    from modelops.store.registry import CHAMPION

    actor, run_id = _actor()
    required = _require_approval()
    approval = _approval(required)
    if required and (approval is None or not approval.approved):
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"promotion needs an approval; none on record ({approval})")
    extra = {} if approval is None else {"approver": approval.approver, "approved_at": approval.decided_at}
    settings, _ = _settings_and_spec()  # the canary's limits (production profile: champion waits for its judgement)
    outcome = apply_alias(
        registration, CHAMPION, actor, run_id, **extra, comment=approval and approval.comment, settings=settings
    )
    # the production profile's first step is the canary: champion (and its event) waits for the judgement
    moved = outcome.get("alias") == CHAMPION and bool(outcome.get("alias_changed"))
    announce_champion(get_current_context(), moved, outcome["model_name"], outcome["version"])
    return outcome


@task(task_id=KEEP_TASK_ID)
def mark_challenger(registration: dict) -> dict:
    """Keep the champion; the new version becomes `challenger`."""
    from modelops.pipelines.workflow import apply_alias
    from modelops.store.registry import CHALLENGER

    actor, run_id = _actor()
    return apply_alias(registration, CHALLENGER, actor, run_id)


@task(task_id=SUMMARY_TASK_ID, trigger_rule="none_failed_min_one_success")
def summarize(batch: dict, validation: dict, plan: dict, report: dict) -> str:
    """Print and store the run summary (data, validation, candidates, comparison, decision)."""
    from modelops.pipelines.training_summary import render_run_note, render_summary, write_summary
    from modelops_airflow.figures import log_figures

    settings, _ = _settings_and_spec()
    required = bool(settings.promotion.require_approval)
    ti = get_current_context()["ti"]
    outcome = ti.xcom_pull(task_ids=PROMOTE_TASK_ID) or ti.xcom_pull(task_ids=KEEP_TASK_ID)
    if outcome is None and required:  # the approver refused: nothing moved
        from modelops.pipelines.workflow import refused_outcome

        approval = _approval(required)
        outcome = refused_outcome(ti.xcom_pull(task_ids="register"), approval and approval.approver)
    card = ti.xcom_pull(task_ids=CARD_TASK_ID)
    text = render_summary(batch, validation, plan, report, outcome, int(settings.evaluation.min_slice_rows), card=card)
    if not required and outcome and outcome.get("alias") == "champion" and outcome.get("alias_changed"):
        text += f"\n  approval  {UNAPPROVED}"
    labelled = sum(plan["split_rows"].values())  # the rows the run trained and judged on: its throughput
    text += "\n" + "\n".join(f"  run       {line}" for line in log_figures(plan["parent_run_id"], labelled))
    print(text)
    ti.xcom_push(key=RUN_NOTE_XCOM_KEY, value=render_run_note(report, outcome, card))
    return write_summary(text, batch["dataset"], get_current_context()["run_id"], plan["parent_run_id"])


@dag(
    dag_id=TRAINING_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "training"],
    default_args=default_args,
    params={
        "dataset": dataset_param("Dataset spec to train on."),
        "sample_rows": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Rows to generate (synthetic) or sample (other sources); empty = configured.",
        ),
        "candidates": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Candidate model families (search_spaces names), trained as parallel mapped tasks; "
            "empty = the configured training.candidates.",
        ),
        "max_fit_rows": Param(
            None,
            type=["null", "integer"],
            minimum=100,
            description="Cap on training rows (search and final fit); empty = configured.",
        ),
        "source_path": Param(
            None, type=["null", "string"], description="CSV/Parquet replacing the dataset's configured main source."
        ),
        "extra_batches": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Labelled Parquet batches (e.g. recent production windows) added to the data.",
        ),
        "reason": Param(None, type=["null", "string"], description="Why this run was triggered (lineage tag)."),
    },
)
def modelops_training():
    batch = collect()
    validation = validate(batch)
    plan = prepare(batch, validation)
    results = train_candidate.partial(plan=plan).expand(candidate=list_candidates(plan))
    report = evaluate(plan, results)
    registration = register(plan, report)
    card = model_card(registration)
    promote, keep = promote_champion(registration), mark_challenger(registration)
    approval = approval_task(
        APPROVAL_TASK_ID, APPROVAL_SUBJECT, plan_of=_training_plan, approvers_of=_approvers_of, optional=True
    )
    card >> choose_alias(registration) >> [approval, keep]
    approval >> promote
    [promote, keep] >> summarize(batch, validation, plan, report)


modelops_training()
