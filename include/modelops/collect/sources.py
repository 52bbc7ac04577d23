"""Data collection: read a dataset's sources, join them, and freeze the result as an immutable batch.

A batch is written once under `<workspace>/batches/<dataset>/<hash>/` with a manifest; tasks hand
each other the `BatchRef` (path + content hash), never the frame.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelops.collect.csv_files import header_hint
from modelops.collect.inputs import read_table
from modelops.collect.refusals import BadFileError, SourceError
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.core.rules import describe, rule_holds


@dataclass(frozen=True)
class BatchRef(XComRecord):
    """A collected, immutable batch: where it is and what it holds."""

    dataset: str
    path: str
    content_hash: str
    rows: int
    columns: list[str]
    source: dict[str, Any]
    join_report: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


def quarantine_file(dataset: str, error: BadFileError) -> Path:
    """Copy a bad source file to `<workspace>/quarantine/<dataset>/raw-<hash>/` with a note saying why."""
    path = error.path
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    target = catalog.quarantine_dir(dataset, f"raw-{digest.hexdigest()[:12]}")
    note = {
        "dataset": dataset,
        "file": str(path),
        "sha256": digest.hexdigest(),
        "bytes": path.stat().st_size,
        "problem": error.problem,
        "message": str(error),
        "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # The same bytes refused again replace the earlier copy: one copy, the newest note.
    with catalog.atomic_dir(target) as staging:
        shutil.copy2(path, staging / path.name)
        (staging / "note.txt").write_text(str(error) + "\n", encoding="utf-8")
        (staging / "note.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    return target


def _require_columns(frame: pd.DataFrame, spec: DatasetSpec, path: Path | None) -> None:
    """Refuse a main table holding none of the columns the batch keeps or joins on (e.g. a wrong delimiter)."""
    wanted = [*spec.kept_columns, *[j["key"] for j in spec.joins if j["key"] not in spec.kept_columns]]
    if set(wanted) & set(frame.columns):
        return
    missing = f"(missing: {', '.join(wanted)}); {header_hint(list(frame.columns), wanted)}"
    if path is not None:
        raise BadFileError(path, f"none of the configured columns is in it {missing}")
    raise SourceError(f"dataset {spec.name!r}: none of the configured columns is in the main source {missing}")


def sql_url_from_uri(uri: str) -> str:
    """SQLAlchemy URL from an Airflow connection URI (`postgres://` is not a SQLAlchemy dialect)."""
    for old, new in (("postgres://", "postgresql+psycopg2://"), ("postgresql://", "postgresql+psycopg2://")):
        if uri.startswith(old):
            return new + uri.removeprefix(old)
    return uri


def read_sql(url: str, query: str) -> pd.DataFrame:
    """Run a query against a SQLAlchemy URL and return the rows."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return pd.read_sql_query(sa.text(query), connection)
    finally:
        engine.dispose()


def _read_primary(spec: DatasetSpec, sample_rows: int | None, sql_url: str | None, path: str | None) -> pd.DataFrame:
    """The dataset's main table, from the configured source kind (or an explicit path)."""
    source = spec.source
    if path:
        return read_table(Path(path))
    kind = source["kind"]
    if kind == "file":
        return read_table(spec.resolve_path(source["path"]))
    if kind == "sql":
        if not sql_url:
            raise SourceError(
                f"dataset {spec.name!r}: a sql source needs a connection URL (conn_id {source.get('conn_id')!r})"
            )
        return read_sql(sql_url, source["query"])
    if kind in ("synthetic_voters", "synthetic_poll"):  # the same world; the poll's size is its own key
        from modelops.collect.world import generate_source

        voters = kind == "synthetic_voters"
        paths = generate_source(source, spec.raw_dir(), rows=sample_rows if voters else None)
        return pd.read_parquet(paths["voters" if voters else "polls"])
    raise SourceError(
        f"dataset {spec.name!r}: unknown source kind {kind!r} (file, sql, synthetic_voters, synthetic_poll)"
    )


def apply_filter(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """Keep the rows the spec's `source.filter` selects (main table, before sampling and joins)."""
    conditions = spec.row_filter
    if not conditions:
        return frame, None
    for i, cond in enumerate(conditions):
        if cond["column"] not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:30]))
            raise SourceError(
                f"dataset {spec.name!r}: source.filter[{i}] names column {cond['column']!r}, which the main "
                f"table does not have (its columns: {shown})"
            )
    keep = rule_holds(frame, conditions)
    report = {"rule": describe(conditions), "rows_before": len(frame), "rows_after": int(keep.sum())}
    return frame.loc[keep].reset_index(drop=True), report


def join_sources(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Left-join every configured side table; report unmatched and duplicated rows per join."""
    report: dict[str, Any] = {"source_rows": len(frame), "joins": []}
    for join in spec.joins:
        side = read_table(spec.resolve_path(join["path"]))
        key = join["key"]
        for name, table in (("main", frame), (join["path"], side)):
            if key not in table.columns:
                raise SourceError(f"join key {key!r} missing from {name} table of dataset {spec.name!r}")
        overlap = (set(side.columns) & set(frame.columns)) - {key}
        side = side.drop(columns=sorted(overlap))  # the main table wins on shared columns
        cast = str(frame[key].dtype) != str(side[key].dtype)
        if cast:  # e.g. a CSV extract read codes as integers: compare as text; misses show as unmatched
            frame = frame.assign(**{key: frame[key].astype(str)})
            side = side.assign(**{key: side[key].astype(str)})
        before = len(frame)
        frame = frame.merge(side, on=key, how="left", indicator="_match")
        report["joins"].append(
            {
                "path": join["path"],
                "key": key,
                "key_compared_as_text": cast,
                "columns": sorted(set(side.columns) - {key}),
                "unmatched_rows": int((frame["_match"] == "left_only").sum()),
                "added_rows": len(frame) - before,
            }
        )
        frame = frame.drop(columns="_match")
    report["joined_rows"] = len(frame)
    return frame, report


def content_hash(frame: pd.DataFrame) -> str:
    """Order-sensitive SHA-256 of a frame's columns, value types and values, as its Parquet copy reads back.

    Representations that a Parquet round trip changes hash alike: column names compare as text, text
    in `object` columns as the `str` dtype, numbers in `object` columns as numbers, categorical columns
    as their values, and a column mixing numbers and text as text (the way write_batch stores it).
    """
    canonical = _canonical(frame)
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in canonical.dtypes.items()]).encode())
    if len(canonical.columns):
        hashed = pd.util.hash_pandas_object(canonical, index=False).to_numpy()
        digest.update(np.ascontiguousarray(hashed).tobytes())
    return digest.hexdigest()


_ARROW_TYPED = {"integer", "floating", "mixed-integer-float", "datetime", "datetime64", "timedelta", "timedelta64"}


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with representation-only differences removed (see content_hash)."""
    columns = {}
    for i, (_, series) in enumerate(frame.items()):
        series = series.reset_index(drop=True)
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = pd.Series(np.asarray(series))
        if series.dtype == object:
            series = _canonical_object(series)
        elif pd.api.types.is_string_dtype(series.dtype) and series.dtype != "str":
            series = series.astype("str")  # the `string` dtypes (python or pyarrow storage) hash as `str`
        columns[i] = series
    canonical = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    canonical.columns = [str(c) for c in frame.columns]
    return canonical


def _canonical_object(series: pd.Series) -> pd.Series:
    """An `object` column as Parquet gives it back: text as `str`, numbers typed, a mix of both as text."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in {"string", "empty"}:
        return series.astype("str")
    if not _arrow_holds(series):
        return series.astype("str")
    if kind in _ARROW_TYPED:  # Parquet gives these back typed: 1, 2 as int64; 1, None as float64
        return pa.array(series, from_pandas=True).to_pandas()
    if kind == "mixed":  # lists or mappings (a SQL array, a JSON column): hash their JSON text
        return series.map(lambda v: json.dumps(_plain(v), sort_keys=True, default=str), na_action="ignore")
    return series


def _plain(value: Any) -> Any:
    """Containers as plain lists and dicts, whichever way they were read (numpy arrays after Parquet)."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def _arrow_holds(series: pd.Series) -> bool:
    """Whether Parquet can store an object column as it is (a mix of numbers and text cannot)."""
    try:
        pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return False
    return True


def _storable(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The frame as Parquet can hold it: text column names, and columns mixing numbers and text stored as text."""
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SourceError(f"the batch would hold duplicated column names {duplicated}")
    frame = frame.set_axis(names, axis=1)
    as_text = [n for n in names if frame[n].dtype == object and not _arrow_holds(frame[n])]
    if as_text:  # e.g. codes 1, 2 and "DK" in one column: kept as written, as text ("1", "2", "DK")
        frame = frame.assign(**{name: frame[name].astype("str") for name in as_text})
    return frame, as_text


def write_batch(
    frame: pd.DataFrame, spec: DatasetSpec, source: dict[str, Any], join_report: dict[str, Any]
) -> BatchRef:
    """Freeze a frame as an immutable batch; an identical batch already written is reused.

    The hash is taken from the Parquet file read back, so `load_batch` sees exactly what was hashed.
    """
    frame, as_text = _storable(frame)
    if as_text:
        join_report = {**join_report, "stored_as_text": as_text}
    buffer = io.BytesIO()  # hashed as read back, before its folder (named by the hash) exists
    try:
        frame.to_parquet(buffer, index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SourceError(f"dataset {spec.name!r}: the batch cannot be stored as Parquet ({exc})") from exc
    buffer.seek(0)
    stored = pd.read_parquet(buffer)
    digest = content_hash(stored)
    final = catalog.batch_dir(spec.name, digest)
    manifest_path = final / catalog.MANIFEST
    if manifest_path.exists():
        return BatchRef.from_xcom(catalog.read_json(manifest_path))
    ref = BatchRef(
        dataset=spec.name,
        path=str(final / catalog.BATCH_FILE),
        content_hash=digest,
        rows=len(stored),
        columns=list(stored.columns),
        source=source,
        join_report=join_report,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    # Readers see the whole batch or none of it; a concurrent writer of the same content wins.
    with catalog.atomic_dir(final, replace=False) as staging:
        (staging / catalog.BATCH_FILE).write_bytes(buffer.getbuffer())
        (staging / catalog.MANIFEST).write_text(json.dumps(ref.to_xcom(), indent=2))
    return ref


def _main_path(spec: DatasetSpec, path: str | None) -> Path | None:
    """The main source's file, when it is a file."""
    if path:
        return Path(path)
    if spec.source.get("kind") == "file":
        return spec.resolve_path(spec.source["path"])
    return None


def collect_batch(
    spec: DatasetSpec,
    sample_rows: int | None = None,
    seed: int = 0,
    sql_url: str | None = None,
    path: str | None = None,
    extra_paths: list[str] | None = None,
) -> BatchRef:
    """Read, join, sample and freeze a dataset's batch; PII and unused columns never reach it.

    `sample_rows` sets the generated size for synthetic sources and a seeded random sample for
    the others. `path` replaces the configured main source with a CSV/Parquet file. A file that
    cannot be used (unreadable, or without any configured column) raises BadFileError naming the
    problem, and a copy goes to `<workspace>/quarantine/<dataset>/raw-<hash>/` with a note.
    """
    try:
        frame, source, join_report = _collect(spec, sample_rows, seed, sql_url, path, extra_paths)
    except BadFileError as exc:
        if not exc.path.is_file():
            raise
        target = quarantine_file(spec.name, exc)
        raise BadFileError(exc.path, exc.problem, quarantined=target) from None
    return write_batch(frame, spec, source, join_report)


def _collect(
    spec: DatasetSpec,
    sample_rows: int | None,
    seed: int,
    sql_url: str | None,
    path: str | None,
    extra_paths: list[str] | None,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """The batch's frame, its source description and join report (collect_batch without the writing)."""
    frame = _read_primary(spec, sample_rows, sql_url, path)
    _require_columns(frame, spec, _main_path(spec, path))
    frame, filter_report = apply_filter(frame, spec)
    if sample_rows and spec.source["kind"] != "synthetic_voters" and len(frame) > sample_rows:
        frame = frame.sample(n=int(sample_rows), random_state=seed).sort_index()
    frame, join_report = join_sources(frame.reset_index(drop=True), spec)
    # Only configured roles are kept: PII and anything unlisted stay in the source system.
    kept = [c for c in spec.kept_columns if c in frame.columns]
    if not kept:
        raise SourceError(
            f"dataset {spec.name!r}: none of the configured columns ({', '.join(spec.kept_columns)}) is in the "
            "joined sources; nothing to keep"
        )
    join_report["dropped_columns"] = sorted(set(frame.columns) - set(kept))
    if filter_report:
        join_report["filter"] = filter_report
    frame = frame[kept]
    if extra_paths:  # recent labelled production windows, already in the batch's shape
        extras = [read_table(Path(p)) for p in extra_paths]
        for p, extra in zip(extra_paths, extras, strict=True):
            missing = [c for c in kept if c not in extra.columns]
            if len(missing) == len(kept):
                raise BadFileError(
                    Path(p),
                    f"none of the batch's columns is in it (missing: {', '.join(missing)}); "
                    f"{header_hint(list(extra.columns), kept)}",
                )
            if missing:
                raise BadFileError(Path(p), f"an extra batch lacks columns {missing}")
        # The population the filter defines holds for added batches too, where they carry its columns.
        filter_columns = {c["column"] for c in spec.row_filter}
        if filter_columns:
            checked = [all(c in e.columns for c in filter_columns) for e in extras]
            extras = [e.loc[rule_holds(e, spec.row_filter)] if ok else e for e, ok in zip(extras, checked, strict=True)]
            join_report["extra_filter"] = {
                "applied_to": [p for p, ok in zip(extra_paths, checked, strict=True) if ok],
                "not_applicable": [p for p, ok in zip(extra_paths, checked, strict=True) if not ok],
            }
        frame = pd.concat([frame, *[e[kept] for e in extras]], ignore_index=True)
        join_report["extra_rows"] = sum(len(e) for e in extras)
        join_report["source_rows"] = join_report["source_rows"] + join_report["extra_rows"]
    source = {
        **spec.source,
        **({"path": path} if path else {}),
        "sample_rows": sample_rows,
        "extra_batches": list(extra_paths or []),
    }
    return frame, source, join_report


def load_batch(ref: BatchRef | dict[str, Any]) -> pd.DataFrame:
    """Read a batch back, checking it is the one the hash names."""
    ref = BatchRef.from_xcom(ref) if isinstance(ref, dict) else ref
    frame = pd.read_parquet(ref.path)
    actual = content_hash(frame)
    if actual != ref.content_hash:
        raise SourceError(f"batch {ref.path} changed since collection (hash {actual[:16]} != {ref.content_hash[:16]})")
    return frame
