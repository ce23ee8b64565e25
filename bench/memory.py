"""Peak RSS of a full crawl at growing replica sizes (default 1,000 / 5,000 / 20,000 posts).

Each crawl is a fresh ``crawler crawl`` process into a fresh archive; its peak RSS is its own VmHWM, as
``os.wait4`` reports it (``ru_maxrss``) when the process is reaped. A size above the replica's maximum
is replaced by the largest size the replica accepts (and reported).
"""

from __future__ import annotations

from typing import Any

from bench import harness as h


def run(sizes: list[int], timeout: float = 3600.0) -> dict[str, Any]:
    rows = []
    for asked in sizes:
        with h.replica(1, asked) as replica, h.scratch("memory") as tmp:
            crawl = h.full_crawl(replica.url, tmp / "archive", h.at_time(0), timeout=timeout)
            rows.append(
                {
                    "posts_asked": asked,
                    "posts": replica.posts_used,
                    "peak_rss_mib": crawl.proc.peak_rss_mib,
                    "responses": crawl.responses,
                    "pages_per_s": crawl.pages_per_s,
                    "wall_s": crawl.proc.wall_s,
                }
            )
            h.log(
                f"memory: {replica.posts_used:,} posts: peak RSS {crawl.proc.peak_rss_mib:.0f} MiB, "
                f"{crawl.responses:,} responses in {crawl.proc.wall_s:.1f} s"
            )
    first, last = rows[0], rows[-1]
    return {
        "rss_ratio_20k_over_1k": last["peak_rss_mib"] / first["peak_rss_mib"],
        "rss_peak_mib_by_posts": {str(r["posts"]): r["peak_rss_mib"] for r in rows},
        "rss_sizes_asked": [r["posts_asked"] for r in rows],
        "rss_sizes_used": [r["posts"] for r in rows],
        "rss_runs": rows,
    }
