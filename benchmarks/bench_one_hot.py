"""The compiled path's one-hot fill per row, and what running the encoder again on every chunk would add.

    python benchmarks/bench_one_hot.py [--spaces configured|small|budget] [--chunks 10]

Uses bench_scoring.py's 10M-row voter file and its HGB model (run that first). The file was written in
parts, so each 250k-row chunk lists its text values in its own order. Times, in CPU seconds per row:
`CompiledPipeline._one_hot` on chunks 2..N after the first (the levels are known by then), and
`CompiledPipeline._learn` on each chunk's distinct values with nothing remembered, i.e. the encoder run per
chunk, which the compiled path did before it remembered values one by one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # sets the benchmark workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spaces", choices=["configured", "small", "budget"], default="configured")
    parser.add_argument("--chunks", type=int, default=10)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from modelops.score.checks import Reasons, check_chunk
    from modelops.score.models import load_model
    from modelops.score.plan import plan_scoring
    from modelops.score.readers import iter_chunks
    from modelops.store import registry

    settings = bench.bench_settings()
    spec = settings.dataset(bench.DATASET)
    version = json.loads(bench.models_record(args.spaces).read_text())["hist_gradient_boosting"]
    registry.set_alias(spec.model_name, "bench_one_hot", version, "bench", "bench", None)
    path = bench.HOME / "data" / f"voters_{10_000_000}.parquet"
    plan = plan_scoring(spec, settings, str(path), snapshot="one-hot", alias="bench_one_hot")
    model = load_model(plan, plan.version, plan.run_id)
    compiled = model.compiled
    chunks = []
    for frame in iter_chunks(plan, 0):
        factors: dict = {}
        X, _, _ = check_chunk(frame, plan, model, Reasons(), factors)
        chunks.append((X, factors))
        if len(chunks) == args.chunks:
            break
    start = len(compiled.numeric) + len(compiled.indicate)
    width = start + sum(compiled.widths)
    used = compiled.used if compiled.used is not None else np.ones(width, dtype=bool)

    matrices: dict[int, np.ndarray] = {}  # one per chunk length, reused as scoring reuses its buffer

    def matrix(rows: int) -> np.ndarray:
        return matrices.setdefault(rows, np.zeros((rows, width), order="F"))

    compiled._one_hot(*chunks[0], matrix(len(chunks[0][0])), start, used)  # the first chunk meets every value
    fill = again = 0.0
    for X, factors in chunks[1:]:
        Z = matrix(len(X))
        began = time.process_time()
        compiled._one_hot(X, factors, Z, start, used)
        fill += time.process_time() - began
        known = compiled.levels, compiled.tables
        compiled.levels, compiled.tables = [], []  # as if no chunk had come before: every value is new
        began = time.process_time()
        compiled._learn([pd.Series(factors[c][1]) for c in compiled.categorical])
        again += time.process_time() - began
        compiled.levels, compiled.tables = known
    rows = sum(len(X) for X, _ in chunks[1:])
    print(f"HGB v{version}, {len(chunks) - 1} chunks of {len(chunks[1][0]):,} rows")
    print(f"one-hot fill: {fill / rows * 1e6:.3f} µs per row (CPU)")
    per_chunk = again / (len(chunks) - 1) * 1e3
    print(f"encoder on each chunk's distinct values: {again / rows * 1e6:.3f} µs per row, {per_chunk:.1f} ms per chunk")


if __name__ == "__main__":
    main()
