"""The only module that talks to MLflow: tracking runs, logged models, versions and aliases.

Aliases (`champion`, `challenger`) are the promotion mechanism; stages are never used. Every alias
change is written to the audit table in the same transaction that allows it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.handoffs import CHAMPION_MOVERS, PROMOTION_DAG_ID
from modelops.core.served import ServedBy, served_by
from modelops.core.tags import Tag, alias_tag
from modelops.store import history

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps task logs readable

CHAMPION = "champion"
CHALLENGER = "challenger"
_RUNTIME_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "pyarrow")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store in the workspace (tracking + registry)."""
    default = catalog.mlflow_dir() / "mlflow.db"
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default}"


def artifact_root() -> str:
    """Where new experiments keep artifacts (MODELOPS_ARTIFACT_ROOT overrides)."""
    return os.environ.get("MODELOPS_ARTIFACT_ROOT") or (catalog.mlflow_dir() / "artifacts").as_uri()


def _mlflow():
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def client():
    """An MlflowClient on the configured store."""
    return _mlflow().MlflowClient()


def experiment_id(name: str) -> str:
    """Id of experiment `name`, created with our artifact root if missing."""
    mlflow = _mlflow()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(name, artifact_location=f"{artifact_root()}/{name}")


def training_experiment(spec: DatasetSpec) -> str:
    """Experiment that holds a dataset's training runs."""
    return experiment_id(f"modelops/{spec.name}/training")


def _find_run(experiment: str, tags: dict[str, str]) -> Any | None:
    """A finished run carrying all `tags`, if one exists (makes task reruns idempotent)."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client().search_runs(
        [experiment], filter_string=f"{query} and attributes.status = 'FINISHED'", max_results=1
    )
    return runs[0] if runs else None


def start_parent_run(spec: DatasetSpec, lineage: dict[str, str]) -> str:
    """The DAG run's umbrella MLflow run (reused on rerun), tagged with lineage."""
    mlflow = _mlflow()
    experiment = training_experiment(spec)
    key = {Tag.ROLE: "training", Tag.AIRFLOW_RUN_ID: lineage[Tag.AIRFLOW_RUN_ID]}
    existing = _find_run(experiment, key)
    if existing is not None:
        return existing.info.run_id
    with mlflow.start_run(experiment_id=experiment, run_name=f"train {spec.name}", tags={**lineage, **key}) as run:
        mlflow.log_params({"dataset": spec.name, "target": spec.target, "features": ",".join(spec.features)})
    return run.info.run_id


_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


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
    existing = _find_run(training_experiment(spec), key)
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
    mlflow = _mlflow()
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
            }
        )
        mlflow.log_metrics({f"calibration_{k}": v for k, v in trained.calibration_metrics.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in holdout_metrics.items()})
        mlflow.log_metric("search_best_score", trained.search.best_score)
        mlflow.log_metric("fit_seconds", trained.fit_seconds)
        mlflow.log_dict({"trace": trained.search.trace}, "search_trace.json")
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


def log_evaluation(parent_run_id: str, report: dict[str, Any]) -> None:
    """Attach the evaluation report to the umbrella run and log its headline numbers."""
    mlflow = _mlflow()
    with mlflow.start_run(run_id=parent_run_id):
        mlflow.log_dict(report, EVALUATION_ARTIFACT)
        mlflow.log_metrics({f"best_holdout_{k}": v for k, v in report["metrics"].items()})
        for name, metrics in report["baselines"].items():
            mlflow.log_metrics({f"baseline_{name}_{k}": v for k, v in metrics.items()})
        mlflow.set_tag(Tag.VERDICT, "promote" if report["verdict"]["promote"] else "keep_champion")


def load_model(model_uri: str) -> Any:
    """The sklearn pipeline behind a model URI (models:/name@alias, models:/name/3, runs:/...).

    MLflow refuses to deserialize any model unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is true. The
    only models loaded here are ones this pipeline saved (skops format, type list vetted at save
    time by `skops_trusted_types`) into its own store, so the flag is set for this process.
    """
    import logging
    import warnings

    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    mlflow = _mlflow()
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


def version_by_alias(model_name: str, alias: str) -> Any | None:
    """The ModelVersion holding `alias`, or None (no model, or alias unset)."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def register_version(model_name: str, model_uri: str, run_id: str, tags: dict[str, str], description: str) -> str:
    """Register `model_uri` as a new version (or return the version already made from this run)."""
    mlflow = _mlflow()
    mlflow_client = client()
    try:
        mlflow_client.create_registered_model(
            model_name, description="Managed by modelops: promotion by aliases, audit in alias_history."
        )
    except mlflow.exceptions.MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    for existing in mlflow_client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'"):
        return str(existing.version)
    # A logged model's URI (models:/m-...) names its model id; an MLflow *server* refuses that source
    # unless the id comes with it (a local store let it pass).
    logged = model_uri.removeprefix("models:/")
    model_id = logged if logged.startswith("m-") and "/" not in logged else None
    version = mlflow_client.create_model_version(
        model_name,
        source=model_uri,
        run_id=run_id,
        tags={k: str(v) for k, v in tags.items()},
        description=description,
        model_id=model_id,
    )
    return str(version.version)  # MLflow 3 hands back ints; aliases and tags speak strings


def dag_actor(dag_id: str, who: str | None = None) -> str:
    """The actor string of an alias change: the DAG id first (what the champion guard reads), then who."""
    return f"{dag_id} ({who})" if who else dag_id


def actor_dag_id(actor: str) -> str:
    """The DAG id an actor string starts with (see `dag_actor`)."""
    return actor.split(" ", 1)[0]


class AliasGuardError(PermissionError):
    """An actor other than the training or promotion DAG tried to move `champion`."""


def check_champion_actor(actor: str) -> None:
    """Refuse to move `champion` unless the actor is one of handoffs.CHAMPION_MOVERS."""
    if actor_dag_id(actor) not in CHAMPION_MOVERS:
        raise AliasGuardError(
            f"only the DAGs {list(CHAMPION_MOVERS)} may move the {CHAMPION!r} alias; actor {actor!r} may not "
            f"(use the {PROMOTION_DAG_ID} DAG to promote, roll back or retire a version)"
        )


def _tag(value: str) -> str:
    return value if len(value) <= 5000 else value[:4997] + "..."


def set_alias(
    model_name: str,
    alias: str,
    version: str,
    actor: str,
    reason: str,
    run_id: str | None,
    *,
    approver: str | None = None,
    approved_at: datetime | None = None,
    action: str | None = None,
) -> bool:
    """Point `alias` at `version` and append the change to the audit table; False if already so.

    Moving `champion` needs an actor naming one of the two DAGs allowed to (`check_champion_actor`).
    Who approved, when and why go to the audit row and to the version's `<alias>_*` tags.
    """
    if alias == CHAMPION:
        check_champion_actor(actor)
    mlflow_client = client()
    current = version_by_alias(model_name, alias)
    previous = str(current.version) if current is not None else None
    if previous == str(version):
        return False
    with history.get_engine().begin() as connection:  # the audit row commits only if MLflow accepted
        history.alias_change(
            connection,
            model_name,
            alias,
            str(version),
            previous,
            actor,
            reason,
            run_id,
            approver=approver,
            approved_at=approved_at,
            action=action,
        )
        mlflow_client.set_registered_model_alias(model_name, alias, str(version))
    now = _now()
    tags = {
        alias_tag(alias, "since"): now,
        alias_tag(alias, "by"): _tag(actor),
        alias_tag(alias, "reason"): _tag(reason or ""),
    }
    if approver is not None:
        tags[alias_tag(alias, "approved_by")] = approver
        tags[alias_tag(alias, "approved_at")] = (approved_at or datetime.now(UTC)).isoformat(timespec="seconds")
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, value)
    if alias == CHAMPION:
        if previous is not None:
            mlflow_client.set_model_version_tag(model_name, previous, alias_tag(CHAMPION, "until"), now)
        challenger = version_by_alias(model_name, CHALLENGER)
        if challenger is not None and str(challenger.version) == str(version):
            mlflow_client.delete_registered_model_alias(model_name, CHALLENGER)
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def alias_history(model_name: str, alias: str = CHAMPION) -> list[dict[str, Any]]:
    """Every change of one alias of a model, oldest first (version, previous_version, changed_at UTC, ...)."""
    return history.read_alias_history(model_name, alias=alias)


def served_on(model_name: str, when: datetime, alias: str = CHAMPION) -> str | None:
    """The version that held `alias` at instant `when` (timezone-aware), from the alias history.

    One answer per instant: a change takes effect at its recorded `changed_at`, so at the exact
    instant of a change the new version serves. None before the alias was first set.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"served_on needs a timezone-aware instant, got naive {when.isoformat()}")
    serving = None
    for row in alias_history(model_name, alias):
        if row["changed_at"] > when:
            break
        serving = row["version"]
    return serving


@dataclass(frozen=True)
class AliasDrift:
    """MLflow's alias and the alias history disagree: the alias moved outside the training and promotion DAGs.

    MLflow records neither who moved an alias nor when, so the move is known only to have happened after
    the last recorded change (`recorded_at`, by `recorded_by`).
    """

    model_name: str
    alias: str
    registry_version: str | None  # what MLflow's alias names now (None: the alias was removed)
    recorded_version: str | None  # what the alias history says (None: no change was ever recorded)
    recorded_at: datetime | None
    recorded_by: str | None

    def line(self) -> str:
        """One sentence for alerts, logs and pages (names and versions only)."""
        now = f"v{self.registry_version}" if self.registry_version is not None else "no version"
        if self.recorded_version is None:
            record = "the alias history records no change of it"
        else:
            when = self.recorded_at.isoformat(timespec="seconds") if self.recorded_at else "an unknown time"
            record = f"the alias history says v{self.recorded_version} (moved {when} by {self.recorded_by})"
        return (
            f"{self.model_name}@{self.alias} moved outside the training/promotion DAGs: MLflow names {now} but "
            f"{record}; MLflow does not record who moved it or when (after the last recorded change). "
            "Move it back through the promotion DAG"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the time in ISO format)."""
        return {
            "model_name": self.model_name,
            "alias": self.alias,
            "registry_version": self.registry_version,
            "recorded_version": self.recorded_version,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "recorded_by": self.recorded_by,
            "line": self.line(),
        }


def compare_alias(
    model_name: str, registry_version: str | None, history_rows: list[dict[str, Any]], alias: str = CHAMPION
) -> AliasDrift | None:
    """Pure: the drift between MLflow's alias (`registry_version`) and the alias history rows, or None if they agree.

    `history_rows` are `alias_history(model_name, alias)` rows, oldest first; the last one is what the
    product set. Both empty (no alias, no record) agree.
    """
    rows = [r for r in history_rows if r.get("alias", alias) == alias]
    last = rows[-1] if rows else None
    recorded = None if last is None else str(last["version"])
    current = None if registry_version is None else str(registry_version)
    if current == recorded:
        return None
    return AliasDrift(
        model_name=model_name,
        alias=alias,
        registry_version=current,
        recorded_version=recorded,
        recorded_at=None if last is None else last["changed_at"],
        recorded_by=None if last is None else last["actor"],
    )


def alias_drift(model_name: str, alias: str = CHAMPION) -> AliasDrift | None:
    """Whether `alias` of `model_name` moved outside the product: MLflow's alias against the alias history.

    A change made through `set_alias` writes the history row in the transaction that moves the alias,
    so the two agree except for that instant; anything else (a direct MLflow call, the MLflow UI, a
    REST request) shows here.
    """
    from mlflow.exceptions import MlflowException

    # the registered model's alias map: a missing model is an answer (404), a refused login or permission is not
    # (MLflow's auth app answers a by-alias lookup on a missing model with 403, hence not that call)
    try:
        aliases = client().get_registered_model(model_name).aliases or {}
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        aliases = {}
    current = aliases.get(alias)
    return compare_alias(model_name, None if current is None else str(current), alias_history(model_name, alias), alias)


def describe_serving(
    model_name: str,
    when: datetime | None = None,
    alias: str = CHAMPION,
    served: ServedBy | dict[str, Any] | None = None,
) -> str:
    """One line for run summaries: which version `alias` pointed to at `when` (default: now), and who scored.

    The alias history says which version the alias named, not who scored a snapshot's rows (the
    rule-based fallback may have served them all). Next to a snapshot, pass its manifest (or its
    `served_by`) as `served`: the line then adds the rows the version, the canary and the fallback
    served (`ServedBy.line`).
    """
    when = when or datetime.now(UTC)
    version = served_on(model_name, when, alias)
    shown = f"v{version}" if version is not None else "no version"
    line = f"{model_name}@{alias} pointed to {shown} at {when.isoformat(timespec='seconds')}"
    if served is None:
        return line
    truth = served if isinstance(served, ServedBy) else served_by(served)
    return f"{line}; {truth.line()}"


def model_version(model_name: str, version: str) -> Any | None:
    """A registered ModelVersion (with its tags), or None when it does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version(model_name, str(version))
    except MlflowException:
        return None


def retire_version(model_name: str, version: str, actor: str, reason: str, **approval: Any) -> list[str]:
    """Tag `version` retired and remove its aliases (never `champion`); returns the aliases removed."""
    found = model_version(model_name, version)
    if found is None:
        raise ValueError(f"{model_name} has no version {version!r}")
    aliases = [str(a) for a in (found.aliases or [])]
    if CHAMPION in aliases:
        raise ValueError(f"{model_name} v{version} is the serving champion: promote or roll back to another first")
    mlflow_client = client()
    tags = {Tag.RETIRED: "true", Tag.RETIRED_AT: _now(), Tag.RETIRED_BY: _tag(actor), Tag.RETIRED_REASON: _tag(reason)}
    if approval.get("approver") is not None:
        tags[Tag.RETIRED_APPROVED_BY] = approval["approver"]
        tags[Tag.RETIRED_APPROVED_AT] = (approval.get("approved_at") or datetime.now(UTC)).isoformat(timespec="seconds")
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, value)
    for alias in aliases:
        mlflow_client.delete_registered_model_alias(model_name, alias)
    return aliases


RESOLVED_CONFIG_ARTIFACT = "resolved_config.json"
TRAINED_ROWS_ARTIFACT = "trained_row_keys.parquet"


def log_artifact(run_id: str, path: str) -> None:
    """Attach a local file to a run."""
    client().log_artifact(run_id, path)


def load_trained_keys(run_id: str) -> Any | None:
    """The row keys a training run learned from (uint64 array), or None when not on record."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    _mlflow()
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{TRAINED_ROWS_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(local)["key"].to_numpy()


REFERENCE_SAMPLE_ARTIFACT = "reference_sample.parquet"


def log_reference_sample(run_id: str, path: str) -> None:
    """Store a version's bounded reference sample (feature columns only) on its run: the multivariate drift test."""
    client().log_artifact(run_id, path)


def load_reference_sample(run_id: str) -> Any | None:
    """The reference sample stored with a run (a DataFrame), or None when the run holds none."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    _mlflow()
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{REFERENCE_SAMPLE_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(local)


def find_identical_version(model_name: str, identity: dict[str, str]) -> dict[str, str] | None:
    """A registered version whose tags equal `identity` (data hash, config digest, training options), if any."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client().search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None
    for found in sorted(versions, key=lambda v: int(v.version)):
        tags = found.tags or {}
        if all(tags.get(k) == v for k, v in identity.items()):
            return {"version": str(found.version), "run_id": found.run_id}
    return None


def log_resolved_config(run_id: str, resolved: dict[str, Any]) -> None:
    """Store the whole configuration a run used (spec with its filter and labels, every section)."""
    client().log_dict(run_id, resolved, RESOLVED_CONFIG_ARTIFACT)


PROFILE_ARTIFACT = "reference_profile.json"


def log_profile(run_id: str, profile: dict[str, Any]) -> None:
    """Store a model's reference profile on its training run (monitoring never reloads training data)."""
    client().log_dict(run_id, profile, PROFILE_ARTIFACT)


def load_profile(run_id: str) -> dict[str, Any]:
    """The reference profile stored with a run."""
    _mlflow()
    import mlflow.artifacts

    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}")


BASELINE_ARTIFACT = "baseline.json"


class MissingArtifactError(LookupError):
    """A registered version lacks an artifact a task needs."""


def log_baseline(run_id: str, baseline: dict[str, Any]) -> None:
    """Store the rule-based baseline's rule and two rates on a model's run (the scoring fallback)."""
    client().log_dict(run_id, baseline, BASELINE_ARTIFACT)


def load_baseline(model_name: str, version: str, run_id: str) -> dict[str, Any]:
    """The baseline stored with a version's run: {rule, rate_if_true, rate_if_false}, or a clear error."""
    from mlflow.exceptions import MlflowException

    _mlflow()
    import mlflow.artifacts

    try:
        baseline = mlflow.artifacts.load_dict(f"runs:/{run_id}/{BASELINE_ARTIFACT}")
    except (MlflowException, OSError) as exc:
        raise MissingArtifactError(
            f"{model_name} v{version} (run {run_id}) has no {BASELINE_ARTIFACT} (the rule-based fallback), "
            "so it cannot be served by batch scoring; retrain, or log the "
            f"baseline on its run with registry.log_baseline ({type(exc).__name__})"
        ) from None
    missing = sorted({"rule", "rate_if_true", "rate_if_false"} - set(baseline))
    if missing:
        raise MissingArtifactError(f"{model_name} v{version}: {BASELINE_ARTIFACT} lacks {missing}")
    return baseline


def scoring_experiment_name(dataset: str) -> str:
    """Name of the experiment that holds a dataset's batch-scoring runs."""
    return f"modelops/{dataset}/scoring"


def scoring_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's batch-scoring runs (one per snapshot)."""
    return experiment_id(scoring_experiment_name(dataset))


def log_scoring(
    dataset: str,
    snapshot: str,
    metrics: dict[str, float],
    summary: dict[str, Any],
    html_path: str | None,
    tags: dict[str, str],
) -> str:
    """One MLflow run per scored snapshot and served version: counts as metrics, versions as tags."""
    mlflow = _mlflow()
    experiment = scoring_experiment(dataset)
    key = {Tag.SNAPSHOT: snapshot, Tag.MODEL_VERSION: tags.get(Tag.MODEL_VERSION, "")}
    existing = _find_run(experiment, key)  # a rescore of the snapshot by the same version updates its run
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


def monitoring_experiment_name(dataset: str) -> str:
    """Name of the experiment that holds a dataset's monitoring windows."""
    return f"modelops/{dataset}/monitoring"


def monitoring_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's monitoring windows."""
    return experiment_id(monitoring_experiment_name(dataset))


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
    found = _mlflow().get_experiment_by_name(experiment_name)
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


def log_monitoring(
    dataset: str,
    window_id: str,
    metrics: dict[str, float],
    report: dict[str, Any],
    html_path: str,
    tags: dict[str, str],
) -> str:
    """One MLflow run per monitored window: figures as metrics, report JSON and HTML as artifacts."""
    mlflow = _mlflow()
    with mlflow.start_run(
        experiment_id=monitoring_experiment(dataset),
        run_name=f"window {window_id}",
        tags={Tag.WINDOW_ID: window_id, **tags},
    ) as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(report, "drift_report.json")
        mlflow.log_artifact(html_path)
    return run.info.run_id


# --- model cards -----------------------------------------------------------------------------

EVALUATION_ARTIFACT = "evaluation.json"
CARD_ARTIFACT_PATH = "model_card"


# --- reproduction: what a version needs on record to be rebuilt, and the verdict on it ---------

TRAINING_OPTIONS_ARTIFACT = "training_options.json"
HOLDOUT_PREDICTIONS_ARTIFACT = "holdout_predictions.parquet"
REPRODUCTION_ARTIFACT = "reproduction.json"


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

    _mlflow()
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


def run_record(run_id: str) -> dict[str, dict[str, Any]]:
    """A run's params, metrics and tags as plain dicts."""
    data = client().get_run(run_id).data
    return {"params": dict(data.params), "metrics": dict(data.metrics), "tags": dict(data.tags)}


def set_version_tags(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a registered version (values longer than MLflow allows are shortened)."""
    mlflow_client = client()
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, _tag(str(value)))


def reproduce_experiment(dataset: str) -> str:
    """Experiment that holds a dataset's reproduction runs (one per check)."""
    return experiment_id(f"modelops/{dataset}/reproduce")


def find_reproduction(dataset: str, key: dict[str, str]) -> dict[str, Any] | None:
    """The verdict a finished reproduction run with `key` recorded, if one exists (a retried check reuses it)."""
    existing = _find_run(reproduce_experiment(dataset), key)
    if existing is None:
        return None
    return load_run_dict(existing.info.run_id, REPRODUCTION_ARTIFACT)


def log_reproduction(dataset: str, verdict: dict[str, Any], key: dict[str, str]) -> str:
    """One run per reproduction check (reused for the same `key`): the verdict as JSON, its figures as metrics."""
    import math

    mlflow = _mlflow()
    experiment = reproduce_experiment(dataset)
    existing = _find_run(experiment, key)
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


def log_card(model_name: str, version: str, run_id: str, folder: str, html_name: str, local_html: str) -> str:
    """Log a card folder on the version's run (under model_card/) and link it from the version's tags.

    Re-logging replaces the files of the same name; returns the card's artifact URI.
    """
    mlflow_client = client()
    mlflow_client.log_artifacts(run_id, folder, CARD_ARTIFACT_PATH)
    uri = f"runs:/{run_id}/{CARD_ARTIFACT_PATH}/{html_name}"
    mlflow_client.set_model_version_tag(model_name, str(version), Tag.CARD, uri)
    mlflow_client.set_model_version_tag(model_name, str(version), Tag.CARD_PATH, _tag(local_html))
    return uri
