"""Data collection: read a dataset's sources, join them, and freeze the result as an immutable batch.

A batch is written once under `<workspace>/batches/<dataset>/<hash>/` with a manifest; tasks hand
each other the `BatchRef` (path + content hash), never the frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.config import DatasetSpec, workspace_root


class SourceError(ValueError):
    """A source could not be read or joined as configured."""


@dataclass(frozen=True)
class BatchRef:
    """A collected, immutable batch: where it is and what it holds."""

    dataset: str
    path: str
    content_hash: str
    rows: int
    columns: list[str]
    source: dict[str, Any]
    join_report: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for XCom and manifests."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRef:
        """Inverse of to_dict."""
        return cls(**data)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, by its suffix."""
    if not path.exists():
        raise SourceError(f"source file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in {".csv", ".txt"}:
        return pd.read_csv(path)
    raise SourceError(f"unsupported file type {suffix!r} for {path} (use .csv or .parquet)")


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
    if kind == "synthetic_voters":
        from modelops.synthetic import CycleScenario, generate_voter_file

        scenarios = [
            CycleScenario(**s) if isinstance(s, dict) else CycleScenario(year=int(s)) for s in source["cycles"]
        ]
        paths = generate_voter_file(
            spec.raw_dir(),
            rows=int(sample_rows or source["rows"]),
            seed=int(source.get("seed", 0)),
            scenarios=scenarios,
            n_counties=int(source.get("counties", 40)),
        )
        return pd.read_parquet(paths["voters"])
    raise SourceError(f"dataset {spec.name!r}: unknown source kind {kind!r} (file, sql, synthetic_voters)")


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
    """Order-sensitive SHA-256 of a frame's columns, dtypes and values."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(np.ascontiguousarray(pd.util.hash_pandas_object(frame, index=False).to_numpy()).tobytes())
    return digest.hexdigest()


def write_batch(
    frame: pd.DataFrame, spec: DatasetSpec, source: dict[str, Any], join_report: dict[str, Any]
) -> BatchRef:
    """Freeze a frame as an immutable batch; an identical batch already written is reused."""
    digest = content_hash(frame)
    root = workspace_root() / "batches" / spec.name
    final = root / digest[:16]
    manifest_path = final / "manifest.json"
    if manifest_path.exists():
        return BatchRef.from_dict(json.loads(manifest_path.read_text()))
    ref = BatchRef(
        dataset=spec.name,
        path=str(final / "batch.parquet"),
        content_hash=digest,
        rows=len(frame),
        columns=list(frame.columns),
        source=source,
        join_report=join_report,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        frame.to_parquet(staging / "batch.parquet", index=False)
        (staging / "manifest.json").write_text(json.dumps(ref.to_dict(), indent=2))
        os.replace(staging, final)  # atomic: readers see the whole batch or none of it
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not manifest_path.exists():
            raise
    return ref


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
    the others. `path` replaces the configured main source with a CSV/Parquet file.
    """
    frame = _read_primary(spec, sample_rows, sql_url, path)
    if sample_rows and spec.source["kind"] != "synthetic_voters" and len(frame) > sample_rows:
        frame = frame.sample(n=int(sample_rows), random_state=seed).sort_index()
    frame, join_report = join_sources(frame.reset_index(drop=True), spec)
    # Only configured roles are kept: PII and anything unlisted stay in the source system.
    kept = [c for c in spec.kept_columns if c in frame.columns]
    join_report["dropped_columns"] = sorted(set(frame.columns) - set(kept))
    frame = frame[kept]
    if extra_paths:  # recent labelled production windows, already in the batch's shape
        extras = [read_table(Path(p)) for p in extra_paths]
        for p, extra in zip(extra_paths, extras, strict=True):
            missing = sorted(set(kept) - set(extra.columns))
            if missing:
                raise SourceError(f"extra batch {p} lacks columns {missing}")
        frame = pd.concat([frame, *[e[kept] for e in extras]], ignore_index=True)
        join_report["extra_rows"] = sum(len(e) for e in extras)
        join_report["source_rows"] = join_report["source_rows"] + join_report["extra_rows"]
    source = {
        **spec.source,
        **({"path": path} if path else {}),
        "sample_rows": sample_rows,
        "extra_batches": list(extra_paths or []),
    }
    return write_batch(frame, spec, source, join_report)


def load_batch(ref: BatchRef | dict[str, Any]) -> pd.DataFrame:
    """Read a batch back, checking it is the one the hash names."""
    ref = BatchRef.from_dict(ref) if isinstance(ref, dict) else ref
    frame = pd.read_parquet(ref.path)
    actual = content_hash(frame)
    if actual != ref.content_hash:
        raise SourceError(f"batch {ref.path} changed since collection (hash {actual[:16]} != {ref.content_hash[:16]})")
    return frame
