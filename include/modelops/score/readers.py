"""Reading the input in chunks: Parquet record batches, CSV blocks, a read-only SQL cursor."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.collect import csv_files, parquet_files, refusals, safe_sql
from modelops.score.plan import InputRefused, ScoringError, ScoringPlan


def _wanted_columns(plan: ScoringPlan) -> list[str]:
    """The input's columns scoring reads, by the input's own names (a population's, renamed as read)."""
    from modelops.core.rules import conditions

    checks = plan.checks
    new = checks.get("new_registrants") or {}
    extra = [checks["id_column"], checks["geography"], checks["canary_key"], *checks["protected"], new.get("column")]
    rule_columns = [c["column"] for c in conditions(plan.baseline["rule"])]
    wanted = [*checks["numeric"], *checks["categorical"], *rule_columns, *extra]
    renamed = checks.get("columns") or {}
    return list(dict.fromkeys(renamed.get(c, c) for c in wanted if c))


def iter_chunks(plan: ScoringPlan, group_index: int) -> Iterator[pd.DataFrame]:
    """The group's rows as DataFrames of at most `chunk_rows` rows (only the columns scoring uses), their
    columns by the model's names (a population's columns renamed per `scoring.population.columns`).

    An unreadable file (a ragged row, a byte that is not UTF-8, a damaged Parquet page) is refused
    with the file's name and the line, never a row's text.
    """
    back = {source: column for column, source in (plan.checks.get("columns") or {}).items()}
    with contextlib.closing(_source_chunks(plan, group_index)) as chunks:  # a SQL cursor closes with it
        for frame in chunks:
            yield frame.rename(columns=back) if back else frame


def _source_chunks(plan: ScoringPlan, group_index: int) -> Iterator[pd.DataFrame]:
    """The group's rows by the input's own column names."""
    chunk_rows = int(plan.options["chunk_rows"])
    wanted = _wanted_columns(plan)
    try:
        if plan.input_kind == "sql":
            yield from _sql_chunks(plan, chunk_rows, wanted)
            return
        for name in plan.groups[group_index]:
            path = Path(name)
            if plan.input_kind == "csv":
                yield from _csv_chunks(path, chunk_rows, wanted, plan.checks)
                continue
            schema = parquet_files.parquet_file(path).schema_arrow
            present = [c for c in wanted if c in schema.names]
            coded = _dictionary_columns(plan.checks, schema, present)
            for batch in parquet_files.parquet_batches(path, present, chunk_rows, coded):
                yield _batch_frame(batch, coded)
    except InputRefused:
        raise
    except refusals.InputRefused as exc:  # a file refused as it was read: a scoring refusal, never retried
        raise InputRefused(str(exc)) from None


def _dictionary_columns(checks: dict[str, Any], schema: Any, present: list[str]) -> list[str]:
    """Text columns read as Arrow dictionaries: the categorical features and the slice columns (few values)."""
    import pyarrow as pa

    renamed = checks.get("columns") or {}
    few_values = [renamed.get(c, c) for c in (*checks["categorical"], *checks["protected"], checks.get("geography"))]
    keys = {checks["id_column"], checks.get("canary_key")}
    return [
        c
        for c in present
        if c in few_values
        and c not in keys
        and (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))
    ]


def _batch_frame(batch: Any, coded: list[str]) -> pd.DataFrame:
    """A record batch as a DataFrame; dictionary columns become pandas categoricals (codes, no text per row)."""
    import pyarrow.compute as pc

    plain = [c for c in batch.schema.names if c not in coded]
    frame = batch.select(plain).to_pandas() if plain else pd.DataFrame(index=pd.RangeIndex(batch.num_rows))
    for column in coded:
        array = batch.column(column)
        try:
            codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False)
            values = pd.Categorical.from_codes(codes, categories=pd.Index(array.dictionary.to_pylist(), dtype=object))
        except (ValueError, AttributeError):  # a dictionary with repeats or nulls: decode it
            values = array.dictionary_decode().to_pandas() if hasattr(array, "dictionary_decode") else array.to_pandas()
        frame[column] = values
    return frame[list(batch.schema.names)]


def _csv_chunks(path: Path, chunk_rows: int, wanted: list[str], checks: dict[str, Any]) -> Iterator[pd.DataFrame]:
    """CSV blocks read as text, so a stray value never breaks type inference of a later block."""
    header = csv_files.csv_header(path)
    present = [c for c in wanted if c in header]
    if checks["id_column"] and checks["id_column"] not in header:
        raise InputRefused(f"input {path} has no id column {checks['id_column']!r}")
    block_size = max(1 << 20, min(chunk_rows * 160, 1 << 30))
    rows = 0
    # Arrow reads every column when none is named: read the first one and keep none of it
    for batch in csv_files.csv_batches(path, present or header[:1], block_size):
        frame = batch.to_pandas()[present]
        rows += len(frame)
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows].reset_index(drop=True)
    if rows == 0:
        raise InputRefused(f"cannot use {path}: the file holds a header and no rows: nothing to score")


def _sql_chunks(plan: ScoringPlan, chunk_rows: int, wanted: list[str]) -> Iterator[pd.DataFrame]:
    """Rows of the query, read-only, through a server-side cursor, `chunk_rows` at a time."""
    if not plan.query or not plan.sql_url:
        raise InputRefused("a SQL input needs a query and a connection")
    id_column = plan.checks["id_column"]
    rows = 0
    try:
        for keys, records in safe_sql.query_rows(plan.sql_url, plan.query, chunk_rows, plan.options.get("sql_role")):
            if id_column and id_column not in keys:
                raise InputRefused(f"the query's rows have no id column {id_column!r}; its columns: {keys}")
            rows += len(records)
            yield pd.DataFrame.from_records(records, columns=keys)[[c for c in wanted if c in keys]]
    except refusals.QueryFailed as exc:  # the connection, not the query: worth a retry
        raise ScoringError(str(exc)) from None
    if rows == 0:
        raise InputRefused("the query returned no rows: nothing to score")
