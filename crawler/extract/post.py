"""Post page → Post: full title, date, writer, reads when shown, body (text and cleaned HTML),
attachments, images, source link, language, and a content hash that says what a new version is."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from crawler.extract.dom import Document, ExtractionError, block_text, clean_html, inline_text, raw_text
from crawler.extract.values import read_date
from crawler.incremental import url_key
from crawler.items import Attachment, Image, ListingRow, Post
from crawler.normalize import (
    clean_text,
    detect_lang,
    parse_count,
    reconcile_title,
    split_labelled,
    split_title,
)
from crawler.profile import SiteProfile

_LENGTH = re.compile(r"length=(\d+)")


def extract_post(
    doc: Document,
    profile: SiteProfile,
    *,
    now: datetime,
    listing: ListingRow | None = None,
    http_status: int | None = 200,
    fetched_at: datetime | None = None,
) -> Post:
    """Read a post page. ``listing`` is the row that linked here: it supplies the category and the cut
    title to reconcile. Raises ExtractionError when the page has no title (not a post page)."""
    spec = profile.post
    title_el = doc.first(spec.title)
    title_raw = raw_text(title_el)
    if not title_raw:
        raise ExtractionError(f"no post title matched {spec.title!r}")
    shown = split_title(title_raw)  # a post title may itself carry a [category] prefix
    title = shown.title
    category = (
        (inline_text(doc.first(spec.category)) if spec.category else None)
        or shown.category
        or (listing.category if listing else None)
    )

    meta = split_labelled(inline_text(doc.first(spec.meta))) if spec.meta else {}
    published = read_date(meta.get("published"), now)
    body_el = doc.first(spec.body)
    body_text = block_text(body_el)
    source_url, source_text = _source_link(doc, body_el, spec.source_link_words)
    attachments = _attachments(doc, spec.attachments)
    images = [
        Image(src=src, alt=clean_text(img.get("alt")) or None)
        for img in (body_el.iter("img") if body_el is not None else ())
        if (src := doc.absolute(img.get("src")))
    ]
    author_raw = meta.get("author")
    post = Post(
        post_id=_post_id(doc, profile),
        url=doc.link("canonical") or doc.url,
        requested_url=doc.url,
        title=title,
        title_raw=title_raw,
        lang=detect_lang(f"{title} {body_text[:2000]}"),
        category=category,
        listing_title=listing.title_raw if listing else None,
        title_matches_listing=reconcile_title(listing.title_raw, title_raw) if listing else None,
        published=published.day,
        published_at=published.moment,
        published_raw=published.raw,
        author=clean_text(author_raw) or None,
        author_raw=author_raw,
        reads=parse_count(meta.get("reads")),
        reads_raw=meta.get("reads"),
        body_text=body_text,
        body_html=clean_html(body_el, doc.url),
        attachments=attachments,
        images=images,
        source_url=source_url,
        source_text=source_text,
        encoding=doc.encoding,
        http_status=http_status,
        fetched_at=fetched_at,
    )
    post.content_hash = content_hash(post)
    return post


def content_hash(post: Post) -> str:
    """SHA-256 over what makes a version of a post (not its reads, URL or fetch time)."""
    content = [
        post.title,
        post.category,
        post.published.isoformat() if post.published else None,
        post.author,
        post.body_text,
        # Site-relative: the same site behind another host or port (--base-url) is the same content.
        [(a.name, url_key(a.url)) for a in post.attachments],
        post.source_url,
    ]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def _post_id(doc: Document, profile: SiteProfile) -> str:
    """The node id from the shortlink (which survives path aliases), else from the URL, else the URL."""
    spec = profile.post
    candidates = []
    if spec.id_from_shortlink:
        candidates.append((spec.id_from_shortlink, doc.link("shortlink")))
    candidates += [(spec.id_from_url, doc.link("canonical")), (spec.id_from_url, doc.url)]
    for pattern, url in candidates:
        match = re.search(pattern, url or "")
        if match:
            return match.group(1)
    return doc.link("canonical") or doc.url


def _attachments(doc: Document, selector: str | None) -> list[Attachment]:
    if not selector:
        return []
    found = []
    for a in doc.select(selector):
        url = doc.absolute(a.get("href"))
        if not url:
            continue
        kind = a.get("type") or ""
        length = _LENGTH.search(kind)
        found.append(
            Attachment(
                name=inline_text(a) or url.rsplit("/", 1)[-1],
                url=url,
                size=int(length.group(1)) if length else None,
                mime=kind.split(";", 1)[0].strip() or None,
            )
        )
    return found


def _source_link(doc: Document, body, words: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The link to the original article, recognised by the profile's link words."""
    if body is None or not words:
        return None, None
    for a in body.iter("a"):
        text = inline_text(a)
        if any(w.casefold() in text.casefold() for w in words):
            return doc.absolute(a.get("href")), text
    return None, None
