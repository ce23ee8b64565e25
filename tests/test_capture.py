"""Byte-exact capture: what ``crawler.capture.CapturingDownloadHandler`` records is what went over the wire.

Crawls run in their own process (a Twisted reactor cannot restart): ``run_capture_crawl`` starts
``python -m tests.test_capture SPEC_JSON``, which runs ``CaptureSpider`` with the capturing handler and the
``WarcCapture`` extension. The spider is a stand-in for the board spider, which the lead wires later.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scrapy
from scrapy import Request

from crawler.capture import provenance
from tests.conftest import chunked

REPO = Path(__file__).resolve().parent.parent
SITE = "replica"
SNAP1 = "20261101T000000Z"
SNAP2 = "20261102T000000Z"
WARCIO = str(Path(sys.executable).with_name("warcio"))  # the console script of the venv


# -- the test spider ------------------------------------------------------------------------------------


class CaptureSpider(scrapy.Spider):
    """``mode="full"``: the front redirect (301), every listing page, ``posts`` posts (each then again
    with If-None-Match: a 304), a 404 and a PNG logo. ``mode="recrawl"``: what an incremental run of an
    unchanged board fetches: the same listing pages, redirect, 404 and logo, ``refetch`` posts in full and
    ``conditional`` posts with their ETag from the archive (304), the other posts skipped."""

    name = "capture"

    def __init__(self, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.base = spec["base_url"]
        self.out = open(spec["results"], "a", encoding="utf-8")  # noqa: SIM115 - closed in closed()

    async def start(self) -> Any:
        from crawler.replica import ReplicaSite

        site = ReplicaSite(day=1, posts=self.spec["posts"])
        mode = self.spec.get("mode", "full")
        keep = {"handle_httpstatus_list": [301, 304, 404]}
        yield Request(self.base + "/", callback=self.record)
        for page in range(site.listing_pages()):
            target = "/ko/policy-news" + (f"?page={page}" if page else "")
            yield Request(self.base + target, callback=self.record)
        yield Request(self.base + "/no/such/page", callback=self.record, meta=keep)
        logo = next(iter(site.partners().values()))[0].logo_path
        yield Request(self.base + logo, callback=self.record)
        posts = [p.path for p in site.posts()]
        if mode == "full":
            for path in posts[: self.spec.get("max_posts", len(posts))]:
                yield Request(self.base + path, callback=self.post)
        else:
            etags = self.spec.get("etags", {})
            refetch = self.spec.get("refetch", 0)
            for path in posts[:refetch]:
                yield Request(self.base + path, callback=self.record)
            for path in posts[refetch : refetch + self.spec.get("conditional", 0)]:
                headers = {"If-None-Match": etags[path]} if path in etags else {}
                yield Request(self.base + path, callback=self.record, headers=headers, meta=keep)

    async def post(self, response: Any) -> Any:
        await self.record(response)
        etag = response.headers.get(b"ETag")
        if etag and self.spec.get("revalidate", True):
            yield Request(
                response.url,
                callback=self.record,
                headers={"If-None-Match": etag},
                dont_filter=True,
                meta={"handle_httpstatus_list": [304]},
            )

    async def record(self, response: Any) -> None:
        cap = response.meta.get("capture")
        prov = await provenance(response.meta)  # written by WarcCapture's writer process
        self.out.write(
            json.dumps(
                {
                    "url": response.url,
                    "requested": response.meta.get("redirect_urls", [response.url])[0],
                    "status": response.status,
                    "body_sha256": hashlib.sha256(response.body).hexdigest(),
                    "scrapy_headers": {
                        k.decode(): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()
                    },
                    "captured": None
                    if cap is None
                    else {
                        "url": cap.url,
                        "status_line": cap.status_line.decode("latin-1"),
                        "head": cap.response_head.decode("latin-1"),
                        "body_len": len(cap.response_body),
                        "body_sha256": hashlib.sha256(cap.response_body).hexdigest(),
                        "request": cap.request.decode("latin-1"),
                        "complete": cap.complete,
                        "remote_ip": cap.remote_ip,
                    },
                    "provenance": None if prov is None else prov.to_dict(),
                }
            )
            + "\n"
        )
        self.out.flush()

    def closed(self, reason: str) -> None:
        self.out.close()


def crawl_settings(spec: dict[str, Any]) -> dict[str, Any]:
    handler = "crawler.capture.CapturingDownloadHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "EXTENSIONS": {"crawler.capture.WarcCapture": 100},
        "WARC_ENABLED": True,
        "WARC_PUBLISH": spec.get("publish", True),
        "ARCHIVE_ROOT": spec["root"],
        "WARC_SITE": SITE,
        "WARC_SNAPSHOT_ID": spec["snapshot_id"],
        "RESUME": spec.get("resume", False),
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": spec.get("concurrency", 4),
        "CONCURRENT_REQUESTS_PER_DOMAIN": spec.get("concurrency", 4),
        "DOWNLOAD_DELAY": spec.get("delay", 0),
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "USER_AGENT": "policyboard-archiver-test (+https://example.org)",
        **spec.get("settings", {}),
    }


def main(spec_json: str) -> None:
    from scrapy.crawler import CrawlerProcess

    spec = json.loads(spec_json)
    process = CrawlerProcess(crawl_settings(spec))
    process.crawl(CaptureSpider, spec=spec)
    process.start()


def crawl_command(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "tests.test_capture", json.dumps(spec)]


def crawl_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def run_capture_crawl(spec: dict[str, Any], timeout: float = 180) -> list[dict[str, Any]]:
    """Run one crawl in a child process; return the spider's results (one dict per response)."""
    proc = subprocess.run(
        crawl_command(spec), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=crawl_env()
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    with open(spec["results"], encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# -- a raw HTTP server: exactly which bytes went over the wire --------------------------------------------

_GZ_BODY = gzip.compress(b"<html><body>" + "서울 ".encode() * 400 + b"</body></html>", mtime=0)


RAW_RESPONSES: dict[bytes, bytes] = {
    # an odd reason phrase, duplicated and oddly cased headers, no space after a colon, a non-ASCII value
    b"/odd": (
        b"HTTP/1.1 200 Okey Dokey\r\nserver:RawServer/1.0\r\nX-Dup: one\r\nx-dup:  two\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nX-Name: " + "서울".encode() + b"\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    ),
    # chunked transfer coding over a gzip content coding, with a chunk extension
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(_GZ_BODY, 700).replace(b"\r\n", b";ext=1\r\n", 1)
    ),
    b"/empty": b"HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n",
}


class RawServer:
    """Keep-alive HTTP/1.1 server on 127.0.0.1 that records each raw request and answers canned bytes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                end = buf.index(b"\r\n\r\n") + 4
                raw, buf = buf[:end], buf[end:]
                self.requests.append(raw)
                target = raw.split(b" ", 2)[1]
                if target == b"/robots.txt":
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    continue
                conn.sendall(RAW_RESPONSES.get(target, b"HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n"))

    def close(self) -> None:
        self.sock.close()


class RawSpider(scrapy.Spider):
    name = "raw"

    def __init__(self, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    async def start(self) -> Any:
        for target in RAW_RESPONSES:
            yield Request(self.spec["base_url"] + target.decode(), callback=self.parse)

    def parse(self, response: Any) -> None:
        pass


@pytest.fixture()
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


@pytest.mark.parametrize("client", ["wire", "twisted"])
def test_capture_is_the_wire_bytes(raw_server: RawServer, tmp_path: Path, client: str) -> None:
    """Both clients of CapturingDownloadHandler: crawler.wire's (direct requests) and Twisted's
    instrumented one (proxies, bound addresses)."""
    from archive.warc import iter_responses, snapshot_warcs

    root = tmp_path / "archive"
    spec = {"base_url": raw_server.url, "root": str(root), "snapshot_id": SNAP1, "concurrency": 1,
            "results": str(tmp_path / "r.jsonl"), "spider": "raw",
            "settings": {"CAPTURE_CLIENT": client}}  # fmt: skip
    proc = subprocess.run(
        crawl_command(spec), capture_output=True, text=True, timeout=120, cwd=REPO, env=crawl_env()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert raw_server.connections == 1, "keep-alive: every request on one connection"
    sent_requests = {r.split(b" ", 2)[1]: r for r in raw_server.requests}
    records = [r for f in snapshot_warcs(root, SITE, SNAP1) for r in iter_responses(f)]
    by_path = {r.uri[len(raw_server.url) :]: r for r in records}
    assert set(by_path) == {"/robots.txt", *(t.decode() for t in RAW_RESPONSES)}
    for target, wire in RAW_RESPONSES.items():
        rec = by_path[target.decode()]
        assert rec.head + rec.payload == wire, target  # status line, header lines and body, verbatim
    assert by_path["/odd"].status == 200
    assert by_path["/odd"].head.startswith(b"HTTP/1.1 200 Okey Dokey\r\nserver:RawServer/1.0\r\n")
    assert by_path["/chunked"].decoded == gzip.decompress(_GZ_BODY)
    # the request records hold what the server received, byte for byte
    from archive.warc import iter_records

    reqs = [r for f in snapshot_warcs(root, SITE, SNAP1) for r in iter_records(f) if r.rec_type == "request"]
    for rec in reqs:
        target = rec.head.split(b" ", 2)[1]
        assert rec.head + rec.payload == sent_requests[target]
    _warcio_ok(snapshot_warcs(root, SITE, SNAP1))


def _warcio_ok(paths: list[Path]) -> None:
    assert paths
    for path in paths:
        for cmd in (["check", "-v"], ["index"]):
            proc = subprocess.run([WARCIO, *cmd, str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, (cmd, path, proc.stdout[-3000:], proc.stderr[-3000:])
        assert "digest failed" not in proc.stdout


def _main_raw(spec: dict[str, Any]) -> None:
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(crawl_settings(spec))
    process.crawl(RawSpider, spec=spec)
    process.start()


if __name__ == "__main__":
    _spec = json.loads(sys.argv[1])
    if _spec.get("spider") == "raw":
        _main_raw(_spec)
    else:
        main(sys.argv[1])


def test_failed_writes_settled_at_close_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Writes the writer process answered while the crawl was closing (their done callbacks never ran on
    the loop) still count: a failed one is logged by URL and counted in the summary line."""
    import asyncio
    import logging
    from datetime import UTC, datetime

    from scrapy.utils.test import get_crawler

    from archive import warc
    from crawler.capture import WARC_META, WarcCapture
    from crawler.warc_process import Captured

    settings = {
        "WARC_ENABLED": True,
        "ARCHIVE_ROOT": str(tmp_path),
        "WARC_SITE": SITE,
        "WARC_SNAPSHOT_ID": SNAP1,
        "WARC_WRITER_PROCESS": True,
    }
    crawler = get_crawler(scrapy.Spider, settings)
    crawler.spider = scrapy.Spider(name="capture")

    def exchange(url: str, started_at: Any) -> Captured:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\n"
        request = b"GET / HTTP/1.1\r\nHost: e.test\r\n\r\n"
        return Captured(url, request, head, url[-4:].encode(), "127.0.0.1", started_at)

    good = [Request(f"http://e.test/ok/{i}") for i in range(3)]
    bad = [Request(f"http://e.test/bad/{i}") for i in range(2)]

    async def crawl_then_close() -> WarcCapture:
        ext = WarcCapture(crawler)  # starts the writer's process (WARC_WRITER_PROCESS)
        assert ext._worker is not None
        ext.spider_opened(crawler.spider)  # opens the writer in it
        for i, request in enumerate(good + bad):
            started = datetime.now(UTC) if i < len(good) else "not a time"  # the writer cannot date it
            ext.captured(exchange(request.url, started), request, None)
        assert ext.failed == 0 and len(ext._unsettled) == 5  # nothing answered yet: the loop has not turned
        ext.spider_closed(crawler.spider, "finished")  # blocks until the writer has answered every write
        return ext

    with caplog.at_level(logging.INFO, logger="crawler.capture"):
        ext = asyncio.run(crawl_then_close())
    assert ext.failed == 2 and not ext._unsettled
    assert [r.meta[WARC_META].record_type for r in good] == ["response"] * 3
    assert not any(WARC_META in r.meta for r in bad)
    errors = [m.getMessage() for m in caplog.records if m.levelno == logging.ERROR]
    assert sorted(e.split(" was not written")[0] for e in errors) == [
        f"WARC: the exchange of {r.url}" for r in bad
    ]
    assert f"WARC: exchanges written for {SITE}/{SNAP1} (2 failed)" in caplog.text
    staged = sorted(warc.stage_dir(tmp_path, SITE, SNAP1).glob("*.warc.gz"))
    uris = [rec.uri for path in staged for rec in warc.iter_records(path) if rec.rec_type == "response"]
    assert uris == [r.url for r in good]


def test_the_writer_process_starts_with_the_extension_and_opens_the_writer_at_spider_opened(
    tmp_path: Path,
) -> None:
    """The process is up before the crawl's clock starts; the writer opens in it only at spider_opened
    (once the run lock is held), and a crawl that stops before then closes it without a word."""
    import asyncio

    from scrapy.utils.test import get_crawler

    from archive import warc
    from crawler.capture import WarcCapture

    settings = {"WARC_ENABLED": True, "ARCHIVE_ROOT": str(tmp_path), "WARC_SITE": SITE,
                "WARC_SNAPSHOT_ID": SNAP1, "WARC_WRITER_PROCESS": True}  # fmt: skip
    stage = warc.stage_dir(tmp_path, SITE, SNAP1)

    async def run() -> tuple[bool, bool, bool]:
        crawler = get_crawler(scrapy.Spider, settings)
        crawler.spider = scrapy.Spider(name="capture")
        never_opened = WarcCapture(crawler)
        started = never_opened._worker is not None and never_opened._worker.alive
        never_opened.spider_closed(crawler.spider, "shutdown")  # stopped before spider_opened
        untouched = not stage.exists() and never_opened._worker is None
        ext = WarcCapture(crawler)
        before = stage.exists()
        ext.spider_opened(crawler.spider)
        opened = stage.exists() and not before
        ext.spider_closed(crawler.spider, "finished")
        return started, untouched, opened

    assert asyncio.run(run()) == (True, True, True)
