"""HTML parsing helpers shared by the extractors: decoding, compiled CSS selectors, text with paragraphs.

lxml's plain element tree (no per-element Python class lookup, as ``lxml.html`` does: iterating a page is
about three times cheaper) with the selectors of ``selectors``: about ten times faster than BeautifulSoup
on a listing page (see docs/benchmark.md), and the extractors run on every page of every crawl.
"""

from __future__ import annotations

import functools
import html
import re
from copy import deepcopy
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from crawler.extract.selectors import PageIndex, compile_selector, page_index
from crawler.normalize import clean_text, decode_page

#: Elements that start a new paragraph when an element's text is read.
BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "ul",
    ]
)
SKIP_TAGS = frozenset(("script", "style", "noscript", "template"))
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class ExtractionError(ValueError):
    """A page that cannot be read as what it should be; the message says why."""


@dataclass
class Document:
    """A decoded, parsed page and the URL it came from."""

    url: str
    root: etree._Element
    encoding: str
    _index: PageIndex | None = field(default=None, repr=False, compare=False)

    def select(self, selector: str, within: etree._Element | None = None) -> list[etree._Element]:
        """Elements matching the CSS ``selector`` in document order (below ``within`` when given)."""
        match = compile_selector(selector)  # first: compiling registers the classes it names
        self._index = page_index(self.root, self._index)
        return match(self.root, self._index, within)

    def first(self, selector: str, within: etree._Element | None = None) -> etree._Element | None:
        found = self.select(selector, within)
        return found[0] if found else None

    def absolute(self, href: str | None) -> str | None:
        href = (href or "").strip()
        if not href:
            return None
        if href.startswith("/") and not href.startswith("//") and self._origin:
            return self._origin + href  # the common site-relative link, without urljoin's cost
        return urljoin(self.url, href)

    @functools.cached_property
    def _origin(self) -> str | None:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None

    def per_container(self, containers: list[etree._Element], selector: str) -> list[etree._Element | None]:
        """The first match of ``selector`` inside each container, with one query over the whole page:
        an XPath query per container costs an evaluation context each (about 20 µs), 100+ per listing."""
        index = {id(el): i for i, el in enumerate(containers)}
        found: list[etree._Element | None] = [None] * len(containers)
        for el in self.select(selector):
            for ancestor in el.iterancestors():
                i = index.get(id(ancestor))
                if i is not None:
                    if found[i] is None:
                        found[i] = el
                    break
        return found

    def link(self, rel: str) -> str | None:
        """The absolute href of ``<link rel=...>`` in the head (canonical, shortlink)."""
        for el in self.root.iter("link"):
            if rel in (el.get("rel") or "").lower().split():
                return self.absolute(el.get("href"))
        return None


#: One parser, no Python element classes; libxml2's HTML parser as lxml.html uses it.
_PARSER = etree.HTMLParser(remove_blank_text=False, collect_ids=False)


def parse_html(body: bytes, url: str, declared_charset: str | None = None) -> Document:
    """Decode ``body`` (trusting a declared charset only when the bytes agree) and parse it."""
    text, encoding = decode_page(body, declared_charset)
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses str input that declares an encoding
    if not text.strip():
        raise ExtractionError("empty page")
    try:
        root = etree.fromstring(text, _PARSER)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"unparsable HTML: {exc}") from None
    if root is None:
        raise ExtractionError("unparsable HTML: no document element")
    return Document(url=url, root=root, encoding=encoding)


def inline_text(el: etree._Element | None) -> str:
    """An element's text on one line, cleaned (for titles, names, labels)."""
    return "" if el is None else clean_text(_text(el))


def raw_text(el: etree._Element | None) -> str | None:
    """An element's text exactly as the page has it (kept beside the normalised value)."""
    return None if el is None else _text(el).strip()


def _text(el: etree._Element) -> str:
    """All text below ``el`` (what lxml.html's ``text_content()`` gives); most fields are one text node."""
    if len(el) == 0:
        return el.text or ""
    return "".join(el.itertext())


def block_text(el: etree._Element | None) -> str:
    """An element's text with paragraph breaks kept at block elements (``<br>`` is a line break,
    which ``clean_text`` folds into the paragraph)."""
    if el is None:
        return ""
    parts: list[str] = []
    _collect(el, parts)
    return clean_text("".join(parts), keep_paragraphs=True)


def _collect(node: etree._Element, parts: list[str]) -> None:
    # Plain recursion: libxml2 caps HTML nesting at 256 levels, well inside Python's limit.
    if node.text and isinstance(node.tag, str):
        parts.append(node.text)
    for child in node:
        tag = child.tag if isinstance(child.tag, str) else None
        if tag in SKIP_TAGS or tag is None:
            pass  # scripts, styles, comments: their text is not content, their tail is
        elif tag == "br":
            parts.append("\n")
        elif tag in BLOCK_TAGS:
            parts.append("\n\n")
            _collect(child, parts)
            parts.append("\n\n")
        else:
            _collect(child, parts)
        if child.tail:
            parts.append(child.tail)


#: Attributes kept in cleaned HTML: structure and links survive, scripts, styles and tracking do not.
KEEP_ATTRS = frozenset(("href", "src", "alt", "title", "colspan", "rowspan", "type"))
DROP_TAGS = SKIP_TAGS | {"iframe", "object", "embed", "form", "input", "button"}


#: Attributes holding a link among KEEP_ATTRS (lxml.html's link attributes, less those dropped).
LINK_ATTRS = ("href", "src")
_CONTROL_CHARS = re.compile("[\x00-\x1f]")


def clean_html(el: etree._Element | None, base_url: str) -> str:
    """The inner HTML of ``el`` without scripts, styles, event handlers or classes, links made absolute.

    What ``lxml.html``'s ``drop_tree`` and ``make_links_absolute`` give on a re-parsed copy, on a deep copy
    of the plain tree instead: the serialise-and-parse round trip cost a fifth of a post's extraction."""
    if el is None:
        return ""
    copy = deepcopy(el)
    for node in list(copy.iter()):
        if node is not copy and (not isinstance(node.tag, str) or node.tag in DROP_TAGS):
            _drop_tree(node)  # comments, processing instructions, scripts, embeds, forms
    for node in copy.iter():
        attrib = node.attrib
        for name in [a for a in attrib if a not in KEEP_ATTRS]:
            del attrib[name]
        if node.tag == "base" and "href" in attrib:
            return _clean_html_lxml(el, base_url)  # a <base> in the body: lxml.html's rules apply it
        for name in LINK_ATTRS:
            link = attrib.get(name)
            if link is None:
                continue
            if _CONTROL_CHARS.search(link):
                # The round trip URI-escaped these (libxml2's serialiser) before joining; urljoin alone
                # drops or rejects them. Every other character gives the same link either way
                # (tests/test_extract.py), including spaces, which the serialiser escapes in both.
                return _clean_html_lxml(el, base_url)
            absolute = urljoin(base_url, link)
            if absolute != link:
                attrib[name] = absolute
    inner = html.escape(copy.text or "", quote=False) + "".join(
        etree.tostring(c, method="html", encoding="unicode") for c in copy
    )
    return inner.strip()


def _drop_tree(node: etree._Element) -> None:
    """lxml.html's ``drop_tree``: remove the element with its content; its tail joins what came before."""
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        previous = node.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + node.tail
        else:
            previous.tail = (previous.tail or "") + node.tail
    parent.remove(node)


def _clean_html_lxml(el: etree._Element, base_url: str) -> str:
    """clean_html through lxml.html: for a body with its own <base href>, or links with control characters."""
    copy = lxml.html.fromstring(lxml.html.tostring(el, encoding="unicode"))
    for node in list(copy.iter()):
        if not isinstance(node.tag, str) or (node.tag in DROP_TAGS and node is not copy):
            node.drop_tree()
    for node in copy.iter():
        for name in [a for a in node.attrib if a not in KEEP_ATTRS]:
            del node.attrib[name]
    copy.make_links_absolute(base_url, resolve_base_href=False)
    inner = html.escape(copy.text or "", quote=False) + "".join(
        lxml.html.tostring(c, encoding="unicode") for c in copy
    )
    return inner.strip()


def charset_from_content_type(content_type: bytes | str | None) -> str | None:
    """The ``charset=`` parameter of a Content-Type header, if any (it may lie: see decode_page)."""
    if not content_type:
        return None
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None
