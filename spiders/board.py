"""The board spider: navigation only. It decides which URL to request next and which extractor reads
the answer; everything it knows of a site comes from the site profile, and everything it knows of earlier
runs from the archive (which posts are known, what a resumed snapshot has already done).

Each callback yields one ``PageResult``: the records a response produced, staged by the archive together
with the fact that the page is done, so that a killed crawl resumes without losing or repeating a page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure as TwistedFailure

from archive import snapshot_id_for
from crawler.capture import provenance
from crawler.extract import ExtractionError, charset_from_content_type
from crawler.extraction_pool import Extractors, workers_from
from crawler.incremental import (
    KnownPosts,
    Plan,
    ResumeState,
    conditional_headers,
    load_known,
    plan,
    refresh_window,
)
from crawler.items import Failure, ListingRow, PageResult, Partner, PostSeen, stamp_provenance
from crawler.navigation import front_pages, front_records, is_post_link, logos_to_fetch, set_logo
from crawler.politeness import contact_of, politeness_settings
from crawler.profile import SiteProfile, load_profile

logger = logging.getLogger(__name__)

Output = Iterator[Any]
AsyncOutput = AsyncIterator[Any]
LISTING_PRIORITY = 10  # the whole listing first: it is the snapshot's frame of reference


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

    profile: SiteProfile
    now: datetime
    snapshot_id: str
    known: KnownPosts
    extractors: Extractors

    def __init__(
        self,
        *args: Any,
        profile: str | None = None,
        base_url: str | None = None,
        at: str | None = None,
        max_pages: str | int | None = None,
        refresh_days: str | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._profile_arg = profile
        self._base_url_arg = base_url
        self._at_arg = at
        self.max_pages = int(max_pages) if max_pages else 0
        self._refresh_arg = refresh_days
        #: Set by the archive pipeline when this run continues a staged snapshot.
        self.resume: ResumeState | None = None
        self.known = KnownPosts([])
        # Rows whose link does not reveal the post id wait for their post page (a path alias).
        self._rows_waiting: dict[str, list[ListingRow]] = {}
        self._resolved_ids: dict[str, str] = {}
        self._done: set[str] = set()

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
        refresh = spider._refresh_arg if spider._refresh_arg is not None else settings.get("REFRESH_DAYS")
        spider.refresh = refresh_window(None if refresh is None else float(refresh))
        spider.known = load_known(settings.get("ARCHIVE_ROOT"), spider.profile.name)
        contact = settings.get("CRAWLER_CONTACT")
        # Settings may still change in from_crawler (Scrapy >= 2.11): politeness follows the target.
        settings.setdict(politeness_settings(spider.profile, contact), priority="spider")
        if not spider.profile.is_loopback and not contact_of(contact):
            logger.warning(
                "No contact configured: set --contact or CRAWLER_CONTACT before crawling a real site"
            )
        spider.extractors = Extractors(spider.profile, workers_from(settings))
        crawler.signals.connect(spider._close_extractors, signal=scrapy.signals.spider_closed)
        return spider

    def _close_extractors(self) -> None:
        self.extractors.close()

    # -- start: a fresh run, or the rest of a resumed one -------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        # Everything is computed before the first yield: responses may arrive while start() is consumed.
        for request in self._start_requests():
            yield request

    def _start_requests(self) -> list[Request]:
        p = self.profile
        resume = self.resume or ResumeState()
        self._done = set(resume.journal)
        requests = []
        start_url = p.url(p.listing.start)
        if start_url not in self._done:
            requests.append(self._listing_request(start_url, 1))
        for kind, info in resume.journal.values():
            next_url = info.get("next_url")
            if (
                kind == "listing"
                and next_url
                and next_url not in self._done
                and self._within(info["page"] + 1)
            ):
                requests.append(self._listing_request(next_url, info["page"] + 1))
        requests += self._resume_posts(resume.listing)
        for url, wanted in front_pages(p).items():
            if url not in self._done:
                requests.append(
                    Request(url, callback=self.parse_front, errback=self.failed, cb_kwargs={"wanted": wanted})
                )
        requests += self._logo_requests([Partner(**row) for row in resume.partners])
        if resume.journal:
            logger.info("Resuming snapshot %s: %d pages already done", self.snapshot_id, len(self._done))
        return requests

    def _resume_posts(self, staged_rows: list[dict[str, Any]]) -> list[Request]:
        """Posts of already-staged listing pages whose pages are not done yet."""
        rows = [ListingRow(**data) for data in staged_rows]
        for row in rows:
            if row.post_url and row.post_id:
                self._resolved_ids.setdefault(row.post_url, row.post_id)
        requests = []
        for row in rows:
            if row.post_url in self._done or not is_post_link(self.profile, row.post_url):
                continue
            known = self.known.lookup(row)
            decision = plan(row, known, self.now, self.refresh, _now())
            if decision.fetch:  # else its PostSeen was staged with the listing page
                requests += self._post_request_for(row, known, decision)
        return requests

    # -- listing ----------------------------------------------------------------------------------

    def _listing_request(self, url: str, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_listing,
            errback=self.failed,
            cb_kwargs={"page": page},
            priority=LISTING_PRIORITY,
        )

    def _within(self, page: int) -> bool:
        return not self.max_pages or page <= self.max_pages

    async def parse_listing(self, response: Response, page: int) -> AsyncOutput:
        source = _source(response)
        try:
            listing = await self.extractors.listing(
                *_page(response), page=page, now=self.now, fetched_at=_now()
            )
        except ExtractionError as exc:
            yield self._error(source, "extract", str(exc), response.status)
            return
        self.crawler.stats.inc_value("board/listing_pages")
        records: list[Any] = []
        requests: list[Request] = []
        for row in listing.rows:
            self._follow_row(row, records, requests)
        next_url = listing.next_url if listing.next_url and self._within(page + 1) else None
        # The next listing page first: the pages come one after another, and each one feeds the posts'
        # queue, so the sooner it is asked for the less the crawl waits for work (a resumed run finds it
        # in the journal with this page's records, whichever goes first).
        if next_url and next_url not in self._done:
            yield self._listing_request(next_url, page + 1)
        yield PageResult(
            source, "listing", await _stamped(records, response), {"page": page, "next_url": next_url}
        )
        for request in requests:
            yield request

    def _follow_row(self, row: ListingRow, records: list[Any], requests: list[Request]) -> None:
        url = row.post_url
        records.append(row)
        if not is_post_link(self.profile, url):
            return
        known = self.known.lookup(row)
        if row.post_id is None:
            row.post_id = self._resolved_ids.get(url) or (known.post_id if known else None)
        decision = plan(row, known, self.now, self.refresh, _now())
        self.crawler.stats.inc_value(f"board/plan/{decision.value}")
        if decision is Plan.SKIP:
            assert known is not None  # a skip needs an earlier download
            records.append(PostSeen(post_id=known.post_id, url=url, fetch="skipped"))
            return
        requests += self._post_request_for(row, known, decision)

    # -- posts ------------------------------------------------------------------------------------

    def _post_request_for(self, row: ListingRow, known: Any, decision: Plan) -> list[Request]:
        """The request for a row's post page, unless the page is done or already requested: a row
        whose link does not reveal the post id waits for that page to learn it."""
        if row.post_url in self._done:
            return []
        if row.post_id is None:
            waiting = self._rows_waiting.setdefault(row.post_url, [])
            waiting.append(row)
            if len(waiting) > 1:
                return []
        return [self._post_request(row, known if decision is not Plan.NEW else None)]

    def _post_request(self, row: ListingRow, known: Any) -> Request:
        headers = conditional_headers(known)
        return Request(
            row.post_url,
            callback=self.parse_post,
            errback=self.failed,
            headers=headers,
            cb_kwargs={"listing": row, "known": known},
            meta={"handle_httpstatus_list": [304]} if headers else {},
        )

    async def parse_post(self, response: Response, listing: ListingRow, known: Any = None) -> AsyncOutput:
        source = _source(response)
        records: list[Any] = []
        if response.status == 304 and known is not None:
            self.crawler.stats.inc_value("board/posts/not_modified")
            records.append(
                PostSeen(
                    post_id=known.post_id,
                    url=source,
                    fetch="not_modified",
                    http_status=304,
                    etag=known.etag,
                    last_modified=known.last_modified,
                )
            )
            self._resolved_ids[source] = known.post_id
        else:
            try:
                post = await self.extractors.post(
                    *_page(response),
                    now=self.now,
                    listing=listing,
                    http_status=response.status,
                    fetched_at=_now(),
                )
            except ExtractionError as exc:
                records.append(self._failure(response.url, "extract", str(exc), response.status))
            else:
                post.etag = _header(response, b"ETag")
                post.last_modified = _header(response, b"Last-Modified")
                records.append(post)
                self._resolved_ids[source] = post.post_id
                self.crawler.stats.inc_value("board/posts/fetched")
        # stamped before the released rows are added: those came from their own listing page
        records = await _stamped(records, response)
        records.extend(self._release_rows(source))
        yield PageResult(source, "post", records)

    def _release_rows(self, url: str) -> list[ListingRow]:
        """Listing rows that waited for this post page, now with its id: staged again under their key."""
        rows = self._rows_waiting.pop(url, [])
        for row in rows:
            row.post_id = self._resolved_ids.get(url)
        return rows

    # -- partners and blocks ----------------------------------------------------------------------

    async def parse_front(self, response: Response, wanted: frozenset[str]) -> AsyncOutput:
        source = _source(response)
        try:
            blocks, partners = await self.extractors.front(*_page(response), wanted=wanted, fetched_at=_now())
        except ExtractionError as exc:
            yield self._error(source, "extract", str(exc), response.status)
            return

        def failure(reason: str) -> Failure:
            return self._failure(source, "extract", reason)

        # Partners are staged now; each logo's hash updates them (same key) when its image arrives.
        records = front_records(blocks, partners, wanted, failure)
        yield PageResult(source, "front", await _stamped(records, response))
        for request in self._logo_requests(partners):
            yield request

    def _logo_requests(self, partners: list[Partner]) -> Iterator[Request]:
        for url, group in logos_to_fetch(partners, self._done).items():
            yield Request(url, callback=self.parse_logo, errback=self.failed, cb_kwargs={"partners": group})

    def parse_logo(self, response: Response, partners: list[Partner]) -> Output:
        set_logo(partners, response.body, _header(response, b"Content-Type"))
        yield PageResult(_source(response), "logo", list(partners))

    # -- errors -----------------------------------------------------------------------------------

    def failed(self, failure: TwistedFailure) -> Output:
        """Errback: record why a request gave nothing, and keep what its context already held."""
        request = failure.request  # type: ignore[attr-defined]
        url = request.meta.get("redirect_urls", [request.url])[0]
        if failure.check(HttpError):
            status = failure.value.response.status
            records: list[Any] = [self._failure(url, "http", f"HTTP {status}", status)]
        else:
            records = [
                self._failure(url, "download", f"{failure.type.__name__}: {failure.getErrorMessage()}")
            ]
        if "listing" in request.cb_kwargs:
            records += self._release_rows(url)
        yield PageResult(url, "error", records)

    # -- helpers ---------------------------------------------------------------------------------

    def _failure(self, url: str, stage: str, reason: str, status: int | None = None) -> Failure:
        self.crawler.stats.inc_value(f"board/failures/{stage}")
        return Failure(url=url, stage=stage, reason=reason, http_status=status, at=_now())

    def _error(self, url: str, stage: str, reason: str, status: int | None = None) -> PageResult:
        return PageResult(url, "error", [self._failure(url, stage, reason, status)])


async def _stamped(records: list[Any], response: Response) -> list[Any]:
    """Records read from ``response`` name the WARC record holding its payload (a revisit resolved to its
    original), when the crawl captures WARCs."""
    prov = await provenance(response.meta)
    if prov is None:
        return records
    return stamp_provenance(records, prov.payload_file, prov.payload_offset, prov.payload_length)


def _page(response: Response) -> tuple[bytes, str, str | None]:
    """What an extractor reads of a response: its bytes, URL and the charset its header declares."""
    return response.body, response.url, charset_from_content_type(response.headers.get("Content-Type"))


def _source(response: Response) -> str:
    """The URL the crawl asked for (before redirects): the key under which the page is journaled."""
    return response.meta.get("redirect_urls", [response.url])[0]


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _now() -> datetime:
    return datetime.now(UTC)
