"""Every MLflow tag name this project writes or reads on runs and model versions, declared once.

A tag is a `Tag` member (a `str`, so it goes to MLflow and into search filters as its value). The one
families of names not fixed in advance come from functions: a version's holdout score per metric
(`holdout_tag`) and what an alias move records on the version (`alias_tag`).
This module imports nothing of modelops.
"""

from __future__ import annotations

from enum import StrEnum

PREFIX = "modelops."  # every tag of this project starts with it (Airflow's ids and a few plain names aside)


class Tag(StrEnum):
    """MLflow tag names on runs (training, candidate, scoring, monitoring, reproduction) and model versions."""

    # lineage of a training run (and of the versions it registers)
    DATASET = "modelops.dataset"
    DATA_HASH = "modelops.data_hash"
    BATCH_PATH = "modelops.batch_path"
    VALIDATION_ID = "modelops.validation_id"
    VALIDATION_REPORT = "modelops.validation_report"
    CONFIG_HASH = "modelops.config_hash"
    GIT_COMMIT = "modelops.git_commit"
    PRIMARY_METRIC = "modelops.primary_metric"
    TRIGGER_REASON = "modelops.trigger_reason"
    EXTRA_BATCHES = "modelops.extra_batches"
    ROWS_LABELLED = "modelops.rows_labelled"
    ROWS_UNLABELLED = "modelops.rows_unlabelled"
    ROW_FILTER = "modelops.row_filter"
    SPLIT_SCHEME = "modelops.split_scheme"
    SPLIT_KEY = "modelops.split_key"
    ROW_KEY_COLUMNS = "modelops.row_key_columns"
    TRAINING_HASH = "modelops.training_hash"
    WEIGHTS = "modelops.weights"  # how rows are weighted: survey:<column>, unweighted:<column> or none
    # the versions of the libraries that shape predictions at training (JSON, core.environment)
    ENVIRONMENT = "modelops.environment"
    # whether the code and parameters files were checked in and unchanged (train.spec_review): true / false
    SPEC_REVIEWED = "modelops.spec_reviewed"
    SPEC_REVIEW = "modelops.spec_review"  # what was not (paths only), or `clean`
    ROLE = "modelops.role"
    RUN_CANDIDATE = "candidate"  # a candidate run's model family
    MODEL_URI = "model_uri"  # a candidate run's logged model
    # a registered version: what it is, how it was judged, its card, its retirement
    CANDIDATE = "modelops.candidate"
    PARENT_RUN_ID = "modelops.parent_run_id"
    VERDICT = "modelops.verdict"
    COMPARED_TO = "modelops.compared_to"
    USELESS_FEATURES = "modelops.useless_features"  # the drop-one check's useless features (comma-separated; none)
    GATES_OVERRIDDEN = "modelops.gates_overridden"
    CARD = "modelops.card"  # the card's HTML as an artifact URI (runs:/<run>/model_card/card.html)
    CARD_PATH = "modelops.card_path"  # the card's HTML in the workspace
    RETIRED = "modelops.retired"
    RETIRED_AT = "retired_at"
    RETIRED_BY = "retired_by"
    RETIRED_REASON = "retired_reason"
    RETIRED_APPROVED_BY = "retired_approved_by"
    RETIRED_APPROVED_AT = "retired_approved_at"
    # the production profile's canary of a version: running, passed or failed, and the evidence judged
    CANARY_STATE = "modelops.canary.state"
    CANARY_EVIDENCE = "modelops.canary.evidence"
    # scoring and monitoring runs
    MODEL_NAME = "modelops.model_name"
    MODEL_VERSION = "modelops.model_version"
    ALIAS = "modelops.alias"
    CHALLENGER_VERSION = "modelops.challenger_version"
    INPUT = "modelops.input"
    ALERTS = "modelops.alerts"
    SNAPSHOT = "modelops.snapshot"
    WINDOW_ID = "modelops.window_id"
    ACTION = "modelops.action"
    SIGNALS = "modelops.signals"
    DRY_RUN = "modelops.dry_run"
    ALIAS_DRIFT = "modelops.alias_drift"
    # the serving process runs other library versions than the model was trained with (or `none`)
    ENVIRONMENT_DRIFT = "modelops.environment_drift"
    PERMITTED_USE = "modelops.permitted_use"  # the use a scoring (or forecast) run served
    POPULATION = "modelops.population"  # the dataset whose snapshot a scoring run scored
    # forecast runs
    FORECAST = "modelops.forecast"  # the named forecast (`forecasts.<name>`)
    CYCLE = "modelops.cycle"  # the election cycle a forecast is for
    TURNOUT_VERSION = "modelops.turnout_version"  # the turnout model version whose scores a forecast summed
    SUPPORT_VERSION = "modelops.support_version"
    # reproduction runs and the verdict on the version
    REPRODUCE_KEY = "modelops.reproduce_key"
    REPRODUCED = "modelops.reproduced"
    REPRODUCED_AT = "modelops.reproduced_at"
    REPRODUCE_DETAIL = "modelops.reproduce_detail"
    REPRODUCE_RUN_ID = "modelops.reproduce_run_id"
    # the Airflow run behind a run
    AIRFLOW_DAG_ID = "airflow.dag_id"
    AIRFLOW_RUN_ID = "airflow.run_id"


HOLDOUT_PREFIX = f"{PREFIX}holdout_"


def holdout_tag(metric: str) -> str:
    """The version tag holding its holdout score on `metric` (e.g. `modelops.holdout_roc_auc`)."""
    return f"{HOLDOUT_PREFIX}{metric}"


def alias_tag(alias: str, what: str) -> str:
    """The version tag an alias move writes: `what` is since, by, reason, approved_by, approved_at or until."""
    return f"{alias}_{what}"
