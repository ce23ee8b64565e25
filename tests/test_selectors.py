"""The simple-selector engine gives exactly what cssselect's XPath gives: same elements, same order,
whole page or below an element, on every saved page."""

from __future__ import annotations

import json

import pytest
from lxml.cssselect import CSSSelector

from crawler.extract import parse_html
from crawler.extract.selectors import _simple
from tests.conftest import FIXTURES

PAGES = FIXTURES / "seoulsolution"
META = json.loads((PAGES / "pages.json").read_text(encoding="utf-8"))

#: Every kind the fast path takes (tags, ids, classes, several classes, [attr], [attr=value],
#: descendant and child combinators, a chain that starts with an indexed compound and one that does not)
#: and some it hands to XPath (pseudo-classes, groups, sibling combinators, attribute operators).
SELECTORS = [
    ".view-content li.views-row",
    ".views-field-title a",
    ".views-field-created .field-content",
    "ul.pager li.pager-next a",
    ".notice-badge",
    "li.views-row.notice",
    "h1.page-title",
    ".field-name-body .field-item",
    "#block-partners-international li",
    "#block-partners-domestic li img[alt]",
    "#footer .block-info",
    "div > span.field-content",
    "ul > li > a",
    "body div li",
    "a[href]",
    "link[rel=canonical]",
    "li",
    "*",
    ".no-such-class",
    "li:first-child a",
    "h1, h2",
    "li + li",
    "a[href^='/en/']",
]
FAST = [s for s in SELECTORS if _simple(s) is not None]


def test_the_fast_path_takes_the_simple_selectors() -> None:
    assert len(FAST) == len(SELECTORS) - 4
    assert _simple("li:first-child a") is None and _simple("h1, h2") is None
    assert _simple("li + li") is None and _simple("a[href^='/en/']") is None


@pytest.mark.parametrize("name", sorted(n for n in META if n.endswith(".html")))
def test_same_matches_as_cssselect(name: str) -> None:
    doc = parse_html((PAGES / name).read_bytes(), META[name]["url"], META[name]["charset"])
    found_any = 0
    for css in SELECTORS:
        want = CSSSelector(css, translator="html")(doc.root)
        got = doc.select(css)
        assert got == want, (name, css)
        found_any += bool(got)
        # below an element: a row, a block (cssselect lets the chain start at the element itself)
        for scope in doc.root.iter("li", "div", "ul"):
            assert doc.select(css, scope) == CSSSelector(css, translator="html")(scope), (name, css)
    assert found_any >= 8


def test_a_selector_compiled_after_the_index_is_still_answered() -> None:
    name = "listing-page0.html"
    doc = parse_html((PAGES / name).read_bytes(), META[name]["url"], META[name]["charset"])
    assert doc.select(".view-content li.views-row")  # builds the page's index
    late = ".views-field-name .views-label-name"  # a class no selector named before
    assert "views-label-name" not in doc._index.wanted
    assert doc.select(late) == CSSSelector(late, translator="html")(doc.root) != []
