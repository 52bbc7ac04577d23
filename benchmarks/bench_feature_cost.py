"""What each feature of the voter model earns and costs: the drop-one gain beside its compiled-path cost.

    PYTHONPATH=include python benchmarks/bench_feature_cost.py [--rows 60000] [--cost-rows 200000]
        [--candidate hist_gradient_boosting]

One cycle of the synthetic voter file (`collect.scenarios.simulate_cycle`, the reference world of 2024)
is split as training splits it (`train.splits.split_indices`) and one candidate family is trained the
project's way (`train.training.train_candidate`: the configured search space and search, fit and
calibration; no MLflow). Then, as training and the model card do:

- the drop-one check (`evaluate.feature_value.drop_one`, with the configured evaluation section's bounds:
  `drop_one_max_rows` rows refitted on and judged on, `bootstrap_resamples`, `confidence`): per feature,
  the gain in the primary metric of keeping it, its interval, and whether it is useless;
- the compiled scoring path's cost (`score.feature_cost.feature_costs`) on `--cost-rows` further voters
  of the same world: per feature, its share of the column work's time (median of 5 passes) and memory.

Prints one table, the seconds each step took, and the totals the shares are of. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

TRAIN_YEAR = 2024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000, help="voters of the training cycle")
    parser.add_argument("--cost-rows", type=int, default=200_000, help="voters the compiled path is timed on")
    parser.add_argument("--candidate", default="hist_gradient_boosting", help="the model family trained")
    parser.add_argument("--seed", type=int, default=None, help="default: training.seed")
    args = parser.parse_args()

    from modelops.collect.labels import target_vector
    from modelops.collect.scenarios import drifted_world, simulate_cycle
    from modelops.config.settings import load_settings
    from modelops.evaluate.feature_value import drop_one
    from modelops.score.fastpath import compile_pipeline
    from modelops.score.feature_cost import feature_costs
    from modelops.train.splits import split_indices
    from modelops.train.training import train_candidate

    settings = load_settings()
    spec = settings.datasets[settings.default_dataset]
    training = settings.training.model_dump(mode="json")
    seed = int(training["seed"] if args.seed is None else args.seed)
    training["seed"] = seed
    evaluation = settings.evaluation
    primary, threshold = evaluation.primary_metric, settings.decision_threshold(spec.name)
    world = drifted_world("stable", TRAIN_YEAR)
    frame = simulate_cycle(spec, world, args.rows, seed)
    parts = {name: frame.iloc[rows] for name, rows in split_indices(frame, spec, training).items()}
    splits = {name: (part, target_vector(part, spec)) for name, part in parts.items()}

    started = time.perf_counter()
    trained = train_candidate(
        args.candidate,
        spec,
        parts["train"],
        parts["calibration"],
        training,
        settings.search_spaces[args.candidate],
        primary,
        threshold=threshold,
    )
    fit_seconds = time.perf_counter() - started
    options = {
        "seed": seed,
        "max_rows": int(evaluation.drop_one_max_rows),
        "resamples": int(evaluation.bootstrap_resamples),
        "confidence": float(evaluation.confidence),
        "calibration_method": training.get("calibration_method", "sigmoid"),
    }
    started = time.perf_counter()
    value = drop_one(trained.pipeline, spec, splits, primary, options, threshold=threshold)
    drop_seconds = time.perf_counter() - started
    compiled = compile_pipeline(
        trained.pipeline, {"numeric": list(spec.numeric), "categorical": list(spec.categorical)}
    )
    if compiled is None:
        raise SystemExit(f"{args.candidate}: the pipeline has no compiled scoring path")
    scored = simulate_cycle(spec, world, args.cost_rows, seed + 1)[spec.features]
    costs = feature_costs(compiled, scored, repeats=5)

    print(
        f"{args.candidate} on {args.rows:,} voters of {TRAIN_YEAR} (seed {seed}): search, fit and calibration "
        f"{fit_seconds:.1f} s; drop-one check {drop_seconds:.1f} s ({len(spec.features) + 1} refits on "
        f"{value['fit_rows']:,} train rows, judged on {value['judged_rows']:,} holdout rows, "
        f"{value['resamples']} resamples)"
    )
    print(
        f"compiled path on {costs['rows']:,} rows: column work {costs['column_seconds'] * 1000:.0f} ms "
        f"({costs['column_bytes'] / 1e6:.0f} MB), predict {costs['predict_seconds'] * 1000:.0f} ms, "
        f"encoder (shared) {costs['shared_seconds'] * 1000:.1f} ms; median of {costs['repeats']} passes\n"
    )
    spent = {r["feature"]: r for r in costs["features"]}
    print(f"| feature | {primary} gain | {value['confidence']:.0%} CI | time share | memory share | useless |")
    print("|---|---|---|---|---|---|")
    for r in sorted(value["features"], key=lambda r: -r["gain"]):
        cost = spent[r["feature"]]
        print(
            f"| {r['feature']} | {r['gain']:+.4f} | {r['ci_low']:+.4f} .. {r['ci_high']:+.4f} | "
            f"{cost['time_share']:.1%} | {cost['memory_share']:.1%} | {'yes' if r['useless'] else 'no'} |"
        )


if __name__ == "__main__":
    main()
