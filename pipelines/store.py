"""Write every record into the crawl's snapshot; commit it when the crawl finished, never otherwise.

Records dropped by earlier pipelines, and errors raised by callbacks or pipelines, become rows of the
``failures`` dataset: a page that could not be read is kept with its URL and the reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime
from typing import Any

from scrapy import signals

from archive import SnapshotWriter
from crawler import __version__
from crawler.items import RECORD_TYPES, Failure
from pipelines.dedupe import DuplicateItem

logger = logging.getLogger(__name__)


class ArchivePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.writer: SnapshotWriter | None = None
        self.manifest: str | None = None
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        # The finish reason reaches signal handlers only; pipelines' close_spider does not get it.
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ArchivePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        root = self.crawler.settings.get("ARCHIVE_ROOT")
        self.writer = SnapshotWriter(root, site=spider.profile.name, snapshot_id=spider.snapshot_id)
        logger.info("Writing snapshot %s of %s into %s", spider.snapshot_id, spider.profile.name, root)

    def process_item(self, item: Any) -> Any:
        dataset = RECORD_TYPES[type(item)]
        assert self.writer is not None
        self.writer.write(dataset, dataclasses.asdict(item))
        self.crawler.stats.inc_value(f"board/stored/{dataset}")
        return item

    # -- failures that never reach process_item ---------------------------------------------------

    def item_dropped(self, item: Any, response: Any, exception: BaseException, spider: Any) -> None:
        if isinstance(exception, DuplicateItem):
            self.crawler.stats.inc_value("board/duplicates")
            return
        self._record(_url_of(item, response), "validate", str(exception))

    def item_error(self, item: Any, response: Any, spider: Any, failure: Any) -> None:
        self._record(
            _url_of(item, response), "store", f"{failure.type.__name__}: {failure.getErrorMessage()}"
        )

    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        self._record(response.url, "extract", f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def _record(self, url: str, stage: str, reason: str) -> None:
        if self.writer is None:
            return
        failure = Failure(url=url, stage=stage, reason=reason, at=datetime.now(UTC))
        self.writer.write("failures", dataclasses.asdict(failure))
        self.crawler.stats.inc_value(f"board/failures/{stage}")

    # -- commit ---------------------------------------------------------------------------------

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.writer is None:
            return
        if reason != "finished":
            # An interrupted crawl is not a snapshot: leave its staging for a later resume, publish nothing.
            logger.warning("Crawl ended with %r: snapshot %s not committed", reason, spider.snapshot_id)
            return
        manifest = self.writer.commit(self._run_row(reason))
        self.manifest = str(manifest)
        logger.info("Committed snapshot %s (%s)", spider.snapshot_id, manifest)

    def _run_row(self, reason: str) -> dict[str, Any]:
        spider = self.crawler.spider
        stats = self.crawler.stats.get_stats()
        started = stats.get("start_time") or datetime.now(UTC)
        finished = datetime.now(UTC)
        counts = self.writer.counts if self.writer else {}
        statuses = {
            key.rsplit("/", 1)[-1]: value
            for key, value in stats.items()
            if key.startswith("downloader/response_status_count/")
        }
        return {
            "profile": spider.profile.name,
            "base_url": spider.profile.base_url,
            "logical_time": spider.now,
            "started_at": started,
            "finished_at": finished,
            "duration_s": (finished - started).total_seconds(),
            "status": "ok",
            "finish_reason": reason,
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "response_bytes": stats.get("downloader/response_bytes", 0),
            "listing_pages": stats.get("board/listing_pages", 0),
            "listing_rows": counts.get("listing", 0),
            "posts": counts.get("posts", 0),
            "partners": counts.get("partners", 0),
            "blocks": counts.get("blocks", 0),
            "failures": counts.get("failures", 0),
            "http_statuses": json.dumps(dict(sorted(statuses.items()))),
            "code_version": __version__,
            "stats_json": json.dumps(stats, default=str, sort_keys=True),
        }


def _url_of(item: Any, response: Any) -> str:
    for name in ("url", "requested_url", "post_url", "page_url"):
        value = getattr(item, name, None)
        if value:
            return value
    return getattr(response, "url", "") or ""
