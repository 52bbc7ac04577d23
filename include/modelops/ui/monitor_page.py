"""The "Model monitor" page: server-rendered HTML with inline SVG charts from the `modelops.ui` view records.

No JavaScript framework and nothing fetched from elsewhere (the machine may be offline): one HTML
document (templates/monitor.html.j2 and its parts in present/) with the one stylesheet, tables with
captions and header scopes, and one SVG line chart per trend (templates/trend.svg.j2)
(every point a circle carrying its window and whether the signal breached, with a text title).
Element ids and data attributes named in `HOOKS` are what browser tests and people's scripts read:
keep them stable. The approvals waiting come first (what each would change, who asked, since when),
then the dataset's champion and challenger, its alias history, the decided promotion requests (who
asked, who answered, their comment), serving, trends, verdicts, the champion's score decay by age, offline beside
online metrics per version and the forecasts built on the dataset's scores. Every text is HTML-escaped; the
page's only style (the stylesheet) and script (below) are inline, allowed by hash in `PAGE_CSP`.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, NamedTuple

from modelops.present import pages
from modelops.ui.approvals_view import ApprovalList
from modelops.ui.dataset_view import DatasetView
from modelops.ui.datasets_overview import DatasetList, Overview
from modelops.ui.serving_view import RECENT_SNAPSHOTS
from modelops.ui.trends_view import Trend
from modelops.ui.versions_view import Decision

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
    "#forecasts tr[data-forecast][data-snapshot][data-cycle][data-backtested]",
    "#decay tr[data-label][data-age][data-value]",
    "#offline-online tr[data-version][data-holdout][data-online][data-gap-windows]",
    "#offline-online-correlation[data-versions][data-spearman]",
)

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
    f"default-src 'none'; style-src {_sha256(str(pages.STYLE))}; script-src {_sha256(SCRIPT)}; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _when(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def _decision_change(d: Decision) -> str:
    if d.action == "retire":
        return f"retire v{d.version}"
    return f"{d.action}: champion {'v' + d.previous_version if d.previous_version else 'none'} -> v{d.version}"


def _override(flag: bool | None) -> str:
    return {True: "true", False: "false", None: "unknown"}[flag]


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


class _Box(NamedTuple):
    """A chart's plotting area in SVG coordinates."""

    left: float
    right: float
    top: float
    bottom: float


def svg_chart(trend: Trend, width: int = 520, height: int = 170) -> str:
    """One trend as an inline SVG line chart; breached windows as filled red points, the limit dashed."""
    box = _Box(48, width - 12, 12, height - 34)
    points = [p for p in trend.points if p.value is not None]
    values = [p.value for p in points] + ([trend.limit] if trend.limit is not None else [])
    breaches = sum(p.breach for p in trend.points)
    desc = (
        f"{len(points)} windows with a value, {breaches} breached"
        + (f"; limit {trend.limit:g}" if trend.limit is not None else "")
        + (f"; latest {points[-1].value:.4g} in {points[-1].window_id}" if points else "")
    )
    low, high = axis_range(values, trend.ceiling) if points else (0.0, 1.0)
    count = len(trend.points)  # every recorded window has its place on the x axis, with a value or not

    def x(i: int) -> float:
        span = box.right - box.left
        return box.left + (span * i / (count - 1) if count > 1 else span / 2)

    def y(v: float) -> float:
        return box.top + (box.bottom - box.top) * (1 - (v - low) / (high - low))

    placed = [(x(i), y(p.value), p) for i, p in enumerate(trend.points) if p.value is not None]
    limit_y = y(trend.limit) if trend.limit is not None and points else None
    return pages.render(
        "trend.svg.j2",
        trend=trend,
        width=width,
        height=height,
        box=box,
        desc=desc,
        placed=placed,
        low=low,
        high=high,
        limit_y=limit_y,
    )


def _page(title: str, names: list[str], current: str | None, approvals: ApprovalList, ui_base: str, **body: Any) -> str:
    """The page around a body: title, the datasets' navigation (the overview first), approvals waiting."""
    return pages.render(
        "monitor.html.j2",
        title=title,
        names=names,
        current=current,
        approvals=approvals,
        required_actions=f"{ui_base.rstrip('/')}/{approvals.required_actions_path}",
        script=SCRIPT,
        when=_when,
        decision_change=_decision_change,
        override=_override,
        **{"overview": None, "view": None, "generated_at": None, **body},
    )


def render_overview(overview: Overview, approvals: ApprovalList, ui_base: str = "/") -> str:
    """The monitor's opening page: every dataset's row, then the approvals waiting."""
    names = [d.dataset for d in overview.datasets]
    when = overview.generated_at
    return _page("Model monitor", names, None, approvals, ui_base, overview=overview, generated_at=when)


def render(view: DatasetView | None, datasets: DatasetList, approvals: ApprovalList, ui_base: str = "/") -> str:
    """The whole page for one dataset (`view`; None when no dataset is configured)."""
    names = [d.dataset for d in datasets.datasets]
    if view is None:
        return _page("Model monitor", names, None, approvals, ui_base)
    return _page(
        f"Model monitor: {view.dataset}",
        names,
        view.dataset,
        approvals,
        ui_base,
        view=view,
        recent=view.served[:RECENT_SNAPSHOTS],
        charts=[svg_chart(t) for t in view.trends],
        generated_at=view.generated_at,
    )
