"""Byte-exact capture of every HTTP exchange, for WARC files.

Scrapy's ``Response`` loses the reason phrase, the raw header lines (order, casing, duplicates, the
connection headers the client keeps to itself) and, after ``HttpCompressionMiddleware``, the
content-encoding. ``CapturingDownloadHandler`` keeps them, with one of two clients:

- direct requests (the default): ``crawler.wire``, an asyncio HTTP/1.1 client whose parser reads the
  bytes it received, so the request it wrote and the response's head and body as they came (content-encoded,
  chunk framing included) are what it hands over; it costs the crawl's process far less CPU a request than
  Twisted's client (docs/benchmark.md);
- requests through a proxy or from a bound address (and every request with ``CAPTURE_CLIENT = "twisted"``
  or a reactor other than asyncio's): Scrapy's own HTTP/1.1 handler with its connection protocol
  instrumented. Twisted's ``Request.writeTo(transport)`` is given a recording stand-in for the transport,
  so the bytes kept are exactly the bytes Twisted wrote to the socket; every byte the protocol receives
  while the request is current is kept before Twisted's parser sees it, and the parser's end-of-response
  call (``_finishResponse(rest)``) marks where the response ends.

Nothing the rest of Scrapy sees changes, except that the handler puts ``Captured`` in
``request.meta["capture"]`` (``response.meta["capture"]`` for callbacks) and sends the
``exchange_captured`` signal for every response, including those that never reach a spider (robots.txt,
redirects, responses that HttpErrorMiddleware filters). ``WarcCapture`` is the extension that writes them
to the snapshot's WARC files (``archive.warc``), in a writer process of its own, and leaves a future of
the record's ``Provenance`` in ``request.meta["warc_pending"]``: ``await provenance(response.meta)``.

Enable with::

    DOWNLOAD_HANDLERS = {"http": "crawler.capture.CapturingDownloadHandler",
                         "https": "crawler.capture.CapturingDownloadHandler"}
    EXTENSIONS = {"crawler.capture.WarcCapture": 100}
    WARC_ENABLED = True
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers, Request, Response
from scrapy.responsetypes import responsetypes

from crawler.warc_process import Captured, close_writer, finish, open_writer, preload_writer, write
from crawler.workers import PipeWorker
from crawler.workers import available as workers_available

logger = logging.getLogger(__name__)

CAPTURE_META = "capture"  # request.meta key of the Captured exchange
WARC_META = "warc"  # request.meta key of the archive.warc.Provenance of its records
WARC_PENDING = "warc_pending"  # request.meta key of the future that completes when they are written
#: Signal sent for each captured exchange: ``captured``, ``request``, ``response``.
exchange_captured = object()

# Private marker carried from the Twisted response to the Scrapy response, then removed by the handler.
_MARKER = b"X-Policyboard-Capture-Id"
_MAX_PENDING = 4096


class _Exchange:
    __slots__ = ("end", "received", "remote_ip", "sent", "started_at")

    def __init__(self, remote_ip: str | None) -> None:
        self.sent = bytearray()
        self.received = bytearray()
        self.end: int | None = None
        self.remote_ip = remote_ip
        self.started_at = datetime.now(UTC)

    def freeze(self, url: str) -> Captured:
        end = self.end if self.end is not None else len(self.received)
        raw = bytes(self.received[:end])
        interim = b""
        head, body = _split(raw)
        while _is_interim(head) and body:  # 100 Continue, 103 Early Hints...: skipped like Twisted does
            interim += head
            head, body = _split(body)
        return Captured(
            url=url,
            request=bytes(self.sent),
            response_head=head,
            response_body=body,
            remote_ip=self.remote_ip,
            started_at=self.started_at,
            complete=self.end is not None,
            interim=interim,
        )


def _split(raw: bytes) -> tuple[bytes, bytes]:
    from archive.warc import split_head

    return split_head(raw)


def _is_interim(head: bytes) -> bool:
    parts = head.split(b" ", 2)
    return len(parts) > 1 and parts[1][:1] == b"1" and len(parts[1]) == 3


class _Recorder:
    """Stands in for the transport while Twisted writes one request: keeps every byte and forwards it."""

    def __init__(self, transport: Any, sink: bytearray) -> None:
        self._transport = transport
        self._sink = sink

    def write(self, data: bytes) -> None:
        self._sink += data
        self._transport.write(data)

    def writeSequence(self, seq: Any) -> None:
        seq = list(seq)
        for data in seq:
            self._sink += data
        self._transport.writeSequence(seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Pending:
    """Captures whose Twisted response exists but whose Scrapy response has not been built yet."""

    def __init__(self) -> None:
        self._items: OrderedDict[bytes, _Exchange] = OrderedDict()
        self._ids = itertools.count(1)

    def add(self, ex: _Exchange) -> bytes:
        key = str(next(self._ids)).encode()
        self._items[key] = ex
        while len(self._items) > _MAX_PENDING:  # responses Scrapy dropped (timeouts, maxsize) never return
            self._items.popitem(last=False)
        return key

    def pop(self, key: bytes) -> _Exchange | None:
        return self._items.pop(key, None)


def _peer_ip(transport: Any) -> str | None:
    try:
        return str(transport.getPeer().host)
    except Exception:  # no peer address (a test transport)
        return None


def _instrument(proto: Any, pending: _Pending) -> None:
    """Wrap one HTTP11ClientProtocol instance (Twisted's, or Scrapy's lenient subclass)."""
    current: list[_Exchange | None] = [None]
    orig_request = proto.request
    orig_data = proto.dataReceived
    orig_finish = proto._finishResponse

    def request(txrequest: Any) -> Any:
        ex = _Exchange(_peer_ip(proto.transport))
        orig_write_to = txrequest.writeTo

        def write_to(transport: Any) -> Any:
            current[0] = ex  # only a request that is really sent becomes current
            ex.started_at = datetime.now(UTC)
            return orig_write_to(_Recorder(transport, ex.sent))

        txrequest.writeTo = write_to
        d = orig_request(txrequest)

        def attach(txresponse: Any) -> Any:
            # Twisted calls back when the headers are parsed; the body follows, recorded by data_received.
            if current[0] is ex:
                txresponse.headers.addRawHeader(_MARKER, pending.add(ex))
            return txresponse

        d.addCallback(attach)
        return d

    def data_received(data: bytes) -> None:
        ex = current[0]
        if ex is not None and ex.end is None:
            ex.received += data
        orig_data(data)

    def finish_response(rest: bytes) -> Any:
        ex = current[0]
        if ex is not None and ex.end is None:
            ex.end = len(ex.received) - len(rest)
        return orig_finish(rest)

    proto.request = request
    proto.dataReceived = data_received
    proto._finishResponse = finish_response


def _capturing_factory(base: type, pending: _Pending) -> type:
    """A subclass of the pool's protocol factory whose protocols are instrumented."""

    class CapturingFactory(base):  # type: ignore[misc, valid-type]
        noisy = False

        def buildProtocol(self, addr: Any) -> Any:
            proto = super().buildProtocol(addr)
            _instrument(proto, pending)
            return proto

    return CapturingFactory


class CapturingDownloadHandler(HTTP11DownloadHandler):
    """HTTP/1.1 downloads with the exchange's wire bytes in ``request.meta["capture"]``.

    Direct requests go through ``crawler.wire``'s asyncio client, which reads the wire bytes it parses.
    A request through a proxy (``meta["proxy"]``) or from a bound address (``meta["bindaddress"]``,
    ``DOWNLOAD_BIND_ADDRESS``) goes through Scrapy's own Twisted handler, instrumented as described
    above, which knows tunnels and bound sockets. So does every request of a crawl whose reactor is not
    asyncio's (the wire client runs on the asyncio loop). ``CAPTURE_CLIENT = "twisted"`` sends every
    request that way."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._pending = _Pending()
        self._pool._factory = _capturing_factory(self._pool._factory, self._pending)
        from scrapy.utils.reactor import is_asyncio_reactor_installed

        from crawler.wire import Pool

        settings = crawler.settings
        self._wire: Pool | None = None
        if settings.get("CAPTURE_CLIENT", "wire") == "wire" and is_asyncio_reactor_installed():
            self._wire = Pool(
                verify_certificates=settings.getbool("DOWNLOAD_VERIFY_CERTIFICATES"),
                max_idle=max(settings.getint("CONCURRENT_REQUESTS"), 1),
            )
        # DownloadTimeoutMiddleware puts DOWNLOAD_TIMEOUT in every request's meta; without it, the
        # setting still holds (180 s, Scrapy's default, if it is 0).
        self._timeout = settings.getfloat("DOWNLOAD_TIMEOUT") or 180.0

    async def download_request(self, request: Request) -> Response:
        for key in (CAPTURE_META, WARC_PENDING, WARC_META):
            request.meta.pop(key, None)  # a retry or redirect copies the meta of the request before
        meta = request.meta
        if self._wire is None or meta.get("proxy") or meta.get("bindaddress") or self._bind_address:
            return await self._download_twisted(request)
        exchange = await self._wire.fetch(
            request.method,
            request.url,
            request.headers,
            request.body,
            timeout=meta.get("download_timeout") or self._timeout,
            maxsize=meta.get("download_maxsize", self._default_maxsize),
            warnsize=meta.get("download_warnsize", self._default_warnsize),
            fail_on_dataloss=meta.get("download_fail_on_dataloss", self._fail_on_dataloss),
            on_warnsize=_warn_size,
        )
        meta["download_latency"] = exchange.latency
        response = _response(request, exchange)
        captured = Captured(
            url=urldefrag(request.url)[0],
            request=exchange.sent,
            response_head=exchange.head,
            response_body=exchange.wire_body,
            remote_ip=exchange.remote_ip,
            started_at=exchange.started_at,
            complete=exchange.complete,
            interim=exchange.interim,
        )
        meta[CAPTURE_META] = captured
        # Synchronous: WarcCapture's receiver only queues the write (an async send would start a task
        # per receiver and response).
        self._crawler.signals.send_catch_log(
            exchange_captured, captured=captured, request=request, response=response
        )
        return response

    async def _download_twisted(self, request: Request) -> Response:
        response = await super().download_request(request)
        keys = response.headers.pop(_MARKER, None)
        ex = self._pending.pop(keys[-1]) if keys else None
        if ex is None:
            logger.warning("No capture for %s: it will be missing from the WARC files", request.url)
            return response
        captured = ex.freeze(urldefrag(request.url)[0])
        request.meta[CAPTURE_META] = captured
        self._crawler.signals.send_catch_log(
            exchange_captured, captured=captured, request=request, response=response
        )
        return response

    async def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
        await super().close()


def _warn_size(url: str, size: int, limit: int) -> None:
    logger.warning(
        "%s: the response (%d bytes) is larger than the download warn size (%d bytes)", url, size, limit
    )


def _response(request: Request, exchange: Any) -> Response:
    # Grouped first: one Headers update for them all instead of an appendlist each; given to the Response
    # after it is made (its constructor would normalise every header again into a copy).
    grouped: dict[bytes, list[bytes]] = {}
    for name, value in exchange.headers:
        key = name.lower()
        if key in grouped:
            grouped[key].append(value)
        else:
            grouped[key] = [value]
    headers = Headers(grouped)
    body = exchange.body
    respcls = responsetypes.from_args(headers=headers, url=request.url, body=body)
    try:
        ip = ipaddress.ip_address(exchange.remote_ip) if exchange.remote_ip else None
    except ValueError:
        ip = None
    response = respcls(
        url=request.url,
        status=exchange.status,
        body=body,
        flags=exchange.flags or None,
        ip_address=ip,
        protocol=exchange.version.decode("ascii", "replace"),
    )
    response.headers = headers  # a Headers is kept as it is
    return response


class WarcCapture:
    """Writes every captured exchange of a crawl into the snapshot's WARC files.

    Settings: ``WARC_ENABLED`` (default False), ``ARCHIVE_ROOT``, ``RESUME`` (continue the snapshot's
    staged WARC), ``WARC_MAX_BYTES`` (rotation size), ``WARC_PUBLISH`` (publish the files when the spider
    finished; default False: the snapshot commit calls ``archive.warc.publish``). The site is
    ``spider.profile.name`` (else ``WARC_SITE`` or the spider's name) and the snapshot ``spider.snapshot_id``
    (else ``WARC_SNAPSHOT_ID``)."""

    def __init__(self, crawler: Any) -> None:
        if not crawler.settings.getbool("WARC_ENABLED"):
            raise NotConfigured("WARC_ENABLED is off")
        self.crawler = crawler
        self.writer: Any = None  # the WarcWriter, when records are written in this process
        self.failed = 0  # exchanges the writer could not write (each one is logged)
        # One process writes every record, in arrival order: gzip, digests, warcio's record building
        # and the digest index then cost the crawl's process (and its GIL) nothing but a pickle of the
        # captured bytes. WARC_WRITER_PROCESS: True, False (the crawl's own thread), unset: as
        # crawler.extraction_pool.offload_by_default decides.
        self._worker: PipeWorker | None = None
        # Writes not yet accounted for (their done callbacks run on a later turn of the loop; at close,
        # call_sync settles the last ones and spider_closed accounts for them at once).
        self._unsettled: dict[asyncio.Future[Any], Request] = {}
        self._site: str | None = None  # set by spider_opened
        self._snapshot_id: str | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.captured, signal=exchange_captured)
        if self._own_process():
            # The process starts now, before the crawl's clock (Scrapy's start_time, at spider_opened), as
            # the extraction worker does: its start-up (an interpreter and imports, about 0.3 s) is set-up,
            # like the crawl's own imports. The writer opens in it at spider_opened, once the archive
            # pipeline holds the site's run lock (a writer that does not resume discards staged files).
            self._worker = PipeWorker(preload_writer)

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcCapture:
        return cls(crawler)

    def _writer_args(self) -> dict[str, Any]:
        from archive.warc import DEFAULT_MAX_BYTES
        from crawler import __version__

        settings = self.crawler.settings
        spider = self.crawler.spider
        profile = getattr(spider, "profile", None)
        site = getattr(profile, "name", None) or settings.get("WARC_SITE") or spider.name
        snapshot_id = getattr(spider, "snapshot_id", None) or settings.get("WARC_SNAPSHOT_ID")
        info = {
            "crawler-version": __version__,
            "scrapy-settings": {
                k: settings.get(k)
                for k in ("USER_AGENT", "ROBOTSTXT_OBEY", "DOWNLOAD_DELAY", "CONCURRENT_REQUESTS_PER_DOMAIN")
            },
            "http-header-user-agent": settings.get("USER_AGENT"),
            "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        }
        return {
            "root": Path(settings.get("ARCHIVE_ROOT")),
            "site": site,
            "snapshot_id": snapshot_id,
            "resume": settings.getbool("RESUME"),
            "info": info,
            "max_bytes": settings.getint("WARC_MAX_BYTES", DEFAULT_MAX_BYTES),
        }

    def _writer(self) -> Any:
        if self.writer is None:
            from archive.warc import WarcWriter

            self.writer = WarcWriter(**self._writer_args())
        return self.writer

    def _own_process(self) -> bool:
        from scrapy.utils.reactor import is_asyncio_reactor_installed, is_reactor_installed

        from crawler.extraction_pool import offload_by_default

        settings = self.crawler.settings
        own_process = settings.getbool("WARC_WRITER_PROCESS")
        if settings.get("WARC_WRITER_PROCESS") is None:
            own_process = offload_by_default(settings)
        # The pipes are watched by asyncio's loop: under Twisted, only its asyncio reactor has one.
        asyncio_loop = not is_reactor_installed() or is_asyncio_reactor_installed()
        return own_process and asyncio_loop and workers_available()

    def spider_opened(self, spider: Any) -> None:
        args = self._writer_args()
        self._site, self._snapshot_id = args["site"], args["snapshot_id"]
        if self._worker is None:
            self._writer()
            return
        try:
            # Returns once the writer opened (and recovered) its files, or raises what stopped it.
            self._worker.call_sync(open_writer, args)
        except BaseException:
            worker, self._worker = self._worker, None
            worker.close(timeout=5)
            raise

    def captured(self, captured: Captured, request: Request, response: Response) -> None:
        if self._worker is None:
            self._store(self._writer().write(captured), request)
            return
        # The response goes on at once; whoever needs the provenance awaits this (see provenance()).
        pending = self._worker.call(write, captured)
        self._unsettled[pending] = request
        pending.add_done_callback(self._done)
        request.meta[WARC_PENDING] = pending

    def _done(self, done: asyncio.Future[Any]) -> None:
        request = self._unsettled.pop(done, None)
        if request is None or done.cancelled():
            return  # accounted for already (at close), or abandoned
        exc = done.exception()
        if exc is not None:
            self.failed += 1
            logger.error("WARC: the exchange of %s was not written: %s", request.url, exc)
            return
        self._store(done.result(), request)

    def _store(self, provenance: Any, request: Request) -> None:
        request.meta[WARC_META] = provenance

    def spider_closed(self, spider: Any, reason: str) -> None:
        # Connected before the archive pipeline's handler (extensions are built first), so every write
        # is done and the files are closed before they are published.
        from archive.warc import publish

        finished = reason == "finished"
        if self._worker is not None:
            worker, self._worker = self._worker, None
            try:
                worker.call_sync(close_writer, finished)  # runs after every write queued before it
            finally:
                worker.close()
                for done in [f for f in self._unsettled if f.done()]:  # settled: count them now
                    self._done(done)
            if self._site is None:
                return  # the crawl stopped before spider_opened: the writer never opened
            site, snapshot_id = self._site, self._snapshot_id
        elif self.writer is not None:
            writer, self.writer = self.writer, None
            finish(writer, finished)
            site, snapshot_id = writer.site, writer.snapshot_id
        else:
            return
        if not finished:
            return
        if self.crawler.settings.getbool("WARC_PUBLISH"):
            publish(Path(self.crawler.settings.get("ARCHIVE_ROOT")), site, snapshot_id)
        logger.info("WARC: exchanges written for %s/%s (%d failed)", site, snapshot_id, self.failed)


async def provenance(meta: dict[str, Any]) -> Any:
    """The ``archive.warc.Provenance`` of a response's records (None without WARC capture), once written."""
    pending = meta.get(WARC_PENDING)
    if pending is not None:
        return await pending
    return meta.get(WARC_META)
