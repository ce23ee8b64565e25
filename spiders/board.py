"""The board spider: navigation only. It decides which URL to request next and which extractor reads
the answer; everything it knows of a site comes from the site profile."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure as TwistedFailure

from archive import snapshot_id_for
from crawler.extract import (
    ExtractionError,
    charset_from_content_type,
    extract_blocks,
    extract_listing,
    extract_partners,
    extract_post,
    parse_html,
)
from crawler.items import Failure, ListingRow, Partner
from crawler.politeness import contact_of, politeness_settings
from crawler.profile import SiteProfile, load_profile

logger = logging.getLogger(__name__)

Output = Iterator[Any]


def crawl_time(at: str | datetime | None) -> datetime:
    """The crawl's logical time (``--at``): it names the snapshot and is "today" for relative dates."""
    if at is None or at == "":
        return datetime.now(UTC).replace(microsecond=0)
    value = at if isinstance(at, datetime) else datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BoardSpider(scrapy.Spider):
    """Listing pages → posts; the partners/blocks page → partners (and their logos) and blocks."""

    name = "board"
    #: Subclasses name their bundled profile; ``-a profile=NAME_OR_PATH`` overrides.
    profile_name: str | None = None

    def __init__(
        self,
        *args: Any,
        profile: str | None = None,
        base_url: str | None = None,
        at: str | None = None,
        max_pages: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._profile_arg = profile
        self._base_url_arg = base_url
        self._at_arg = at
        self.max_pages = int(max_pages) if max_pages else 0
        # Rows whose link does not reveal the post id wait for their post page (a path alias).
        self._rows_waiting: dict[str, list[ListingRow]] = {}
        self._resolved_ids: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> BoardSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        name = spider._profile_arg or cls.profile_name or settings.get("SITE_PROFILE")
        profile = load_profile(name)
        base_url = spider._base_url_arg or settings.get("SITE_BASE_URL")
        spider.profile = profile.with_base_url(base_url) if base_url else profile
        spider.now = crawl_time(spider._at_arg or settings.get("CRAWL_AT"))
        spider.snapshot_id = snapshot_id_for(spider.now)
        spider.max_pages = spider.max_pages or settings.getint("MAX_LISTING_PAGES", 0)
        contact = settings.get("CRAWLER_CONTACT")
        # Settings may still change in from_crawler (Scrapy >= 2.11): politeness follows the target.
        settings.setdict(politeness_settings(spider.profile, contact), priority="spider")
        if not spider.profile.is_loopback and not contact_of(contact):
            logger.warning(
                "No contact configured: set --contact or CRAWLER_CONTACT before crawling a real site"
            )
        spider._post_link = re.compile(spider.profile.post.link_pattern)
        return spider

    profile: SiteProfile
    now: datetime
    snapshot_id: str

    async def start(self) -> AsyncIterator[Request]:
        p = self.profile
        yield Request(
            p.url(p.listing.start),
            callback=self.parse_listing,
            errback=self.failed,
            cb_kwargs={"page": 1},
            priority=10,
        )
        pages: dict[str, set[str]] = {}
        if p.partners:
            pages.setdefault(p.partners.page, set()).add("partners")
        if p.blocks:
            pages.setdefault(p.blocks.page, set()).add("blocks")
        for path, wanted in pages.items():
            yield Request(
                p.url(path), callback=self.parse_front, errback=self.failed, cb_kwargs={"wanted": wanted}
            )

    # -- callbacks -------------------------------------------------------------------------------

    def parse_listing(self, response: Response, page: int) -> Output:
        try:
            doc = self._document(response)
            listing = extract_listing(doc, self.profile, page=page, now=self.now, fetched_at=_now())
        except ExtractionError as exc:
            yield self._failure(response.url, "extract", str(exc), response.status)
            return
        self.crawler.stats.inc_value("board/listing_pages")
        for row in listing.rows:
            yield from self._follow_row(row)
        if listing.next_url and (not self.max_pages or page < self.max_pages):
            yield Request(
                listing.next_url,
                callback=self.parse_listing,
                errback=self.failed,
                cb_kwargs={"page": page + 1},
                priority=10,  # the whole listing first: it is the snapshot's frame of reference
            )

    def _follow_row(self, row: ListingRow) -> Output:
        url = row.post_url
        if not url or not self._post_link.search(url):
            yield row
            return
        if row.post_id is None and url in self._resolved_ids:
            row.post_id = self._resolved_ids[url]
        if row.post_id is None:
            waiting = self._rows_waiting.setdefault(url, [])
            waiting.append(row)
            if len(waiting) > 1:
                return  # its post page is already requested
        else:
            yield row
        yield Request(url, callback=self.parse_post, errback=self.failed, cb_kwargs={"listing": row})

    def parse_post(self, response: Response, listing: ListingRow) -> Output:
        try:
            doc = self._document(response)
            post = extract_post(
                doc,
                self.profile,
                now=self.now,
                listing=listing,
                http_status=response.status,
                fetched_at=_now(),
            )
        except ExtractionError as exc:
            yield self._failure(response.url, "extract", str(exc), response.status)
        else:
            yield post
            self._resolved_ids[listing.post_url or response.url] = post.post_id
        yield from self._release_rows(listing.post_url)

    def _release_rows(self, url: str | None) -> Output:
        for row in self._rows_waiting.pop(url or "", []):
            row.post_id = self._resolved_ids.get(url or "")
            yield row

    def parse_front(self, response: Response, wanted: set[str]) -> Output:
        try:
            doc = self._document(response)
        except ExtractionError as exc:
            yield self._failure(response.url, "extract", str(exc), response.status)
            return
        fetched = _now()
        if "blocks" in wanted:
            yield from extract_blocks(doc, self.profile, fetched_at=fetched)
        if "partners" not in wanted:
            return
        partners = extract_partners(doc, self.profile, fetched_at=fetched)
        if not partners:
            yield self._failure(response.url, "extract", "no partner logos matched the profile's sections")
        by_logo: dict[str, list[Partner]] = {}
        for partner in partners:
            if partner.logo_url:
                by_logo.setdefault(partner.logo_url, []).append(partner)
            else:
                yield partner
        # One download per distinct logo URL, whatever number of partners shows it.
        for url, group in by_logo.items():
            yield Request(url, callback=self.parse_logo, errback=self.failed, cb_kwargs={"partners": group})

    def parse_logo(self, response: Response, partners: list[Partner]) -> Output:
        digest = hashlib.sha256(response.body).hexdigest()
        kind = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip() or None
        for partner in partners:
            partner.logo_sha256 = digest
            partner.logo_bytes = len(response.body)
            partner.logo_type = kind
            yield partner

    def failed(self, failure: TwistedFailure) -> Output:
        """Errback: record why a request gave nothing, and keep what its context already held."""
        request = failure.request  # type: ignore[attr-defined]
        status = None
        if failure.check(HttpError):
            status = failure.value.response.status
            yield self._failure(request.url, "http", f"HTTP {status}", status)
        else:
            yield self._failure(
                request.url, "download", f"{failure.type.__name__}: {failure.getErrorMessage()}"
            )
        kwargs = request.cb_kwargs
        if "partners" in kwargs:  # the partner stands, its logo is unknown this time
            yield from kwargs["partners"]
        if "listing" in kwargs:
            yield from self._release_rows(kwargs["listing"].post_url)

    # -- helpers ---------------------------------------------------------------------------------

    def _document(self, response: Response):
        declared = charset_from_content_type(response.headers.get("Content-Type"))
        return parse_html(response.body, response.url, declared)

    def _failure(self, url: str, stage: str, reason: str, status: int | None = None) -> Failure:
        self.crawler.stats.inc_value(f"board/failures/{stage}")
        return Failure(url=url, stage=stage, reason=reason, http_status=status, at=_now())


def _now() -> datetime:
    return datetime.now(UTC)
