"""Parquet files read through pyarrow, a damaged file told in words (cut short, not Parquet, damaged inside)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.collect.refusals import BadFileError


def read_parquet_file(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """A Parquet file (only the `columns` it has, when given), or BadFileError saying how it is damaged."""
    import pyarrow as pa

    try:
        if columns is not None:
            present = set(parquet_columns(path))
            columns = [c for c in columns if c in present]
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        problem = parquet_problem(path, exc)
    raise BadFileError(path, problem)


def parquet_problem(path: Path, exc: Exception) -> str:
    """Why pyarrow could not read a Parquet file, in words: cut short, not Parquet at all, or damaged inside."""
    detail = str(exc).replace(f"Could not open Parquet input source '{path}': ", "")
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(4)
            handle.seek(max(path.stat().st_size - 4, 0))
            tail = handle.read(4)
        if head != b"PAR1":
            return (
                "truncated or corrupt Parquet: the file does not start with the Parquet marker PAR1 "
                f"(its first bytes are {head!r}; a CSV or another format saved as .parquet?)"
            )
        if tail != b"PAR1":
            return (
                "truncated or corrupt Parquet: the file ends without the Parquet footer, so it was cut short "
                "(an interrupted copy or download?); fetch or write it again"
            )
    return f"truncated or corrupt Parquet ({detail})"


def parquet_file(path: Path, **options: Any) -> Any:
    """A `pyarrow.parquet.ParquetFile` (footer read), or BadFileError saying how the file is damaged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "file is empty (0 bytes)")
    try:
        return pq.ParquetFile(path, **options)
    except (pa.ArrowException, OSError) as exc:
        problem = parquet_problem(path, exc)
    raise BadFileError(path, problem)


def parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return int(parquet_file(path).metadata.num_rows)


def parquet_columns(path: Path) -> list[str]:
    """Column names of a Parquet file, from its footer."""
    return list(parquet_file(path).schema_arrow.names)


def parquet_batches(path: Path, columns: list[str], batch_size: int, read_dictionary: list[str]) -> Iterator[Any]:
    """A Parquet file's record batches (only `columns`); a page damaged inside is told as BadFileError."""
    import pyarrow as pa

    handle = parquet_file(path, read_dictionary=read_dictionary)
    batches = handle.iter_batches(batch_size=batch_size, columns=columns, use_threads=True)
    while True:
        problem = None
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            problem = parquet_problem(path, exc)
        if problem is not None:  # raised outside the handler: the reader's exception is not kept as context
            raise BadFileError(path, problem)
        yield batch
