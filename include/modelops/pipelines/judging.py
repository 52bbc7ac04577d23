"""The chosen candidate judged, for the training workflow's evaluate step: the candidates ranked, the best one's
scores checked for numbers that cannot be judged, its drop-one check, the weighted views of its holdout, and the
paired comparison with the champion on rows neither model trained on.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import target_vector
from modelops.config.settings import DatasetSpec, Settings
from modelops.core.tags import Tag
from modelops.evaluate.evaluation import (
    compare_slices,
    numeric_check,
    paired_bootstrap,
    slice_metrics,
    weighted_figures,
)
from modelops.evaluate.fairness import paired_gaps
from modelops.evaluate.feature_value import drop_one
from modelops.pipelines.training_records import CandidateResult, TrainingPlan
from modelops.stats.metrics import compute_metrics
from modelops.stats.weights import electorate_weights, survey_weights
from modelops.store import artifacts, registry
from modelops.train.lineage import SPLIT_SCHEME
from modelops.train.splits import row_keys


def _unseen_by_champion(champion: Any, spec: DatasetSpec, holdout: pd.DataFrame) -> np.ndarray | str:
    """The holdout rows the champion did not train on (by its recorded row keys), or why that cannot be known."""
    tags = champion.tags or {}
    parent = tags.get(Tag.PARENT_RUN_ID)
    seen = artifacts.load_trained_keys(parent) if parent else None
    if seen is None:
        return (
            f"the rows champion v{champion.version} trained on are not on record (run {parent}), so a fair "
            "comparison cannot be guaranteed"
        )
    columns = json.loads(tags.get(Tag.ROW_KEY_COLUMNS) or "null")
    if tags.get(Tag.SPLIT_SCHEME) != SPLIT_SCHEME or not columns or not set(columns) <= set(holdout.columns):
        return (
            f"champion v{champion.version} keyed its training rows differently (scheme "
            f"{tags.get(Tag.SPLIT_SCHEME)!r}, columns {columns}); this holdout cannot be matched to them, "
            "so a fair comparison cannot be guaranteed"
        )
    # keyed the champion's way, whatever this spec's key is now (e.g. a feature added since)
    return ~np.isin(row_keys(holdout, spec, columns), seen)


def _paired_figures(
    spec: DatasetSpec,
    settings: Settings,
    rows: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    champion_proba: np.ndarray,
    gate_weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Both models on the same rows: metrics, the paired bootstrap (weighted by `gate_weights`, the survey weights
    when the gate judges weighted metrics), slices and fairness gaps."""
    evaluation = settings.evaluation
    primary = evaluation.primary_metric
    threshold = settings.decision_threshold(spec.name)
    bootstrap = paired_bootstrap(
        y,
        proba,
        champion_proba,
        primary,
        int(evaluation.bootstrap_resamples),
        float(evaluation.confidence),
        int(evaluation.bootstrap_max_rows),
        int(settings.training.seed),
        threshold,
        gate_weights,
    )
    challenger_slices = slice_metrics(rows, y, proba, spec, primary, threshold)
    champion_slices = slice_metrics(rows, y, champion_proba, spec, primary, threshold)
    worse = compare_slices(
        challenger_slices,
        champion_slices,
        primary,
        float(evaluation.slice_tolerance),
        int(evaluation.min_slice_rows),
    )
    weighted = (
        {}
        if gate_weights is None
        else {
            "weighted_metrics": compute_metrics(y, champion_proba, threshold, gate_weights),
            "weighted_challenger_metrics": compute_metrics(y, proba, threshold, gate_weights),
        }
    )
    return {
        **weighted,
        "metrics": compute_metrics(y, champion_proba, threshold),
        "challenger_metrics": compute_metrics(y, proba, threshold),
        "bootstrap": bootstrap,
        "slices": champion_slices,
        "worse_slices": worse,
        # both models' parity gaps on these same rows: the fairness gate refuses a worsening beyond tolerance
        "fairness": paired_gaps(rows, y, proba, champion_proba, spec, settings.fairness_for(spec.name), threshold),
    }


def champion_comparison(
    spec: DatasetSpec,
    settings: Settings,
    holdout: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    gate_weights: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Score the champion and compare it pairwise with the challenger on rows neither model trained on.

    The champion's training rows come from its recorded lineage (the row keys its run logged); a
    holdout row the champion learned from would bias the comparison toward it, so it is left out,
    and the comparison says how many rows remain. If the champion's rows cannot be read, or too few
    remain, the comparison is refused (and the champion stays).
    """
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if champion is None:
        return None
    out: dict[str, Any] = {"version": str(champion.version), "holdout_rows": len(y)}
    fresh = _unseen_by_champion(champion, spec, holdout)
    if isinstance(fresh, str):
        return {**out, "error": fresh}
    out["comparison_rows"] = int(fresh.sum())
    out["excluded_rows"] = int((~fresh).sum())
    needed = int(settings.evaluation.min_comparison_rows)
    if fresh.sum() < needed or len(np.unique(y[fresh])) < 2:
        out["error"] = (
            f"only {int(fresh.sum())} holdout rows are new to both models (need {needed} with both classes); "
            f"{out['excluded_rows']} were in champion v{champion.version}'s training data"
        )
        return out
    rows, y, proba = holdout.loc[fresh], y[fresh], proba[fresh]
    gate_weights = None if gate_weights is None else gate_weights[fresh]
    try:
        model = artifacts.load_model(f"models:/{spec.model_name}/{champion.version}")
        champion_proba = model.predict_proba(rows[spec.features])[:, 1]
    except (KeyError, ValueError) as exc:  # e.g. the champion needs columns this batch lacks
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    return {**out, **_paired_figures(spec, settings, rows, y, proba, champion_proba, gate_weights)}


def weighted_view(
    spec: DatasetSpec,
    settings: Settings,
    holdout: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
) -> dict[str, Any] | None:
    """The holdout judged with its rows' weights, when the spec declares a weight column (None without one):
    `evaluation.weighted_figures` with the weight source named and whether the gate judges these (use: survey)."""
    if not spec.weights:
        return None
    source = {"column": spec.weights.column, "use": spec.weights.use, "gated": spec.survey_weighted}
    figures = _figures_weighted_by(
        survey_weights(holdout, spec.weights.column), spec, settings, y, proba, baseline_scores
    )
    return {"source": f"survey weights (column {spec.weights.column!r})", **source, **figures}


def electorate_view(
    spec: DatasetSpec,
    settings: Settings,
    y: np.ndarray,
    proba: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
) -> dict[str, Any] | None:
    """The holdout judged on the expected electorate (`electorate_weights: own_scores`): every row counted by the
    model's own score, its probability of voting. Reported beside the unweighted metrics, never gated."""
    if spec.electorate_weights != "own_scores":
        return None
    figures = _figures_weighted_by(electorate_weights(proba), spec, settings, y, proba, baseline_scores)
    return {"source": "the model's own scores (the expected electorate)", "gated": False, **figures}


def _figures_weighted_by(
    weights: np.ndarray,
    spec: DatasetSpec,
    settings: Settings,
    y: np.ndarray,
    proba: np.ndarray,
    baseline_scores: dict[str, np.ndarray],
) -> dict[str, Any]:
    """`evaluation.weighted_figures` of the holdout with the run's evaluation settings, seed and threshold."""
    return weighted_figures(
        y,
        proba,
        weights,
        baseline_scores,
        settings.evaluation,
        int(settings.training.seed),
        threshold=settings.decision_threshold(spec.name),
    )


def ranked_candidates(results: list[dict[str, Any]], primary: str) -> list[CandidateResult]:
    """The candidates, best selection score first."""
    from modelops.stats.metrics import higher_is_better

    sign = 1 if higher_is_better(primary) else -1

    def order(r: CandidateResult) -> tuple[bool, float]:  # an undefined score (NaN scores) ranks last
        undefined = r.selection_score is None or not np.isfinite(r.selection_score)
        return undefined, 0.0 if undefined else -sign * r.selection_score

    return sorted((CandidateResult.from_xcom(r) for r in results), key=order)


class UnstableScores(ValueError):
    """The best candidate scores NaN or infinity: a deterministic refusal (the same model scores the same)."""


def best_candidate_scores(
    model: Any, best: CandidateResult, steps: TrainingPlan, spec: DatasetSpec, holdout: pd.DataFrame
) -> dict[str, np.ndarray]:
    """The best candidate's scores on the holdout and the calibration rows (`evaluation.numeric_check` judges them).

    With a NaN or an infinity no figure of the evaluation can be computed, so the candidate is refused here: the
    task fails with the check's counts, and nothing is registered or promoted."""
    calibration = pd.read_parquet(steps.splits["calibration"], columns=list(spec.features))
    scores = {
        "holdout": model.predict_proba(holdout[spec.features])[:, 1],
        "calibration": model.predict_proba(calibration)[:, 1],
    }
    if not all(np.isfinite(np.asarray(s, dtype=float)).all() for s in scores.values()):
        check = numeric_check(scores, {}, ())
        raise UnstableScores(f"candidate {best.candidate} {check['detail']}; nothing is registered or promoted")
    return scores


def feature_value_check(
    steps: TrainingPlan, spec: DatasetSpec, settings: Settings, model: Any, parts: dict[str, tuple[pd.DataFrame, Any]]
) -> dict[str, Any]:
    """The drop-one check of the chosen pipeline (`feature_value.drop_one`), bounded and seeded."""
    calibration = pd.read_parquet(steps.splits["calibration"])
    options = {
        "seed": int(steps.training["seed"]),
        "max_rows": int(settings.evaluation.drop_one_max_rows),
        "resamples": int(settings.evaluation.bootstrap_resamples),
        "confidence": float(settings.evaluation.confidence),
    }
    splits = {**parts, "calibration": (calibration, target_vector(calibration, spec))}
    primary, threshold = settings.evaluation.primary_metric, settings.decision_threshold(spec.name)
    return drop_one(model, spec, splits, primary, options, threshold=threshold)
