"""Where the spider's extractors run: in a worker process beside the crawl, or in the crawl's own thread.

A fast crawl is CPU-bound on the reactor thread (Scrapy's own machinery takes most of a core), so parsing
and extracting a page there delays every other response. With ``EXTRACT_WORKERS = 1`` the spider hands a
response's bytes to a worker process (``crawler.workers``) running the same pure functions
(``crawler.extract``) and awaits the typed records, while the reactor goes on with other responses.
Results are identical: the worker runs the same code on the same bytes with the same profile and logical
time.

``EXTRACT_WORKERS = 0`` extracts in-process; unset, a fast crawl on a machine with a second CPU gets one
worker (``offload_by_default``). A worker that dies is not retried: the crawl logs it and extracts
in-process from then on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from datetime import datetime
from typing import Any

from crawler.extract import ListingPage, extract_front, extract_listing, extract_post, parse_html
from crawler.items import Block, ListingRow, Partner, Post
from crawler.profile import SiteProfile
from crawler.workers import PipeWorker, WorkerDied, available

logger = logging.getLogger(__name__)


def offload_by_default(settings: Any) -> bool:
    """Whether work leaves the crawl's process when the settings do not say: only for a crawl that runs as
    fast as the machine (no download delay: the replica on loopback) and with a second CPU to run it. A
    crawl paced by politeness (a second or more between requests) has CPU to spare, and a worker would
    only add its start-up (about a second) and its memory."""
    return (os.cpu_count() or 1) > 1 and not settings.getfloat("DOWNLOAD_DELAY") and available()


def workers_from(settings: Any) -> int:
    """``EXTRACT_WORKERS``, or one worker when ``offload_by_default``."""
    value = settings.get("EXTRACT_WORKERS")
    if value is None:
        return 1 if offload_by_default(settings) else 0
    return int(value)


# -- what runs in the worker (module-level: it is pickled by name) ------------------------------------

_PROFILE: SiteProfile | None = None


def _init(profile: SiteProfile) -> None:
    global _PROFILE
    _PROFILE = profile


def _listing(profile: SiteProfile, body: bytes, url: str, charset: str | None, **kw: Any) -> ListingPage:
    return extract_listing(parse_html(body, url, charset), profile, **kw)


def _post(profile: SiteProfile, body: bytes, url: str, charset: str | None, **kw: Any) -> Post:
    return extract_post(parse_html(body, url, charset), profile, **kw)


def _front(
    profile: SiteProfile,
    body: bytes,
    url: str,
    charset: str | None,
    *,
    wanted: frozenset[str],
    fetched_at: datetime,
) -> tuple[list[Block], list[Partner]]:
    return extract_front(parse_html(body, url, charset), profile, wanted=wanted, fetched_at=fetched_at)


_KINDS = {"listing": _listing, "post": _post, "front": _front}


def _run(kind: str, body: bytes, url: str, charset: str | None, kw: dict[str, Any]) -> Any:
    assert _PROFILE is not None, "worker not initialised"
    return _KINDS[kind](_PROFILE, body, url, charset, **kw)


# -- the spider's side ------------------------------------------------------------------------------


class Extractors:
    """The spider's extractors. Each method takes a response's body, URL and declared charset and
    returns what ``crawler.extract`` returns (raising its ExtractionError the same way)."""

    def __init__(self, profile: SiteProfile, workers: int = 0) -> None:
        self.profile = profile
        self._workers: list[PipeWorker] = []
        if workers > 0 and not available():
            logger.warning("Extraction workers need a POSIX system: extracting in the crawl's process")
            workers = 0
        try:
            # Each worker is up (interpreter, imports, profile: about a second) before the crawl starts:
            # pages fetched meanwhile would wait for it, unstaged, and a kill then would lose them all.
            for _ in range(workers):
                self._workers.append(PipeWorker(_init, (profile,)))
        except BaseException:
            self.close()
            raise

    @property
    def in_worker(self) -> bool:
        return bool(self._workers)

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    async def listing(
        self, body: bytes, url: str, charset: str | None, *, page: int, now: datetime, fetched_at: datetime
    ) -> ListingPage:
        # Here, not in the worker: the crawl waits for a listing page (its rows feed the posts' queue,
        # its pager link is the next page), and in the worker it would queue behind posts. Listing pages
        # are about one page in twenty.
        return _listing(self.profile, body, url, charset, page=page, now=now, fetched_at=fetched_at)

    async def post(
        self,
        body: bytes,
        url: str,
        charset: str | None,
        *,
        now: datetime,
        listing: ListingRow | None,
        http_status: int | None,
        fetched_at: datetime,
    ) -> Post:
        return await self._call(
            "post",
            body,
            url,
            charset,
            now=now,
            listing=listing,
            http_status=http_status,
            fetched_at=fetched_at,
        )

    async def front(
        self, body: bytes, url: str, charset: str | None, *, wanted: Collection[str], fetched_at: datetime
    ) -> tuple[list[Block], list[Partner]]:
        return await self._call("front", body, url, charset, wanted=frozenset(wanted), fetched_at=fetched_at)

    async def _call(self, kind: str, body: bytes, url: str, charset: str | None, **kw: Any) -> Any:
        if self._workers:
            worker = min(self._workers, key=lambda w: w.pending)
            try:
                return await worker.call(_run, kind, body, url, charset, kw)
            except WorkerDied as exc:
                logger.warning("The extraction worker died (%s): extracting in the crawl's process", exc)
                self.close()
        return _KINDS[kind](self.profile, body, url, charset, **kw)

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
