"""Does every feature earn its place? A drop-one check of the chosen candidate's pipeline.

For each input column, the chosen pipeline is refitted twice on the same bounded, seeded sample of the
train split: once with every column and once without that one (the same fitted hyperparameters, the
same preprocessing recipe, calibrated the same way on the calibration split). Both are judged on the
same seeded sample of the holdout, and a paired bootstrap over those rows (each resample's row counts
weigh both models' scores: `evaluation.paired_improvements`) gives the interval of the difference in the
primary metric: the column's gain.

The preprocessing is fitted once on that sample: every one of its steps works column by column, so a
refit without a column is the model's refit on the model inputs that column does not own (what
refitting the whole pipeline without it gives, equal up to floating-point rounding).

Both sides are refits on the same rows, so the gain measures the column and not the row count (the
shipped model saw more rows than the sample). A column whose gain has a lower bound at or below zero
is useless: removing it does not lower the primary metric beyond the noise of the holdout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.settings import DatasetSpec
from modelops.evaluate.evaluation import paired_improvements
from modelops.train.features import output_owners
from modelops.train.splits import stratified_positions
from modelops.train.training import MODEL_STEP, fit_weights

FEATURES_STEP = "features"
Split = tuple[pd.DataFrame, np.ndarray, np.ndarray | None]  # rows, outcome, survey weights (None: unweighted)


def _part(w: np.ndarray | None, positions: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[positions]


def _unfitted_estimator(pipeline: Any) -> Any:
    """A fresh copy of the pipeline's model (its fitted hyperparameters), unwrapped from the calibration."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    model = pipeline.named_steps[MODEL_STEP]
    if isinstance(model, CalibratedClassifierCV):  # training's CalibratedClassifierCV(FrozenEstimator(model))
        model = model.estimator
    if isinstance(model, FrozenEstimator):  # clone would hand back the frozen, fitted model itself
        model = model.estimator
    return clone(model)


def _calibrated_with(pipeline: Any) -> str | None:
    """The calibration method the fitted pipeline was calibrated with (the search may have chosen it), if any."""
    from sklearn.calibration import CalibratedClassifierCV

    model = pipeline.named_steps[MODEL_STEP]
    return str(model.method) if isinstance(model, CalibratedClassifierCV) else None


@dataclass(frozen=True)
class _Matrices:
    """The sample preprocessed once by the chosen recipe's preprocessing, fitted on the fit rows: each split's
    model inputs, and the input column every model input comes from."""

    fit: tuple[np.ndarray, np.ndarray, np.ndarray | None]
    calibration: tuple[np.ndarray, np.ndarray, np.ndarray | None]
    judged: np.ndarray
    owners: np.ndarray


def _preprocessed(pipeline: Any, fit: Split, calibration: Split, judged: pd.DataFrame) -> _Matrices:
    """The pipeline's preprocessing recipe, unfitted, fitted on `fit`'s rows (unweighted, as training fits it)
    and applied to the three samples."""
    from sklearn.base import clone

    features = clone(pipeline.named_steps[FEATURES_STEP]).fit(fit[0], fit[1])
    owners = np.asarray(output_owners(features), dtype=object)
    X_fit = np.asarray(features.transform(fit[0]), dtype="float64")
    if X_fit.shape[1] != len(owners):
        raise RuntimeError(
            f"the preprocessing gives {X_fit.shape[1]} model inputs but {len(owners)} owned by an input column: "
            "a step that does not work column by column cannot be checked drop-one"
        )
    X_cal = np.asarray(features.transform(calibration[0]), dtype="float64")
    return _Matrices(
        fit=(X_fit, fit[1], fit[2]),
        calibration=(X_cal, calibration[1], calibration[2]),
        judged=np.asarray(features.transform(judged), dtype="float64"),
        owners=owners,
    )


def _refit_scores(model: Any, matrices: _Matrices, drop: str | None, method: str) -> np.ndarray:
    """A fresh copy of `model` fitted on the model inputs without `drop`'s (None: all of them), calibrated on
    the calibration split as training does, and its scores of the judged rows.

    Every step of the preprocessing works column by column (`output_owners`), so removing a column's model
    inputs equals refitting the whole pipeline without that column, at the cost of the model's fit alone.
    """
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    keep = matrices.owners != drop
    X, y, w = matrices.fit
    fitted = clone(model)
    if w is None:
        fitted.fit(X[:, keep], y)
    else:
        fitted.fit(X[:, keep], y, sample_weight=w)
    X_cal, y_cal, w_cal = matrices.calibration
    calibrator = CalibratedClassifierCV(FrozenEstimator(fitted), method=method)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Since FrozenEstimator does not appear to accept sample_weight")
        calibrator.fit(X_cal[:, keep], y_cal, sample_weight=w_cal)
    return np.asarray(calibrator.predict_proba(matrices.judged[:, keep])[:, 1], dtype="float64")


def drop_one(
    pipeline: Any,
    spec: DatasetSpec,
    splits: dict[str, tuple[pd.DataFrame, np.ndarray]],
    metric: str,
    options: dict[str, Any],
    *,
    threshold: float,
) -> dict[str, Any]:
    """Per feature: the gain in `metric` of keeping it (with minus without, positive when it helps) with its
    paired-bootstrap interval, and whether it is useless (the interval's lower bound <= 0).

    `splits`: "train", "calibration", "holdout" -> (frame, outcome). `options`: seed, max_rows (rows refitted
    on and judged on at most), resamples, confidence and calibration_method (used only when the
    pipeline does not say which method calibrated it). Weighted as training is when
    the spec trains with survey weights; the holdout judged unweighted, as the gate's unweighted metrics.
    """
    from threadpoolctl import threadpool_limits

    seed, max_rows = int(options["seed"]), int(options["max_rows"])
    train, y_train = splits["train"]
    keep = stratified_positions(y_train, max_rows, seed)
    fit = (train.iloc[keep][spec.features], y_train[keep], _part(fit_weights(spec, train), keep))
    cal_frame, y_cal = splits["calibration"]
    calibration = (cal_frame[spec.features], y_cal, fit_weights(spec, cal_frame))
    holdout, y = splits["holdout"]
    judged = stratified_positions(y, max_rows, seed)
    X_judged, y_judged = holdout.iloc[judged][spec.features], y[judged]
    method = _calibrated_with(pipeline) or str(options.get("calibration_method", "sigmoid"))
    out: dict[str, Any] = {
        "metric": metric,
        "fit_rows": len(fit[1]),
        "judged_rows": len(y_judged),
        "resamples": int(options["resamples"]),
        "confidence": float(options["confidence"]),
        "features": [],
        "useless": [],
    }
    if len(spec.features) < 2 or len(np.unique(fit[1])) < 2 or len(np.unique(y_judged)) < 2:
        out["skipped"] = "fewer than two features, or one outcome class only: nothing to compare"
        return out
    # every native pool (OpenMP, BLAS) on one thread: a few thousand rows are too few for them to pay, and on a
    # busy machine their waiting threads made each gradient-boosting fit 10-20 times slower and the logistic
    # regressions' solver twice as slow (measured on 2 shared cores; `stats.multivariate` does the same)
    with threadpool_limits(limits=1):
        matrices = _preprocessed(pipeline, fit, calibration, X_judged)
        model = _unfitted_estimator(pipeline)
        full = _refit_scores(model, matrices, None, method)
        reduced = {column: _refit_scores(model, matrices, column, method) for column in spec.features}
    # every column judged on the same seeded resamples of the judged rows (paired with the full model)
    rng = np.random.default_rng(seed)
    gains = paired_improvements(y_judged, full, reduced, metric, out["resamples"], out["confidence"], rng, threshold)
    for column in spec.features:
        found = gains[column]
        gain = {"gain": found["improvement"], "ci_low": found["ci_low"], "ci_high": found["ci_high"]}
        useless = not gain["ci_low"] > 0  # a NaN bound (too few rows to resample) proves nothing either
        out["features"].append({"feature": column, **gain, "useless": useless})
        if useless:
            out["useless"].append(column)
    return out


def useless_summary(result: dict[str, Any] | None) -> str:
    """One line: which features earn no place, and how that was measured (empty when every one does)."""
    if not result or not result.get("useless"):
        return ""
    return (
        f"{len(result['useless'])} of {len(result['features'])} features earn no place: "
        f"{', '.join(result['useless'])} (removing each does not lower {result['metric']} beyond noise: "
        f"{result['confidence']:.0%} paired-bootstrap interval of the drop-one gain reaches 0; refitted on "
        f"{result['fit_rows']} train rows, judged on {result['judged_rows']} holdout rows)"
    )
