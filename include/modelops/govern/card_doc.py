"""A model card's document: headings, paragraphs, lists, tables and figures, rendered to Markdown and HTML.

`cards` and the card's section modules (`card_forecast`) build a `Doc`; the templates `card.md.j2` and
`card.html.j2` render it. `fmt` is the one number formatter of the card's sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelops.present import pages
from modelops.present.reports import format_value


def fmt(value: Any, spec: str = "") -> str:
    """The one number formatter for the card's sentences: None is "n/a", a text stays as it is."""
    return format_value(value, spec, missing="n/a")


@dataclass(frozen=True)
class Block:
    """One piece of a card: a heading (`level`, `text`), a paragraph (`text`), a list (`items`), a table
    (`header`, `rows` of raw values the templates format) or a figure (`name` of its PNG, `text` its caption)."""

    kind: str
    text: str = ""
    level: int = 0
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    name: str = ""


class Doc:
    """A card as a list of blocks, rendered to Markdown and to HTML from the same content."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []

    def h(self, level: int, text: str) -> None:
        """A heading."""
        self.blocks.append(Block("h", text, level=level))

    def p(self, text: str) -> None:
        """A paragraph."""
        self.blocks.append(Block("p", text))

    def items(self, items: list[str]) -> None:
        """A bullet list."""
        if items:
            self.blocks.append(Block("list", items=list(items)))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        """A table (text as it is, numbers through the one formatter)."""
        self.blocks.append(Block("table", header=list(header), rows=[list(r) for r in rows]))

    def image(self, name: str, caption: str) -> None:
        """A figure (a PNG of the card's folder)."""
        self.blocks.append(Block("img", caption, name=name))

    def markdown(self) -> str:
        """The card as Markdown (figures as PNG files beside it)."""
        return pages.render("card.md.j2", blocks=self.blocks)

    def html(self, title: str, images: dict[str, str]) -> str:
        """The card as one self-contained HTML page (figures embedded)."""
        return pages.render("card.html.j2", title=title, blocks=self.blocks, images=images)
