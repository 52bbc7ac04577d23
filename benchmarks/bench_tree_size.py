"""What smaller trees cost in holdout accuracy, and what they buy in predict time per row.

    python benchmarks/bench_tree_size.py [--rows 600000] [--train-rows 100000] [--holdout-rows 100000]
                                         [--anes-seeds 5] [--skip-search]

For each tree family, a small grid of tree sizes is fitted the project's way (its preprocessor and
estimator from modelops.train.training, sigmoid calibration on the calibration split, its splits from
modelops.train.features) on the synthetic voter file and on the anes96_vote survey. Per size it prints the
holdout ROC AUC and log loss, the calibrated model's predict_proba time per row on one thread over a
250k-row prepared (column-major float64) matrix, median of 3 (as benchmarks/bench_predict_only.py
times the champion's), and the size of the fitted forest (trees, nodes, deepest leaf). The last rows
are references, the accuracy a capped space gives up against: a few large corners of the configured
search space (uncapped), and per family the configured search's own winner
(modelops.train.training.train_candidate with the configured space and search).

The voter file's holdout is half of its latest cycle (rows / 6), so 600k generated rows give
100k holdout rows. anes96_vote has 944 rows (274 in the holdout at seed 42), so its AUC is averaged over
`--anes-seeds` seeds of the split and the models (its predict time is not measured).
Everything is written under .local/bench_scoring/workspace (git-ignored), as bench_scoring does.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # sets the benchmark workspace and the import path

PREDICT_ROWS = 250_000
HGB_LEAVES = (7, 15, 31)
HGB_ITERS = (20, 40, 80)
HGB_RATES = (0.1, 0.3)
RF_TREES = (10, 20, 30, 60)
RF_DEPTHS = (6, 8, 10, 12)
# The other parameters stay at bench_scoring's SMALL_SPACES values.
HGB_FIXED = {"min_samples_leaf": 50, "l2_regularization": 0.1}
RF_FIXED = {"min_samples_leaf": 20, "max_features": "sqrt"}
# Large corners of the configured search space (include/config/modelops.yaml), uncapped: how much
# the biggest models it allows gain over the grid, independent of which one a seeded search picks.
LARGE = [
    ("hist_gradient_boosting", {**HGB_FIXED, "max_leaf_nodes": 31, "learning_rate": 0.05}, None),
    ("hist_gradient_boosting", {**HGB_FIXED, "max_leaf_nodes": 63, "learning_rate": 0.05}, None),
    ("random_forest", {"min_samples_leaf": 20, "max_features": "sqrt", "n_estimators": 100, "max_depth": 12}, None),
    ("random_forest", {"min_samples_leaf": 5, "max_features": "sqrt", "n_estimators": 100, "max_depth": 16}, None),
    ("random_forest", {"min_samples_leaf": 20, "max_features": 0.5, "n_estimators": 100, "max_depth": 12}, None),
]


def grid() -> list[tuple[str, dict, int | None]]:
    """(family, params, max_iter cap or None) for every size measured."""
    sizes: list[tuple[str, dict, int | None]] = []
    for leaves in HGB_LEAVES:
        for cap in HGB_ITERS:
            for rate in HGB_RATES:
                sizes.append(
                    ("hist_gradient_boosting", {**HGB_FIXED, "max_leaf_nodes": leaves, "learning_rate": rate}, cap)
                )
    for trees in RF_TREES:
        for depth in RF_DEPTHS:
            sizes.append(("random_forest", {**RF_FIXED, "n_estimators": trees, "max_depth": depth}, None))
    return sizes + LARGE


@dataclasses.dataclass
class Data:
    spec: object
    train: object
    calibration: object
    holdout: object
    predict_frame: object | None  # PREDICT_ROWS rows of features, or None (no timing)


def prepare(settings, dataset: str, rows: int | None, train_rows: int, holdout_rows: int, seed: int, timing: bool):
    """The project's splits of a collected batch; train and holdout capped (stratified)."""
    from modelops.collect.labels import target_vector
    from modelops.collect.sources import collect_batch, load_batch
    from modelops.train.splits import split_indices, stratified_cap

    spec = settings.dataset(dataset)
    frame = load_batch(collect_batch(spec, sample_rows=rows))
    parts = split_indices(frame, spec, {**settings.training.model_dump(), "seed": seed})
    train = frame.iloc[parts["train"]]
    train, _ = stratified_cap(train, target_vector(train, spec), train_rows, seed)
    holdout = frame.iloc[parts["holdout"]]
    holdout, _ = stratified_cap(holdout, target_vector(holdout, spec), holdout_rows, seed)
    predict_frame = None
    if timing:  # rows as scoring sees them (labelled or not), repeated when the batch is smaller
        predict_frame = frame.sample(n=PREDICT_ROWS, replace=len(frame) < PREDICT_ROWS, random_state=seed)
        predict_frame = predict_frame[spec.features]
    return Data(spec, train, frame.iloc[parts["calibration"]], holdout, predict_frame)


def fit(settings, data: Data, family: str, params: dict, cap: int | None, seed: int):
    """Fit + calibrate one fixed configuration as train_candidate does after its search."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline

    from modelops.collect.labels import target_vector
    from modelops.train.training import build_pipeline

    spec = data.spec
    indicators = bool(settings.training.missing_indicators)
    pipeline = build_pipeline(spec, family, params, seed, indicators)
    if cap is not None:  # make_estimator fixes max_iter=300 (early stopping decides); the cap is the lever here
        pipeline.set_params(model__max_iter=cap)
    pipeline.fit(data.train[spec.features], target_vector(data.train, spec))
    features = pipeline.named_steps["features"]
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(pipeline.named_steps["model"]), method=settings.training.calibration_method
    ).fit(features.transform(data.calibration[spec.features]), target_vector(data.calibration, spec))
    return Pipeline([("features", features), ("model", calibrated)])


def searched(settings, data: Data, family: str, seed: int):
    """The configured search space's winner (the real training path), and its params."""
    from modelops.train.training import train_candidate

    training = {**settings.training.model_dump(), "seed": seed, "max_fit_rows": len(data.train)}
    trained = train_candidate(
        family,
        data.spec,
        data.train,
        data.calibration,
        training,
        settings.search_spaces[family],
        settings.evaluation.primary_metric,
        threshold=settings.decision_threshold(data.spec.name),
    )
    return trained.pipeline, trained.params


def accuracy(pipeline, data: Data) -> tuple[float, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    from modelops.collect.labels import target_vector

    y = target_vector(data.holdout, data.spec)
    proba = pipeline.predict_proba(data.holdout[data.spec.features])[:, 1]
    return float(roc_auc_score(y, proba)), float(log_loss(y, proba))


def forest_size(pipeline) -> tuple[int, int, int]:
    """(trees, nodes, deepest node) of the calibrated pipeline's fitted forest."""
    calibrated = pipeline.named_steps["model"]
    if len(calibrated.calibrated_classifiers_) != 1:  # would multiply the predict cost
        raise RuntimeError(f"expected one calibrated classifier, got {len(calibrated.calibrated_classifiers_)}")
    model = calibrated.calibrated_classifiers_[0].estimator.estimator  # FrozenEstimator -> the forest
    if hasattr(model, "_predictors"):  # HistGradientBoosting: one tree per iteration (binary)
        trees = [p for iteration in model._predictors for p in iteration]
        return len(trees), sum(len(t.nodes) for t in trees), max(int(t.nodes["depth"].max()) for t in trees)
    return (
        len(model.estimators_),
        sum(t.tree_.node_count for t in model.estimators_),
        max(t.tree_.max_depth for t in model.estimators_),
    )


def predict_us(pipeline, data: Data) -> float:
    """µs per row of the calibrated estimator's predict_proba on one thread, median of 3."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    Z = np.asfortranarray(pipeline.named_steps["features"].transform(data.predict_frame), dtype=np.float64)
    estimator = pipeline.named_steps["model"]
    runs = []
    with threadpool_limits(1):
        for _ in range(3):
            started = time.perf_counter()
            estimator.predict_proba(Z)
            runs.append(time.perf_counter() - started)
    return statistics.median(runs) / len(Z) * 1e6


def label(family: str, params: dict, cap: int | None) -> str:
    if family == "hist_gradient_boosting":
        return f"HGB leaves {params['max_leaf_nodes']}, max_iter {cap or 'uncapped'}, lr {params['learning_rate']:g}"
    extra = (
        ""
        if (params["min_samples_leaf"], params["max_features"]) == (20, "sqrt")
        else (f", min_samples_leaf {params['min_samples_leaf']}, max_features {params['max_features']}")
    )
    return f"RF {params['n_estimators']} trees, depth {params['max_depth']}{extra}"


def planned_runs(args) -> list[tuple]:
    """The grid's sizes of the chosen families, then (unless skipped) each family's configured search (params None)."""
    runs = [(family, params, cap) for family, params, cap in grid() if family in args.families]
    if not args.skip_search:
        runs += [(family, None, None) for family in args.families]
    return runs


def voter_table(settings, args) -> None:
    seed = int(settings.training.seed) if args.seed is None else args.seed
    started = time.perf_counter()
    data = prepare(settings, "voter_turnout", args.rows, args.train_rows, args.holdout_rows, seed, timing=True)
    print(
        f"voter_turnout (seed {seed}): {len(data.train):,} training rows, {len(data.calibration):,} calibration, "
        f"{len(data.holdout):,} holdout; prepared in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    print("| model | trees | nodes | deepest | holdout AUC | log loss | predict µs/row, 1 thread | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    runs = planned_runs(args)
    for family, params, cap in runs:
        started = time.perf_counter()
        if params is None:
            pipeline, best = searched(settings, data, family, seed)
            shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(best.items()))
            name = f"**{family} configured search** ({shown})"
        else:
            pipeline, name = fit(settings, data, family, params, cap, seed), label(family, params, cap)
        fitted = time.perf_counter() - started
        auc, loss = accuracy(pipeline, data)
        trees, nodes, depth = forest_size(pipeline)
        print(
            f"| {name} | {trees} | {nodes:,} | {depth} | {auc:.4f} | {loss:.4f} | {predict_us(pipeline, data):.2f} | "
            f"{fitted:.0f} |",
            flush=True,
        )


def anes_table(settings, args) -> None:
    seeds = [int(settings.training.seed) + i for i in range(args.anes_seeds)]
    splits = {s: prepare(settings, "anes96_vote", None, 10**9, 10**9, s, timing=False) for s in seeds}
    first = splits[seeds[0]]
    print(
        f"anes96_vote: {len(first.train)} training rows, {len(first.holdout)} holdout (seed {seeds[0]}); "
        f"AUC mean over seeds {seeds[0]}..{seeds[-1]}",
        flush=True,
    )
    print("| model | holdout AUC (mean) | min | max | log loss (mean) |")
    print("|---|---|---|---|---|")
    runs = planned_runs(args)
    for family, params, cap in runs:
        aucs, losses = [], []
        for s, data in splits.items():
            pipeline = (
                searched(settings, data, family, s)[0]
                if params is None
                else fit(settings, data, family, params, cap, s)
            )
            auc, loss = accuracy(pipeline, data)
            aucs.append(auc)
            losses.append(loss)
        name = f"**{family} configured search**" if params is None else label(family, params, cap)
        print(
            f"| {name} | {statistics.mean(aucs):.4f} | {min(aucs):.4f} | {max(aucs):.4f} | "
            f"{statistics.mean(losses):.4f} |",
            flush=True,
        )


def main() -> None:
    import os

    from modelops.config.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=600_000, help="voter rows generated (holdout = rows / 6)")
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--holdout-rows", type=int, default=100_000)
    parser.add_argument("--anes-seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None, help="voter split and model seed (default: configured)")
    parser.add_argument("--families", nargs="+", default=["hist_gradient_boosting", "random_forest"])
    parser.add_argument("--only", nargs="+", choices=["voter", "anes"], default=["voter", "anes"])
    parser.add_argument("--skip-search", action="store_true", help="no configured-search reference rows")
    args = parser.parse_args()
    unknown = set(args.families) - {"hist_gradient_boosting", "random_forest"}
    if unknown:
        parser.error(f"not tree families: {', '.join(sorted(unknown))} (hist_gradient_boosting, random_forest)")
    settings = load_settings()
    print(f"nproc {os.cpu_count()}, load average {bench.load_average():.2f}", flush=True)
    started = time.perf_counter()
    if "voter" in args.only:
        voter_table(settings, args)
    if "anes" in args.only:
        anes_table(settings, args)
    print(f"total {time.perf_counter() - started:.0f} s, load average {bench.load_average():.2f}", flush=True)


if __name__ == "__main__":
    main()
