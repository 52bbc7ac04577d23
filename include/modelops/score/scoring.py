"""Batch scoring of a snapshot: streamed in chunks, rows in = rows out, shadow and canary, atomic commit.

Flow: `plan_scoring` resolves everything a run needs once (the input and its partition groups, the
exact model version behind the alias, the challenger's version, the baseline's rates, the input
checks compiled from the spec) into a small frozen `ScoringPlan`; `score_group` streams one group
of files chunk by chunk (Arrow record batches, so memory stays flat) and writes one part file to
the snapshot's staging area; `commit_scoring` publishes every part and the manifest in one folder
swap, checks rows in == rows out, reports the shadow agreement, logs an MLflow run and optionally
loads the rows into PostgreSQL. `score_snapshot` chains the three in one process.

Every input row leaves with exactly one prediction (`row` is its position in the snapshot):
- `source = model`: the served model scored it;
- `source = fallback`: the rule-based baseline scored it, `reason` says why (a required value is
  missing, a number is out of range, infinite or not a number, a code is not allowed, too many
  categories unseen at training, the chunk's scores look unlike the reference, the model could
  not be loaded or returned no score);
- `source = canary`: a stable-hash share of rows decided by the challenger.
Missing values are never filled here: the checks decide from the spec which rows fall back, and
the model's own imputation handles the missing values the spec allows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from modelops.collect import csv_files, file_formats, inputs, parquet_files, refusals, safe_sql
from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.tags import Tag

MODEL, FALLBACK, CANARY = "model", "fallback", "canary"
SOURCES = (MODEL, FALLBACK, CANARY)
DECILES = 10
TOP_GEOGRAPHIES = 25  # the HTML lists the geographies that differ most; the JSON keeps them all
_T = TypeVar("_T")
_CANARY_SALT = 0x5851F42D4C957F2D
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

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
    "scored_at": "timestamptz",
}


class ScoringError(RuntimeError):
    """A scoring run cannot go on (bad input, missing model version, broken invariant)."""


class InputRefused(ScoringError, refusals.InputRefused):
    """The input is refused for what it is (bad SQL, path, file, ids, no rows): deterministic, retrying cannot help."""


class RowCountError(ScoringError):
    """Rows in != rows out: something was lost or duplicated; nothing is committed."""


@dataclass(frozen=True)
class ScoringPlan:
    """Everything one scoring run needs, resolved once (JSON-able for XCom via to_dict/from_dict)."""

    dataset: str
    snapshot: str
    alias: str
    model_name: str
    version: str
    run_id: str
    input_kind: str  # parquet | csv | parquet_folder | sql
    input: str | None
    groups: tuple[tuple[str, ...], ...]
    group_rows: tuple[int | None, ...]
    baseline: dict[str, Any]
    checks: dict[str, Any]
    options: dict[str, Any]
    scored_at: str
    config_digest: str = ""
    challenger_version: str | None = None
    challenger_run_id: str | None = None
    query: str | None = None
    sql_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    alias_drift: str | None = None  # the champion moved outside the DAGs (alias_log.AliasDrift.line): alerts

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringPlan:
        """Rebuild a plan from `to_dict` output."""
        body = dict(data)
        body["groups"] = tuple(tuple(g) for g in body["groups"])
        body["group_rows"] = tuple(body["group_rows"])
        body["notes"] = tuple(body.get("notes") or ())
        return cls(**body)

    def offset(self, group_index: int) -> int:
        """Position in the snapshot of the group's first row (groups of unknown size are alone)."""
        return int(sum(r or 0 for r in self.group_rows[:group_index]))

    @property
    def shadow(self) -> bool:
        """Whether the challenger scores the rows beside the served model."""
        return self.challenger_version is not None and bool(self.options.get("shadow"))

    @property
    def canary_share(self) -> float:
        """Share of rows the challenger decides (0 without a challenger)."""
        return float(self.options.get("canary_share") or 0.0) if self.challenger_version is not None else 0.0


# --- planning ----------------------------------------------------------------------------------


def compile_checks(spec: DatasetSpec) -> dict[str, Any]:
    """The per-row input checks of a spec: required features, ranges, allowed codes (plain data)."""
    rules = spec.validation
    features = spec.features
    return {
        "id_column": spec.id_column,
        "numeric": list(spec.numeric),
        "categorical": list(spec.categorical),
        # the validation suite allows no missing value in these columns: a row lacking one falls back
        "required": [c for c in features if spec.null_limit(c)[0] == 0.0],
        "ranges": {c: list(b) for c, b in (rules.ranges or {}).items() if c in features},
        "categories": {c: list(v) for c, v in (rules.categories or {}).items() if c in features},
        "protected": {c: bins for c, bins in spec.protected.items()},
        "geography": spec.geography,
        "canary_key": spec.canary_key,
    }


def _split_groups(files: list[Path], rows: list[int], groups: int) -> list[list[int]]:
    """Contiguous groups of file indices with about the same number of rows each (none empty)."""
    groups = max(1, min(groups, len(files)))
    total = sum(rows)
    out: list[list[int]] = [[] for _ in range(groups)]
    done = 0
    for i, n in enumerate(rows):
        target = min(groups - 1, int(done * groups / total)) if total else i * groups // len(files)
        out[target].append(i)
        done += n
    return [g for g in out if g]


def plan_scoring(
    spec: DatasetSpec,
    settings: Settings,
    input: str | None = None,
    snapshot: str | None = None,
    alias: str = "champion",
    sql_url: str | None = None,
    query: str | None = None,
    groups: int | None = None,
) -> ScoringPlan:
    """Resolve input, snapshot id, model versions, baseline and partition groups for one run.

    An input that cannot be scored (a path outside the roots, SQL other than one SELECT/WITH, an
    unreadable or empty file, no id column, a bad snapshot id) is refused with InputRefused.
    """
    from modelops.store import alias_log, artifacts, registry

    # the dataset's own scoring options, and the share of fallback rows above which the run alerts
    fallback_share = settings.monitoring.fallback_share  # as monitoring
    options = {**settings.scoring_for(spec.name).model_dump(), "fallback_share": float(fallback_share)}
    # Every refusal of the input is decided here, before any model is looked up, and is deterministic.
    try:
        if query:
            safe_sql.check_query(query)
            if not sql_url:
                raise InputRefused("a SQL query needs a connection (sql_url)")
            safe_sql.check_sql_url(sql_url)
            kind, where, files = "sql", None, [[]]
            snapshot = snapshot or f"sql-{hashlib.sha256(query.encode()).hexdigest()[:12]}"
            rows: list[int | None] = [None]
        else:
            if input is None and snapshot is None:
                raise InputRefused("give an input (file or folder) or a snapshot id to score")
            roots = inputs.input_roots(spec.name, options)
            given = input or str(catalog.snapshot_inputs(spec.name, str(snapshot)))
            path = inputs.resolve_input(given, roots)  # absolute, symlinks followed, under a root
            kind, found = inputs.locate(path, roots)
            sizes = inputs.file_rows(kind, found, path)  # unreadable files and 0 rows refused here
            if kind == "parquet_folder":
                split = _split_groups(found, [int(n or 0) for n in sizes], groups or int(options["partition_groups"]))
                files = [[str(found[i]) for i in g] for g in split]
                rows = [sum(int(sizes[i] or 0) for i in g) for g in split]
            else:
                files, rows = [[str(path)]], sizes
            where = str(path)
            snapshot = snapshot or file_formats.input_stem(path)
            _check_columns(spec, inputs.columns_of(kind, found[0]), where)
        snapshot = catalog.safe_id(str(snapshot), "snapshot id")
    except InputRefused:
        raise
    except (refusals.InputRefused, ValueError) as exc:  # a bad file, path, query or snapshot id
        raise InputRefused(str(exc)) from None
    served = registry.version_by_alias(spec.model_name, alias)
    # "which model served on date D" has one answer, the alias history: a champion moved behind its back
    # (MLflow UI, REST, a client) is never served; the recorded (approved) version serves and the run alerts
    drift = alias_log.alias_drift(spec.model_name) if alias == registry.CHAMPION else None
    if drift is not None:
        recorded = None
        if drift.recorded_version is not None:
            recorded = registry.model_version(spec.model_name, drift.recorded_version)
        if recorded is None:
            raise ScoringError(f"{drift.line()}; no recorded version to serve instead, nothing was scored")
        served = recorded
    if served is None:
        raise ScoringError(f"no version of {spec.model_name} holds the alias {alias!r}: nothing to score with")
    version = str(served.version)
    scored_at = datetime.now(UTC)
    baseline = artifacts.load_baseline(spec.model_name, version, served.run_id)
    notes: list[str] = []
    challenger_version = challenger_run = None
    wants_challenger = bool(options["shadow"]) or float(options["canary_share"]) > 0
    if wants_challenger and alias != registry.CHALLENGER:
        challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
        if challenger is not None and str(challenger.version) != version:
            challenger_version, challenger_run = str(challenger.version), challenger.run_id
        else:
            notes.append("no challenger distinct from the served version: no shadow, no canary")
    if float(options["canary_share"]) > 0 and not spec.canary_key:
        raise ScoringError(f"dataset {spec.name!r}: canary_share is set but no scoring.canary_key (and no id column)")
    if challenger_version is not None and options["shadow"] and _sample_is_rows(options):
        # "about N rows" needs the input's size: a Parquet footer knows it; a CSV's lines and a query's count
        # are counted now (the query under the same read-only guard)
        known = None if any(r is None for r in rows) else sum(int(r) for r in rows)
        options["input_rows"] = known if known is not None else _count_rows(kind, files, query, sql_url, options)
    return ScoringPlan(
        dataset=spec.name,
        snapshot=snapshot,
        alias=alias,
        model_name=spec.model_name,
        version=version,
        run_id=served.run_id,
        input_kind=kind,
        input=where,
        groups=tuple(tuple(g) for g in files),
        group_rows=tuple(rows),
        baseline=baseline,
        checks=compile_checks(spec),
        options=options,
        scored_at=scored_at.isoformat(timespec="microseconds"),
        config_digest=settings.digest_for(spec.name),
        challenger_version=challenger_version,
        challenger_run_id=challenger_run,
        query=query,
        sql_url=sql_url,
        notes=tuple(notes),
        alias_drift=None if drift is None else f"{drift.line()}; this run served the recorded v{version}",
    )


def _check_columns(spec: DatasetSpec, columns: list[str], where: str) -> None:
    """Refuse an input without the id column (predictions could not go back) or without any of the model's columns."""
    if spec.id_column and spec.id_column not in columns:
        raise InputRefused(
            f"input {where} has no id column {spec.id_column!r}: predictions could not be joined back; "
            + csv_files.header_hint(columns, [spec.id_column, *spec.features])
        )
    features = [*spec.numeric, *spec.categorical]
    if features and not set(features) & set(columns):
        shown = ", ".join(features[:10]) + (", ..." if len(features) > 10 else "")
        hint = csv_files.header_hint(columns, [*filter(None, [spec.id_column]), *features])
        raise InputRefused(f"input {where} holds none of the model's columns ({shown}); {hint}")


# --- reading chunks ----------------------------------------------------------------------------


def _wanted_columns(plan: ScoringPlan) -> list[str]:
    checks = plan.checks
    extra = [checks["id_column"], checks["geography"], checks["canary_key"], *checks["protected"]]
    rule_columns = [c["column"] for c in _conditions(plan.baseline["rule"])]
    wanted = [*checks["numeric"], *checks["categorical"], *rule_columns, *extra]
    return list(dict.fromkeys(c for c in wanted if c))


def _conditions(rule: Any) -> list[dict[str, Any]]:
    from modelops.core.rules import conditions

    return conditions(rule)


def iter_chunks(plan: ScoringPlan, group_index: int) -> Iterator[pd.DataFrame]:
    """The group's rows as DataFrames of at most `chunk_rows` rows (only the columns scoring uses).

    An unreadable file (a ragged row, a byte that is not UTF-8, a damaged Parquet page) is refused
    with the file's name and the line, never a row's text.
    """
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

    few_values = [*checks["categorical"], *checks["protected"], checks.get("geography")]
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


# --- checks ------------------------------------------------------------------------------------


class _Reasons:
    """Reason strings of one group, coded as small integers per row (0 = no reason)."""

    def __init__(self) -> None:
        import threading

        self.names: list[str | None] = [None]
        self.codes: dict[str, int] = {}
        self.failed: dict[str, int] = {}  # rows failing each check, first failure or not (a pattern's columns)
        self.lock = threading.Lock()  # the checks run on the reader thread, the score guard on the main one

    def code(self, reason: str) -> int:
        with self.lock:
            if reason not in self.codes:
                self.codes[reason] = len(self.names)
                self.names.append(reason)
            return self.codes[reason]

    def mark(self, reasons: np.ndarray, mask: np.ndarray, reason: str) -> None:
        """Give `reason` to the rows of `mask` that have none yet (the first failed check is the reason)."""
        if not mask.any():  # the usual case: one pass, no temporaries
            return
        with self.lock:
            self.failed[reason] = self.failed.get(reason, 0) + int(mask.sum())
        hit = mask & (reasons == 0)
        if hit.any():
            reasons[hit] = self.code(reason)


def _factorize(series: pd.Series) -> tuple[np.ndarray, Any]:
    """(codes per row, -1 = missing; the distinct values): a categorical's own codes, else pd.factorize.

    A categorical may declare values no row holds; callers only gather per-value results by code.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.cat.codes, dtype=np.intp), series.cat.categories
    return pd.factorize(series)


def _blank(series: pd.Series) -> np.ndarray:
    """Missing, or text that is empty once spaces are stripped."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        codes, uniques = _factorize(series)  # strip only the distinct values
        blank_unique = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [False], dtype=bool)
        missing |= blank_unique[codes]
    return missing


def _as_numbers(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(the column as float64, rows holding something that is no number); blanks stay missing."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    blank = _blank(series)
    codes, uniques = _factorize(series)
    parsed_unique = pd.to_numeric(pd.Series(uniques, dtype=object).str.strip(), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    parsed = np.append(parsed_unique, np.nan)[codes]
    return pd.Series(parsed, index=series.index), np.isnan(parsed) & ~blank


def _label_set(values: list[Any]) -> set[str]:
    from modelops.stats.drift import category_label

    return {category_label(v) for v in values}


def _labels_of_uniques(series: pd.Series) -> tuple[np.ndarray, np.ndarray, Any]:
    """(codes per row (-1 = missing), label per distinct value, the distinct values); 1, 1.0 and "1" share a label."""
    from modelops.stats.drift import category_label

    codes, uniques = _factorize(series)
    labels = np.array([category_label(u) for u in uniques], dtype=object)
    return codes, labels, uniques


@dataclass
class _Model:
    """A loaded pipeline with what the checks need: input dtypes and the categories it learned."""

    pipeline: Any
    known: dict[str, set[str]]
    numeric_codes: set[str]  # categorical columns the model learned as numbers
    score_profile: dict[str, Any] | None
    version: str = ""
    compiled: _Compiled | None = None
    fast: bool | None = None  # the compiled path agrees with the pipeline (None: not yet checked)
    max_diff: float | None = None  # its largest difference on the first chunk
    note: str | None = None  # why the plain path is used


def _load_model(plan: ScoringPlan, version: str, run_id: str) -> _Model:
    from modelops.store import artifacts

    pipeline = artifacts.load_model(f"models:/{plan.model_name}/{version}")
    known: dict[str, set[str]] = {}
    numeric_codes: set[str] = set()
    try:
        encoder = pipeline.named_steps["features"].named_transformers_["categorical"]
        for column, cats in zip(plan.checks["categorical"], encoder.categories_, strict=True):
            known[column] = _label_set([c for c in cats if not _missing_scalar(c)])
            if np.issubdtype(np.asarray(cats).dtype, np.number):
                numeric_codes.add(column)
    except (AttributeError, KeyError, ValueError):  # another pipeline shape: no unseen-category check
        known = {}
    try:
        profile = artifacts.load_profile(run_id)["score"]
    except Exception:
        profile = None
    return _Model(
        pipeline=pipeline,
        known=known,
        numeric_codes=numeric_codes,
        score_profile=profile,
        version=version,
        compiled=_compile(pipeline, plan.checks),
    )


def _missing_scalar(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def check_chunk(
    frame: pd.DataFrame,
    plan: ScoringPlan,
    model: _Model | None,
    reasons: _Reasons,
    factors: dict[str, tuple[np.ndarray, Any]] | None = None,
    codes: np.ndarray | None = None,
) -> Any:
    """(the model's input frame, a reason code per row (0 = passes), chunk-level alerts).

    With `codes` (reason codes earlier checks already set), those are updated in place and only
    (input frame, alerts) is returned.

    `factors`, when given, receives each categorical column's (codes, distinct values) of the frame
    handed to the model, so the fast path encodes the distinct values without factorizing again.

    Never fills a missing value: a missing required value is a reason; an allowed one stays missing
    for the model's own imputation. Text in a numeric column is read by value ("3" is 3) or, when
    it is no number, is a reason.
    """
    checks = plan.checks
    n = len(frame)
    given = codes is not None
    codes = codes if given else np.zeros(n, dtype=np.int16)
    alerts: list[str] = []
    features = [*checks["numeric"], *checks["categorical"]]
    absent = [c for c in features if c not in frame.columns]
    X = {}
    for column in absent:
        reasons.mark(codes, np.ones(n, dtype=bool), f"missing_column:{column}")
    if absent:
        alerts.append(f"input lacks feature columns {absent}: those rows fell back")
    required = set(checks["required"])
    for column in checks["numeric"]:
        if column in absent:
            continue
        values, not_number = _as_numbers(frame[column])
        x = values.to_numpy(dtype="float64", na_value=np.nan)
        if column in required:
            reasons.mark(codes, np.isnan(x) & ~not_number, f"missing:{column}")
        reasons.mark(codes, not_number, f"not_a_number:{column}")
        reasons.mark(codes, np.isinf(x), f"non_finite:{column}")
        if column in checks["ranges"]:
            low, high = checks["ranges"][column]
            with np.errstate(invalid="ignore"):
                outside = np.zeros(n, dtype=bool)
                if low is not None:
                    outside |= x < low
                if high is not None:
                    outside |= x > high
            reasons.mark(codes, outside & np.isfinite(x), f"out_of_range:{column}")
        X[column] = values
    share = float(plan.options["unseen_category_share"])
    for column in checks["categorical"]:
        if column in absent:
            continue
        series = frame[column]
        blank = _blank(series)
        if model is not None and column in model.numeric_codes and not pd.api.types.is_numeric_dtype(series):
            series, not_number = _as_numbers(series)  # CSV text of a code the model learned as a number
            reasons.mark(codes, not_number, f"not_allowed:{column}")
        elif blank.any():
            # blank text is a missing value, as validation reads it; and every missing value is NaN (a SQL
            # chunk's None is another category to the encoder: all zeros where NaN is the learned missing)
            series = series.where(~blank)
        if column in required:
            reasons.mark(codes, blank, f"missing:{column}")
        row_codes, labels, uniques = _labels_of_uniques(series)
        if factors is not None:
            factors[column] = (row_codes, uniques)
        if column in checks["categories"]:
            allowed = _label_set(checks["categories"][column])
            bad = np.array([label not in allowed for label in labels] + [False], dtype=bool)
            reasons.mark(codes, bad[row_codes], f"not_allowed:{column}")
        if model is not None and column in model.known:
            unseen_u = np.array([label not in model.known[column] for label in labels] + [False], dtype=bool)
            unseen = unseen_u[row_codes] & (codes == 0)
            if unseen.any() and unseen.mean() > share:
                reasons.mark(codes, unseen, f"unseen_category:{column}")
                alerts.append(
                    f"{int(unseen.sum())} rows ({unseen.mean():.1%}) with categories of {column!r} the model never "
                    f"saw, above the tolerated {share:.1%}: they fell back"
                )
        X[column] = series
    X_frame = pd.DataFrame(X, index=frame.index, copy=False)  # no consolidating copy of the columns
    return (X_frame, alerts) if given else (X_frame, codes, alerts)


# --- ids: missing and repeated ------------------------------------------------------------------

_SHADOW_SALT = 0x2545F4914F6CDD1D
_NUMBER_TEXT = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"  # text read as a number for the id hash ("7" is 7)


def id_hashes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 per row, missing per row): equal ids hash alike whatever the dtype (7, 7.0 and "7").

    A whole number hashes as an integer (exact at any size: ids beyond float64's 2^53 stay distinct),
    other numbers as floats, other text as its stripped text; text of a whole number above 18 digits
    and integers of 19 digits hash as their decimal text, so a long id reads alike as text or number.
    Vectorised for the scoring loop; a 64-bit hash, so two distinct ids of one snapshot collide with a
    chance of about rows^2 / 2^65 (3e-6 at 10M rows).
    """
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        values = series.to_numpy(dtype=np.int64)
        return _integer_hash(values), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(series) or (
        pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)
    ):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        return _number_hash(np.where(missing, 0.0, values)), missing
    text = series.astype("str").str.strip()
    missing = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
    filled = text.where(~missing, "")
    hashed = pd.util.hash_array(filled.to_numpy(dtype=object), categorize=False)
    whole = filled.str.fullmatch(_WHOLE_TEXT).to_numpy(dtype=bool, na_value=False)
    if whole.any():
        hashed[whole] = _integer_hash(filled[whole].astype("int64").to_numpy())
    number = filled.str.fullmatch(_NUMBER_TEXT).to_numpy(dtype=bool, na_value=False) & ~whole
    if number.any():
        parsed = pd.to_numeric(filled[number]).to_numpy(dtype="float64")
        long_whole = filled[number].str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool, na_value=False)
        hashed_number = _number_hash(parsed)
        hashed_number[long_whole] = hashed[number][long_whole]  # 19+ digits: its text, exact
        hashed[number] = hashed_number
    return hashed, missing


_WHOLE_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"  # a whole number int64 holds exactly as text
_EXACT_FLOAT = float(1 << 53)


def _integer_hash(values: np.ndarray) -> np.ndarray:
    """Hash of whole numbers (int64): 19-digit ones as their decimal text, like the same id read as text."""
    hashed = pd.util.hash_array(values.astype(np.int64), categorize=False)
    long = np.abs(values) >= 10**18
    if long.any():
        hashed[long] = pd.util.hash_array(values[long].astype(str).astype(object), categorize=False)
    return hashed


def _number_hash(values: np.ndarray) -> np.ndarray:
    """Hash of float64 numbers: whole ones (exactly representable) as integers, the rest as floats."""
    from modelops.train.splits import float_hash

    whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < _EXACT_FLOAT)
    hashed = float_hash(values)
    if whole.any():
        hashed[whole] = _integer_hash(values[whole].astype(np.int64))
    return hashed


def unit_interval(hashes: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per hash, the same for the same hash and salt."""
    mixed = pd.util.hash_array(hashes ^ np.uint64(salt), categorize=False)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class SeenIds:
    """The ids met so far in row order, as sorted runs of hashes merged like a binary counter.

    `repeats` marks each row whose id an earlier row (this chunk or a previous one) already held:
    the first occurrence is served, every later one falls back (reason duplicate_id).
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def add(self, hashes: np.ndarray) -> None:
        """Remember ids without judging them (the rows of earlier partition groups)."""
        if len(hashes):
            ordered = np.sort(hashes)
            keep = np.ones(len(ordered), dtype=bool)
            keep[1:] = ordered[1:] != ordered[:-1]
            self._push(ordered[keep])  # runs stay disjoint: later pushes hold only ids met for the first time

    def repeats(self, hashes: np.ndarray) -> np.ndarray:
        """Per row: was its id met before (earlier in the chunk, or in an earlier chunk or group)?"""
        n = len(hashes)
        if n == 0:
            return np.zeros(0, dtype=bool)
        order = np.argsort(hashes, kind="stable")  # equal ids keep their row order: the first one wins
        ordered = hashes[order]
        later = np.zeros(n, dtype=bool)
        later[1:] = ordered[1:] == ordered[:-1]
        met = later.copy()
        for run in self.runs:  # sorted queries walk each run once (numpy bounds each search by the last)
            at = np.minimum(np.searchsorted(run, ordered), len(run) - 1)
            met |= run[at] == ordered
        seen = np.empty(n, dtype=bool)
        seen[order] = met
        self._push(ordered[~met])
        return seen

    def _push(self, run: np.ndarray) -> None:
        if not len(run):  # nothing new (every id met before): an empty run would break the searches
            return
        self.runs.append(run)
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            top = self.runs.pop()
            # two sorted, disjoint runs: a stable sort merges them in linear time (np.unique hashes: 30x slower)
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], top]), kind="stable")


def _earlier_ids(plan: ScoringPlan, group_index: int) -> np.ndarray:
    """The id hashes of the partition groups before this one (a repeat across groups falls back too)."""
    id_column = plan.checks["id_column"]
    if not id_column or group_index == 0 or plan.input_kind not in ("parquet", "parquet_folder"):
        return np.zeros(0, dtype=np.uint64)
    import pyarrow.parquet as pq

    found = []
    for name in (f for group in plan.groups[:group_index] for f in group):
        column = pq.read_table(name, columns=[id_column]).column(0).to_pandas()
        hashes, missing = id_hashes(column)
        found.append(hashes[~missing])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)


def _id_checks(
    frame: pd.DataFrame, id_column: str | None, seen: SeenIds, codes: np.ndarray, reasons: _Reasons
) -> np.ndarray | None:
    """Mark rows without an id (missing_id) or with an id met before (duplicate_id); the id hashes, or None."""
    if not id_column or id_column not in frame:
        return None
    hashes, missing = id_hashes(frame[id_column])
    reasons.mark(codes, missing, "missing_id")
    repeated = np.zeros(len(frame), dtype=bool)
    present = ~missing
    repeated[present] = seen.repeats(hashes[present])
    reasons.mark(codes, repeated, "duplicate_id")
    return hashes


def _sample_is_rows(options: dict[str, Any]) -> bool:
    """Whether `shadow_sample` is a number of rows (a whole number >= 2) rather than a share (0 < x <= 1)."""
    value = options["shadow_sample"]
    return isinstance(value, int) and not isinstance(value, bool)


def _count_rows(kind: str, files: list[list[str]], query: str | None, sql_url: str | None, options: dict) -> int:
    """The rows of a CSV (its line breaks, less the header: a quoted line break counts once more) or of a query."""
    if kind == "sql":
        counted = f"SELECT count(*) AS n FROM ({safe_sql.check_query(query or '')}) AS modelops_rows"
        (_, rows), *_ = safe_sql.query_rows(str(sql_url), counted, 1, options.get("sql_role"))
        return int(rows[0][0])
    return sum(csv_files.csv_line_rows(Path(name)) for group in files for name in group)


def shadow_share(plan: ScoringPlan) -> float | None:
    """The share of rows shadowed: 1 when the input is known to hold at most `shadow_all_below` rows, else
    `shadow_sample` (a share, or N rows / the input's rows); None when a share-configured input's size is
    unknown until read (CSV, SQL: decided as rows arrive)."""
    rows = plan.options.get("input_rows")
    if rows is None and not any(r is None for r in plan.group_rows):
        rows = sum(int(r) for r in plan.group_rows)
    if rows is None:
        return None
    if rows <= int(plan.options["shadow_all_below"]):
        return 1.0
    if _sample_is_rows(plan.options):
        return min(1.0, int(plan.options["shadow_sample"]) / rows)
    return float(plan.options["shadow_sample"])


# --- scoring one group -------------------------------------------------------------------------


def _baseline_scores(frame: pd.DataFrame, baseline: dict[str, Any]) -> np.ndarray:
    """The rule-based baseline's probability per row (the rule never holds on a missing value)."""
    from modelops.core.rules import rule_holds

    present = frame.copy()
    for cond in _conditions(baseline["rule"]):
        if cond["column"] not in present:
            present[cond["column"]] = np.nan  # a column the input lacks: the condition cannot hold
    return np.where(
        rule_holds(present, baseline["rule"]), float(baseline["rate_if_true"]), float(baseline["rate_if_false"])
    )


def canary_mask(values: pd.Series, share: float) -> np.ndarray:
    """Rows whose key hashes below `share`: the same key is always on the same side."""
    from modelops.train.splits import column_hash

    if share <= 0:
        return np.zeros(len(values), dtype=bool)
    mixed = pd.util.hash_array(column_hash(values) ^ np.uint64(_CANARY_SALT), categorize=False)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53) < share


def _decile_edges(profile: dict[str, Any] | None) -> np.ndarray | None:
    """The reference score's nine decile edges, read off the profile's quantile grid."""
    if not profile or not profile.get("edges"):
        return None
    edges, cdf = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    idx = np.minimum(np.searchsorted(cdf, np.linspace(0.1, 0.9, DECILES - 1)), len(edges) - 1)
    return edges[idx]


class _Agreement:
    """Mergeable shadow statistics of one group (sums and counts only)."""

    def __init__(self) -> None:
        self.n = 0
        self.eligible = 0  # rows both models could have scored (the sample is drawn from them)
        self.sums = np.zeros(5)  # x, y, xx, yy, xy
        self.deciles = np.zeros((DECILES, DECILES), dtype=np.int64)
        self.decisions = np.zeros((2, 2), dtype=np.int64)
        self.slices: dict[str, dict[str, list[float]]] = {}

    def add(
        self,
        champion: np.ndarray,
        challenger: np.ndarray,
        threshold: float,
        edges: tuple[np.ndarray | None, np.ndarray | None],
        groups: dict[str, tuple[np.ndarray, list[str]]],
    ) -> None:
        x, y = champion, challenger
        self.n += len(x)
        self.sums += [x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
        dx = np.searchsorted(edges[0], x, side="right") if edges[0] is not None else np.zeros(len(x), int)
        dy = np.searchsorted(edges[1], y, side="right") if edges[1] is not None else np.zeros(len(y), int)
        self.deciles += np.bincount(dx * DECILES + dy, minlength=DECILES * DECILES).reshape(DECILES, DECILES)
        cx, cy = (x >= threshold).astype(int), (y >= threshold).astype(int)
        self.decisions += np.bincount(cx * 2 + cy, minlength=4).reshape(2, 2)
        for column, (codes, labels) in groups.items():
            table = self.slices.setdefault(column, {})
            size = len(labels)
            # rows, sum champion, sum challenger, decisions agree, champion positive, challenger positive
            parts = [
                np.bincount(codes, minlength=size),
                np.bincount(codes, weights=x, minlength=size),
                np.bincount(codes, weights=y, minlength=size),
                np.bincount(codes, weights=(cx == cy), minlength=size),
                np.bincount(codes, weights=cx, minlength=size),
                np.bincount(codes, weights=cy, minlength=size),
            ]
            for i, label in enumerate(labels):  # several codes may share a label (values of one bin)
                if not parts[0][i]:
                    continue
                row = table.setdefault(label, [0.0] * 6)
                for k in range(6):
                    row[k] += float(parts[k][i])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "eligible": self.eligible,
            "sums": self.sums.tolist(),
            "deciles": self.deciles.tolist(),
            "decisions": self.decisions.tolist(),
            "slices": self.slices,
        }


def _slice_codes(values: pd.Series, bins: list[float] | None) -> tuple[np.ndarray, list[str]]:
    """(a code per row, the slice label of each code): `drift.slice_labels`, worked out on the
    distinct values only (labelling every row as text cost more than both models' predict)."""
    from modelops.stats.drift import slice_labels

    codes, uniques = _factorize(values)  # a categorical's categories, else the distinct values in their dtype
    labels = [str(label) for label in slice_labels(pd.DataFrame({"value": pd.Series(uniques)}), "value", bins)]
    return np.where(codes < 0, len(uniques), codes), [*labels, "missing"]  # code -1: missing


def _slice_groups(
    frame: pd.DataFrame, checks: dict[str, Any], keep: np.ndarray, X: pd.DataFrame | None = None
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Slice codes and labels (protected columns, geography) of the kept rows.

    A binned column is binned by value: the checked model input's numbers when it is a feature
    (CSV text "34" is 34), else the column read as numbers (text that is no number: missing).
    """
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    wanted = [(column, column, bins) for column, bins in checks["protected"].items()]
    geo = checks.get("geography")
    if geo:
        wanted.append((f"geography:{geo}", geo, None))
    for name, column, bins in wanted:
        if column not in frame:
            continue
        values = frame[column]
        if bins:
            if X is not None and column in X and pd.api.types.is_numeric_dtype(X[column]):
                values = X[column]
            elif not pd.api.types.is_numeric_dtype(values):
                values = _as_numbers(values)[0]
        codes, labels = _slice_codes(values, bins)
        out[name] = (codes[keep], labels)
    return out


def load_models(plan: ScoringPlan) -> dict[tuple[str, str], _Model]:
    """The plan's champion (and challenger) loaded once, for `score_group(..., models)` in one process.

    A model that cannot be loaded is left out: each group then tries again and falls back with an alert.
    """
    models: dict[tuple[str, str], _Model] = {}
    for version, run_id in ((plan.version, plan.run_id), (plan.challenger_version, plan.challenger_run_id)):
        if version is not None:
            _try_load(plan, version, run_id, [], "preload", models)
    return models


def _try_load(
    plan: ScoringPlan,
    version: str,
    run_id: str,
    alerts: list[str],
    who: str,
    models: dict[tuple[str, str], _Model] | None = None,
) -> _Model | None:
    """The model, or None with an alert: a model that cannot be loaded falls back, it never stops the run.

    With `models` (loaded earlier for the same plan), a model loaded before is reused, its
    compiled-path verdict reset so this group checks it again.
    """
    try:
        if models is None:
            return _load_model(plan, version, run_id)
        if (version, run_id) not in models:
            models[(version, run_id)] = _load_model(plan, version, run_id)
        return dataclasses.replace(models[(version, run_id)], fast=None, max_diff=None, note=None)
    except Exception as exc:
        alerts.append(f"{who} {plan.model_name} v{version} could not be loaded ({type(exc).__name__}: {exc})")
        return None


_MISSING_LEVEL = "\0missing"  # the missing value's key among a column's levels (no repr starts with NUL)
_MAX_LEVELS = 100_000  # distinct values remembered per categorical column
FAST_TOLERANCE = 1e-9  # largest |fast - pipeline| probability accepted on the first chunk
_VERIFY_ROWS = 20_000  # rows of the first chunk scored both ways


@dataclass
class _Compiled:
    """The fitted preprocessing as numpy, fed straight to the pipeline's final estimator.

    Numbers: the imputer's fill values, its was-missing indicators and the scaler's mean and scale
    (the same float64 operations sklearn applies). Categories: the encoder itself run on each
    column's distinct values, gathered per row by code. Only trusted once it matches the
    pipeline's own predict_proba on the first chunk (`_verify_fast`).
    """

    numeric: list[str]
    categorical: list[str]
    fill: np.ndarray
    indicate: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None
    encoder: Any
    widths: list[int]
    estimator: Any
    used: np.ndarray | None = None  # per input column: does the estimator read it (None: every one)
    # per categorical column: {repr(value): row of its table} and the table (the encoder's output for that
    # column's block, one row per distinct value met so far, and one for the missing value)
    levels: list[dict[str, int]] = field(default_factory=list)
    tables: list[np.ndarray | None] = field(default_factory=list)
    buffer: np.ndarray | None = None  # the last full-size matrix, refilled by the next chunk (`reuse`)

    def matrix(
        self, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]] | None = None, reuse: bool = False
    ) -> np.ndarray:
        """The model's input matrix, column-major (each feature written contiguously).

        Columns the estimator never reads (a tree ensemble that split on a subset) stay zero: they
        cannot change a score, and skipping them saves most of the matrix's cost for small trees.
        With `reuse`, the matrix is written into the previous call's memory when the shape matches
        (no fresh pages to fault in per chunk): the caller must be done with the previous one.
        """
        n, k, m = len(X), len(self.numeric), len(self.indicate)
        width = k + m + sum(self.widths)
        used = self.used if self.used is not None else np.ones(width, dtype=bool)
        if reuse and self.buffer is not None and self.buffer.shape == (n, width):
            Z = self.buffer  # unused columns were never written: still zero
        else:
            if reuse:
                self.buffer = None  # never hold the old matrix and a new one together
            Z = (np.empty if used.all() else np.zeros)((n, width), dtype="float64", order="F")
            if reuse:
                self.buffer = Z
        indicator = {int(i): k + j for j, i in enumerate(self.indicate)}
        for i, column in enumerate(self.numeric):
            flag = indicator.get(i)
            wanted_flag = flag is not None and used[flag]
            if not (used[i] or wanted_flag):
                continue
            values = X[column].to_numpy(dtype="float64", na_value=np.nan)
            gaps = np.isnan(values)
            targets = []
            if used[i]:
                target = Z[:, i]
                target[:] = values
                target[gaps] = self.fill[i]
                targets.append((target, i))
            if wanted_flag:
                Z[:, flag] = gaps
                targets.append((Z[:, flag], flag))
            for target, at in targets:  # the scaler's own operations, column by column
                if self.mean is not None:
                    target -= self.mean[at]
                if self.scale is not None:
                    target /= self.scale[at]
        if self.categorical:
            self._one_hot(X, factors or {}, Z, k + m, used)
        return Z

    def _one_hot(
        self, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], Z: np.ndarray, start: int, used: np.ndarray
    ) -> None:
        columns = []
        for c in self.categorical:
            codes, uniques = factors[c] if c in factors else _factorize(X[c])
            columns.append((codes, pd.Series(uniques)))
        offset = 0
        slots = self._learn([values for _, values in columns])
        for i, ((codes, _), width) in enumerate(zip(columns, self.widths, strict=True)):
            rows = slots[i][codes]  # code -1 (missing) takes the last slot: the missing value's row
            table = self.tables[i]
            for j in range(width):
                if used[start + offset + j]:
                    np.take(table[:, j], rows, out=Z[:, start + offset + j])
            offset += width

    def _learn(self, columns: list[pd.Series]) -> list[np.ndarray]:
        """Per column, the row of its table for each distinct value, then for the missing value; the encoder
        runs only on values no chunk held before (and on each column's missing value once).

        Chunks of one file mostly hold the same values, each chunk listing them in its own order (a
        Parquet row group's dictionary): values are remembered one by one, so a new order costs nothing.
        """
        if not self.levels:
            self.levels = [{} for _ in self.categorical]
            self.tables = [None for _ in self.categorical]
        keys = [[repr(value) for value in values.tolist()] for values in columns]
        fresh: list[dict[str, int]] = []  # per column: {key: position among the chunk's values}
        for i, (values, column_keys) in enumerate(zip(columns, keys, strict=True)):
            if len(self.levels[i]) > _MAX_LEVELS:  # a column of ever new values: start its memory over
                self.levels[i], self.tables[i] = {}, None
            seen = self.levels[i]
            new: dict[str, int] = {}
            for position, key in enumerate(column_keys):
                if key not in seen and key not in new:
                    new[key] = position
            if _MISSING_LEVEL not in seen:
                new[_MISSING_LEVEL] = len(values)  # past the end: reindex gives the column's missing value
            fresh.append(new)
        height = max(len(new) for new in fresh)
        if height:
            small = {}
            for c, values, new in zip(self.categorical, columns, fresh, strict=True):
                positions = list(new.values())
                small[c] = values.reindex(positions + [len(values)] * (height - len(positions))).to_numpy()
            encoded = np.asarray(self.encoder.transform(pd.DataFrame(small)), dtype="float64")
            if encoded.shape[1] != sum(self.widths):
                raise ValueError(f"the encoder gave {encoded.shape[1]} columns, expected {sum(self.widths)}")
            offset = 0
            for i, (new, width) in enumerate(zip(fresh, self.widths, strict=True)):
                if new:
                    table = self.tables[i]
                    before = 0 if table is None else len(table)
                    rows = encoded[: len(new), offset : offset + width]
                    self.tables[i] = rows.copy() if table is None else np.vstack([table, rows])
                    self.levels[i].update({key: before + r for r, key in enumerate(new)})
                offset += width
        return [
            np.array([self.levels[i][k] for k in column_keys] + [self.levels[i][_MISSING_LEVEL]], dtype=np.intp)
            for i, column_keys in enumerate(keys)
        ]

    def predict(self, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]] | None = None) -> np.ndarray:
        return _predict_rows(self.estimator, self.matrix(X, factors, reuse=True))  # consumed before the next


def _compile(pipeline: Any, checks: dict[str, Any]) -> _Compiled | None:
    """The pipeline's preprocessing as a `_Compiled`, or None when it has another shape than ours."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    try:
        if list(pipeline.named_steps) != ["features", "model"]:
            return None
        features = pipeline.named_steps["features"]
        if not isinstance(features, ColumnTransformer):
            return None
        parts = {name: (step, list(cols)) for name, step, cols in features.transformers_ if name != "remainder"}
        if set(parts) != {"numeric", "categorical"} or features.remainder != "drop":
            return None
        numeric, numeric_columns = parts["numeric"]
        encoder, categorical_columns = parts["categorical"]
        if numeric_columns != list(checks["numeric"]) or categorical_columns != list(checks["categorical"]):
            return None
        if [name for name, _, _ in features.transformers_ if name != "remainder"] != ["numeric", "categorical"]:
            return None
        if not isinstance(encoder, OneHotEncoder) or not isinstance(numeric, Pipeline):
            return None
        steps = numeric.named_steps
        if list(steps) != ["impute", "scale"]:
            return None
        imputer, scaler = steps["impute"], steps["scale"]
        if not isinstance(imputer, SimpleImputer) or not isinstance(scaler, StandardScaler):
            return None
        fill = np.asarray(imputer.statistics_, dtype="float64")
        if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
            return None
        if not np.isfinite(fill).all():  # a column empty at fit time is dropped by sklearn: not mirrored here
            return None
        indicate = np.asarray(imputer.indicator_.features_ if imputer.indicator_ is not None else [], dtype=np.intp)
        width = len(fill) + len(indicate)
        mean = np.asarray(scaler.mean_, dtype="float64") if scaler.with_mean else None
        scale = np.asarray(scaler.scale_, dtype="float64") if scaler.with_std else None
        if (mean is not None and mean.shape != (width,)) or (scale is not None and scale.shape != (width,)):
            return None
        return _Compiled(
            numeric=numeric_columns,
            categorical=categorical_columns,
            fill=fill,
            indicate=indicate,
            mean=mean,
            scale=scale,
            encoder=encoder,
            widths=[int(w) for w in encoder._n_features_outs],  # private: the first-chunk check guards it
            estimator=pipeline.named_steps["model"],
            used=_features_used(pipeline.named_steps["model"], width + sum(int(w) for w in encoder._n_features_outs)),
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _features_used(estimator: Any, width: int) -> np.ndarray | None:
    """Which of `width` input columns a (calibrated) tree ensemble splits on; None when unknown or all.

    Reads the fitted trees (scikit-learn internals, guarded by the first-chunk check like the rest
    of the compiled path): histogram gradient boosting's predictor nodes, random forests' trees.
    """
    used = np.zeros(width, dtype=bool)
    try:
        # a calibrated classifier's fitted estimators (a FrozenEstimator hands the attributes on), else the model
        calibrated = getattr(estimator, "calibrated_classifiers_", None)
        inner = [c.estimator for c in calibrated] if calibrated else [estimator]
        for model in inner:
            if hasattr(model, "_predictors"):  # HistGradientBoosting*
                for predictors in model._predictors:
                    for predictor in predictors:
                        nodes = predictor.nodes
                        used[nodes["feature_idx"][nodes["is_leaf"] == 0]] = True
            elif (
                hasattr(model, "estimators_")
                and not hasattr(model, "estimators_features_")  # bagging: each tree numbers its own subset
                and all(hasattr(t, "tree_") and t.n_features_in_ == width for t in model.estimators_)
            ):
                for tree in model.estimators_:
                    feature = tree.tree_.feature
                    used[feature[feature >= 0]] = True
            else:
                return None
            if int(getattr(model, "n_features_in_", width)) != width:
                return None
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    return None if used.all() else used


def _verify_fast(model: _Model, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]]) -> None:
    """Score up to `_VERIFY_ROWS` rows of the first chunk both ways; the fast path only if they agree."""
    if model.compiled is None:
        model.fast = False
        model.note = f"v{model.version}: pipeline shape not compiled to numpy; scored by the plain sklearn path"
        return
    take = min(len(X), _VERIFY_ROWS)
    sample = X.iloc[:take]
    sample_factors = {c: (codes[:take], uniques) for c, (codes, uniques) in factors.items()}
    try:
        fast = model.compiled.predict(sample, sample_factors)
        plain = np.asarray(model.pipeline.predict_proba(_plain_frame(sample))[:, 1], dtype="float64")
        diff = float(np.max(np.abs(fast - plain), initial=0.0)) if fast.shape == plain.shape else float("inf")
        if np.isnan(fast).any() != np.isnan(plain).any() or np.isnan(diff):
            diff = float("inf")
    except Exception as exc:  # any failure of the fast path means the plain path
        model.fast = False
        model.note = f"v{model.version}: fast path failed on the first chunk ({type(exc).__name__}: {exc}); plain path"
        return
    model.max_diff = diff
    model.fast = diff <= FAST_TOLERANCE
    if not model.fast:
        model.note = (
            f"v{model.version}: fast path differed from the pipeline's predict_proba by {diff:.3g} "
            f"(> {FAST_TOLERANCE}) on the first chunk; scored by the plain sklearn path"
        )


def _plain_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The frame as the pipeline was fitted on it (categorical dtypes as plain values)."""
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return X.astype(dict.fromkeys(cats, object)) if cats else X


def _predict(model: _Model, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]] | None = None) -> np.ndarray:
    """Positive-class probabilities: the compiled path once verified on the first chunk, else sklearn's own."""
    factors = factors or {}
    if model.fast is None:
        _verify_fast(model, X, factors)
    if model.fast:
        return model.compiled.predict(X, factors)
    return _predict_rows(model.pipeline, _plain_frame(X))


_SPLIT_MIN_ROWS = 20_000  # smaller inputs are predicted in one call


def _predict_rows(estimator: Any, X: Any) -> np.ndarray:
    """predict_proba(X)[:, 1], rows split over one thread per core (each row's score does not depend on the others).

    The trees' and the linear model's predict release the GIL, so the halves run on both cores;
    the native thread pools (OpenMP, BLAS) are held to one thread meanwhile (`score_group`).
    """
    threads = _predict_threads()
    n = len(X)
    if threads < 2 or n < _SPLIT_MIN_ROWS:
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype="float64")
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, n, threads + 1).astype(int)
    take = (lambda a, b: X.iloc[a:b]) if isinstance(X, pd.DataFrame) else (lambda a, b: X[a:b])
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scoring-predict") as pool:
        parts = pool.map(
            lambda ab: np.asarray(estimator.predict_proba(take(*ab))[:, 1], dtype="float64"),
            itertools.pairwise(bounds),
        )
        return np.concatenate(list(parts))


def _predict_threads() -> int:
    """Threads for predict: the cores this process may use (MODELOPS_SCORING_THREADS overrides)."""
    configured = os.environ.get("MODELOPS_SCORING_THREADS")
    if configured:
        return max(1, int(configured))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def score_group(
    plan: ScoringPlan | dict[str, Any],
    group_index: int,
    models: dict[tuple[str, str], _Model] | None = None,
    seen: SeenIds | None = None,
) -> dict[str, Any]:
    """Score one group chunk by chunk into its part file in the snapshot's staging area; returns counts.

    `models`, when given, keeps the loaded models for the plan's next groups scored in this process
    (`score_snapshot`); each group still checks the compiled path on its own first chunk. `seen`,
    when given, holds the ids of the groups scored before in this process (else they are read back).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan.from_dict(plan)
    if not 0 <= group_index < len(plan.groups):
        raise ScoringError(f"group {group_index} does not exist: the plan has {len(plan.groups)} groups")
    alerts: list[str] = []
    champion = _try_load(plan, plan.version, plan.run_id, alerts, plan.alias, models)
    challenger = None
    if plan.challenger_version is not None:
        challenger = _try_load(plan, plan.challenger_version, plan.challenger_run_id, alerts, "challenger", models)
    if seen is None:
        seen = SeenIds()
        seen.add(_earlier_ids(plan, group_index))
    shadow = _Shadow(plan, challenger, champion)
    reasons = _Reasons()
    reason_counts: dict[str, int] = {}
    source_counts = dict.fromkeys(SOURCES, 0)
    rows_in = rows_out = 0
    score_shift = {"chunks": 0, "judged": 0, "max_psi": None}
    offset = plan.offset(group_index)
    folder = catalog.scoring_staging(plan.dataset, plan.snapshot) / f"group-{group_index:05d}"
    scored_at = pd.Timestamp(plan.scored_at)
    schema = _output_schema()
    chunk_alerts: list[str] = []
    from threadpoolctl import threadpool_limits

    with catalog.atomic_dir(folder) as staging, threadpool_limits(1):  # one native thread per predict thread
        part = staging / f"part-{group_index:05d}.parquet"
        with (
            pq.ParquetWriter(part, schema, compression="zstd", use_dictionary=_DICTIONARY_COLUMNS) as writer,
            _Background(writer) as background,
        ):
            # the reader thread also runs the checks, so they overlap the previous chunk's predict
            chunks = _checked_chunks(plan, group_index, champion, reasons, seen)
            for frame, X, codes, found, factors, hashes in _prefetch(chunks):
                n = len(frame)
                first = offset + rows_in
                chunk_alerts += found
                if champion is None:
                    reasons.mark(codes, np.ones(n, dtype=bool), "model_unavailable")
                ok = codes == 0
                champ = np.full(n, np.nan)
                chall = np.full(n, np.nan)
                canary = np.zeros(n, dtype=bool)
                if plan.canary_share > 0 and challenger is not None:
                    canary = ok & canary_mask(frame[plan.checks["canary_key"]], plan.canary_share)
                wanted = shadow.rows(ok, hashes, first, rows_in + n) | canary  # rows the challenger scores
                withheld = np.zeros(n, dtype=bool)  # scored by the model, held back by the opt-in PSI guard
                if ok.any():
                    champ[ok] = _predict(champion, *_subset(X, factors, ok))
                    # a row's own score must be a probability, or that row falls back
                    with np.errstate(invalid="ignore"):
                        usable = np.isfinite(champ) & (champ >= 0.0) & (champ <= 1.0)
                    reasons.mark(codes, ok & ~usable, "invalid_score")
                    scored = codes == 0
                    vary = functools.partial(_inputs_vary, X, factors, scored)  # asked only when scores are flat
                    profile = champion.score_profile if champion else None
                    withheld, reason, found = _chunk_guards(
                        plan.options, profile, champ, scored, vary, f"rows {first}..{first + n - 1}", score_shift
                    )
                    chunk_alerts += found
                    if reason:
                        reasons.mark(codes, withheld, reason)
                    if challenger is not None and (ok & wanted).any():
                        take = ok & wanted
                        chall[take] = _predict(challenger, *_subset(X, factors, take))
                model_rows = codes == 0
                with np.errstate(invalid="ignore"):  # the challenger decides only with a usable probability
                    canary &= model_rows & np.isfinite(chall) & (chall >= 0.0) & (chall <= 1.0)
                fallback = ~model_rows
                score = np.where(canary, chall, champ)
                if fallback.any():
                    rows_back = frame.loc[fallback].copy()
                    for column in X.columns:  # the rule reads values as the checks did ("1" is 1)
                        rows_back[column] = X.loc[fallback, column]
                    rows_back = _plain_frame(rows_back)
                    score[fallback] = _baseline_scores(rows_back, plan.baseline)
                source = np.where(fallback, 2, np.where(canary, 1, 0)).astype(np.int8)  # model, canary, fallback
                # Both models scored these rows; a chunk the opt-in guard withheld still tells how far apart
                # they are (the drifted world a challenger is trained for is where it matters most).
                shadow.add(champ, chall, model_rows | withheld, frame, X)
                table = _chunk_table(plan, frame, first, score, source, codes, reasons, champ, chall)
                table = table.append_column("scored_at", pa.array(np.full(n, scored_at.value // 1000), pa.int64()))
                background.write(table.cast(schema))
                rows_in += n
                rows_out += table.num_rows
                for name, count in zip(*np.unique(codes[codes > 0], return_counts=True), strict=True):
                    reason = reasons.names[int(name)]
                    reason_counts[reason] = reason_counts.get(reason, 0) + int(count)
                counts = np.bincount(source, minlength=3)
                source_counts[MODEL] += int(counts[0])
                source_counts[CANARY] += int(counts[1])
                source_counts[FALLBACK] += int(counts[2])
        written = pq.ParquetFile(part).metadata.num_rows
        if written != rows_in or rows_out != rows_in:
            raise RowCountError(f"group {group_index}: {rows_in} rows read, {rows_out} scored, {written} written")
        expected = plan.group_rows[group_index]
        if expected is not None and expected != rows_in:
            raise RowCountError(f"group {group_index}: the plan counted {expected} rows, {rows_in} were read")
        result = {
            "group": group_index,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "first_row": offset,
            "sources": source_counts,
            "reasons": dict(sorted(reason_counts.items())),
            "failed_checks": dict(sorted(reasons.failed.items())),
            "alerts": alerts + _dedupe(chunk_alerts),
            "score_shift": score_shift,
            "shadow": plan.shadow and challenger is not None,
            "fast_path": {
                who: {"version": m.version, "fast": bool(m.fast), "max_diff": m.max_diff}
                for who, m in (("served", champion), ("challenger", challenger))
                if m is not None and m.fast is not None
            },
            "notes": [m.note for m in (champion, challenger) if m is not None and m.note],
            "part": str(folder / part.name),
            "stats": str(folder / "agreement.json"),
        }
        catalog.write_json(staging / "agreement.json", shadow.stats(rows_in))
        catalog.write_json(staging / "result.json", result)
    return result


def _subset(
    X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], mask: np.ndarray
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, Any]]]:
    """The model input and its factorized columns restricted to the rows of `mask` (no copy when all)."""
    if mask.all():
        return X, factors
    return X.loc[mask], {c: (row_codes[mask], uniques) for c, (row_codes, uniques) in factors.items()}


def _inputs_vary(X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], rows: np.ndarray) -> bool:
    """Whether the rows' model inputs differ at all (identical rows rightly get identical scores)."""
    for column in X.columns:
        if column in factors:
            values = factors[column][0][rows]
        else:
            values = X[column].to_numpy(dtype="float64", na_value=np.nan)[rows]
            values = np.where(np.isnan(values), np.inf, values)  # missing is a value of its own
        if len(values) and (values != values[0]).any():
            return True
    return False


def _chunk_guards(
    options: dict[str, Any],
    profile: dict[str, Any] | None,
    scores: np.ndarray,
    scored: np.ndarray,
    inputs_vary: Any,
    rows: str,
    shift: dict[str, Any],
) -> tuple[np.ndarray, str | None, list[str]]:
    """(rows the whole-chunk guards withhold, their reason, alerts): a broken model always, a shifted
    distribution only when the dataset opted in (`score_guard: psi`); a shift alone is an alert and
    monitoring evidence, never a silent swap.

    Broken: the chunk's scores (at least `score_check_min_rows`) span at most `degenerate_score_span`
    although its inputs differ (`inputs_vary()`); a chunk of identical rows is monitoring's concern.
    """
    from modelops.stats import drift

    withheld = np.zeros(len(scores), dtype=bool)
    count = int(scored.sum())
    if count < int(options["score_check_min_rows"]):
        return withheld, None, []
    values = scores[scored]
    span = float(values.max() - values.min())
    if span <= float(options["degenerate_score_span"]) and inputs_vary():
        return (
            scored.copy(),
            "degenerate_scores",
            [
                f"{rows}: the model looks broken: its {count} scores span {span:.2g} (all equal or nearly so); "
                "the chunk fell back to the rule-based baseline (reason degenerate_scores)"
            ],
        )
    if not profile:
        return withheld, None, []
    psi = float(drift.numeric_drift(profile, values)["psi"])
    limit = float(options["score_psi_limit"])
    shift["judged"] += 1
    shift["max_psi"] = psi if shift["max_psi"] is None else max(shift["max_psi"], psi)
    if psi < limit:
        return withheld, None, []
    shift["chunks"] += 1
    if options["score_guard"] == "psi":
        return (
            scored.copy(),
            "score_distribution",
            [
                f"{rows}: score PSI {psi:.3f} >= {limit} against the reference; the dataset's score_guard is psi, "
                "so the chunk fell back (reason score_distribution)"
            ],
        )
    return (
        withheld,
        None,
        [
            f"{rows}: score PSI {psi:.3f} >= {limit} against the reference: the scores shifted (the model served "
            "them; monitoring judges the shift)"
        ],
    )


class _Shadow:
    """Which rows the challenger scores beside the served model, and the agreement statistics.

    A stable sample: rows whose id hashes below the share (the same voters every snapshot; without an
    id, the row's position). An input known to be small is shadowed on every row; one of unknown size
    (CSV, SQL) is shadowed on every row while it stays under `shadow_all_below`, and on the sample
    from then on; its report uses every row when it ended small, the sample otherwise.
    """

    def __init__(self, plan: ScoringPlan, challenger: _Model | None, champion: _Model | None) -> None:
        self.on = plan.shadow and challenger is not None
        self.plan = plan
        self.known = shadow_share(plan)
        self.share = self.known if self.known is not None else float(plan.options["shadow_sample"])
        self.limit = int(plan.options["shadow_all_below"])
        self.threshold = float(plan.options["threshold"])
        self.edges = (
            _decile_edges(champion.score_profile if champion else None),
            _decile_edges(challenger.score_profile if challenger else None),
        )
        self.sampled = _Agreement()
        self.every = _Agreement() if self.known is None else None  # every row, while the input is small
        self.chunk_sample = np.zeros(0, dtype=bool)

    def rows(self, ok: np.ndarray, hashes: np.ndarray | None, first: int, seen_after: int) -> np.ndarray:
        """The rows of this chunk the challenger scores for shadow (`seen_after`: the group's rows read so far)."""
        n = len(ok)
        if not self.on:
            return np.zeros(n, dtype=bool)
        self.chunk_sample = np.ones(n, dtype=bool) if self.known == 1.0 else self._in_sample(hashes, first, n)
        if self.every is not None and seen_after > self.limit:
            self.every = None  # the input is not small after all: its report is the sample's
        return np.ones(n, dtype=bool) if self.every is not None else self.chunk_sample

    def _in_sample(self, hashes: np.ndarray | None, first: int, n: int) -> np.ndarray:
        if hashes is None:  # no id: the row's position in the snapshot
            hashes = pd.util.hash_array(np.arange(first, first + n, dtype=np.int64), categorize=False)
        return unit_interval(hashes, _SHADOW_SALT) < self.share

    def add(
        self, champ: np.ndarray, chall: np.ndarray, eligible: np.ndarray, frame: pd.DataFrame, X: pd.DataFrame
    ) -> None:
        """Count the chunk's rows both models scored (eligible: rows with the served model's own score)."""
        if not self.on:
            return
        both = eligible & np.isfinite(champ) & np.isfinite(chall)
        checks = self.plan.checks
        for into, rows in ((self.sampled, both & self.chunk_sample), (self.every, both)):
            if into is None:
                continue
            into.eligible += int(eligible.sum())
            if rows.any():
                into.add(champ[rows], chall[rows], self.threshold, self.edges, _slice_groups(frame, checks, rows, X))

    def stats(self, rows_in: int) -> dict[str, Any]:
        """The group's statistics: every row when the input ended at most `shadow_all_below` rows, else the sample."""
        use_every = self.every is not None and rows_in <= self.limit
        chosen = self.every if use_every else self.sampled
        share = 1.0 if (use_every or self.known == 1.0) else self.share
        return {**chosen.to_dict(), "share": share}


def _checked_chunks(
    plan: ScoringPlan, group_index: int, model: _Model | None, reasons: _Reasons, seen: SeenIds
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[str], dict[str, Any], np.ndarray | None]]:
    """The group's non-empty chunks with their checks: (frame, model input, reason codes, alerts, factors, id hashes).

    The id checks come first: a row without an id, or repeating an earlier row's id, cannot be joined
    back to one voter, whatever its values.
    """
    with contextlib.closing(iter_chunks(plan, group_index)) as chunks:
        for frame in chunks:
            if len(frame) == 0:
                continue
            codes = np.zeros(len(frame), dtype=np.int16)
            hashes = _id_checks(frame, plan.checks["id_column"], seen, codes, reasons)
            factors: dict[str, tuple[np.ndarray, Any]] = {}
            X, found = check_chunk(frame, plan, model, reasons, factors, codes)
            yield frame, X, codes, found, factors, hashes


_DICTIONARY_COLUMNS = [  # output columns worth Parquet dictionary pages (the others are mostly unique)
    "snapshot_id",
    "decision",
    "source",
    "reason",
    "model_name",
    "model_version",
    "alias",
    "served_version",
    "challenger_version",
    "scored_at",
]


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _prefetch(chunks: Iterator[_T]) -> Iterator[_T]:
    """The items, produced one ahead on a thread (Parquet decoding and the checks overlap the model's predict)."""
    import queue
    import threading

    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # a consumer that stopped early: the source's own clean-up runs (SQL engine)
                close()

    reader = threading.Thread(target=read, name="scoring-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is end:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join()


class _Background:
    """Writes tables on one thread, in order, at most one pending (compression overlaps the next chunk)."""

    def __init__(self, writer: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-writer")
        self.pending = None

    def write(self, table: Any) -> None:
        if self.pending is not None:
            self.pending.result()  # raises the previous write's error here
        self.pending = self.pool.submit(self.writer.write_table, table)

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.pending is not None:
                self.pending.result()
        finally:
            self.pool.shutdown(wait=True)


def _dedupe(items: list[str], limit: int = 20) -> list[str]:
    unique = list(dict.fromkeys(items))
    return unique[:limit] + ([f"... and {len(unique) - limit} more"] if len(unique) > limit else [])


def _output_schema():
    import pyarrow as pa

    dictionary = pa.dictionary(pa.int8(), pa.string())
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
            ("scored_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def _const(value: str | None, n: int):
    """One value repeated (a dictionary column: one entry, n small indices); None gives nulls."""
    import pyarrow as pa

    indices = pa.array(np.zeros(n, dtype=np.int8), mask=np.ones(n, dtype=bool) if value is None else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array([value or ""], pa.string()))


def _chunk_table(
    plan: ScoringPlan,
    frame: pd.DataFrame,
    first_row: int,
    score: np.ndarray,
    source: np.ndarray,
    codes: np.ndarray,
    reasons: _Reasons,
    champ: np.ndarray,
    chall: np.ndarray,
):
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
    aliases = pa.array([plan.alias, "challenger"], pa.string())
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
        }
    )


# --- shadow agreement --------------------------------------------------------------------------


def merge_agreement(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the groups' shadow statistics."""
    merged: dict[str, Any] = {
        "n": 0,
        "eligible": 0,
        "share": min((float(st.get("share", 1.0)) for st in stats), default=1.0),
        "sums": np.zeros(5),
        "deciles": np.zeros((DECILES, DECILES), dtype=np.int64),
        "decisions": np.zeros((2, 2), dtype=np.int64),
        "slices": {},
    }
    for s in stats:
        merged["n"] += int(s["n"])
        merged["eligible"] += int(s.get("eligible", s["n"]))
        merged["sums"] += np.asarray(s["sums"], dtype=float)
        merged["deciles"] += np.asarray(s["deciles"], dtype=np.int64)
        merged["decisions"] += np.asarray(s["decisions"], dtype=np.int64)
        for column, table in s["slices"].items():
            into = merged["slices"].setdefault(column, {})
            for label, row in table.items():
                into[label] = [a + b for a, b in zip(into.get(label, [0.0] * 6), row, strict=True)]
    return merged


def agreement_report(
    stats: list[dict[str, Any]], min_slice_rows: int = 100, confidence: float = 0.95
) -> dict[str, Any]:
    """Champion vs challenger on the same rows: correlation, deciles, top decile, decisions, slices.

    Deciles are each model's reference deciles (its training holdout), so the transition matrix
    and the top-decile overlap compare like with like across snapshots. On a sample (share < 1) every
    figure comes with its `confidence` interval: Wilson for shares, Fisher's z for the correlation,
    the normal interval for the mean difference; on every row the figures are exact (no interval).
    """
    m = merge_agreement(stats)
    n = m["n"]
    sample = {"rows": int(n), "of_rows": int(m["eligible"]), "share": m["share"], "every_row": m["share"] >= 1.0}
    if n == 0:
        return {"rows": 0, "sample": sample, "note": "no row was scored by both models"}
    sx, sy, sxx, syy, sxy = m["sums"]
    cov = sxy / n - (sx / n) * (sy / n)
    var_x, var_y = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
    corr = float(cov / np.sqrt(var_x * var_y)) if var_x > 0 and var_y > 0 else float("nan")
    deciles = m["deciles"]
    diagonal = float(np.trace(deciles) / n)
    near = float(sum(deciles[i, j] for i in range(DECILES) for j in range(DECILES) if abs(i - j) <= 1) / n)
    top_champion = int(deciles[-1].sum())
    top_both = int(deciles[-1, -1])
    decisions = m["decisions"]
    agreed = int(np.trace(decisions))
    mean_diff = float((sy - sx) / n)
    var_diff = max(float((syy - 2 * sxy + sxx) / n) - mean_diff**2, 0.0)
    intervals = None
    if not sample["every_row"]:
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + confidence / 2))
        half = z * np.sqrt(var_diff / n)
        intervals = {
            "confidence": confidence,
            "score_correlation": _correlation_interval(corr, n, z),
            "mean_difference": [mean_diff - half, mean_diff + half],
            "same_decile_share": wilson_interval(int(np.trace(deciles)), n, z),
            "within_one_decile_share": wilson_interval(round(near * n), n, z),
            "top_decile_overlap": wilson_interval(top_both, top_champion, z),
            "decision_agreement": wilson_interval(agreed, n, z),
        }
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for column, table in m["slices"].items():
        out = {}
        for label, (rows, s_c, s_h, agree, pos_c, pos_h) in sorted(table.items()):
            out[label] = {
                "rows": int(rows),
                "champion_mean": s_c / rows,
                "challenger_mean": s_h / rows,
                "mean_difference": (s_h - s_c) / rows,
                "decision_agreement": agree / rows,
                "champion_positive_rate": pos_c / rows,
                "challenger_positive_rate": pos_h / rows,
                "small": rows < min_slice_rows,
            }
        slices[column] = out
    return {
        "rows": int(n),
        "sample": sample,
        "intervals": intervals,
        "score_correlation": corr,
        "mean_difference": mean_diff,
        "decile_transition": deciles.tolist(),
        "same_decile_share": diagonal,
        "within_one_decile_share": near,
        "top_decile_overlap": top_both / top_champion if top_champion else float("nan"),
        "top_decile_rows": top_champion,
        "decision_agreement": agreed / n,
        "decisions": {
            "both_negative": int(decisions[0, 0]),
            "champion_only": int(decisions[1, 0]),
            "challenger_only": int(decisions[0, 1]),
            "both_positive": int(decisions[1, 1]),
        },
        "slices": slices,
    }


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> list[float] | None:
    """Wilson score interval of a share (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def _correlation_interval(r: float, n: int, z: float) -> list[float] | None:
    """Fisher's z interval of a correlation (None when undefined or too few rows)."""
    if not np.isfinite(r) or n <= 3:
        return None
    if abs(r) >= 1.0:
        return [float(r), float(r)]
    centre, half = np.arctanh(r), z / np.sqrt(n - 3)
    return [float(np.tanh(centre - half)), float(np.tanh(centre + half))]


# --- commit ------------------------------------------------------------------------------------


def _manifest_parts(plan: ScoringPlan, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_group = {}
    for part in parts:
        if part["group"] in by_group:
            raise RowCountError(f"group {part['group']} was handed to the commit twice")
        by_group[part["group"]] = part
    missing = sorted(set(range(len(plan.groups))) - set(by_group))
    if missing:
        raise ScoringError(f"groups {missing} have no scored part: score them before committing")
    return [by_group[i] for i in range(len(plan.groups))]


def commit_scoring(
    plan: ScoringPlan | dict[str, Any], parts: list[dict[str, Any]], output_url: str | None = None
) -> dict[str, Any]:
    """Publish the snapshot's predictions + manifest in one folder swap; rows in == rows out or nothing."""
    import pyarrow.parquet as pq

    from modelops.store import alias_log, runs

    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan.from_dict(plan)
    ordered = _manifest_parts(plan, parts)
    rows_in = sum(p["rows_in"] for p in ordered)
    files = []
    rows_out = 0
    for part in ordered:
        path = Path(part["part"])
        if not path.exists():
            raise ScoringError(f"group {part['group']}: its part file {path} is gone; score the group again")
        written = pq.ParquetFile(path).metadata.num_rows
        if written != part["rows_in"]:
            raise RowCountError(f"group {part['group']}: {part['rows_in']} rows read, {written} in {path.name}")
        rows_out += written
        files.append(path)
    if rows_out != rows_in:
        raise RowCountError(f"snapshot {plan.snapshot}: {rows_in} rows in, {rows_out} rows out")
    sources = {s: sum(p["sources"][s] for p in ordered) for s in SOURCES}
    reasons: dict[str, int] = {}
    for part in ordered:
        for reason, count in part["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    id_problems = {k: reasons.get(k, 0) for k in ("missing_id", "duplicate_id")}
    limit = float(plan.options["max_id_problem_share"])
    if rows_in and sum(id_problems.values()) > limit * rows_in:
        raise InputRefused(
            f"snapshot {plan.snapshot}: {id_problems['missing_id']} rows without an id and "
            f"{id_problems['duplicate_id']} rows repeating an earlier row's id, "
            f"{sum(id_problems.values()) / rows_in:.2%} of {rows_in} rows, above scoring.max_id_problem_share "
            f"{limit:.2%}: predictions could not be joined back to one voter each; nothing was published. "
            "Fix the ids of the delivery and score it again"
        )
    if rows_in == 0:
        raise InputRefused(f"snapshot {plan.snapshot}: the input holds no rows; nothing was published")
    alerts = _dedupe([a for p in ordered for a in p["alerts"]], limit=50)
    if plan.alias_drift:
        alerts.insert(0, plan.alias_drift)
    fallback_share = sources[FALLBACK] / rows_in
    if fallback_share > float(plan.options.get("fallback_share", 1.0)):
        alerts.insert(0, fallback_alert(sources[FALLBACK], rows_in, float(plan.options["fallback_share"]), reasons))
    if sum(id_problems.values()):
        alerts.append(
            f"{id_problems['missing_id']} rows without an id and {id_problems['duplicate_id']} rows repeating an "
            "earlier row's id were served by the rule-based fallback (reasons missing_id, duplicate_id)"
        )
    score_shift = _merge_shift([p.get("score_shift") or {} for p in ordered])
    shadow = any(p["shadow"] for p in ordered)
    agreement = agreement_report([catalog.read_json(p["stats"]) for p in ordered if p["shadow"]]) if shadow else None
    final = catalog.scoring_dir(plan.dataset, plan.snapshot)
    manifest = {
        "dataset": plan.dataset,
        "snapshot": plan.snapshot,
        "input": plan.input if plan.input_kind != "sql" else "sql query",
        "input_kind": plan.input_kind,
        # the files in the order their rows were scored (row = position): monitoring reads them back
        "input_files": [f for group in plan.groups for f in group] if plan.input_kind != "sql" else [],
        "model_name": plan.model_name,
        "alias": plan.alias,
        "model_version": plan.version,
        "model_run_id": plan.run_id,
        "challenger_version": plan.challenger_version,
        "shadow": shadow,
        "canary_share": plan.canary_share,
        "threshold": float(plan.options["threshold"]),
        "scored_at": plan.scored_at,
        "config_digest": plan.config_digest,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "sources": sources,
        "fallback_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "fallback_share": fallback_share,
        "failed_checks": _sum_counts([p.get("failed_checks") or {} for p in ordered]),
        "id_problems": id_problems,
        "score_guard": plan.options["score_guard"],
        "score_shift": score_shift,
        "alerts": alerts,
        "alias_drift": plan.alias_drift,
        "notes": list(plan.notes) + _dedupe([n for p in ordered for n in p.get("notes", [])]),
        "fast_path": _fast_summary(ordered),
        "groups": len(ordered),
        "parts": [
            {"file": f"{catalog.PREDICTIONS}/{f.name}", "rows": p["rows_in"]}
            for f, p in zip(files, ordered, strict=True)
        ],
        "agreement": agreement,
    }
    # one answer to "which model served on date D" (the alias history, see alias_log.served_on), with the rows truth
    manifest["serving"] = alias_log.describe_serving(
        plan.model_name, datetime.fromisoformat(plan.scored_at), plan.alias, served=manifest
    )
    with catalog.atomic_dir(final) as staging:
        (staging / catalog.PREDICTIONS).mkdir()
        for path in files:
            os.link(path, staging / catalog.PREDICTIONS / path.name)  # a link: a failed commit keeps the parts
        html_path = render_scoring_report(manifest, staging / catalog.REPORT_HTML)
        catalog.write_json(staging / catalog.MANIFEST, manifest)
    html_final = final / html_path.name
    metrics = {"rows": rows_in, **{f"rows_{s}": c for s, c in sources.items()}}
    metrics.update({f"fallback_{_metric_name(r)}": c for r, c in reasons.items()})
    if agreement and agreement.get("rows"):
        for key in ("score_correlation", "decision_agreement", "top_decile_overlap", "same_decile_share"):
            metrics[f"shadow_{key}"] = agreement[key]
    tags = {
        Tag.MODEL_NAME: plan.model_name,
        Tag.ALIAS: plan.alias,
        Tag.MODEL_VERSION: plan.version,
        Tag.CHALLENGER_VERSION: plan.challenger_version or "none",
        Tag.INPUT: manifest["input"] or "",
        Tag.ALERTS: str(len(alerts)),
    }
    run_id = runs.log_scoring(plan.dataset, plan.snapshot, metrics, manifest, str(html_final), tags)
    loaded = None
    table = plan.options.get("output_table")
    if table:
        if not output_url:
            raise ScoringError(f"scoring.output_table is {table!r} but no database URL was given to load it into")
        loaded = load_postgres(output_url, table, plan, [final / catalog.PREDICTIONS / f.name for f in files])
    import shutil

    shutil.rmtree(catalog.scoring_staging(plan.dataset, plan.snapshot), ignore_errors=True)
    return {
        "dataset": plan.dataset,
        "snapshot": plan.snapshot,
        "folder": str(final),
        "manifest": str(final / catalog.MANIFEST),
        "report": str(html_final),
        "mlflow_run_id": run_id,
        "rows": rows_in,
        "rows_fallback": int(sources.get("fallback", 0)),
        "sources": sources,
        "fallback_reasons": manifest["fallback_reasons"],
        "alerts": alerts,
        "alias_drift": plan.alias_drift,
        "model_name": plan.model_name,
        "model_version": plan.version,
        "serving": manifest["serving"],
        "challenger_version": plan.challenger_version,
        "agreement": {k: v for k, v in (agreement or {}).items() if k not in ("slices", "decile_transition")},
        "output_table": table,
        "table_rows": loaded,
    }


def fallback_alert(fallback: int, rows: int, limit: float, reasons: dict[str, int]) -> str:
    """The alert line for a fallback share above the limit, whatever the cause (columns, values, ids, model)."""
    top = ", ".join(f"{r} {c}" for r, c in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
    return (
        f"{fallback} of {rows} rows ({fallback / rows:.1%}) were served by the rule-based fallback, above "
        f"fallback_share {limit:.1%}; reasons: {top}"
    )


def _sum_counts(parts: list[dict[str, int]]) -> dict[str, int]:
    """Counts per key summed over the groups, most first."""
    total: dict[str, int] = {}
    for part in parts:
        for key, count in part.items():
            total[key] = total.get(key, 0) + int(count)
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def _merge_shift(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The groups' score-shift counts: chunks judged, chunks at or above the PSI limit, the largest PSI."""
    psis = [p["max_psi"] for p in parts if p.get("max_psi") is not None]
    return {
        "chunks_judged": sum(int(p.get("judged", 0)) for p in parts),
        "chunks_shifted": sum(int(p.get("chunks", 0)) for p in parts),
        "max_psi": max(psis) if psis else None,
    }


def _fast_summary(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model, whether every group scored through the compiled path, and its largest first-chunk difference."""
    out: dict[str, Any] = {}
    for part in parts:
        for who, entry in part.get("fast_path", {}).items():
            into = out.setdefault(who, {"version": entry["version"], "fast": True, "max_diff": 0.0})
            into["fast"] = into["fast"] and entry["fast"]
            if entry["max_diff"] is not None:
                into["max_diff"] = max(into["max_diff"], entry["max_diff"])
    return out


def _metric_name(reason: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", reason.replace(":", "."))


def load_postgres(url: str, table: str, plan: ScoringPlan, files: list[Path]) -> int:
    """COPY the predictions into `table`, replacing the snapshot's rows of this served version, in one transaction."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    if not _TABLE_NAME.match(table):
        raise ScoringError(f"scoring.output_table {table!r}: expected [schema.]table made of letters, digits, _")
    columns = ", ".join(f'"{c}" {t}' for c, t in OUTPUT_COLUMNS.items())
    names = ", ".join(f'"{c}"' for c in OUTPUT_COLUMNS)
    engine = sa.create_engine(url)
    loaded = 0
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"create table if not exists {table} ({columns})")
            cursor.execute(
                f"create index if not exists {table.split('.')[-1]}_snapshot_idx "
                f"on {table} (snapshot_id, served_version)"
            )
            cursor.execute(
                f"delete from {table} where snapshot_id = %s and served_version = %s", (plan.snapshot, plan.version)
            )
            options = pcsv.WriteOptions(include_header=False)
            for path in files:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=200_000):
                    arrays = [
                        batch.column(c).cast(pa.string()) if c == "scored_at" else batch.column(c)
                        for c in OUTPUT_COLUMNS
                    ]
                    plain = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in arrays]
                    buffer = io.BytesIO()
                    pcsv.write_csv(pa.RecordBatch.from_arrays(plain, names=list(OUTPUT_COLUMNS)), buffer, options)
                    buffer.seek(0)
                    cursor.copy_expert(f"copy {table} ({names}) from stdin with (format csv)", buffer)
                    loaded += batch.num_rows
            raw.commit()
        except Exception:
            raw.rollback()
            raise
        finally:
            raw.close()
    finally:
        engine.dispose()
    return loaded


def score_snapshot(
    spec: DatasetSpec,
    settings: Settings,
    input: str | None = None,
    snapshot: str | None = None,
    alias: str = "champion",
    sql_url: str | None = None,
    query: str | None = None,
    groups: int | None = None,
    output_url: str | None = None,
) -> dict[str, Any]:
    """Plan, score every group one after another, and commit (tests, scripts, small files)."""
    plan = plan_scoring(spec, settings, input, snapshot, alias, sql_url, query, groups)
    models = load_models(plan)  # one load per model for all the groups
    seen = SeenIds()  # the ids of the groups scored so far, kept rather than read back
    try:
        parts = [score_group(plan, i, models, seen) for i in range(len(plan.groups))]
        return commit_scoring(plan, parts, output_url)
    except BaseException:
        import shutil

        shutil.rmtree(catalog.scoring_staging(plan.dataset, plan.snapshot), ignore_errors=True)  # nothing left behind
        raise


# --- report ------------------------------------------------------------------------------------


def render_scoring_report(manifest: dict[str, Any], path: Path) -> Path:
    """The snapshot's HTML report: counts per source and reason, alerts, and the shadow agreement."""
    import html

    from modelops.present.reports import REPORT_CSS, format_value, html_table, json_details

    esc = html.escape
    sources = html_table(["source", "rows"], [[esc(s), str(c)] for s, c in manifest["sources"].items()])
    reasons = html_table(
        ["fallback reason", "rows"], [[esc(r), str(c)] for r, c in manifest["fallback_reasons"].items()]
    )
    alerts = "".join(f"<li>{esc(a)}</li>" for a in manifest["alerts"]) or "<li>none</li>"
    shadow = "<p>no shadow scoring (no challenger, or shadow off)</p>"
    agreement = manifest.get("agreement")
    if agreement and agreement.get("rows"):
        keys = [
            ("score correlation", "score_correlation"),
            ("same decile", "same_decile_share"),
            ("within one decile", "within_one_decile_share"),
            ("top-decile overlap", "top_decile_overlap"),
            ("decision agreement", "decision_agreement"),
            ("mean difference", "mean_difference"),
        ]
        intervals = agreement.get("intervals") or {}

        def figure(key: str) -> str:
            bounds = intervals.get(key)
            value = format_value(agreement[key], "+" if key == "mean_difference" else "")
            return f"{value} ({format_value(bounds[0])} .. {format_value(bounds[1])})" if bounds else value

        head = html_table(
            ["rows", *[label for label, _ in keys]], [[str(agreement["rows"]), *[figure(k) for _, k in keys]]]
        )
        sample = agreement.get("sample") or {}
        if sample.get("every_row", True):
            sampled = (
                f"<p>Every row both models could score ({agreement['rows']}) is compared: the figures are exact.</p>"
            )
        else:
            sampled = (
                f"<p>A stable sample: {sample['rows']} of {sample['of_rows']} rows "
                f"({format_value(sample['share'], '%')}, "
                "chosen by a hash of the id, the same voters every snapshot). In brackets, each figure's "
                f"{format_value(intervals.get('confidence', 0.95), '%')} interval.</p>"
            )
        matrix = html_table(
            ["champion decile \\ challenger", *[str(i + 1) for i in range(DECILES)]],
            [[str(i + 1), *[str(c) for c in row]] for i, row in enumerate(agreement["decile_transition"])],
        )
        blocks = []
        for column, table in agreement["slices"].items():
            items = sorted(table.items(), key=lambda kv: -abs(kv[1]["mean_difference"]))
            if column.startswith("geography:"):
                items = items[:TOP_GEOGRAPHIES]
            rows = [
                [
                    esc(label),
                    str(s["rows"]),
                    format_value(s["champion_mean"]),
                    format_value(s["challenger_mean"]),
                    format_value(s["mean_difference"], "+"),
                    format_value(s["decision_agreement"]),
                    format_value(s["champion_positive_rate"]),
                    format_value(s["challenger_positive_rate"]),
                ]
                for label, s in items
            ]
            blocks.append(
                f"<h3>{esc(column)}</h3>"
                + html_table(
                    [
                        "slice",
                        "rows",
                        "champion mean",
                        "challenger mean",
                        "difference",
                        "agreement",
                        "champion +",
                        "challenger +",
                    ],
                    rows,
                    [s["small"] for _, s in items],
                )
            )
        shadow = (
            f"<p>Challenger v{esc(str(manifest['challenger_version']))} scored the same rows; it decided none of them"
            f" (canary rows aside). Deciles are each model's reference deciles.</p>{sampled}{head}"
            "<h3>Decile transitions</h3>"
            f"{matrix}{''.join(blocks)}"
        )
    from modelops.core.served import served_by

    served_line = served_by(manifest).line()
    title = f"{manifest['dataset']}: scoring {manifest['snapshot']}"
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{REPORT_CSS}tr.drift{{background:none;color:#888}}</style></head><body>
<h1>{esc(title)}</h1>
<p><strong>{esc(served_line)}</strong></p>
<p>{esc(manifest["model_name"])} v{esc(manifest["model_version"])} (alias {esc(manifest["alias"])}),
{manifest["rows_in"]} rows in, {manifest["rows_out"]} rows out, threshold {manifest["threshold"]},
scored at {esc(manifest["scored_at"])}.</p>
<h2>Sources</h2>{sources}<h2>Fallback reasons</h2>{reasons}<h2>Alerts</h2><ul>{alerts}</ul>
<h2>Shadow agreement</h2>{shadow}
<h2>Manifest</h2>{json_details(manifest, "the manifest as JSON (also manifest.json beside this page)")}</body></html>"""
    catalog.write_text(path, page)
    return path
