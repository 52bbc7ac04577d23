"""The MLflow side of a forecast: its run (one per forecast, snapshot and pair of model versions) and the
calibration it leaves on the model versions' own runs.

A rerun of the same forecast of the same snapshot by the same two versions updates its run (found by its
tags), so a retried task never duplicates it. The pooled logit shift is attached to the training runs of
both model versions that served (`forecasts/<name>/cycle=<cycle>/` in their artifacts): the version's own
record says how far its scores missed that cycle's certified results, county by county.
"""

from __future__ import annotations

from typing import Any

from modelops.core.tags import Tag
from modelops.store.tracking import client, connect, experiment_id, find_finished_run

FORECAST_EXPERIMENT_PREFIX = "modelops/forecasts"  # + "/<forecast>": the experiment of a named forecast
FORECAST_SUMMARY_ARTIFACT = "forecast_summary.json"


def forecast_experiment_name(forecast: str) -> str:
    """Name of the experiment that holds a named forecast's runs."""
    return f"{FORECAST_EXPERIMENT_PREFIX}/{forecast}"


def log_forecast(
    forecast: str,
    params: dict[str, Any],
    metrics: dict[str, float | None],
    summary: dict[str, Any],
    files: list[str],
    tags: dict[str, str],
) -> str:
    """The forecast's run (reused for the same forecast, snapshot and versions): params, metrics, files; its id."""
    mlflow = connect()
    experiment = experiment_id(forecast_experiment_name(forecast))
    key = {k: tags[k] for k in (Tag.FORECAST, Tag.SNAPSHOT, Tag.TURNOUT_VERSION, Tag.SUPPORT_VERSION)}
    existing = find_finished_run(experiment, key)
    with mlflow.start_run(
        run_id=existing.info.run_id if existing is not None else None,
        experiment_id=None if existing is not None else experiment,
        run_name=None if existing is not None else f"forecast {forecast} {tags[Tag.SNAPSHOT]}",
        tags=tags,
    ) as run:
        if existing is None:  # params are written once: a rerun's are the same by the run's key
            mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(summary, FORECAST_SUMMARY_ARTIFACT)
        for path in files:
            mlflow.log_artifact(path)
    return run.info.run_id


def attach_to_run(run_id: str, path: str, artifact_path: str) -> str:
    """Attach a local file to an existing (finished) run under `artifact_path`; the artifact's URI."""
    client().log_artifact(run_id, path, artifact_path)
    name = path.rsplit("/", 1)[-1]
    return f"runs:/{run_id}/{artifact_path}/{name}"
