"""Two datasets' committed scoring outputs of one snapshot, read side by side with the snapshot's geography.

A forecast multiplies each voter's turnout score by their support score, so the two outputs must be the
same rows in the same order: `ScoredOutput.of` reads a committed manifest (`catalog.scoring_manifest`),
and `paired_chunks` streams both outputs' prediction parts (`row`, `id`, `score` only) and the geography
column of the scored input files, re-cut to chunks of the same rows (as Arrow tables: no Python object per
row). Every chunk is checked: row numbers
are the same consecutive positions in both, ids agree (a missing id only where the other is missing too),
and the input files give as many rows. A mismatch is refused (`ScoresMismatch`) with counts, never an id or
a value. Memory is one chunk per stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from modelops.core import catalog
from modelops.core.records import XComRecord

if TYPE_CHECKING:
    import pyarrow.parquet as pq

T = TypeVar("T")
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
    """Chunks of (geography, turnout score, support score) by row, checked to be the same voters in both outputs.

    The geography column is categorical (each chunk's values dictionary-encoded by Arrow), so a consumer
    groups by its codes without hashing a value per row (`aggregate.geography_codes`). The next chunk is
    read and checked in a thread while the caller works on this one (`prefetched`).
    """
    check_pair(turnout, support)
    return prefetched(_checked_chunks(turnout, support, geography, names, chunk_rows))


def _checked_chunks(
    turnout: ScoredOutput, support: ScoredOutput, geography: str, names: tuple[str, str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
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
                geography: _categorical(inputs.column(geography)),
                names[0]: _floats(left.column("score")),
                names[1]: _floats(right.column("score")),
            }
        )
        done += left.num_rows
    if done != turnout.rows:
        raise ScoresMismatch(
            f"the scoring outputs' parts hold {done} rows but their manifests count {turnout.rows}: "
            "the outputs are not whole; score the snapshot again"
        )


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """The items of `items` in order, the next one produced in a worker thread while the caller uses this one.

    Reading and decoding Parquet (Arrow) release the GIL, so the read of chunk k+1 overlaps the caller's
    sums over chunk k; one item is held ahead, no more. An error of `items` is raised to the caller at the
    item it stopped at; a caller that stops early waits for the one read under way, then the thread ends.
    """
    from concurrent.futures import ThreadPoolExecutor

    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-read") as pool:
        pending = pool.submit(next, items, end)
        while True:
            item = pending.result()
            if item is end:
                return
            pending = pool.submit(next, items, end)
            yield item


def _categorical(values: pa.ChunkedArray) -> pd.Series:
    """A geography column as a pandas categorical (Arrow's dictionary encoding of the chunk; nulls stay missing)."""
    import pyarrow.compute as pc

    combined = values.combine_chunks()  # dictionaries of several pieces are unified
    if not pa.types.is_dictionary(combined.type):
        combined = pc.dictionary_encode(combined)
    return combined.to_pandas()


def _floats(values: pa.ChunkedArray) -> np.ndarray:
    """Scores as float64, a null as NaN."""
    return values.combine_chunks().to_numpy(zero_copy_only=False).astype(float, copy=False)


def _zip_streams(
    *streams: Iterator[pa.Table], turnout: ScoredOutput, support: ScoredOutput
) -> Iterator[tuple[pa.Table, ...]]:
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
    left: pa.Table,
    right: pa.Table,
    inputs: pa.Table,
    done: int,
    turnout: ScoredOutput,
    support: ScoredOutput,
) -> None:
    import pyarrow.compute as pc

    n = left.num_rows
    if right.num_rows != n or inputs.num_rows != n:  # only the last chunk of a stream can be short
        raise ScoresMismatch(
            f"after {done} rows, {turnout.dataset}'s predictions, {support.dataset}'s and the input files end at "
            "different rows: the outputs are not the same rows"
        )
    expected = np.arange(done, done + n)
    for output, frame in ((turnout, left), (support, right)):
        rows = frame.column("row")
        if rows.null_count or not np.array_equal(rows.combine_chunks().to_numpy(), expected):
            raise ScoresMismatch(
                f"{output.dataset}'s predictions do not number their rows 0..n-1 in order "
                f"(within rows {done}-{done + n - 1}): the output is not whole; score the snapshot again"
            )
    a, b = left.column("id"), right.column("id")
    # the same id, or missing in both: Arrow compares the strings without a Python object per row
    same = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
    differ = n - int(pc.sum(same).as_py() or 0)
    if differ:
        raise ScoresMismatch(
            f"{differ} of {n} rows (within rows {done}-{done + n - 1}) carry different ids in {turnout.dataset}'s "
            f"and {support.dataset}'s predictions: the two outputs are not the same voters in the same order"
        )


def _prediction_batches(parts: tuple[str, ...], batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    schema = pa.schema([("row", pa.int64()), ("id", pa.large_string()), ("score", pa.float64())])
    for part in parts:
        with pq.ParquetFile(part) as handle:
            for batch in _row_group_batches(handle, PREDICTION_COLUMNS, batch_rows):
                yield pa.Table.from_batches([batch]).select(PREDICTION_COLUMNS).cast(schema)


def _input_batches(files: tuple[str, ...], geography: str, batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    from modelops.collect.inputs import read_table

    for name in files:
        path = Path(name)
        if not path.exists():
            raise ScoresMismatch(f"the scored input file {path} is gone: the forecast reads its geography column")
        if path.suffix != ".parquet":  # a CSV delivery: read whole, one column
            table = pa.Table.from_pandas(read_table(path, columns=[geography]), preserve_index=False)
            yield table.set_column(0, geography, table.column(0).dictionary_encode())
            continue
        # read as Arrow dictionaries: the Parquet dictionary pages give the codes, no string per row is built
        with pq.ParquetFile(path, read_dictionary=[geography]) as handle:
            if geography not in handle.schema_arrow.names:
                raise ScoresMismatch(f"the scored input file {path.name} lacks the geography column {geography!r}")
            for batch in _row_group_batches(handle, [geography], batch_rows):
                yield pa.Table.from_batches([batch])


def _row_group_batches(handle: pq.ParquetFile, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's batches, one row group at a time: a reader over the whole file keeps the buffers of the
    groups already read until it is done (measured: pyarrow 25, ~2 MiB per 250k-row group of a float column),
    so the memory of a pass would grow with the file."""
    for group in range(handle.num_row_groups):
        yield from handle.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns)


def _recut(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The same rows as tables of exactly `rows` (the last may be shorter), whatever the incoming sizes.

    Arrow slices and concatenations share the buffers: re-cutting copies no value.
    """
    held: list[pa.Table] = []
    count = 0
    for table in tables:
        held.append(table)
        count += table.num_rows
        while count >= rows:
            whole = _concat(held)
            yield whole.slice(0, rows)
            rest = whole.slice(rows)
            held, count = ([rest] if rest.num_rows else []), rest.num_rows
    if count:
        yield _concat(held)


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Tables of the same columns as one (types promoted where files differ: string and large string, say)."""
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
