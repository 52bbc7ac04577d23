"""Drift check of N current rows x 20 columns against a stored reference profile; vs plain p < 0.05 and Evidently.

15 numeric columns (N(0,1)) and 5 categorical ones (6 levels); in the current data 3 numeric columns
are shifted (by 0.15, 0.25 and 0.5 standard deviations) and 1 categorical column has 25% of its
mass moved to one level. The other 16 columns are untouched. Reference: 100 000 rows (profiled
once, as at training time; Evidently gets the reference frame itself).

For each size and seed it prints which columns each method flags:
- ours: modelops.stats.drift.detect_drift (BH-corrected p-value AND effect size),
- plain: scipy per column (KS / chi-squared), p < 0.05, no correction, no effect size,
- Evidently 0.7 DataDriftPreset with its defaults (own venv, benchmarks/setup_evidently.sh; only
  its report computation is timed). Evidently chooses its test by reference size, so the smallest
  size also runs it with a reference of the same size (<= 1000 rows: p-value tests).
Then the time (default: columns over the 2 cores' threads; and on one thread) and peak memory of
our check at 1M rows, and the speed-up over Evidently (single-threaded) there.

    python benchmarks/bench_drift.py [--sizes 500,5000,50000,1000000] [--seeds 3] [--no-evidently]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from modelops.stats.drift import build_profile, detect_drift

REPO = Path(__file__).resolve().parents[1]
NUMERIC = [f"n{i:02d}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHIFTS = {"n00": 0.15, "n01": 0.25, "n02": 0.5}
LEVELS = np.array(["a", "b", "c", "d", "e", "f"])
SHIFTED = {*SHIFTS, "c0"}
THRESHOLDS = {"alpha": 0.05, "numeric_min_effect": 0.1, "categorical_min_effect": 0.1, "dataset_drift_share": 0.25}


def make_frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {c: rng.normal(SHIFTS.get(c, 0.0) if shifted else 0.0, 1.0, rows) for c in NUMERIC}
    for c in CATEGORICAL:
        values = LEVELS[rng.integers(0, len(LEVELS), rows)]
        if shifted and c == "c0":
            values = np.where(rng.random(rows) < 0.25, "a", values)
        data[c] = values
    return pd.DataFrame(data)


def plain_flags(reference: pd.DataFrame, current: pd.DataFrame) -> set[str]:
    from scipy.stats import chi2_contingency, ks_2samp

    flagged = set()
    for c in NUMERIC:
        if ks_2samp(reference[c].to_numpy(), current[c].to_numpy()).pvalue < 0.05:
            flagged.add(c)
    for c in CATEGORICAL:
        table = pd.concat([reference[c].value_counts(), current[c].value_counts()], axis=1).fillna(0).to_numpy().T
        if chi2_contingency(table, correction=False)[1] < 0.05:
            flagged.add(c)
    return flagged


def evidently(python: str, reference: pd.DataFrame, current: pd.DataFrame, folder: Path) -> dict:
    reference.to_parquet(folder / "ref.parquet", index=False)
    current.to_parquet(folder / "cur.parquet", index=False)
    out = subprocess.run(
        [
            python,
            str(REPO / "benchmarks" / "evidently_side.py"),
            str(folder / "ref.parquet"),
            str(folder / "cur.parquet"),
            "--numeric",
            ",".join(NUMERIC),
            "--categorical",
            ",".join(CATEGORICAL),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["flagged"] = {c for c, d in result["drifted"].items() if d}
    return result


def verdict(flags: set[str]) -> str:
    missed, false = sorted(SHIFTED - flags), sorted(flags - SHIFTED)
    if not missed and not false:
        return "right"
    return "WRONG: " + ", ".join(([f"missed {missed}"] if missed else []) + ([f"false alarm {false}"] if false else []))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000,50000,1000000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--no-evidently", action="store_true")
    args = parser.parse_args()
    python = None
    if not args.no_evidently:
        setup = subprocess.run(
            ["bash", str(REPO / "benchmarks" / "setup_evidently.sh")], capture_output=True, text=True, check=True
        )
        python = setup.stdout.strip().splitlines()[-1]
    reference = make_frame(args.reference_rows, 10_000, shifted=False)
    profile = build_profile(reference, NUMERIC, CATEGORICAL, np.array([0.5]), {}, threshold=0.5)
    detect_drift(profile, make_frame(1000, 1, True), THRESHOLDS)  # warm imports (scipy) outside the timings
    sizes = [int(s) for s in args.sizes.split(",")]
    timings: dict[str, list[float]] = {"ours": [], "evidently": []}
    print(f"reference {args.reference_rows} rows; shifted: {sorted(SHIFTED)}; 16 untouched columns")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for rows in sizes:
            for seed in range(args.seeds):
                current = make_frame(rows, seed, shifted=True)
                started = time.perf_counter()
                ours = set(detect_drift(profile, current, THRESHOLDS).drifted)
                elapsed = time.perf_counter() - started
                if rows == max(sizes):
                    timings["ours"].append(elapsed)
                plain = verdict(plain_flags(reference, current))
                line = f"rows {rows:>8} seed {seed}: ours {verdict(ours):<32} plain p<0.05 {plain:<40}"
                if python and (rows < max(sizes) or seed == 0):
                    ev = evidently(python, reference, current, folder)
                    line += f" evidently {verdict(ev['flagged'])}"
                    if rows == max(sizes):
                        timings["evidently"].append(ev["seconds"])
                    if rows <= 1000:  # Evidently with a reference it would treat as small: p-value tests
                        small = evidently(python, make_frame(rows, 20_000 + seed, False), current, folder)
                        line += f" | evidently, {rows}-row reference: {verdict(small['flagged'])}"
                print(line, flush=True)
        big = make_frame(max(sizes), 99, shifted=True)
        single = []
        for _ in range(3):
            started = time.perf_counter()
            detect_drift(profile, big, THRESHOLDS, workers=1)
            single.append(time.perf_counter() - started)
        tracemalloc.start()
        detect_drift(profile, big, THRESHOLDS)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    ours_s = statistics.median(timings["ours"])
    print(
        f"\nours at {max(sizes)} rows x 20 columns: median {ours_s:.3f} s over {len(timings['ours'])} runs "
        f"(min {min(timings['ours']):.3f} s); peak extra memory {peak / 2**20:.0f} MiB (tracemalloc), "
        f"the frame itself {big.memory_usage(deep=True).sum() / 2**20:.0f} MiB"
    )
    single_s = statistics.median(single)
    print(f"ours on one thread (workers=1): median {single_s:.3f} s")
    if timings["evidently"]:
        ev_s = statistics.median(timings["evidently"])
        print(
            f"Evidently DataDriftPreset at {max(sizes)} rows (one thread): {ev_s:.1f} s -> ours is "
            f"{ev_s / ours_s:.0f}x faster ({ev_s / single_s:.0f}x on one thread)"
        )


if __name__ == "__main__":
    main()
