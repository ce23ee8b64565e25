"""``ReplicaSite``: the whole replica as a pure function from a request target to a page (no network)."""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from datetime import date, datetime, time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from crawler.replica import render
from crawler.replica.content import (
    EUC_KR_LISTING_PAGE,
    KST,
    ROWS_PER_PAGE,
    SEED_BLOCKS,
    Corpus,
    ReplicaPartner,
    ReplicaPost,
    _Post,
    all_partners,
    export_posts,
)
from crawler.replica.render import Page

_POST_PATH = re.compile(r"^/(en|ko)/content/([^/]+)$")
_NODE_PATH = re.compile(r"^/node/(\d+)$")
_LOGO_PATH = re.compile(r"^/sites/default/files/partners/([a-z0-9-]+)\.png$")
_STATIC_SINCE = datetime(2016, 1, 1, tzinfo=KST)  # Last-Modified of robots.txt and logos


class ReplicaSite:
    """The Seoul Solution board as it looks on ``day`` (day 1 = 2026-11-01, Asia/Seoul).

    Deterministic: the same arguments give byte-identical pages. The corpus is computed once here; pages are
    rendered on demand and memoised per target.
    """

    def __init__(self, day: int = 1, *, posts: int = 320, redesign: bool = False) -> None:
        self.day = day
        self.post_count = posts
        self.redesign = redesign
        self._corpus = Corpus(posts=posts, day=day)
        self.today: date = self._corpus.today
        self.euc_kr_post_id = str(self._corpus.euc_kr_post_id)
        self.lying_header_post_id = str(self._corpus.lying_header_post_id)
        self._regular = self._corpus.regular_posts()
        self._notice = self._corpus.notice_post()
        self._by_path: dict[str, _Post] = {}
        for post in self._corpus.posts.values():
            self._by_path[post.node_path] = post
            if post.alias:
                self._by_path[unquote(post.alias)] = post
        self._by_nid = self._corpus.posts
        self._logos = {p.logo_path.rsplit("/", 1)[1][:-4]: p for p in all_partners()}
        self._footer = render.footer(self._corpus.partners, SEED_BLOCKS)
        self._cache: OrderedDict[str, Page] = OrderedDict()

    # -- ground truth ---------------------------------------------------------------------------------
    def posts(self) -> list[ReplicaPost]:
        """Posts in listing order: the pinned notice first, then node id descending; no deleted posts."""
        return export_posts(self._corpus)

    def partners(self) -> dict[str, list[ReplicaPartner]]:
        return {section: list(items) for section, items in self._corpus.partners.items()}

    def blocks(self) -> list[tuple[str, str]]:
        """Info blocks of the footer: (heading, paragraphs joined by a blank line)."""
        return [(heading, "\n\n".join(paras)) for heading, paras in SEED_BLOCKS]

    def listing_pages(self) -> int:
        return max(1, math.ceil(len(self._regular) / ROWS_PER_PAGE))

    def changes(self) -> list[dict[str, Any]]:
        """What this day changed compared with the day before (empty on day 1); see docs/replica.md."""
        return [dict(c, fields=list(c["fields"])) if "fields" in c else dict(c) for c in self._corpus.changes]

    def post_page_target(self, post_id: str) -> str:
        return self._by_nid[int(post_id)].node_path

    # -- HTTP-free rendering --------------------------------------------------------------------------
    def render(self, target: str) -> Page:
        page = self._cache.get(target)
        if page is None:
            page = self._route(target)
            self._cache[target] = page
            if len(self._cache) > 4096:  # arbitrary query strings must not grow memory without bound
                self._cache.popitem(last=False)
        return page

    def _route(self, target: str) -> Page:
        parts = urlsplit(target)
        path = unquote(parts.path or "/")
        if path == "/":
            return self._redirect("/ko")
        if path == "/ko":
            return self._html(render.front(self._regular[:4], self.today, self._footer), self._day_start())
        if path == render.LISTING_PATH:
            return self._listing(parse_qs(parts.query))
        if path == "/robots.txt":
            return Page(200, "text/plain", render.ROBOTS_TXT.encode(), "utf-8", _STATIC_SINCE)
        if path == "/user/login":
            return self._html(render.login(self._footer), None)
        match = _POST_PATH.match(path)
        if match:
            post = self._by_path.get(path)
            if post is not None and post.lang == match.group(1):
                return self._post(post)
        match = _NODE_PATH.match(path)
        if match and int(match.group(1)) in self._by_nid:
            return self._redirect(self._by_nid[int(match.group(1))].path)
        match = _LOGO_PATH.match(path)
        if match and match.group(1) in self._logos:
            return Page(200, "image/png", render.png_logo(match.group(1)), None, _STATIC_SINCE)
        return Page(
            404, "text/html", render.encode(render.not_found(path, self._footer), "utf-8"), "utf-8", None
        )

    def _day_start(self) -> datetime:
        return datetime.combine(self.today, time(0, 0), KST)

    @staticmethod
    def _html(text: str, last_modified: datetime | None) -> Page:
        return Page(200, "text/html", text.encode("utf-8"), "utf-8", last_modified)

    @staticmethod
    def _redirect(location: str) -> Page:
        link = f'<a href="{render.attr(location)}">here</a>'
        body = f"<!DOCTYPE html>\n<html><body><p>Moved to {link}.</p></body></html>\n"
        return Page(301, "text/html", body.encode(), "utf-8", None, location=location)

    def _listing(self, query: dict[str, list[str]]) -> Page:
        page = _int_param(query, "page", 0)
        if self.redesign and "pg" in query:
            page = _int_param(query, "pg", 1) - 1
        page = max(page, 0)  # Drupal treats a negative or garbled page number as the first page
        rows = self._regular[page * ROWS_PER_PAGE : (page + 1) * ROWS_PER_PAGE]
        euc = page == EUC_KR_LISTING_PAGE
        build = render.listing_redesigned if self.redesign else render.listing
        text = build(
            rows,
            self._notice,
            page,
            self.listing_pages(),
            self.today,
            self._footer,
            "euc-kr" if euc else "utf-8",
        )
        if euc:  # declared only by the meta tag: the header carries no charset
            return Page(200, "text/html", render.encode(text, "euc-kr"), None, self._day_start())
        return self._html(text, self._day_start())

    def _post(self, post: _Post) -> Page:
        basis = f"node/{post.nid}@{post.last_modified().isoformat()}".encode()
        if post.nid == self._corpus.lying_header_post_id:
            # EUC-KR bytes, no meta declaration, and a header that claims Latin-1.
            text = render.post_page(post, self._footer, "none")
            body, charset = render.encode(text, "euc-kr"), "iso-8859-1"
        elif post.nid == self._corpus.euc_kr_post_id:
            body, charset = render.encode(render.post_page(post, self._footer, "euc-kr"), "euc-kr"), None
        else:
            body, charset = render.post_page(post, self._footer, "utf-8").encode("utf-8"), "utf-8"
        return Page(200, "text/html", body, charset, post.last_modified(), etag_basis=basis)


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return default
