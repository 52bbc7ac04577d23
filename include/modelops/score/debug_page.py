"""A row's debug record as a text table (the command) and an HTML page (the present layer's templates)."""

from __future__ import annotations

from typing import Any

from modelops.present.pages import render
from modelops.present.reports import format_value
from modelops.score.debug_record import RowDebug


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return format_value(value)
    return "(missing)" if value is None else str(value)


def summary(record: RowDebug) -> str:
    """One line: who scored the row, its score, source and reason."""
    who = f"{record.model_name} v{record.version}" + (f" ({record.alias})" if record.alias else "")
    where = record.origin + (f", row {record.row}" if record.row is not None else "")
    reason = f", reason {record.reason}" if record.reason else ""
    return f"{where}: score {format_value(record.score)} by {record.source}{reason} ({who})"


def effect_rows(record: RowDebug, limit: int | None = None) -> list[list[str]]:
    """The effects, most first: column, effect in log-odds, the parts or the reference used."""
    if record.explanation is None:
        return []
    rows = []
    for effect in record.explanation.effects[:limit]:
        parts = {k: v for k, v in effect.parts.items() if v != 0.0}  # a category's other levels add nothing
        detail = ", ".join(f"{k} {format_value(v)}" for k, v in parts.items()) or (
            f"reference {_cell(effect.reference)}"
        )
        rows.append([effect.column, format_value(effect.effect), detail])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def render_text(record: RowDebug, limit: int = 10) -> str:
    """The record as readable tables: summary, checks, raw values, stages, effects, notes."""
    parts = [summary(record)]
    if record.id is not None:
        parts.append(f"id: {record.id}")
    if record.recorded:
        recorded = ", ".join(f"{k} {'none' if v is None else _cell(v)}" for k, v in record.recorded.items())
        parts.append(f"recorded: {recorded}")
    failed = [[c.name, "FAIL", c.meaning] for c in record.checks if not c.passed]
    parts += ["", f"checks: {len(record.checks) - len(failed)} passed, {len(failed)} failed"]
    if failed:
        parts.append(_table(["check (reason)", "result", "meaning"], failed))
    parts += ["", _table(["column", "raw value"], [[c, _cell(v)] for c, v in record.raw.items()])]
    for stage, values in record.stages.items():
        parts += ["", _table([stage, "value"], [[k, _cell(v)] for k, v in values.items()])]
    if record.explanation is not None:
        head = f"{record.explanation.method}: model score {format_value(record.model_score)}, "
        head += f"logit {format_value(record.explanation.logit)}"
        if record.explanation.intercept is not None:
            head += f" = intercept {format_value(record.explanation.intercept)} + the effects"
        parts += ["", head, _table(["column", "effect (log-odds)", "detail"], effect_rows(record, limit))]
    if record.omitted:
        parts += ["", f"PII columns never shown: {', '.join(record.omitted)}"]
    parts += [f"note: {n}" for n in record.notes]
    return "\n".join(parts)


def render_html(record: RowDebug) -> str:
    """The record as a page (the present layer's stylesheet and number formatter)."""
    return render(
        "debug_row.html.j2",
        title=f"Debug of one row: {record.dataset}",
        record=record,
        summary=summary(record),
        effects=effect_rows(record),
        checks=[[c.name, "pass" if c.passed else "FAIL", c.meaning] for c in record.checks],
        raw=[[c, _cell(v)] for c, v in record.raw.items()],
        stages={s: [[k, _cell(v)] for k, v in values.items()] for s, values in record.stages.items()},
    )
