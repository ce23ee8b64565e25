"""Crawl ratio: pages/s of the full ``crawler crawl`` over pages/s of the bare spider, same replica.

Each crawl is its own process; the two kinds alternate (bare first in odd rounds, full first in even
ones) after one uncounted warm-up crawl (not with --quick), and the ratio is median(full) /
median(bare). Pages are responses received; both rates are over the crawl's duration by the same
stopwatch, Scrapy's own (``elapsed_time_seconds``: its start time to the spider's close), so interpreter
start-up and imports count for neither. What the crawler does after the close (the WARC writer's last
records, the snapshot's summary and monitors, then the commit) is reported beside it: its share before
the commit as ``crawl_full_end_s``, the ratio over ``runs.duration_s`` (which includes it) as
``crawl_ratio_run_duration``, and the whole process's wall-clock rates, commit included, as
``crawl_ratio_wall``. So is the replica's CPU use during each crawl (a busy server would cap the bare
spider).

A third kind of crawl in each round, the bare spider with the crawler's own HTTP client (``crawler.wire``
instead of Twisted's), gives ``crawl_ratio_same_client``: how much of the crawler's rate comes from its
client rather than from what it adds to Scrapy.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from bench import harness as h


def bare_crawl(
    url: str, start_path: str, stats_path: Path, timeout: float, client: str = "scrapy"
) -> dict[str, Any]:
    pid = h.replica_pid()
    before = h.cpu_seconds(pid)
    proc = h.run_child(
        h.python_module("bench.bare", url + start_path, "--stats", str(stats_path), "--client", client),
        timeout=timeout,
    )
    after = h.cpu_seconds(pid)
    if proc.returncode != 0 or not stats_path.exists():
        raise h.BenchError(f"the bare spider failed (exit {proc.returncode}):\n{proc.tail()}")
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    pages = int(stats.get("downloader/response_count", 0))
    seconds = float(stats["elapsed_time_seconds"])
    return {
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "wall_s": proc.wall_s,
        "wall_pages_per_s": pages / proc.wall_s,
        "cpu_ms_per_page": 1000 * proc.cpu_s / pages,
        "peak_rss_mib": proc.peak_rss_mib,
        "server_cpu_share": (after - before) / seconds if before is not None and after is not None else None,
        "steal_share": proc.steal_share,
        "response_bytes": int(stats.get("downloader/response_bytes", 0)),
        "settings": stats.get("bench/settings"),
    }


def full_crawl(url: str, root: Path, timeout: float) -> dict[str, Any]:
    crawl = h.full_crawl(url, root, h.at_time(0), timeout=timeout)
    seconds = crawl.scrapy_seconds
    return {
        "pages": crawl.responses,
        "seconds": seconds,
        "pages_per_s": crawl.pages_per_s,
        "run_duration_s": crawl.run_seconds,
        "run_duration_pages_per_s": crawl.responses / crawl.run_seconds,
        "end_s": crawl.end_seconds,
        "wall_s": crawl.proc.wall_s,
        "wall_pages_per_s": crawl.wall_pages_per_s,
        "cpu_ms_per_page": 1000 * crawl.proc.cpu_s / crawl.responses,
        "peak_rss_mib": crawl.proc.peak_rss_mib,
        "server_cpu_share": crawl.server_cpu_s / seconds if crawl.server_cpu_s is not None else None,
        "steal_share": crawl.proc.steal_share,
        "response_bytes": int(crawl.run.get("response_bytes") or 0),
        "posts": int(crawl.run.get("posts") or 0),
    }


def run(posts: int, rounds: int, timeout: float = 1800.0, warm_up: bool = True) -> dict[str, Any]:
    from crawler.profile import load_profile

    start_path = load_profile(h.SITE).listing.start
    bare: list[dict[str, Any]] = []
    full: list[dict[str, Any]] = []
    wire: list[dict[str, Any]] = []  # the bare spider with the crawler's HTTP client
    with h.replica(1, posts) as replica, h.scratch("crawl") as tmp:
        h.log(f"crawl: replica of {replica.posts_used:,} posts at {replica.url}")
        if warm_up:  # the replica caches rendered, compressed pages (up to its bound)
            bare_crawl(replica.url, start_path, tmp / "warmup.json", timeout)
        for i in range(rounds):
            order = ("bare", "full", "wire") if i % 2 == 0 else ("wire", "full", "bare")
            for kind in order:
                if kind == "bare":
                    bare.append(bare_crawl(replica.url, start_path, tmp / f"bare-{i}.json", timeout))
                elif kind == "wire":
                    stats = tmp / f"wire-{i}.json"
                    wire.append(bare_crawl(replica.url, start_path, stats, timeout, client="wire"))
                else:
                    full.append(full_crawl(replica.url, tmp / f"archive-{i}", timeout))
            h.log(
                f"crawl: round {i + 1}/{rounds}: bare {bare[-1]['pages_per_s']:.0f} pages/s, "
                f"full {full[-1]['pages_per_s']:.0f} pages/s, "
                f"bare with the crawler's client {wire[-1]['pages_per_s']:.0f} pages/s"
            )
        posts_used = replica.posts_used

    def med(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(values) if values else None

    bare_rate, full_rate = med(bare, "pages_per_s"), med(full, "pages_per_s")
    ceiling = cpu_ceiling(full)
    return {
        "crawl_ratio": full_rate / bare_rate,
        # The most pages/s the full crawl's CPU per page allows on this machine, were every core busy all
        # the time (its processes and the replica's). Its CPU includes start-up and the end of crawl, which
        # the rate leaves out: it errs low, and a crawl at or past it has every core full.
        "crawl_full_cpu_ceiling_pages_per_s": ceiling,
        "crawl_ratio_cpu_ceiling": ceiling / bare_rate if ceiling is not None else None,
        "crawl_ratio_wall": med(full, "wall_pages_per_s") / med(bare, "wall_pages_per_s"),
        # Over the crawler's runs.duration_s: its end of crawl (WARC drain, summary, monitors) counted too.
        "crawl_ratio_run_duration": med(full, "run_duration_pages_per_s") / bare_rate,
        "crawl_full_end_s": med(full, "end_s"),
        "crawl_ratio_per_round": [
            f["pages_per_s"] / b["pages_per_s"] for f, b in zip(full, bare, strict=True)
        ],
        # Against the bare spider with the crawler's own HTTP client: what the crawler adds to Scrapy,
        # with the client's saving (about 1 ms of CPU a page against Twisted's) left out.
        "crawl_ratio_same_client": full_rate / med(wire, "pages_per_s"),
        "crawl_bare_same_client_pages_per_s": med(wire, "pages_per_s"),
        "crawl_bare_same_client_cpu_ms_per_page": med(wire, "cpu_ms_per_page"),
        "crawl_bare_pages_per_s": bare_rate,
        "crawl_full_pages_per_s": full_rate,
        "crawl_bare_wall_pages_per_s": med(bare, "wall_pages_per_s"),
        "crawl_full_wall_pages_per_s": med(full, "wall_pages_per_s"),
        "crawl_bare_pages": int(med(bare, "pages")),
        "crawl_full_pages": int(med(full, "pages")),
        "crawl_bare_cpu_ms_per_page": med(bare, "cpu_ms_per_page"),
        "crawl_full_cpu_ms_per_page": med(full, "cpu_ms_per_page"),
        "crawl_bare_peak_rss_mib": med(bare, "peak_rss_mib"),
        "crawl_full_peak_rss_mib": med(full, "peak_rss_mib"),
        "crawl_server_cpu_share_bare": med(bare, "server_cpu_share"),
        "crawl_server_cpu_share_full": med(full, "server_cpu_share"),
        # What the hypervisor gave other guests during each crawl, as a share of the machine's CPUs: the
        # crawler needs both cores and the bare spider one, so steal costs the crawler first.
        "crawl_steal_share_bare": med(bare, "steal_share"),
        "crawl_steal_share_full": med(full, "steal_share"),
        "crawl_steal_share_per_round": [
            [b.get("steal_share"), f.get("steal_share")] for b, f in zip(bare, full, strict=True)
        ],
        "crawl_bare_settings": bare[0]["settings"],
        "crawl_rounds": rounds,
        "crawl_posts": posts_used,
        "crawl_bare_runs": bare,
        "crawl_full_runs": full,
        "crawl_bare_same_client_runs": wire,
    }


def cpu_ceiling(full: list[dict[str, Any]]) -> float | None:
    """cores x 1000 / (CPU ms per page of the crawl's processes + of the replica), median over the runs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    out = []
    for run in full:
        if run.get("server_cpu_share") is None:
            continue
        server_ms = 1000 * run["server_cpu_share"] / run["pages_per_s"]  # replica CPU per page
        out.append(cores * 1000 / (run["cpu_ms_per_page"] + server_ms))
    return statistics.median(out) if out else None
