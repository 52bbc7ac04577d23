"""The documentation holds together: every relative Markdown link resolves, and the README stays an entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 250

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def prose(path: Path) -> str:
    """The page without its fenced code blocks (a link or heading inside one is not a link or heading)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub makes for a page: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(prose(path)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def relative_links(path: Path) -> list[str]:
    """Links of a page that point inside the repository (not a web address)."""
    return [t for t in LINK.findall(prose(path)) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, or whose heading in a Markdown file, does not exist."""
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page):
    assert broken_links(page) == []


def test_the_pages_link_to_each_other():
    """Every docs page is reachable from the README or from another page."""
    linked = {
        (page.parent / t.partition("#")[0]).resolve() for page in PAGES for t in relative_links(page) if t[0] != "#"
    }
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


def test_the_readme_stays_an_entry_point():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) < README_MAX_LINES


def test_a_broken_link_and_a_missing_heading_are_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A heading, with `code`\n\n"
        "[ok](#a-heading-with-code) [ok](other.md#other) [web](https://example.org/x.md)\n"
        "[bad](#nope) [gone](x.md) [gone](x.md#a) [no heading](other.md#not-a-heading)\n"
    )
    assert broken_links(page) == ["#nope", "x.md", "x.md#a", "other.md#not-a-heading"]


def test_the_ml_test_score_audit_names_only_tests_and_modules_that_exist():
    """docs/ml-test-score.md is repeatable from the tests alone: every test and module it names exists."""
    text = (REPO / "docs" / "ml-test-score.md").read_text()
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(tests) >= 28  # at least one proving test per row
    missing = [f"{path}::{name}" for path, name in tests if f"def {name}(" not in (REPO / path).read_text()]
    modules = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", text)) - {path for path, _ in tests}
    roots = (REPO, REPO / "include" / "modelops")
    missing += [m for m in modules if not m.startswith("tests/") and not any((root / m).is_file() for root in roots)]
    assert missing == []
    rows = re.findall(r"^\| (D|M|I|Mon)(\d) \|.*\| ([\d.]+) \|[^|]*\|$", text, flags=re.M)
    assert len(rows) == 28
    sections = {s: sum(float(p) for k, _, p in rows if k == s) for s in ("D", "M", "I", "Mon")}
    assert min(sections.values()) >= 6.5, sections
