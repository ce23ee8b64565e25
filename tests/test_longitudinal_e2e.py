"""The longitudinal archive on the 7-day demo: change detection against the replica's own list of
changes, posts as they stood on each day, read-count history, storage."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import archive
from crawler.replica import ReplicaSite
from tests.conftest import REPO, Demo

pytestmark = pytest.mark.slow


def change_keys(records: list[dict]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (c["kind"], c.get("post_id") or "", c.get("section") or "", c.get("name") or "") for c in records
    )


def test_diff_of_consecutive_days_lists_exactly_the_replicas_changes(demo: Demo) -> None:
    arch = archive.open(demo.archive)
    ids = list(arch.snapshots()["snapshot_id"])
    assert len(ids) == 7
    for day in range(2, 8):
        want = change_keys(ReplicaSite(day=day).changes())
        got = change_keys(arch.changes(old=ids[day - 2], new=ids[day - 1]).to_dict("records"))
        assert got == want, f"day {day}"
        kinds = {k for k, *_ in want}
        assert {"post_added", "post_edited", "post_removed", "partner_added", "partner_removed"} <= kinds
    assert arch.changes(old=ids[3], new=ids[3]).empty


def test_crawler_diff_prints_the_same_changes(demo: Demo) -> None:
    command = [sys.executable, "-m", "crawler", "diff", "--archive", str(demo.archive)]
    as_json = subprocess.run([*command, "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert change_keys(records) == change_keys(ReplicaSite(day=7).changes())  # default: the two latest
    edited = next(r for r in records if r["kind"] == "post_edited")
    assert edited["fields"] and set(edited["fields"]) <= {"title", "body", "attachments"}
    text = subprocess.run(
        [*command, "20261101T140000Z", "20261102T140000Z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0
    assert text.stdout.startswith("Changes from 20261101T140000Z to 20261102T140000Z: 6")
    assert "Posts added (2):" in text.stdout and "Partners removed (1):" in text.stdout


def test_posts_as_they_stood_each_day_match_the_replica(demo: Demo) -> None:
    """What a full copy of each day's posts would hold, from the replica's own ground truth."""
    arch = archive.open(demo.archive)
    for day, snapshot in enumerate(arch.snapshots()["snapshot_id"], start=1):
        truth = {p.post_id: p for p in ReplicaSite(day=day).posts()}
        posts = arch.posts(snapshot=snapshot).set_index("post_id")
        assert set(posts.index) == set(truth), day
        for post_id, post in truth.items():
            row = posts.loc[post_id]
            assert row["title"] == post.title, (day, post_id)
            assert row["body_text"] == "\n\n".join(post.paragraphs), (day, post_id)
            assert row["published"].date() == post.published and row["author"] == post.author
    versions = arch.post_versions()
    assert len(versions) == len(ReplicaSite(day=1).posts()) + 6 * 3  # two new posts and one edit a day


def test_read_counts_grow_and_never_fall(demo: Demo) -> None:
    history = archive.open(demo.archive).reads_history()
    assert not history["fell"].any()
    growth = history.dropna(subset=["delta"])
    assert (growth["delta"] >= 0).all() and (growth["delta"] > 0).mean() > 0.5
    oda = history[history["post_id"] == "5190"].sort_values("snapshot_id")
    assert oda["reads"].iloc[0] == 11 and oda["reads"].is_monotonic_increasing


def test_seven_days_take_at_most_1_6_times_the_first_snapshot(demo: Demo) -> None:
    match = re.search(r"the first snapshot alone took (\d+) KiB \((\d+\.\d+) times\)", demo.stdout)
    assert match, demo.stdout[-500:]
    assert float(match.group(2)) <= 1.6
    assert int(match.group(1)) > 100  # a real first snapshot: 320 posts with their bodies
