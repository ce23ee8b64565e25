"""Re-crawl cost: a second crawl of the unchanged replica (same day, a later ``--at``, same archive).

Requests and response bytes come from the runs dataset (``requests``, ``response_bytes``: Scrapy's
downloader stats); the post bodies downloaded are counted in the replica's access log (post-page GETs
answered 200). The crawls themselves are the first two of ``bench.storage.series``.
"""

from __future__ import annotations

from typing import Any

from bench import storage


def run(posts: int, timeout: float = 3600.0) -> dict[str, Any]:
    return recrawl_figures(storage.series(posts, 2, timeout=timeout))


def recrawl_figures(s: dict[str, Any]) -> dict[str, Any]:
    first, second = s["crawls"][0], s["crawls"][1]
    r1, r2 = first["run"], second["run"]
    return {
        "recrawl_request_share": r2["requests"] / r1["requests"],
        "recrawl_byte_share": r2["response_bytes"] / r1["response_bytes"],
        "recrawl_post_bodies": second["post_bodies"],
        "recrawl_post_bodies_first": first["post_bodies"],
        "recrawl_requests": [r1["requests"], r2["requests"]],
        "recrawl_response_bytes": [r1["response_bytes"], r2["response_bytes"]],
        "recrawl_log_requests": [first["log_requests"], second["log_requests"]],
        "recrawl_log_bytes": [first["log_bytes"], second["log_bytes"]],
        "recrawl_log_byte_share": second["log_bytes"] / first["log_bytes"] if first["log_bytes"] else None,
        "recrawl_seconds": [r1["duration_s"], r2["duration_s"]],
        "recrawl_posts": s["posts"],
    }
