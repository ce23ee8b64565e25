"""The bare Scrapy spider of the crawl ratio: the same listing pager and post links as the crawler, read
with two compiled regular expressions, yielding nothing. Same concurrency as the crawler's loopback
crawl (16 requests, 16 per domain, the project's CONCURRENT_ITEMS), no delay, no AutoThrottle, no
robots.txt.

Run: ``python -m bench.bare START_URL --stats FILE`` (one process per crawl: a reactor cannot restart);
FILE receives Scrapy's stats as JSON. ``--client wire`` downloads with the crawler's own HTTP client
(``crawler.capture.CapturingDownloadHandler``, which uses ``crawler.wire``; no WARC is written) instead
of Scrapy's default Twisted one: the baseline of ``crawl_ratio_same_client``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Request, Response

#: The pager's "next" link and the post links of a listing page (the profile's ``link_pattern``).
NEXT_PAGE = re.compile(rb'<li class="pager-next[^"]*"><a [^>]*href="([^"]+)"')
POST_LINK = re.compile(rb'href="([^"]*/(?:en|ko)/content/[^"]+)"')

#: What the crawler's loopback crawl uses (crawler/politeness.py), minus everything it adds.
SETTINGS: dict[str, Any] = {
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "ROBOTSTXT_OBEY": False,
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "USER_AGENT": "policyboard-archiver-bench (bare spider)",
}


#: Framework settings the bare spider takes from the project's settings (crawler/settings.py), so that
#: the ratio measures the crawler's own work and not a framework knob: Scrapy 2.19 starts
#: CONCURRENT_ITEMS asyncio tasks for every callback's output, whatever it yields (see docs/benchmark.md).
MIRRORED = (
    "CONCURRENT_ITEMS",
    "WARN_ON_GENERATOR_RETURN_VALUE",
    "TWISTED_REACTOR",
    "COOKIES_ENABLED",
    "DOWNLOAD_TIMEOUT",
    "STATS_CLASS",
)


#: ``--client wire``: the crawler's download handler, with nothing else of the crawler.
WIRE_HANDLERS = {
    "http": "crawler.capture.CapturingDownloadHandler",
    "https": "crawler.capture.CapturingDownloadHandler",
}


def settings(client: str = "scrapy") -> dict[str, Any]:
    """SETTINGS, plus the MIRRORED settings as the project sets them (Scrapy's defaults otherwise)."""
    from scrapy.settings import Settings

    project = Settings()
    project.setmodule("crawler.settings", priority="project")
    used = {**SETTINGS, **{name: project[name] for name in MIRRORED}}
    if client == "wire":
        used["DOWNLOAD_HANDLERS"] = WIRE_HANDLERS
    return used


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url

    async def start(self):  # Scrapy >= 2.13
        yield Request(self.start_url, callback=self.parse_listing)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        body = response.body
        for href in POST_LINK.findall(body):
            yield Request(response.urljoin(href.decode("ascii", "replace")), callback=self.parse_post)
        found = NEXT_PAGE.search(body)
        if found:
            yield Request(response.urljoin(found.group(1).decode("ascii", "replace")), self.parse_listing)

    def parse_post(self, response: Response) -> Iterator[Any]:
        return iter(())


def crawl(start_url: str, client: str = "scrapy") -> dict[str, Any]:
    from scrapy.crawler import CrawlerProcess

    used = settings(client)
    process = CrawlerProcess(used)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, start_url=start_url)
    process.start()
    return {**crawler.stats.get_stats(), "bench/settings": used}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("start_url", help="the first listing page, e.g. http://127.0.0.1:PORT/ko/policy-news")
    parser.add_argument("--stats", required=True, help="write Scrapy's stats here as JSON")
    parser.add_argument(
        "--client", choices=("scrapy", "wire"), default="scrapy",
        help="Scrapy's default HTTP client (default) or the crawler's (crawler.wire)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    stats = crawl(args.start_url, args.client)
    with open(args.stats, "w", encoding="utf-8") as fh:
        json.dump(stats, fh, default=str, sort_keys=True)
    return 0 if stats.get("finish_reason") == "finished" else 1


if __name__ == "__main__":
    raise SystemExit(main())
