"""Downloader middlewares of the crawl.

- ``PoliteRetryMiddleware``: ``Retry-After`` honoured on 429/503, exponential backoff otherwise. Scrapy's
  RetryMiddleware re-queues at once; a server that asks for a pause, or is failing, should get one. The
  pause also slows the host's download slot, so that other requests to it wait as well.
- ``MetaRefreshMiddleware``: Scrapy's meta-refresh redirects, without decoding every HTML page to look
  for one.
- ``HttpCompressionMiddleware``: Scrapy's, with the usual gzip body (one member) decoded in one zlib call.
"""

from __future__ import annotations

import logging
import zlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy.downloadermiddlewares.httpcompression import (
    HttpCompressionMiddleware as ScrapyHttpCompressionMiddleware,
)
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.gz import gunzip
from scrapy.utils.httpobj import urlparse_cached

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if unusable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff: base, 2·base, 4·base, … capped."""
    return min(cap, base * (2 ** max(0, attempt)))


class PoliteRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 120.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 600.0)
        self._paused: dict[str, float] = {}  # slot key -> its delay before a Retry-After pause

    async def process_response(self, request: Request, response: Response) -> Any:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        attempt = request.meta.get("retry_times", 0)
        delay = None
        if response.status in (429, 503):
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            if delay is not None:
                delay = min(delay, self.retry_after_max)
        if delay is None:
            delay = backoff_seconds(attempt, self.backoff_base, self.backoff_max)
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        if delay > 0:
            from twisted.internet import reactor, task  # the crawl's reactor, installed by Scrapy by now

            logger.info("HTTP %s for %s: retrying in %.1f s", response.status, request.url, delay)
            self._slow_slot(request, delay)
            await deferred_to_future(task.deferLater(reactor, delay, lambda: None))  # type: ignore[arg-type]
        return retry

    def _slow_slot(self, request: Request, delay: float) -> None:
        """Other requests to the same host wait too while the pause lasts (the server asked the whole
        client to pause); afterwards the slot's own delay comes back."""
        engine = getattr(self.crawler, "engine", None)
        slots = getattr(getattr(engine, "downloader", None), "slots", {})
        key = request.meta.get("download_slot") or urlparse_cached(request).hostname or ""
        slot = slots.get(key)
        if slot is None:
            return
        baseline = self._paused.setdefault(key, slot.delay)
        slot.delay = max(slot.delay, delay)

        def restore() -> None:
            if self._paused.pop(key, None) is not None:
                slot.delay = baseline

        from twisted.internet import reactor

        reactor.callLater(delay, restore)  # type: ignore[attr-defined]


#: How far into a page Scrapy looks for a meta refresh (``scrapy.utils.response.get_meta_refresh``).
META_REFRESH_SCAN = 4096


class MetaRefreshMiddleware(ScrapyMetaRefreshMiddleware):
    """Scrapy's ``MetaRefreshMiddleware``, asked only about pages whose first 4 KB hold the word
    ``refresh`` in ASCII. Scrapy's looks for a ``<meta http-equiv="refresh">`` in every HTML response by
    decoding the whole body (``response.text``) and parsing its base URL: about a tenth of a millisecond
    a page, for a tag that almost no board page has. The crawl's extractors work on the raw bytes, so
    nothing else in the crawl's process decodes them. A page in an encoding where ``refresh`` is not
    ASCII bytes (UTF-16) is not looked at."""

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        if b"refresh" not in response.body[:META_REFRESH_SCAN].lower():
            return response
        return super().process_response(request, response)


class HttpCompressionMiddleware(ScrapyHttpCompressionMiddleware):
    """Scrapy's, but a gzip body of one complete member is decoded by zlib in one call: Scrapy's ``gunzip``
    reads it through ``GzipFile`` (50 µs for a post page of the replica, against 21 µs). Whatever else a
    body holds (several members, trailing bytes, a bad checksum, a cut stream, more than the size limit)
    goes to Scrapy's ``gunzip``, which decides as it always did: what it keeps, and what it refuses."""

    @staticmethod
    def _decode(body: bytes, encoding: bytes, max_size: int) -> bytes:
        if encoding in (b"gzip", b"x-gzip"):
            return gunzip_one_member(body, max_size)
        return ScrapyHttpCompressionMiddleware._decode(body, encoding, max_size)


def gunzip_one_member(data: bytes, max_size: int = 0) -> bytes:
    """``scrapy.utils.gz.gunzip(data, max_size=max_size)``, faster for one complete gzip member."""
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = d.decompress(data, max_size + 1 if max_size else 0)  # +1: over the limit shows
    except zlib.error:  # corrupt, or a checksum that does not match: Scrapy keeps what came before
        return gunzip(data, max_size=max_size)
    if not d.eof or d.unused_data or (max_size and len(out) > max_size):
        return gunzip(data, max_size=max_size)
    return out
