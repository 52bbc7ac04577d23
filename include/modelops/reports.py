"""The monitoring window's HTML report: verdict, reasons, a plot per drifted feature and the scores."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops import drift


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _cdf_plot(title: str, profile: dict[str, Any], values: np.ndarray) -> str:
    """Reference CDF (from the stored grid) against the current empirical CDF on the same edges."""
    import matplotlib.pyplot as plt

    edges, ref = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    x = values[~np.isnan(values)]
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


def _bar_plot(title: str, profile: dict[str, Any], values: pd.Series) -> str:
    """Category shares, reference against current."""
    import matplotlib.pyplot as plt

    ref = pd.Series(profile["counts"], dtype=float)
    ref /= ref.sum()
    cur = values.astype(object).where(values.notna(), drift.MISSING).astype(str).value_counts(normalize=True)
    levels = list(dict.fromkeys([*ref.index, *cur.index]))
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    positions = np.arange(len(levels))
    ax.bar(positions - 0.2, [ref.get(k, 0) for k in levels], 0.4, label="reference", color="#4c72b0")
    ax.bar(positions + 0.2, [cur.get(k, 0) for k in levels], 0.4, label="current", color="#dd8452")
    ax.set_xticks(positions, levels, rotation=30, ha="right")
    ax.set_title(title)
    ax.legend()
    png = _png(fig)
    plt.close(fig)
    return png


def render_window_report(report: dict[str, Any], decision: dict[str, Any], plot: dict[str, Any], out_dir: Path) -> Path:
    """Write report.html and report.json for one window; returns the HTML path."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    profile, frame = plot["profile"], plot["frame"]
    figures: list[tuple[str, str]] = []
    if plot.get("scores") is not None:
        figures.append(("champion scores", _cdf_plot("score distribution", profile["score"], plot["scores"])))
    for column in (report.get("data_drift") or {}).get("drifted", []):
        if column in profile["numeric"]:
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            figures.append((column, _cdf_plot(column, profile["numeric"][column], values)))
        elif column in profile["categorical"]:
            figures.append((column, _bar_plot(column, profile["categorical"][column], frame[column])))
    rows = []
    for column, stats in ((report.get("data_drift") or {}).get("columns") or {}).items():
        rows.append(
            f"<tr class={'drift' if stats['drifted'] else ''}><td>{html.escape(column)}</td><td>{stats['kind']}</td>"
            f"<td>{stats['p_value']:.3g}</td><td>{stats['p_adjusted']:.3g}</td><td>{stats['effect']:.4f}</td>"
            f"<td>{stats['psi']:.4f}</td><td>{'yes' if stats['drifted'] else ''}</td></tr>"
        )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report["reasons"]) or "<li>none</li>"
    images = "".join(
        f"<figure><img src='data:image/png;base64,{png}' alt='{html.escape(name)}'><figcaption>{html.escape(name)}"
        "</figcaption></figure>"
        for name, png in figures
    )
    title = html.escape(report["window_id"])
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Monitoring {title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:2px 8px}}tr.drift{{background:#fde2d6}}figure{{display:inline-block;margin:0.5em}}</style></head><body>
<h1>{html.escape(report["dataset"])}: window {html.escape(report["window_id"])}</h1>
<p>Champion {html.escape(report["model_name"])} v{html.escape(report["model_version"])}; {report["rows"]} rows.
Decision: <b>{html.escape(decision["action"])}</b> ({html.escape(decision["why"])}).</p>
<h2>Reasons</h2><ul>{reasons}</ul>
<h2>Plots</h2>{images or "<p>no plots (data-quality break)</p>"}
<h2>Features</h2><table><tr><th>column</th><th>kind</th><th>p</th><th>p (BH)</th><th>effect</th><th>PSI</th>
<th>drifted</th></tr>{"".join(rows)}</table>
<h2>All figures</h2><pre>{html.escape(json.dumps(report, indent=1, default=str))}</pre></body></html>"""
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, default=str))
    return path
