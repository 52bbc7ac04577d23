"""What a scored row looks like: its source, its columns, the part files' Arrow schema, one chunk's table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelops.score.checks import Reasons
from modelops.score.plan import ScoringPlan

MODEL, FALLBACK, CANARY = "model", "fallback", "canary"


SOURCES = (MODEL, FALLBACK, CANARY)


# Output columns, in order (PostgreSQL types for the COPY target).
OUTPUT_COLUMNS = {
    "snapshot_id": "text",
    "row": "bigint",
    "id": "text",
    "score": "double precision",
    "decision": "boolean",
    "source": "text",
    "reason": "text",
    "model_name": "text",
    "model_version": "text",
    "alias": "text",
    "served_version": "text",
    "champion_score": "double precision",
    "challenger_score": "double precision",
    "challenger_version": "text",
    "permitted_use": "text",
    "scored_at": "timestamptz",
}
# the part files' schema metadata key holding the run's permitted use (bytes, as Parquet keeps it)
USE_METADATA_KEY = b"modelops.permitted_use"


DICTIONARY_COLUMNS = [  # output columns worth Parquet dictionary pages (the others are mostly unique)
    "snapshot_id",
    "decision",
    "source",
    "reason",
    "model_name",
    "model_version",
    "alias",
    "served_version",
    "challenger_version",
    "permitted_use",
    "scored_at",
]


def output_schema(use: str | None = None):
    """The Arrow schema of the part files (the columns of OUTPUT_COLUMNS, repeated text as dictionaries);
    with `use`, its metadata holds the run's permitted use (USE_METADATA_KEY)."""
    import pyarrow as pa

    dictionary = pa.dictionary(pa.int8(), pa.string())
    metadata = {USE_METADATA_KEY: use.encode()} if use else None
    return pa.schema(
        [
            ("snapshot_id", dictionary),
            ("row", pa.int64()),
            ("id", pa.string()),
            ("score", pa.float64()),
            ("decision", pa.bool_()),
            ("source", dictionary),
            ("reason", pa.dictionary(pa.int16(), pa.string())),
            ("model_name", dictionary),
            ("model_version", dictionary),
            ("alias", dictionary),
            ("served_version", dictionary),
            ("champion_score", pa.float64()),
            ("challenger_score", pa.float64()),
            ("challenger_version", dictionary),
            ("permitted_use", dictionary),
            ("scored_at", pa.timestamp("us", tz="UTC")),
        ],
        metadata=metadata,
    )


def _const(value: str | None, n: int):
    """One value repeated (a dictionary column: one entry, n small indices); None gives nulls."""
    import pyarrow as pa

    indices = pa.array(np.zeros(n, dtype=np.int8), mask=np.ones(n, dtype=bool) if value is None else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array([value or ""], pa.string()))


def chunk_table(
    plan: ScoringPlan,
    frame: pd.DataFrame,
    first_row: int,
    score: np.ndarray,
    source: np.ndarray,
    codes: np.ndarray,
    reasons: Reasons,
    champ: np.ndarray,
    chall: np.ndarray,
):
    """One chunk's output rows as an Arrow table (every column but scored_at, which the caller appends)."""
    import pyarrow as pa

    n = len(frame)
    id_column = plan.checks["id_column"]
    ids = pa.array(frame[id_column], from_pandas=True).cast(pa.string()) if id_column else pa.nulls(n, pa.string())
    canary = source == 1
    source_arr = pa.DictionaryArray.from_arrays(pa.array(source), pa.array([MODEL, CANARY, FALLBACK]))
    reason_arr = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int16), mask=codes == 0), pa.array([r or "" for r in reasons.names], pa.string())
    )
    versions = pa.array([plan.version, plan.challenger_version or plan.version], pa.string())
    aliases = pa.array([plan.alias, plan.challenger_alias], pa.string())
    which = pa.array(canary.astype(np.int8))
    return pa.table(
        {
            "snapshot_id": _const(plan.snapshot, n),
            "row": pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
            "id": ids,
            "score": pa.array(score),
            "decision": pa.array(score >= float(plan.options["threshold"])),
            "source": source_arr,
            "reason": reason_arr,
            "model_name": _const(plan.model_name, n),
            "model_version": pa.DictionaryArray.from_arrays(which, versions),
            "alias": pa.DictionaryArray.from_arrays(which, aliases),
            "served_version": _const(plan.version, n),
            "champion_score": pa.array(champ, mask=np.isnan(champ)),
            "challenger_score": pa.array(chall, mask=np.isnan(chall)),
            "challenger_version": _const(plan.challenger_version, n),
            "permitted_use": _const(plan.use or None, n),
        }
    )
