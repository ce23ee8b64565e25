"""The crawl's stats collector keeps Scrapy's in-memory collector's behaviour."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import scrapy
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from crawler.stats import StatsCollector


def _exercise(stats: Any) -> dict[str, Any]:
    stats.open_spider()
    stats.inc_value("pages")
    stats.inc_value("pages", 4)
    stats.inc_value("bytes", 10, start=100)
    stats.set_value("reason", "finished")
    stats.max_value("peak", 3)
    stats.max_value("peak", 7)
    stats.max_value("peak", 5)
    stats.min_value("low", 3)
    stats.min_value("low", 1)
    stats.inc_value("legacy", spider=None)  # the deprecated argument is still accepted
    return dict(stats.get_stats())


# Scrapy's own collector warns about the deprecated argument; ours accepts it silently.
@pytest.mark.filterwarnings("ignore::scrapy.exceptions.ScrapyDeprecationWarning")
def test_values_match_scrapys_collector() -> None:
    ours = _exercise(StatsCollector(get_crawler()))
    assert ours == _exercise(MemoryStatsCollector(get_crawler()))
    assert ours == {"pages": 5, "bytes": 110, "reason": "finished", "peak": 7, "low": 1, "legacy": 1}


def test_the_deprecated_argument_is_accepted_without_a_warning() -> None:
    stats = StatsCollector(get_crawler())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats.inc_value("pages", spider=None)
        stats.inc_value("pages")
    assert stats.get_value("pages") == 2


def test_stats_are_kept_per_spider_after_close() -> None:
    crawler = get_crawler(scrapy.Spider, {"STATS_CLASS": "crawler.stats.StatsCollector", "STATS_DUMP": False})
    crawler.spider = scrapy.Spider(name="board")
    stats = crawler.stats
    assert type(stats) is StatsCollector
    stats.inc_value("pages", 2)
    stats.close_spider(reason="finished")
    assert stats.spider_stats == {"board": {"pages": 2}}
    assert stats.get_value("pages") == 2


def test_the_project_uses_it() -> None:
    assert get_project_settings().get("STATS_CLASS") == "crawler.stats.StatsCollector"


def test_the_benchmarks_bare_spider_uses_it_too() -> None:
    # A framework knob, not the crawler's own work: the crawl ratio's baseline gets it as well.
    from bench.bare import settings

    for client in ("scrapy", "wire"):
        assert settings(client)["STATS_CLASS"] == "crawler.stats.StatsCollector"
