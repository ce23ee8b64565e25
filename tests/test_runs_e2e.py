"""Scheduled-run behaviour over real HTTP against the replica: incremental re-crawls, resume after SIGKILL,
one run at a time, monitors on a redesigned site, the scheduler."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import archive
from crawler.incremental import url_key
from crawler.replica import ReplicaProcess, ReplicaSite
from tests.conftest import REPO, run_crawl

pytestmark = pytest.mark.slow

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
POST_PATH = re.compile(r"^/(?:en|ko)/content/")
LISTING_PATH = re.compile(r"^/ko/policy-news")


def log_lines(log: Path) -> list[tuple[str, str, int]]:
    """(method, target, status) of every request the replica answered."""
    lines = []
    for line in log.read_text().splitlines():
        method, target, status, _bytes = line.split(" ")
        lines.append((method, target, int(status)))
    return lines


def post_downloads(lines: list[tuple[str, str, int]]) -> Counter[str]:
    return Counter(t for m, t, s in lines if m == "GET" and s == 200 and POST_PATH.match(t))


DIFFER_BETWEEN_RUNS = (
    "snapshot_id", "fetched_at", "fetch", "http_status", "warc_file", "warc_offset", "warc_length",
)  # fmt: skip


def frames(root: Path, snapshot: str) -> dict[str, pd.DataFrame]:
    """Reader output of one snapshot, without what legitimately differs between runs: the id, fetch
    times and the WARC records the responses went to."""
    arch = archive.open(root)
    out = {}
    for name in ("listing", "posts", "partners", "blocks"):
        df = getattr(arch, name)(snapshot=snapshot)
        drop = [c for c in DIFFER_BETWEEN_RUNS if c in df.columns]
        if name == "listing":
            df = df.drop(columns=drop)
        else:
            df = df.drop(columns=drop).sort_values(df.columns[2]).reset_index(drop=True)
        out[name] = df.reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def day1(tmp_path_factory: pytest.TempPathFactory):
    """Replica day 1 with an access log, and one committed crawl of it (the baseline run)."""
    work = tmp_path_factory.mktemp("runs")
    log = work / "access.log"
    with ReplicaProcess(day=1, access_log=log) as replica:
        root = work / "archive"
        first = run_crawl(replica.url, root, "--at", "2026-11-01T05:00:00Z")
        assert first.returncode == 0, first.stderr[-3000:]
        yield replica, root, log


def test_unchanged_rerun_fetches_listing_pages_and_no_post_body(day1) -> None:
    replica, root, log = day1
    site = ReplicaSite(day=1)
    log.write_text("")
    second = run_crawl(
        replica.url, root, "--at", "2026-11-01T11:00:00Z", "--report", str(root.parent / "r2.json")
    )
    assert second.returncode == 0, second.stderr[-3000:]
    lines = log_lines(log)
    listing_gets = {t for m, t, s in lines if m == "GET" and LISTING_PATH.match(t)}
    assert len(listing_gets) == site.listing_pages()  # every listing page, every run
    assert post_downloads(lines) == Counter()  # inside the refresh window: no post page requested at all
    report = json.loads((root.parent / "r2.json").read_text())
    assert report["status"] == "ok" and report["counts"]["posts_skipped"] == len(site.posts())
    assert report["counts"]["posts_fetched"] == 0

    log.write_text("")
    third = run_crawl(replica.url, root, "--at", "2026-11-01T12:00:00Z", "--refresh-days", "0")
    assert third.returncode == 0, third.stderr[-3000:]
    lines = log_lines(log)
    assert post_downloads(lines) == Counter()  # revalidated: every post answered 304 Not Modified
    assert sum(1 for m, t, s in lines if POST_PATH.match(t) and s == 304) == len(site.posts())

    first, second_id, third_id = archive.open(root).snapshots()["snapshot_id"]
    base = frames(root, first)
    for later in (second_id, third_id):
        for name, frame in frames(root, later).items():
            pd.testing.assert_frame_equal(frame, base[name], obj=f"{name} of {later}")


def test_next_day_downloads_exactly_the_new_and_changed_posts(day1, tmp_path: Path) -> None:
    _, root, _ = day1
    day2 = ReplicaSite(day=2)
    changed = {c["post_id"] for c in day2.changes() if c["kind"] in ("post_added", "post_edited")}
    assert len(changed) == 3  # two new posts and one edit
    paths = {p.post_id: p.path for p in day2.posts()}
    log = tmp_path / "access.log"
    with ReplicaProcess(day=2, access_log=log) as replica:
        result = run_crawl(replica.url, root, "--at", "2026-11-02T05:00:00Z", "--refresh-days", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    downloaded = set(post_downloads(log_lines(log)))
    assert downloaded == {paths[pid] for pid in changed}
    latest = archive.open(root).posts(snapshot="latest").set_index("post_id")
    assert set(latest.index) == {p.post_id for p in day2.posts()}
    for post in day2.posts():
        assert latest.loc[post.post_id, "title"] == post.title


@pytest.mark.parametrize("kill_after", [25, 160, "end"])
def test_sigkilled_crawl_is_resumed_to_the_same_snapshot(kill_after, tmp_path: Path) -> None:
    site = ReplicaSite(day=1)
    log = tmp_path / "access.log"
    root = tmp_path / "archive"
    at = "2026-11-01T14:00:00Z"
    with ReplicaProcess(day=1, access_log=log) as replica:
        reference = run_crawl(replica.url, tmp_path / "reference", "--at", at)
        assert reference.returncode == 0
        total = len(log_lines(log))
        log.write_text("")
        command = [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            "--base-url",
            replica.url,
            "--archive",
            str(root),
        ]
        child = subprocess.Popen([*command, "--at", at], cwd=REPO, env=ENV,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        threshold = total if kill_after == "end" else kill_after
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and len(log.read_text().splitlines()) < threshold
            and child.poll() is None
        ):
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        first_lines = log_lines(log)
        committed = set(archive.open(root).snapshots()["snapshot_id"]) if root.exists() else set()
        if kill_after != "end":
            assert committed == set()  # killed mid-crawl: nothing visible to our reader...
            if (root / "listing").exists():  # ...nor to a raw one
                assert pd.read_parquet(root / "listing").empty
        log.write_text("")
        staged_done: set[str] = set()
        if "20261101T140000Z" not in committed:
            staging = archive.SnapshotWriter(root, "seoulsolution", "20261101T140000Z", resume=True)
            staged_done = {url_key(url) for url in staging.journal()}
            staging.close()
        if "20261101T140000Z" in committed:  # killed after its commit had completed: nothing to resume
            resumed = None
        else:  # the next run finds the staged snapshot and resumes it (no --at needed)
            resumed = run_crawl(replica.url, root)
            assert resumed.returncode == 0, resumed.stderr[-3000:]
        second_lines = log_lines(log)

    arch = archive.open(root)
    assert list(arch.snapshots()["snapshot_id"]) == ["20261101T140000Z"]
    posts = arch.posts()
    assert posts["post_id"].is_unique
    assert set(posts["post_id"]) == {p.post_id for p in site.posts()}
    want, got = frames(tmp_path / "reference", "20261101T140000Z"), frames(root, "20261101T140000Z")
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    for name in ("listing", "posts", "post_versions", "partners", "blocks", "failures", "runs"):
        if (root / name).exists():
            pd.read_parquet(root / name)  # every file readable without our package
    # Pages staged before the kill were not downloaded again; only those in flight were.
    again = set(post_downloads(first_lines)) & set(post_downloads(second_lines))
    assert not again & staged_done
    assert len(again) <= len(set(post_downloads(first_lines)) - staged_done)
    if kill_after == 160:
        assert resumed is not None and "Resuming" in resumed.stderr
        assert len(post_downloads(second_lines)) < len(site.posts())


def test_one_crawl_at_a_time_and_stale_locks_are_taken_over(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    log = tmp_path / "access.log"
    # A larger board keeps the first crawl busy (and its lock held) well past the second one's start.
    with ReplicaProcess(day=1, posts=1500, access_log=log) as replica:
        command = [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            "--base-url",
            replica.url,
            "--archive",
            str(root),
        ]
        first = subprocess.Popen([*command, "--at", "2026-11-01T01:00:00Z"], cwd=REPO, env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(log.read_text().splitlines()) < 5:
            time.sleep(0.01)
        started = time.monotonic()
        second = run_crawl(replica.url, root, "--at", "2026-11-01T02:00:00Z")
        assert second.returncode == 75
        assert time.monotonic() - started < 20  # at once, not after the first run
        assert f"pid {first.pid}" in second.stderr and "another crawl" in second.stderr
        assert first.wait(timeout=120) == 0

        holder = subprocess.Popen(
            [sys.executable, "-c", "import archive, sys, time\n"
             f"with archive.crawl_lock({str(root)!r}, 'seoulsolution'):\n"
             "    print('held', flush=True); time.sleep(60)"],
            cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        third = run_crawl(replica.url, root, "--at", "2026-11-01T03:00:00Z")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "took over the stale lock" in third.stderr and str(holder.pid) in third.stderr
    assert len(archive.open(root).snapshots()) == 2


def test_a_redesigned_site_degrades_the_run_and_names_the_monitors(tmp_path: Path) -> None:
    root, report = tmp_path / "archive", tmp_path / "report.json"
    with ReplicaProcess(day=1) as replica:
        assert run_crawl(replica.url, root, "--at", "2026-11-01T01:00:00Z").returncode == 0
    with ReplicaProcess(day=1, redesign=True) as replica:
        result = run_crawl(replica.url, root, "--at", "2026-11-01T02:00:00Z", "--report", str(report))
    assert result.returncode == 3, result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["status"] == "degraded" and data["exit_code"] == 3
    assert {"listing_rows_per_page", "row_count_stable", "selectors_matched"} <= set(data["failed_monitors"])
    assert "monitor selectors_matched FAILED" in result.stdout
    arch = archive.open(root)
    assert list(arch.runs()["status"]) == ["ok", "degraded"]
    failures = arch.failures(snapshot="latest")  # the page that could not be read, with its URL and why
    assert list(failures["url"]) == [replica.url + "/ko/policy-news"]
    assert failures["reason"].item() == "no listing rows matched '.view-content li.views-row'"
    assert failures["stage"].item() == "extract" and arch.runs()["failures"].iloc[-1] == 1


def test_schedule_runs_back_to_back_and_stops_on_sigterm(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    with ReplicaProcess(day=1, posts=40) as replica:
        command = [sys.executable, "-m", "crawler", "schedule", "--every", "1s", "--max-runs", "2",
                   "--base-url", replica.url, "--archive", str(root)]  # fmt: skip
        done = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stderr.count("exited 0 (ok)") == 2
        assert len(archive.open(root).snapshots()) == 2

        command[command.index("1s")] = "1h"
        looping = subprocess.Popen(
            command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(archive.open(root).snapshots()) < 3:
            time.sleep(0.1)
        looping.send_signal(signal.SIGTERM)
        _out, err = looping.communicate(timeout=30)
    assert looping.returncode == 0
    assert "Scheduler stopped after 1 run(s)" in err


def test_retry_after_is_honoured_and_nothing_is_lost(tmp_path: Path) -> None:
    """The replica refuses every 4th post request once with 503 and ``Retry-After: 1``."""
    root, log, report = tmp_path / "archive", tmp_path / "access.log", tmp_path / "report.json"
    with ReplicaProcess(day=1, posts=40, access_log=log, busy_every=4) as replica:
        started = time.monotonic()
        result = run_crawl(replica.url, root, "--max-pages", "1", "--report", str(report))
        seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    lines = log_lines(log)
    refused = [t for m, t, s in lines if s == 503]
    assert len(refused) == 5  # 21 post pages on the first listing page: every 4th refused once
    for target in refused:
        assert (("GET", target, 200)) in lines[lines.index(("GET", target, 503)) :]
    assert seconds >= 1.0  # the crawler waited as asked instead of hammering the server
    data = json.loads(report.read_text())
    assert data["http_statuses"]["503"] == 5 and data["failures_total"] == 0
    assert data["counts"]["posts_fetched"] == 21
