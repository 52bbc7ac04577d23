"""The one HTML layer: Jinja2 templates (package files beside this module), one stylesheet, one number formatter.

Every page extends `templates/base.html.j2`, which inlines `templates/style.css` once. Autoescape is
on for every template but Markdown (`.md.j2`), so every value a template prints is escaped unless it
is marked safe (a fragment rendered by another template, the monitor's SVG charts). Every number on a
page goes through `present.reports.format_value` and its helpers: in Python for prepared table cells,
as the filters below (`fmt`, `plain_number`, `plain_value`, `share`, `direction`) in templates.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from modelops.present.reports import TEMPLATES, direction, format_value, plain_number, plain_value, share

STYLE = Markup((TEMPLATES / "style.css").read_text(encoding="utf-8"))  # the one stylesheet, inlined by base.html.j2


def versions(numbers: Any) -> str:
    """Version numbers as people name them: "v1, v2"."""
    return ", ".join(f"v{n}" for n in numbers or [])


def change_words(change: float | None, up: str = "above", down: str = "below") -> str:
    """A change as its unsigned magnitude and the word of its sign ("0.002 above"); zero is "no different from"."""
    text = format_value(change)
    if change is None or text == "n/a":
        return "n/a"
    if change == 0:
        return "no different from"
    return f"{format_value(abs(float(change)))} {direction(float(change), up, down)}"


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: autoescape on for HTML and SVG, undefined names an error, the number filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(disabled_extensions=["md.j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=format_value,
        plain_number=plain_number,
        plain_value=plain_value,
        share=share,
        direction=direction,
        change_words=change_words,
        versions=versions,
    )
    env.globals["style"] = STYLE
    return env


def render(template: str, **context: Any) -> str:
    """One template rendered with `context` (autoescaped when it is HTML or SVG)."""
    return environment().get_template(template).render(**context)


def fragment(template: str, **context: Any) -> Markup:
    """A rendered HTML piece to place inside another page without escaping it twice."""
    return Markup(render(template, **context))
