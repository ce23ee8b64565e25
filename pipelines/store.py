"""Stage every page's records in the crawl's snapshot; check and commit it when the crawl finished.

Each ``PageResult`` is staged in one transaction together with the fact that its page is done (the pages
of one turn of the event loop share it), so a killed crawl resumes where it stopped. When the spider
finishes, the monitors check the staged snapshot against the previous one and the snapshot is committed
with the run's status (``ok`` or ``degraded``); a crawl that did not finish is never committed (its
staging waits for a resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import signals

import archive
from archive import warc
from crawler import __version__
from crawler.incremental import ResumeState
from crawler.items import RECORD_TYPES, Failure, PageResult, as_row
from crawler.monitors import SnapshotSummary, check, failed

logger = logging.getLogger(__name__)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a reactor other than asyncio's
        return None


#: Scrapy statistics worth keeping with each run (all of them would be several KB a snapshot).
KEPT_STATS = (
    "board/", "downloader/", "elapsed_time", "finish_", "httpcompression/", "item_", "log_count/",
    "memusage/max", "retry/", "robotstxt/", "response_received_count", "scheduler/enqueued", "start_time",
)  # fmt: skip


class ArchivePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.writer: archive.SnapshotWriter | None = None
        self.root = Path(crawler.settings.get("ARCHIVE_ROOT"))
        self._held = contextlib.ExitStack()
        self._flush_queued = False
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        # The finish reason reaches signal handlers only; pipelines' close_spider does not get it.
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ArchivePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        if not self.crawler.settings.getbool("CRAWL_LOCK_HELD"):
            # Started as `scrapy crawl` (Scrapyd): take the run lock that `crawler crawl` takes itself.
            self._held.enter_context(archive.crawl_lock(self.root, spider.profile.name))
        resume = self.crawler.settings.getbool("RESUME")
        self.writer = archive.SnapshotWriter(
            self.root, spider.profile.name, spider.snapshot_id, resume=resume
        )
        if resume:
            # The spider navigates around what the staged snapshot already holds.
            spider.resume = ResumeState(
                journal=self.writer.journal(),
                listing=list(self.writer.staged("listing")),
                partners=list(self.writer.staged("partners")),
            )
        logger.info(
            "%s snapshot %s of %s in %s",
            "Resuming" if resume else "Writing",
            spider.snapshot_id,
            spider.profile.name,
            self.root,
        )

    def process_item(self, item: PageResult) -> PageResult:
        assert self.writer is not None
        records = [(RECORD_TYPES[type(r)], as_row(r)) for r in item.records]
        # The pages of one turn of the event loop share one transaction, written at the end of the turn
        # (a commit a page cost the crawl's process about 6 % more CPU, measured: docs/benchmark.md).
        loop = _running_loop()
        self.writer.stage(item.url, records, kind=item.kind, info=item.info, defer=loop is not None)
        if loop is not None and not self._flush_queued:
            self._flush_queued = True
            loop.call_soon(self._flush)
        for dataset, _ in records:
            self.crawler.stats.inc_value(f"board/stored/{dataset}")
        return item

    def _flush(self) -> None:
        self._flush_queued = False
        if self.writer is None:
            return
        try:
            self.writer.flush()
        except archive.StageError as exc:
            for url, reason in exc.failed.items():
                logger.error("Page %s not staged: %s", url, reason)
                self.crawler.stats.inc_value("board/failures/store")
        except Exception as exc:
            logger.error("Pages not staged: %s", exc)
            self.crawler.stats.inc_value("board/failures/store")

    # -- failures that never reach process_item ---------------------------------------------------

    def item_error(self, item: Any, response: Any, spider: Any, failure: Any) -> None:
        url = getattr(item, "url", None) or getattr(response, "url", "")
        self._record(url, "store", f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        url = response.meta.get("redirect_urls", [response.url])[0]
        self._record(url, "extract", f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def _record(self, url: str, stage: str, reason: str) -> None:
        if self.writer is None:
            return
        failure = Failure(url=url, stage=stage, reason=reason, at=datetime.now(UTC))
        self.writer.stage(url, [("failures", as_row(failure))], kind="error")
        self.crawler.stats.inc_value(f"board/failures/{stage}")

    # -- commit ---------------------------------------------------------------------------------

    def spider_closed(self, spider: Any, reason: str) -> None:
        self._flush()  # the pages of the last turn, whatever the reason: a resume needs them too
        with self._held:  # the run lock, when this pipeline took it, is released after the commit
            self._finish(spider, reason)

    def _finish(self, spider: Any, reason: str) -> None:
        if self.writer is None:
            return
        if reason != "finished":
            # An interrupted crawl is not a snapshot: its staging waits for the next run to resume it.
            logger.warning("Crawl ended with %r: snapshot %s kept for a resume", reason, spider.snapshot_id)
            return
        summary = self._summary()
        previous_rows, previous_reads = self._previous(spider.profile.name)
        results = check(summary, previous_rows, previous_reads, spider.profile.monitors)
        bad = failed(results)
        for result in results:
            log = logger.info if result.ok else logger.warning
            log("Monitor %s: %s (%s)", result.name, "ok" if result.ok else "FAILED", result.detail)
        run = self._run_row(reason, "degraded" if bad else "ok", summary, [r.as_dict() for r in results])
        if self.crawler.settings.getbool("WARC_ENABLED"):
            # The WARCs leave the snapshot's staging before the commit removes it (idempotent on resume).
            warc.publish(self.root, spider.profile.name, spider.snapshot_id)
        manifest = self.writer.commit(run)
        logger.info("Committed snapshot %s (%s)", spider.snapshot_id, manifest)
        if self.crawler.settings.getbool("ARCHIVE_COMPACT", True):
            self._compact(spider.profile.name)

    def _compact(self, site: str) -> None:
        """Merge small files while this crawl still holds the site's lock. The snapshot is committed
        already: a failure here is logged, and `crawler compact` finishes the job later."""
        try:
            done = archive.compact_after_commit(self.root, site)
        except Exception as exc:
            logger.warning("Compaction after the commit failed (%s); run `crawler compact`", exc)
            return
        if done["files_before"] != done["files_after"]:
            logger.info(
                "Compacted %s: %d files (%d bytes) -> %d files (%d bytes)",
                site,
                done["files_before"],
                done["bytes_before"],
                done["files_after"],
                done["bytes_after"],
            )

    def _summary(self) -> SnapshotSummary:
        assert self.writer is not None
        summary = SnapshotSummary()
        staged = self.writer.staged
        for row in staged("listing", SnapshotSummary.LISTING_COLUMNS):
            summary.add_listing(row)
        for post in staged("posts", SnapshotSummary.POST_COLUMNS):
            summary.add_post(post)
        for failure in staged("failures", SnapshotSummary.FAILURE_COLUMNS):
            summary.add_failure(failure)
        for seen in staged("post_seen", ["fetch"]):
            summary.carried[seen["fetch"]] += 1
        summary.partners = self.writer.counts.get("partners", 0)
        return summary

    def _previous(self, site: str) -> tuple[int | None, dict[str, int]]:
        """Listing rows and read counts of the latest committed snapshot, if any."""
        try:
            arch = archive.open(self.root)
            listing = arch.listing(snapshot="latest", site=site, columns=["post_id", "reads", "is_notice"])
        except (FileNotFoundError, KeyError):
            return None, {}
        if listing.empty:
            return None, {}
        rows = listing[
            ~listing["is_notice"].fillna(False) & listing["reads"].notna() & listing["post_id"].notna()
        ]
        reads = rows.drop_duplicates("post_id").set_index("post_id")["reads"].astype(int).to_dict()
        return len(listing), reads

    def _run_row(
        self, reason: str, status: str, summary: SnapshotSummary, monitors: list[dict[str, Any]]
    ) -> dict[str, Any]:
        assert self.writer is not None
        spider = self.crawler.spider
        stats = self.crawler.stats.get_stats()
        started = stats.get("start_time") or datetime.now(UTC)
        finished = datetime.now(UTC)
        counts = self.writer.counts
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
            "status": status,
            "finish_reason": reason,
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "response_bytes": stats.get("downloader/response_bytes", 0),
            "listing_pages": sum(1 for kind, _ in self.writer.journal().values() if kind == "listing"),
            "listing_rows": counts.get("listing", 0),
            "posts": counts.get("posts", 0) + counts.get("post_seen", 0),
            "posts_fetched": counts.get("posts", 0),
            "posts_not_modified": summary.carried["not_modified"],
            "posts_skipped": summary.carried["skipped"],
            "resumes": self.crawler.settings.getint("RESUMES", 0),
            "partners": counts.get("partners", 0),
            "blocks": counts.get("blocks", 0),
            "failures": counts.get("failures", 0),
            "http_statuses": json.dumps(dict(sorted(statuses.items()))),
            "code_version": __version__,
            "monitors": json.dumps(monitors, ensure_ascii=False),
            "stats_json": json.dumps(
                {k: v for k, v in stats.items() if k.startswith(KEPT_STATS)}, default=str, sort_keys=True
            ),
        }
