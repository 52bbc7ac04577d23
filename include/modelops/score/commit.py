"""Committing a snapshot: every part and the manifest in one folder swap, the MLflow run, the COPY into PostgreSQL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.core import catalog, environment
from modelops.core.tags import Tag
from modelops.score.agreement import agreement_report, canary_figures
from modelops.score.changes import snapshot_changes
from modelops.score.output import FALLBACK, OUTPUT_COLUMNS, SOURCES
from modelops.score.plan import InputRefused, RowCountError, ScoringError, ScoringPlan
from modelops.score.registrants import MODEL_POLICY, NEW_REGISTRANT
from modelops.score.report import render_scoring_report
from modelops.score.run import dedupe

if TYPE_CHECKING:
    from modelops.config.settings import DatasetSpec

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


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


_DIFF_BRIEF = ("computed", "previous", "reason", "adds", "drops", "moves", "new_registrant_share")


@dataclass(frozen=True)
class _Totals:
    """The snapshot's counts over its groups, checked: rows in == rows out, ids within the limit."""

    rows_in: int
    rows_out: int
    files: list[Path]  # the part files, in group order
    sources: dict[str, int]
    reasons: dict[str, int]  # rows per fallback reason, most first
    id_problems: dict[str, int]


def commit_scoring(
    plan: ScoringPlan | dict[str, Any],
    parts: list[dict[str, Any]],
    output_url: str | None = None,
    spec: DatasetSpec | None = None,
) -> dict[str, Any]:
    """Publish the snapshot's predictions + manifest in one folder swap; rows in == rows out or nothing.

    The manifest's `snapshot_diff` compares the snapshot with the one scored before it (`score.changes`; never
    fails the commit); `spec`, the dataset's, adds the new registrants' coverage to it.
    """
    plan = plan if isinstance(plan, ScoringPlan) else ScoringPlan.from_xcom(plan)
    ordered = _manifest_parts(plan, parts)
    totals = _totals(plan, ordered)
    # the model was unpickled and scored by this environment: other library versions than at training alert
    env = environment.compare(plan.trained_environment, f"{plan.model_name} v{plan.version}")
    alerts = _alerts(plan, ordered, totals) + ([env["alert"]] if env["alert"] else [])
    final = catalog.scoring_dir(plan.dataset, plan.snapshot)
    manifest = _manifest(plan, ordered, totals, alerts)
    manifest["environment"] = env
    changes = snapshot_changes(plan, totals.files, spec)
    manifest["snapshot_diff"] = {
        **changes.entry,
        "file": catalog.SNAPSHOT_DIFF_FILE if changes.geographies is not None else None,
    }
    with catalog.atomic_dir(final) as staging:
        (staging / catalog.PREDICTIONS).mkdir()
        for path in totals.files:
            os.link(path, staging / catalog.PREDICTIONS / path.name)  # a link: a failed commit keeps the parts
        if changes.geographies is not None:
            catalog.write_json(staging / catalog.SNAPSHOT_DIFF_FILE, {"geographies": changes.geographies})
        html_path = render_scoring_report(manifest, staging / catalog.REPORT_HTML)
        catalog.write_json(staging / catalog.MANIFEST, manifest)
    html_final = final / html_path.name
    run_id = _log_run(plan, manifest, totals, html_final)
    loaded = None
    table = plan.options.get("output_table")
    if table:
        if not output_url:
            raise ScoringError(f"scoring.output_table is {table!r} but no database URL was given to load it into")
        loaded = load_postgres(output_url, table, plan, [final / catalog.PREDICTIONS / f.name for f in totals.files])
    import shutil

    shutil.rmtree(catalog.scoring_staging(plan.dataset, plan.snapshot), ignore_errors=True)
    agreement = manifest["agreement"]
    return {
        "dataset": plan.dataset,
        "snapshot": plan.snapshot,
        "folder": str(final),
        "manifest": str(final / catalog.MANIFEST),
        "report": str(html_final),
        "mlflow_run_id": run_id,
        "rows": totals.rows_in,
        "rows_fallback": int(totals.sources.get("fallback", 0)),
        "permitted_use": plan.use,
        "new_registrants": manifest["new_registrants"],
        "snapshot_diff": {k: v for k, v in manifest["snapshot_diff"].items() if k in _DIFF_BRIEF},
        "sources": totals.sources,
        "fallback_reasons": manifest["fallback_reasons"],
        "alerts": alerts,
        "alias_drift": plan.alias_drift,
        "environment_drift": env["alert"],
        "model_name": plan.model_name,
        "model_version": plan.version,
        "serving": manifest["serving"],
        "challenger_version": plan.challenger_version,
        "agreement": {k: v for k, v in (agreement or {}).items() if k not in ("slices", "decile_transition")},
        "output_table": table,
        "table_rows": loaded,
    }


def _totals(plan: ScoringPlan, ordered: list[dict[str, Any]]) -> _Totals:
    """Every part file there with the rows its group read, rows in == rows out, and ids within the limit."""
    import pyarrow.parquet as pq

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
    reasons = _sum_counts([part["reasons"] for part in ordered])
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
    return _Totals(rows_in, rows_out, files, sources, reasons, id_problems)


def _alerts(plan: ScoringPlan, ordered: list[dict[str, Any]], totals: _Totals) -> list[str]:
    """The groups' alerts, with the alias drift and a fallback share above the limit first, id problems last."""
    alerts = dedupe([a for p in ordered for a in p["alerts"]], limit=50)
    if plan.alias_drift:
        alerts.insert(0, plan.alias_drift)
    fallback, rows_in = totals.sources[FALLBACK], totals.rows_in
    rule = plan.checks.get("new_registrants")
    if rule and rule["policy"] != MODEL_POLICY:  # rows the dataset's policy hands to the fallback are no failure
        fallback -= totals.reasons.get(NEW_REGISTRANT, 0)
    if fallback / rows_in > float(plan.options.get("fallback_share", 1.0)):
        alerts.insert(0, fallback_alert(fallback, rows_in, float(plan.options["fallback_share"]), totals.reasons))
    id_problems = totals.id_problems
    if sum(id_problems.values()):
        alerts.append(
            f"{id_problems['missing_id']} rows without an id and {id_problems['duplicate_id']} rows repeating an "
            "earlier row's id were served by the rule-based fallback (reasons missing_id, duplicate_id)"
        )
    return alerts


def _manifest(plan: ScoringPlan, ordered: list[dict[str, Any]], totals: _Totals, alerts: list[str]) -> dict[str, Any]:
    """The snapshot's manifest: what was scored, by which model, the counts, alerts and the shadow agreement."""
    from modelops.store import alias_log

    shadow = any(p["shadow"] for p in ordered)
    agreement = agreement_report([catalog.read_json(p["stats"]) for p in ordered if p["shadow"]]) if shadow else None
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
        "permitted_use": plan.use,
        "population": plan.population,
        "rows_in": totals.rows_in,
        "rows_out": totals.rows_out,
        "sources": totals.sources,
        "fallback_reasons": dict(sorted(totals.reasons.items(), key=lambda kv: -kv[1])),
        "fallback_share": totals.sources[FALLBACK] / totals.rows_in,
        "failed_checks": _sum_counts([p.get("failed_checks") or {} for p in ordered]),
        "id_problems": totals.id_problems,
        "new_registrants": _new_registrants(plan, ordered),
        "score_guard": plan.options["score_guard"],
        "score_shift": _merge_shift([p.get("score_shift") or {} for p in ordered]),
        "alerts": alerts,
        "alias_drift": plan.alias_drift,
        "notes": list(plan.notes) + dedupe([n for p in ordered for n in p.get("notes", [])]),
        "fast_path": _fast_summary(ordered),
        "groups": len(ordered),
        "parts": [
            {"file": f"{catalog.PREDICTIONS}/{f.name}", "rows": p["rows_in"]}
            for f, p in zip(totals.files, ordered, strict=True)
        ],
        "agreement": agreement,
        "canary": _canary(plan, ordered),
    }
    # one answer to "which model served on date D" (the alias history, see alias_log.served_on), with the rows truth
    manifest["serving"] = alias_log.describe_serving(
        plan.model_name, datetime.fromisoformat(plan.scored_at), plan.alias, served=manifest
    )
    return manifest


def _canary(plan: ScoringPlan, ordered: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The canary's evidence of this snapshot (its counts and figures beside the champion), None without a canary."""
    stats = [p["canary"] for p in ordered if p.get("canary")]
    if not stats:
        return None
    return {
        "version": plan.challenger_version,
        "alias": plan.challenger_alias,
        "share": plan.canary_share,
        "threshold": float(plan.options["threshold"]),
        **canary_figures(stats),
    }


def _log_run(plan: ScoringPlan, manifest: dict[str, Any], totals: _Totals, html: Path) -> str:
    """The MLflow run of the commit: rows per source and reason, the shadow figures, the report; its run id."""
    from modelops.store import runs

    metrics = {"rows": totals.rows_in, **{f"rows_{s}": c for s, c in totals.sources.items()}}
    metrics.update({f"fallback_{_metric_name(r)}": c for r, c in totals.reasons.items()})
    agreement = manifest["agreement"]
    if agreement and agreement.get("rows"):
        for key in ("score_correlation", "decision_agreement", "top_decile_overlap", "same_decile_share"):
            metrics[f"shadow_{key}"] = agreement[key]
    canary = manifest["canary"] or {}
    for key in ("decision_agreement", "fallback_share", "score_psi", "mean_shift"):
        if canary.get(key) is not None:
            metrics[f"canary_{key}"] = canary[key]
    tags = {
        Tag.MODEL_NAME: plan.model_name,
        Tag.ALIAS: plan.alias,
        Tag.MODEL_VERSION: plan.version,
        Tag.CHALLENGER_VERSION: plan.challenger_version or "none",
        Tag.INPUT: manifest["input"] or "",
        Tag.ALERTS: str(len(manifest["alerts"])),
        Tag.PERMITTED_USE: plan.use,
        Tag.POPULATION: plan.population or plan.dataset,
        Tag.ENVIRONMENT_DRIFT: environment.describe(manifest["environment"]["differences"])[:4000] or "none",
    }
    return runs.log_scoring(plan.dataset, plan.snapshot, metrics, manifest, str(html), tags)


def fallback_alert(fallback: int, rows: int, limit: float, reasons: dict[str, int]) -> str:
    """The alert line for a fallback share above the limit, whatever the cause (columns, values, ids, model)."""
    top = ", ".join(f"{r} {c}" for r, c in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
    return (
        f"{fallback} of {rows} rows ({fallback / rows:.1%}) were served by the rule-based fallback, above "
        f"fallback_share {limit:.1%}; reasons: {top}"
    )


def _new_registrants(plan: ScoringPlan, ordered: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The new registrants' policy and rows per source (None when the dataset names no new registrants)."""
    rule = plan.checks.get("new_registrants")
    if not rule:
        return None
    sources = {s: sum(int((p.get("new_registrants") or {}).get(s, 0)) for p in ordered) for s in SOURCES}
    return {"policy": rule["policy"], "column": rule["column"], "rows": sum(sources.values()), "sources": sources}


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
