"""Scrapy settings of the project (``scrapy.cfg`` points here). Per-site politeness is applied by the
spider from its profile (crawler/politeness.py); the CLI sets the archive and the crawl's options."""

from crawler.politeness import user_agent

BOT_NAME = "policyboard"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

USER_AGENT = user_agent()
ROBOTSTXT_OBEY = True
DOWNLOAD_DELAY = 1.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
AUTOTHROTTLE_ENABLED = True
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 3
# 404 is an answer (a deleted post), not a fault to retry.
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
COOKIES_ENABLED = False
# A callback yields one PageResult (and a listing page its requests): Scrapy starts CONCURRENT_ITEMS
# asyncio tasks for every callback's output, whatever it holds, and wakes each of them when the callback
# awaited on the way (a post page awaits its extraction). Measured per callback with one item and one
# await: 1,860 µs at Scrapy's default of 100, 241 µs at 10, 82 µs at 1 (docs/benchmark.md).
CONCURRENT_ITEMS = 1
# Scrapy re-reads each callback's source to warn about generator return values: measurable per page.
WARN_ON_GENERATOR_RETURN_VALUE = False
# A crawl listens on no port: neither the telnet console nor Scrapy 2.19's remote-control server.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# Scrapy's in-memory stats without its per-attribute deprecation shim (crawler/stats.py).
STATS_CLASS = "crawler.stats.StatsCollector"

# Byte-exact capture of every exchange into the snapshot's WARC files (crawler/capture.py, archive/warc.py).
DOWNLOAD_HANDLERS = {
    "http": "crawler.capture.CapturingDownloadHandler",
    "https": "crawler.capture.CapturingDownloadHandler",
}
WARC_ENABLED = True
# "wire": direct requests through crawler.wire's asyncio client (proxied ones through Twisted's);
# "twisted": every request through Scrapy's own HTTP/1.1 handler, instrumented.
CAPTURE_CLIENT = "wire"
# Work that leaves the crawl's process, so that the reactor only crawls: worker processes that parse and
# extract pages (crawler/extraction_pool.py; 0: none) and a process that writes the WARC records
# (crawler/capture.py). None: only for a crawl without download delay on a machine with a second CPU.
EXTRACT_WORKERS = None
WARC_WRITER_PROCESS = None
# Merge the site's small Parquet files after each commit (archive.compact_after_commit): an unchanged
# crawl then adds a few KB, not a copy of every row.
ARCHIVE_COMPACT = True

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.PoliteRetryMiddleware": 550,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.MetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.HttpCompressionMiddleware": 590,
}
# Scrapy's spider middlewares that do nothing for this crawl, each a layer that every callback's output
# crosses: DepthMiddleware (depth stats; no depth limit here: the pager and the profile bound the crawl)
# and MetaCopyDetectionMiddleware (warns about meta copied from a response: a lint for spider authors,
# which the spider's tests cover).
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
RETRY_BACKOFF_BASE = 2.0  # seconds before the first retry; doubled each time
RETRY_BACKOFF_MAX = 120.0
RETRY_AFTER_MAX = 600.0  # a longer Retry-After is capped (the run would rather record a failure)

ITEM_PIPELINES = {
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.dedupe.DedupePipeline": 200,
    "pipelines.store.ArchivePipeline": 900,
}
EXTENSIONS = {
    "crawler.progress.Progress": 500,
    "crawler.capture.WarcCapture": 100,
}
LOG_LEVEL = "INFO"

# Project settings (the CLI and `scrapy crawl -s` set them).
ARCHIVE_ROOT = "data/archive"
SITE_PROFILE = "seoulsolution"
PROGRESS_INTERVAL = 60.0  # seconds between plain progress lines when not on a terminal
PROGRESS_LIVE = False  # a live line on the terminal (set by the CLI when stderr is a TTY)
REFRESH_DAYS = None  # re-download known posts older than this (None: crawler.incremental's default)
RESUME = False  # continue the staged snapshot of CRAWL_AT instead of starting it (set by the CLI)
RESUMES = 0
# `crawler crawl` holds the archive's run lock itself; under `scrapy crawl` the archive pipeline takes it.
CRAWL_LOCK_HELD = False
