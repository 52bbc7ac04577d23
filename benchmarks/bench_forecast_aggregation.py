"""The forecast's aggregation pass over a 10M-row voter file, against the time it takes to score that file.

Score chunks of 250 000 rows (a county id among 3 100 counties, a turnout and a support score) are
generated with numpy before any timing, then `modelops.forecast.aggregate.GeographyAccumulator` adds
them one by one (all three turnout scenarios in the same pass). It prints:
- the aggregation time per 10M rows (median of --repeat runs) and its ratio to the time the scoring
  engine takes for 10M rows, from the measured steady throughput in docs/benchmarks.md ("Batch scoring",
  run of 2026-12-03 at commit d0f9488, 10M file, rows/s excluding the one-off load): logistic regression
  1,464,323, histogram gradient boosting 733,080 (the training winner), random forest 625,779 rows/s;
- memory: the accumulator's retained memory (tracemalloc current, after the chunk's own arrays are gone)
  and the peak during an add, after 1, 10, 20 and 40 chunks: flat memory means no growth with the
  chunk count;
- with --calibrate, the two streaming passes of `calibrate.fit_logit_shift` over the same file.

    python benchmarks/bench_forecast_aggregation.py [--rows 10000000] [--chunk 250000] [--repeat 3] [--calibrate]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy.special import expit

from modelops.forecast.aggregate import GeographyAccumulator, ScoreColumns
from modelops.forecast.backtest import CertifiedColumns
from modelops.forecast.calibrate import fit_logit_shift

COUNTIES = 3_100  # about the number of US counties
SCORING_ROWS_PER_S = {  # docs/benchmarks.md, Batch scoring, 2026-12-03, d0f9488, 10M file, excl. load
    "logistic_regression": 1_464_323,
    "hist_gradient_boosting": 733_080,
    "random_forest": 625_779,
}
COLUMNS = ScoreColumns(geography="county_fips", turnout="turnout_score", support="support_score")
MIB = 2**20


def make_chunks(rows: int, chunk: int, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        chunks.append(
            pd.DataFrame(
                {
                    "county_fips": rng.integers(1000, 1000 + COUNTIES, n),
                    "turnout_score": expit(rng.normal(0.3, 1.2, n)),
                    "support_score": expit(rng.normal(0.0, 1.5, n)),
                }
            )
        )
    return chunks


def time_aggregation(chunks: list[pd.DataFrame]) -> float:
    accumulator = GeographyAccumulator(COLUMNS)
    start = time.perf_counter()
    for chunk in chunks:
        accumulator.add(chunk)
    accumulator.result()
    return time.perf_counter() - start


def memory_by_chunk_count(chunks: list[pd.DataFrame], marks: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """(chunks added, retained MiB, peak MiB during the adds so far) at each mark; the chunks predate tracing."""
    tracemalloc.start()
    accumulator, out = GeographyAccumulator(COLUMNS), []
    for i, chunk in enumerate(chunks, start=1):
        accumulator.add(chunk)
        if i in marks:
            current, peak = tracemalloc.get_traced_memory()
            out.append((i, current / MIB, peak / MIB))
    tracemalloc.stop()
    return out


def time_calibration(chunks: list[pd.DataFrame]) -> float:
    totals = pd.concat([c[["county_fips", "turnout_score"]] for c in chunks[:4]]).groupby("county_fips").sum()
    scale = len(chunks) / 4  # certified-like totals, roughly the model's own expectation
    certified = pd.DataFrame(
        {
            "county_fips": totals.index,
            "ballots_cast": totals["turnout_score"].to_numpy() * scale,
            "dem_votes": totals["turnout_score"].to_numpy() * scale * 0.45,
        }
    )
    columns = CertifiedColumns("county_fips", "ballots_cast", "dem_votes", "turnout", "dem_share")
    start = time.perf_counter()
    fit_logit_shift(lambda: iter(chunks), certified, COLUMNS, columns)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    chunks = make_chunks(args.rows, args.chunk)
    per_10m = 10_000_000 / args.rows
    times = [time_aggregation(chunks) for _ in range(args.repeat)]
    seconds = statistics.median(times) * per_10m
    print(f"{args.rows:,} rows in {len(chunks)} chunks of {args.chunk:,}, {COUNTIES:,} counties, 3 scenarios")
    print(f"aggregation: {seconds:.2f} s per 10M rows (median of {args.repeat}; min {min(times) * per_10m:.2f} s)")
    for family, rate in SCORING_ROWS_PER_S.items():
        scoring = 10_000_000 / rate
        print(f"  vs scoring with {family}: {scoring:.1f} s per 10M rows -> aggregation = {seconds / scoring:.1%}")
    marks = tuple(m for m in (1, 10, 20, 40, 80) if m <= len(chunks))
    print("chunks added | accumulator retained (MiB) | peak during adds (MiB)")
    for count, current, peak in memory_by_chunk_count(chunks, marks):
        print(f"{count:>12} | {current:>26.2f} | {peak:>22.1f}")
    if args.calibrate:
        fit = time_calibration(chunks)  # not scaled: the per-geography solves cost the same at any row count
        print(
            f"calibration (fit_logit_shift, two passes and {2 * COUNTIES:,} solves): {fit:.2f} s for {args.rows:,} rows"
        )


if __name__ == "__main__":
    main()
