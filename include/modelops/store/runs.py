"""The MLflow runs the pipelines log: training (the umbrella run and its candidates), scoring, monitoring, reproduction.

Each run is found again by its tags before one is started, so a retried task reuses its run.
"""

from __future__ import annotations

from importlib.metadata import version as installed_version
from typing import Any

from modelops.config.settings import DatasetSpec
from modelops.core.tags import Tag
from modelops.store.artifacts import EVALUATION_ARTIFACT, REPRODUCTION_ARTIFACT, SEARCH_ARTIFACT, load_run_dict
from modelops.store.tracking import (
    connect,
    find_finished_run,
    monitoring_experiment,
    reproduce_experiment,
    scoring_experiment,
    training_experiment,
)

_RUNTIME_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "pyarrow")
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


def start_parent_run(spec: DatasetSpec, lineage: dict[str, str]) -> str:
    """The DAG run's umbrella MLflow run (reused on rerun), tagged with lineage."""
    mlflow = connect()
    experiment = training_experiment(spec)
    key = {Tag.ROLE: "training", Tag.AIRFLOW_RUN_ID: lineage[Tag.AIRFLOW_RUN_ID]}
    existing = find_finished_run(experiment, key)
    if existing is not None:
        return existing.info.run_id
    with mlflow.start_run(experiment_id=experiment, run_name=f"train {spec.name}", tags={**lineage, **key}) as run:
        mlflow.log_params({"dataset": spec.name, "target": spec.target, "features": ",".join(spec.features)})
        mlflow.log_param("weights", lineage.get(Tag.WEIGHTS, "none"))
    return run.info.run_id


def skops_trusted_types(model: Any) -> list[str]:
    """Types skops must be told to trust for `model`: stock sklearn/numpy/scipy only, else an error."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise TypeError(f"model holds types outside sklearn/numpy/scipy, refusing to save it: {foreign}")
    return untrusted


def pip_requirements() -> list[str]:
    """Exact pins of what the logged pipelines need at load time (no slow inference)."""
    return [f"{name}=={installed_version(name)}" for name in _RUNTIME_PACKAGES]


def find_candidate(spec: DatasetSpec, lineage: dict[str, str], candidate: str) -> dict[str, Any] | None:
    """The finished candidate run of this Airflow run, if a previous try already logged it."""
    key = {Tag.ROLE: "candidate", Tag.AIRFLOW_RUN_ID: lineage[Tag.AIRFLOW_RUN_ID], Tag.RUN_CANDIDATE: candidate}
    existing = find_finished_run(training_experiment(spec), key)
    if existing is None:
        return None
    metrics = existing.data.metrics
    return {
        "candidate": candidate,
        "run_id": existing.info.run_id,
        "model_uri": existing.data.tags[Tag.MODEL_URI],
        "selection_score": float(metrics["calibration_selection"]),
        "holdout": {k.removeprefix("holdout_"): v for k, v in metrics.items() if k.startswith("holdout_")},
    }


def log_candidate(
    trained: Any,
    spec: DatasetSpec,
    parent_run_id: str,
    holdout_metrics: dict[str, float],
    example: Any,
    lineage: dict[str, str],
) -> dict[str, Any]:
    """Log one trained candidate as a nested run with params, metrics, signature and model."""
    mlflow = connect()
    from mlflow.models import infer_signature

    existing = find_candidate(spec, lineage, trained.name)
    if existing is not None:
        return existing
    experiment = training_experiment(spec)
    key = {Tag.ROLE: "candidate", Tag.AIRFLOW_RUN_ID: lineage[Tag.AIRFLOW_RUN_ID], Tag.RUN_CANDIDATE: trained.name}
    with mlflow.start_run(
        experiment_id=experiment, run_name=trained.name, parent_run_id=parent_run_id, tags={**lineage, **key}
    ) as run:
        mlflow.log_params({f"param_{k}": v for k, v in trained.params.items()})
        mlflow.log_params(
            {
                "candidate": trained.name,
                "fit_rows": trained.fit_rows,
                "search_rounds": trained.search.rounds_completed,
                "search_configs": trained.search.configs_evaluated,
                "search_stopped_by_budget": trained.search.stopped_by_budget,
                "calibration_method": trained.calibration_choice.get("method"),
            }
        )
        mlflow.log_metrics({f"calibration_{k}": v for k, v in trained.calibration_metrics.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in holdout_metrics.items()})
        mlflow.log_metric("search_best_score", trained.search.best_score)
        mlflow.log_metric("fit_seconds", trained.fit_seconds)
        mlflow.log_metric("tree_levels", trained.tree_levels)
        mlflow.log_dict(trained.search_record(), SEARCH_ARTIFACT)
        selection = trained.calibration_metrics[lineage[Tag.PRIMARY_METRIC]]
        mlflow.log_metric("calibration_selection", selection)
        # Integers are declared as doubles so a missing value at scoring time is not a schema error.
        ints = example.select_dtypes("integer").columns
        example = example.astype(dict.fromkeys(ints, "float64"))
        signature = infer_signature(example, trained.pipeline.predict_proba(example)[:, 1])
        info = mlflow.sklearn.log_model(
            trained.pipeline,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
            serialization_format="skops",
            skops_trusted_types=skops_trusted_types(trained.pipeline),
        )
        mlflow.set_tag(Tag.MODEL_URI, info.model_uri)
    return {
        "candidate": trained.name,
        "run_id": run.info.run_id,
        "model_uri": info.model_uri,
        "selection_score": selection,
        "holdout": holdout_metrics,
    }


def useless_tag(feature_value: dict[str, Any]) -> str:
    """The drop-one check's useless features as a tag value: their names, comma-separated, or `none`."""
    return ",".join(feature_value["useless"]) or "none"


def log_evaluation(parent_run_id: str, report: dict[str, Any]) -> None:
    """Attach the evaluation report to the umbrella run and log its headline numbers."""
    mlflow = connect()
    with mlflow.start_run(run_id=parent_run_id):
        mlflow.log_dict(report, EVALUATION_ARTIFACT)
        mlflow.log_metrics({f"best_holdout_{k}": v for k, v in report["metrics"].items()})
        for name, metrics in report["baselines"].items():
            mlflow.log_metrics({f"baseline_{name}_{k}": v for k, v in metrics.items()})
        weighted = report.get("weighted_metrics") or {}
        mlflow.log_metrics({f"best_holdout_weighted_{k}": v for k, v in (weighted.get("metrics") or {}).items()})
        mlflow.set_tag(Tag.VERDICT, "promote" if report["verdict"]["promote"] else "keep_champion")
        feature_value = report.get("feature_value")
        if feature_value and "skipped" not in feature_value:
            mlflow.log_metric("useless_features", len(feature_value["useless"]))
            mlflow.set_tag(Tag.USELESS_FEATURES, useless_tag(feature_value))


def log_scoring(
    dataset: str,
    snapshot: str,
    metrics: dict[str, float],
    summary: dict[str, Any],
    html_path: str | None,
    tags: dict[str, str],
) -> str:
    """One MLflow run per scored snapshot and served version: counts as metrics, versions as tags."""
    mlflow = connect()
    experiment = scoring_experiment(dataset)
    key = {Tag.SNAPSHOT: snapshot, Tag.MODEL_VERSION: tags.get(Tag.MODEL_VERSION, "")}
    existing = find_finished_run(experiment, key)  # a rescore of the snapshot by the same version updates its run
    with mlflow.start_run(
        run_id=existing.info.run_id if existing is not None else None,
        experiment_id=None if existing is not None else experiment,
        run_name=None if existing is not None else f"score {snapshot}",
        tags={**tags, **key},
    ) as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(summary, "scoring_summary.json")
        if html_path:
            mlflow.log_artifact(html_path)
    return run.info.run_id


def log_monitoring(
    dataset: str,
    window_id: str,
    metrics: dict[str, float],
    report: dict[str, Any],
    html_path: str,
    tags: dict[str, str],
) -> str:
    """One MLflow run per monitored window: figures as metrics, report JSON and HTML as artifacts."""
    mlflow = connect()
    with mlflow.start_run(
        experiment_id=monitoring_experiment(dataset),
        run_name=f"window {window_id}",
        tags={Tag.WINDOW_ID: window_id, **tags},
    ) as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(report, "drift_report.json")
        mlflow.log_artifact(html_path)
    return run.info.run_id


def find_reproduction(dataset: str, key: dict[str, str]) -> dict[str, Any] | None:
    """The verdict a finished reproduction run with `key` recorded, if one exists (a retried check reuses it)."""
    existing = find_finished_run(reproduce_experiment(dataset), key)
    if existing is None:
        return None
    return load_run_dict(existing.info.run_id, REPRODUCTION_ARTIFACT)


def log_reproduction(dataset: str, verdict: dict[str, Any], key: dict[str, str]) -> str:
    """One run per reproduction check (reused for the same `key`): the verdict as JSON, its figures as metrics."""
    import math

    mlflow = connect()
    experiment = reproduce_experiment(dataset)
    existing = find_finished_run(experiment, key)
    metrics = {"reproduced": float(bool(verdict["reproduced"]))}
    diff = (verdict.get("predictions") or {}).get("max_abs_diff")
    if diff is not None and math.isfinite(diff):
        metrics["max_abs_diff"] = float(diff)
    with mlflow.start_run(
        run_id=existing.info.run_id if existing is not None else None,
        experiment_id=None if existing is not None else experiment,
        run_name=None if existing is not None else f"reproduce {verdict['model_name']} v{verdict['version']}",
        tags={**key, Tag.REPRODUCED: str(bool(verdict["reproduced"])).lower()},
    ) as run:
        mlflow.log_metrics(metrics)
        mlflow.log_dict({**verdict, "run_id": run.info.run_id}, REPRODUCTION_ARTIFACT)
    return run.info.run_id
