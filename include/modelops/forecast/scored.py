"""Two datasets' committed scoring outputs of one snapshot, read side by side with the snapshot's geography.

A forecast multiplies each voter's turnout score by their support score, so the two outputs must be the
same rows in the same order: `ScoredOutput.of` reads a committed manifest (`catalog.scoring_manifest`),
and `paired_chunks` streams both outputs' prediction parts (`row`, `id`, `score` only) and the geography
column of the scored input files, re-cut to chunks of the same rows. Every chunk is checked: row numbers
are the same consecutive positions in both, ids agree (a missing id only where the other is missing too),
and the input files give as many rows. A mismatch is refused (`ScoresMismatch`) with counts, never an id or
a value. Memory is one chunk per stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from modelops.core import catalog
from modelops.core.records import XComRecord

PREDICTION_COLUMNS = ["row", "id", "score"]  # what a forecast reads of a scoring output's parts
DEFAULT_CHUNK_ROWS = 250_000


class ScoresMismatch(ValueError):
    """The two scoring outputs (or the input files) are not the same rows: the forecast is refused."""


@dataclass(frozen=True)
class ScoredOutput(XComRecord):
    """One dataset's committed scoring output of a snapshot: who served it and where its parts are."""

    dataset: str
    snapshot: str
    model_name: str
    model_version: str
    model_run_id: str | None
    permitted_use: str | None
    rows: int
    fallback_share: float
    parts: tuple[str, ...]
    input_files: tuple[str, ...]

    @classmethod
    def of(cls, dataset: str, snapshot: str) -> ScoredOutput:
        """The committed output of `dataset` for `snapshot`; a missing one is refused, naming the folder."""
        path = catalog.scoring_manifest(dataset, snapshot)
        if not path.exists():
            raise FileNotFoundError(
                f"{dataset} has no committed scoring output of snapshot {snapshot!r} at {path.parent}: "
                "score the snapshot with that dataset's model first (the scoring DAG)"
            )
        manifest = catalog.read_json(path)
        if manifest.get("input_kind") == "sql" or not manifest.get("input_files"):
            raise ScoresMismatch(
                f"{dataset}'s scoring of snapshot {snapshot!r} read no files (a SQL query?): a forecast reads the "
                "geography from the scored input files"
            )
        folder = catalog.scoring_dir(dataset, snapshot)
        return cls(
            dataset=dataset,
            snapshot=snapshot,
            model_name=str(manifest["model_name"]),
            model_version=str(manifest["model_version"]),
            model_run_id=manifest.get("model_run_id"),
            permitted_use=manifest.get("permitted_use"),
            rows=int(manifest["rows_out"]),
            fallback_share=float(manifest.get("fallback_share") or 0.0),
            parts=tuple(str(folder / p["file"]) for p in manifest["parts"]),
            input_files=tuple(str(f) for f in manifest["input_files"]),
        )


def check_pair(turnout: ScoredOutput, support: ScoredOutput) -> None:
    """Refuse two outputs that cannot be the same rows: other input files or other row counts."""
    if turnout.input_files != support.input_files:
        raise ScoresMismatch(
            f"{turnout.dataset} and {support.dataset} scored different input files of snapshot "
            f"{turnout.snapshot!r} ({len(turnout.input_files)} and {len(support.input_files)} files): score both "
            "from the same snapshot"
        )
    if turnout.rows != support.rows:
        raise ScoresMismatch(
            f"{turnout.dataset} scored {turnout.rows} rows of snapshot {turnout.snapshot!r}, {support.dataset} "
            f"{support.rows}: the two outputs are not the same rows"
        )


def paired_chunks(
    turnout: ScoredOutput,
    support: ScoredOutput,
    geography: str,
    names: tuple[str, str] = ("turnout_score", "support_score"),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Chunks of (geography, turnout score, support score) by row, checked to be the same voters in both outputs."""
    check_pair(turnout, support)
    streams = (
        _recut(_prediction_batches(turnout.parts, chunk_rows), chunk_rows),
        _recut(_prediction_batches(support.parts, chunk_rows), chunk_rows),
        _recut(_input_batches(turnout.input_files, geography, chunk_rows), chunk_rows),
    )
    done = 0
    for left, right, inputs in _zip_streams(*streams, turnout=turnout, support=support):
        _check_chunk(left, right, inputs, done, turnout, support)
        yield pd.DataFrame(
            {
                geography: inputs[geography].to_numpy(),
                names[0]: left["score"].to_numpy(dtype=float, na_value=np.nan),
                names[1]: right["score"].to_numpy(dtype=float, na_value=np.nan),
            }
        )
        done += len(left)
    if done != turnout.rows:
        raise ScoresMismatch(
            f"the scoring outputs' parts hold {done} rows but their manifests count {turnout.rows}: "
            "the outputs are not whole; score the snapshot again"
        )


def _zip_streams(
    *streams: Iterator[pd.DataFrame], turnout: ScoredOutput, support: ScoredOutput
) -> Iterator[tuple[pd.DataFrame, ...]]:
    labels = (f"{turnout.dataset}'s predictions", f"{support.dataset}'s predictions", "the scored input files")
    sentinel = None
    while True:
        chunks = [next(s, sentinel) for s in streams]
        if all(c is None for c in chunks):
            return
        if any(c is None for c in chunks):
            short = [label for label, c in zip(labels, chunks, strict=True) if c is None]
            raise ScoresMismatch(f"{', '.join(short)} end before the others: the outputs are not the same rows")
        yield tuple(chunks)


def _check_chunk(
    left: pd.DataFrame,
    right: pd.DataFrame,
    inputs: pd.DataFrame,
    done: int,
    turnout: ScoredOutput,
    support: ScoredOutput,
) -> None:
    n = len(left)
    if len(right) != n or len(inputs) != n:  # only the last chunk of a stream can be short
        raise ScoresMismatch(
            f"after {done} rows, {turnout.dataset}'s predictions, {support.dataset}'s and the input files end at "
            "different rows: the outputs are not the same rows"
        )
    expected = np.arange(done, done + n)
    for output, frame in ((turnout, left), (support, right)):
        if not np.array_equal(frame["row"].to_numpy(), expected):
            raise ScoresMismatch(
                f"{output.dataset}'s predictions do not number their rows 0..n-1 in order "
                f"(within rows {done}-{done + n - 1}): the output is not whole; score the snapshot again"
            )
    a = left["id"].astype(object).where(left["id"].notna(), None).to_numpy()
    b = right["id"].astype(object).where(right["id"].notna(), None).to_numpy()
    differ = int(sum(x != y for x, y in zip(a, b, strict=True)))
    if differ:
        raise ScoresMismatch(
            f"{differ} of {n} rows (within rows {done}-{done + n - 1}) carry different ids in {turnout.dataset}'s "
            f"and {support.dataset}'s predictions: the two outputs are not the same voters in the same order"
        )


def _prediction_batches(parts: tuple[str, ...], batch_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    for part in parts:
        with pq.ParquetFile(part) as handle:
            for batch in handle.iter_batches(batch_size=batch_rows, columns=PREDICTION_COLUMNS):
                frame = batch.to_pandas()
                frame["id"] = frame["id"].astype(object)
                yield frame


def _input_batches(files: tuple[str, ...], geography: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    from modelops.collect.inputs import read_table

    for name in files:
        path = Path(name)
        if not path.exists():
            raise ScoresMismatch(f"the scored input file {path} is gone: the forecast reads its geography column")
        if path.suffix != ".parquet":  # a CSV delivery: read whole, one column
            yield read_table(path, columns=[geography])
            continue
        with pq.ParquetFile(path) as handle:
            if geography not in handle.schema_arrow.names:
                raise ScoresMismatch(f"the scored input file {path.name} lacks the geography column {geography!r}")
            for batch in handle.iter_batches(batch_size=batch_rows, columns=[geography]):
                yield batch.to_pandas()


def _recut(frames: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The same rows as chunks of exactly `rows` (the last may be shorter), whatever the incoming sizes."""
    held: list[pd.DataFrame] = []
    count = 0
    for frame in frames:
        held.append(frame)
        count += len(frame)
        while count >= rows:
            whole = pd.concat(held, ignore_index=True) if len(held) > 1 else held[0].reset_index(drop=True)
            yield whole.iloc[:rows].reset_index(drop=True)
            rest = whole.iloc[rows:]
            held, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield pd.concat(held, ignore_index=True) if len(held) > 1 else held[0].reset_index(drop=True)
