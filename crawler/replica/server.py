"""Serve a ``ReplicaSite`` over HTTP/1.1 with Twisted (keep-alive, in-memory, conditional GET, gzip)."""

from __future__ import annotations

import gzip
import hashlib
import re
import sys
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TextIO
from urllib.parse import urlsplit

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from crawler.replica.cli import add_arguments, main  # re-exported: the project CLI mounts them from here
from crawler.replica.render import Page
from crawler.replica.site import ReplicaSite

GZIP_MIN_BYTES = 1024
PREPARED_MAX_BYTES = 256 * 2**20

__all__ = ["ReplicaResource", "accepts_gzip", "add_arguments", "main", "serve"]


@dataclass(frozen=True)
class _Prepared:
    """Everything about a response that does not depend on the request's conditional headers. A body
    that is served gzipped is kept only gzipped (a client that refuses gzip gets it decompressed): the
    whole site stays in memory at about a third of its size."""

    status: int
    location: str | None
    content_type: bytes
    etag: str
    last_modified: bytes | None
    last_modified_at: datetime | None
    plain_body: bytes | None  # None when gzip_body holds the body
    gzip_body: bytes | None  # only for HTML over GZIP_MIN_BYTES

    @property
    def body(self) -> bytes:
        if self.plain_body is not None:
            return self.plain_body
        assert self.gzip_body is not None
        return gzip.decompress(self.gzip_body)

    @property
    def size(self) -> int:
        return len(self.plain_body or b"") + len(self.gzip_body or b"")


def _prepare(page: Page) -> _Prepared:
    content_type = page.content_type + (f"; charset={page.charset_header}" if page.charset_header else "")
    lm_at = page.last_modified.astimezone(UTC).replace(microsecond=0) if page.last_modified else None
    compressible = page.content_type == "text/html" and len(page.body) > GZIP_MIN_BYTES
    return _Prepared(
        status=page.status,
        location=page.location,
        content_type=content_type.encode("ascii"),
        etag=hashlib.sha1(page.etag_basis or page.body).hexdigest()[:24],
        last_modified=format_datetime(lm_at, usegmt=True).encode() if lm_at else None,
        last_modified_at=lm_at,
        plain_body=None if compressible else page.body,
        # mtime=0: the same body always compresses to the same bytes
        gzip_body=gzip.compress(page.body, compresslevel=6, mtime=0) if compressible else None,
    )


_TOKEN = re.compile(r"\s*([^;,\s]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?")


def accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    q: dict[str, float] = {}
    for part in header.split(","):
        m = _TOKEN.match(part)
        if m:
            try:
                q[m.group(1).lower()] = float(m.group(2)) if m.group(2) else 1.0
            except ValueError:
                continue
    if "gzip" in q:
        return q["gzip"] > 0
    if "x-gzip" in q:
        return q["x-gzip"] > 0
    return q.get("*", 0) > 0


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2), ignoring our ``-gzip`` suffix: same content, same validator."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"').removesuffix("-gzip") == etag:
            return True
    return False


BUSY_RETRY_AFTER_S = 1
_POST_TARGET = re.compile(r"^/(?:en|ko)/content/")


class ReplicaResource(Resource):
    isLeaf = True

    def __init__(self, site: ReplicaSite, access_log: TextIO, *, busy_every: int = 0) -> None:
        super().__init__()
        self.site = site
        self.access_log = access_log
        self._prepared: OrderedDict[str, _Prepared] = OrderedDict()
        self._prepared_bytes = 0
        # Fault injection: every Nth post request is refused once with 503 and Retry-After, as an
        # overloaded server does; the retry of the same target is served.
        self.busy_every = busy_every
        self._post_requests = 0
        self._refused: set[str] = set()

    def _get(self, target: str) -> _Prepared:
        prepared = self._prepared.get(target)
        if prepared is None:
            # Rendering and compressing a page costs more than serving it, so every prepared page is kept
            # up to PREPARED_MAX_BYTES (oldest out first): a crawl of the whole site (5,000 posts, about
            # 21 MB gzipped) then costs the replica, from its second crawl on, only the serving.
            prepared = _prepare(self.site.render(target))
            self._prepared[target] = prepared
            self._prepared_bytes += prepared.size
            while self._prepared_bytes > PREPARED_MAX_BYTES and len(self._prepared) > 1:
                self._prepared_bytes -= self._prepared.popitem(last=False)[1].size
        return prepared

    def render(self, request: Request) -> int:
        raw_target = request.uri.decode("utf-8", "replace")
        target = raw_target
        if not target.startswith("/"):  # absolute-form request target (proxy style)
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        method = request.method.decode("ascii", "replace")
        sent = 0
        try:
            request.setHeader(b"server", b"Apache")
            if method not in ("GET", "HEAD"):
                request.setResponseCode(405)
                request.setHeader(b"allow", b"GET, HEAD")
                body = b"Method Not Allowed\n"
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                request.setHeader(b"content-length", str(len(body)).encode())
                request.write(body)
                sent = len(body)
            elif self._busy(target):
                request.setResponseCode(503)
                request.setHeader(b"retry-after", str(BUSY_RETRY_AFTER_S).encode())
                body = b"Service Temporarily Unavailable\n"
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                request.setHeader(b"content-length", str(len(body)).encode())
                request.write(body)
                sent = len(body)
            else:
                sent = self._respond(request, target, method)
        except Exception:  # keep serving; the traceback goes to stderr for whoever debugs the test
            traceback.print_exc(file=sys.stderr)
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"content-length", b"0")
        self.access_log.write(f"{method} {raw_target} {request.code} {sent}\n")
        request.finish()
        return NOT_DONE_YET

    def _busy(self, target: str) -> bool:
        if not self.busy_every or not _POST_TARGET.match(target) or target in self._refused:
            return False
        self._post_requests += 1
        if self._post_requests % self.busy_every:
            return False
        self._refused.add(target)
        return True

    def _respond(self, request: Request, target: str, method: str) -> int:
        prepared = self._get(target)
        request.setResponseCode(prepared.status)
        request.setHeader(b"content-type", prepared.content_type)
        request.setHeader(b"x-generator", b"Drupal 7 (http://drupal.org)")
        if prepared.location is not None:
            host = (request.getHeader(b"host") or b"127.0.0.1").decode("latin-1")
            request.setHeader(b"location", f"http://{host}{prepared.location}".encode())
        etag = prepared.etag
        gzipped = prepared.gzip_body is not None and accepts_gzip(
            (request.getHeader(b"accept-encoding") or b"").decode("latin-1")
        )
        if prepared.gzip_body is not None:
            request.setHeader(b"vary", b"Accept-Encoding")
            if gzipped:
                etag += "-gzip"  # a distinct representation: distinct ETag
                request.setHeader(b"content-encoding", b"gzip")
        if prepared.status == 200:
            request.setHeader(b"etag", f'"{etag}"'.encode())
            if prepared.last_modified is not None:
                request.setHeader(b"last-modified", prepared.last_modified)
            if self._not_modified(request, prepared):
                request.setResponseCode(304)
                request.responseHeaders.removeHeader(b"content-type")
                request.responseHeaders.removeHeader(b"content-encoding")
                return 0
        else:
            request.setHeader(b"cache-control", b"no-cache")
        body = prepared.gzip_body if gzipped else prepared.body
        assert body is not None
        request.setHeader(b"content-length", str(len(body)).encode())
        if method == "HEAD":
            return 0
        request.write(body)
        return len(body)

    @staticmethod
    def _not_modified(request: Request, prepared: _Prepared) -> bool:
        inm = request.getHeader(b"if-none-match")
        if inm is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
            return _etag_matches(inm.decode("latin-1"), prepared.etag)
        ims = request.getHeader(b"if-modified-since")
        if ims is None or prepared.last_modified_at is None:
            return False
        try:
            since = parsedate_to_datetime(ims.decode("latin-1"))
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return prepared.last_modified_at <= since


def serve(
    site: ReplicaSite | None = None,
    *,
    day: int = 1,
    posts: int = 320,
    redesign: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
    access_log: TextIO | None = None,
    busy_every: int = 0,
) -> None:
    """Serve until SIGTERM/SIGINT. Prints one line with the address once listening (port 0: a free port)."""
    # Imported here, not at module level: importing the reactor installs it, and the project CLI imports this
    # module (for add_arguments) in processes where Scrapy must install its own asyncio reactor.
    from twisted.internet import reactor

    site = site or ReplicaSite(day, posts=posts, redesign=redesign)
    resource = ReplicaResource(site, access_log or sys.stderr, busy_every=busy_every)
    factory = Site(resource)
    factory.log = lambda request: None  # type: ignore[method-assign]  # our own access log replaces Twisted's
    listening = reactor.listenTCP(port, factory, interface=host)  # type: ignore[attr-defined]
    address = listening.getHost()
    print(
        f"Replica serving http://{address.host}:{address.port}/ (day {site.day}, {site.post_count} posts)",
        flush=True,
    )
    reactor.run()  # type: ignore[attr-defined]  # installs SIGINT/SIGTERM handlers that stop the reactor
