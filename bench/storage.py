"""Repeated crawls of an unchanged replica into one archive (re-crawl cost and storage growth), and the
growth of the demo's archive over its days.

``series`` crawls replica day 1 ``crawls`` times into one archive, one logical day apart (``--at``), the
replica writing its access log (``METHOD TARGET STATUS BYTES`` per request) all along; after each crawl it
records the crawl's runs row, its slice of the access log and the archive's size on disk (apparent
bytes of every file under the root), split into the snapshots (Parquet datasets, catalog, manifests:
what the reader API reads) and the WARC layer (``warcs/`` and the digest index under ``_index/``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from bench import harness as h

#: Top-level entries of an archive root that hold the WARC capture, not the snapshots.
WARC_ENTRIES = ("warcs", "_index")


def snapshot_size(root: Path) -> int:
    """Bytes of the snapshots alone: everything under the root but the WARC capture."""
    if not root.exists():
        return 0
    return sum(h.dir_size(child) for child in root.iterdir() if child.name not in WARC_ENTRIES)


def series(posts: int, crawls: int, timeout: float = 3600.0, compact: bool = False) -> dict[str, Any]:
    from crawler.profile import load_profile

    post_link = re.compile(load_profile(h.SITE).post.link_pattern)
    out: list[dict[str, Any]] = []
    with h.scratch("series") as tmp:
        log_path = tmp / "access.log"
        root = tmp / "archive"
        with h.replica(1, posts, access_log=log_path) as replica:
            seen = 0
            for i in range(crawls):
                crawl = h.full_crawl(replica.url, root, h.at_time(i), timeout=timeout)
                time.sleep(0.2)  # the last access-log lines of the crawl (the log is line-buffered)
                lines = _read_log(log_path)
                mine, seen = lines[seen:], len(lines)
                out.append(
                    {
                        "run": crawl.run,
                        "wall_s": crawl.proc.wall_s,
                        "size_bytes": h.dir_size(root),
                        "snapshot_bytes": snapshot_size(root),
                        "log_requests": len(mine),
                        "log_bytes": sum(b for _, _, _, b in mine),
                        "post_bodies": sum(
                            1 for m, t, s, _ in mine if m == "GET" and s == 200 and post_link.search(t)
                        ),
                    }
                )
                h.log(
                    f"series ({replica.posts_used:,} posts): crawl {i + 1}/{crawls}: "
                    f"{crawl.run['requests']} requests, {crawl.run['response_bytes']:,} bytes, "
                    f"{out[-1]['post_bodies']} post bodies, archive {out[-1]['size_bytes'] / 2**20:.1f} MiB"
                )
            posts_used = replica.posts_used
        by_entry = {child.name: h.dir_size(child) for child in sorted(root.iterdir())}
        compacted = _compacted_size(root, timeout) if compact else None
    return {"posts": posts_used, "crawls": out, "bytes_by_entry": by_entry, "compacted": compacted}


def _compacted_size(root: Path, timeout: float) -> dict[str, Any]:
    """``crawler compact`` on the series' archive, and its size after (or why it could not be had)."""
    proc = h.run_child(h.python_module("crawler", "compact", "--archive", str(root)), timeout=timeout)
    if proc.returncode != 0:
        h.log(f"storage: crawler compact exited {proc.returncode}: {proc.tail(300)}")
        return {"bytes": None, "error": f"crawler compact exited {proc.returncode}: {proc.tail(300)}"}
    size = h.dir_size(root)
    h.log(f"storage: after crawler compact: archive {size / 2**20:.2f} MiB")
    return {"bytes": size, "snapshot_bytes": snapshot_size(root), "error": None}


def _read_log(path: Path) -> list[tuple[str, str, int, int]]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[-1].isdigit() and parts[-2].isdigit():
            rows.append((parts[0], parts[1], int(parts[-2]), int(parts[-1])))
    return rows


def storage_figures(s: dict[str, Any]) -> dict[str, Any]:
    sizes = [c["size_bytes"] for c in s["crawls"]]
    snaps = [c["snapshot_bytes"] for c in s["crawls"]]
    compacted = (s.get("compacted") or {}).get("bytes")
    compacted_snaps = (s.get("compacted") or {}).get("snapshot_bytes")
    return {
        "storage_ratio_30_unchanged": snaps[-1] / snaps[0],
        "storage_ratio_30_unchanged_with_warc": sizes[-1] / sizes[0],
        "storage_crawls": len(sizes),
        "storage_posts": s["posts"],
        "storage_snapshot_bytes_first": snaps[0],
        "storage_snapshot_bytes_last": snaps[-1],
        "storage_snapshot_bytes_by_crawl": snaps,
        "storage_warc_bytes_per_unchanged_crawl": (
            ((sizes[-1] - snaps[-1]) - (sizes[0] - snaps[0])) / (len(sizes) - 1) if len(sizes) > 1 else None
        ),
        "storage_bytes_first": sizes[0],
        "storage_bytes_last": sizes[-1],
        "storage_bytes_by_crawl": sizes,
        "storage_crawl_seconds": [c["run"]["duration_s"] for c in s["crawls"]],
        "storage_bytes_by_entry_last": s["bytes_by_entry"],  # top-level directories of the archive root
        "storage_bytes_compacted": compacted,
        "storage_ratio_30_unchanged_compacted": compacted_snaps / snaps[0] if compacted_snaps else None,
        "storage_ratio_30_unchanged_with_warc_compacted": compacted / sizes[0] if compacted else None,
        "storage_compact_error": (s.get("compacted") or {}).get("error"),
    }


def demo(days: int, posts: int, timeout: float = 3600.0) -> dict[str, Any]:
    """``crawler demo --days 1`` then ``--days DAYS`` into the same archive (the demo skips the days it
    already has): the archive's size after its first day and after all of them."""
    with h.scratch("demo") as tmp:
        root = tmp / "archive"
        sizes = []
        for d in (1, days):
            command = h.python_module("crawler", "demo", "--days", str(d), "--archive", str(root))
            command += ["--posts", str(posts)]
            proc = h.run_child(command, timeout=timeout)
            if proc.returncode != 0:
                raise h.BenchError(f"crawler demo --days {d} exited {proc.returncode}:\n{proc.tail()}")
            sizes.append(h.dir_size(root))
            h.log(f"demo: {d} day(s): archive {sizes[-1] / 2**20:.1f} MiB ({proc.wall_s:.0f} s)")
    return {
        "storage_ratio_demo7": sizes[1] / sizes[0],
        "storage_demo_days": days,
        "storage_demo_posts": posts,
        "storage_demo_bytes": sizes,
    }
