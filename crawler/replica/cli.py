"""Command line of the replica: ``python -m crawler.replica``, mounted as ``crawler replica``."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--day", type=int, default=1, help="site day: 1 = 2026-11-01 (default 1)")
    parser.add_argument("--posts", type=int, default=320, help="posts listed on day 1 (default 320)")
    parser.add_argument("--redesign", action="store_true", help="serve the redesigned listing markup")
    parser.add_argument(
        "--access-log", metavar="FILE", help="append one line per request here (default: stderr)"
    )
    parser.add_argument("--changes", action="store_true", help="print the day's change list as JSON and exit")
    parser.add_argument(
        "--busy-every", type=int, default=0, metavar="N",
        help="refuse every Nth post request once with 503 and Retry-After: 1 (fault injection; default off)",
    )  # fmt: skip


def main(args: argparse.Namespace) -> int:
    from crawler.replica.site import ReplicaSite

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("the replica binds loopback only", file=sys.stderr)
        return 2
    site = ReplicaSite(args.day, posts=args.posts, redesign=args.redesign)
    if args.changes:
        print(json.dumps(site.changes(), ensure_ascii=False, indent=2))
        return 0
    from crawler.replica.server import serve

    if args.access_log:
        with open(args.access_log, "a", encoding="utf-8", buffering=1) as log:  # line-buffered
            serve(site, host=args.host, port=args.port, access_log=log, busy_every=args.busy_every)
    else:
        serve(site, host=args.host, port=args.port, busy_every=args.busy_every)
    return 0


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.replica", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))
