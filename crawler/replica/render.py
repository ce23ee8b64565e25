"""HTML (and a few other bodies) of the replica, in the Drupal 7 markup of the real Seoul Solution board.

The crawler's site profile and extractors are written against these class names and this structure: change
them only together with ``crawler/profiles/seoulsolution.toml``.
"""

from __future__ import annotations

import html
import random
import struct
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from crawler.replica.content import ReplicaPartner, _Post, excerpt, listing_title

SITE_NAME = "서울정책아카이브 Seoul Solution"
REAL_ORIGIN = "https://www.seoulsolution.kr"
LISTING_PATH = "/ko/policy-news"


@dataclass(frozen=True)
class Page:
    status: int
    content_type: str
    body: bytes  # already in the page's own encoding
    charset_header: str | None  # the charset= for the Content-Type header; None: no charset in the header
    last_modified: datetime | None
    location: str | None = None  # redirect target (a path) for 301s
    # What the validators (ETag) are computed from. Post pages use the node's version, as a CMS does
    # from its "changed" stamp: the counter and the shared footer change daily without editing the post.
    etag_basis: bytes | None = None


def esc(text: str) -> str:
    """Text-node escaping: apostrophes stay literal, as Drupal writes them (``News_Seoul's ODA``)."""
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "&quot;")


def encode(text: str, encoding: str) -> bytes:
    """Encode a page. For EUC-KR, characters outside KS X 1001 become numeric references (as real servers'
    ``xmlcharrefreplace`` does). CPython's euc_kr codec would instead write 8-byte "make-up" sequences for the
    Hangul syllables missing from KS X 1001, which browsers and cp949 decoders do not understand, so those
    are turned into references too."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    table: dict[int, str] = {}
    for ch in set(text):
        if ord(ch) < 0x80:
            continue
        try:
            ok = len(ch.encode("euc_kr")) == 2
        except UnicodeEncodeError:
            ok = False
        if not ok:
            table[ord(ch)] = f"&#{ord(ch)};"
    return text.translate(table).encode("euc_kr")


def format_count(n: int) -> str:
    return f"{n:,}"


# ---------------------------------------------------------------------------------------------------------
# Page frame


def head(title: str, *, lang: str, meta: str, links: str = "") -> str:
    """``meta``: "utf-8" → ``<meta charset>``, "euc-kr" → ``http-equiv`` declaration, "none" → none."""
    if meta == "utf-8":
        declaration = '<meta charset="utf-8">\n'
    elif meta == "euc-kr":
        declaration = '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">\n'
    else:
        declaration = ""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="ltr">\n<head>\n{declaration}'
        f"<title>{esc(title)}</title>\n"
        '<meta name="Generator" content="Drupal 7 (http://drupal.org)">\n'
        f"{links}</head>\n"
    )


HEADER = (
    '<header id="header" role="banner">\n'
    f'<a class="site-name" href="/ko" title="홈" rel="home">{esc(SITE_NAME)}</a>\n'
    '<nav class="main-menu"><ul class="menu">'
    '<li class="first leaf"><a href="/ko">홈</a></li>'
    f'<li class="leaf active-trail"><a href="{LISTING_PATH}">정책뉴스</a></li>'
    '<li class="last leaf"><a href="/user/login">로그인</a></li>'
    "</ul></nav>\n</header>\n"
)


def footer(partners: dict[str, list[ReplicaPartner]], blocks: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """Partner carousels and info blocks, in the seed page's order."""

    def partner_block(section: str, heading: str) -> str:
        items = "".join(
            f'<li class="partner"><a href="{attr(p.link)}" target="_blank" title="{attr(p.name)}">'
            f'<img src="{attr(p.logo_path)}" alt="{attr(p.alt)}" width="120" height="40"></a></li>\n'
            for p in partners[section]
        )
        return (
            f'<div id="block-partners-{section}" class="block block-partners">'
            f'<h2 class="block-title element-invisible">{esc(heading)}</h2>\n'
            f'<ul class="partner-logos slides">\n{items}</ul></div>\n'
        )

    def info_block(block_id: str, index: int) -> str:
        heading, paras = blocks[index]
        body = "".join(f"<p>{esc(p)}</p>" for p in paras)
        return (
            f'<div id="{block_id}" class="block block-info"><h2 class="block-title">{esc(heading)}</h2>'
            f'<div class="block-content">{body}</div></div>\n'
        )

    return (
        '<footer id="footer" role="contentinfo">\n'
        + partner_block("international", "국제협력기관")
        + info_block("block-miti", 0)
        + partner_block("domestic", "국내협력기관")
        + info_block("block-sharing-city", 1)
        + info_block("block-sharing-city-why", 2)
        + '<div class="copyright">Copyright © Seoul Metropolitan Government. All rights reserved.</div>\n'
        + "</footer>\n"
    )


def frame(head_html: str, body_class: str, content: str, footer_html: str) -> str:
    return (
        f'{head_html}<body class="{body_class}">\n<div id="page">\n{HEADER}'
        f'<div class="region region-content">\n{content}</div>\n{footer_html}</div>\n</body>\n</html>\n'
    )


# ---------------------------------------------------------------------------------------------------------
# Listing


def listing_href(page: int) -> str:
    return LISTING_PATH if page == 0 else f"{LISTING_PATH}?page={page}"


def _date_cell(post: _Post, today: date) -> str:
    # Korean boards show only the time for posts of the day.
    if post.published == today and post.published_time is not None:
        return f"{post.published_time:%H:%M}"
    return post.published.isoformat()


def _row(post: _Post, index: int, count: int, today: date) -> str:
    classes = ["views-row", f"views-row-{index}", "views-row-odd" if index % 2 else "views-row-even"]
    if index == 1:
        classes.append("views-row-first")
    if index == count:
        classes.append("views-row-last")
    badge = ""
    if post.notice:
        classes.append("notice")
        badge = '<span class="notice-badge">공지</span> '
    return (
        f'<li class="{" ".join(classes)}">\n'
        f'<div class="views-field views-field-title"><span class="field-content">{badge}'
        f'<a href="{attr(post.path)}">{esc(listing_title(post.category, post.title))}</a></span></div>\n'
        '<div class="views-field views-field-created">'
        '<span class="views-label views-label-created">등록일</span> '
        f'<span class="field-content">{_date_cell(post, today)}</span></div>\n'
        '<div class="views-field views-field-name"><span class="views-label views-label-name">글쓴이</span> '
        f'<span class="field-content">{esc(post.author)}</span></div>\n'
        '<div class="views-field views-field-totalcount">'
        '<span class="views-label views-label-totalcount">조회수'
        f'</span> <span class="field-content">{format_count(post.reads)} READS</span></div>\n'
        '<div class="views-field views-field-body"><div class="field-content">'
        f"{esc(excerpt(post.blocks))}</div></div>\n</li>\n"
    )


def pager(page: int, pages: int) -> str:
    """Drupal 7's theme_pager (quantity 9): first/previous, up to nine numbers with ellipses, next/last."""
    if pages <= 1:
        return ""
    quantity, middle = 9, 5
    current = page + 1
    first = current - middle + 1
    last = current + quantity - middle
    if first < 1:
        last += 1 - first
        first = 1
    if last > pages:
        first = max(1, first - (last - pages))
        last = pages
    items: list[tuple[str, str]] = []
    if page > 0:
        items.append(("pager-first", f'<a title="Go to first page" href="{listing_href(0)}">« 처음</a>'))
        items.append(
            ("pager-previous", f'<a title="Go to previous page" href="{listing_href(page - 1)}">‹ 이전</a>')
        )
    if first > 1:
        items.append(("pager-ellipsis", "…"))
    for number in range(first, last + 1):
        if number == current:
            items.append(("pager-current", str(number)))
        else:
            link = f'<a title="Go to page {number}" href="{listing_href(number - 1)}">{number}</a>'
            items.append(("pager-item", link))
    if last < pages:
        items.append(("pager-ellipsis", "…"))
    if page < pages - 1:
        items.append(("pager-next", f'<a title="Go to next page" href="{listing_href(page + 1)}">다음 ›</a>'))
        items.append(
            ("pager-last", f'<a title="Go to last page" href="{listing_href(pages - 1)}">마지막 »</a>')
        )
    lis = []
    for i, (cls, inner) in enumerate(items):
        extra = " first" if i == 0 else " last" if i == len(items) - 1 else ""
        lis.append(f'<li class="{cls}{extra}">{inner}</li>\n')
    return (
        '<h2 class="element-invisible">Pages</h2>\n'
        f'<div class="item-list"><ul class="pager">\n{"".join(lis)}</ul></div>\n'
    )


def listing(
    rows: list[_Post], notice: _Post | None, page: int, pages: int, today: date, footer_html: str, meta: str
) -> str:
    canonical = f'<link rel="canonical" href="{REAL_ORIGIN}{listing_href(page)}">\n'
    head_html = head(f"정책뉴스 | {SITE_NAME}", lang="ko", meta=meta, links=canonical)
    if rows:
        shown = ([notice] if notice is not None else []) + rows
        body = "".join(_row(p, i, len(shown), today) for i, p in enumerate(shown, start=1))
        view = f'<div class="view-content"><ul class="board-list">\n{body}</ul></div>\n{pager(page, pages)}'
    else:
        view = '<div class="view-empty"><p>게시물이 없습니다.</p></div>\n'
    content = (
        '<h1 class="page-title">정책뉴스</h1>\n'
        f'<div class="view view-policy-news view-id-policy_news view-display-id-page">\n{view}</div>\n'
    )
    return frame(head_html, "html not-front page-policy-news", content, footer_html)


def listing_redesigned(
    rows: list[_Post], notice: _Post | None, page: int, pages: int, today: date, footer_html: str, meta: str
) -> str:
    """The board after a redesign: a table, other class names, another pager. None of the profile's
    listing selectors match it (the monitor must notice)."""
    head_html = head(f"정책뉴스 | {SITE_NAME}", lang="ko", meta=meta)

    def tr(post: _Post) -> str:
        number = "공지" if post.notice else str(post.nid)
        cls = ' class="notice_row"' if post.notice else ""
        return (
            f'<tr{cls}><td class="num">{number}</td>'
            f'<td class="subject"><a href="{attr(post.path)}">'
            f"{esc(listing_title(post.category, post.title))}</a></td>"
            f'<td class="writer">{esc(post.author)}</td>'
            f'<td class="regdate">{_date_cell(post, today)}</td>'
            f'<td class="hit">{format_count(post.reads)}</td></tr>\n'
        )

    shown = ([notice] if notice is not None and rows else []) + rows
    paging = []
    if page > 0:
        paging.append(f'<a class="btn_prev" href="/ko/policy-news?pg={page}">이전</a>')
    for number in range(max(1, page - 4), min(pages, page + 5) + 1):
        if number == page + 1:
            paging.append(f"<strong>{number}</strong>")
        else:
            paging.append(f'<a href="/ko/policy-news?pg={number}">{number}</a>')
    if page < pages - 1:
        paging.append(f'<a class="btn_next" href="/ko/policy-news?pg={page + 2}">다음</a>')
    content = (
        '<div class="sub_title"><h3>정책뉴스</h3></div>\n<div class="board_wrap">\n'
        '<table class="board_list"><caption>정책뉴스 목록</caption>\n<thead><tr><th scope="col">번호</th>'
        '<th scope="col">제목</th><th scope="col">작성자</th>'
        '<th scope="col">작성일</th><th scope="col">조회</th>'
        f"</tr></thead>\n<tbody>\n{''.join(tr(p) for p in shown)}</tbody></table>\n"
        f'<div class="paging">{" ".join(paging)}</div>\n</div>\n'
    )
    return frame(head_html, "board-page sub", content, footer_html)


# ---------------------------------------------------------------------------------------------------------
# Post page


def _body_html(post: _Post) -> str:
    parts = []
    for block in post.blocks:
        kind = block[0]
        if kind == "p":
            parts.append(f"<p>{esc(block[1])}</p>")
        elif kind == "strong":
            parts.append(f"<p><strong>{esc(block[1])}</strong></p>")
        elif kind == "caption":
            parts.append(f'<p class="caption">{esc(block[1])}</p>')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "img":
            parts.append(f'<p><img src="{attr(block[1])}" alt="{attr(block[2])}"></p>')
        elif kind == "source":
            parts.append(
                f'<p><a class="source-link" href="{attr(block[1])}" target="_blank">{esc(block[2])}</a></p>'
            )
    return "\n".join(parts)


def post_page(post: _Post, footer_html: str, meta: str) -> str:
    canonical = post.path
    links = (
        f'<link rel="canonical" href="{attr(canonical)}">\n<link rel="shortlink" href="/node/{post.nid}">\n'
    )
    head_html = head(f"{post.title} | Seoul Solution", lang=post.lang, meta=meta, links=links)
    shown_date = post.published.isoformat()
    if post.published_time is not None:
        shown_date += f" {post.published_time:%H:%M}"
    if post.lang == "ko":
        meta_html = (
            f'<span class="meta-label">등록일</span> <span class="date">{shown_date}</span> '
            f'<span class="meta-label">글쓴이</span> <span class="writer">{esc(post.author)}</span> '
            f'<span class="meta-label">조회수</span> <span class="reads">{format_count(post.reads)}</span>'
        )
    else:
        meta_html = (
            f'<span class="meta-label">Date</span> <span class="date">{shown_date}</span> '
            f'<span class="meta-label">Writer</span> <span class="writer">{esc(post.author)}</span>'
        )
    category = ""
    if post.category:
        category = (
            '<div class="field field-name-field-category"><span class="category">'
            f"{esc(post.category)}</span></div>\n"
        )
    attachments = ""
    if post.attachments:
        files = "".join(
            f'<div class="field-item"><span class="file"><a href="{attr(path)}" type="{mime}; length={size}">'
            f"{esc(name)}</a></span></div>"
            for name, path, size, mime in post.attachments
        )
        attachments = (
            f'<div class="field field-name-field-attachment"><div class="field-items">{files}</div></div>\n'
        )
    back = "목록" if post.lang == "ko" else "List"
    content = (
        f'<article id="node-{post.nid}" class="node node-news">\n'
        f'<h1 class="page-title">{esc(post.title)}</h1>\n'
        f'<div class="node-meta">{meta_html}</div>\n{category}'
        '<div class="field field-name-body"><div class="field-items"><div class="field-item even">\n'
        f"{_body_html(post)}\n</div></div></div>\n{attachments}"
        f'<div class="node-links"><a class="back-to-list" href="{LISTING_PATH}">{back}</a></div>\n'
        "</article>\n"
    )
    return frame(head_html, "html not-front node-type-news", content, footer_html)


# ---------------------------------------------------------------------------------------------------------
# Other pages


def front(latest: list[_Post], today: date, footer_html: str) -> str:
    head_html = head(
        SITE_NAME, lang="ko", meta="utf-8", links=f'<link rel="canonical" href="{REAL_ORIGIN}/ko">\n'
    )
    items = "".join(
        f'<li><a href="{attr(p.path)}">{esc(listing_title(p.category, p.title))}</a> '
        f'<span class="date">{_date_cell(p, today)}</span></li>\n'
        for p in latest
    )
    content = (
        '<div class="view view-front-news"><h2 class="block-title">정책뉴스</h2>\n'
        f'<ul class="latest-news">\n{items}</ul>\n'
        f'<a class="more-link" href="{LISTING_PATH}">더보기</a></div>\n'
    )
    return frame(head_html, "html front not-logged-in", content, footer_html)


def not_found(path: str, footer_html: str) -> str:
    head_html = head(f"페이지를 찾을 수 없습니다 | {SITE_NAME}", lang="ko", meta="utf-8")
    content = (
        '<h1 class="page-title">페이지를 찾을 수 없습니다</h1>\n'
        f'<div class="messages">요청한 페이지 "{esc(path)}"를 찾을 수 없습니다.</div>\n'
    )
    return frame(head_html, "html not-front page-404", content, footer_html)


def login(footer_html: str) -> str:
    head_html = head(f"로그인 | {SITE_NAME}", lang="ko", meta="utf-8")
    content = (
        '<h1 class="page-title">로그인</h1>\n<form id="user-login" action="/user/login" method="post">'
        '<input type="text" name="name"><input type="password" name="pass">'
        '<input type="submit" value="로그인">'
        "</form>\n"
    )
    return frame(head_html, "html not-front page-user", content, footer_html)


# Drupal 7's robots.txt, plus the whole /user/ tree (the site links to /user/login from every page).
# Drupal's "Crawl-delay: 10" is left out: a crawler honouring it would need minutes for the test crawls.
ROBOTS_TXT = """#
# robots.txt
#
# This file is to prevent the crawling and indexing of certain parts
# of your site by web crawlers and spiders run by sites like Yahoo!
# and Google. By telling these "robots" where not to go on your site,
# you save bandwidth and server resources.
#
# For more information about the robots.txt standard, see:
# http://www.robotstxt.org/robotstxt.html

User-agent: *
# CSS, JS, Images
Allow: /misc/*.css$
Allow: /misc/*.css?
Allow: /misc/*.js$
Allow: /misc/*.js?
Allow: /misc/*.gif
Allow: /misc/*.jpg
Allow: /misc/*.jpeg
Allow: /misc/*.png
Allow: /modules/*.css$
Allow: /modules/*.css?
Allow: /modules/*.js$
Allow: /modules/*.js?
Allow: /profiles/*.css$
Allow: /profiles/*.js$
Allow: /themes/*.css$
Allow: /themes/*.js$
# Directories
Disallow: /includes/
Disallow: /misc/
Disallow: /modules/
Disallow: /profiles/
Disallow: /scripts/
Disallow: /themes/
# Files
Disallow: /CHANGELOG.txt
Disallow: /cron.php
Disallow: /INSTALL.mysql.txt
Disallow: /INSTALL.pgsql.txt
Disallow: /INSTALL.sqlite.txt
Disallow: /install.php
Disallow: /INSTALL.txt
Disallow: /LICENSE.txt
Disallow: /MAINTAINERS.txt
Disallow: /update.php
Disallow: /UPGRADE.txt
Disallow: /xmlrpc.php
# Paths (clean URLs)
Disallow: /admin/
Disallow: /comment/reply/
Disallow: /filter/tips/
Disallow: /node/add/
Disallow: /search/
Disallow: /user/
Disallow: /user/register/
Disallow: /user/password/
Disallow: /user/login/
Disallow: /user/logout/
# Paths (no clean URLs)
Disallow: /?q=admin/
Disallow: /?q=comment/reply/
Disallow: /?q=filter/tips/
Disallow: /?q=node/add/
Disallow: /?q=search/
Disallow: /?q=user/password/
Disallow: /?q=user/register/
Disallow: /?q=user/login/
Disallow: /?q=user/logout/
"""


def png_logo(key: str, width: int = 12, height: int = 4) -> bytes:
    """A tiny valid RGB PNG, deterministic and different per partner: three colour bands."""
    rng = random.Random(f"seoulsolution-replica/logo/{key}")
    colours = [bytes(rng.randrange(256) for _ in range(3)) for _ in range(3)]
    row = b"".join(colours[x * 3 // width] for x in range(width))
    raw = b"".join(b"\x00" + row for _ in range(height))  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


__all__ = ["Page", "encode", "png_logo", "quote"]
