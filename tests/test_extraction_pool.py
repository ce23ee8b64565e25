"""The extraction worker process returns what the in-process extractors return, and a crawl survives
its death (it extracts in-process from then on)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crawler.extract import ExtractionError, charset_from_content_type
from crawler.extraction_pool import Extractors, offload_by_default, workers_from
from crawler.profile import load_profile
from tests.conftest import FIXTURES

PAGES = FIXTURES / "seoulsolution"
META = json.loads((PAGES / "pages.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 1, 23, 0, tzinfo=ZoneInfo("Asia/Seoul"))
PROFILE = load_profile("seoulsolution")
POSTS = ["post-cities-today.html", "post-euc-kr.html", "post-korean.html", "post-lying-header.html"]


def page(name: str) -> tuple[bytes, str, str | None]:
    return (PAGES / name).read_bytes(), META[name]["url"], charset_from_content_type(META[name]["charset"])


async def read_all(ex: Extractors) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in POSTS:
        out[name] = await ex.post(*page(name), now=NOW, listing=None, http_status=200, fetched_at=NOW)
    out["front"] = await ex.front(*page("front.html"), wanted={"partners", "blocks"}, fetched_at=NOW)
    out["listing"] = await ex.listing(*page("listing-page0.html"), page=1, now=NOW, fetched_at=NOW)
    return out


def test_the_worker_reads_what_the_crawl_would() -> None:
    local = Extractors(PROFILE, 0)
    worker = Extractors(PROFILE, 1)
    try:
        assert worker.in_worker and not local.in_worker
        want, got = asyncio.run(read_all(local)), asyncio.run(read_all(worker))
        assert got == want
        assert got["post-euc-kr.html"].encoding == "cp949"  # type: ignore[union-attr]  (EUC-KR's superset)
        blocks, partners = got["front"]  # type: ignore[misc]
        assert len(partners) >= 10 and blocks
        with pytest.raises(ExtractionError, match="no post title"):  # raised in the worker, same type
            asyncio.run(worker.post(b"<html><body><p>Maintenance</p></body></html>", "https://x.test/a", None,
                                    now=NOW, listing=None, http_status=200, fetched_at=NOW))  # fmt: skip
    finally:
        worker.close()


def test_a_dead_worker_leaves_extraction_in_process(caplog: pytest.LogCaptureFixture) -> None:
    worker = Extractors(PROFILE, 1)
    try:
        want = asyncio.run(read_all(Extractors(PROFILE, 0)))
        pids = worker.pids
        os.kill(pids[0], signal.SIGKILL)
        got = asyncio.run(read_all(worker))
        assert got == want and not worker.in_worker
        assert "extraction worker died" in caplog.text
    finally:
        worker.close()


class Settings(dict):
    def getfloat(self, name: str) -> float:
        return float(self.get(name) or 0)


def test_who_decides_the_number_of_workers() -> None:
    fast, polite = Settings(DOWNLOAD_DELAY=0), Settings(DOWNLOAD_DELAY=1.0)
    two_cpus = (os.cpu_count() or 1) > 1
    assert offload_by_default(fast) is two_cpus and offload_by_default(polite) is False
    assert workers_from(fast) == (1 if two_cpus else 0) and workers_from(polite) == 0
    assert workers_from(Settings(DOWNLOAD_DELAY=1.0, EXTRACT_WORKERS=2)) == 2
    assert workers_from(Settings(DOWNLOAD_DELAY=0, EXTRACT_WORKERS="0")) == 0
