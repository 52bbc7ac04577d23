"""Where MLflow keeps things: the store's address, a client on it, the experiments by dataset, and runs found by tag.

Every module of the store package reaches MLflow through `connect` or `client` here, so the tracking
and registry URIs are set once, the same way, before any call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelops.config.settings import DatasetSpec
from modelops.core import catalog

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps task logs readable


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store in the workspace (tracking + registry)."""
    default = catalog.mlflow_dir() / "mlflow.db"
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default}"


def artifact_root() -> str:
    """Where new experiments keep artifacts (MODELOPS_ARTIFACT_ROOT overrides)."""
    return os.environ.get("MODELOPS_ARTIFACT_ROOT") or (catalog.mlflow_dir() / "artifacts").as_uri()


def connect():
    """The mlflow module, its tracking and registry URIs set to the configured store."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def client():
    """An MlflowClient on the configured store."""
    return connect().MlflowClient()


def experiment_id(name: str) -> str:
    """Id of experiment `name`, created with our artifact root if missing."""
    mlflow = connect()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=f"{artifact_root()}/{name}")


def find_finished_run(experiment: str, tags: dict[str, str]) -> Any | None:
    """A finished run carrying all `tags`, if one exists (makes task reruns idempotent)."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client().search_runs(
        [experiment], filter_string=f"{query} and attributes.status = 'FINISHED'", max_results=1
    )
    return runs[0] if runs else None


def short_tag(value: str) -> str:
    """A tag value cut to the 5000 characters MLflow keeps."""
    return value if len(value) <= 5000 else value[:4997] + "..."


def training_experiment(spec: DatasetSpec) -> str:
    """Experiment that holds a dataset's training runs."""
    return experiment_id(f"modelops/{spec.name}/training")


def scoring_experiment_name(dataset: str) -> str:
    """Name of the experiment that holds a dataset's batch-scoring runs."""
    return f"modelops/{dataset}/scoring"


def scoring_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's batch-scoring runs (one per snapshot)."""
    return experiment_id(scoring_experiment_name(dataset))


def monitoring_experiment_name(dataset: str) -> str:
    """Name of the experiment that holds a dataset's monitoring windows."""
    return f"modelops/{dataset}/monitoring"


def monitoring_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's monitoring windows."""
    return experiment_id(monitoring_experiment_name(dataset))


def reproduce_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's reproduction runs (one per check)."""
    return experiment_id(f"modelops/{dataset}/reproduce")


def run_experiment(run_id: str) -> str | None:
    """The experiment id of a run, or None when the run does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_run(run_id).info.experiment_id
    except MlflowException:
        return None


def runs_by_tag(
    experiment_name: str, tag: str, second: str | None = None, limit: int = 1000
) -> dict[tuple[str, str | None], tuple[str, str]]:
    """Runs of an experiment (never created here) keyed by a tag's value: {(value, second tag's value): (exp, run)}.

    Each value is also keyed with None as the second part, holding its newest run; an experiment that
    does not exist yet gives an empty mapping.
    """
    found = connect().get_experiment_by_name(experiment_name)
    if found is None:
        return {}
    runs = client().search_runs([found.experiment_id], max_results=limit, order_by=["attributes.start_time ASC"])
    out: dict[tuple[str, str | None], tuple[str, str]] = {}
    for run in runs:
        tags = run.data.tags
        if tag not in tags:
            continue
        where = (found.experiment_id, run.info.run_id)
        if second is not None and second in tags:
            out[(tags[tag], tags[second])] = where
        out[(tags[tag], None)] = where
    return out


def run_record(run_id: str) -> dict[str, dict[str, Any]]:
    """A run's params, metrics and tags as plain dicts."""
    data = client().get_run(run_id).data
    return {"params": dict(data.params), "metrics": dict(data.metrics), "tags": dict(data.tags)}
