from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crawler.middlewares import backoff_seconds, retry_after_seconds
from crawler.schedule import parse_interval

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (b"120", 120.0),
        ("0", 0.0),
        ("Wed, 25 Nov 2026 12:01:30 GMT", 90.0),
        ("Wed, 25 Nov 2026 11:00:00 GMT", 0.0),  # a date in the past: retry now
        ("soon", None),
        (b"", None),
        (None, None),
    ],
)
def test_retry_after(header, seconds) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_seconds(n, 2.0, 20.0) for n in range(5)] == [2.0, 4.0, 8.0, 16.0, 20.0]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), (" 1.5h", 5400)]
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "6", "6 hours", "0h", "-1h"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError, match="interval must look like"):
        parse_interval(text)


def _meta_refresh_mw() -> Any:
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import MetaRefreshMiddleware

    return MetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={"METAREFRESH_ENABLED": True}))


def test_meta_refresh_is_still_followed() -> None:
    from scrapy.http import HtmlResponse, Request

    request = Request("http://127.0.0.1:8080/ko/content/1")
    body = b'<html><head><META HTTP-EQUIV="Refresh" content="0; url=/ko/content/2"></head></html>'
    response = HtmlResponse(request.url, body=body, request=request)
    redirected = _meta_refresh_mw().process_response(request, response)
    assert isinstance(redirected, Request)
    assert redirected.url == "http://127.0.0.1:8080/ko/content/2"


def test_a_page_without_the_word_refresh_is_not_decoded() -> None:
    from scrapy.http import HtmlResponse, Request

    request = Request("http://127.0.0.1:8080/ko/content/1")
    # a refresh tag after the first 4 KB is not looked for by Scrapy either
    late = b'<meta http-equiv="refresh" content="0; url=/x"></body>'
    body = b"<html><body>" + "서울".encode() * 2000 + late
    response = HtmlResponse(request.url, body=body, request=request, encoding="utf-8")
    assert _meta_refresh_mw().process_response(request, response) is response
    assert response._cached_ubody is None  # the body was never decoded


# -- gzip bodies: the shortcut gives what Scrapy's gunzip gives, or raises what it raises ---------------


def _outcome(fn: Any, data: bytes, max_size: int) -> tuple[str, bytes | str]:
    try:
        return "ok", fn(data, max_size=max_size)
    except Exception as exc:
        return "error", type(exc).__name__


def _gzip_cases() -> list[tuple[str, bytes, int]]:
    import gzip
    import os

    text = b"<p>\xec\x84\x9c\xec\x9a\xb8 policy</p>\n" * 400
    one = gzip.compress(text)
    bad_crc = one[:-8] + bytes([one[-8] ^ 1]) + one[-7:]
    bad_data = one[:30] + bytes([one[30] ^ 0xFF]) + one[31:]
    return [
        ("one member", one, 0),
        ("empty body", b"", 0),
        ("empty member", gzip.compress(b""), 0),
        ("two members", one + gzip.compress(b"tail"), 0),
        ("zero padding", one + b"\0" * 8, 0),
        ("trailing bytes", one + b"garbage", 0),
        ("cut short", one[: len(one) // 2], 0),
        ("cut in the trailer", one[:-3], 0),
        ("bad checksum", bad_crc, 0),
        ("corrupt deflate data", bad_data, 0),
        ("not gzip", b"plain text", 0),
        ("random bytes", os.urandom(300), 0),
        ("at the limit", one, len(text)),
        ("one byte over the limit", one, len(text) - 1),
        ("far over the limit", one, 100),
    ]


@pytest.mark.parametrize(("name", "data", "max_size"), _gzip_cases(), ids=[c[0] for c in _gzip_cases()])
def test_gzip_bodies_decode_as_scrapy_decodes_them(name: str, data: bytes, max_size: int) -> None:
    from scrapy.utils.gz import gunzip

    from crawler.middlewares import gunzip_one_member

    ours, scrapys = _outcome(gunzip_one_member, data, max_size), _outcome(gunzip, data, max_size)
    assert ours == scrapys
    if name == "one member":
        assert ours[0] == "ok" and len(ours[1]) > 1000


def test_the_crawl_uses_the_shortcut_middleware() -> None:
    import gzip

    from scrapy.settings import Settings

    from crawler.middlewares import HttpCompressionMiddleware

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    mws = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert mws["crawler.middlewares.HttpCompressionMiddleware"] == 590
    assert mws["scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware"] is None
    assert HttpCompressionMiddleware._decode(gzip.compress(b"abc"), b"gzip", 0) == b"abc"


def test_one_complete_member_does_not_go_through_scrapys_gunzip(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import crawler.middlewares as mw

    def not_called(data: bytes, *, max_size: int = 0) -> bytes:
        raise AssertionError("scrapy.utils.gz.gunzip called")

    monkeypatch.setattr(mw, "gunzip", not_called)
    assert mw.gunzip_one_member(gzip.compress(b"<p>x</p>" * 100), 1 << 20) == b"<p>x</p>" * 100
