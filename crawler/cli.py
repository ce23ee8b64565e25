"""The ``crawler`` command: crawl, replica, demo, runs.

Each crawl runs in its own process (a Twisted reactor cannot restart), which is also how the demo and a
scheduler run it.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from crawler import __version__
from crawler.profile import ProfileError, load_profile

DEFAULT_ARCHIVE = "data/archive"
#: The replica's day 1 is 2026-11-01 in Seoul; the demo crawls each day late in its evening (Seoul).
DEMO_FIRST_DAY = date(2026, 11, 1)
DEMO_CRAWL_HOUR_UTC = 14  # 23:00 in Seoul

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawler", description="Archival crawler for policy-news bulletin boards (snapshots in Parquet)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crawl = sub.add_parser("crawl", help="crawl a site into a new snapshot of the archive")
    crawl.add_argument("profile", nargs="?", default="seoulsolution", help="site profile name or TOML path")
    crawl.add_argument("--base-url", help="point the profile at another host, e.g. the replica")
    crawl.add_argument("--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})")
    crawl.add_argument("--max-pages", type=int, default=0, help="follow at most N listing pages (0: all)")
    crawl.add_argument(
        "--at", help="logical time of the crawl (ISO 8601; default now): snapshot id and 'today'"
    )
    crawl.add_argument("--contact", help="contact put in the User-Agent (or set CRAWLER_CONTACT)")
    crawl.add_argument(
        "--log-level", default=None, help="Scrapy log level (default INFO, WARNING on a terminal)"
    )
    crawl.set_defaults(func=cmd_crawl)

    replica = sub.add_parser("replica", help="serve the local replica of the Seoul Solution board")
    from crawler.replica.server import add_arguments

    add_arguments(replica)
    replica.set_defaults(func=cmd_replica)

    demo = sub.add_parser("demo", help="crawl the replica day by day into an archive and summarise it")
    demo.add_argument(
        "--days", type=int, default=3, help="replica days to crawl, one snapshot each (default 3)"
    )
    demo.add_argument("--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})")
    demo.add_argument("--posts", type=int, default=320, help="posts on the replica's first day (default 320)")
    demo.set_defaults(func=cmd_demo)

    runs = sub.add_parser("runs", help="list the archive's committed runs")
    runs.add_argument("--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})")
    runs.add_argument("--site", help="only this site")
    runs.set_defaults(func=cmd_runs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProfileError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


# -- crawl ----------------------------------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    import archive
    from spiders.board import BoardSpider, crawl_time

    profile = load_profile(args.profile)  # fail early, with the profile's own message
    if args.base_url:
        profile = profile.with_base_url(args.base_url)
    try:
        now = crawl_time(args.at)
    except ValueError:
        print(f"crawler: --at must be an ISO 8601 time, got {args.at!r}", file=sys.stderr)
        return EXIT_USAGE
    snapshot_id = archive.snapshot_id_for(now)
    root = Path(args.archive)
    if _committed(root, profile.name, snapshot_id):
        print(f"crawler: snapshot {snapshot_id} of {profile.name} already exists in {root}", file=sys.stderr)
        return EXIT_USAGE

    live = sys.stderr.isatty()
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(
        {
            "ARCHIVE_ROOT": str(root),
            "SITE_BASE_URL": profile.base_url,
            "CRAWL_AT": now.isoformat(),
            "MAX_LISTING_PAGES": args.max_pages,
            "CRAWLER_CONTACT": args.contact,
            "PROGRESS_LIVE": live,
            "LOG_LEVEL": args.log_level or ("WARNING" if live else "INFO"),
        },
        priority="cmdline",
    )
    print(
        f"Crawling {profile.name} at {profile.base_url} into {root} (snapshot {snapshot_id})", file=sys.stderr
    )
    started = time.monotonic()
    process = CrawlerProcess(settings)
    process.crawl(BoardSpider, profile=args.profile)
    process.start()
    seconds = time.monotonic() - started

    if not _committed(root, profile.name, snapshot_id):
        print(
            f"crawler: the crawl did not complete; snapshot {snapshot_id} was not committed", file=sys.stderr
        )
        return EXIT_FAILED
    run = archive.open(root).runs(snapshot=snapshot_id, site=profile.name).iloc[0]
    print(
        f"Snapshot {snapshot_id} committed: {run['listing_pages']} listing pages, "
        f"{run['listing_rows']} rows, {run['posts']} posts, {run['partners']} partners, "
        f"{run['blocks']} blocks, {run['failures']} failures, {run['requests']} requests in {seconds:.1f} s"
    )
    return EXIT_OK


def _committed(root: Path, site: str, snapshot_id: str) -> bool:
    import archive

    try:
        snapshots = archive.open(root).snapshots(site=site)
    except FileNotFoundError:
        return False
    return snapshot_id in set(snapshots["snapshot_id"])


# -- replica --------------------------------------------------------------------------------------


def cmd_replica(args: argparse.Namespace) -> int:
    from crawler.replica.server import main as replica_main

    return replica_main(args)


# -- demo -----------------------------------------------------------------------------------------


def demo_time(day: int) -> datetime:
    """The logical time at which the demo crawls replica day ``day``."""
    first = datetime.combine(DEMO_FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    return first + timedelta(days=day - 1, hours=DEMO_CRAWL_HOUR_UTC)


def cmd_demo(args: argparse.Namespace) -> int:
    import archive
    from crawler.replica import ReplicaProcess

    if args.days < 1:
        print("crawler: --days must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    root = Path(args.archive)
    for day in range(1, args.days + 1):
        at = demo_time(day)
        if _committed(root, "seoulsolution", archive.snapshot_id_for(at)):
            print(f"Day {day}: snapshot {archive.snapshot_id_for(at)} already in {root}, skipped")
            continue
        with ReplicaProcess(day=day, posts=args.posts) as replica:
            print(f"Day {day}: replica at {replica.url}, crawling as of {at.isoformat()}", flush=True)
            command = [sys.executable, "-m", "crawler", "crawl", "seoulsolution", "--base-url", replica.url]
            command += ["--archive", str(root), "--at", at.isoformat()]
            code = subprocess.call(command)
        if code != EXIT_OK:
            print(f"crawler: the crawl of day {day} failed (exit {code})", file=sys.stderr)
            return code
    print()
    print(summary_table(archive.open(root), "seoulsolution"))
    return EXIT_OK


def summary_table(arch, site: str) -> str:
    runs = arch.runs(site=site)
    columns = [
        "snapshot_id",
        "listing_pages",
        "listing_rows",
        "posts",
        "partners",
        "blocks",
        "failures",
        "requests",
    ]
    table = runs[columns].copy()
    table["seconds"] = runs["duration_s"].round(1)
    return f"Archive {arch.root}: {len(table)} snapshot(s) of {site}\n" + table.to_string(index=False)


# -- runs -----------------------------------------------------------------------------------------


def cmd_runs(args: argparse.Namespace) -> int:
    import archive

    try:
        arch = archive.open(args.archive)
    except FileNotFoundError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_FAILED
    sites = [args.site] if args.site else arch.sites()
    if not sites:
        print(f"No committed runs in {args.archive}")
    for site in sites:
        print(summary_table(arch, site))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig()
    sys.exit(main())
