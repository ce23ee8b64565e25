"""Which post pages a run downloads: the incremental rules, as pure functions.

Listing pages are fetched on every run (they carry the read counts). A post page is fetched when the post
is new, when the listing shows another title than last time, or when its last download is older than the
refresh window; a re-fetch is conditional (If-None-Match / If-Modified-Since) so that an unchanged page
costs a 304 and no body. Skipping by URL alone (deltafetch-style) would lose edits and the reads series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawler.items import ListingRow

DEFAULT_REFRESH_DAYS = 7.0


class Plan(Enum):
    NEW = "new"  # never archived: plain GET
    TITLE_CHANGED = "title_changed"  # the listing shows another title: conditional GET
    STALE = "stale"  # older than the refresh window: conditional GET
    SKIP = "skip"  # known, same title, fresh: no request

    @property
    def fetch(self) -> bool:
        return self is not Plan.SKIP


@dataclass(frozen=True, slots=True)
class KnownPost:
    post_id: str
    url: str | None
    listing_title: str | None
    etag: str | None
    last_modified: str | None
    fetched_at: datetime | None


def url_key(url: str) -> str:
    """A URL without scheme and host: ``--base-url`` may point the same site at another host or port."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


class KnownPosts:
    """What earlier snapshots say about each post, looked up by node id or by the URL a row links to."""

    def __init__(self, posts: list[KnownPost], urls: dict[str, KnownPost] | None = None) -> None:
        self.by_id = {p.post_id: p for p in posts}
        self.by_url = {url_key(url): p for url, p in (urls or {}).items()}
        for p in posts:
            if p.url:
                self.by_url.setdefault(url_key(p.url), p)

    def __len__(self) -> int:
        return len(self.by_id)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> KnownPosts:
        """From ``archive.Archive.post_state`` rows (``url`` is canonical, ``requested_url`` as linked)."""
        posts, urls = [], {}
        for r in records:
            known = KnownPost(
                post_id=str(r["post_id"]),
                url=_text(r.get("url")),
                listing_title=_text(r.get("listing_title")),
                etag=_text(r.get("etag")),
                last_modified=_text(r.get("last_modified")),
                fetched_at=_time(r.get("fetched_at")),
            )
            posts.append(known)
            requested = _text(r.get("requested_url"))
            if requested:
                urls[requested] = known
        return cls(posts, urls)

    def lookup(self, row: ListingRow) -> KnownPost | None:
        if row.post_id and row.post_id in self.by_id:
            return self.by_id[row.post_id]
        return self.by_url.get(url_key(row.post_url)) if row.post_url else None


@dataclass
class ResumeState:
    """What a staged, uncommitted snapshot already holds: the pages done (the journal) and the staged
    listing rows and partners that the rest of the crawl navigates from."""

    journal: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    listing: list[dict[str, Any]] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)


def plan(
    row: ListingRow, known: KnownPost | None, now: datetime, refresh: timedelta, wall: datetime | None = None
) -> Plan:
    """``now`` is the crawl's logical time, ``wall`` the real clock: a crawl dated in the past (a backfill,
    the demo) still ages its downloads by the real time elapsed, a crawl dated ahead by its logical time."""
    if known is None:
        return Plan.NEW
    if known.listing_title is not None and row.title_raw != known.listing_title:
        return Plan.TITLE_CHANGED
    if known.fetched_at is None or max(now, wall or now) - known.fetched_at >= refresh:
        return Plan.STALE
    return Plan.SKIP


def conditional_headers(known: KnownPost | None) -> dict[str, str]:
    headers = {}
    if known is not None and known.etag:
        headers["If-None-Match"] = known.etag
    if known is not None and known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    return headers


def refresh_window(days: float | None) -> timedelta:
    return timedelta(days=DEFAULT_REFRESH_DAYS if days is None else max(0.0, days))


def _missing(value: Any) -> bool:
    import pandas as pd  # here: the extraction worker imports this module for url_key alone

    return value is None or (not isinstance(value, (list, tuple, dict)) and bool(pd.isna(value)))


def _text(value: Any) -> str | None:
    return None if _missing(value) else (str(value) or None)


def _time(value: Any) -> datetime | None:
    if _missing(value):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value if isinstance(value, datetime) else None


def load_known(root: str | Path, site: str) -> KnownPosts:
    """What the archive's committed snapshots know of the site's posts (nothing for a new archive)."""
    import archive

    try:
        state = archive.open(root).post_state(site)
    except FileNotFoundError:
        return KnownPosts([])
    return KnownPosts.from_records(state.to_dict("records"))
