"""Cost of the governance steps each training run adds: the fairness gate and the card's bootstrap CIs.

    python benchmarks/bench_governance.py [--rows 250000 1000000]

Fairness: `fairness.assess_fairness` on a voter-shaped frame (gender, race/ethnicity, age bins of the
voter_turnout spec, a missing share in each), against fairlearn's own MetricFrame on the raw rows for
the first size (the element-by-element cost the condensed cells avoid). Bootstrap: the card's
`evaluation.bootstrap_metrics` (40k rows x 400 resamples, every metric) against one `compute_metrics`
call per resample, and the champion comparison's `evaluation.paired_bootstrap` against scoring both models with
scikit-learn on each resample. Prints seconds; median of 3 for the fast paths.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))


def timed(fn, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    import numpy as np
    import pandas as pd

    from modelops.config.settings import load_settings
    from modelops.evaluate import evaluation, fairness
    from modelops.stats.metrics import score

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="*", default=[250_000, 1_000_000])
    parser.add_argument("--skip-fairlearn", action="store_true", help="do not time fairlearn on raw rows")
    args = parser.parse_args()
    settings = load_settings()
    spec = settings.dataset("voter_turnout")
    options = settings.fairness_for(spec.name)
    threshold = settings.decision_threshold(spec.name)
    rng = np.random.default_rng(0)
    print("| step | rows | seconds |")
    print("|---|---|---|")
    for n in args.rows:
        frame = pd.DataFrame(
            {
                "gender": rng.choice(["F", "M", "X", None], n, p=[0.5, 0.46, 0.01, 0.03]),
                "race_ethnicity": rng.choice(["white", "black", "hispanic", "asian", "other"], n),
                "age": np.where(rng.random(n) < 0.02, np.nan, rng.integers(18, 100, n)),
            }
        )
        y = (rng.random(n) < 0.55).astype(int)
        proba = np.clip(0.55 + 0.2 * rng.standard_normal(n), 0, 1)
        seconds = timed(lambda f=frame, y=y, p=proba: fairness.assess_fairness(f, y, p, spec, options, threshold))
        print(f"| fairness.assess_fairness (3 protected columns) | {n:,} | {seconds:.2f} |", flush=True)
        if n == args.rows[0] and not args.skip_fairlearn:
            from fairlearn.metrics import MetricFrame, selection_rate

            started = time.perf_counter()
            for column in ("gender", "race_ethnicity"):
                MetricFrame(
                    metrics={"selection_rate": selection_rate},
                    y_true=y,
                    y_pred=(proba >= 0.5).astype(int),
                    sensitive_features=frame[column].fillna("(missing)"),
                )
            print(
                f"| fairlearn MetricFrame on raw rows (2 columns, selection rate only) | {n:,} | "
                f"{time.perf_counter() - started:.2f} |",
                flush=True,
            )
    n, resamples = 40_000, 400
    y = (rng.random(n) < 0.55).astype(int)
    proba = np.clip(0.55 + 0.2 * rng.standard_normal(n), 0.001, 0.999)
    fast = timed(lambda: evaluation.bootstrap_metrics(y, proba, resamples, 0.95, n, 0, threshold=0.5))
    print(f"| evaluation.bootstrap_metrics ({resamples} resamples, every metric) | {n:,} | {fast:.2f} |")
    started = time.perf_counter()
    draw = np.random.default_rng(0)
    for _ in range(resamples):
        rows = draw.integers(0, n, n)
        evaluation.compute_metrics(y[rows], proba[rows], 0.5)
    print(f"| compute_metrics once per resample ({resamples}) | {n:,} | {time.perf_counter() - started:.2f} |")
    # the champion comparison: both models' scores on the same resamples (the promotion gate's paired bootstrap)
    champion = np.clip(proba + 0.05 * rng.standard_normal(n), 0.001, 0.999)
    paired = timed(lambda: evaluation.paired_bootstrap(y, proba, champion, "roc_auc", resamples, 0.95, n, 0))
    print(f"| evaluation.paired_bootstrap (roc_auc, {resamples} resamples, both models) | {n:,} | {paired:.2f} |")
    started = time.perf_counter()
    draw = np.random.default_rng(0)
    for _ in range(resamples):
        rows = draw.integers(0, n, n)
        score("roc_auc", y[rows], proba[rows]), score("roc_auc", y[rows], champion[rows])
    slow = time.perf_counter() - started
    print(f"| scikit-learn's roc_auc_score twice per resample ({resamples}) | {n:,} | {slow:.2f} |")


if __name__ == "__main__":
    main()
