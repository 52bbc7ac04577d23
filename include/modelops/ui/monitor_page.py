"""The "Model monitor" page: server-rendered HTML with inline SVG charts from `monitor_view`'s records.

No JavaScript framework and nothing fetched from elsewhere (the machine may be offline): one HTML
document with its CSS, tables with captions and header scopes, and one SVG line chart per trend
(every point a circle carrying its window and whether the signal breached, with a text title).
Element ids and data attributes named in `HOOKS` are what browser tests and people's scripts read:
keep them stable. The approvals waiting come first (what each would change, who asked, since when),
then the dataset's champion and challenger, its alias history, the decided promotion requests (who
asked, who answered, their comment), serving, trends and verdicts. Every text is HTML-escaped; the
page's only style and script are the inline ones below, allowed by hash in `PAGE_CSP`.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

from modelops.present.reports import plain_number
from modelops.ui.monitor_view import (
    RECENT_SNAPSHOTS,
    ApprovalList,
    DatasetList,
    DatasetView,
    Decision,
    Link,
    Overview,
    Trend,
    VersionInfo,
)

# A trend's y axis spans at least MIN_SPAN, or MIN_SHARE of its largest magnitude when that is more, so that
# a flat series (0.761 to 0.763) reads as flat and not as a crash; it always includes the limit line.
MIN_SPAN = 0.1
MIN_SHARE = 0.1

HOOKS = (
    "#champion-version[data-version]",
    "#challenger-version",
    "#alias-history tbody tr[data-alias][data-version]",
    "#serving tr[data-snapshot][data-model-rows][data-canary-rows][data-fallback-rows]",
    "svg#trend-<key> circle[data-window][data-breach]",
    "#verdicts tr[data-window][data-action]",
    "#recent-fallback-share[data-value]",
    "#approvals tr[data-run-id][data-dataset][data-requester]",
    "#required-actions-link",
    "#decisions tr[data-decision][data-override][data-run-id]",
    "#overview tr[data-dataset][data-champion][data-action][data-pending]",
)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1rem 1.5rem;color:#1a202c;background:#fff}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}h3{font-size:1rem;margin:.8rem 0 .3rem}
nav a{margin-right:.8rem}nav a[aria-current]{font-weight:700;text-decoration:none}
table{border-collapse:collapse;margin:.3rem 0 .8rem;min-width:40%}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid #cbd5e0;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#edf2f7}
.pass{color:#22543d}.fail{color:#9b2c2c;font-weight:600}.muted{color:#4a5568}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #cbd5e0;border-radius:6px;padding:.6rem .9rem;flex:1 1 28rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0;border:1px solid #e2e8f0;padding:.4rem}
figcaption{font-weight:600}svg text{font-size:11px;fill:#4a5568}
.action-retrain,.action-alert{color:#9b2c2c;font-weight:600}.action-watch{color:#975a16;font-weight:600}
.links a{margin-right:.6rem}.note{font-size:.9em;color:#4a5568}
.decision-refused,.decision-timed-out,.decision-overridden{color:#9b2c2c;font-weight:600}
.decision-approved{color:#22543d}td.comment{max-width:28rem;overflow-wrap:anywhere}
"""

# Inside the Airflow UI the page is an iframe sandboxed without popups or top navigation. Links into
# the Airflow UI itself (same origin) move the UI's router instead of loading the UI in the frame.
SCRIPT = """
document.querySelectorAll('a[data-airflow-route]').forEach(function (a) {
  a.addEventListener('click', function (event) {
    try {
      if (window.top === window) return;
      window.top.history.pushState({}, '', a.getAttribute('href'));
      window.top.dispatchEvent(new PopStateEvent('popstate'));
      event.preventDefault();
    } catch (e) { /* not reachable: follow the link in the frame */ }
  });
});
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# The page's Content-Security-Policy: its own inline style and script (by hash) and nothing else; no
# images, fonts or fetches; links only navigate. Framed only by the same origin (the Airflow UI).
PAGE_CSP = (
    f"default-src 'none'; style-src {_sha256(CSS)}; script-src {_sha256(SCRIPT)}; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _links(links: list[Link]) -> str:
    if not links:
        return '<span class="muted">none</span>'
    parts = []
    for link in links:
        extra = ' target="_blank" rel="noopener noreferrer"' if link.external else ""
        parts.append(f'<a href="{_e(link.href)}"{extra}>{_e(link.label)}</a>')
    return '<span class="links">' + "".join(parts) + "</span>"


def _reasons(reasons: dict[str, int]) -> str:
    if not reasons:
        return ""
    return '<br><span class="note">' + _e(", ".join(f"{k} {v}" for k, v in reasons.items())) + "</span>"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _when(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def _version_card(role: str, info: VersionInfo | None) -> str:
    hook = f"{role}-version"
    if info is None:
        return (
            f'<section class="card" aria-labelledby="{role}-title"><h2 id="{role}-title">{role.title()}: '
            f'<span id="{hook}">none</span></h2><p class="muted">No version holds the {role} alias.</p></section>'
        )
    gates = "".join(
        f'<tr data-gate="{_e(g.name)}" data-passed="{str(g.passed).lower()}"><td>{_e(g.name)}</td>'
        f'<td class="{"pass" if g.passed else "fail"}">{"PASS" if g.passed else "FAIL"}</td>'
        f"<td>{_e(g.detail)}</td></tr>"
        for g in info.gates
    )
    gates_table = (
        f"<table><caption>Promotion gate of v{_e(info.version)} (at registration)</caption>"
        '<thead><tr><th scope="col">check</th><th scope="col">result</th><th scope="col">detail</th></tr></thead>'
        f"<tbody>{gates}</tbody></table>"
        if info.gates
        else '<p class="muted">No gate record on this version\'s training run.</p>'
    )
    metric = (
        f"{_e(info.primary_metric)} on holdout {info.holdout_value:.4f}"
        if info.primary_metric and info.holdout_value is not None
        else ""
    )
    facts = [
        f"candidate {_e(info.candidate)}" if info.candidate else "",
        metric,
        f"verdict {_e(info.verdict)} (compared to {_e(info.compared_to)})" if info.verdict else "",
        f"champion since {_e(info.champion_since)}" if info.champion_since and role == "champion" else "",
        "retired" if info.retired else "",
    ]
    return (
        f'<section class="card" aria-labelledby="{role}-title"><h2 id="{role}-title">{role.title()}: '
        f'<span id="{hook}" data-version="{_e(info.version)}">v{_e(info.version)}</span></h2>'
        f"<p>{'; '.join(f for f in facts if f)}</p>{gates_table}<p>Links: {_links(info.links)}</p></section>"
    )


def _alias_history(view: DatasetView) -> str:
    rows = "".join(
        f'<tr data-alias="{_e(c.alias)}" data-version="{_e(c.version)}"><td>{_e(_when(c.changed_at))}</td>'
        f"<td>{_e(c.alias)}</td><td>v{_e(c.version)}</td>"
        f"<td>{'v' + _e(c.previous_version) if c.previous_version else '-'}</td>"
        f"<td>{_e(c.action or '')}</td><td>{_e(c.actor)}</td><td>{_e(c.approver or '')}"
        f"{' at ' + _e(_when(c.approved_at)) if c.approved_at else ''}</td><td>{_e(c.reason)}</td></tr>"
        for c in view.alias_history
    )
    return (
        '<table id="alias-history"><caption>Alias history: which version held which alias, from when '
        "(newest first)</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in ("changed at (UTC)", "alias", "version", "previous", "action", "actor", "approved by", "reason")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        + ("" if view.alias_history else '<p class="muted">No alias was ever set.</p>')
    )


def _decision_change(d: Decision) -> str:
    if d.action == "retire":
        return f"retire v{d.version}"
    return f"{d.action}: champion {'v' + d.previous_version if d.previous_version else 'none'} -> v{d.version}"


def _override(flag: bool | None) -> str:
    return {True: "true", False: "false", None: "unknown"}[flag]


def _decisions(view: DatasetView) -> str:
    rows = "".join(
        f'<tr data-decision="{_e(d.decision)}" data-override="{_override(d.override)}" data-run-id="{_e(d.run_id)}">'
        f"<td>{_e(_when(d.decided_at))}</td>"
        f'<td class="decision-{_e(d.label.replace(" ", "-"))}">{_e(d.label)}</td><td>{_e(_decision_change(d))}</td>'
        f'<td class="{"fail" if d.override else ""}">'
        f"{'yes: failed gates overridden' if d.override else ('no' if d.override is False else 'not known')}</td>"
        f"<td>{_e(d.requester or 'not known')}</td>"
        f"<td>{_e(d.approver or 'nobody (no answer before the timeout)')}</td>"
        f'<td class="comment">{_e(d.comment or "")}</td><td>{_e(d.reason)}</td><td>{_e(d.run_id or "")}</td></tr>'
        for d in view.decisions
    )
    return (
        '<table id="decisions"><caption>Promotion decisions: every request answered, refused or left to time '
        "out (newest first)</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in (
                "decided at (UTC)",
                "decision",
                "change asked",
                "override",
                "asked by",
                "answered by",
                "comment",
                "reason",
                "run",
            )
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        + ("" if view.decisions else '<p class="muted">No promotion request was decided yet.</p>')
    )


def _columns(columns: dict[str, list[str]]) -> str:
    if not columns:
        return ""
    text = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in columns.items())
    return f'<br><span class="note">columns {_e(text)}</span>'


def _served(view: DatasetView) -> str:
    rows = "".join(
        f'<tr data-snapshot="{_e(s.snapshot)}" data-version="{_e(s.model_version)}" data-model-rows="{s.model_rows}"'
        f' data-canary-rows="{s.canary_rows}" data-fallback-rows="{s.fallback_rows}"><td>{_e(s.snapshot)}</td>'
        f"<td>{_e(s.scored_at)}</td><td>v{_e(s.model_version)} ({_e(s.alias)})</td>"
        f"<td>{_e(s.served_line)}</td><td>{s.rows}</td><td>{s.model_rows}</td><td>{s.canary_rows}</td>"
        f'<td data-value="{"" if s.fallback_share is None else f"{s.fallback_share:.6f}"}">{s.fallback_rows} '
        f"({_share(s.fallback_share)})"
        f"{_reasons(s.fallback_reasons)}{_columns(s.fallback_columns)}"
        f"</td><td>{_e(s.serving)}</td><td>{_links(s.links)}</td></tr>"
        for s in view.served
    )
    share = view.recent_fallback_share
    value = "" if share is None else f' data-value="{share:.6f}"'
    recent = view.served[:RECENT_SNAPSHOTS]
    total = sum(s.rows for s in recent)
    return (
        f"<p>The {len(recent)} newest scorings: of {total} rows, the model scored "
        f"{sum(s.model_rows for s in recent)}, the canary decided {sum(s.canary_rows for s in recent)} and the "
        f"rule-based baseline served {sum(s.fallback_rows for s in recent)}. Recent fallback share: "
        f'<strong id="recent-fallback-share"{value}>{_share(share)}</strong></p>'
        "<table><caption>Scored snapshots: the version the alias pointed to, and who served the rows "
        "(newest first)</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in (
                "snapshot",
                "scored at",
                "alias pointed to",
                "who served the rows",
                "rows",
                "model",
                "canary",
                "fallback",
                "alias history says",
                "links",
            )
        )
        + f'</tr></thead><tbody id="serving">{rows}</tbody></table>'
        + ("" if view.served else '<p class="muted">No snapshot was scored yet.</p>')
    )


def axis_range(values: list[float], ceiling: float | None = None) -> tuple[float, float]:
    """A trend's y axis: every value (the limit among them), padded, at least MIN_SPAN or MIN_SHARE of the
    largest magnitude wide, centred on the values; a series that never goes below zero keeps zero as its
    floor and a bounded one (shares) its ceiling, the span moved, not cut, to stay inside."""
    low, high = min(values), max(values)
    span = max(high - low, MIN_SPAN, MIN_SHARE * max(abs(low), abs(high)))
    middle = (low + high) / 2
    pad = span * 0.08
    low, high = middle - span / 2 - pad, middle + span / 2 + pad
    if min(values) >= 0 > low:
        low, high = 0.0, high - low
    if ceiling is not None and max(values) <= ceiling < high:
        low, high = max(0.0 if min(values) >= 0 else low, low - (high - ceiling)), ceiling
    return low, high


def svg_chart(trend: Trend, width: int = 520, height: int = 170) -> str:
    """One trend as an inline SVG line chart; breached windows as filled red points, the limit dashed."""
    left, right, top, bottom = 48, 12, 12, 34
    points = [p for p in trend.points if p.value is not None]
    values = [p.value for p in points] + ([trend.limit] if trend.limit is not None else [])
    title_id, desc_id = f"trend-{trend.key}-title", f"trend-{trend.key}-desc"
    breaches = sum(p.breach for p in trend.points)
    desc = (
        f"{len(points)} windows with a value, {breaches} breached"
        + (f"; limit {trend.limit:g}" if trend.limit is not None else "")
        + (f"; latest {points[-1].value:.4g} in {points[-1].window_id}" if points else "")
    )
    head = (
        f'<svg id="trend-{_e(trend.key)}" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-points="{len(points)}">'
        f'<title id="{title_id}">{_e(trend.label)}</title><desc id="{desc_id}">{_e(desc)}</desc>'
    )
    if not points:
        return head + f'<text x="{left}" y="{height / 2:.0f}">no recorded window has this figure yet</text></svg>'
    low, high = axis_range(values, trend.ceiling)
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(trend.points)  # every recorded window has its place on the x axis, with a value or not

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    placed = [(i, p) for i, p in enumerate(trend.points) if p.value is not None]
    parts = [
        head,
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#a0aec0"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#a0aec0"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{plain_number(high)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{plain_number(low)}</text>',
        f'<text x="{left}" y="{height - 8}">{_e(trend.points[0].window_id)}</text>',
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{_e(trend.points[-1].window_id)}</text>',
    ]
    if trend.limit is not None:
        ly = y(trend.limit)
        parts.append(
            f'<line class="limit" x1="{left}" y1="{ly:.1f}" x2="{left + plot_w}" y2="{ly:.1f}" '
            f'stroke="#c53030" stroke-dasharray="5 4" data-limit="{trend.limit:g}"/>'
            f'<text x="{left + plot_w}" y="{ly - 3:.1f}" text-anchor="end">limit {plain_number(trend.limit)}</text>'
        )
    coords = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in placed)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2b6cb0" stroke-width="2"/>')
    for i, p in placed:
        fill = "#c53030" if p.breach else "#2b6cb0"
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="{5 if p.breach else 3.5}" fill="{fill}" '
            f'data-window="{_e(p.window_id)}" data-breach="{str(p.breach).lower()}" data-value="{p.value:.6g}">'
            f"<title>{_e(p.window_id)} (v{_e(p.model_version)}): {p.value:.4g}"
            f"{' - breach' if p.breach else ''}</title></circle>"
        )
    return "".join(parts) + "</svg>"


def _verdicts(view: DatasetView) -> str:
    rows = "".join(
        f'<tr data-window="{_e(v.window_id)}" data-action="{_e(v.action)}" data-breach="{str(v.breach).lower()}">'
        f"<td>{_e(v.window_id)}</td><td>{_e(_when(v.window_end))}</td><td>v{_e(v.model_version)}</td><td>{v.rows}</td>"
        f'<td class="action-{_e(v.action)}">{_e(v.action)}</td><td>{_e(", ".join(v.signals) or "none")}</td>'
        f"<td>{_share(v.fallback_share)}</td><td>{_e(v.why or '')}"
        + (("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in v.reasons) + "</ul>") if v.reasons else "")
        + f"</td><td>{_links(v.links)}</td></tr>"
        for v in view.verdicts[:20]
    )
    return (
        '<table id="verdicts"><caption>Latest monitoring verdicts (newest first)</caption><thead><tr>'
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in ("window", "window end", "judged", "rows", "action", "signals", "fallback", "why", "links")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        + ("" if view.verdicts else '<p class="muted">No monitoring window was recorded yet.</p>')
    )


def _approvals(approvals: ApprovalList, ui_base: str) -> str:
    href = f"{ui_base.rstrip('/')}/{approvals.required_actions_path}"
    rows = "".join(
        f'<tr data-run-id="{_e(a.run_id)}" data-dag-id="{_e(a.dag_id)}" data-dataset="{_e(a.dataset or "")}" '
        f'data-requester="{_e(a.requester or "")}"><td>{_e(a.dataset or "not known")}</td>'
        f'<td class="change">{_e(a.change or a.subject)}</td><td>{_e(a.requester or "not known")}</td>'
        f"<td>{_e(_when(a.created_at))}</td><td>{_e(', '.join(a.assigned_users) or 'anyone allowed')}</td>"
        f"<td>{_e(a.dag_id)}</td><td>{_e(a.run_id)}</td><td>{_e(a.subject)}</td></tr>"
        for a in approvals.approvals
    )
    error = f'<p class="fail" role="alert">{_e(approvals.error)}</p>' if approvals.error else ""
    return (
        f'{error}<table id="approvals"><caption>Approvals waiting ({len(approvals.approvals)}): what approving '
        "would change (newest first)</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in ("dataset", "change", "asked by", "waiting since (UTC)", "who may answer", "DAG", "run", "subject")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        f'<p>Answer them in <a id="required-actions-link" href="{_e(href)}" data-airflow-route="true">'
        "Browse &rarr; Required Actions</a>.</p>"
    )


def _overview(overview: Overview) -> str:
    """One row per configured dataset: champion, schedule, last window judged, what is open, its page."""
    rows = "".join(
        f'<tr data-dataset="{_e(d.dataset)}" data-champion="{_e(d.champion_version or "")}" '
        f'data-action="{_e(d.last_action or "")}" data-pending="{d.pending_approvals}">'
        f'<th scope="row"><a href="{_e(d.page)}">{_e(d.dataset)}</a></th>'
        f"<td>{'v' + _e(d.champion_version) if d.champion_version else '<span class=muted>none</span>'}</td>"
        f"<td>{_e(d.schedule)}</td><td>{_e(d.last_window or 'none yet')}</td><td>{_e(_when(d.judged_at))}</td>"
        f'<td class="action-{_e(d.last_action or "")}">{_e(d.last_action or "")}</td>'
        f"<td>{_e(', '.join(d.open_signals) or 'none')}"
        + (f'<br><span class="fail">{_e(d.alias_drift)}</span>' if d.alias_drift else "")
        + f"</td><td>{d.pending_approvals}</td></tr>"
        for d in overview.datasets
    )
    unattributed = (
        f'<p class="note">{overview.unattributed_approvals} waiting approval(s) of no configured dataset.</p>'
        if overview.unattributed_approvals
        else ""
    )
    return (
        '<table id="overview"><caption>Every configured dataset (monitoring judges each by its own schedule)'
        "</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in (
                "dataset",
                "champion",
                "schedule",
                "last window judged",
                "judged (UTC)",
                "verdict",
                "open signals",
                "approvals waiting",
            )
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>{unattributed}"
    )


def render_overview(overview: Overview, approvals: ApprovalList, ui_base: str = "/") -> str:
    """The monitor's opening page: every dataset's row, then the approvals waiting."""
    body = (
        f"<h2>Datasets</h2>{_overview(overview)}"
        if overview.datasets
        else '<p class="muted">No dataset is configured.</p>'
    )
    names = [d.dataset for d in overview.datasets]
    return _page("Model monitor", names, None, approvals, ui_base, body, overview.generated_at)


def render(view: DatasetView | None, datasets: DatasetList, approvals: ApprovalList, ui_base: str = "/") -> str:
    """The whole page for one dataset (`view`; None when no dataset is configured)."""
    if view is None:
        body = '<p class="muted">No dataset is configured.</p>'
    else:
        charts = "".join(f"<figure><figcaption>{_e(t.label)}</figcaption>{svg_chart(t)}</figure>" for t in view.trends)
        mlflow = (
            f'<a href="{_e(view.mlflow_ui)}" target="_blank" rel="noopener noreferrer">MLflow UI</a>'
            if view.mlflow_ui
            else "MLflow UI address not set (MODELOPS_MLFLOW_UI_URL)"
        )
        drift = (
            f'<p class="fail" id="alias-drift"><strong>Alias moved outside the product:</strong> '
            f"{_e(view.alias_drift)}</p>"
            if view.alias_drift
            else ""
        )
        body = (
            f"{drift}<p><strong>{_e(view.serving_now)}</strong></p>"
            f'<p class="note">{mlflow}. Inside the Airflow UI this page is a sandboxed frame that cannot open new '
            "tabs: open MLflow links with the browser's context menu, or open this page on its own at its address.</p>"
            f'<div class="cards">{_version_card("champion", view.champion)}'
            f"{_version_card('challenger', view.challenger)}</div>"
            f"<h2>Which version held the alias, and who served each snapshot</h2>{_alias_history(view)}"
            f"{_served(view)}"
            f"<h2>Decisions</h2>{_decisions(view)}"
            '<h2>Drift and performance trends</h2><p class="note">One point per recorded monitoring window; '
            "filled red points breached that signal; the dashed line is the configured limit.</p>"
            f'<div class="charts">{charts}</div>'
            f"<h2>Latest verdicts</h2>{_verdicts(view)}"
        )
    title = f"Model monitor: {view.dataset}" if view else "Model monitor"
    names = [d.dataset for d in datasets.datasets]
    return _page(title, names, view and view.dataset, approvals, ui_base, body, view and view.generated_at)


def _page(
    title: str,
    names: list[str],
    current: str | None,
    approvals: ApprovalList,
    ui_base: str,
    body: str,
    generated_at: Any,
) -> str:
    """The page around a body: title, the datasets' navigation (the overview first), approvals waiting."""
    nav = f'<a href="?"{" aria-current=page" if current is None else ""}>all datasets</a>' + "".join(
        f'<a href="?dataset={_e(name)}"{" aria-current=page" if name == current else ""}>{_e(name)}</a>'
        for name in names
    )
    generated = f'<p class="note">Generated {_e(_when(generated_at))} UTC.</p>' if generated_at else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
        f'<header><h1>{_e(title)}</h1><nav aria-label="datasets">{nav}</nav></header><main>'
        f'<section aria-labelledby="pending-title"><h2 id="pending-title">Pending approvals</h2>'
        f"{_approvals(approvals, ui_base)}</section>{body}{generated}</main>"
        f"<script>{SCRIPT}</script></body></html>"
    )
