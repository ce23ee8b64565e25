"""The ``crawler`` command: crawl, schedule, replica, demo, runs, diff, compact.

Each crawl runs in its own process (a Twisted reactor cannot restart), which is also how the demo and the
scheduler run it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from crawler import __version__
from crawler.profile import ProfileError
from crawler.run import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CrawlOptions, committed_ids

DEFAULT_ARCHIVE = "data/archive"
#: The replica's day 1 is 2026-11-01 in Seoul; the demo crawls each day late in its evening (Seoul).
DEMO_FIRST_DAY = date(2026, 11, 1)
DEMO_CRAWL_HOUR_UTC = 14  # 23:00 in Seoul


def add_crawl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="?", default="seoulsolution", help="site profile name or TOML path")
    parser.add_argument("--base-url", help="point the profile at another host, e.g. the replica")
    parser.add_argument(
        "--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})"
    )
    parser.add_argument("--max-pages", type=int, default=0, help="follow at most N listing pages (0: all)")
    parser.add_argument(
        "--at", help="logical time of the crawl (ISO 8601; default now): snapshot id and 'today'"
    )
    parser.add_argument("--contact", help="contact put in the User-Agent (or set CRAWLER_CONTACT)")
    parser.add_argument(
        "--refresh-days",
        type=float,
        default=None,
        help="re-download a known, unchanged-looking post when its last download is older (default 7)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume", dest="resume", action="store_const", const="only", default="auto",
        help="only resume an interrupted run (default: resume one if there is one, else start)",
    )  # fmt: skip
    resume.add_argument(
        "--no-resume", dest="resume", action="store_const", const="never",
        help="discard an interrupted run and start a new snapshot",
    )  # fmt: skip
    parser.add_argument(
        "--resume-max-age", type=float, default=48.0, metavar="HOURS",
        help="an interrupted run older than this is discarded, not resumed (default 48)",
    )  # fmt: skip
    parser.add_argument("--report", help="write the run report (JSON) to this file")
    parser.add_argument(
        "--log-level", default=None, help="Scrapy log level (default INFO, WARNING on a terminal)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawler", description="Archival crawler for policy-news bulletin boards (snapshots in Parquet)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crawl = sub.add_parser(
        "crawl",
        help="crawl a site into a new snapshot of the archive",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage error, 3 degraded (a monitor failed), "
        "75 another run is active.",
    )
    add_crawl_arguments(crawl)
    crawl.set_defaults(func=cmd_crawl)

    schedule = sub.add_parser("schedule", help="run crawls back to back on an interval, in the foreground")
    schedule.add_argument("--every", required=True, help="interval between run starts: 90s, 30m, 6h, 1d")
    schedule.add_argument("--max-runs", type=int, default=0, help="stop after N runs (0: run until SIGTERM)")
    add_crawl_arguments(schedule)
    schedule.set_defaults(func=cmd_schedule)

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

    diff = sub.add_parser("diff", help="what changed between two snapshots (default: the two latest)")
    diff.add_argument("old", nargs="?", help="older snapshot id")
    diff.add_argument("new", nargs="?", help="newer snapshot id")
    diff.add_argument("--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})")
    diff.add_argument("--site", help="the site (needed when the archive holds several)")
    diff.add_argument("--json", action="store_true", help="print the changes as JSON lines")
    diff.set_defaults(func=cmd_diff)

    reextract = sub.add_parser(
        "reextract", help="rebuild a snapshot from its WARC files with today's extractors, as a new revision"
    )
    reextract.add_argument(
        "--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})"
    )
    reextract.add_argument("--snapshot", help="the snapshot to re-extract (default: the latest)")
    reextract.add_argument("--site", help="the site (needed when the archive holds several)")
    reextract.set_defaults(func=cmd_reextract)

    wacz = sub.add_parser("export-wacz", help="write a snapshot as a WACZ file (opens in ReplayWeb.page)")
    wacz.add_argument("--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})")
    wacz.add_argument("--snapshot", required=True, help="the snapshot id")
    wacz.add_argument("--site", help="the site (needed when the archive holds several)")
    wacz.add_argument("--out", help="output file (default: <snapshot>.wacz in the current directory)")
    wacz.set_defaults(func=cmd_export_wacz)

    compact = sub.add_parser("compact", help="merge a site's small files (readers see no difference)")
    compact.add_argument(
        "--archive", default=DEFAULT_ARCHIVE, help=f"archive root (default {DEFAULT_ARCHIVE})"
    )
    compact.add_argument("--site", help="only this site")
    compact.set_defaults(func=cmd_compact)
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


def crawl_options(args: argparse.Namespace) -> CrawlOptions:
    return CrawlOptions(
        profile=args.profile,
        base_url=args.base_url,
        archive=args.archive,
        max_pages=args.max_pages,
        at=args.at,
        contact=args.contact,
        log_level=args.log_level,
        refresh_days=args.refresh_days,
        resume=args.resume,
        resume_max_age_hours=args.resume_max_age,
        report=args.report,
    )


def crawl_argv(opts: CrawlOptions) -> list[str]:
    """The ``crawler crawl`` command line of these options (for runs in a child process)."""
    argv = [opts.profile, "--archive", opts.archive]
    pairs = [("--base-url", opts.base_url), ("--at", opts.at), ("--contact", opts.contact),
             ("--report", opts.report), ("--log-level", opts.log_level)]  # fmt: skip
    for flag, value in pairs:
        if value:
            argv += [flag, value]
    if opts.max_pages:
        argv += ["--max-pages", str(opts.max_pages)]
    if opts.refresh_days is not None:
        argv += ["--refresh-days", str(opts.refresh_days)]
    argv += {"only": ["--resume"], "never": ["--no-resume"]}.get(opts.resume, [])
    argv += ["--resume-max-age", str(opts.resume_max_age_hours)]
    return [sys.executable, "-m", "crawler", "crawl", *argv]


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.run import crawl

    return crawl(crawl_options(args))


def cmd_schedule(args: argparse.Namespace) -> int:
    from crawler.schedule import parse_interval, schedule

    try:
        every = parse_interval(args.every)
    except ValueError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.at:
        print("crawler: --at names one snapshot; a schedule crawls at each run's own time", file=sys.stderr)
        return EXIT_USAGE
    return schedule(crawl_argv(crawl_options(args)), every, max_runs=args.max_runs)


def cmd_replica(args: argparse.Namespace) -> int:
    from crawler.replica.server import main as replica_main

    return replica_main(args)


# -- demo -----------------------------------------------------------------------------------------


def demo_time(day: int) -> datetime:
    """The logical time at which the demo crawls replica day ``day``."""
    first = datetime.combine(DEMO_FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    return first + timedelta(days=day - 1, hours=DEMO_CRAWL_HOUR_UTC)


#: What is not the snapshot datasets: staging, locks, and the WARC capture with its digest index.
NOT_DATASETS = frozenset(("_staging", "warcs", "_index"))


def disk_size(root: Path, *, warcs: bool = False) -> int:
    """Bytes of the archive's committed Parquet datasets and catalogs, or (``warcs``) of its WARC files."""
    files = (p for p in root.rglob("*") if p.is_file())
    if warcs:
        return sum(p.stat().st_size for p in files if "warcs" in p.parts)
    return sum(p.stat().st_size for p in files if not NOT_DATASETS & set(p.parts))


def cmd_demo(args: argparse.Namespace) -> int:
    import archive
    from crawler.replica import ReplicaProcess

    if args.days < 1:
        print("crawler: --days must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    root = Path(args.archive)
    first_size = first_warcs = None
    for day in range(1, args.days + 1):
        at = demo_time(day)
        snapshot_id = archive.snapshot_id_for(at)
        if snapshot_id in committed_ids(root, "seoulsolution"):
            print(f"Day {day}: snapshot {snapshot_id} already in {root}, skipped")
            continue
        with ReplicaProcess(day=day, posts=args.posts) as replica:
            print(f"Day {day}: replica at {replica.url}, crawling as of {at.isoformat()}", flush=True)
            # Every known post is revalidated (a conditional request, 304 when unchanged), so that the
            # demo's snapshots hold every edit the replica makes, even one that keeps the listing title.
            opts = CrawlOptions(
                base_url=replica.url,
                archive=str(root),
                at=at.isoformat(),
                log_level="WARNING",
                refresh_days=0,
            )
            code = subprocess.call(crawl_argv(opts))
        if code != EXIT_OK:
            print(f"crawler: the crawl of day {day} failed (exit {code})", file=sys.stderr)
            return code
        if day == 1:
            first_size, first_warcs = disk_size(root), disk_size(root, warcs=True)
    before = disk_size(root)
    # Merging each dataset's per-snapshot files is what keeps a long-running archive small and fast to
    # read; readers see no difference (a scheduled operator runs `crawler compact` the same way).
    archive.compact(root, site="seoulsolution")
    total = disk_size(root)
    print()
    print(summary_table(archive.open(root), "seoulsolution"))
    kib = f"Datasets: {before / 1024:.0f} KiB for {args.days} snapshot(s), {total / 1024:.0f} KiB compacted"
    print(kib, end="")
    if first_size:
        print(f"; the first snapshot alone took {first_size / 1024:.0f} KiB ({total / first_size:.2f} times)")
    else:
        print()
    warcs = disk_size(root, warcs=True)
    print(f"WARC capture: {warcs / 1024:.0f} KiB", end="")
    print(f" (the first snapshot's: {first_warcs / 1024:.0f} KiB)" if first_warcs else "")
    return EXIT_OK


def summary_table(arch, site: str) -> str:
    runs = arch.runs(site=site)
    columns = ["snapshot_id", "status", "listing_pages", "listing_rows", "posts", "posts_fetched", "partners",
               "blocks", "failures", "requests"]  # fmt: skip
    table = runs[[c for c in columns if c in runs.columns]].copy()
    table["seconds"] = runs["duration_s"].round(1)
    return f"Archive {arch.root}: {len(table)} snapshot(s) of {site}\n" + table.to_string(index=False)


# -- reading the archive --------------------------------------------------------------------------


def _open(path: str):
    import archive

    try:
        return archive.open(path)
    except FileNotFoundError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return None


def cmd_runs(args: argparse.Namespace) -> int:
    arch = _open(args.archive)
    if arch is None:
        return EXIT_FAILED
    sites = [args.site] if args.site else arch.sites()
    if not sites:
        print(f"No committed runs in {args.archive}")
    for site in sites:
        print(summary_table(arch, site))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from crawler.report import format_changes

    arch = _open(args.archive)
    if arch is None:
        return EXIT_FAILED
    if (args.old is None) != (args.new is None):
        print("crawler: give both OLD and NEW snapshot ids, or neither", file=sys.stderr)
        return EXIT_USAGE
    try:
        changes = arch.changes(old=args.old, new=args.new, site=args.site)
    except (KeyError, ValueError) as exc:
        print(f"crawler: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        for record in changes.to_dict("records"):
            print(json.dumps(record, ensure_ascii=False, default=str))
    else:
        print(format_changes(changes))
    return EXIT_OK


def cmd_reextract(args: argparse.Namespace) -> int:
    from crawler.reextract import reextract

    arch = _open(args.archive)
    if arch is None:
        return EXIT_FAILED
    try:
        site = args.site or _single_site(arch)
        snapshot = args.snapshot or arch.snapshots(site=site)["snapshot_id"].iloc[-1]
        new_id = reextract(args.archive, snapshot, site=site)
    except (KeyError, ValueError, FileNotFoundError, IndexError) as exc:
        print(f"crawler: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Snapshot {snapshot} re-extracted from its WARC files as {new_id}")
    return EXIT_OK


def cmd_export_wacz(args: argparse.Namespace) -> int:
    from archive import warc

    arch = _open(args.archive)
    if arch is None:
        return EXIT_FAILED
    try:
        site = args.site or _single_site(arch)
        out = Path(args.out or f"{args.snapshot}.wacz")
        warc.export_wacz(args.archive, site, args.snapshot, out)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"crawler: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Wrote {out}")
    return EXIT_OK


def _single_site(arch) -> str:
    sites = arch.sites()
    if len(sites) != 1:
        raise ValueError(f"the archive holds sites {sites}: name one with --site")
    return sites[0]


def cmd_compact(args: argparse.Namespace) -> int:
    import archive

    try:
        result = archive.compact(args.archive, site=args.site)
    except archive.ArchiveLocked as exc:
        print(f"crawler: a crawl is running: {exc}", file=sys.stderr)
        return 75
    except FileNotFoundError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, indent=2, default=str))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
