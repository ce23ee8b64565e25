"""crawler.wire: the response parser on byte strings, fed whole and byte by byte, and the client against
a server on 127.0.0.1 that answers canned bytes (keep-alive, stale connections, limits, errors)."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Callable

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)

from crawler.wire import Pool, ProtocolError, ResponseReader, request_bytes
from tests.conftest import chunked


def read(wire: bytes, *, step: int = 0, head_request: bool = False, eof: bool = False) -> ResponseReader:
    """Feed ``wire`` whole (step 0) or ``step`` bytes at a time; then end the connection if ``eof``."""
    reader = ResponseReader(head_request=head_request)
    chunks = [wire] if not step else [wire[i : i + step] for i in range(0, len(wire), step)]
    done = False
    for chunk in chunks:
        assert not done, "bytes fed after the response was complete"
        done = reader.feed(chunk)
    if eof:
        done = reader.eof()
    assert done, "the response is not complete"
    return reader


def parts(reader: ResponseReader) -> tuple[bytes, bytes, bytes]:
    """(interim, head, wire body) as the WARC record takes them."""
    assert reader.body_start is not None and reader.end is not None
    raw = bytes(reader.raw)
    return raw[: reader.start], raw[reader.start : reader.body_start], raw[reader.body_start : reader.end]


LENGTH = (
    b"HTTP/1.1 200 Okey Dokey\r\nserver:Raw\r\nX-Dup: one\r\nx-dup:  two \r\nContent-Length: 5\r\n\r\nhello"
)


@pytest.mark.parametrize("step", [0, 1, 7])
def test_content_length_response_whole_and_in_pieces(step: int) -> None:
    reader = read(LENGTH, step=step)
    assert (reader.version, reader.status, reader.reason) == (b"HTTP/1.1", 200, b"Okey Dokey")
    assert reader.headers == [
        (b"server", b"Raw"),
        (b"X-Dup", b"one"),
        (b"x-dup", b"two"),
        (b"Content-Length", b"5"),
    ]
    assert reader.body() == b"hello"
    assert parts(reader) == (b"", LENGTH[: -len(b"hello")], b"hello")
    assert reader.keep_alive


@pytest.mark.parametrize("step", [0, 1, 5, 300])
def test_chunked_body_keeps_its_framing_on_the_wire_and_loses_it_in_the_body(step: int) -> None:
    payload = gzip.compress("서울 정책 뉴스 ".encode() * 200)
    framed = chunked(payload, 700).replace(b"\r\n", b";ext=1\r\n", 1)  # a chunk extension
    framed = framed[: -len(b"\r\n")] + b"X-Trailer: yes\r\n\r\n"  # and a trailer field
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    reader = read(head + framed, step=step)
    assert reader.body() == payload
    assert parts(reader) == (b"", head, framed)
    assert reader.body_bytes == len(payload)


def test_bare_line_feeds_are_read_as_line_ends() -> None:
    wire = b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok"
    reader = read(wire, step=3)
    assert reader.headers == [(b"Content-Length", b"2"), (b"X-A", b"b")]
    assert reader.body() == b"ok"
    body = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n"
    assert read(body, step=1).body() == b"ok"


def test_interim_responses_are_kept_apart_from_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    for step in (0, 1):
        reader = read(interim + final, step=step)
        assert reader.status == 200
        assert parts(reader) == (interim, final[:-3], b"abc")


@pytest.mark.parametrize(
    ("wire", "head_request"),
    [
        (b"HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n", False),
        (b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", True),  # the answer to a HEAD request
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    ],
)
def test_responses_without_a_body_end_with_their_head(wire: bytes, head_request: bool) -> None:
    reader = read(wire, head_request=head_request)
    assert reader.body() == b""
    assert reader.end == len(wire)
    assert reader.keep_alive


def test_a_body_without_length_is_read_until_the_connection_closes() -> None:
    wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>to the end"
    reader = ResponseReader()
    assert not reader.feed(wire)
    assert reader.eof()
    assert reader.body() == b"<p>to the end"
    assert not reader.keep_alive
    assert read(b"HTTP/1.0 200 OK\r\n\r\nold", eof=True).body() == b"old"


def test_connection_close_and_http10_are_not_kept_alive() -> None:
    assert not read(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
    assert not read(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive
    assert read(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").keep_alive


def test_transfer_encoding_wins_over_content_length_and_the_connection_is_dropped() -> None:
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    reader = read(wire)
    assert reader.body() == b"ok"
    assert not reader.keep_alive


def test_folded_header_lines_and_blank_lines_before_the_status_line() -> None:
    reader = read(
        b"\r\n\r\nHTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nno colon here\r\nContent-Length: 0\r\n\r\n"
    )
    assert reader.headers == [(b"X-Long", b"one two"), (b"Content-Length", b"0")]
    assert reader.start == 4  # the blank lines are not part of the head


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "invalid Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", "Content-Length too large"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n", "chunk data not followed"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "does not upgrade"),
    ],
)
def test_malformed_responses_are_protocol_errors(wire: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ResponseReader().feed(wire)


@pytest.mark.parametrize(
    "filler",
    [
        b"X-Pad: " + b"a" * 991 + b"\r\n",  # a head that never ends
        b"HTTP/1.1 100 Continue\r\n\r\n" * 40,  # interim responses without a final one
        b"\r\n" * 500,  # blank lines
    ],
)
def test_bytes_without_a_final_head_are_refused_not_buffered(filler: bytes) -> None:
    from crawler.wire import MAX_HEAD_BYTES

    reader = ResponseReader()
    with pytest.raises(ProtocolError, match="final response head"):
        for _ in range(MAX_HEAD_BYTES // len(filler) + 2):
            reader.feed(filler)


def test_http10_with_transfer_encoding_is_not_kept_alive() -> None:
    wire = (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    )
    reader = read(wire)
    assert reader.body() == b"ok" and not reader.keep_alive


def test_agreeing_repeated_content_lengths_are_one_length() -> None:
    assert read(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok").body() == b"ok"


def test_an_incomplete_response_at_eof_is_not_complete() -> None:
    reader = ResponseReader()
    assert not reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert not reader.eof()
    assert reader.body() == b"abc"


def test_request_bytes() -> None:
    from scrapy.http import Headers

    headers = Headers({"User-Agent": "ua", "Accept": ["a", "b"]})
    assert request_bytes("GET", "http://127.0.0.1:8080/ko/x?page=2&a=%EC%84%9C#frag", headers, b"") == (
        b"GET /ko/x?page=2&a=%EC%84%9C HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ua\r\n"
        b"Accept: a\r\nAccept: b\r\n\r\n"
    )
    assert request_bytes("POST", "https://example.org/", Headers(), b"q=1") == (
        b"POST / HTTP/1.1\r\nHost: example.org\r\nContent-Length: 3\r\n\r\nq=1"
    )
    assert request_bytes("GET", "http://[::1]:81", Headers({"Host": "h"}), b"").startswith(
        b"GET / HTTP/1.1\r\nHost: h\r\n"
    )


# --- the client, against a server on 127.0.0.1 -------------------------------------------------------

Handler = Callable[[bytes, int], "bytes | None"]  # (request head, its index on the connection) -> answer


class CannedServer:
    """An asyncio server on 127.0.0.1: for each request head it writes what ``handler`` returns; None
    closes the connection without an answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.ended = 0  # connections that are over (closed by the client, or by the server)
        self.requests: list[bytes] = []

    async def __aenter__(self) -> CannedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                answer = self.handler(head, index)
                index += 1
                if answer is None:
                    break
                if answer == b"hang":
                    await asyncio.sleep(5)
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went, or the test ended
        finally:
            self.ended += 1
            writer.close()


def ok(body: bytes = b"hello") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_requests_share_one_keep_alive_connection() -> None:
    async def main() -> None:
        async with CannedServer(lambda head, i: ok(b"n%d" % i)) as server:
            pool = Pool()
            first = await pool.fetch("GET", server.url + "/a", None)
            second = await pool.fetch("GET", server.url + "/b", None)
            pool.close()
            assert (first.body, second.body) == (b"n0", b"n1")
            assert (first.reused, second.reused) == (False, True)
            assert server.connections == 1
            assert first.sent == server.requests[0] and first.sent.startswith(b"GET /a HTTP/1.1\r\n")
            assert first.remote_ip == "127.0.0.1"
            assert first.head + first.wire_body == ok(b"n0")

    run(main())


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    # the server answers one request per connection and closes it without saying so
    async def main() -> None:
        async with CannedServer(lambda head, i: ok() if i == 0 else None) as server:
            pool = Pool()
            assert (await pool.fetch("GET", server.url + "/a", None)).body == b"hello"
            again = await pool.fetch("GET", server.url + "/b", None)
            pool.close()
            assert again.body == b"hello" and not again.reused
            assert server.connections == 2

    run(main())


def test_timeout_size_limit_and_data_loss_are_scrapys_errors() -> None:
    def handler(head: bytes, i: int) -> bytes | None:
        target = head.split(b" ")[1]
        return {
            b"/slow": b"hang",
            b"/big": ok(b"x" * 5000),
            b"/huge": b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100,
            b"/short": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nabc",
            # one chunk said to be 1 GB long, which never ends: counted as it arrives
            b"/chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n" + b"x" * 3000,
        }.get(target, ok())

    async def main() -> None:
        async with CannedServer(handler) as server:
            pool = Pool()
            with pytest.raises(DownloadTimeoutError, match=r"took longer than 0\.3 seconds"):
                await pool.fetch("GET", server.url + "/slow", None, timeout=0.3)
            with pytest.raises(DownloadCancelledError, match=r"response size \(5000\) larger"):
                await pool.fetch("GET", server.url + "/big", None, maxsize=1000)
            with pytest.raises(DownloadCancelledError, match=r"expected response size \(10000000\)"):
                await pool.fetch("GET", server.url + "/huge", None, maxsize=1000)
            with pytest.raises(DownloadCancelledError, match="larger than download max size"):
                await pool.fetch("GET", server.url + "/chunk", None, maxsize=1000, timeout=5)
            warned: list[tuple[str, int, int]] = []
            big = await pool.fetch(
                "GET", server.url + "/big", None, warnsize=1000, on_warnsize=lambda *a: warned.append(a)
            )
            assert len(big.body) == 5000 and warned == [(server.url + "/big", 5000, 1000)]
            with pytest.raises(ResponseDataLossError):
                await pool.fetch("GET", server.url + "/short", None)
            partial = await pool.fetch("GET", server.url + "/short", None, fail_on_dataloss=False)
            assert (partial.body, partial.complete, partial.flags) == (b"abc", False, ["dataloss"])
            assert (await pool.fetch("GET", server.url + "/", None)).body == b"hello"  # the pool still works
            pool.close()

    run(main())


def test_a_reset_cuts_a_body_read_until_close() -> None:
    from crawler.wire import Connection

    async def main() -> None:
        conn = Connection()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[ResponseReader] = loop.create_future()
        reader = ResponseReader()
        conn._reader, conn._done = reader, done  # as send() leaves them, without a socket
        conn.data_received(b"HTTP/1.1 200 OK\r\n\r\npartial bo")
        conn.connection_lost(ConnectionResetError("reset by peer"))
        with pytest.raises(ResponseDataLossError, match="reset by peer"):
            await done

    run(main())


def test_a_response_over_the_size_limit_does_not_leave_its_connection_open() -> None:
    async def main() -> None:
        async with CannedServer(lambda head, i: ok(b"x" * 50)) as server:
            pool = Pool()
            for _ in range(3):
                with pytest.raises(DownloadCancelledError):
                    await pool.fetch("GET", server.url + "/", None, maxsize=10)
            await asyncio.sleep(0.2)
            assert server.connections == 3 and server.ended == 3  # one each, closed, none pooled
            assert not any(pool._idle.values())
            assert (await pool.fetch("GET", server.url + "/", None)).body == b"x" * 50
            pool.close()

    run(main())


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://a..b/", "ftp://127.0.0.1/"])
def test_urls_this_client_cannot_request_are_scrapys_errors(url: str) -> None:
    from scrapy.exceptions import DownloadFailedError

    async def main() -> None:
        with pytest.raises((DownloadFailedError, CannotResolveHostError)):
            await Pool().fetch("GET", url, None, timeout=5)

    run(main())


def test_connection_refused_is_scrapys_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    async def main() -> None:
        with pytest.raises(DownloadConnectionRefusedError):
            await Pool().fetch("GET", f"http://127.0.0.1:{port}/", None)

    run(main())
