"""Score decay on the synthetic voter file, and the default of `monitoring.max_champion_age_days` it gives.

Per seed, one model is trained on cycle t (2024, the reference world) with the project's own candidate
training (`evaluate.decay.fit_best`: every configured family's successive-halving search, fit and
calibration, the best by its calibration-split primary metric; no MLflow). It then scores its holdout
(age 0) and cycles t+1 (2026) and t+2 (2028) of each scenario: `stable` (the reference world) and the
named drift scenarios of `collect.scenarios`, whose knobs grow linearly from the reference world to
their full value at t+2 (half-way at t+1). A cycle's date is November 1st of its year, so t+1 is 730
days old and t+2 1461. The primary metric (evaluation.primary_metric) per cycle with a bootstrap
interval, its drop relative to the holdout, the drop per cycle and per day are printed per scenario
and seed, then the mean over seeds.

The default: per scenario, the expected relative drop of the primary metric is its mean over the
seeds at each cycle; the age at which that curve, linear per day from (0 days, 0) through the cycles,
first reaches monitoring.max_relative_drop is the scenario's figure, and the default is the smallest
figure over the scenarios (the fastest-decaying simulated drift), rounded down to whole days. Why the
fastest and not an average: a turnout model's labels arrive once a cycle, after the election, so the
labelled performance check cannot see a concept drift before it has cost a whole cycle; the age bound
is the net for exactly that case. The mean over the drift scenarios is printed beside it.

    PYTHONPATH=include python benchmarks/bench_score_decay.py [--rows 20000] [--seeds 3]
        [--candidates logistic_regression,hist_gradient_boosting,random_forest]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pandas as pd

from modelops.collect.scenarios import SCENARIOS, drifted_world, simulate_cycle
from modelops.config.settings import load_settings
from modelops.evaluate.decay import BacktestPlan, DecayOptions, DecayReport, age_at_drop, fit_best, score_decay

TRAIN_YEAR, LATER_YEARS = 2024, (2026, 2028)
SKIPPED = {"quality_break"}  # a broken extract, not drift: validation refuses it before any scoring


def later_cycles(spec, scenario: str, rows: int, seed: int) -> pd.DataFrame:
    """Cycles t+1 and t+2 of a scenario, its knobs part-way (k / horizon) to their full value."""
    parts = []
    for k, year in enumerate(LATER_YEARS, start=1):
        world = drifted_world(scenario, year, k / len(LATER_YEARS))
        parts.append(simulate_cycle(spec, world, rows, seed * 100 + k))
    return pd.concat(parts, ignore_index=True)


def fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(scenario: str, seed: int, report: DecayReport) -> None:
    ref = report.reference
    cells = [f"t {fmt(ref.value)} [{fmt(ref.ci_low)}, {fmt(ref.ci_high)}] n={ref.rows}"]
    for p in report.later:
        cells.append(f"{p.period} {fmt(p.value)} [{fmt(p.ci_low)}, {fmt(p.ci_high)}] drop {fmt(p.relative_drop)}")
    per_day = None if report.drop_per_day is None else report.drop_per_day * 1000
    print(f"{scenario:18s} seed {seed}: " + " | ".join(cells))
    print(f"{'':18s}   drop/cycle {fmt(report.drop_per_period)}  drop/1000 days {fmt(per_day)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="voters per cycle")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--candidates", default=None, help="families (default: training.candidates)")
    args = parser.parse_args()

    settings = load_settings()
    spec = settings.datasets[settings.default_dataset]
    candidates = tuple(args.candidates.split(",")) if args.candidates else tuple(settings.training.candidates)
    limit = float(settings.monitoring.max_relative_drop)
    scenarios = [s for s in SCENARIOS if s not in SKIPPED]
    reports: dict[str, list[DecayReport]] = {s: [] for s in scenarios}
    started = time.monotonic()
    for seed in range(args.seeds):
        training = {**settings.training.model_dump(mode="json"), "seed": seed}
        plan = BacktestPlan(training, settings.search_spaces, candidates)
        options = DecayOptions(
            metric=settings.evaluation.primary_metric,
            threshold=settings.decision_threshold(spec.name),
            resamples=int(settings.evaluation.bootstrap_resamples),
            confidence=float(settings.evaluation.confidence),
            max_rows=int(settings.evaluation.bootstrap_max_rows),
            seed=seed,
        )
        reference = simulate_cycle(spec, drifted_world("stable", TRAIN_YEAR), args.rows, seed * 100)
        model, holdout = fit_best(spec, reference, plan, options)
        for scenario in scenarios:
            report = score_decay(
                spec, model, holdout, later_cycles(spec, scenario, args.rows, seed), TRAIN_YEAR, options
            )
            reports[scenario].append(report)
            print_report(scenario, seed, report)

    print(f"\nmean over {args.seeds} seeds ({options.metric}; relative drop vs the t holdout; ages in days)")
    print(f"{'scenario':18s} {'t':>7s} " + " ".join(f"{y:>7d} {'drop':>7s}" for y in LATER_YEARS), end="")
    print(f" {'drop/cycle':>10s} {'drop/1000d':>10s} {'age@' + format(limit, 'g'):>9s}")
    curves = {}
    for scenario, runs in reports.items():
        drops = [statistics.fmean(r.later[i].relative_drop for r in runs) for i in range(len(LATER_YEARS))]
        ages = [runs[0].later[i].age_days for i in range(len(LATER_YEARS))]
        curves[scenario] = list(zip(ages, drops, strict=True))
        values = [statistics.fmean(r.later[i].value for r in runs) for i in range(len(LATER_YEARS))]
        row = " ".join(f"{v:7.4f} {d:+7.4f}" for v, d in zip(values, drops, strict=True))
        per_cycle = statistics.fmean(r.drop_per_period for r in runs)
        per_day = statistics.fmean(r.drop_per_day for r in runs) * 1000
        age = age_at_drop(curves[scenario], limit)
        print(f"{scenario:18s} {statistics.fmean(r.reference.value for r in runs):7.4f} {row}", end="")
        print(f" {per_cycle:+10.4f} {per_day:+10.4f} {fmt(age, 0):>9s}")

    drifting = [s for s in scenarios if s != "stable"]
    pooled = [
        (curves[drifting[0]][i][0], statistics.fmean(curves[s][i][1] for s in drifting))
        for i in range(len(LATER_YEARS))
    ]
    print(f"\nmean drop over the drift scenarios {drifting}:")
    print("  " + ", ".join(f"{d:+.4f} at {a:.0f} days" for a, d in pooled))
    print(f"  reaches {limit:g} at: {fmt(age_at_drop(pooled, limit), 0)} days")
    ages = {s: age_at_drop(curve, limit) for s, curve in curves.items()}
    reached = {s: a for s, a in ages.items() if a is not None}
    if reached:
        fastest = min(reached, key=reached.__getitem__)
        print(
            f"max_champion_age_days = {math.floor(reached[fastest])} "
            f"(the seed-mean relative drop of {options.metric} reaches {limit:g} first under {fastest})"
        )
    else:
        print(
            f"max_champion_age_days: no scenario's drop reaches {limit:g} within {LATER_YEARS[-1] - TRAIN_YEAR} years"
        )
    print(f"({time.monotonic() - started:.0f} s; rows per cycle {args.rows}, candidates {list(candidates)})")


if __name__ == "__main__":
    main()
