"""The training workflow's steps, one function per DAG task.

Steps hand each other references (paths, hashes, run ids, versions), never frames, as the records of
`training_records`: each step takes and returns their XCom dicts and works on the records between.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import label_summary, target_vector
from modelops.collect.sources import BatchRef, load_batch
from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog, environment
from modelops.core.jsonsafe import json_safe
from modelops.core.rules import describe
from modelops.core.tags import Tag, holdout_tag
from modelops.evaluate.evaluation import (
    base_rate,
    decide_promotion,
    fit_rule_baseline,
    numeric_check,
    slice_metrics,
)
from modelops.evaluate.fairness import assess_fairness, compare_to_champion
from modelops.pipelines.judging import (
    best_candidate_scores,
    champion_comparison,
    electorate_view,
    feature_value_check,
    ranked_candidates,
    weighted_view,
)
from modelops.pipelines.training_records import (
    CandidateResult,
    EvaluationReport,
    Outcome,
    RankedCandidate,
    Registration,
    TrainingPlan,
)
from modelops.stats.drift import build_profile
from modelops.stats.metrics import compute_metrics, metrics_or_nan
from modelops.stats.multivariate import reference_sample
from modelops.store import artifacts, registry, runs
from modelops.train.lineage import SPLIT_SCHEME, git_commit, split_key, training_hash, weighting
from modelops.train.spec_review import SpecReview, require_reviewed_specs
from modelops.train.splits import key_columns, row_keys, split_indices, unlabelled_holdout_side
from modelops.train.training import fit_weights
from modelops.validate.validation import ValidationReport


def training_options(settings: Settings, candidates: list[str] | None, max_fit_rows: int | None) -> dict[str, Any]:
    """The training section with run-time overrides applied (and checked)."""
    training = settings.training.model_dump(mode="json")
    if candidates:
        unknown = sorted(set(candidates) - set(settings.search_spaces))
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; configured: {sorted(settings.search_spaces)}")
        training["candidates"] = list(candidates)
    if max_fit_rows:
        training["max_fit_rows"] = int(max_fit_rows)
        search = training["search"]
        search["max_rows"] = min(int(search["max_rows"]), int(max_fit_rows))
        search["min_rows"] = min(int(search["min_rows"]), int(search["max_rows"]))
    return training


def _write_splits(frame: pd.DataFrame, spec: DatasetSpec, training: dict[str, Any], paths: dict[str, str]) -> None:
    """The split files, the trained rows' keys and the holdout side's unlabelled rows of one batch."""
    folder = Path(paths["train"]).parent
    parts = split_indices(frame, spec, training)
    for name, path in paths.items():
        catalog.write_parquet(frame.iloc[parts[name]], path)
    # The rows this version learns from, by stable key: later challengers are compared to it
    # only on rows neither model saw.
    keys = row_keys(frame, spec)[np.concatenate([parts["train"], parts["calibration"]])]
    catalog.write_parquet(pd.DataFrame({"key": np.unique(keys)}), folder / artifacts.TRAINED_ROWS_ARTIFACT)
    # Rows without an outcome on the holdout side: never evaluated, but production scores rows
    # like them, so they belong in the drift reference.
    unlabelled = frame.iloc[unlabelled_holdout_side(frame, spec, training)]
    catalog.write_parquet(unlabelled, folder / catalog.HOLDOUT_UNLABELLED)


def _lineage(
    ref: BatchRef,
    validation: ValidationReport,
    frame: pd.DataFrame,
    spec: DatasetSpec,
    settings: Settings,
    training: dict[str, Any],
    airflow_ids: dict[str, str],
    labels: dict[str, Any],
    key: str,
) -> dict[str, str]:
    """The run's lineage tags: every candidate run and the registered version carry them."""
    return {
        Tag.DATASET: spec.name,
        Tag.DATA_HASH: ref.content_hash,
        Tag.BATCH_PATH: ref.path,
        Tag.VALIDATION_ID: validation.validation_id,
        Tag.VALIDATION_REPORT: validation.report_dir,
        Tag.CONFIG_HASH: settings.digest_for(spec.name),
        Tag.GIT_COMMIT: git_commit(),
        Tag.PRIMARY_METRIC: settings.evaluation.primary_metric,
        Tag.AIRFLOW_DAG_ID: airflow_ids["dag_id"],
        Tag.AIRFLOW_RUN_ID: airflow_ids["run_id"],
        Tag.TRIGGER_REASON: (airflow_ids.get("reason") or "manual")[:4000],
        Tag.EXTRA_BATCHES: str(len(ref.source.get("extra_batches") or [])),
        Tag.ROWS_LABELLED: str(labels["labelled"]),
        Tag.ROWS_UNLABELLED: str(labels["unlabelled"]),
        Tag.ROW_FILTER: describe(spec.row_filter)[:4000],
        Tag.SPLIT_SCHEME: SPLIT_SCHEME,
        Tag.SPLIT_KEY: key,  # where the splits are (a model card finds, or rebuilds, its holdout)
        # what a row's key is made of: a later comparison must key the holdout the same way
        Tag.ROW_KEY_COLUMNS: json.dumps(key_columns(spec, frame))[:5000],
        # run-time overrides (candidates, max_fit_rows) shape the model as much as the file does
        Tag.TRAINING_HASH: training_hash(training),
        Tag.WEIGHTS: weighting(spec),
        # the libraries that shape the predictions: scoring, monitoring and reproduction compare theirs with it
        Tag.ENVIRONMENT: environment.to_tag(environment.versions()),
    }


def prepare_training(
    batch: dict[str, Any],
    validation: dict[str, Any],
    spec: DatasetSpec,
    settings: Settings,
    training: dict[str, Any],
    airflow_ids: dict[str, str],
    spec_review: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the deterministic splits of a validated batch (labelled rows only) and open the umbrella run.

    `spec_review` is what the run's first step found (`train.spec_review`); without it the specs are
    reviewed now (refused under the production profile), and the run and its version carry the review.
    """
    review = SpecReview.from_xcom(spec_review) if spec_review is not None else require_reviewed_specs()
    ref = BatchRef.from_xcom(batch)
    frame = load_batch(ref)
    labels = label_summary(frame, spec)
    key = split_key(ref, spec, training)
    folder = catalog.split_dir(spec.name, key)
    paths = {name: str(catalog.split_file(spec.name, key, name)) for name in catalog.SPLIT_PARTS}
    trained_rows = folder / artifacts.TRAINED_ROWS_ARTIFACT
    unlabelled_side = folder / catalog.HOLDOUT_UNLABELLED
    if not all(Path(p).exists() for p in [*paths.values(), trained_rows, unlabelled_side]):
        _write_splits(frame, spec, training, paths)
    checked = ValidationReport.from_xcom(validation)
    lineage = _lineage(ref, checked, frame, spec, settings, training, airflow_ids, labels, key)
    lineage.update(review.lineage_tags())
    parent = runs.start_parent_run(spec, lineage)
    artifacts.log_resolved_config(parent, settings.resolved(spec.name))
    artifacts.log_training_options(parent, training)  # with the run's overrides: what a rebuild trains with
    artifacts.log_artifact(parent, str(trained_rows))
    sizes = {name: int(pd.read_parquet(p, columns=[spec.target]).shape[0]) for name, p in paths.items()}
    plan = TrainingPlan(
        dataset=spec.name,
        splits=paths,
        holdout_unlabelled=str(unlabelled_side),
        split_rows=sizes,
        labels=labels,
        parent_run_id=parent,
        lineage=lineage,
        training=training,
        candidates=tuple(training["candidates"]),
    )
    return plan.to_xcom()


def run_candidate(plan: dict[str, Any], candidate: str, spec: DatasetSpec, settings: Settings) -> dict[str, Any]:
    """Train, calibrate and log one candidate; returns its run, model URI and scores."""
    from modelops.train.training import train_candidate

    steps = TrainingPlan.from_xcom(plan)
    done = runs.find_candidate(spec, steps.lineage, candidate)
    if done is not None:  # a retry after the run was logged: same result, no retraining
        return CandidateResult.from_xcom(done).to_xcom()
    train = pd.read_parquet(steps.splits["train"])
    calibration = pd.read_parquet(steps.splits["calibration"])
    holdout = pd.read_parquet(steps.splits["holdout"])
    primary = settings.evaluation.primary_metric
    threshold = settings.decision_threshold(spec.name)
    trained = train_candidate(
        candidate,
        spec,
        train,
        calibration,
        steps.training,
        settings.search_spaces[candidate],
        primary,
        threshold=threshold,
    )
    proba = trained.pipeline.predict_proba(holdout[spec.features])[:, 1]
    holdout_metrics = metrics_or_nan(target_vector(holdout, spec), proba, threshold)  # NaN scores: refused later
    example = train[spec.features].head(5)
    logged = runs.log_candidate(trained, spec, steps.parent_run_id, holdout_metrics, example, steps.lineage)
    return CandidateResult.from_xcom(logged).to_xcom()


def _log_reference(
    plan: TrainingPlan,
    best: CandidateResult,
    spec: DatasetSpec,
    settings: Settings,
    model: Any,
    holdout: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    metrics: dict[str, float],
    slices: dict[str, Any],
) -> None:
    """Log on the best run what monitoring and a rebuild compare against: profile, holdout scores, sample."""
    threshold = settings.decision_threshold(spec.name)
    # What monitoring compares production against: the inputs and scores of every holdout-side
    # row (unlabelled ones too: production scores them all); calibration from the labelled ones.
    reference, scores, y_all = holdout, proba, y
    side = plan.holdout_unlabelled
    unlabelled = pd.read_parquet(side) if side and Path(side).exists() else holdout.iloc[:0]
    if len(unlabelled):
        reference = pd.concat([holdout, unlabelled], ignore_index=True)
        scores = np.concatenate([proba, model.predict_proba(unlabelled[spec.features])[:, 1]])
        y_all = np.concatenate([y, np.full(len(unlabelled), -1)])  # no outcome: masked out of calibration
    profile = build_profile(
        reference,
        list(spec.numeric),
        list(spec.categorical),
        scores,
        metrics,
        y=y_all,
        quantiles=int(settings.monitoring.calibration_quantiles),
        slices=json_safe(slices),
        labelled=np.arange(len(reference)) < len(holdout),
        threshold=threshold,
    )
    profile["unlabelled_rows"] = len(unlabelled)
    artifacts.log_profile(best.run_id, profile)
    # The registered model's own holdout scores by row key: a rebuild of this version must match them.
    artifacts.log_holdout_predictions(best.run_id, row_keys(holdout, spec), proba)
    # A bounded sample of the same reference rows (features only: no id, no PII) for the multivariate
    # drift test, which needs rows, not a summary.
    options = settings.monitoring.domain_classifier
    sample = reference_sample(reference, spec.features, int(options.reference_rows), int(settings.training.seed))
    folder = Path(plan.splits["holdout"]).parent
    artifacts.log_reference_sample(
        best.run_id, str(catalog.write_parquet(sample, folder / artifacts.REFERENCE_SAMPLE_ARTIFACT))
    )


def evaluate_candidates(
    plan: dict[str, Any], results: list[dict[str, Any]], spec: DatasetSpec, settings: Settings
) -> dict[str, Any]:
    """Pick the best candidate, score it against baselines and the champion, and decide."""
    steps = TrainingPlan.from_xcom(plan)
    primary = settings.evaluation.primary_metric
    ranked = ranked_candidates(results, primary)
    best = ranked[0]
    train = pd.read_parquet(steps.splits["train"])
    holdout = pd.read_parquet(steps.splits["holdout"])
    y_train, y = target_vector(train, spec), target_vector(holdout, spec)
    model = artifacts.load_model(best.model_uri)
    scores = best_candidate_scores(model, best, steps, spec, holdout)
    proba = scores["holdout"]
    threshold = settings.decision_threshold(spec.name)
    metrics = compute_metrics(y, proba, threshold)
    fitted_with = fit_weights(spec, train)  # the survey weights when the spec trains with them
    rule = fit_rule_baseline(train, y_train, spec.baseline_rule, fitted_with)
    majority = np.full(len(y), base_rate(y_train, fitted_with))
    baseline_scores = {"majority": majority, "rule": rule.predict_proba(holdout)}
    baselines = {name: compute_metrics(y, scores, threshold) for name, scores in baseline_scores.items()}
    weighted = weighted_view(spec, settings, holdout, y, proba, baseline_scores)
    slices = slice_metrics(holdout, y, proba, spec, primary, threshold)
    _log_reference(steps, best, spec, settings, model, holdout, y, proba, metrics, slices)
    gate_weights = fit_weights(spec, holdout)
    champion = champion_comparison(spec, settings, holdout, y, proba, gate_weights)
    fairness = assess_fairness(holdout, y, proba, spec, settings.fairness_for(spec.name), threshold)
    if champion and champion.get("fairness"):
        fairness = compare_to_champion(fairness, champion["fairness"], champion["version"])
    # with survey weights the gate judges the weighted metrics (the unweighted ones are reported beside)
    judged = (weighted["metrics"], weighted["baselines"]) if weighted and weighted["gated"] else (metrics, baselines)
    feature_value = feature_value_check(
        steps, spec, settings, model, {"train": (train, y_train), "holdout": (holdout, y)}
    )
    numeric = numeric_check(scores, judged[0], {primary, *settings.evaluation.floors})
    verdict = decide_promotion(*judged, champion, settings.evaluation, fairness, feature_value, numeric)
    if weighted and weighted["gated"]:
        verdict.checks.append(
            {
                "check": "weights",
                "passed": True,
                "detail": f"the gate judged metrics weighted by {weighted['source']}: {primary} "
                f"{weighted['metrics'][primary]:.4f} weighted, {metrics[primary]:.4f} unweighted",
            }
        )
    report = EvaluationReport(
        dataset=spec.name,
        primary_metric=primary,
        best=best,
        ranking=tuple(RankedCandidate(r.candidate, r.selection_score, r.run_id, r.holdout) for r in ranked),
        holdout_rows=len(y),
        threshold=threshold,
        labels=steps.labels,
        limitations=tuple(spec.limitations),
        metrics=metrics,
        baselines=baselines,
        rule_baseline={
            "rule": spec.baseline_rule,
            "rate_if_true": rule.rate_if_true,
            "rate_if_false": rule.rate_if_false,
        },
        slices=slices,
        champion=champion,
        fairness=fairness,
        verdict=verdict.to_dict(),
        weighted_metrics=weighted,
        electorate_metrics=electorate_view(spec, settings, y, proba, baseline_scores),
        feature_value=feature_value,
    )
    out = report.to_xcom()  # a one-class slice has no AUC: NaN becomes null, not an XCom error
    runs.log_evaluation(steps.parent_run_id, out)
    return out


def register_best(plan: dict[str, Any], report: dict[str, Any], spec: DatasetSpec) -> dict[str, Any]:
    """Register the winning candidate with its lineage and verdict as version tags."""
    steps, evaluated = TrainingPlan.from_xcom(plan), EvaluationReport.from_xcom(report)
    champion, best, primary = evaluated.champion, evaluated.best, evaluated.primary_metric
    tags = {
        **steps.lineage,
        Tag.CANDIDATE: best.candidate,
        Tag.PARENT_RUN_ID: steps.parent_run_id,
        Tag.VERDICT: "promote" if evaluated.promote else "keep_champion",
        Tag.COMPARED_TO: f"v{champion['version']}" if champion else "none",
        holdout_tag(primary): f"{evaluated.metrics[primary]:.4f}",
    }
    if evaluated.feature_value and "skipped" not in evaluated.feature_value:
        tags[Tag.USELESS_FEATURES] = runs.useless_tag(evaluated.feature_value)
    description = "\n".join([f"{best.candidate} trained on batch {steps.data_hash[:16]}", *evaluated.reasons])
    same = registry.find_identical_version(spec.model_name, steps.identity)
    if same is not None and same["run_id"] != best.run_id:
        why = (
            f"not registered again: v{same['version']} was trained on the same data "
            f"({steps.data_hash[:16]}) with the same configuration and training options"
        )
        duplicate = Registration(spec.model_name, same["version"], same["version"], False, (why,), steps.parent_run_id)
        return duplicate.to_xcom()
    # The rule baseline's rates go with the version: batch scoring falls back to them row by row.
    artifacts.log_baseline(best.run_id, evaluated.rule_baseline)
    version = registry.register_version(spec.model_name, best.model_uri, best.run_id, tags, description)
    registered = Registration(
        spec.model_name, version, None, evaluated.promote, tuple(evaluated.reasons), steps.parent_run_id
    )
    return registered.to_xcom()


def apply_alias(
    registration: dict[str, Any],
    alias: str,
    actor: str,
    run_id: str,
    approver: str | None = None,
    approved_at: Any = None,
    comment: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Set `alias` on the registered version and return what happened (nothing for a duplicate).

    `approver`/`approved_at`/`comment`: the human approval asked before a promotion, when the
    configuration requires one (promotion.require_approval). A move of `champion` passes through the
    canary (`_through_canary`): in the production profile the version becomes the `canary` instead.
    """
    # an outcome is a registration with its alias: moving another alias onto it reads the registration's keys
    registered = Registration.from_xcom(registration, ignore_unknown=True)
    if registered.duplicate_of:
        return Outcome.of(registered).to_xcom()
    reason = "; ".join(registered.reasons)
    if comment:
        reason += f"; approver: {comment}"
    if alias == registry.CHAMPION:
        alias, reason = _through_canary(registered, reason, settings)
    if alias == registry.CANARY:
        from modelops.govern import canary

        changed = canary.start(
            registered.model_name, registered.version, actor, reason, run_id, approver=approver, approved_at=approved_at
        )
        return Outcome.of(registered, alias=alias, alias_changed=changed, approver=approver).to_xcom()
    changed = registry.set_alias(
        registered.model_name,
        alias,
        registered.version,
        actor,
        reason,
        run_id,
        approver=approver,
        approved_at=approved_at,
        action="training" if approver is None else "training (approved)",
    )
    return Outcome.of(registered, alias=alias, alias_changed=changed, approver=approver).to_xcom()


def _through_canary(registered: Registration, reason: str, settings: Settings | None) -> tuple[str, str]:
    """(the alias a promotion of the training DAG sets, its reason): `canary` in the production profile when a
    champion serves; `champion` with why there is no canary otherwise; `challenger` while another canary runs."""
    from modelops.govern import canary

    current = registry.version_by_alias(registered.model_name, registry.CHAMPION)
    now = str(current.version) if current is not None else None
    if now == str(registered.version):
        return registry.CHAMPION, reason  # already serving: nothing moves, nothing to try
    if settings is None:
        from modelops.config.settings import load_settings

        settings = load_settings()
    limits = settings.promotion.canary
    try:
        stage = canary.plan_stage(registered.model_name, "promote", registered.version, now, limits)
    except canary.CanaryError as exc:
        return registry.CHALLENGER, f"{reason}; not the canary: {exc}"
    if stage is None:  # already the canary: judged by the promotion DAG, never here
        return registry.CANARY, reason
    line = canary.stage_lines(stage)[0]
    return (registry.CANARY if stage["stage"] == canary.START else registry.CHAMPION), f"{reason}; {line}"


def refused_outcome(registration: dict[str, Any], approver: str | None) -> dict[str, Any]:
    """What a training run reports when its promotion was refused (or not answered): nothing moved."""
    return Outcome.of(Registration.from_xcom(registration), approver=approver, refused=True).to_xcom()
