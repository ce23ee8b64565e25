"""Shared fixtures: the replica site as a child process, and real crawls of it into temporary archives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
#: The logical time at which tests crawl replica day 1 (23:00 in Seoul on the replica's first day).
DAY1_AT = "2026-11-01T14:00:00+00:00"


def chunked(data: bytes, size: int) -> bytes:
    """``data`` in the chunked transfer coding, ``size`` bytes a chunk, ending with the last chunk."""
    out = b""
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


@dataclass
class CrawlResult:
    archive: Path
    returncode: int
    stdout: str
    stderr: str


def run_crawl(base_url: str, archive: Path, *args: str, timeout: float = 300) -> CrawlResult:
    """``crawler crawl`` in its own process, as an operator runs it."""
    command = [sys.executable, "-m", "crawler", "crawl", "seoulsolution", "--base-url", base_url]
    command += ["--archive", str(archive), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    return CrawlResult(archive, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def replica_day1() -> Iterator[str]:
    from crawler.replica import ReplicaProcess

    with ReplicaProcess(day=1) as replica:
        yield replica.url


@pytest.fixture(scope="session")
def day1_archive(replica_day1: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full crawl of replica day 1, shared by the end-to-end tests that only read it."""
    root = tmp_path_factory.mktemp("archive") / "archive"
    result = run_crawl(replica_day1, root, "--at", DAY1_AT)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@dataclass
class Demo:
    archive: Path
    stdout: str


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """``crawler demo --days 7`` into a fresh archive (``make demo`` runs 3 days)."""
    root = tmp_path_factory.mktemp("demo") / "archive"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "crawler", "demo", "--days", "7", "--archive", str(root)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return Demo(root, proc.stdout)


@pytest.fixture(scope="session")
def demo_archive(demo: Demo) -> Path:
    return demo.archive
