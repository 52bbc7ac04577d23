"""What a run keeps besides its numbers: the named artifacts each task logs, and reading them (the model too) back.

A loader returns None when the run holds no such artifact, except the baseline: a version without
it cannot be served, so its absence is a `MissingArtifactError` naming what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.store.tracking import client, connect, short_tag

EVALUATION_ARTIFACT = "evaluation.json"
CARD_ARTIFACT_PATH = "model_card"
RESOLVED_CONFIG_ARTIFACT = "resolved_config.json"
TRAINED_ROWS_ARTIFACT = "trained_row_keys.parquet"
REFERENCE_SAMPLE_ARTIFACT = "reference_sample.parquet"
PROFILE_ARTIFACT = "reference_profile.json"
BASELINE_ARTIFACT = "baseline.json"
TRAINING_OPTIONS_ARTIFACT = "training_options.json"
HOLDOUT_PREDICTIONS_ARTIFACT = "holdout_predictions.parquet"
REPRODUCTION_ARTIFACT = "reproduction.json"
SEARCH_ARTIFACT = "search_trace.json"  # a candidate run's search: space, every config's score, the choices


class MissingArtifactError(LookupError):
    """A registered version lacks an artifact a task needs."""


def load_model(model_uri: str) -> Any:
    """The sklearn pipeline behind a model URI (models:/name@alias, models:/name/3, runs:/...).

    MLflow refuses to deserialize any model unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true. The
    only models loaded here are ones this pipeline saved (skops format, type list vetted at save
    time by `runs.skops_trusted_types`) into its own store, so the flag is set for this process.
    """
    import logging
    import warnings

    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    mlflow = connect()
    # skops' import scan touches every loaded module (Airflow's deprecated shims included) and each
    # one warns; none of that is about the model, and it buried the task log.
    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mlflow.sklearn.load_model(model_uri)
    finally:
        quiet.setLevel(level)


def log_artifact(run_id: str, path: str) -> None:
    """Attach a local file to a run."""
    client().log_artifact(run_id, path)


def load_trained_keys(run_id: str) -> Any | None:
    """The row keys a training run learned from (uint64 array), or None when not on record."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    connect()
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{TRAINED_ROWS_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(local)["key"].to_numpy()


def log_reference_sample(run_id: str, path: str) -> None:
    """Store a version's bounded reference sample (feature columns only) on its run: the multivariate drift test."""
    client().log_artifact(run_id, path)


def load_reference_sample(run_id: str) -> Any | None:
    """The reference sample stored with a run (a DataFrame), or None when the run holds none."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    connect()
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{REFERENCE_SAMPLE_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(local)


def log_resolved_config(run_id: str, resolved: dict[str, Any]) -> None:
    """Store the whole configuration a run used (spec with its filter and labels, every section)."""
    client().log_dict(run_id, resolved, RESOLVED_CONFIG_ARTIFACT)


def log_profile(run_id: str, profile: dict[str, Any]) -> None:
    """Store a model's reference profile on its training run (monitoring never reloads training data)."""
    client().log_dict(run_id, profile, PROFILE_ARTIFACT)


def load_profile(run_id: str) -> dict[str, Any]:
    """The reference profile stored with a run."""
    connect()
    import mlflow.artifacts

    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}")


def log_baseline(run_id: str, baseline: dict[str, Any]) -> None:
    """Store the rule-based baseline's rule and two rates on a model's run (the scoring fallback)."""
    client().log_dict(run_id, baseline, BASELINE_ARTIFACT)


def load_baseline(model_name: str, version: str, run_id: str) -> dict[str, Any]:
    """The baseline stored with a version's run: {rule, rate_if_true, rate_if_false}, or a clear error."""
    from mlflow.exceptions import MlflowException

    connect()
    import mlflow.artifacts

    try:
        baseline = mlflow.artifacts.load_dict(f"runs:/{run_id}/{BASELINE_ARTIFACT}")
    except (MlflowException, OSError) as exc:
        raise MissingArtifactError(
            f"{model_name} v{version} (run {run_id}) has no {BASELINE_ARTIFACT} (the rule-based fallback), "
            "so it cannot be served by batch scoring; retrain, or log the "
            f"baseline on its run with artifacts.log_baseline ({type(exc).__name__})"
        ) from None
    missing = sorted({"rule", "rate_if_true", "rate_if_false"} - set(baseline))
    if missing:
        raise MissingArtifactError(f"{model_name} v{version}: {BASELINE_ARTIFACT} lacks {missing}")
    return baseline


def log_training_options(run_id: str, options: dict[str, Any]) -> None:
    """Store the training options a run used (the training section with its run-time overrides)."""
    client().log_dict(run_id, options, TRAINING_OPTIONS_ARTIFACT)


def log_holdout_predictions(run_id: str, keys: Any, scores: Any) -> None:
    """Store a model's holdout scores by stable row key (`key`, `score`) on its run: what a rebuild must match."""
    import pandas as pd

    frame = pd.DataFrame({"key": keys, "score": scores})
    with catalog.scratch_dir("holdout-predictions") as folder:
        path = catalog.write_parquet(frame, folder / HOLDOUT_PREDICTIONS_ARTIFACT)
        client().log_artifact(run_id, str(path))


def _download(run_id: str, artifact: str, folder: Path) -> Path | None:
    """One artifact of a run copied into `folder`, or None when the run does not hold it."""
    from mlflow.exceptions import MlflowException

    connect()
    import mlflow.artifacts

    try:
        return Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{artifact}", dst_path=str(folder)))
    except (MlflowException, OSError):
        return None


def load_run_dict(run_id: str, artifact: str) -> Any | None:
    """A JSON artifact of a run (e.g. resolved_config.json), or None when it is not on record."""
    with catalog.scratch_dir("artifacts") as folder:
        local = _download(run_id, artifact, folder)
        return None if local is None else catalog.read_json(local)


def load_holdout_predictions(run_id: str) -> Any | None:
    """The holdout scores a run recorded (`key`, `score`), or None when it recorded none."""
    import pandas as pd

    with catalog.scratch_dir("artifacts") as folder:
        local = _download(run_id, HOLDOUT_PREDICTIONS_ARTIFACT, folder)
        return None if local is None else pd.read_parquet(local)


def log_card(model_name: str, version: str, run_id: str, folder: str, html_name: str, local_html: str) -> str:
    """Log a card folder on the version's run (under model_card/) and link it from the version's tags.

    Re-logging replaces the files of the same name; returns the card's artifact URI.
    """
    mlflow_client = client()
    mlflow_client.log_artifacts(run_id, folder, CARD_ARTIFACT_PATH)
    uri = f"runs:/{run_id}/{CARD_ARTIFACT_PATH}/{html_name}"
    mlflow_client.set_model_version_tag(model_name, str(version), Tag.CARD, uri)
    mlflow_client.set_model_version_tag(model_name, str(version), Tag.CARD_PATH, short_tag(local_html))
    return uri
