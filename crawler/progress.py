"""Progress of a crawl: a live line on a terminal, one plain log line per interval otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from scrapy import signals
from twisted.internet import task

logger = logging.getLogger(__name__)


class Progress:
    def __init__(self, crawler: Any, interval: float, live: bool) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.interval = 0.5 if live else interval
        self.live = live
        self.started = time.monotonic()
        self._loop: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        settings = crawler.settings
        return cls(crawler, settings.getfloat("PROGRESS_INTERVAL", 60.0), settings.getbool("PROGRESS_LIVE"))

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        self._loop = task.LoopingCall(self.report)
        self._loop.start(self.interval, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._loop and self._loop.running:
            self._loop.stop()
        if self.live:
            sys.stderr.write("\r" + self.line() + "\n")
            sys.stderr.flush()

    def line(self) -> str:
        get = self.stats.get_value
        done = get("response_received_count", 0)
        queued = get("scheduler/enqueued", 0) - get("scheduler/dequeued", 0)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        failures = sum(v for k, v in self.stats.get_stats().items() if k.startswith("board/failures/"))
        return (
            f"pages {done} done, {max(queued, 0)} queued | listing {get('board/listing_pages', 0)} pages, "
            f"{get('board/stored/listing', 0)} rows | posts {get('board/stored/posts', 0)} | "
            f"partners {get('board/stored/partners', 0)} | {done / elapsed:.1f} pages/s | failures {failures}"
        )

    def report(self) -> None:
        if self.live:
            sys.stderr.write("\r\033[K" + self.line())
            sys.stderr.flush()
        else:
            logger.info("Progress: %s", self.line())
