"""The served model and the challenger: loaded once, checked on the first chunk, predicting probabilities."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import label_set, missing_scalar, plain_frame
from modelops.score import fastpath
from modelops.score.fastpath import CompiledPipeline, predict_rows
from modelops.score.plan import ScoringPlan

FAST_TOLERANCE = 1e-9  # largest |fast - pipeline| probability accepted on the first chunk
_VERIFY_ROWS = 20_000  # rows of the first chunk scored both ways


@dataclass
class LoadedModel:
    """A loaded pipeline with what the checks need: input dtypes and the categories it learned."""

    pipeline: Any
    known: dict[str, set[str]]
    numeric_codes: set[str]  # categorical columns the model learned as numbers
    score_profile: dict[str, Any] | None
    version: str = ""
    compiled: CompiledPipeline | None = None
    fast: bool | None = None  # the compiled path agrees with the pipeline (None: not yet checked)
    max_diff: float | None = None  # its largest difference on the first chunk
    note: str | None = None  # why the plain path is used


def load_model(plan: ScoringPlan, version: str, run_id: str) -> LoadedModel:
    """One model version with the categories it learned, its score profile and its compiled path."""
    from modelops.store import artifacts

    pipeline = artifacts.load_model(f"models:/{plan.model_name}/{version}")
    known: dict[str, set[str]] = {}
    numeric_codes: set[str] = set()
    try:
        encoder = pipeline.named_steps["features"].named_transformers_["categorical"]
        for column, cats in zip(plan.checks["categorical"], encoder.categories_, strict=True):
            known[column] = label_set([c for c in cats if not missing_scalar(c)])
            if np.issubdtype(np.asarray(cats).dtype, np.number):
                numeric_codes.add(column)
    except (AttributeError, KeyError, ValueError):  # another pipeline shape: no unseen-category check
        known = {}
    try:
        profile = artifacts.load_profile(run_id)["score"]
    except Exception:
        profile = None
    return LoadedModel(
        pipeline=pipeline,
        known=known,
        numeric_codes=numeric_codes,
        score_profile=profile,
        version=version,
        compiled=fastpath.compile_pipeline(pipeline, plan.checks),
    )


def load_models(plan: ScoringPlan) -> dict[tuple[str, str], LoadedModel]:
    """The plan's champion (and challenger) loaded once, for `score_group(..., models)` in one process.

    A model that cannot be loaded is left out: each group then tries again and falls back with an alert.
    """
    models: dict[tuple[str, str], LoadedModel] = {}
    for version, run_id in ((plan.version, plan.run_id), (plan.challenger_version, plan.challenger_run_id)):
        if version is not None:
            try_load(plan, version, run_id, [], "preload", models)
    return models


def try_load(
    plan: ScoringPlan,
    version: str,
    run_id: str,
    alerts: list[str],
    who: str,
    models: dict[tuple[str, str], LoadedModel] | None = None,
) -> LoadedModel | None:
    """The model, or None with an alert: a model that cannot be loaded falls back, it never stops the run.

    With `models` (loaded earlier for the same plan), a model loaded before is reused, its
    compiled-path verdict reset so this group checks it again.
    """
    try:
        if models is None:
            return load_model(plan, version, run_id)
        if (version, run_id) not in models:
            models[(version, run_id)] = load_model(plan, version, run_id)
        return dataclasses.replace(models[(version, run_id)], fast=None, max_diff=None, note=None)
    except Exception as exc:
        alerts.append(f"{who} {plan.model_name} v{version} could not be loaded ({type(exc).__name__}: {exc})")
        return None


def _verify_fast(model: LoadedModel, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]]) -> None:
    """Score up to `_VERIFY_ROWS` rows of the first chunk both ways; the fast path only if they agree."""
    if model.compiled is None:
        model.fast = False
        model.note = f"v{model.version}: pipeline shape not compiled to numpy; scored by the plain sklearn path"
        return
    take = min(len(X), _VERIFY_ROWS)
    sample = X.iloc[:take]
    sample_factors = {c: (codes[:take], uniques) for c, (codes, uniques) in factors.items()}
    try:
        fast = model.compiled.predict(sample, sample_factors)
        plain = np.asarray(model.pipeline.predict_proba(plain_frame(sample))[:, 1], dtype="float64")
        diff = float(np.max(np.abs(fast - plain), initial=0.0)) if fast.shape == plain.shape else float("inf")
        if np.isnan(fast).any() != np.isnan(plain).any() or np.isnan(diff):
            diff = float("inf")
    except Exception as exc:  # any failure of the fast path means the plain path
        model.fast = False
        model.note = f"v{model.version}: fast path failed on the first chunk ({type(exc).__name__}: {exc}); plain path"
        return
    model.max_diff = diff
    model.fast = diff <= FAST_TOLERANCE
    if not model.fast:
        model.note = (
            f"v{model.version}: fast path differed from the pipeline's predict_proba by {diff:.3g} "
            f"(> {FAST_TOLERANCE}) on the first chunk; scored by the plain sklearn path"
        )


def predict(
    model: LoadedModel, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]] | None = None
) -> np.ndarray:
    """Positive-class probabilities: the compiled path once verified on the first chunk, else sklearn's own."""
    factors = factors or {}
    if model.fast is None:
        _verify_fast(model, X, factors)
    if model.fast:
        return model.compiled.predict(X, factors)
    return predict_rows(model.pipeline, plain_frame(X))
