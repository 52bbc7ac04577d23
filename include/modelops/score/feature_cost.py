"""What each feature costs to score: its share of the compiled path's column work, in time and in memory.

Measured on the path batch scoring runs (`fastpath.CompiledPipeline.matrix`, metered by a
`fastpath.ColumnMeter`): per input column, the seconds spent reading, imputing, scaling, factorizing
and one-hot gathering it, and the bytes of the arrays made for it. The encoder learns the sample's
values in a first, unmetered pass, as the first chunk of a scoring run does; the metered passes are
then what every later chunk pays. Time is the median over `repeats` passes (timings are noisy; the
shares are stable); memory is exact and the same on every pass. The estimator's predict reads the
whole matrix at once and is reported beside, not split by feature.
"""

from __future__ import annotations

from statistics import median
from time import perf_counter
from typing import Any

import pandas as pd

from modelops.score.fastpath import ColumnMeter, CompiledPipeline, predict_rows


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else 0.0


def feature_costs(compiled: CompiledPipeline, X: pd.DataFrame, repeats: int = 5) -> dict[str, Any]:
    """Per feature (numeric, then categorical): seconds, time share, bytes and memory share of the column work
    in `compiled.matrix` on the rows of `X`; the shares of each sum to 1 (0 when nothing was spent)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    compiled.matrix(X)  # the encoder learns the sample's values here, unmetered (module docstring)
    meters, predict_seconds = [], []
    for _ in range(repeats):
        meter = ColumnMeter()
        Z = compiled.matrix(X, meter=meter)
        meters.append(meter)
        started = perf_counter()
        predict_rows(compiled.estimator, Z)
        predict_seconds.append(perf_counter() - started)
        del Z
    columns = [*compiled.numeric, *compiled.categorical]
    seconds = {c: median(m.seconds.get(c, 0.0) for m in meters) for c in columns}
    nbytes = {c: meters[-1].nbytes.get(c, 0) for c in columns}
    total_seconds, total_bytes = sum(seconds.values()), sum(nbytes.values())
    return {
        "rows": len(X),
        "repeats": repeats,
        "column_seconds": total_seconds,
        "shared_seconds": median(m.shared_seconds for m in meters),
        "predict_seconds": median(predict_seconds),
        "column_bytes": total_bytes,
        "features": [
            {
                "feature": c,
                "seconds": seconds[c],
                "time_share": _share(seconds[c], total_seconds),
                "bytes": nbytes[c],
                "memory_share": _share(nbytes[c], total_bytes),
            }
            for c in columns
        ],
    }
