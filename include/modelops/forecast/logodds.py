"""Probabilities on the log-odds scale: the one clip, logit and sigmoid every forecast module shares.

A score of exactly 0 or 1 has no log-odds; scores are clipped to [EPSILON, 1 - EPSILON] first, so a
shift moves every voter (a certain voter moves by at most EPSILON).
"""

from __future__ import annotations

import numpy as np
from scipy import special

EPSILON = 1e-6  # scores are clipped to [EPSILON, 1 - EPSILON] before the logit


def clip_probability(p: np.ndarray) -> np.ndarray:
    """`p` clipped away from 0 and 1 (see EPSILON)."""
    return np.clip(np.asarray(p, dtype=float), EPSILON, 1.0 - EPSILON)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of the clipped probabilities."""
    return special.logit(clip_probability(p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The inverse of `logit`."""
    return special.expit(np.asarray(x, dtype=float))


def shift_probability(p: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """Every probability moved by `delta` on the log-odds scale (a delta of 0 returns the clipped scores)."""
    return sigmoid(logit(p) + delta)


def odds_shift(p: np.ndarray, delta: float) -> np.ndarray:
    """sigmoid(logit(p) + delta) for probabilities already clipped (`clip_probability`), without a log or an
    exp per value: the odds times e^delta, p e^delta / (1 + p (e^delta - 1))."""
    factor = float(np.exp(delta))
    out = p * (factor - 1.0)
    out += 1.0
    np.divide(p, out, out=out)
    out *= factor
    return out
