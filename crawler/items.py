"""Typed records: what extractors return, spiders yield, pipelines check and the archive stores.

Every normalised value keeps its raw text beside it (``*_raw``), so that a better normaliser can be
re-run later and nothing seen on the page is lost. ``site`` and ``snapshot_id`` are not fields: the
archive writes them as partition columns of every dataset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from typing import Any


@dataclass(slots=True)
class Attachment:
    name: str
    url: str
    size: int | None = None
    mime: str | None = None


@dataclass(slots=True)
class Image:
    src: str
    alt: str | None = None


@dataclass(slots=True)
class ListingRow:
    """One row of a board listing page, as shown on that page."""

    page: int  # 1-based page number in crawl order
    position: int  # 1-based row position on that page (notices included)
    page_url: str
    title_raw: str  # the link text exactly as shown, category prefix and ``..`` included
    title: str  # without category prefix and truncation marker
    category: str | None
    truncated: bool
    is_notice: bool
    post_url: str | None
    post_id: str | None  # filled from the URL when it reveals the node id, else from the post page
    published: date | None = None
    published_at: datetime | None = None  # when the board shows a time of day (UTC)
    published_raw: str | None = None
    author: str | None = None
    author_raw: str | None = None
    reads: int | None = None
    reads_raw: str | None = None
    fetched_at: datetime | None = None
    # Provenance: the WARC record holding the response this came from (set by the spider when captured).
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_length: int | None = None


@dataclass(slots=True)
class Post:
    """A post page, with the context the listing gave it."""

    post_id: str
    url: str  # canonical URL
    requested_url: str
    title: str
    title_raw: str
    lang: str | None
    category: str | None = None  # from the listing when the post page does not show one
    listing_title: str | None = None  # the listing's title as shown, to reconcile with ``title``
    title_matches_listing: bool | None = None
    published: date | None = None
    published_at: datetime | None = None
    published_raw: str | None = None
    author: str | None = None
    author_raw: str | None = None
    reads: int | None = None
    reads_raw: str | None = None
    body_text: str = ""
    body_html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    source_url: str | None = None
    source_text: str | None = None
    encoding: str | None = None
    http_status: int | None = None
    content_hash: str | None = None  # sha256 of the content fields: what a new version means
    etag: str | None = None  # validators of the response, for the next run's conditional request
    last_modified: str | None = None
    fetched_at: datetime | None = None
    # Provenance: the WARC record holding the response this came from (set by the spider when captured).
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_length: int | None = None


@dataclass(slots=True)
class PostSeen:
    """A listed post that this run did not download: the server answered 304 Not Modified, or its
    last download is recent enough (the refresh window). The archive carries its known version forward."""

    post_id: str
    url: str
    fetch: str  # not_modified | skipped
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(slots=True)
class Partner:
    """One logo of a partner list; the logo's bytes are hashed so that a changed logo shows."""

    section: str
    position: int
    name: str
    alt_raw: str
    link: str | None
    logo_url: str | None
    page_url: str
    logo_sha256: str | None = None
    logo_bytes: int | None = None
    logo_type: str | None = None
    fetched_at: datetime | None = None
    # Provenance: the WARC record holding the response this came from (set by the spider when captured).
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_length: int | None = None


@dataclass(slots=True)
class Block:
    """A descriptive text block of the site's pages (not a post)."""

    block_id: str
    position: int
    heading: str
    text: str
    lang: str | None
    page_url: str
    fetched_at: datetime | None = None
    # Provenance: the WARC record holding the response this came from (set by the spider when captured).
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_length: int | None = None


@dataclass(slots=True)
class Failure:
    """A page or item that could not be fetched, parsed or stored, and why: nothing is lost silently."""

    url: str
    stage: str  # download | http | extract | validate
    reason: str
    http_status: int | None = None
    referer: str | None = None
    at: datetime | None = None


@dataclass(slots=True)
class PageResult:
    """Everything one response produced. The archive stages its records together with the fact that
    the page is done, in one transaction, so a killed crawl resumes without losing or repeating a page."""

    url: str
    kind: str  # listing | post | front | logo | error
    records: list[Any] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # what a resumed run needs: next page, page number


def stamp_provenance(
    records: list[Any], warc_file: str | None, offset: int | None, length: int | None
) -> list[Any]:
    """Name the WARC record holding the payload on every record that carries provenance and has none yet
    (a listing row released by its post page keeps its own listing page's)."""
    if warc_file:
        for record in records:
            if hasattr(record, "warc_file") and record.warc_file is None:
                record.warc_file, record.warc_offset, record.warc_length = warc_file, offset, length
    return records


def as_row(record: Any) -> dict[str, Any]:
    """A record as the plain dict the archive stages: ``dataclasses.asdict`` without its deep copy of
    every value (half a millisecond a post page), which records do not need: their values are
    immutable, or lists of small records converted here."""
    row = {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if type(value) is list and value and is_dataclass(value[0]):
            value = [as_row(v) for v in value]
        row[name] = value
    return row


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


RECORD_TYPES: dict[type, str] = {
    ListingRow: "listing",
    Post: "posts",
    PostSeen: "post_seen",
    Partner: "partners",
    Block: "blocks",
    Failure: "failures",
}
