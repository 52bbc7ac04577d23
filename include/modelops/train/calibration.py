"""Probability calibration of a fitted candidate: the method chosen on the calibration rows, then fitted on them.

With one configured method there is nothing to choose. With several (`training.calibration_method:
[sigmoid, isotonic]`), each is fitted on all but one of `CALIBRATION_FOLDS` seeded stratified folds of the
calibration rows and scored by log loss on the fold left out: in-sample, isotonic would always win, as it
can follow the rows more closely. The lower mean held-out log loss wins (a proper scoring rule: it rewards
probabilities that match outcome rates); a tie goes to the method listed first.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

CALIBRATION_FOLDS = 3


def fit_calibrator(model: Any, Xt: Any, y: np.ndarray, w: np.ndarray | None, method: str) -> Any:
    """`model` (fitted, left as it is) calibrated by `method` on the prepared rows Xt, y (weighted by `w`)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    with warnings.catch_warnings():
        # the frozen model is fitted already: the weights are meant for the calibration alone, as sklearn warns
        warnings.filterwarnings("ignore", "Since FrozenEstimator does not appear to accept sample_weight")
        return CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(Xt, y, sample_weight=w)


def choose_calibration(
    model: Any, Xt: Any, y: np.ndarray, w: np.ndarray | None, methods: list[str], seed: int
) -> dict[str, Any]:
    """{"method": the chosen one, "log_loss": {method: mean held-out log loss}, "folds": folds used}."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(np.asarray(y, dtype=int), minlength=2).min())
    folds = min(CALIBRATION_FOLDS, smallest)
    if len(methods) == 1 or folds < 2:  # one method, or too few rows of a class to hold any out
        return {"method": methods[0], "log_loss": {}, "folds": 0}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    losses: dict[str, float] = {}
    for method in methods:
        held_out = []
        for fit_rows, test_rows in splitter.split(np.zeros(len(y)), y):
            part = None if w is None else w[fit_rows]
            calibrated = fit_calibrator(model, Xt[fit_rows], y[fit_rows], part, method)
            proba = calibrated.predict_proba(Xt[test_rows])[:, 1]
            weights = None if w is None else w[test_rows]
            held_out.append(log_loss(y[test_rows], proba, sample_weight=weights, labels=[0, 1]))
        losses[method] = float(np.mean(held_out))
    chosen = min(methods, key=lambda m: (losses[m], methods.index(m)))
    return {"method": chosen, "log_loss": losses, "folds": folds}
