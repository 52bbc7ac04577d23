"""The scoring plan: everything one run needs, resolved once, and the errors a run raises."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.collect import csv_files, file_formats, inputs, refusals, safe_sql
from modelops.config.settings import DatasetSpec, Settings
from modelops.config.uses import check_use
from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.core.tags import Tag


class ScoringError(RuntimeError):
    """A scoring run cannot go on (bad input, missing model version, broken invariant)."""


class InputRefused(ScoringError, refusals.InputRefused):
    """The input is refused for what it is (bad SQL, path, file, ids, no rows): deterministic, retrying cannot help."""


class RowCountError(ScoringError):
    """Rows in != rows out: something was lost or duplicated; nothing is committed."""


@dataclass(frozen=True)
class ScoringPlan(XComRecord):
    """Everything one scoring run needs, resolved once; it crosses XCom as `to_xcom()`."""

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
    use: str = ""  # the permitted use this run serves (config.uses.check_use), carried on every output
    population: str | None = None  # the dataset whose snapshot is scored (scoring.population), when another
    challenger_alias: str = "challenger"  # or `canary`: the production profile's promoted version on trial
    trained_environment: str | None = None  # the served version's library versions (its modelops.environment tag)

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


def compile_checks(spec: DatasetSpec, population: DatasetSpec | None = None) -> dict[str, Any]:
    """The per-row input checks of a spec: required features, ranges, allowed codes (plain data).

    With a `population` (another dataset whose snapshots are scored), its id column is the rows' id and
    `columns` renames its columns to the model's (model column -> population column) as they are read.
    """
    from modelops.config.population import scorer_columns

    rules = spec.validation
    features = spec.features
    mapped = spec.scoring.population.columns if population is not None and spec.scoring.population else {}
    new = spec.scoring.new_registrants
    return {
        "id_column": population.id_column if population is not None else spec.id_column,
        "columns": {c: mapped[c] for c in scorer_columns(spec) if c in mapped and mapped[c] != c},
        "new_registrants": new.model_dump() if new is not None else None,
        "numeric": list(spec.numeric),
        "categorical": list(spec.categorical),
        # the validation suite allows no missing value in these columns: a row lacking one falls back
        "required": [c for c in features if spec.null_limit(c)[0] == 0.0],
        "ranges": {c: list(b) for c, b in (rules.ranges or {}).items() if c in features},
        "categories": {c: list(v) for c, v in (rules.categories or {}).items() if c in features},
        "protected": {c: bins for c, bins in spec.protected.items()},
        "geography": spec.geography,
        "canary_key": (spec.scoring.canary_key or population.id_column) if population is not None else spec.canary_key,
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


@dataclass(frozen=True)
class _Input:
    """The input as resolved: its kind, where it is, its files per partition group, their rows, the snapshot id."""

    kind: str
    where: str | None
    files: list[list[str]]
    rows: list[int | None]
    snapshot: str


def plan_scoring(
    spec: DatasetSpec,
    settings: Settings,
    input: str | None = None,
    snapshot: str | None = None,
    alias: str = "champion",
    sql_url: str | None = None,
    query: str | None = None,
    groups: int | None = None,
    use: str | None = None,
) -> ScoringPlan:
    """Resolve input, snapshot id, model versions, baseline and partition groups for one run.

    A use the dataset does not permit is refused first, with `UseRefused` (config.uses). An input that
    cannot be scored (a path outside the roots, SQL other than one SELECT/WITH, an unreadable or empty
    file, no id column, a bad snapshot id) is refused with InputRefused. With `scoring.population`, the
    input is the other dataset's (its production folder, its snapshot ids), renamed as it is read.
    """
    from modelops.store import artifacts

    served_use = check_use(spec, use)  # before any work: a use not permitted is never scored
    population = settings.dataset(spec.scoring.population.dataset) if spec.scoring.population else None
    # the dataset's own scoring options, and the share of fallback rows above which the run alerts
    fallback_share = settings.monitoring.fallback_share  # as monitoring
    options = {**settings.scoring_for(spec.name).model_dump(), "fallback_share": float(fallback_share)}
    checks = compile_checks(spec, population)
    found = _input(spec, population or spec, checks, options, _Wanted(input, snapshot, groups, query, sql_url))
    served, drift = _served_version(spec, alias)
    version = str(served.version)
    scored_at = datetime.now(UTC)
    baseline = artifacts.load_baseline(spec.model_name, version, served.run_id)
    trial = _canary(spec, alias, version)  # a version on trial decides its share whatever scoring.canary_share says
    if trial is not None:
        options["canary_share"] = float(settings.promotion.canary.share)
        challenger_version, challenger_run = str(trial.version), trial.run_id
        notes = [
            f"v{trial.version} is the canary (production profile): it decides {options['canary_share']:.0%} of the "
            f"rows; the promotion DAG judges it after {int(settings.promotion.canary.snapshots)} scored snapshots"
        ]
    else:
        challenger_version, challenger_run, notes = _challenger(spec, options, alias, version)
    if float(options["canary_share"]) > 0 and not checks["canary_key"]:
        raise ScoringError(f"dataset {spec.name!r}: canary_share is set but no scoring.canary_key (and no id column)")
    if challenger_version is not None and options["shadow"] and _sample_is_rows(options):
        # "about N rows" needs the input's size: a Parquet footer knows it; a CSV's lines and a query's count
        # are counted now (the query under the same read-only guard)
        rows = found.rows
        known = None if any(r is None for r in rows) else sum(int(r) for r in rows)
        options["input_rows"] = known if known is not None else _count_rows(found, query, sql_url, options)
    return ScoringPlan(
        dataset=spec.name,
        snapshot=found.snapshot,
        alias=alias,
        model_name=spec.model_name,
        version=version,
        run_id=served.run_id,
        input_kind=found.kind,
        input=found.where,
        groups=tuple(tuple(g) for g in found.files),
        group_rows=tuple(found.rows),
        baseline=baseline,
        checks=checks,
        options=options,
        scored_at=scored_at.isoformat(timespec="microseconds"),
        config_digest=settings.digest_for(spec.name),
        challenger_version=challenger_version,
        challenger_run_id=challenger_run,
        query=query,
        sql_url=sql_url,
        notes=tuple(notes),
        alias_drift=None if drift is None else f"{drift.line()}; this run served the recorded v{version}",
        use=served_use,
        population=population.name if population is not None else None,
        challenger_alias="canary" if trial is not None else "challenger",
        trained_environment=(served.tags or {}).get(Tag.ENVIRONMENT),
    )


def _sql_input(query: str, sql_url: str | None, snapshot: str | None) -> _Input:
    """A query's input: one group of unknown size, the snapshot named after the query's hash unless given."""
    safe_sql.check_query(query)
    if not sql_url:
        raise InputRefused("a SQL query needs a connection (sql_url)")
    safe_sql.check_sql_url(sql_url)
    snapshot = snapshot or f"sql-{hashlib.sha256(query.encode()).hexdigest()[:12]}"
    return _Input(kind="sql", where=None, files=[[]], rows=[None], snapshot=str(snapshot))


@dataclass(frozen=True)
class _Wanted:
    """What the request named: an input path, a snapshot id, partition groups."""

    input: str | None
    snapshot: str | None
    groups: int | None
    query: str | None = None
    sql_url: str | None = None


def _input(
    spec: DatasetSpec, source: DatasetSpec, checks: dict[str, Any], options: dict[str, Any], wanted: _Wanted
) -> _Input:
    """The input resolved, or InputRefused: every refusal of the input is decided here, before any model is
    looked up, and is deterministic."""
    try:
        if wanted.query:
            found = _sql_input(wanted.query, wanted.sql_url, wanted.snapshot)
        else:
            found = _file_input(spec, source, checks, options, wanted)
        return dataclasses.replace(found, snapshot=catalog.safe_id(found.snapshot, "snapshot id"))
    except InputRefused:
        raise
    except (refusals.InputRefused, ValueError) as exc:  # a bad file, path, query or snapshot id
        raise InputRefused(str(exc)) from None


def _file_input(
    spec: DatasetSpec, source: DatasetSpec, checks: dict[str, Any], options: dict[str, Any], wanted: _Wanted
) -> _Input:
    """A file or folder under the input roots (or a registered snapshot's), its partitions split into groups.

    `source` is the dataset whose production folder and snapshots hold the rows (`spec` itself, or its
    population)."""
    input, snapshot, groups = wanted.input, wanted.snapshot, wanted.groups
    if input is None and snapshot is None:
        raise InputRefused("give an input (file or folder) or a snapshot id to score")
    roots = inputs.input_roots(source.name, options)
    given = input or str(catalog.snapshot_inputs(source.name, str(snapshot)))
    path = inputs.resolve_input(given, roots)  # absolute, symlinks followed, under a root
    kind, found = inputs.locate(path, roots)
    sizes = inputs.file_rows(kind, found, path)  # unreadable files and 0 rows refused here
    rows: list[int | None]
    if kind == "parquet_folder":
        split = _split_groups(found, [int(n or 0) for n in sizes], groups or int(options["partition_groups"]))
        files = [[str(found[i]) for i in g] for g in split]
        rows = [sum(int(sizes[i] or 0) for i in g) for g in split]
    else:
        files, rows = [[str(path)]], sizes
    where = str(path)
    snapshot = snapshot or file_formats.input_stem(path)
    _check_columns(spec, checks, inputs.columns_of(kind, found[0]), where)
    return _Input(kind=kind, where=where, files=files, rows=rows, snapshot=str(snapshot))


def _served_version(spec: DatasetSpec, alias: str) -> tuple[Any, Any]:
    """(the model version to serve, the champion's alias drift or None); no version to serve is a ScoringError."""
    from modelops.store import alias_log, registry

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
    return served, drift


def _canary(spec: DatasetSpec, alias: str, version: str) -> Any | None:
    """The version holding the `canary` alias when the champion is served and it is another version, else None."""
    from modelops.store import registry

    if alias != registry.CHAMPION:
        return None
    trial = registry.version_by_alias(spec.model_name, registry.CANARY)
    return trial if trial is not None and str(trial.version) != version else None


def _challenger(
    spec: DatasetSpec, options: dict[str, Any], alias: str, version: str
) -> tuple[str | None, str | None, list[str]]:
    """(the challenger's version, its run id, notes): only when shadow or canary wants one other than the served."""
    from modelops.store import registry

    wants_challenger = bool(options["shadow"]) or float(options["canary_share"]) > 0
    if not wants_challenger or alias == registry.CHALLENGER:
        return None, None, []
    challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
    if challenger is not None and str(challenger.version) != version:
        return str(challenger.version), challenger.run_id, []
    return None, None, ["no challenger distinct from the served version: no shadow, no canary"]


def _check_columns(spec: DatasetSpec, checks: dict[str, Any], columns: list[str], where: str) -> None:
    """Refuse an input without the id column (predictions could not go back) or without any of the model's columns.

    The input's names are the population's when scoring another dataset (`checks["columns"]` maps them)."""
    id_column = checks["id_column"]
    renamed = checks["columns"]
    if id_column and id_column not in columns:
        raise InputRefused(
            f"input {where} has no id column {id_column!r}: predictions could not be joined back; "
            + csv_files.header_hint(columns, [id_column, *(renamed.get(f, f) for f in spec.features)])
        )
    features = [renamed.get(f, f) for f in (*spec.numeric, *spec.categorical)]
    if features and not set(features) & set(columns):
        shown = ", ".join(features[:10]) + (", ..." if len(features) > 10 else "")
        hint = csv_files.header_hint(columns, [*filter(None, [id_column]), *features])
        raise InputRefused(f"input {where} holds none of the model's columns ({shown}); {hint}")


def _sample_is_rows(options: dict[str, Any]) -> bool:
    """Whether `shadow_sample` is a number of rows (a whole number >= 2) rather than a share (0 < x <= 1)."""
    value = options["shadow_sample"]
    return isinstance(value, int) and not isinstance(value, bool)


def _count_rows(found: _Input, query: str | None, sql_url: str | None, options: dict) -> int:
    """The rows of a CSV (its line breaks, less the header: a quoted line break counts once more) or of a query."""
    if found.kind == "sql":
        counted = f"SELECT count(*) AS n FROM ({safe_sql.check_query(query or '')}) AS modelops_rows"
        (_, rows), *_ = safe_sql.query_rows(str(sql_url), counted, 1, options.get("sql_role"))
        return int(rows[0][0])
    return sum(csv_files.csv_line_rows(Path(name)) for group in found.files for name in group)


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
