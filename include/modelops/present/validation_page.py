"""The data-quality report page: our failures-first summary, then Great Expectations' own validation page.

The page is rendered by GX's Jinja environment (its section templates) with `validation_page.html.j2`
and the summary (`validation_summary.html.j2`, autoescaped) on top; anything that would load from the
network (CDN scripts, stylesheets, fonts) is removed, so the page reads offline.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from modelops.present import pages
from modelops.present.reports import TEMPLATES

# Anything that would be fetched from the network: CDN scripts, stylesheets, fonts, images.
_REMOTE = [
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.IGNORECASE),
    re.compile(r"<(?:link|img)\b[^>]*\b(?:href|src)\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE),
    re.compile(r"<script\b[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL),  # inline scripts need jQuery: dropped
]
_REMOTE_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)
TABLE_LEVEL = "Table-Level Expectations"  # GX's section name for expectations without a column


@dataclass(frozen=True)
class FailedCheck:
    """One failed check as the summary lists it: the expectation, its column, why it exists, the evidence."""

    expectation: str
    column: str | None
    why: str
    evidence: str


@dataclass(frozen=True)
class ValidationSummary:
    """What the summary on top of the report states about one batch."""

    dataset: str
    batch_hash: str
    success: bool
    counts: str  # the one count of checks (GX's statistics and our own checks)
    failed: list[FailedCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)


def _failures_first(result: Any) -> Any:
    """GX's page document with the failed expectations and their sections first."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    ordered = copy.deepcopy(result)
    ordered.results = sorted(ordered.results, key=lambda r: bool(r.success))  # stable: failures first
    document = ValidationResultsPageRenderer().render(ordered)
    failing = {r.expectation_config.kwargs.get("column") or TABLE_LEVEL for r in ordered.results if not r.success}
    overview, sections = document.sections[0], document.sections[1:]
    document.sections = [
        overview,
        *[s for s in sections if s.section_name in failing],
        *[s for s in sections if s.section_name not in failing],
    ]
    return document


def render_validation_page(summary: ValidationSummary, result: Any) -> str:
    """report.html: our summary, then GX's validation page with failures first; loads nothing from the network."""
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, FileSystemLoader

    view = DefaultJinjaPageView()
    view.env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES), view.env.loader])
    page = view.render(
        _failures_first(result),
        template="validation_page.html.j2",
        modelops_summary=pages.fragment("validation_summary.html.j2", summary=summary),
        style=pages.STYLE,
    )
    for pattern in _REMOTE:
        page = pattern.sub("", page)
    return _REMOTE_URL.sub("none", page)
