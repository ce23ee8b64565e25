"""Where a board's pages are and what each one adds, from the site profile alone.

Shared by the spider, which fetches the pages, and by ``crawler reextract``, which reads them back from a
snapshot's WARC files, so that both walk a board alike. Pure: no network, no Scrapy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Container, Iterable
from functools import lru_cache
from typing import Any

from crawler.items import Block, Failure, Partner
from crawler.profile import SiteProfile

#: The failure recorded for a page that should list partners and matched none of the profile's sections.
NO_PARTNERS = "no partner logos matched the profile's sections"


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def is_post_link(profile: SiteProfile, url: str | None) -> bool:
    """Whether a listing row's link leads to a post page (the profile's ``post.link_pattern``)."""
    return bool(url) and _compiled(profile.post.link_pattern).search(url) is not None


def front_pages(profile: SiteProfile) -> dict[str, frozenset[str]]:
    """The absolute URL of each page with the partner lists or the descriptive blocks, with which of the
    two (``"partners"``, ``"blocks"``) it holds."""
    pages: dict[str, set[str]] = {}
    if profile.partners:
        pages.setdefault(profile.url(profile.partners.page), set()).add("partners")
    if profile.blocks:
        pages.setdefault(profile.url(profile.blocks.page), set()).add("blocks")
    return {url: frozenset(wanted) for url, wanted in pages.items()}


def front_records(
    blocks: Iterable[Block],
    partners: list[Partner],
    wanted: Container[str],
    failure: Callable[[str], Failure],
) -> list[Any]:
    """What a front page stages: its blocks, its partners, and ``failure(NO_PARTNERS)`` when it should
    have had partners and none matched (a redesign the selectors no longer fit)."""
    records: list[Any] = list(blocks)
    if "partners" in wanted and not partners:
        records.append(failure(NO_PARTNERS))
    return records + partners


def logos_to_fetch(partners: Iterable[Partner], done: Container[str] = ()) -> dict[str, list[Partner]]:
    """The partners by logo URL, one entry per distinct URL not ``done``: however many partners show a
    logo, it is fetched once."""
    by_logo: dict[str, list[Partner]] = {}
    for partner in partners:
        if partner.logo_url and partner.logo_url not in done:
            by_logo.setdefault(partner.logo_url, []).append(partner)
    return by_logo


def set_logo(partners: Iterable[Partner], body: bytes, content_type: str | None) -> None:
    """Record a logo's bytes (SHA-256, size, media type) on every partner that shows it."""
    digest = hashlib.sha256(body).hexdigest()
    kind = (content_type or "").split(";")[0].strip() or None
    for partner in partners:
        partner.logo_sha256 = digest
        partner.logo_bytes = len(body)
        partner.logo_type = kind
