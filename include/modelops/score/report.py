"""The snapshot's HTML scoring report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelops.core import catalog
from modelops.score.agreement import DECILES

TOP_GEOGRAPHIES = 25  # the HTML lists the geographies that differ most; the JSON keeps them all


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
