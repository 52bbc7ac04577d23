"""The monitoring window's HTML report: what a person reads to see why the monitor acted.

Sections (templates/window_*.html.j2): the decision and the signals behind it, the reasons, labelled
performance (overall against the champion's reference, and per protected slice), the label-free
estimate with its interval, the calibration groups per column, plots (scores and every drifted
feature), the per-feature drift table, and every figure as JSON in a collapsed block (report.json
beside it). This module gathers the table rows and the figures; the templates hold the words.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from modelops.core import catalog
from modelops.core.served import served_by
from modelops.present import pages
from modelops.present.reports import (
    bar_plot,
    category_shares,
    cdf_plot,
    few_values,
    format_value,
    share,
    value_shares,
)

FIGURE_KINDS = {
    "cdf": "cumulative share, reference against window",
    "bars": "share of rows per value, reference against window",
}


class Figure(NamedTuple):
    """One plot of the report: what it shows, how, and its PNG (base64)."""

    name: str
    kind: str
    png: str

    @property
    def caption(self) -> str:
        """The plot's kind in words."""
        return FIGURE_KINDS[self.kind]


class Rows(NamedTuple):
    """A table's formatted cells and which rows are highlighted."""

    rows: list[list[str]]
    marks: list[bool]


def _versus_reference(lab: dict[str, Any], tolerance: Any) -> dict[str, Any]:
    """The primary metric against the champion's reference: the relative change, better or worse, the tolerance."""
    value, reference = lab["metrics"][lab["primary"]], lab["reference"]
    drop = lab["relative_drop"]
    return {
        "value": value,
        "reference": reference,
        "change": (value - reference) / abs(reference) if reference else math.nan,
        "worse": "worse" if drop > 0 else "better" if drop < 0 else "no change",
        "allowed": f"at most {share(float(tolerance))} worse" if isinstance(tolerance, int | float) else "none set",
    }


def _metric_rows(lab: dict[str, Any]) -> Rows:
    reference = lab.get("reference_metrics") or {}
    floors = lab.get("floors") or {}
    rows, marks = [], []
    for name, value in lab["metrics"].items():
        ref = reference.get(name)
        change = value - ref if isinstance(ref, int | float) and not math.isnan(value) else None
        missed = name in lab["below_floors"]
        cells = [format_value(value), format_value(ref), format_value(change, "+"), format_value(floors.get(name))]
        rows.append([name, *cells, "yes" * missed])
        marks.append(missed or (name == lab["primary"] and lab["performance_breach"]))
    return Rows(rows, marks)


def _labelled(lab: dict[str, Any]) -> dict[str, Any]:
    """The labelled section's tables: metrics, each protected slice, each source of served scores."""
    primary = lab["primary"]
    ref_slices = lab.get("reference_slices") or {}
    slices = [
        (
            column,
            [
                [str(label), str(s["rows"])]
                + [format_value(s[k]) for k in ("positive_rate", "mean_score", primary)]
                + [format_value(((ref_slices.get(column) or {}).get(label) or {}).get(primary))]
                for label, s in groups.items()
            ],
        )
        for column, groups in (lab.get("slices") or {}).items()
    ]
    by_source = [
        [name, pages.versions(f.get("versions", [])), str(f["rows"])]
        + [format_value(f[k]) for k in ("positive_rate", primary, "accuracy", "brier")]
        for name, f in (lab.get("by_source") or {}).items()
    ]
    metrics = _metric_rows(lab)
    return {"rows": metrics.rows, "marks": metrics.marks, "slices": slices, "by_source": by_source}


def _group_row(label: str, g: dict[str, Any]) -> list[str]:
    moved = format_value(g["gap"] - g["reference_gap"], "+") if g["reference_gap"] is not None else ""
    gaps = [format_value(g["gap"], "+"), format_value(g["reference_gap"], "+")]
    return [label, str(g["rows"]), *gaps, moved, "" if g["used"] else "no"]


def _calibration(lab: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per column: the summary row, and each group's gap against its reference gap."""
    if not lab or not lab.get("calibration"):
        return None
    rows, marks, groups = [], [], []
    for column, test in lab["calibration"].items():
        tests = [format_value(test["p_value"]), format_value(test.get("p_adjusted"))]
        worst = [format_value(test["max_gap"]), str(test["worst_group"] or "")]
        rows.append([column, str(test["groups"]), *worst, *tests, "yes" if test.get("breach") else ""])
        marks.append(bool(test.get("breach")))
        groups.append((column, [_group_row(label, g) for label, g in (test.get("by_group") or {}).items()]))
    return {"rows": rows, "marks": marks, "groups": groups}


def _features(report: dict[str, Any]) -> Rows:
    rows, marks = [], []
    for column, stats in ((report.get("data_drift") or {}).get("columns") or {}).items():
        cells = [format_value(stats[k]) for k in ("p_value", "p_adjusted", "effect", "psi")]
        rows.append([column, stats["kind"], *cells, "yes" if stats["drifted"] else ""])
        marks.append(bool(stats["drifted"]))
    return Rows(rows, marks)


def _figures(report: dict[str, Any], plot: dict[str, Any]) -> list[Figure]:
    """The scores and each drifted feature; few-valued numbers and categories as bars."""
    import numpy as np

    profile, frame = plot["profile"], plot["frame"]
    figures: list[Figure] = []
    if plot.get("scores") is not None:
        scores = cdf_plot("score distribution", profile["score"], plot["scores"])
        figures.append(Figure("served model scores", "cdf", scores))
    for column in (report.get("data_drift") or {}).get("drifted", []):
        if column in profile["numeric"]:
            col_profile = profile["numeric"][column]
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            if few_values(col_profile, values):
                figures.append(Figure(column, "bars", bar_plot(column, value_shares(col_profile, values))))
            else:
                figures.append(Figure(column, "cdf", cdf_plot(column, col_profile, values)))
        elif column in profile["categorical"]:
            table = category_shares(profile["categorical"][column], frame[column])
            figures.append(Figure(column, "bars", bar_plot(column, table)))
    return figures


def window_page(report: dict[str, Any], decision: dict[str, Any], figures: list[Figure]) -> str:
    """The report's HTML for one window (its figures already drawn)."""
    lab = report.get("labelled")
    served = report.get("served")
    multivariate = report.get("multivariate") or {}
    return pages.render(
        "window_report.html.j2",
        report=report,
        decision=decision,
        lab=lab,
        served=served,
        served_line=served_by(served).line() if served else "",
        versus=_versus_reference(lab, report["thresholds"].get("max_relative_drop")) if lab else None,
        labelled=_labelled(lab) if lab else None,
        multivariate_rows=[
            [f["feature"], format_value(f["importance"])] for f in multivariate.get("top_features") or []
        ],
        calibration=_calibration(lab),
        figures=figures,
        features=_features(report),
        report_json=json.dumps(report, indent=1, default=str),
    )


def render_window_report(report: dict[str, Any], decision: dict[str, Any], plot: dict[str, Any], out_dir: Path) -> Path:
    """Write report.json and report.html (each atomically, the JSON first) for one window; returns the HTML path.

    Other things live in `out_dir` too (the validation report, a dry run's folder): files, not the
    folder, are replaced.
    """
    import matplotlib

    matplotlib.use("Agg")
    page = window_page(report, decision, _figures(report, plot))
    catalog.write_json(out_dir / catalog.REPORT_JSON, report)
    return catalog.write_text(out_dir / catalog.REPORT_HTML, page)
