"""The monitoring window's HTML report: what a person reads to see why the monitor acted.

Sections: the decision and the signals behind it, the reasons, labelled performance (overall
against the champion's reference, and per protected slice), the label-free estimate with its
interval, the calibration groups per column, plots (scores and every drifted feature), the
per-feature drift table, and every figure as JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops import catalog, drift
from modelops.served import served_by

TOP_LEVELS = 12  # a categorical plot shows this many levels; the rest are pooled as "other"
OTHER_LEVELS = "other"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _cdf_plot(title: str, profile: dict[str, Any], values: np.ndarray) -> str:
    """Reference CDF (from the stored grid) against the current empirical CDF on the same edges."""
    import matplotlib.pyplot as plt

    edges, ref = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    x = values[np.isfinite(values)]
    _, cur = drift._grid_cdf(profile, x) if len(x) else (edges, np.zeros_like(ref))
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.step(edges, ref, where="post", label="reference", color="#4c72b0")
    ax.step(edges, cur, where="post", label="current", color="#dd8452")
    ax.set_title(title)
    ax.set_ylabel("cumulative share")
    ax.legend(loc="lower right")
    png = _png(fig)
    plt.close(fig)
    return png


def category_shares(profile: dict[str, Any], values: pd.Series, top: int = TOP_LEVELS) -> pd.DataFrame:
    """Reference and current share per level: the `top` levels by combined share, the rest as "other".

    Levels are named by `drift.category_labels`, as the drift test names them, so 1 and 1.0 are one bar.
    """
    ref = pd.Series(profile["counts"], dtype=float)
    ref = ref / ref.sum() if ref.sum() else ref
    cur = pd.Series(drift.category_counts(values), dtype=float)
    cur = cur / cur.sum() if cur.sum() else cur
    table = pd.DataFrame({"reference": ref, "current": cur}).fillna(0.0)
    pooled = table.index == drift.OTHER  # the profile's own pool of rare levels
    ranked = table.loc[~pooled].assign(both=lambda t: t["reference"] + t["current"])
    ranked = ranked.sort_values("both", ascending=False, kind="stable").drop(columns="both")
    shown, rest = ranked.iloc[:top], pd.concat([ranked.iloc[top:], table.loc[pooled]])
    if len(rest):
        shown = pd.concat([shown, rest.sum().to_frame(f"{OTHER_LEVELS} ({len(rest)} levels)").T])
    return shown


def _bar_plot(title: str, profile: dict[str, Any], values: pd.Series) -> str:
    """Category shares, reference against current, as horizontal bars (top levels + other)."""
    import matplotlib.pyplot as plt

    table = category_shares(profile, values)
    positions = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(5.5, 1.0 + 0.32 * len(table)))
    ax.barh(positions - 0.2, table["reference"], 0.4, label="reference", color="#4c72b0")
    ax.barh(positions + 0.2, table["current"], 0.4, label="current", color="#dd8452")
    ax.set_yticks(positions, [_short(str(k)) for k in table.index])
    ax.invert_yaxis()  # the most common level on top
    ax.set_xlabel("share of rows")
    ax.set_title(title)
    ax.legend(loc="best")
    png = _png(fig)
    plt.close(fig)
    return png


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return format(value, spec) if isinstance(value, int | float) else html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], marks: list[bool] | None = None) -> str:
    marks = marks or [False] * len(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=drift' if mark else ''}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row, mark in zip(rows, marks, strict=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _labelled_section(report: dict[str, Any]) -> str:
    """Overall metrics against the reference and the floors, then each protected slice."""
    lab = report.get("labelled")
    status = html.escape(report.get("labelled_status") or "")
    if not lab:
        return f"<h2>Labelled performance</h2><p>{status or 'no labelled window'}</p>"
    primary = lab["primary"]
    reference = lab.get("reference_metrics") or {}
    floors = lab.get("floors") or {}
    rows, marks = [], []
    for name, value in lab["metrics"].items():
        ref = reference.get(name)
        change = value - ref if isinstance(ref, int | float) and not math.isnan(value) else None
        missed = name in lab["below_floors"]
        rows.append(
            [html.escape(name), _fmt(value), _fmt(ref), _fmt(change, "+.3f"), _fmt(floors.get(name)), "yes" * missed]
        )
        marks.append(missed or (name == primary and lab["performance_breach"]))
    verdict = (
        f"{primary} is {lab['relative_drop']:.1%} below the champion's reference "
        f"(tolerance {report['thresholds'].get('max_relative_drop')}): "
        + ("<b>breach</b>" if lab["performance_breach"] else "within tolerance")
        if lab["judged"]
        else "too few labelled rows: reported, not judged"
    )
    parts = [
        "<h2>Labelled performance</h2>",
        f"<p>{status}. {lab['delivered_rows']} rows delivered, {lab['unlabelled_rows']} without an outcome "
        f"(left out), {lab['nonfinite_scores']} NaN/inf scores (left out). {verdict}.</p>",
        _table(["metric", "window", "reference", "change", "floor", "misses floor"], rows, marks),
    ]
    ref_slices = lab.get("reference_slices") or {}
    for column, slices in (lab.get("slices") or {}).items():
        slice_rows = []
        for label, stats in slices.items():
            old = (ref_slices.get(column) or {}).get(label) or {}
            slice_rows.append(
                [
                    html.escape(str(label)),
                    str(stats["rows"]),
                    _fmt(stats["positive_rate"]),
                    _fmt(stats["mean_score"]),
                    _fmt(stats[primary]),
                    _fmt(old.get(primary)),
                ]
            )
        parts.append(f"<h3>By {html.escape(column)}</h3>")
        parts.append(
            _table(["slice", "rows", "outcome rate", "mean score", primary, f"reference {primary}"], slice_rows)
        )
    if not lab.get("slices"):
        parts.append("<p>No protected column is in the window's inputs: no slices.</p>")
    by_source = lab.get("by_source") or {}
    if by_source:
        parts.append(
            "<h3>What was served, each on its own rows</h3><p>The served score of each row (the champion's, the "
            "canary challenger's, or the baseline's) against its outcome.</p>"
        )
        parts.append(
            _table(
                ["served by", "versions", "rows", "outcome rate", primary, "accuracy", "brier"],
                [
                    [
                        html.escape(name),
                        html.escape(", ".join(f"v{v}" for v in f.get("versions", []))),
                        str(f["rows"]),
                        _fmt(f["positive_rate"]),
                        _fmt(f[primary]),
                        _fmt(f["accuracy"]),
                        _fmt(f["brier"]),
                    ]
                    for name, f in by_source.items()
                ],
            )
        )
    canary = lab.get("canary")
    if canary:
        parts.append(
            f"<p>Canary: v{html.escape(str(canary['canary_version']))} {primary} {_fmt(canary['canary'])} on its "
            f"{canary['canary_rows']} rows vs champion v{html.escape(str(canary['champion_version']))} "
            f"{_fmt(canary['champion'])} on its {canary['champion_rows']} rows (difference "
            f"{_fmt(canary['difference'], '+.3f')}; reported, never a retrain signal).</p>"
        )
    return "".join(parts)


def _who_served(report: dict[str, Any]) -> str:
    """The report's first line: who served the window's rows, and whose own scores were judged."""
    name, version = html.escape(report["model_name"]), html.escape(str(report["model_version"]))
    served = report.get("served")
    truth = f"{html.escape(served_by(served).line())}. " if served else ""
    return f"{truth}Judged: {name} v{version}'s own scores against that version's reference"


def _served_section(report: dict[str, Any]) -> str:
    """Who served the window's rows: sources, the fallback share and its reasons, canary rows."""
    served = report.get("served")
    if not served:
        return ""
    sources = _table(["source", "rows"], [[html.escape(k), str(v)] for k, v in served["sources"].items()])
    reasons = _table(
        ["fallback reason", "rows"], [[html.escape(k), str(v)] for k, v in served["fallback_reasons"].items()]
    )
    share = (
        f"<p>Fallback share {served['fallback_share']:.1%} (limit {served['fallback_limit']:.1%}): "
        + ("<b>breach</b>" if served["fallback_breach"] else "within the limit")
        + f". Scored at {html.escape(str(served['scored_at']))}: {html.escape(served_by(served).line())}"
        + (
            f"; {served['withheld_rows']} rows were withheld by the scoring guard (their model scores count for "
            "prediction drift)"
            if served["withheld_rows"]
            else ""
        )
        + ".</p>"
    )
    canary = report.get("canary")
    canary_html = ""
    if canary:
        psi = (canary.get("prediction") or {}).get("psi")
        canary_html = (
            f"<p>Canary: {canary['rows']} rows decided by v{html.escape(str(canary['version']))}, mean score "
            f"{_fmt(canary['mean_score'])}"
            + (f", score PSI {_fmt(psi)} against its own reference" if psi is not None else "")
            + (f" ({html.escape(canary['note'])})" if canary.get("note") else "")
            + ".</p>"
        )
    return f"<h2>Served predictions</h2>{share}{sources}{reasons if served['fallback_reasons'] else ''}{canary_html}"


def _estimate_section(report: dict[str, Any]) -> str:
    est = report.get("estimate")
    if not est:
        return ""
    verdict = "<b>breach</b>" if est["breach"] else "within tolerance"
    return (
        "<h2>Estimated accuracy without labels</h2>"
        f"<p>{_fmt(est['expected_accuracy'])} (95% interval {_fmt(est['low'])} to {_fmt(est['high'])}, "
        f"{est['rows']} scores) against the reference {_fmt(est['reference'])}: a drop of {_fmt(est['drop'])} "
        f"(tolerance {report['thresholds'].get('estimated_accuracy_drop')}), {verdict}. The estimate assumes the "
        "model is still calibrated; the labelled checks are what see concept drift.</p>"
    )


def _multivariate_section(report: dict[str, Any]) -> str:
    """The domain classifier: can the window's rows be told from the reference's? and by which features."""
    result = report.get("multivariate")
    if not result:
        return ""
    head = (
        "<h2>Multivariate drift (domain classifier)</h2><p>A classifier trained to tell a sample of the reference "
        "rows from the window's rows: a cross-validated AUC near 0.5 means they look alike, jointly; it sees a "
        "change in how features move together that every per-column test misses.</p>"
    )
    if not result.get("judged"):
        return f"{head}<p>{html.escape(result.get('status') or 'not measured')}.</p>"
    verdict = "<b>breach</b>" if result["drifted"] else "no breach"
    top = result.get("top_features") or []
    table = (
        _table(
            ["feature", "importance (AUC lost when shuffled)"],
            [[html.escape(f["feature"]), _fmt(f["importance"], ".4f")] for f in top],
        )
        if top
        else ""
    )
    return (
        f"{head}<p>AUC {_fmt(result['auc'])} ({result['confidence']:.0%} interval {_fmt(result['low'])} to "
        f"{_fmt(result['high'])}; folds {', '.join(_fmt(a) for a in result['fold_aucs'])}) on "
        f"{result['rows_per_side']} reference and {result['rows_per_side']} window rows; it fires when the lower "
        f"bound exceeds {_fmt(result['threshold'], '.2f')}: {verdict}.</p>{table}"
    )


def _age_line(decision: dict[str, Any]) -> str:
    age = decision.get("champion_age")
    if not age:
        return ""
    return f"<br>Champion age: {html.escape(age['why'])} (champion since {html.escape(age['since'])})."


def _calibration_section(report: dict[str, Any]) -> str:
    lab = report.get("labelled")
    if not lab or not lab.get("calibration"):
        return ""
    summary, details, marks = [], [], []
    for column, test in lab["calibration"].items():
        summary.append(
            [
                html.escape(column),
                str(test["groups"]),
                _fmt(test["max_gap"]),
                html.escape(str(test["worst_group"] or "")),
                _fmt(test["p_value"], ".3g"),
                _fmt(test.get("p_adjusted"), ".3g"),
                "yes" if test.get("breach") else "",
            ]
        )
        marks.append(bool(test.get("breach")))
        group_rows = [
            [
                html.escape(label),
                str(g["rows"]),
                _fmt(g["gap"], "+.3f"),
                _fmt(g["reference_gap"], "+.3f"),
                _fmt(g["gap"] - g["reference_gap"], "+.3f") if g["reference_gap"] is not None else "",
                "" if g["used"] else "no",
            ]
            for label, g in (test.get("by_group") or {}).items()
        ]
        details.append(
            f"<details><summary>{html.escape(column)}</summary>"
            + _table(["group", "rows", "gap (observed - predicted)", "reference gap", "change", "tested"], group_rows)
            + "</details>"
        )
    return (
        "<h2>Calibration groups</h2><p>Per column, each group's observed-minus-predicted outcome rate against the "
        "same group's gap on the reference holdout (a model's stable misfit is no drift); a column breaches when "
        "its BH-adjusted p is below the level and a group moved by at least the minimum gap.</p>"
        + _table(["column", "groups tested", "largest change", "in group", "p", "p (BH)", "breach"], summary, marks)
        + "".join(details)
    )


def render_window_report(report: dict[str, Any], decision: dict[str, Any], plot: dict[str, Any], out_dir: Path) -> Path:
    """Write report.json and report.html (each atomically, the JSON first) for one window; returns the HTML path.

    Other things live in `out_dir` too (the validation report, a dry run's folder): files, not the
    folder, are replaced.
    """
    import matplotlib

    matplotlib.use("Agg")
    profile, frame = plot["profile"], plot["frame"]
    figures: list[tuple[str, str]] = []
    if plot.get("scores") is not None:
        figures.append(("served model scores", _cdf_plot("score distribution", profile["score"], plot["scores"])))
    for column in (report.get("data_drift") or {}).get("drifted", []):
        if column in profile["numeric"]:
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            figures.append((column, _cdf_plot(column, profile["numeric"][column], values)))
        elif column in profile["categorical"]:
            figures.append((column, _bar_plot(column, profile["categorical"][column], frame[column])))
    rows, marks = [], []
    for column, stats in ((report.get("data_drift") or {}).get("columns") or {}).items():
        rows.append(
            [
                html.escape(column),
                stats["kind"],
                _fmt(stats["p_value"], ".3g"),
                _fmt(stats["p_adjusted"], ".3g"),
                _fmt(stats["effect"], ".4f"),
                _fmt(stats["psi"], ".4f"),
                "yes" if stats["drifted"] else "",
            ]
        )
        marks.append(bool(stats["drifted"]))
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>none</li>"
    limitations = "".join(f"<li>{html.escape(n)}</li>" for n in report.get("limitations") or [])
    images = "".join(
        f"<figure><img src='data:image/png;base64,{png}' alt='{html.escape(name)}'><figcaption>{html.escape(name)}"
        "</figcaption></figure>"
        for name, png in figures
    )
    signals = ", ".join(report.get("signals") or []) or "none"
    title = html.escape(report["window_id"])
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Monitoring {title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:0.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px}}tr.drift{{background:#fde2d6}}figure{{display:inline-block;
margin:0.5em;vertical-align:top}}details{{margin:0.2em 0}}</style></head><body>
<h1>{html.escape(report["dataset"])}: window {title}</h1>
<p>{_who_served(report)}; {report["rows"]} rows.
Decision: <b>{html.escape(decision["action"])}</b> ({html.escape(decision["why"])}).<br>
Signals that breached: {html.escape(signals)}.{_age_line(decision)}</p>
<h2>Reasons</h2><ul>{reasons}</ul>
{f"<h2>What this dataset's spec cannot do</h2><ul>{limitations}</ul>" if limitations else ""}
{_served_section(report)}
{_labelled_section(report)}
{_estimate_section(report)}
{_multivariate_section(report)}
{_calibration_section(report)}
<h2>Plots</h2>{images or "<p>no plots (data-quality break)</p>"}
<h2>Features</h2>{_table(["column", "kind", "p", "p (BH)", "effect", "PSI", "drifted"], rows, marks)}
<h2>All figures</h2><pre>{html.escape(json.dumps(report, indent=1, default=str))}</pre></body></html>"""
    catalog.write_json(out_dir / "report.json", report)
    return catalog.write_text(out_dir / "report.html", page)
