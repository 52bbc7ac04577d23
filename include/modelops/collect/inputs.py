"""Inputs that cannot hurt: where a file to read may lie, what it holds (kind, files, rows, columns), and reading it.

Every reader of a delivered file (training's collection, scoring's plan and streamed chunks, snapshot
registration, monitoring's windows) goes through here and the readers by format (`csv_files`,
`parquet_files`), so an unreadable file is told the same way everywhere.

Scoring reads files only under the dataset's production folder and the roots listed in
`scoring.input_roots`, by their resolved absolute path (symlinks followed, relative paths taken from
the workspace root, never the worker's working directory).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.collect.csv_files import csv_has_rows, csv_header, read_csv_file
from modelops.collect.file_formats import file_format, unsupported_format
from modelops.collect.parquet_files import parquet_columns, parquet_rows, read_parquet_file
from modelops.collect.refusals import BadFileError, InputMissing, InputRefused, SourceError
from modelops.config.checks import ConfigError
from modelops.core import catalog


def input_roots(dataset: str, options: dict[str, Any]) -> list[Path]:
    """The folders scoring may read: the dataset's production folder, then `scoring.input_roots` (resolved)."""
    configured = options.get("input_roots") or []
    if not isinstance(configured, list) or not all(isinstance(r, str) and r.strip() for r in configured):
        raise ConfigError(f"scoring.input_roots: expected a list of folder paths, got {configured!r}")
    roots = [catalog.production_dir(dataset)]
    for root in configured:
        path = Path(root)
        roots.append(path if path.is_absolute() else catalog.root() / path)
    return [r.resolve() for r in roots]


def resolve_input(given: str | Path, roots: list[Path]) -> Path:
    """The input's absolute path, symlinks followed (a relative one from the workspace root), if under a root."""
    text = str(given)
    path = Path(text)
    if not path.is_absolute():
        path = catalog.root() / path  # never the worker's working directory
    resolved = path.resolve()
    _require_under(resolved, roots, text)
    return resolved


def _require_under(resolved: Path, roots: list[Path], given: str) -> None:
    """Refuse a resolved path outside every root, naming the path as given and where it leads."""
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return
    climbs = " (its '..' climbs out of the folder it starts from)" if ".." in Path(given).parts else ""
    raise InputRefused(
        f"input {given!r} resolves to {resolved}{climbs}, outside the folders scoring reads from "
        f"({', '.join(str(r) for r in roots)}): put the file under the production folder or list its "
        "folder in scoring.input_roots"
    )


def locate(path: Path, roots: list[Path] | None = None) -> tuple[str, list[Path]]:
    """(kind, files) of an input: `parquet`, `csv` or `parquet_folder` (partitions sorted, hidden ones left out)."""
    if not path.exists():
        raise InputMissing(f"no input at {path}: it does not exist")
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.parquet") if not any(s.startswith(".") for s in p.parts[-2:]))
        if not found:
            raise InputMissing(f"the folder {path} holds no .parquet partitions")
        if roots is not None:  # a partition may be a symlink to a file elsewhere
            for part in found:
                _require_under(part.resolve(), roots, str(part))
        return "parquet_folder", found
    found_format = file_format(path)
    if found_format is None:
        raise InputRefused(unsupported_format(path))
    return found_format[0], [path]


def file_rows(kind: str, files: list[Path], where: Path) -> list[int | None]:
    """Rows per file (None for a CSV: known once read), refusing unreadable files and an input without rows."""
    if kind == "csv":
        (path,) = files
        csv_header(path)
        if not csv_has_rows(path):
            raise BadFileError(path, "the file holds a header and no rows: nothing to score")
        return [None]
    sizes = [parquet_rows(p) for p in files]
    if sum(sizes) == 0:
        if kind == "parquet":
            raise BadFileError(where, "the file holds 0 rows (a schema and no data): nothing to score")
        raise InputRefused(f"the folder {where} holds {len(files)} Parquet partitions and 0 rows: nothing to score")
    return list(sizes)


def columns_of(kind: str, path: Path) -> list[str]:
    """The column names of a CSV header or a Parquet schema (unreadable files diagnosed)."""
    return csv_header(path) if kind == "csv" else parquet_columns(path)


def read_table(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a CSV (UTF-8, plain or compressed) or Parquet file by its name (only `columns`, when given);
    BadFileError says why not."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"source file not found: {path}")
    found_format = file_format(path)
    if found_format is None:
        raise SourceError(f"unsupported file type: {unsupported_format(path)}")
    if path.is_file() and path.stat().st_size == 0:
        raise BadFileError(path, "file is empty (0 bytes)")
    wanted = None if columns is None else list(columns)
    if found_format[0] == "parquet":
        return read_parquet_file(path, wanted)
    return read_csv_file(path, wanted)
