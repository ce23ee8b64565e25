"""One scheduled-safe crawl run: take the archive's lock, resume or start a snapshot, crawl, report.

Exit codes: 0 ok, 1 failed (nothing committed), 2 usage error, 3 degraded (committed, but a monitor
failed: the site may have changed), 75 another run holds the lock (EX_TEMPFAIL: try later).
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import archive
from crawler import __version__
from crawler.profile import SiteProfile, load_profile

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEGRADED, EXIT_LOCKED = 0, 1, 2, 3, 75
STATUS_EXIT = {"ok": EXIT_OK, "degraded": EXIT_DEGRADED, "failed": EXIT_FAILED}

logger = logging.getLogger(__name__)


@dataclass
class CrawlOptions:
    profile: str = "seoulsolution"
    base_url: str | None = None
    archive: str = "data/archive"
    max_pages: int = 0
    at: str | None = None
    contact: str | None = None
    log_level: str | None = None
    refresh_days: float | None = None
    resume: str = "auto"  # auto | only | never
    resume_max_age_hours: float = 48.0
    report: str | None = None


class UsageError(Exception):
    """A run that must not start, with a message for the operator."""


def say(message: str) -> None:
    print(f"crawler: {message}", file=sys.stderr, flush=True)


def crawl(opts: CrawlOptions) -> int:
    profile = load_profile(opts.profile)
    if opts.base_url:
        profile = profile.with_base_url(opts.base_url)
    root = Path(opts.archive)
    try:
        with archive.crawl_lock(root, profile.name) as lock:
            if lock.took_over:
                say(f"took over the stale lock of a dead run ({lock.took_over})")
            return _locked_crawl(opts, profile, root)
    except archive.ArchiveLocked as exc:
        say(f"another crawl of {profile.name} is running on {root}: {exc}")
        return EXIT_LOCKED
    except UsageError as exc:
        say(str(exc))
        return EXIT_USAGE


def _locked_crawl(opts: CrawlOptions, profile: SiteProfile, root: Path) -> int:
    from spiders.board import crawl_time

    try:
        requested = crawl_time(opts.at) if opts.at else None
    except ValueError:
        raise UsageError(f"--at must be an ISO 8601 time, got {opts.at!r}") from None
    resume_id = _choose_resume(opts, profile.name, root, requested)
    if resume_id:
        now = archive.parse_snapshot_id(resume_id)
    else:
        if opts.resume == "only":
            say("nothing to resume")
            return EXIT_FAILED
        now = requested or crawl_time(None)
    snapshot_id = archive.snapshot_id_for(now)
    if not resume_id and snapshot_id in committed_ids(root, profile.name):
        raise UsageError(f"snapshot {snapshot_id} of {profile.name} already exists in {root}")

    action = "Resuming" if resume_id else "Crawling"
    say(f"{action} {profile.name} at {profile.base_url} into {root} (snapshot {snapshot_id})")
    started = time.monotonic()
    _run_scrapy(opts, profile, root, now, resumed=bool(resume_id))
    seconds = time.monotonic() - started

    if snapshot_id not in committed_ids(root, profile.name):
        say(f"the crawl did not complete; snapshot {snapshot_id} was not committed (the next run resumes it)")
        _write_report(
            opts.report,
            {
                "site": profile.name,
                "snapshot_id": snapshot_id,
                "status": "failed",
                "exit_code": EXIT_FAILED,
                "resumed": bool(resume_id),
                "seconds": seconds,
            },
        )
        return EXIT_FAILED
    arch = archive.open(root)
    run = arch.runs(snapshot=snapshot_id, site=profile.name).iloc[0]
    report = build_report(arch, profile.name, snapshot_id, run, resumed=bool(resume_id))
    _write_report(opts.report, report)
    print(summary_line(run, seconds))
    for monitor in report["monitors"]:
        if not monitor["ok"]:
            print(f"  monitor {monitor['name']} FAILED: {monitor['detail']}")
    return report["exit_code"]


def _choose_resume(opts: CrawlOptions, site: str, root: Path, requested: datetime | None) -> str | None:
    """The staged snapshot this run continues, if any; every other staged snapshot is discarded."""
    staged = sorted(archive.resumable(root, site), key=lambda s: s["snapshot_id"])
    wall = datetime.now(UTC)
    requested_id = archive.snapshot_id_for(requested) if requested else None
    chosen = None
    for entry in staged:
        sid = entry["snapshot_id"]
        created = entry.get("created_at")
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        reasons = []
        if opts.resume == "never":
            reasons.append("--no-resume")
        if entry.get("resumable") is False:
            reasons.append(entry.get("reason") or "not resumable")
        if entry.get("code_version") not in (None, __version__):
            reasons.append(f"written by version {entry.get('code_version')}")
        if created and wall - created > timedelta(hours=opts.resume_max_age_hours):
            reasons.append(f"older than {opts.resume_max_age_hours:g} h")
        if requested_id and sid != requested_id:
            reasons.append(f"--at asks for {requested_id}")
        if reasons:
            say(f"discarding staged snapshot {sid}: {', '.join(reasons)}")
            _discard(root, site, sid)
        else:
            if chosen:
                say(f"discarding staged snapshot {chosen}: a later one is resumed")
                _discard(root, site, chosen)
            chosen = sid
    return chosen


def _discard(root: Path, site: str, snapshot_id: str) -> None:
    """Drop a staged snapshot: its WARC records first (so that no later revisit refers to them), then its
    staged rows."""
    from archive import warc

    warc.discard(root, site, snapshot_id)
    archive.discard(root, site, snapshot_id)


def _run_scrapy(
    opts: CrawlOptions, profile: SiteProfile, root: Path, now: datetime, *, resumed: bool
) -> None:
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from spiders.board import BoardSpider

    live = sys.stderr.isatty()
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(
        {
            "ARCHIVE_ROOT": str(root),
            "SITE_BASE_URL": profile.base_url,
            "CRAWL_AT": now.isoformat(),
            "MAX_LISTING_PAGES": opts.max_pages,
            "CRAWLER_CONTACT": opts.contact,
            "REFRESH_DAYS": opts.refresh_days,
            "RESUME": resumed,
            "CRAWL_LOCK_HELD": True,
            "RESUMES": int(resumed),
            "PROGRESS_LIVE": live,
            "LOG_LEVEL": opts.log_level or ("WARNING" if live else "INFO"),
        },
        priority="cmdline",
    )
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BoardSpider)
    level = settings.get("LOG_LEVEL")

    scrapy_logger = logging.getLogger("scrapy")

    def quiet_loggers() -> None:
        # Scrapy filters by level in its root handler only: the root logger stays at NOTSET and its own
        # "scrapy" logger at DEBUG (scrapy.utils.log.DEFAULT_LOGGING), so every DEBUG message of a crawl
        # ("Crawled (200)", "Scraped from": two a page) builds a LogRecord, with a walk up the stack, for
        # the handler to drop. At the crawl's level the loggers drop them before that. Set once the
        # engine runs: the crawler resets the root logger when it applies its settings.
        logging.root.setLevel(level)
        scrapy_logger.setLevel(level)

    crawler.signals.connect(quiet_loggers, signal=signals.engine_started, weak=False)
    process.crawl(crawler, profile=opts.profile)
    thresholds, root_level, scrapy_level = gc.get_threshold(), logging.root.level, scrapy_logger.level
    _tune_gc()
    try:
        process.start()
    finally:  # a caller that goes on (a test, a notebook) gets its collector and loggers back
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        logging.root.setLevel(root_level)
        scrapy_logger.setLevel(scrapy_level)


#: The cyclic collector's thresholds during a crawl (Python's default: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


def _tune_gc() -> None:
    """Freeze what start-up built (modules, Scrapy's machinery, the profile: never garbage) so that the
    cyclic collector stops rescanning it, and collect the young generation every 10,000 allocations
    rather than 700. Measured on a crawl of 5,000 posts taking 22–24 s: 2.0 s of the crawl's CPU in the
    collector (2,100 collections, 17 of them full) became 0.36 s, and the peak RSS did not change
    (``make bench``: rss_ratio_20k_over_1k). Reference counting still frees all that is not in a cycle."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def committed_ids(root: Path, site: str) -> set[str]:
    try:
        return set(archive.open(root).snapshots(site=site)["snapshot_id"])
    except FileNotFoundError:
        return set()


def build_report(arch: Any, site: str, snapshot_id: str, run: Any, *, resumed: bool) -> dict[str, Any]:
    """The run report (``--report PATH``): counts, durations, statuses, failures, monitors."""
    failures = arch.failures(snapshot=snapshot_id, site=site)
    monitors = json.loads(run["monitors"]) if run.get("monitors") else []
    counts = [
        "requests", "responses", "response_bytes", "listing_pages", "listing_rows", "posts", "posts_fetched",
        "posts_not_modified", "posts_skipped", "partners", "blocks", "failures",
    ]  # fmt: skip
    status = run["status"]
    return {
        "site": site,
        "snapshot_id": snapshot_id,
        "status": status,
        "exit_code": STATUS_EXIT.get(status, EXIT_FAILED),
        "resumed": resumed,
        "started_at": run["started_at"].isoformat(),
        "finished_at": run["finished_at"].isoformat(),
        "duration_s": float(run["duration_s"]),
        "counts": {name: _int_or_none(run[name]) for name in counts if name in run},
        "http_statuses": json.loads(run["http_statuses"] or "{}"),
        "failures_total": len(failures),
        "failures": [
            {"url": f.url, "stage": f.stage, "reason": f.reason, "http_status": _int_or_none(f.http_status)}
            for f in failures.head(100).itertuples()
        ],
        "monitors": monitors,
        "failed_monitors": [m["name"] for m in monitors if not m["ok"]],
    }


def summary_line(run: Any, seconds: float) -> str:
    return (
        f"Snapshot {run['snapshot_id']} committed ({run['status']}): {run['listing_pages']} listing pages, "
        f"{run['listing_rows']} rows, {run['posts']} posts ({run['posts_fetched']} downloaded, "
        f"{run['posts_not_modified']} not modified, {run['posts_skipped']} skipped), "
        f"{run['partners']} partners, "
        f"{run['blocks']} blocks, {run['failures']} failures, {run['requests']} requests in {seconds:.1f} s"
    )


def _int_or_none(value: Any) -> int | None:
    import pandas as pd

    return None if value is None or pd.isna(value) else int(value)


def _write_report(path: str | None, report: dict[str, Any]) -> None:
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(target)
