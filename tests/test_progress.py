"""The progress line a crawl prints: what it counts, as a log line and as a live terminal line."""

from __future__ import annotations

import logging
import time

import pytest
import scrapy
from scrapy.utils.test import get_crawler

from crawler.progress import Progress

COUNTS = {
    "response_received_count": 30,
    "scheduler/enqueued": 50,
    "scheduler/dequeued": 35,
    "board/listing_pages": 2,
    "board/stored/listing": 40,
    "board/stored/posts": 25,
    "board/stored/partners": 3,
    "board/failures/extract": 1,
    "board/failures/store": 2,
}
LINE = (
    "pages 30 done, 15 queued | listing 2 pages, 40 rows | posts 25 | partners 3 | 3.0 pages/s | failures 3"
)


def _progress(live: bool) -> Progress:
    crawler = get_crawler(scrapy.Spider, {"PROGRESS_INTERVAL": 5.0, "PROGRESS_LIVE": live})
    progress = Progress.from_crawler(crawler)
    for key, value in COUNTS.items():
        crawler.stats.set_value(key, value)
    progress.started = time.monotonic() - 10.0  # 30 pages in 10 s
    return progress


def test_progress_line_counts_pages_queue_records_rate_and_failures() -> None:
    progress = _progress(live=False)
    assert progress.interval == 5.0
    assert progress.line() == LINE
    progress.stats.set_value("scheduler/dequeued", 60)  # more dequeued than enqueued never shows as negative
    assert progress.line().startswith("pages 30 done, 0 queued |")


def test_progress_logs_a_line_per_interval_off_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    progress = _progress(live=False)
    with caplog.at_level(logging.INFO, logger="crawler.progress"):
        progress.report()
    assert [r.getMessage() for r in caplog.records] == [f"Progress: {LINE}"]


def test_progress_rewrites_one_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _progress(live=True)
    assert progress.interval == 0.5  # a live line refreshes twice a second, whatever the log interval
    progress.report()
    progress.spider_closed(None, "finished")  # the last state stays on screen, followed by a newline
    assert capsys.readouterr().err == f"\r\x1b[K{LINE}\r{LINE}\n"
