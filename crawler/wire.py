"""An HTTP/1.1 client on asyncio that keeps each exchange's wire bytes.

Why not Twisted's client: the crawl's process spends most of its time in Scrapy's per-request machinery,
and the largest single part of it is Twisted's HTTP/1.1 stack (the agent, the connection pool, the
line-based parser, their Deferred chains): about 1 ms of CPU a page of a 2.4–3 ms total, measured with the
bare spider (docs/benchmark.md). An ``asyncio.Protocol`` that reads a response with a few ``bytes.find``
calls costs a fraction of that, and the bytes it parses are the bytes the WARC record needs: nothing has
to be instrumented to capture them.

Three parts, each usable alone:

- ``ResponseReader``: the incremental parser (no I/O). It finds the end of a response as RFC 9112 §6.3
  says (no body for HEAD, 1xx, 204, 304; chunked; Content-Length; else until the connection closes), skips
  1xx interim responses, and keeps the raw bytes: head and body as they came over the wire.
- ``Connection``: one keep-alive connection, one request at a time.
- ``Pool``: idle connections per (scheme, host, port), and ``fetch``: one exchange, with the timeout, the
  size limits and the errors Scrapy's retry middleware knows (``scrapy.exceptions``).

``crawler.capture.CapturingDownloadHandler`` builds the Scrapy response and the ``Captured`` exchange from
an ``Exchange``. Requests through a proxy or from a bound address keep Twisted's client there.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)

#: The longest response head read (status line and header lines): a server that sends more is refused
#: rather than buffered without end.
MAX_HEAD_BYTES = 64 * 1024
_LINE_END = re.compile(rb"\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProtocolError(DownloadFailedError):
    """The server's bytes are not an HTTP/1.x response this client can read."""


class DataLoss(ResponseDataLossError):
    """The connection ended before the response did."""


@dataclass
class Exchange:
    """One request and its response, as they went over the wire."""

    url: str
    sent: bytes  # request line, header lines, blank line, body: exactly what was written to the socket
    status: int
    reason: bytes
    version: bytes  # b"HTTP/1.1"
    headers: list[tuple[bytes, bytes]]  # in the order received; names as sent by the server
    body: bytes  # the message body without chunk framing (still content-encoded)
    head: bytes  # status line and header lines up to and including the blank line, verbatim
    wire_body: bytes  # the body as received (chunk framing included)
    interim: bytes  # 1xx responses received before this one, verbatim
    complete: bool  # False: the connection ended before the end was seen (fail-on-dataloss off)
    remote_ip: str | None
    started_at: datetime  # when the request was written
    latency: float  # seconds from writing the request to reading the response's head
    reused: bool = False  # sent on a connection that had served an earlier exchange
    flags: list[str] = field(default_factory=list)


class ResponseReader:
    """Incremental HTTP/1.x response parser. ``feed`` bytes until it returns True (the response is
    complete), or call ``eof`` when the connection ends. ``raw`` holds every byte fed; ``end`` is where
    the response ended in it (bytes after it belong to nobody: a keep-alive connection is then dropped).
    """

    def __init__(self, *, head_request: bool = False) -> None:
        self.head_request = head_request
        self.raw = bytearray()
        self.start = 0  # where the current (final or interim) head starts in raw
        self.body_start: int | None = None
        self.end: int | None = None
        self.status = 0
        self.reason = b""
        self.version = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self._mode = ""  # "none", "length", "chunked", "close"
        self._remaining = 0  # length mode: body bytes still expected
        self._pos = 0  # chunked mode: where parsing resumes
        self._chunks: list[bytes] = []
        self._trailers = False  # chunked mode: in the trailer section
        self.body_bytes = 0  # message-body bytes seen so far (for the size limits)
        self.head_at = 0.0  # time.monotonic() when the final head was parsed

    @property
    def head_done(self) -> bool:
        return self.body_start is not None

    def feed(self, data: bytes) -> bool:
        self.raw += data
        while self.body_start is None:
            if not self._read_head():
                return False
        if self._mode == "length":
            available = len(self.raw) - self.body_start
            self.body_bytes = min(available, self._remaining)
            if available >= self._remaining:
                self.end = self.body_start + self._remaining
        elif self._mode == "chunked":
            self._read_chunks()
        elif self._mode == "close":
            self.body_bytes = len(self.raw) - self.body_start
        return self.end is not None

    def eof(self) -> bool:
        """The connection ended: True if that completes the response (a body read until close)."""
        if self.end is None and self.body_start is not None and self._mode == "close":
            self.end = len(self.raw)
            self.body_bytes = self.end - self.body_start
        return self.end is not None

    def body(self) -> bytes:
        """The message body, without chunk framing; what has arrived so far if incomplete."""
        assert self.body_start is not None
        if self._mode == "chunked":
            return b"".join(self._chunks)
        stop = self.end if self.end is not None else len(self.raw)
        if self._mode == "length":
            stop = min(stop, self.body_start + self._remaining)
        return bytes(self.raw[self.body_start : stop])

    def _read_head(self) -> bool:
        """Parse a head if one has arrived (False: not yet). An interim one is skipped over."""
        raw = self.raw
        while self.start < len(raw) and raw[self.start] in b"\r\n":
            self.start += 1  # blank lines before a status line are skipped (RFC 9112 §2.2)
        found = _HEAD_END.search(raw, self.start)
        # interim responses and blank lines count too: a server that never sends its final head is refused
        if found is None:
            if len(raw) > MAX_HEAD_BYTES:
                raise ProtocolError(f"no final response head in the first {MAX_HEAD_BYTES} bytes")
            return False
        if found.start() > MAX_HEAD_BYTES:
            raise ProtocolError(f"more than {MAX_HEAD_BYTES} bytes before the end of the final response head")
        lines = _LINE_END.split(bytes(self.raw[self.start : found.start()]))
        version, status, reason = _status_line(lines[0])
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
                name, value = headers[-1]
                headers[-1] = (name, value + b" " + line.strip(b" \t"))
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name.strip():
                continue  # not a header line; Twisted skips these too
            headers.append((name.strip(), value.strip(b" \t")))
        head_end = found.end()
        if 100 <= status < 200:
            if status == 101:
                raise ProtocolError("101 Switching Protocols: this client does not upgrade connections")
            self.start = head_end  # an interim response: the final one follows
            return True
        self.version, self.status, self.reason, self.headers = version, status, reason, headers
        self.body_start = head_end
        self.head_at = time.monotonic()
        self._frame()
        return True

    def _frame(self) -> None:
        """How the body's end is found (RFC 9112 §6.3), and whether the connection can be kept."""
        assert self.body_start is not None
        values: dict[bytes, list[bytes]] = {}
        for name, value in self.headers:
            values.setdefault(name.lower(), []).append(value)
        connection = {t.strip().lower() for v in values.get(b"connection", []) for t in v.split(b",")}
        self.keep_alive = (
            b"close" not in connection if self.version == b"HTTP/1.1" else b"keep-alive" in connection
        )
        codings = [t.strip().lower() for v in values.get(b"transfer-encoding", []) for t in v.split(b",")]
        if self.head_request or self.status in (204, 304):
            self._mode = "none"
            self.end = self.body_start
        elif codings:
            if codings[-1] == b"chunked":
                self._mode = "chunked"
                self._pos = self.body_start
            else:
                self._mode = "close"
                self.keep_alive = False
            if values.get(b"content-length") or self.version != b"HTTP/1.1":
                # both framings (Transfer-Encoding wins), or Transfer-Encoding in HTTP/1.0: the framing
                # may be faulty, so the connection is not kept (RFC 9112 §6.1)
                self.keep_alive = False
        elif b"content-length" in values:
            lengths = {t.strip() for v in values[b"content-length"] for t in v.split(b",")}
            if len(lengths) != 1 or not next(iter(lengths)).isdigit():
                raise ProtocolError(f"invalid Content-Length: {b', '.join(values[b'content-length'])!r}")
            value = next(iter(lengths))
            if len(value) > 18:  # more than an exabyte, and more digits than int() takes at once
                raise ProtocolError(f"Content-Length too large: {value[:40]!r}")
            self._mode = "length"
            self._remaining = int(value)
            if self._remaining == 0:
                self.end = self.body_start
        else:
            self._mode = "close"
            self.keep_alive = False

    def _read_chunks(self) -> None:
        raw = self.raw
        while self.end is None:
            nl = raw.find(b"\n", self._pos)
            if nl < 0:
                return
            line = bytes(raw[self._pos : nl]).rstrip(b"\r")
            if self._trailers:
                self._pos = nl + 1
                if not line:
                    self.end = self._pos
                continue
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size_text):  # int(…, 16) would also take "0x", "+", "_" and spaces
                raise ProtocolError(f"invalid chunk size line: {line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._trailers = True
                self._pos = nl + 1
                continue
            data_start = nl + 1
            data_end = data_start + size
            if len(raw) < data_end + 1:
                return
            if raw[data_end : data_end + 2] == b"\r\n":
                after = data_end + 2
            elif raw[data_end : data_end + 1] == b"\n":
                after = data_end + 1
            elif len(raw) < data_end + 2:
                return
            else:
                raise ProtocolError("chunk data not followed by a line end")
            self._chunks.append(bytes(raw[data_start:data_end]))
            self.body_bytes += size
            self._pos = after


def _status_line(line: bytes) -> tuple[bytes, int, bytes]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else b""


def request_bytes(method: str, url: str, headers: Any, body: bytes) -> bytes:
    """The request as this client writes it: request line, Host, the request's headers in their order,
    Content-Length when there is a body (or a method that carries one), the blank line, the body."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target.encode("ascii"))]
    names = {bytes(k).lower() for k in headers} if headers else set()
    if b"host" not in names:
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme):
            host = f"{host}:{parts.port}"
        lines.append(b"Host: " + host.encode("idna" if not host.isascii() else "ascii"))
    if headers:
        for name, values in headers.items():
            for value in values:
                lines.append(bytes(name) + b": " + bytes(value))
    if b"content-length" not in names and (body or method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.remote_ip: str | None = None
        self._reader: ResponseReader | None = None
        self._done: asyncio.Future[ResponseReader] | None = None
        self.on_data: Any = None  # called with the reader after each read that left it incomplete

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote_ip = str(peer[0]) if peer else None

    def send(self, data: bytes, reader: ResponseReader, done: asyncio.Future[ResponseReader]) -> None:
        assert self.transport is not None and self._reader is None
        self._reader, self._done = reader, done
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        reader, done = self._reader, self._done
        if reader is None or done is None:
            self.closed = True  # bytes nobody asked for: this connection cannot be trusted any more
            if self.transport is not None:
                self.transport.close()
            return
        try:
            complete = reader.feed(data)
        except ProtocolError as exc:
            self._finish(exc)
            return
        except Exception as exc:  # a parser bug must fail this exchange, not the event loop's callback
            self._finish(ProtocolError(f"unreadable response: {type(exc).__name__}: {exc}"))
            return
        if complete:
            self._finish(None)
        elif self.on_data is not None:
            self.on_data(reader)

    def eof_received(self) -> bool:
        self.closed = True
        self._ended(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        reader = self._reader
        if reader is None:
            return
        # A body read until the connection closes ends with a clean close only: a reset cuts it.
        if exc is None and reader.eof():
            self._finish(None)
        else:
            self._finish(
                DataLoss(f"the connection ended before the response did ({exc or 'closed by the server'})")
            )

    def _finish(self, exc: Exception | None) -> None:
        reader, done = self._reader, self._done
        self._reader = self._done = None
        if reader is not None and (exc is not None or not reader.keep_alive or len(reader.raw) != reader.end):
            self.close()
        if done is None or done.done():
            return
        if exc is None:
            done.set_result(reader)  # type: ignore[arg-type]
        else:
            done.set_exception(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._reader = self._done = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle keep-alive connections per (scheme, host, port). Scrapy's downloader bounds how many requests
    run at once per slot, so the pool needs no bound of its own beyond that many idle connections."""

    def __init__(self, *, verify_certificates: bool = False, max_idle: int = 64) -> None:
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._max_idle = max_idle
        self._verify = verify_certificates
        self._ssl: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context()
            if not self._verify:  # Scrapy's default (DOWNLOAD_VERIFY_CERTIFICATES = False)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        return self._ssl

    async def _connect(self, scheme: str, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._ssl_context() if scheme == "https" else None
        try:
            _, conn = await loop.create_connection(
                Connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise CannotResolveHostError(f"cannot resolve {host}: {exc}") from exc
        except ConnectionRefusedError as exc:
            raise DownloadConnectionRefusedError(f"connection refused by {host}:{port}") from exc
        except OSError as exc:
            raise DownloadFailedError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _take(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def _give_back(self, key: tuple[str, str, int], conn: Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if conn.closed or len(idle) >= self._max_idle:
            conn.close()
        else:
            idle.append(conn)

    async def fetch(
        self,
        method: str,
        url: str,
        headers: Any,
        body: bytes = b"",
        *,
        timeout: float | None = None,
        maxsize: int = 0,
        warnsize: int = 0,
        fail_on_dataloss: bool = True,
        on_warnsize: Any = None,
    ) -> Exchange:
        """One exchange. A request on a reused connection that the server had closed meanwhile (no byte
        of an answer) is sent once more on a new connection, as Twisted's pool does for idempotent
        methods."""
        try:
            parts = urlsplit(url)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                raise ValueError("not an http(s) URL with a host")
            key = (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
            sent = request_bytes(method, url, headers, body)
        except (ValueError, UnicodeError) as exc:  # a port out of range, a host IDNA refuses, ...
            raise DownloadFailedError(f"cannot request {url}: {exc}") from None
        try:
            async with asyncio.timeout(timeout):
                conn = self._take(key)
                if conn is not None and method in ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"):
                    try:
                        return await self._exchange(key, conn, method, url, sent, maxsize, warnsize,
                                                    fail_on_dataloss, on_warnsize, reused=True)  # fmt: skip
                    except _Stale:
                        pass
                elif conn is not None:
                    conn.close()  # a non-idempotent request is never sent on a connection that may be stale
                conn = await self._connect(*key)
                return await self._exchange(key, conn, method, url, sent, maxsize, warnsize,
                                            fail_on_dataloss, on_warnsize, reused=False)  # fmt: skip
        except TimeoutError:
            raise DownloadTimeoutError(f"Getting {url} took longer than {timeout} seconds.") from None

    async def _exchange(
        self,
        key: tuple[str, str, int],
        conn: Connection,
        method: str,
        url: str,
        sent: bytes,
        maxsize: int,
        warnsize: int,
        fail_on_dataloss: bool,
        on_warnsize: Any,
        *,
        reused: bool,
    ) -> Exchange:
        loop = asyncio.get_running_loop()
        reader = ResponseReader(head_request=method == "HEAD")
        done: asyncio.Future[ResponseReader] = loop.create_future()
        started_at = datetime.now(UTC)
        start = time.monotonic()
        warned = False

        def on_data(r: ResponseReader) -> None:
            # the size limits, as the body arrives
            nonlocal warned
            if not r.head_done:
                return
            # the body's bytes as received so far (chunk framing included): a chunk that never ends
            # counts as it arrives
            expected = r._remaining if r._mode == "length" else 0
            received = len(r.raw) - r.body_start  # type: ignore[operator]
            size = max(expected, received)
            if maxsize and size > maxsize and not done.done():
                conn.abort()
                word = "expected " if expected > received else ""
                done.set_exception(DownloadCancelledError(
                    f"Cancelling download of {url}: {word}response size ({size}) larger than download max "
                    f"size ({maxsize})."
                ))  # fmt: skip
            elif warnsize and size > warnsize and not warned:
                warned = True
                if on_warnsize is not None:
                    on_warnsize(url, size, warnsize)

        if conn.closed:
            if reused:
                raise _Stale
            raise DownloadFailedError(
                f"the connection to {key[1]}:{key[2]} closed before the request was sent"
            )
        conn.on_data = on_data if (maxsize or warnsize) else None
        conn.send(sent, reader, done)
        try:
            await done
        except DataLoss:
            if reused and not reader.raw:
                raise _Stale from None
            if fail_on_dataloss or not reader.head_done:
                raise
            return self._result(conn, url, sent, reader, started_at, start, reused, False, ["dataloss"])
        except BaseException:
            conn.abort()  # a timeout, a cancel, a size limit, a protocol error: the connection is not reused
            raise
        if maxsize and reader.body_bytes > maxsize:  # a body that arrived in one read with its head
            conn.close()
            raise DownloadCancelledError(
                f"Cancelling download of {url}: response size ({reader.body_bytes}) larger than download max "
                f"size ({maxsize})."
            )
        if warnsize and reader.body_bytes > warnsize and not warned and on_warnsize is not None:
            on_warnsize(url, reader.body_bytes, warnsize)
        result = self._result(conn, url, sent, reader, started_at, start, reused, True, [])
        self._give_back(key, conn)
        return result

    @staticmethod
    def _result(
        conn: Connection,
        url: str,
        sent: bytes,
        reader: ResponseReader,
        started_at: datetime,
        start: float,
        reused: bool,
        complete: bool,
        flags: list[str],
    ) -> Exchange:
        assert reader.body_start is not None
        end = reader.end if reader.end is not None else len(reader.raw)
        raw = bytes(reader.raw)
        return Exchange(
            url=url,
            sent=sent,
            status=reader.status,
            reason=reader.reason,
            version=reader.version,
            headers=reader.headers,
            body=reader.body(),
            head=raw[reader.start : reader.body_start],
            wire_body=raw[reader.body_start : end],
            interim=raw[: reader.start],
            complete=complete,
            remote_ip=conn.remote_ip,
            started_at=started_at,
            latency=(reader.head_at or time.monotonic()) - start,
            reused=reused,
            flags=flags,
        )

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _Stale(Exception):
    """A reused connection turned out closed before any byte of the answer arrived."""
