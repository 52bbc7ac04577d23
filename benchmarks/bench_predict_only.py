"""The model's own predict cost per row, alone (no reading, checks, writing): the floor under scoring.

    python benchmarks/bench_predict_only.py [--spaces configured|small|budget]   (after bench_scoring.py trained them)

For each family's benchmark model: a 250k-row chunk of the 10M-row voter file is checked and turned
into the model's input matrix once; then the final estimator's predict_proba is timed on it with one
thread and split over every core (as score_group does), median of 3.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # sets the benchmark workspace


def main() -> None:
    import argparse

    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spaces", choices=["configured", "small", "budget"], default="configured")
    args = parser.parse_args()

    from modelops.config.settings import CANDIDATE_FAMILIES
    from modelops.score.checks import Reasons, check_chunk
    from modelops.score.fastpath import predict_rows
    from modelops.score.models import load_model
    from modelops.score.plan import plan_scoring
    from modelops.score.readers import iter_chunks
    from modelops.store import registry

    settings = bench.bench_settings()
    spec = settings.dataset(bench.DATASET)
    path = bench.HOME / "data" / "voters_1000000.parquet"
    versions = json.loads(bench.models_record(args.spaces).read_text())
    print(f"nproc {os.cpu_count()}, load average {bench.load_average():.2f}")
    print("| family | rows | predict 1 thread | per row, 1 core | split over cores | rows/s ceiling (all cores) |")
    print("|---|---|---|---|---|---|")
    for family in CANDIDATE_FAMILIES:
        registry.set_alias(spec.model_name, f"bench_{family}", versions[family], "bench", "bench", None)
        plan = plan_scoring(spec, settings, str(path), snapshot="predict-only", alias=f"bench_{family}")
        assert plan.version == versions[family]
        model = load_model(plan, plan.version, plan.run_id)
        factors: dict = {}
        frame = next(iter_chunks(plan, 0))
        X, _, _ = check_chunk(frame, plan, model, Reasons(), factors)
        Z = model.compiled.matrix(X, factors)
        estimator = model.compiled.estimator
        timings = {}
        with threadpool_limits(1):
            for threads in ("1", str(os.cpu_count() or 1)):
                os.environ["MODELOPS_SCORING_THREADS"] = threads
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    predict_rows(estimator, Z)
                    runs.append(time.perf_counter() - started)
                timings[threads] = statistics.median(runs)
        one, split = timings["1"], timings[str(os.cpu_count() or 1)]
        print(
            f"| {family} | {len(Z):,} | {one:.3f} s | {one / len(Z) * 1e6:.2f} µs | {split:.3f} s | "
            f"{len(Z) / split:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
