"""Extraction throughput on one core: our extractors against parsel and BeautifulSoup on the same pages.

The pages are the replica's own (``ReplicaSite(day=1).render(target)``; no server): listing pages spread
over the whole pager and post pages spread over the whole corpus, plus the replica's EUC-KR and
lying-header pages. Each extractor runs
in this (single-threaded) process over every page; the rate comes from each page's best time over
``repeat`` passes, as timeit takes the minimum (the least disturbed run on a shared machine).

- ``ours``: ``parse_html`` (decoding with ``decode_page``) + ``extract_listing`` / ``extract_post`` with the
  bundled profile: every field normalised (dates, counts, titles, language, cleaned HTML, content hash).
- ``parsel``: Scrapy's own route: ``w3lib.encoding.html_to_unicode`` then parsel CSS for the same fields,
  as raw text (stripped; counts made int), no further normalisation.
- ``bs4``: the same decoding, ``BeautifulSoup(text, "lxml")`` and the same CSS through soupsieve.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from bench import harness as h

BASE = "http://127.0.0.1:8000"
NOW = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
_DIGITS = re.compile(r"\d[\d,]*")
SOURCE_WORDS = ("See The Original Article", "원문 보기", "원문보기", "기사 원문")


@dataclass
class SavedPage:
    url: str
    body: bytes
    charset: str | None  # the charset the server's Content-Type header declares (None: none)
    index: int  # listing page number (0-based) or post position

    @property
    def content_type(self) -> str:
        return f"text/html; charset={self.charset}" if self.charset else "text/html"


def saved_pages(
    posts: int, listing_count: int, post_count: int
) -> tuple[list[SavedPage], list[SavedPage], int]:
    from crawler.profile import load_profile
    from crawler.replica import ReplicaSite

    site, used = None, 0
    for size in (h.replica_size(posts), 1000):  # any corpus gives the same kinds of pages
        try:
            site, used = ReplicaSite(1, posts=size), size
            break
        except (ValueError, RuntimeError) as exc:
            h.log(f"extraction: the replica cannot build {size:,} posts ({exc}); trying 1,000")
    if site is None:
        raise h.BenchError("the replica cannot build a corpus for the extraction pages")
    start = load_profile(h.SITE).listing.start
    n_listing = site.listing_pages()
    # Spread over the whole pager and corpus, plus the replica's encoding quirks (an EUC-KR listing page
    # declared by meta only, an EUC-KR post, a post whose header lies): real pages take those paths too.
    listing_numbers = sorted({*_spread(n_listing, listing_count), *([7] if n_listing > 7 else [])})
    listing = []
    for n in listing_numbers:
        target = start if n == 0 else f"{start}?page={n}"
        page = site.render(target)
        listing.append(SavedPage(BASE + target, page.body, page.charset_header, n))
    all_posts = site.posts()
    quirks = {getattr(site, "euc_kr_post_id", None), getattr(site, "lying_header_post_id", None)}
    chosen = {
        *_spread(len(all_posts), post_count),
        *(i for i, p in enumerate(all_posts) if p.post_id in quirks),
    }
    post_pages = []
    for i in sorted(chosen):
        target = all_posts[i].path
        page = site.render(target)
        if page.status == 200:
            post_pages.append(SavedPage(BASE + target, page.body, page.charset_header, i))
    return listing, post_pages, used


def _spread(total: int, wanted: int) -> list[int]:
    if wanted >= total:
        return list(range(total))
    return sorted({round(i * (total - 1) / max(1, wanted - 1)) for i in range(wanted)})


# -- the three extractors ---------------------------------------------------------------------------


def ours() -> tuple[Callable[[SavedPage], Any], Callable[[SavedPage], Any]]:
    from crawler.extract import extract_listing, extract_post, parse_html
    from crawler.profile import load_profile

    profile = load_profile(h.SITE).with_base_url(BASE)

    def listing(p: SavedPage) -> int:
        doc = parse_html(p.body, p.url, p.charset)
        return len(extract_listing(doc, profile, page=p.index + 1, now=NOW).rows)

    def post(p: SavedPage) -> str:
        doc = parse_html(p.body, p.url, p.charset)
        return extract_post(doc, profile, now=NOW).title_raw

    return listing, post


def _decode(p: SavedPage) -> str:
    from w3lib.encoding import html_to_unicode

    return html_to_unicode(p.content_type, p.body)[1]


def _count(text: str | None) -> int | None:
    m = _DIGITS.search(text or "")
    return int(m.group().replace(",", "")) if m else None


def parsel_extractors() -> tuple[Callable[[SavedPage], Any], Callable[[SavedPage], Any]]:
    from parsel import Selector

    def text(sel: Any, css: str = "") -> str:
        """The stripped text nodes under ``css`` (relative to ``sel``), joined by spaces."""
        return " ".join(
            t.strip() for t in sel.css(f"{css} ::text" if css else "::text").getall() if t.strip()
        )

    def listing(p: SavedPage) -> int:
        sel = Selector(text=_decode(p))
        rows = []
        for row in sel.css(".view-content li.views-row"):
            link = row.css(".views-field-title a")
            rows.append(
                {
                    "title": text(link),
                    "url": urljoin(p.url, link.attrib.get("href", "")),
                    "published": text(row, ".views-field-created .field-content"),
                    "author": text(row, ".views-field-name .field-content"),
                    "reads": _count(text(row, ".views-field-totalcount .field-content")),
                    "notice": bool(row.css(".notice-badge")),
                }
            )
        next_href = sel.css("ul.pager li.pager-next a::attr(href)").get()
        _ = urljoin(p.url, next_href) if next_href else None
        return len(rows)

    def post(p: SavedPage) -> str:
        sel = Selector(text=_decode(p))
        title = text(sel, "h1.page-title")
        body = sel.css(".field-name-body .field-item")
        meta = sel.css(".node-meta")
        _ = {
            "title": title,
            "category": text(sel, ".field-name-field-category"),
            "published": text(meta, ".date"),
            "author": text(meta, ".writer"),
            "reads": _count(text(meta, ".reads")),
            "body_text": "\n\n".join(text(b) for b in body.css("p, li")),
            "body_html": body.get(),
            "attachments": [
                (text(a), urljoin(p.url, a.attrib.get("href", "")), a.attrib.get("type"))
                for a in sel.css(".field-name-field-attachment a")
            ],
            "images": [
                (urljoin(p.url, i.attrib.get("src", "")), i.attrib.get("alt")) for i in body.css("img")
            ],
            "source": next(
                (a.attrib.get("href") for a in body.css("a") if any(w in text(a) for w in SOURCE_WORDS)), None
            ),
            "canonical": sel.css('link[rel="canonical"]::attr(href)').get(),
            "shortlink": sel.css('link[rel="shortlink"]::attr(href)').get(),
        }
        return title

    return listing, post


def bs4_extractors() -> tuple[Callable[[SavedPage], Any], Callable[[SavedPage], Any]]:
    from bs4 import BeautifulSoup

    def text(el: Any) -> str:
        return el.get_text(" ", strip=True) if el is not None else ""

    def listing(p: SavedPage) -> int:
        soup = BeautifulSoup(_decode(p), "lxml")
        rows = []
        for row in soup.select(".view-content li.views-row"):
            link = row.select_one(".views-field-title a")
            rows.append(
                {
                    "title": text(link),
                    "url": urljoin(p.url, link.get("href", "")) if link is not None else None,
                    "published": text(row.select_one(".views-field-created .field-content")),
                    "author": text(row.select_one(".views-field-name .field-content")),
                    "reads": _count(text(row.select_one(".views-field-totalcount .field-content"))),
                    "notice": row.select_one(".notice-badge") is not None,
                }
            )
        nxt = soup.select_one("ul.pager li.pager-next a")
        _ = urljoin(p.url, nxt.get("href", "")) if nxt is not None else None
        return len(rows)

    def post(p: SavedPage) -> str:
        soup = BeautifulSoup(_decode(p), "lxml")
        title = text(soup.select_one("h1.page-title"))
        body = soup.select_one(".field-name-body .field-item")
        meta = soup.select_one(".node-meta")
        links = {
            rel: (el.get("href") if el is not None else None)
            for rel in ("canonical", "shortlink")
            for el in [soup.select_one(f'link[rel="{rel}"]')]
        }
        _ = {
            "title": title,
            "category": text(soup.select_one(".field-name-field-category")),
            "published": text(meta.select_one(".date")) if meta else "",
            "author": text(meta.select_one(".writer")) if meta else "",
            "reads": _count(text(meta.select_one(".reads"))) if meta else None,
            "body_text": "\n\n".join(text(b) for b in body.select("p, li")) if body else "",
            "body_html": str(body) if body else "",
            "attachments": [
                (text(a), urljoin(p.url, a.get("href", "")), a.get("type"))
                for a in soup.select(".field-name-field-attachment a")
            ],
            "images": [(urljoin(p.url, i.get("src", "")), i.get("alt")) for i in body.select("img")]
            if body
            else [],
            "source": next(
                (
                    a.get("href")
                    for a in (body.select("a") if body else [])
                    if any(w in text(a) for w in SOURCE_WORDS)
                ),
                None,
            ),
            **links,
        }
        return title

    return listing, post


# -- timing -----------------------------------------------------------------------------------------


def _rate(
    fn: Callable[[SavedPage], Any], pages: list[SavedPage], repeat: int
) -> tuple[float, float, list[Any]]:
    """Pages/s and CPU ms/page from each page's best time over ``repeat`` passes (timeit's minimum, taken
    per page: on a shared machine a pause lands on some page of every pass, rarely on the same one),
    and the answers of a warm-up pass."""
    answers = [fn(p) for p in pages]  # warm-up: imports, selector compilation, caches
    best_wall = [float("inf")] * len(pages)
    best_cpu = [float("inf")] * len(pages)
    for _ in range(max(1, repeat)):
        for i, p in enumerate(pages):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            fn(p)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            if wall < best_wall[i]:
                best_wall[i], best_cpu[i] = wall, cpu
    return len(pages) / sum(best_wall), 1000 * sum(best_cpu) / len(pages), answers


def run(posts: int, *, listing_pages: int = 50, post_pages: int = 200, repeat: int = 15) -> dict[str, Any]:
    listing, post_pages_, corpus = saved_pages(posts, listing_pages, post_pages)
    h.log(f"extraction: {len(listing)} listing pages, {len(post_pages_)} post pages, best of {repeat} passes")
    out: dict[str, Any] = {
        "extract_listing_pages": len(listing),
        "extract_post_pages": len(post_pages_),
        "extract_listing_kib_per_page": sum(len(p.body) for p in listing) / len(listing) / 1024,
        "extract_post_kib_per_page": sum(len(p.body) for p in post_pages_) / len(post_pages_) / 1024,
        "extract_passes": repeat,
        "extract_corpus_posts": corpus,
    }
    answers: dict[str, dict[str, list[Any]]] = {}
    for name, make in (("ours", ours), ("parsel", parsel_extractors), ("bs4", bs4_extractors)):
        listing_fn, post_fn = make()
        for kind, fn, pages in (("listing", listing_fn, listing), ("post", post_fn, post_pages_)):
            rate, cpu_ms, got = _rate(fn, pages, repeat)
            answers.setdefault(name, {})[kind] = got
            prefix = "extract" if name == "ours" else f"extract_{name}"
            out[f"{prefix}_{kind}_pages_per_s"] = rate
            out[f"{prefix}_{kind}_cpu_ms_per_page"] = cpu_ms
            h.log(f"extraction: {name:<6} {kind:<7} {rate:8.0f} pages/s")
    # The baselines did the same work: same rows per listing page, same post titles (spacing aside). They
    # disagree where their decoding (w3lib's, as Scrapy's) garbles a page whose charset header lies.
    out["extract_listing_rows"] = sum(answers["ours"]["listing"])
    agree = [p.url for p, *rows in zip(listing, *(answers[n]["listing"] for n in answers), strict=True)
             if len(set(rows)) > 1]  # fmt: skip
    titles = zip(post_pages_, *(answers[n]["post"] for n in answers), strict=True)
    agree += [p.url for p, *got in titles if len({" ".join(str(t).split()) for t in got}) > 1]
    out["extract_pages_disagreeing"] = agree
    out["extract_pages_agreeing"] = len(listing) + len(post_pages_) - len(agree)
    for name in ("parsel", "bs4"):
        for kind in ("listing", "post"):
            out[f"extract_{kind}_vs_{name}"] = (
                out[f"extract_{kind}_pages_per_s"] / out[f"extract_{name}_{kind}_pages_per_s"]
            )
    return out
