"""The snapshot's HTML scoring report (`templates/scoring_report.html.j2`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.core import catalog
from modelops.core.served import served_by
from modelops.present import pages
from modelops.present.reports import format_value
from modelops.score.agreement import DECILES

TOP_GEOGRAPHIES = 25  # the HTML lists the geographies that differ most; the JSON keeps them all
FIGURES = (
    ("score correlation", "score_correlation"),
    ("same decile", "same_decile_share"),
    ("within one decile", "within_one_decile_share"),
    ("top-decile overlap", "top_decile_overlap"),
    ("decision agreement", "decision_agreement"),
    ("mean difference", "mean_difference"),
)


@dataclass(frozen=True)
class SliceTable:
    """One slicing column's rows (formatted cells, most different first) and which rows are small."""

    column: str
    rows: list[list[str]]
    marks: list[bool]


@dataclass(frozen=True)
class Shadow:
    """The shadow agreement's tables as the page shows them: headline figures, decile transitions, slices."""

    header: list[str]
    figures: list[str]
    transitions_header: list[str]
    transitions: list[list[str]]
    slices: list[SliceTable]


@dataclass(frozen=True)
class Changes:
    """The snapshot diff as the page shows it: a line, the totals, and the new registrants' coverage."""

    line: str
    totals: list[list[str]]
    coverage: list[list[str]]


def changes_of(diff: dict[str, Any] | None) -> Changes | None:
    """The page's view of the manifest's `snapshot_diff` (None: the manifest has none)."""
    if not diff:
        return None
    if not diff.get("computed"):
        return Changes(f"not computed: {diff.get('reason')}", [], [])
    new = diff.get("new_registrant_share")
    line = f"against snapshot {diff['previous']} (the one scored before)" + (
        f"; per geography ({diff['geographies']}): {diff['file']} beside this page" if diff.get("file") else ""
    )
    totals = [
        [label, str(diff[count]), format_value(diff[share], "%")]
        for label, count, share in (("added", "adds", "add_share"), ("dropped", "drops", "drop_share"))
    ]
    totals.append(["moved (other geography)", str(diff["moves"]), format_value(diff["move_share"], "%")])
    if diff.get("new_registrants") is not None:
        totals.append(["new registrants", str(diff["new_registrants"]), format_value(new, "%")])
    coverage = []
    found = diff.get("registrants") or {}
    if found.get("computed"):
        for label, group in (("new registrants", found["new"]), ("every other row", found["rest"])):
            coverage.append(
                [
                    label,
                    str(group["rows"]),
                    str(group["model_rows"]),
                    str(group["fallback_rows"]),
                    format_value(group["model_share"], "%"),
                ]
            )
    elif found:
        line += f"; new registrants' coverage not computed: {found.get('reason')}"
    return Changes(line, totals, coverage)


def render_scoring_report(manifest: dict[str, Any], path: Path) -> Path:
    """The snapshot's HTML report: counts per source and reason, alerts, changes since the snapshot scored
    before, and the shadow agreement."""
    agreement = manifest.get("agreement")
    shown = bool(agreement and agreement.get("rows"))
    page = pages.render(
        "scoring_report.html.j2",
        changes=changes_of(manifest.get("snapshot_diff")),
        title=f"{manifest['dataset']}: scoring {manifest['snapshot']}",
        manifest=manifest,
        served_line=served_by(manifest).line(),
        agreement=agreement,
        sample=(agreement.get("sample") or {}) if shown else {},
        intervals=(agreement.get("intervals") or {}) if shown else {},
        shadow=_shadow(agreement) if shown else None,
        manifest_json=json.dumps(manifest, indent=1, default=str),
    )
    catalog.write_text(path, page)
    return path


def _shadow(agreement: dict[str, Any]) -> Shadow:
    intervals = agreement.get("intervals") or {}

    def figure(key: str) -> str:
        bounds = intervals.get(key)
        value = format_value(agreement[key], "+" if key == "mean_difference" else "")
        return f"{value} ({format_value(bounds[0])} .. {format_value(bounds[1])})" if bounds else value

    return Shadow(
        header=["rows", *[label for label, _ in FIGURES]],
        figures=[str(agreement["rows"]), *[figure(key) for _, key in FIGURES]],
        transitions_header=["champion decile \\ challenger", *[str(i + 1) for i in range(DECILES)]],
        transitions=[[str(i + 1), *[str(c) for c in row]] for i, row in enumerate(agreement["decile_transition"])],
        slices=[_slice_table(column, table) for column, table in agreement["slices"].items()],
    )


def _slice_table(column: str, table: dict[str, dict[str, Any]]) -> SliceTable:
    """A column's slices, the largest mean difference first; geographies cut to the TOP_GEOGRAPHIES."""
    items = sorted(table.items(), key=lambda kv: -abs(kv[1]["mean_difference"]))
    if column.startswith("geography:"):
        items = items[:TOP_GEOGRAPHIES]
    rows = [
        [
            label,
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
    return SliceTable(column, rows, [s["small"] for _, s in items])
