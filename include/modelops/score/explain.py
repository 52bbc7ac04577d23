"""One row through a fitted pipeline: each preprocessing step's output, and what moved its score.

`pipeline_stages` walks the fitted ColumnTransformer transformer by transformer, step by step, naming
every output with the step's own `get_feature_names_out` (impute, then scale, for numbers; the
one-hot encoding for categories).

`contributions` explains the model's score of the row:
- a logistic regression (alone, or under one sigmoid calibration as training fits it) exactly: each
  model input's coefficient x its scaled value, in the score's log-odds, summed back to the original
  column (a number's scaled value and its was-missing indicator, a category's one-hot block); the
  contributions plus the intercept are the logit of the score (a sigmoid calibration `expit(-(a f + b))`
  is folded in: every term times -a, the intercept -a b0 - b);
- any other model by a local approximation, one column at a time: the column's value is replaced by
  its training reference (the imputer's fitted median for a number, the reference profile's most
  common category for a category) and the change in the score's log-odds is that column's effect.
  It ignores interactions between columns and depends on the reference chosen: a ranking, not a
  decomposition (the effects need not add up to the logit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import plain_frame
from modelops.train.features import output_owners

EXACT_LINEAR = "exact_linear"
ONE_AT_A_TIME = "one_at_a_time_reference"
_EDGE = 1e-15  # probabilities are clipped this far from 0 and 1 before a logit


@dataclass(frozen=True)
class Effect:
    """One original column's effect on the row's score, in log-odds (and the parts it sums, when exact)."""

    column: str
    effect: float
    parts: dict[str, float]  # model input name -> its contribution (exact) or {} (local method)
    reference: Any = None  # the value put in its place (local method)


@dataclass(frozen=True)
class Explanation:
    """What moved the model's score of one row, most first."""

    method: str
    logit: float  # the log-odds of the explained score
    intercept: float | None  # exact method: the intercept in the score's log-odds
    effects: tuple[Effect, ...]
    note: str


def logit(p: float) -> float:
    """The log-odds of a probability (clipped off 0 and 1)."""
    q = min(max(float(p), _EDGE), 1.0 - _EDGE)
    return float(np.log(q) - np.log1p(-q))


def pipeline_stages(pipeline: Any, X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """{"<transformer>/<step>": {output name: value}} of one row, in the fitted order of the steps.

    A transformer that is no Pipeline is one stage of its own ("categorical/encode" for the encoder).
    """
    from sklearn.pipeline import Pipeline

    features = pipeline.named_steps["features"]
    frame = plain_frame(X)
    stages: dict[str, dict[str, Any]] = {}
    for name, transformer, columns in features.transformers_:
        if name == "remainder" or transformer in ("drop", "passthrough"):
            continue
        current: Any = frame[list(columns)]
        names = np.asarray(list(columns), dtype=object)
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("encode", transformer)]
        for step_name, step in steps:
            current = step.transform(current)
            names = step.get_feature_names_out(names)
            row = np.asarray(current.toarray() if hasattr(current, "toarray") else current)[0]
            stages[f"{name}/{step_name}"] = {str(n): plain(v) for n, v in zip(names, row, strict=True)}
    return stages


def plain(value: Any) -> Any:
    """A numpy scalar as a Python one (JSON and templates read it)."""
    return value.item() if hasattr(value, "item") else value


def linear_terms(estimator: Any) -> tuple[np.ndarray, float] | None:
    """(coefficients, intercept) in the served score's log-odds, or None when the model is not such a model.

    A LogisticRegression, or one sigmoid-calibrated LogisticRegression (CalibratedClassifierCV of a
    frozen or prefit one, a single calibrated classifier): p = expit(-(a f + b)) with f = w.z + b0,
    so the score's log-odds are (-a w).z + (-a b0 - b).
    """
    from sklearn.linear_model import LogisticRegression

    def plain(model: Any) -> tuple[np.ndarray, float] | None:
        model = getattr(model, "estimator", model) if not isinstance(model, LogisticRegression) else model
        if not isinstance(model, LogisticRegression) or model.coef_.shape[0] != 1:
            return None
        return np.asarray(model.coef_[0], dtype="float64"), float(model.intercept_[0])

    if isinstance(estimator, LogisticRegression):
        return plain(estimator)
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or getattr(estimator, "method", None) != "sigmoid":
        return None
    one = calibrated[0]
    terms = plain(one.estimator)
    if terms is None or len(one.calibrators) != 1:
        return None
    a, b = float(one.calibrators[0].a_), float(one.calibrators[0].b_)
    w, b0 = terms
    return -a * w, -a * b0 - b


def contributions(pipeline: Any, X: pd.DataFrame, score: float, references: dict[str, Any]) -> Explanation:
    """What moved `score` (the model's probability for the one row of `X`): exact for a linear model, else local."""
    terms = linear_terms(pipeline.named_steps["model"])
    if terms is not None:
        return _exact(pipeline, X, score, *terms)
    return _one_at_a_time(pipeline, X, score, references)


def _exact(pipeline: Any, X: pd.DataFrame, score: float, w: np.ndarray, intercept: float) -> Explanation:
    features = pipeline.named_steps["features"]
    z = np.asarray(features.transform(plain_frame(X)), dtype="float64")[0]
    names = [str(n) for n in features.get_feature_names_out()]
    owners = output_owners(features)
    parts: dict[str, dict[str, float]] = {}
    for name, owner, term in zip(names, owners, w * z, strict=True):
        parts.setdefault(owner, {})[name] = float(term)
    effects = [Effect(c, float(sum(p.values())), p) for c, p in parts.items()]
    return Explanation(
        method=EXACT_LINEAR,
        logit=logit(score),
        intercept=float(intercept),
        effects=tuple(sorted(effects, key=lambda e: -abs(e.effect))),
        note="exact: coefficient x scaled value in the score's log-odds; the effects plus the intercept are its logit",
    )


def _one_at_a_time(pipeline: Any, X: pd.DataFrame, score: float, references: dict[str, Any]) -> Explanation:
    columns = [c for c in X.columns if c in references]
    base = logit(score)
    effects: list[Effect] = []
    if columns:
        variants = pd.concat([X] * len(columns), ignore_index=True)
        for i, column in enumerate(columns):
            variants.loc[i, column] = references[column]
        moved = np.asarray(pipeline.predict_proba(plain_frame(variants))[:, 1], dtype="float64")
        for column, p in zip(columns, moved, strict=True):
            effects.append(Effect(column, base - logit(float(p)), {}, references[column]))
    return Explanation(
        method=ONE_AT_A_TIME,
        logit=base,
        intercept=None,
        effects=tuple(sorted(effects, key=lambda e: -abs(e.effect))),
        note=(
            "approximation: each column replaced alone by its training reference (median / most common "
            "category); the effect is the change in log-odds; interactions ignored, effects need not add up"
        ),
    )


def references(pipeline: Any, profile: dict[str, Any] | None, numeric: list[str], categorical: list[str]) -> dict:
    """Each column's training reference: the imputer's fitted median, the profile's most common category."""
    out: dict[str, Any] = {}
    try:
        features = pipeline.named_steps["features"]
        transformer = features.named_transformers_["numeric"]
        imputer = transformer.named_steps["impute"]
        for column, value in zip(numeric, imputer.statistics_, strict=True):
            out[column] = float(value)
    except (AttributeError, KeyError, ValueError):
        pass
    from modelops.stats.drift import MISSING, OTHER

    counts = (profile or {}).get("categorical", {})
    for column in categorical:
        labels = [label for label in (counts.get(column) or {}).get("counts", {}) if label not in (MISSING, OTHER)]
        if labels:
            out[column] = labels[0]
    return out
