"""A fitted model's scoring cost, counted rather than timed: the tree levels a row passes through.

Batch scoring's budget is about 2 µs of one core per row for the model's own predict (docs/benchmarks.md,
"Tree size against accuracy and predict cost"), and predict time is close to linear in the node tests a
row makes (about 0.006-0.009 µs each there). A count is the same on every machine and every rerun, so a
search that excludes configurations by it still gives the same model for the same data and config;
a wall-clock measure would not.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _mean_leaf_depth(depth: np.ndarray, is_leaf: np.ndarray, count: np.ndarray) -> float:
    """The depth of a tree's leaves averaged over the training rows that reach them (0 for a lone root)."""
    weights = count[is_leaf].astype("float64")
    total = weights.sum()
    return float((depth[is_leaf] * weights).sum() / total) if total > 0 else 0.0


def tree_levels_per_row(estimator: Any) -> float:
    """Node tests per row summed over a fitted tree ensemble's trees (0 for a model without trees).

    Each tree counts the mean depth of its leaves weighted by the fitting rows that reached them: the
    expected path of a row like the training rows. A calibrated model counts its (frozen) estimator.
    """
    from sklearn.frozen import FrozenEstimator

    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    model = calibrated[0].estimator if calibrated else estimator
    if isinstance(model, FrozenEstimator):
        model = model.estimator
    # scikit-learn internals (histogram gradient boosting keeps its trees as predictors, one list per round)
    predictors = getattr(model, "_predictors", None)
    if predictors is not None:
        return sum(
            _mean_leaf_depth(p.nodes["depth"], p.nodes["is_leaf"] == 1, p.nodes["count"])
            for round_ in predictors
            for p in round_
        )
    trees = getattr(model, "estimators_", None)
    if trees is None or not all(hasattr(t, "tree_") for t in trees):
        return 0.0
    total = 0.0
    for t in trees:
        tree = t.tree_
        total += _mean_leaf_depth(tree.compute_node_depths() - 1, tree.children_left == -1, tree.n_node_samples)
    return total
