"""The monitoring window's HTML report: what a person reads to see why the monitor acted.

Sections: the decision and the signals behind it, the reasons, labelled performance (overall
against the champion's reference, and per protected slice), the label-free estimate with its
interval, the calibration groups per column, plots (scores and every drifted feature), the
per-feature drift table, and every figure as JSON in a collapsed block (report.json beside it).

Also the one number formatter every HTML page uses (`format_value`, `plain_number`, `share`) and direction
words from the sign (`direction`). The module imports nothing heavy at its top: the monitor page
(an Airflow plugin) formats its numbers with it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.core import catalog
from modelops.core.served import served_by

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TOP_LEVELS = 12  # a categorical plot shows this many levels; the rest are pooled as "other"
OTHER_LEVELS = "other"
FEW_VALUES = 10  # a numeric feature with at most this many distinct values is drawn as bars, not a CDF
TINY = 1e-4  # below this magnitude (p-values) a number is no ordinary magnitude: scientific notation

# Every report page: width contained, long words and tables wrap instead of widening the page.
REPORT_CSS = (
    "body{font-family:sans-serif;margin:2em auto;padding:0 1em;max-width:70em;line-height:1.4;"
    "overflow-wrap:anywhere}table{border-collapse:collapse;margin:0.5em 0;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}tr.drift{background:#fde2d6}"
    "figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:100%}img{max-width:100%}"
    "details{margin:0.2em 0}pre{white-space:pre-wrap;max-height:40em;overflow:auto;font-size:12px}"
)


def plain_number(value: float, sign: bool = False) -> str:
    """A number as a person reads it, never 1.2e+05: three decimals for ordinary figures (0.761, -0.040),
    three significant digits from 10 (12.3), whole numbers with separators from 1000 (123,456), three
    significant digits below 0.001 (0.000123); only magnitudes below 1e-4 (p-values) are scientific."""
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    plus = "+" if sign and value > 0 else ""
    size = abs(value)
    if 0 < size < TINY:
        return f"{plus}{value:.2e}"
    if size >= 1000:
        decimals = 0
    elif size >= 10:
        decimals = 2 - math.floor(math.log10(size))
    elif size >= 0.001 or size == 0:
        decimals = 3
    else:
        decimals = 2 - math.floor(math.log10(size))
    return f"{plus}{value:,.{decimals}f}"


def plain_value(value: float) -> str:
    """A data value (a bucket's edge, a code): whole numbers as integers (120,000; 1), others as `plain_number`."""
    value = float(value)
    return f"{int(value):,}" if value.is_integer() else plain_number(value)


def share(value: float | None) -> str:
    """A share (0..1) as a percentage with one decimal: 0.34925... -> 34.9%."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):.1%}"


def direction(change: float, up: str = "above", down: str = "below") -> str:
    """The word for a change's sign ("above"/"below", "rise"/"drop"); the magnitude is shown unsigned beside it."""
    return up if change > 0 else down if change < 0 else "unchanged"


def png_base64(fig) -> str:
    """A matplotlib figure as base64 PNG text, ready for a data: URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _cdf_plot(title: str, profile: dict[str, Any], values: np.ndarray) -> str:
    """Reference CDF (from the stored grid) against the current empirical CDF on the same edges."""
    import matplotlib.pyplot as plt
    import numpy as np

    from modelops.stats import drift

    edges, ref = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    x = values[np.isfinite(values)]
    _, cur = drift.grid_cdf(profile, x) if len(x) else (edges, np.zeros_like(ref))
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.step(edges, ref, where="post", label="reference", color="#4c72b0")
    ax.step(edges, cur, where="post", label="current", color="#dd8452")
    ax.set_title(title)
    ax.set_ylabel("cumulative share")
    ax.legend(loc="lower right")
    png = png_base64(fig)
    plt.close(fig)
    return png


def _support(profile: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's values and their shares, read from its grid: the edges where the CDF steps up.

    Quantile interpolation adds edges between two values (0.8 between 0 and 1); the CDF does not step there.
    """
    import numpy as np

    edges, cdf = np.asarray(profile["edges"], dtype=float), np.asarray(profile["cdf"], dtype=float)
    steps = np.diff(np.concatenate([[0.0], cdf]))
    return edges[steps > 0], steps[steps > 0]


def few_values(profile: dict[str, Any], values: np.ndarray) -> bool:
    """A numeric feature with at most FEW_VALUES distinct values (0/1 flags, codes) in the reference and the window."""
    import numpy as np

    if not 0 < len(profile["edges"]) <= 2 * FEW_VALUES:  # each gap between two values adds one edge at most
        return False
    finite = values[np.isfinite(values)]
    return len(_support(profile)[0]) <= FEW_VALUES and len(np.unique(finite)) <= FEW_VALUES


def value_shares(profile: dict[str, Any], values: np.ndarray) -> pd.DataFrame:
    """Reference and window share of each distinct value of a few-valued numeric feature (rows without a value out).

    Window values the reference never held are pooled as "other".
    """
    import numpy as np
    import pandas as pd

    support, ref = _support(profile)
    x = values[np.isfinite(values)]
    cur = np.array([(x == value).sum() for value in support], dtype=float)
    other = len(x) - cur.sum()
    index = [plain_value(v) for v in support]
    table = pd.DataFrame({"reference": ref, "current": cur / len(x) if len(x) else cur}, index=index)
    if other:
        table.loc[OTHER_LEVELS] = [0.0, other / len(x)]
    return table


def category_shares(profile: dict[str, Any], values: pd.Series, top: int = TOP_LEVELS) -> pd.DataFrame:
    """Reference and current share per level: the `top` levels by combined share, the rest as "other".

    Levels are named by `drift.category_labels`, as the drift test names them, so 1 and 1.0 are one bar.
    """
    import pandas as pd

    from modelops.stats import drift

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


def _bar_plot(title: str, table: pd.DataFrame, label: str = "share of rows") -> str:
    """Shares per level, reference against current, as side-by-side horizontal bars (most common on top)."""
    import matplotlib.pyplot as plt
    import numpy as np

    positions = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(5.5, 1.0 + 0.32 * len(table)))
    ax.barh(positions - 0.2, table["reference"], 0.4, label="reference", color="#4c72b0")
    ax.barh(positions + 0.2, table["current"], 0.4, label="current", color="#dd8452")
    ax.set_yticks(positions, [_short(str(k)) for k in table.index])
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.set_title(title)
    ax.legend(loc="best")
    png = png_base64(fig)
    plt.close(fig)
    return png


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def format_value(value: Any, spec: str = "") -> str:
    """The reports' one number formatter: `plain_number` by default, `spec` "%" for a share, "+" for a signed
    change, or a fixed-point format spec ("+.3f"); None is blank, NaN/inf "n/a", a text is escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        value = value.item()
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return html.escape(str(value))
    if not math.isfinite(value):
        return "n/a"
    if spec == "%":
        return share(value)
    if spec in ("", "+"):
        return plain_number(value, sign=spec == "+")
    return format(value, spec)


def html_table(header: list[str], rows: list[list[str]], marks: list[bool] | None = None) -> str:
    """An HTML table of cells already escaped/formatted; a marked row gets the `drift` highlight."""
    marks = marks or [False] * len(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=drift' if mark else ''}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row, mark in zip(rows, marks, strict=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _versus_reference(primary: str, lab: dict[str, Any], tolerance: Any) -> str:
    """ "roc_auc 0.752 is 1.2% below the champion's reference 0.761 (worse; tolerance ...)": the word from the sign."""
    value, reference = lab["metrics"][primary], lab["reference"]
    change = (value - reference) / abs(reference) if reference else math.nan
    worse = "worse" if lab["relative_drop"] > 0 else "better" if lab["relative_drop"] < 0 else "no change"
    allowed = f"at most {share(float(tolerance))} worse" if isinstance(tolerance, int | float) else "none set"
    where = (
        f"equals the champion's reference {format_value(reference)}"
        if change == 0
        else f"is {share(abs(change))} {direction(change)} the champion's reference {format_value(reference)} ({worse})"
    )
    return f"{primary} {format_value(value)} {where}; tolerance: {allowed}"


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
            [
                html.escape(name),
                format_value(value),
                format_value(ref),
                format_value(change, "+"),
                format_value(floors.get(name)),
                "yes" * missed,
            ]
        )
        marks.append(missed or (name == primary and lab["performance_breach"]))
    verdict = (
        f"{_versus_reference(primary, lab, report['thresholds'].get('max_relative_drop'))}: "
        + ("<b>breach</b>" if lab["performance_breach"] else "within tolerance")
        if lab["judged"]
        else "too few labelled rows: reported, not judged"
    )
    parts = [
        "<h2>Labelled performance</h2>",
        f"<p>{status}. {lab['delivered_rows']} rows delivered, {lab['unlabelled_rows']} without an outcome "
        f"(left out), {lab['nonfinite_scores']} NaN/inf scores (left out). {verdict}.</p>",
        html_table(["metric", "window", "reference", "change", "floor", "misses floor"], rows, marks),
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
                    format_value(stats["positive_rate"]),
                    format_value(stats["mean_score"]),
                    format_value(stats[primary]),
                    format_value(old.get(primary)),
                ]
            )
        parts.append(f"<h3>By {html.escape(column)}</h3>")
        parts.append(
            html_table(["slice", "rows", "outcome rate", "mean score", primary, f"reference {primary}"], slice_rows)
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
            html_table(
                ["served by", "versions", "rows", "outcome rate", primary, "accuracy", "brier"],
                [
                    [
                        html.escape(name),
                        html.escape(", ".join(f"v{v}" for v in f.get("versions", []))),
                        str(f["rows"]),
                        format_value(f["positive_rate"]),
                        format_value(f[primary]),
                        format_value(f["accuracy"]),
                        format_value(f["brier"]),
                    ]
                    for name, f in by_source.items()
                ],
            )
        )
    canary = lab.get("canary")
    if canary:
        parts.append(
            f"<p>Canary: v{html.escape(str(canary['canary_version']))} {primary} "
            f"{format_value(canary['canary'])} on its "
            f"{canary['canary_rows']} rows vs champion v{html.escape(str(canary['champion_version']))} "
            f"{format_value(canary['champion'])} on its {canary['champion_rows']} rows (canary "
            f"{_change_words(canary['difference'], 'above', 'below')} the champion; reported, never a retrain "
            "signal).</p>"
        )
    return "".join(parts)


def _change_words(change: float, up: str, down: str) -> str:
    """A change as its unsigned magnitude and the word of its sign: "0.002 above", "a drop of" style words."""
    if change is None or not math.isfinite(float(change)):
        return "n/a"
    if change == 0:
        return "no different from"
    return f"{format_value(abs(float(change)))} {direction(float(change), up, down)}"


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
    sources = html_table(["source", "rows"], [[html.escape(k), str(v)] for k, v in served["sources"].items()])
    reasons = html_table(
        ["fallback reason", "rows"], [[html.escape(k), str(v)] for k, v in served["fallback_reasons"].items()]
    )
    fallback = (
        f"<p>Fallback share {share(served['fallback_share'])} (limit {share(served['fallback_limit'])}): "
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
            f"{format_value(canary['mean_score'])}"
            + (f", score PSI {format_value(psi)} against its own reference" if psi is not None else "")
            + (f" ({html.escape(canary['note'])})" if canary.get("note") else "")
            + ".</p>"
        )
    return f"<h2>Served predictions</h2>{fallback}{sources}{reasons if served['fallback_reasons'] else ''}{canary_html}"


def _estimate_section(report: dict[str, Any]) -> str:
    est = report.get("estimate")
    if not est:
        return ""
    verdict = "<b>breach</b>" if est["breach"] else "within tolerance"
    change = -float(est["drop"])  # drop is reference - estimate
    moved = f"a {direction(change, 'rise', 'drop')} of {format_value(abs(change))}" if change else "no change"
    return (
        "<h2>Estimated accuracy without labels</h2>"
        f"<p>{format_value(est['expected_accuracy'])} (95% interval {format_value(est['low'])} to "
        f"{format_value(est['high'])}, "
        f"{est['rows']} scores) against the reference {format_value(est['reference'])}: {moved} "
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
        html_table(
            ["feature", "importance (AUC lost when shuffled)"],
            [[html.escape(f["feature"]), format_value(f["importance"])] for f in top],
        )
        if top
        else ""
    )
    return (
        f"{head}<p>AUC {format_value(result['auc'])} ({share(result['confidence'])} interval "
        f"{format_value(result['low'])} to "
        f"{format_value(result['high'])}; folds {', '.join(format_value(a) for a in result['fold_aucs'])}) on "
        f"{result['rows_per_side']} reference and {result['rows_per_side']} window rows; it fires when the lower "
        f"bound exceeds {format_value(result['threshold'])}: {verdict}.</p>{table}"
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
                format_value(test["max_gap"]),
                html.escape(str(test["worst_group"] or "")),
                format_value(test["p_value"]),
                format_value(test.get("p_adjusted")),
                "yes" if test.get("breach") else "",
            ]
        )
        marks.append(bool(test.get("breach")))
        group_rows = [
            [
                html.escape(label),
                str(g["rows"]),
                format_value(g["gap"], "+"),
                format_value(g["reference_gap"], "+"),
                format_value(g["gap"] - g["reference_gap"], "+") if g["reference_gap"] is not None else "",
                "" if g["used"] else "no",
            ]
            for label, g in (test.get("by_group") or {}).items()
        ]
        details.append(
            f"<details><summary>{html.escape(column)}</summary>"
            + html_table(
                ["group", "rows", "gap (observed - predicted)", "reference gap", "change", "tested"], group_rows
            )
            + "</details>"
        )
    return (
        "<h2>Calibration groups</h2><p>Per column, each group's observed-minus-predicted outcome rate against the "
        "same group's gap on the reference holdout (a model's stable misfit is no drift); a column breaches when "
        "its BH-adjusted p is below the level and a group moved by at least the minimum gap.</p>"
        + html_table(["column", "groups tested", "largest change", "in group", "p", "p (BH)", "breach"], summary, marks)
        + "".join(details)
    )


FIGURE_KINDS = {
    "cdf": "cumulative share, reference against window",
    "bars": "share of rows per value, reference against window",
}


def json_details(value: Any, summary: str) -> str:
    """Raw JSON for whoever wants every figure: a collapsed <details> block, never open text on the page."""
    body = html.escape(json.dumps(value, indent=1, default=str))
    return f"<details><summary>{html.escape(summary)}</summary><pre>{body}</pre></details>"


def _figures(report: dict[str, Any], plot: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, kind, PNG) per plot: the scores and each drifted feature; few-valued numbers and categories as bars."""
    import numpy as np

    profile, frame = plot["profile"], plot["frame"]
    figures: list[tuple[str, str, str]] = []
    if plot.get("scores") is not None:
        scores = _cdf_plot("score distribution", profile["score"], plot["scores"])
        figures.append(("served model scores", "cdf", scores))
    for column in (report.get("data_drift") or {}).get("drifted", []):
        if column in profile["numeric"]:
            col_profile = profile["numeric"][column]
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            if few_values(col_profile, values):
                figures.append((column, "bars", _bar_plot(column, value_shares(col_profile, values))))
            else:
                figures.append((column, "cdf", _cdf_plot(column, col_profile, values)))
        elif column in profile["categorical"]:
            table = category_shares(profile["categorical"][column], frame[column])
            figures.append((column, "bars", _bar_plot(column, table)))
    return figures


def render_window_report(report: dict[str, Any], decision: dict[str, Any], plot: dict[str, Any], out_dir: Path) -> Path:
    """Write report.json and report.html (each atomically, the JSON first) for one window; returns the HTML path.

    Other things live in `out_dir` too (the validation report, a dry run's folder): files, not the
    folder, are replaced.
    """
    import matplotlib

    matplotlib.use("Agg")
    figures = _figures(report, plot)
    rows, marks = [], []
    for column, stats in ((report.get("data_drift") or {}).get("columns") or {}).items():
        rows.append(
            [
                html.escape(column),
                stats["kind"],
                format_value(stats["p_value"]),
                format_value(stats["p_adjusted"]),
                format_value(stats["effect"]),
                format_value(stats["psi"]),
                "yes" if stats["drifted"] else "",
            ]
        )
        marks.append(bool(stats["drifted"]))
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>none</li>"
    limitations = "".join(f"<li>{html.escape(n)}</li>" for n in report.get("limitations") or [])
    images = "".join(
        f"<figure data-kind='{kind}'><img src='data:image/png;base64,{png}' alt='{html.escape(name)}: {kind}'>"
        f"<figcaption>{html.escape(name)} ({FIGURE_KINDS[kind]})</figcaption></figure>"
        for name, kind, png in figures
    )
    signals = ", ".join(report.get("signals") or []) or "none"
    title = html.escape(report["window_id"])
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Monitoring {title}</title>
<style>{REPORT_CSS}</style></head><body>
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
<h2>Features</h2>{html_table(["column", "kind", "p", "p (BH)", "effect", "PSI", "drifted"], rows, marks)}
<h2>All figures</h2>{json_details(report, "every figure of this window as JSON (also report.json beside this page)")}
</body></html>"""
    catalog.write_json(out_dir / catalog.REPORT_JSON, report)
    return catalog.write_text(out_dir / catalog.REPORT_HTML, page)
