"""Debug one row: its raw values, each preprocessing step's output, its score, its checks and what moved it.

`debug_row` takes either an id (the row is read from the latest scored snapshot of the dataset, or the
one named, through the same reader batch scoring uses) or a row given as JSON (validated: known columns
only, plain values). The row goes through batch scoring's own per-row steps on a one-row input (the id
checks, the new-registrant policy, `checks.check_chunk`, the compiled scoring path `models.predict`, the
baseline for a row that falls back), so its score, source and reason are those batch scoring gives that
row. A snapshot row's recorded prediction is read back and set beside them.

Whole-chunk decisions are not per row: the guards of a chunk's scores (degenerate_scores,
score_distribution) and the unseen-category share are decided over a chunk, so a row alone can differ
from its recorded reason there; the record then says so in a note.

No PII in any output: the reader reads only the columns scoring uses, a given row naming a PII column is
refused, and the id is shown only when the id column is not declared PII. The row's values appear only in
the record (the requested artifact, written to a file): never in a log line or an exception.

Command: `python -m modelops.score.debug_row --dataset D --id X` (or `--row '{"age": 40, ...}'`) prints a
table and writes row.json and row.html under `catalog.debug_row_dir`.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import new_registrant_rows, plain_frame
from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog, jsonsafe
from modelops.score import explain
from modelops.score.checks import Reasons, baseline_scores, check_chunk
from modelops.score.debug_page import render_html, render_text
from modelops.score.debug_record import Check, RowDebug
from modelops.score.ids import SeenIds, id_checks, id_hashes
from modelops.score.models import LoadedModel, load_model, predict
from modelops.score.plan import InputRefused, ScoringError, ScoringPlan, compile_checks
from modelops.score.registrants import fixed_scores, mark_policy_rows, output_codes

_MAX_TEXT = 200  # longest text accepted as one value of a given row
_EXPLAINED = 10  # effects shown in the text table (the record keeps all)


class RowRefused(InputRefused):
    """The request names no row that can be debugged (bad JSON, unknown column, unknown id): deterministic."""


def debug_row(
    spec: DatasetSpec,
    settings: Settings,
    version: str = "champion",
    id: str | None = None,
    row: str | dict[str, Any] | None = None,
    snapshot: str | None = None,
) -> RowDebug:
    """The debug record of one row: by `id` (a scored snapshot's row) or a given `row` (JSON text or a dict)."""
    if (id is None) == (row is None):
        raise RowRefused("give exactly one of an id or a row (JSON)")
    plan, alias = row_plan(spec, settings, str(version or "champion"))
    model = load_model(plan, plan.version, plan.run_id)
    notes: list[str] = [plan.alias_drift] if plan.alias_drift else []
    recorded = None
    position = None
    if id is not None:
        snapshot = snapshot or _latest_scored(spec)
        frame, position, repeats = snapshot_row(spec, settings, plan, str(id), snapshot)
        if repeats:
            notes.append(f"{repeats} later rows of the snapshot share this id (each falls back: duplicate_id)")
        recorded = recorded_prediction(spec.name, snapshot, position)
        origin = f"snapshot {snapshot}"
    else:
        frame = parse_row(spec, settings, plan.checks, plan.baseline, row)
        origin, snapshot = "given row", None
    result = _score_row(plan, model, frame)
    notes += _compare(recorded, result, plan.version)
    return RowDebug(
        dataset=spec.name,
        model_name=plan.model_name,
        version=plan.version,
        alias=alias,
        origin=origin,
        snapshot=snapshot,
        row=position,
        id=_shown_id(spec, settings, plan, frame),
        raw=_raw(frame, _pii(spec, settings)),
        stages=result["stages"],
        score=result["score"],
        source=result["source"],
        reason=result["reason"],
        decision=bool(result["score"] >= float(plan.options["threshold"])),
        threshold=float(plan.options["threshold"]),
        model_score=result["model_score"],
        checks=result["checks"],
        explanation=result["explanation"],
        recorded=recorded,
        omitted=tuple(sorted(_pii(spec, settings))),
        notes=tuple(notes + result["notes"]),
    )


def row_plan(spec: DatasetSpec, settings: Settings, version: str) -> tuple[ScoringPlan, str | None]:
    """(a one-row scoring plan of the version, the alias it was asked by): `version` is an alias or a number."""
    from modelops.store import artifacts, registry

    alias: str | None = None
    drift = None
    if version.isdigit():
        found = registry.model_version(spec.model_name, version)
    else:
        alias = version
        found = registry.version_by_alias(spec.model_name, alias)
        if alias == registry.CHAMPION:
            found, drift = _recorded_champion(spec, found)
    if found is None:
        raise RowRefused(f"{spec.model_name} has no version {version!r} (an alias or a version number)")
    population = settings.dataset(spec.scoring.population.dataset) if spec.scoring.population else None
    options = {**settings.scoring_for(spec.name).model_dump(), "fallback_share": settings.monitoring.fallback_share}
    served = str(found.version)
    plan = ScoringPlan(
        dataset=spec.name,
        snapshot="debug-row",
        alias=alias or "",
        model_name=spec.model_name,
        version=served,
        run_id=found.run_id,
        input_kind="row",
        input=None,
        groups=(),
        group_rows=(),
        baseline=artifacts.load_baseline(spec.model_name, served, found.run_id),
        checks=compile_checks(spec, population),
        options=options,
        scored_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        alias_drift=drift,
    )
    return plan, alias


def _recorded_champion(spec: DatasetSpec, found: Any) -> tuple[Any, str | None]:
    """As batch scoring: a champion moved outside the DAGs is never served; the recorded version is (with a note)."""
    from modelops.store import alias_log, registry

    drift = alias_log.alias_drift(spec.model_name)
    if drift is None:
        return found, None
    if drift.recorded_version is None:
        raise ScoringError(f"{drift.line()}; no recorded version to serve instead")
    recorded = registry.model_version(spec.model_name, drift.recorded_version)
    return recorded, f"{drift.line()}; batch scoring serves the recorded v{drift.recorded_version}, so does this debug"


def _pii(spec: DatasetSpec, settings: Settings) -> set[str]:
    """The PII columns of the dataset (and of the population it scores)."""
    pii = set(spec.pii)
    if spec.scoring.population:
        pii |= set(settings.dataset(spec.scoring.population.dataset).pii)
    return pii


def row_columns(checks: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """The columns a row may hold, by the model's names: the ones batch scoring reads."""
    from modelops.core.rules import conditions

    new = checks.get("new_registrants") or {}
    extra = [checks["id_column"], checks["geography"], checks["canary_key"], *checks["protected"], new.get("column")]
    rule = [c["column"] for c in conditions(baseline["rule"])]
    return list(dict.fromkeys(c for c in [*checks["numeric"], *checks["categorical"], *rule, *extra] if c))


def parse_row(
    spec: DatasetSpec, settings: Settings, checks: dict[str, Any], baseline: dict[str, Any], row: str | dict
) -> pd.DataFrame:
    """A given row as a one-row frame, or RowRefused naming the problem (a column, never a value).

    Only the dataset's columns are accepted (those a batch keeps and those scoring reads; scoring reads
    only the latter, the others are left out); each value is null, a number or a text of at most
    `_MAX_TEXT` characters. A feature the row leaves out is a missing value (as a null would be).
    """
    if isinstance(row, str):
        try:
            row = json.loads(row)
        except ValueError as exc:
            raise RowRefused(f"the row is no valid JSON (line {getattr(exc, 'lineno', '?')})") from None
    if not isinstance(row, dict):
        raise RowRefused("the row must be a JSON object of column: value")
    allowed = row_columns(checks, baseline)
    pii = _pii(spec, settings)
    known = {*allowed, *spec.kept_columns} - pii
    for column, value in row.items():
        name = str(column)[:80]
        if column in pii:
            raise RowRefused(f"column {name!r} is declared PII: a debug row never takes it")
        if column not in known:
            raise RowRefused(f"unknown column {name!r}: a row holds only the columns of dataset {spec.name!r}")
        if isinstance(value, bool) or not (value is None or isinstance(value, int | float | str)):
            raise RowRefused(f"column {name!r}: a value must be null, a number or a text")
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            raise RowRefused(f"column {name!r}: text longer than {_MAX_TEXT} characters")
    features = [*checks["numeric"], *checks["categorical"]]
    values = {**dict.fromkeys(features), **{c: v for c, v in row.items() if c in allowed}}
    frame = pd.DataFrame({c: pd.Series([values[c]], dtype=_dtype(c, values[c], checks)) for c in values})
    return frame[[c for c in allowed if c in frame.columns]]


def _dtype(column: str, value: Any, checks: dict[str, Any]) -> str:
    """A numeric feature's number as float64 (as a Parquet snapshot holds it); anything else as given."""
    if column in checks["numeric"] and (value is None or isinstance(value, int | float)):
        return "float64"
    return "object"


def _latest_scored(spec: DatasetSpec) -> str:
    """The snapshot scored last (its manifest's scored_at; snapshot ids need not sort by time)."""
    scored = catalog.list_scored(spec.name)
    if not scored:
        raise RowRefused(f"dataset {spec.name!r} has no scored snapshot: give --snapshot or a row (JSON)")
    when = {s: str(catalog.read_json(catalog.scoring_manifest(spec.name, s)).get("scored_at") or "") for s in scored}
    return max(scored, key=lambda s: (when[s], scored.index(s)))


def snapshot_row(
    spec: DatasetSpec, settings: Settings, plan: ScoringPlan, id: str, snapshot: str
) -> tuple[pd.DataFrame, int, int]:
    """(the row of `id` as scoring read it, its position in the snapshot, later rows with the same id).

    Read from the input the snapshot was scored from (its manifest), by the scoring reader: only the
    columns scoring reads, renamed as scoring renames them. The first row with the id is the one batch
    scoring served (later ones fall back as duplicate_id).
    """
    from modelops.score.plan import plan_scoring
    from modelops.score.readers import iter_chunks

    manifest_path = catalog.scoring_manifest(spec.name, catalog.safe_id(snapshot, "snapshot id"))
    if not manifest_path.exists():
        raise RowRefused(f"snapshot {snapshot!r} of {spec.name!r} is not scored: no debug by id there")
    manifest = catalog.read_json(manifest_path)
    given = manifest.get("input") if manifest.get("input") not in (None, "sql query") else None
    read = plan_scoring(spec, settings, input=given, snapshot=snapshot, alias=plan.alias or "champion")
    id_column = read.checks["id_column"]
    if not id_column:
        raise RowRefused(f"dataset {spec.name!r} has no id column: debug a row given as JSON")
    wanted = id_hashes(pd.Series([id]))[0][0]
    offset, found, repeats = 0, None, 0
    for group in range(len(read.groups)):
        for chunk in iter_chunks(read, group):
            hashes, missing = id_hashes(chunk[id_column])
            hits = np.flatnonzero((hashes == wanted) & ~missing)
            if found is None and len(hits):
                found = (chunk.iloc[[hits[0]]].reset_index(drop=True), offset + int(hits[0]))
                repeats += len(hits) - 1
            elif len(hits):
                repeats += len(hits)
            offset += len(chunk)
    if found is None:
        raise RowRefused(f"the id is not in snapshot {snapshot!r} of {spec.name!r} ({offset} rows searched)")
    return found[0], found[1], repeats


def recorded_prediction(dataset: str, snapshot: str, position: int) -> dict[str, Any] | None:
    """The snapshot's committed prediction of the row at `position` (score, source, reason, version)."""
    import pyarrow.dataset as ds

    folder = catalog.scoring_dir(dataset, snapshot) / catalog.PREDICTIONS
    if not folder.exists():
        return None
    columns = ["score", "source", "reason", "decision", "model_version", "served_version"]
    table = ds.dataset(folder, format="parquet").to_table(columns=columns, filter=ds.field("row") == position)
    if table.num_rows != 1:
        return None
    return {c: table.column(c)[0].as_py() for c in columns}


def _score_row(plan: ScoringPlan, model: LoadedModel, frame: pd.DataFrame) -> dict[str, Any]:
    """Batch scoring's per-row steps on a one-row frame: checks, score, source, reason; stages and effects."""
    codes = np.zeros(1, dtype=np.int16)
    reasons = Reasons()
    id_checks(frame, plan.checks["id_column"], SeenIds(), codes, reasons)
    rule = plan.checks.get("new_registrants")
    new = new_registrant_rows(frame, rule)
    mark_policy_rows(rule, new, codes, reasons)
    factors: dict[str, tuple[np.ndarray, Any]] = {}
    X, alerts = check_chunk(frame, plan, model, reasons, factors, codes)
    notes = list(alerts)
    model_score = _model_score(model, X, factors, codes[0] == 0)
    if codes[0] == 0 and not (model_score is not None and 0.0 <= model_score <= 1.0):
        reasons.mark(codes, np.ones(1, dtype=bool), "invalid_score")
    served = codes[0] == 0
    if served:
        score = np.array([float(model_score)])
    else:
        back = frame.copy()
        for column in X.columns:  # the rule reads values as the checks did ("1" is 1)
            back[column] = X[column]
        score = baseline_scores(plain_frame(back), plan.baseline)
    fixed_scores(rule, codes, reasons, score)
    written = output_codes(rule, new, codes, reasons)
    stages, explanation = {}, None
    try:
        stages = explain.pipeline_stages(model.pipeline, X)
    except Exception as exc:  # a pipeline of another shape, or values it cannot transform: the record says so
        notes.append(f"the pipeline's stages could not be shown ({type(exc).__name__})")
    if model_score is not None and math.isfinite(model_score):
        refs = explain.references(model.pipeline, _profile(plan.run_id), *_kinds(plan))
        refs = {c: (float(v) if c in model.numeric_codes else v) for c, v in refs.items()}
        explanation = explain.contributions(model.pipeline, X, model_score, refs)
    if not served:
        notes.append("the row fell back: the baseline scored it; the effects explain the model's own score")
    return {
        "stages": stages,
        "score": float(score[0]),
        "source": "model" if served else "fallback",
        "reason": reasons.names[int(written[0])],
        "model_score": model_score,
        "checks": _checks(plan, model, frame, reasons),
        "explanation": explanation,
        "notes": notes,
    }


def _profile(run_id: str) -> dict[str, Any] | None:
    """The version's reference profile (the categories' frequencies), or None when it has none."""
    from modelops.store import artifacts

    try:
        return artifacts.load_profile(run_id)
    except Exception:  # an older version without a profile: categories get no reference
        return None


def _kinds(plan: ScoringPlan) -> tuple[list[str], list[str]]:
    return list(plan.checks["numeric"]), list(plan.checks["categorical"])


def _model_score(model: LoadedModel, X: pd.DataFrame, factors: dict, passes: bool) -> float | None:
    """The model's probability of the row: the compiled scoring path when the row passes (batch's own),
    else the pipeline's predict_proba (None when it cannot score the row)."""
    try:
        if passes:
            value = float(predict(model, X, factors)[0])
        else:
            value = float(model.pipeline.predict_proba(plain_frame(X))[0, 1])
    except (ValueError, TypeError, FloatingPointError):
        return None
    return value if math.isfinite(value) else None


_MEANINGS = {
    "missing_id": "the row has an id",
    "duplicate_id": "no earlier row of the snapshot has the same id",
    "new_registrant": "not a new registrant the policy takes from the model",
    "missing": "a value is present (the validation suite allows none missing)",
    "not_a_number": "the value reads as a number",
    "non_finite": "the number is finite",
    "out_of_range": "the number is within the spec's range",
    "not_allowed": "the code is one the spec allows",
    "unseen_category": "the model saw this category at training",
    "missing_column": "the input holds the column",
    "invalid_score": "the model's score is a probability",
}


def _checks(plan: ScoringPlan, model: LoadedModel, frame: pd.DataFrame, reasons: Reasons) -> tuple[Check, ...]:
    """Every per-row check batch scoring applies to this row, in batch scoring's order."""
    checks = plan.checks
    names: list[str] = []
    if checks["id_column"]:
        names += ["missing_id", "duplicate_id"]
    rule = checks.get("new_registrants")
    if rule and rule["policy"] != "model":
        names.append("new_registrant")
    required = set(checks["required"])
    for column in [*checks["numeric"], *checks["categorical"]]:
        if column not in frame.columns:
            names.append(f"missing_column:{column}")
            continue
        names += [f"missing:{column}"] if column in required else []
        if column in checks["numeric"]:
            names += [f"not_a_number:{column}", f"non_finite:{column}"]
            names += [f"out_of_range:{column}"] if column in checks["ranges"] else []
        else:
            allowed = column in checks["categories"] or column in model.numeric_codes
            names += [f"not_allowed:{column}"] if allowed else []
            names += [f"unseen_category:{column}"] if column in model.known else []
    names.append("invalid_score")
    failed = set(reasons.failed)
    return tuple(Check(n, n not in failed, n, _MEANINGS.get(n.split(":")[0], "")) for n in names)


def _compare(recorded: dict[str, Any] | None, result: dict[str, Any], version: str) -> list[str]:
    """Notes where the snapshot's recorded prediction differs from this replay (a chunk-level decision)."""
    if recorded is None:
        return []
    notes = []
    if str(recorded.get("served_version")) != version:
        notes.append(f"the snapshot was served by v{recorded.get('served_version')}; this replay used v{version}")
    if recorded.get("source") == "canary":
        notes.append("the challenger decided this row in the snapshot (canary)")
    if recorded.get("reason") != result["reason"]:
        notes.append(
            f"recorded reason {recorded.get('reason')!r}, replay {result['reason']!r}: a chunk-level decision "
            "(score guards, unseen-category share) or another version"
        )
    return notes


def _shown_id(spec: DatasetSpec, settings: Settings, plan: ScoringPlan, frame: pd.DataFrame) -> str | None:
    column = plan.checks["id_column"]
    if not column or column in _pii(spec, settings) or column not in frame.columns:
        return None
    value = frame[column].iloc[0]
    return None if pd.isna(value) else str(value)


def _raw(frame: pd.DataFrame, pii: set[str]) -> dict[str, Any]:
    return {c: explain.plain(frame[c].iloc[0]) for c in frame.columns if c not in pii}


def write_debug(record: RowDebug) -> dict[str, str]:
    """Write the record as row.json and row.html under `catalog.debug_row_dir`; their paths."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    digest = hashlib.sha256(jsonsafe.dumps(record.to_json(), sort_keys=True).encode()).hexdigest()[:8]
    folder = catalog.debug_row_dir(record.dataset, f"{stamp}-{digest}")
    with catalog.atomic_dir(folder) as staging:
        catalog.write_json(staging / catalog.DEBUG_ROW_JSON, record.to_json())
        catalog.write_text(staging / catalog.DEBUG_ROW_HTML, render_html(record))
    return {"json": str(folder / catalog.DEBUG_ROW_JSON), "html": str(folder / catalog.DEBUG_ROW_HTML)}


def main(argv: list[str] | None = None) -> int:
    """The command: one row's debug record as a table on stdout, and its files."""
    import argparse
    import sys

    from modelops.config.checks import ConfigError
    from modelops.config.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m modelops.score.debug_row", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="configured dataset (empty: the default dataset)")
    parser.add_argument("--version", default="champion", help="an alias or a version number (default: champion)")
    parser.add_argument("--id", help="the row's id in the scored snapshot")
    parser.add_argument("--row", help="a row as a JSON object of column: value (or @file.json)")
    parser.add_argument("--snapshot", help="the scored snapshot to read the id from (default: the latest)")
    args = parser.parse_args(argv)
    row = args.row
    if row and row.startswith("@"):
        row = Path(row[1:]).read_text(encoding="utf-8")
    try:
        settings = load_settings()
        spec = settings.dataset(args.dataset or settings.default_dataset)
        record = debug_row(spec, settings, args.version, args.id, row, args.snapshot)
    except (ConfigError, InputRefused, ScoringError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    paths = write_debug(record)
    print(render_text(record, _EXPLAINED))
    print(f"\nwritten: {paths['json']}\n         {paths['html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
