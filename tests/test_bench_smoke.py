"""The project benchmark at a smoke size, every section, so that the harness cannot rot.

The figures at this size mean nothing (a 40-post crawl is mostly start-up); what is checked is that every
section runs end to end, writes every key as a finite number, and prints its table.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

#: Keys that are counts, for which 0 is a valid answer.
COUNTS = {"recrawl_post_bodies"}


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--posts", "40", "--quick", "--memory-sizes", "20,60"]
    command += ["--storage-crawls", "2", "--demo-days", "2", "--demo-posts", "20", "--out", str(out)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    from bench.__main__ import REQUIRED, SECTIONS, TARGETS

    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["meta"]["errors"] == {}
    assert results["meta"]["config"]["sections"] == list(SECTIONS)
    for key in REQUIRED:
        value = results.get(key)
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
        assert value >= 0 if key in COUNTS else value > 0, (key, value)
    assert results["cpu_count"] >= 1
    assert results["crawl_bare_pages"] > 0 and results["crawl_full_pages"] > 0
    # the bare spider with the crawler's HTTP client reads the same pages as with Scrapy's
    assert [r["pages"] for r in results["crawl_bare_same_client_runs"]] == [results["crawl_bare_pages"]]
    assert results["crawl_ratio_same_client"] > 0
    # both spiders are timed by Scrapy's stopwatch; the crawler's end of crawl comes after it
    assert results["crawl_full_end_s"] >= 0
    assert 0 < results["crawl_ratio_run_duration"] <= results["crawl_ratio"]
    # the machine's steal time during each crawl, read from /proc/stat (Linux), as a share of its CPUs
    for share in (results["crawl_steal_share_bare"], results["crawl_steal_share_full"]):
        assert 0 <= share <= 1, share
    assert results["storage_crawls"] == 2 and results["storage_demo_days"] == 2
    assert results["rss_sizes_used"] == [20, 60]

    lines = proc.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:4] == ["figure", "value", "target", "result"]
    )
    table = "\n".join(lines[header : header + len(TARGETS) + 3])
    for key, _, _ in TARGETS:
        assert key in table
    assert "ERROR" not in table
    assert f"Figures written to {out}" in proc.stdout
