"""Archive schema v2: staging and resume, post_seen, deduplicated versions, post_state, the crawl lock, and
reading the frozen v1 archive."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import archive
from archive import layout
from archive.schema import POSTS_VIEW, VERSION_COLUMNS

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "archive-v1"
S1, S2, S3 = "20261101T000000Z", "20261102T000000Z", "20261103T000000Z"
KST = timezone(timedelta(hours=9))
RUN = {"status": "ok", "code_version": "test"}


def post(pid: str, version: int = 1, **kw: Any) -> dict[str, Any]:
    """A post page as the crawler stages it; ``version`` decides its content (and content hash)."""
    row = {
        "post_id": pid,
        "url": f"https://board.example.kr/node/{pid}",
        "requested_url": f"https://board.example.kr/node/{pid}?from=list",
        "title": f"제목 {pid} v{version}",
        "title_raw": f" 제목 {pid} v{version} ",
        "lang": "ko",
        "category": "환경",
        "listing_title": f"[환경] 제목 {pid} v{version}",
        "title_matches_listing": True,
        "published": date(2026, 10, int(pid) % 28 + 1),
        "published_at": datetime(2026, 10, int(pid) % 28 + 1, 9, 30, tzinfo=KST),
        "published_raw": "2026.10.01 09:30",
        "author": "서울시",
        "author_raw": "작성자: 서울시",
        "reads": 10 * int(pid),
        "reads_raw": f"{10 * int(pid)} READS",
        "body_text": f"본문 {pid} 버전 {version}",
        "body_html": f"<p>본문 {pid} 버전 {version}</p>",
        "attachments": [
            {"name": f"{pid}.pdf", "url": f"https://board.example.kr/f/{pid}.pdf", "size": 1000, "mime": None}
        ],
        "images": [{"src": f"https://board.example.kr/i/{pid}.png", "alt": "사진"}],
        "source_url": None,
        "source_text": None,
        "encoding": "utf-8",
        "http_status": 200,
        "content_hash": f"hash-{pid}-v{version}",
        "etag": f'"{pid}-{version}"',
        "last_modified": "Sun, 01 Nov 2026 00:00:00 GMT",
        "fetched_at": datetime(2026, 11, 1, 0, 0, int(pid) % 60, 123456, tzinfo=UTC),
    }
    row.update(kw)
    return row


def seen(pid: str, fetch: str, **kw: Any) -> dict[str, Any]:
    row = {"post_id": pid, "url": f"https://board.example.kr/node/{pid}", "fetch": fetch}
    row["http_status"] = 304 if fetch == "not_modified" else None
    row.update(kw)
    return row


def listing_page(page: int, pids: list[str], reads: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "listing",
            {
                "page": page,
                "position": i + 1,
                "page_url": f"https://board.example.kr/news?page={page}",
                "title": f"제목 {pid}",
                "post_id": pid,
                "post_url": f"https://board.example.kr/node/{pid}",
                "reads": reads + i,
            },
        )
        for i, pid in enumerate(pids)
    ]


# -- staging -------------------------------------------------------------------------------------


def test_stage_journal_upserts_and_exact_values(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    rows = [("listing", {**r, "post_id": None}) for _, r in listing_page(1, ["1", "2", "3"])]
    at = datetime(2026, 11, 1, 9, 0, 0, 999_999, tzinfo=KST)  # aware, not UTC, with microseconds
    rows.append(("listing", {**rows[0][1], "position": 9, "published": date(1999, 12, 31), "fetched_at": at}))
    w.stage("https://board.example.kr/news?page=1", rows, kind="listing", info={"page": 1, "next": "?page=2"})
    # the post page of row 2: the post, and its listing row again, now with its id (same key: replaced)
    w.stage(
        "https://board.example.kr/node/2",
        [("posts", post("2")), ("listing", listing_page(1, ["1", "2", "3"])[1][1])],
        kind="post",
        info={},
    )
    w.stage(
        "https://board.example.kr/partners",
        [("partners", {"section": "s", "position": 1, "name": "A"})],
        kind="front",
    )
    w.stage(
        "https://board.example.kr/logo/a.png",
        [("partners", {"section": "s", "position": 1, "name": "A", "logo_sha256": "ab"})],
        kind="logo",
    )
    assert w.journal() == {
        "https://board.example.kr/news?page=1": ("listing", {"page": 1, "next": "?page=2"}),
        "https://board.example.kr/node/2": ("post", {}),
        "https://board.example.kr/partners": ("front", {}),
        "https://board.example.kr/logo/a.png": ("logo", {}),
    }
    assert w.counts == {"listing": 4, "posts": 1, "post_seen": 0, "partners": 1, "blocks": 0, "failures": 0}
    staged = list(w.staged("listing"))
    assert [(r["position"], r.get("post_id")) for r in staged] == [(1, None), (2, "2"), (3, None), (9, None)]
    assert staged[3]["published"] == date(1999, 12, 31) and type(staged[3]["published"]) is date
    assert staged[3]["fetched_at"] == at and staged[3]["fetched_at"].utcoffset() == timedelta(0)
    (p,) = w.staged("posts")
    assert p["published_at"] == post("2")["published_at"] and p["attachments"][0]["size"] == 1000
    # Some columns only: the same values, decoded alike, and nothing else.
    some = list(w.staged("listing", ["published", "fetched_at", "post_id"]))
    assert some == [{k: r[k] for k in ("published", "fetched_at", "post_id")} for r in staged]
    assert type(some[3]["published"]) is date and some[3]["fetched_at"].utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match=r"posts: unknown column\(s\) \['nope'\]"):
        next(w.staged("posts", ["title", "nope"]))
    assert [r.get("logo_sha256") for r in w.staged("partners")] == [
        "ab"
    ]  # the logo's hash updated the partner
    w.commit(RUN)
    a = archive.open(tmp_path)
    listing = a.listing()
    assert listing["position"].tolist() == [1, 2, 3, 9] and listing["post_id"].tolist()[:3] == [
        pd.NA,
        "2",
        pd.NA,
    ]
    assert listing["fetched_at"].iloc[3] == pd.Timestamp("2026-11-01 00:00:00.999999", tz="UTC")
    assert a.posts()["published_at"].iloc[0] == pd.Timestamp("2026-10-03 00:30", tz="UTC")
    manifest = json.loads(layout.manifest_path(tmp_path, "kr", S1).read_text())
    assert manifest["staging"]["sources"] == 4 and manifest["staging"]["resumes"] == 0


def test_stage_is_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.stage("https://x/1", listing_page(1, ["1"]), kind="listing")
    db = w._db
    assert db is not None
    real = db.con

    class Failing:  # the database fails in the middle of the call, after the listing rows went in
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("INSERT INTO journal"):
                raise sqlite3.OperationalError("disk I/O error (simulated)")
            return real.execute(sql, *args)

    monkeypatch.setattr(db, "con", Failing())
    with pytest.raises(sqlite3.OperationalError):
        w.stage("https://x/2", [*listing_page(2, ["2", "3"]), ("posts", post("2"))], kind="listing")
    monkeypatch.undo()
    assert list(w.journal()) == ["https://x/1"] and w.counts["listing"] == 1 and w.counts["posts"] == 0
    w.stage("https://x/2", listing_page(2, ["2", "3"]), kind="listing")  # and the writer goes on
    assert w.counts["listing"] == 3
    w.abort()


def test_deferred_pages_are_staged_together_in_order(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.stage("https://x/1", listing_page(1, ["1"]), kind="listing", defer=True)
    w.stage("https://x/2", listing_page(2, ["2"]), kind="listing", defer=True)
    db = w._db
    assert db is not None
    assert db.count("listing") == 0 and db.journal() == {}  # checked, not written yet
    with pytest.raises(ValueError, match="unknown dataset"):  # a bad page is refused when deferred
        w.stage("https://x/bad", [("nope", {})], kind="listing", defer=True)
    w.stage("https://x/3", listing_page(3, ["3"]), kind="listing")  # a plain stage flushes first
    assert list(db.journal()) == ["https://x/1", "https://x/2", "https://x/3"]
    w.stage("https://x/4", listing_page(4, ["4"]), kind="listing", defer=True)
    assert list(w.journal()) == [f"https://x/{i}" for i in range(1, 5)]  # reading flushes
    w.stage("https://x/5", listing_page(5, ["5"]), kind="listing", defer=True)
    assert w.counts["listing"] == 5
    w.abort()


def test_a_kill_before_the_flush_loses_only_the_deferred_pages(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.stage("https://x/1", listing_page(1, ["1"]), kind="listing")
    w.stage("https://x/2", listing_page(2, ["2"]), kind="listing", defer=True)
    assert w._db is not None
    w._db.con.close()  # the process dies: nothing runs after this
    resumed = archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    assert list(resumed.journal()) == ["https://x/1"] and resumed.counts["listing"] == 1
    resumed.abort()


def test_a_flush_that_fails_stages_the_pages_it_can_and_names_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    for page in (1, 2, 3):
        w.stage(f"https://x/{page}", listing_page(page, [str(page)]), kind="listing", defer=True)
    db = w._db
    assert db is not None
    real = db.con

    class Failing:  # the journal entry of page 2 cannot be written
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("INSERT INTO journal") and args[0][0] == "https://x/2":
                raise sqlite3.OperationalError("disk I/O error (simulated)")
            return real.execute(sql, *args)

    monkeypatch.setattr(db, "con", Failing())
    with pytest.raises(archive.StageError) as caught:
        w.flush()
    monkeypatch.undo()
    assert list(caught.value.failed) == ["https://x/2"] and "disk I/O" in caught.value.failed["https://x/2"]
    assert list(w.journal()) == ["https://x/1", "https://x/3"] and w.counts["listing"] == 2
    w.abort()


def test_resume_rules_resumable_and_discard(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing staged"):
        archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    w = archive.SnapshotWriter(tmp_path, "kr", S1, code_version="9.9")
    w.stage("https://x/1", listing_page(1, ["1", "2"]), kind="listing", info={"page": 1})
    w.close()  # the process dies here
    with pytest.raises(FileExistsError, match=r"resume=True"):
        archive.SnapshotWriter(tmp_path, "kr", S1)
    (entry,) = archive.resumable(tmp_path, "kr")
    assert entry["snapshot_id"] == S1 and entry["resumable"] is True and entry["reason"] is None
    assert entry["code_version"] == "9.9" and entry["schema_version"] == archive.SCHEMA_VERSION
    assert entry["sources_done"] == 1 and entry["rows"]["listing"] == 2 and entry["resumes"] == 0
    assert datetime.fromisoformat(entry["created_at"].replace("Z", "+00:00")) > datetime.now(UTC) - timedelta(
        minutes=5
    )

    w = archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    assert w.journal() == {"https://x/1": ("listing", {"page": 1})} and w.meta["resumes"] == 1
    w.stage("https://x/2", listing_page(2, ["3"]), kind="listing")
    w.close()
    assert archive.resumable(tmp_path, "kr")[0]["resumes"] == 1

    # a staging written by another schema version is not resumable, and says why
    con = sqlite3.connect(layout.staging_dir(tmp_path, "kr", S1) / layout.STAGE_DB)
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    (entry,) = archive.resumable(tmp_path, "kr")
    assert entry["resumable"] is False and "schema version 3" in entry["reason"]
    with pytest.raises(ValueError, match="schema version 3"):
        archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    archive.discard(tmp_path, "kr", S1)
    assert archive.resumable(tmp_path, "kr") == [] and not layout.staging_dir(tmp_path, "kr", S1).exists()
    archive.discard(tmp_path, "kr", S1)  # nothing left: a no-op

    # a staging dir left by a v1 writer (Parquet parts) is listed as not resumable
    v1_stage = layout.staging_dir(tmp_path, "kr", S2) / "listing"
    v1_stage.mkdir(parents=True)
    (v1_stage / "part-00000.parquet.inprogress").write_bytes(b"PAR1")
    (entry,) = archive.resumable(tmp_path, "kr")
    assert entry["resumable"] is False and "schema version 1" in entry["reason"]
    # discard keeps orphans that recovery moved aside
    orphans = layout.staging_dir(tmp_path, "kr", S2) / layout.ORPHANS_DIR
    orphans.mkdir()
    archive.discard(tmp_path, "kr", S2)
    assert orphans.exists() and not v1_stage.exists() and archive.resumable(tmp_path, "kr") == []


def test_a_failed_commit_is_retried_by_a_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.stage("https://x/1", [*listing_page(1, ["1"]), ("posts", post("1"))], kind="listing")

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device (simulated)")

    from archive import files

    monkeypatch.setattr(files.FileWriter, "finish", full_disk)
    with pytest.raises(OSError, match="No space"):
        w.commit(RUN)
    monkeypatch.undo()
    assert archive.open(tmp_path).snapshots().empty
    assert not list(tmp_path.glob("*/site=kr/*.parquet"))  # nothing where raw readers look
    assert [e["resumable"] for e in archive.resumable(tmp_path, "kr")] == [True]
    w = archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    w.commit(RUN)
    assert archive.open(tmp_path).posts()["post_id"].tolist() == ["1"]


# -- post_seen and deduplicated versions ---------------------------------------------------------


def test_post_seen_carries_the_known_version_forward(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.stage("l1", listing_page(1, ["1", "2", "3"]), kind="listing")
    for pid in "123":
        w.stage(f"p{pid}", [("posts", post(pid))], kind="post")
    w.commit(RUN)

    w = archive.SnapshotWriter(tmp_path, "kr", S2)
    w.stage("l1", listing_page(1, ["1", "2", "3"], reads=5), kind="listing")
    w.stage("p1", [("post_seen", seen("1", "not_modified", etag=None))], kind="post")  # a 304 without ETag
    w.stage("p2", [("post_seen", seen("2", "skipped"))], kind="post")
    # post 3 was first planned as skipped, then downloaded after all: the download wins
    w.stage("p3a", [("post_seen", seen("3", "skipped"))], kind="post")
    w.stage(
        "p3b", [("posts", post("3", reads=99, fetched_at=datetime(2026, 11, 2, tzinfo=UTC)))], kind="post"
    )
    w.commit({**RUN, "posts": None})
    a = archive.open(tmp_path)
    obs = a.post_obs(snapshot=S2).set_index("post_id")
    assert obs.loc["1", "fetch"] == "not_modified" and obs.loc["1", "http_status"] == 304
    assert obs.loc["1", "etag"] == '"1-1"'  # the known validator is kept for the next request
    assert obs.loc["2", "fetch"] == "skipped" and pd.isna(obs.loc["2", "http_status"])
    assert obs.loc["3", "fetch"] == "fetched" and obs.loc["3", "reads"] == 99
    for pid in "12":  # the time of the last real download, and the listing fields, carried over
        assert obs.loc[pid, "fetched_at"] == pd.Timestamp(post(pid)["fetched_at"])
        assert obs.loc[pid, "listing_title"] == post(pid)["listing_title"]
        assert obs.loc[pid, "content_hash"] == post(pid)["content_hash"]
    assert a.post_versions()["post_id"].tolist() == ["1", "2", "3"]  # nothing new: one version each
    first, second = a.posts(snapshot=S1), a.posts(snapshot=S2)
    same = [
        c
        for c in POSTS_VIEW.names
        if c not in ("snapshot_id", "http_status", "fetch", "reads", "reads_raw", "fetched_at")
    ]
    pd.testing.assert_frame_equal(first[same].iloc[:2], second[same].iloc[:2])
    assert second["fetch"].tolist() == ["not_modified", "skipped", "fetched"]
    run = a.runs(snapshot=S2).iloc[0]
    assert (run["posts_fetched"], run["posts_not_modified"], run["posts_skipped"], run["posts"]) == (
        1,
        1,
        1,
        3,
    )


def full_copy_row(sid: str, row: dict[str, Any], fetch: str = "fetched") -> dict[str, Any]:
    """What a full-copy layout stores for a post in a snapshot: the whole row, as given."""
    return {
        "snapshot_id": sid,
        **{c: row.get(c) for c in POSTS_VIEW.names if c != "snapshot_id"},
        "fetch": fetch,
    }


def test_dedup_stores_each_version_once_and_reads_like_full_copies(tmp_path: Path) -> None:
    """Post 1 unchanged in 3 snapshots (re-downloaded each time): one version. Post 2 edited in S2: two.
    Post 4 downloaded once, then carried by post_seen. ``.posts()`` of each snapshot equals the frame a
    full-copy layout would hold, built here without the archive."""
    plan = {
        S1: {"1": post("1"), "2": post("2"), "4": post("4")},
        S2: {
            "1": post("1", reads=11, fetched_at=datetime(2026, 11, 2, tzinfo=UTC)),
            "2": post("2", version=2),
            "4": seen("4", "not_modified"),
        },
        S3: {
            "1": post("1", reads=12, fetched_at=datetime(2026, 11, 3, tzinfo=UTC)),
            "2": post("2", version=2),
            "3": post("3"),
            "4": seen("4", "skipped"),
        },
    }
    expected: dict[str, list[dict[str, Any]]] = {}
    last_full: dict[str, dict[str, Any]] = {}
    for sid, posts in plan.items():
        w = archive.SnapshotWriter(tmp_path, "kr", sid)
        w.stage("l1", listing_page(1, list(posts)), kind="listing")
        expected[sid] = []
        for pid, row in posts.items():
            if "fetch" in row:  # not downloaded: a full copy would repeat the last download
                w.stage(f"p{pid}", [("post_seen", row)], kind="post")
                carried = {**last_full[pid], "http_status": row["http_status"]}
                expected[sid].append(full_copy_row(sid, carried, row["fetch"]))
            else:
                w.stage(f"p{pid}", [("posts", row)], kind="post")
                last_full[pid] = row
                expected[sid].append(full_copy_row(sid, row))
        w.commit(RUN)

    a = archive.open(tmp_path)
    versions = a.post_versions()
    assert list(
        zip(
            versions["post_id"],
            versions["content_hash"],
            versions["first_seen"],
            versions["last_seen"],
            strict=True,
        )
    ) == [
        ("1", "hash-1-v1", S1, S3),
        ("2", "hash-2-v1", S1, S1),
        ("4", "hash-4-v1", S1, S3),
        ("2", "hash-2-v2", S2, S3),
        ("3", "hash-3-v1", S3, S3),
    ]
    assert a.snapshots()["rows_post_versions"].tolist() == [3, 1, 1]
    assert a.snapshots()["rows_post_obs"].tolist() == [3, 3, 4]
    for sid, rows in expected.items():
        got = a.posts(snapshot=sid).drop(columns=["site"])
        want = archive.to_pandas(pa.Table.from_pylist(rows, schema=POSTS_VIEW))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_dtype=True)
    # every snapshot at once, too
    assert len(a.posts()) == 10 and a.posts()["snapshot_id"].tolist() == [S1] * 3 + [S2] * 3 + [S3] * 4


def test_a_version_keeps_its_first_download_of_unhashed_columns(tmp_path: Path) -> None:
    """The content hash defines a version. A later download with the same hash but another body_html (a
    markup change the hash does not cover) is an observation of the same version: its first download's
    body_html is what the archive keeps (documented)."""
    for sid, html in ((S1, "<p>first</p>"), (S2, "<div>second</div>")):
        w = archive.SnapshotWriter(tmp_path, "kr", sid)
        w.stage("p1", [("posts", post("1", body_html=html))], kind="post")
        w.commit(RUN)
    a = archive.open(tmp_path)
    assert a.posts()["body_html"].tolist() == ["<p>first</p>", "<p>first</p>"]
    assert len(a.post_versions()) == 1


def test_post_state(tmp_path: Path) -> None:
    a0 = archive.SnapshotWriter(tmp_path, "kr", S1)
    a0.stage("p1", [("posts", post("1")), ("posts", post("2")), ("posts", post("3"))], kind="post")
    a0.commit(RUN)
    w = archive.SnapshotWriter(tmp_path, "kr", S2)
    w.stage("p1", [("post_seen", seen("1", "not_modified", etag='"new"'))], kind="post")
    w.stage(
        "p2", [("posts", post("2", version=2, fetched_at=datetime(2026, 11, 2, tzinfo=UTC)))], kind="post"
    )
    w.commit(RUN)  # post 3 is not observed in S2 (e.g. it dropped off the listing)
    state = archive.open(tmp_path).post_state("kr")
    assert list(state.columns) == [
        "post_id",
        "url",
        "requested_url",
        "content_hash",
        "title",
        "listing_title",
        "etag",
        "last_modified",
        "fetched_at",
        "last_seen",
    ]
    assert state["post_id"].tolist() == ["1", "2", "3"]
    assert state["last_seen"].tolist() == [S2, S2, S1]
    assert state["etag"].tolist() == ['"new"', '"2-2"', '"3-1"']
    assert state["content_hash"].tolist() == ["hash-1-v1", "hash-2-v2", "hash-3-v1"]
    assert state["title"].tolist() == ["제목 1 v1", "제목 2 v2", "제목 3 v1"]
    assert state["fetched_at"].tolist() == [
        pd.Timestamp(post("1")["fetched_at"]),
        pd.Timestamp("2026-11-02", tz="UTC"),
        pd.Timestamp(post("3")["fetched_at"]),
    ]
    assert str(state["fetched_at"].dtype) == "datetime64[us, UTC]" and state["url"].dtype == "string"
    empty = archive.open(tmp_path).post_state("other")
    assert empty.empty and list(empty.columns) == list(state.columns)
    assert empty.dtypes.equals(state.dtypes)


def test_stage_cost_smoke(tmp_path: Path) -> None:
    """stage() runs on the reactor thread once per page: a 21-row listing page and a 1-post page must
    stay far below a millisecond (the limit here is generous: test machines are shared and noisy)."""
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    now = datetime.now(UTC)
    lt, pt = [], []
    for page in range(60):
        rows = [
            (
                "listing",
                {
                    **r,
                    "published": date(2026, 1, 2),
                    "fetched_at": now,
                    "title_raw": r["title"],
                    "is_notice": False,
                    "truncated": False,
                    "author": "서울시",
                    "reads_raw": "1 READS",
                },
            )
            for _, r in listing_page(page, [str(page * 21 + i) for i in range(21)])
        ]
        t = time.perf_counter()
        w.stage(f"l{page}", rows, kind="listing", info={"page": page})
        lt.append(time.perf_counter() - t)
        t = time.perf_counter()
        w.stage(f"p{page}", [("posts", post(str(page + 1)))], kind="post")
        pt.append(time.perf_counter() - t)
    listing_us, post_us = statistics.median(lt) * 1e6, statistics.median(pt) * 1e6
    print(f"stage(): {listing_us:.0f} µs per 21-row listing page, {post_us:.0f} µs per post page")
    assert listing_us < 3000 and post_us < 1500
    w.abort()


# -- the crawl lock ----------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    import archive
    with archive.crawl_lock(sys.argv[1], "kr") as lock:
        print("locked", lock.took_over is not None, flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
    """
)


def start_holder(root: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), str(seconds)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("locked")
    return proc


def test_crawl_lock_refuses_a_second_run_and_names_the_holder(tmp_path: Path) -> None:
    archive.SnapshotWriter(tmp_path, "kr", S1).commit(RUN)
    proc = start_holder(tmp_path, 30)
    try:
        t = time.monotonic()
        with pytest.raises(archive.ArchiveLocked) as exc, archive.crawl_lock(tmp_path, "kr"):
            pass
        assert time.monotonic() - t < 1.0  # fails fast, never waits
        assert f"pid {proc.pid}" in str(exc.value) and exc.value.holder["pid"] == proc.pid
        assert exc.value.holder["started_at"] in str(exc.value)
        with archive.crawl_lock(tmp_path, "other-site") as lock:  # one lock per site
            assert lock.took_over is None
        with pytest.raises(archive.ArchiveLocked):
            archive.compact(tmp_path, site="kr")  # compaction never runs under a crawl
    finally:
        proc.kill()
        proc.wait()


def test_crawl_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    proc = start_holder(tmp_path, 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with archive.crawl_lock(tmp_path, "kr", argv=["crawler", "crawl"]) as lock:
        assert lock.took_over is not None and lock.took_over["pid"] == proc.pid
        assert lock.info["pid"] == os.getpid() and lock.info["argv"] == ["crawler", "crawl"]
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        with (
            pytest.raises(archive.ArchiveLocked, match=f"pid {os.getpid()}"),
            archive.crawl_lock(tmp_path, "kr"),
        ):
            pass  # not re-entrant, even in the same process
    # released cleanly: the next holder takes over nothing
    proc = start_holder(tmp_path, 0)
    assert proc.stdout is not None
    assert proc.stdout.read().strip() == "released" and proc.wait() == 0
    with archive.crawl_lock(tmp_path, "kr") as lock:
        assert lock.took_over is None


# -- the frozen v1 archive -------------------------------------------------------------------


def fixture_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(FIXTURE.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(FIXTURE)).encode() + p.read_bytes())
    return h.hexdigest()


def test_the_frozen_v1_archive_reads(tmp_path: Path) -> None:
    before = fixture_digest()
    a = archive.open(FIXTURE)
    d1, d2 = "20261101T140000Z", "20261102T140000Z"
    assert a.sites() == ["seoulsolution"]
    snaps = a.snapshots()
    assert snaps["snapshot_id"].tolist() == [d1, d2] and snaps["schema_version"].tolist() == [1, 1]
    assert snaps["rows_listing"].tolist() == [13, 14] and snaps["rows_post_obs"].tolist() == [13, 14]
    assert snaps["rows_post_versions"].tolist() == [13, 4]  # 2 new posts and 2 new versions on day 2
    assert snaps["code_version"].tolist() == ["0.1.0", "0.1.0"]

    listing = a.listing(snapshot=d1)
    assert listing["position"].tolist() == list(range(1, 14))  # natural order, whatever the file order
    seed = listing.set_index("post_id")
    assert seed.loc["9566", "title"] == "카트만두 대표단, 서울 빅데이터 정책 벤치마킹 방문"
    assert (
        seed.loc["9566", "published"] == pd.Timestamp("2024-12-24")
        and seed.loc["9566", "author"] == "seouladmin"
    )
    assert seed.loc["9566", "reads"] == 3977 and bool(seed.loc["9700", "is_notice"])
    assert seed.loc["8022", "author"] == "정책아카이브"
    for col, dtype in {
        "page": "Int32",
        "reads": "Int64",
        "is_notice": "boolean",
        "published": "datetime64[ms]",
        "fetched_at": "datetime64[us, UTC]",
        "title": "string",
        "snapshot_id": "string",
    }.items():
        assert str(listing[col].dtype) == dtype, col

    posts = a.posts(snapshot=d2)
    assert len(posts) == 14 and list(posts.columns) == ["site", *POSTS_VIEW.names]
    p = posts.set_index("post_id")
    assert p.loc["9702", "title"] == "Seoul and Ulaanbaatar Agree to Cooperate on Big Data Campus"
    assert (
        p.loc["9702", "published"] == pd.Timestamp("2026-11-02") and p.loc["9702", "author"] == "sharinghub"
    )
    assert p.loc["8811", "attachments"][0]["name"] == "Press_Release_2023.hwp"
    assert (posts["fetch"] == "fetched").all() and str(posts["attachments"].dtype) == "object"

    partners = a.partners(snapshot=d1)
    assert len(partners) == 27 and {"ADB", "KDI", "국토연구원"} <= set(partners["name"])
    assert a.blocks(snapshot=d2)["block_id"].tolist() == [
        "block-miti",
        "block-sharing-city",
        "block-sharing-city-why",
    ]
    assert a.failures().empty and str(a.failures()["http_status"].dtype) == "Int32"
    runs = a.runs()
    assert runs["requests"].tolist() == [43, 44] and runs["schema_version"].tolist() == [1, 1]
    assert runs["posts_fetched"].isna().all()  # v2 columns a v1 run did not record

    changes = a.changes()
    assert list(
        zip(changes["kind"], changes["post_id"].fillna(""), changes["name"].fillna(""), strict=True)
    ) == [
        ("post_added", "9702", ""),
        ("post_added", "9705", ""),
        ("post_removed", "9566", ""),
        ("post_edited", "8702", ""),
        ("post_edited", "8811", ""),  # the replica's port inside the attachment URL changed its hash
        ("partner_added", "", "UCLG"),
        ("partner_removed", "", "CLC"),
    ]
    assert changes["fields"].tolist()[3:5] == [["body"], ["attachments"]]
    assert fixture_digest() == before  # reading never writes


def test_a_writer_refuses_a_v1_archive(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "a"
    shutil.copytree(FIXTURE, root)
    with pytest.raises(archive.ArchiveFormatError, match="crawler compact"):
        archive.SnapshotWriter(root, "seoulsolution", "20261103T140000Z")
    with pytest.raises(archive.ArchiveFormatError, match="v1 layout"):
        archive.SnapshotWriter(root, "another-site", "20261103T140000Z")  # any v1 snapshot in the root
    assert not layout.staging_dir(root, "seoulsolution", "20261103T140000Z").exists()


def test_version_columns_are_the_post_columns_outside_the_observation() -> None:
    from archive.schema import POST_OBS, PROVENANCE_COLUMNS, V1_POSTS

    assert set(VERSION_COLUMNS) | (
        set(POST_OBS.names) - {"snapshot_id", "fetch", "etag", "last_modified"}
    ) == set(V1_POSTS.names) | set(PROVENANCE_COLUMNS)
    assert not set(VERSION_COLUMNS) & set(POST_OBS.names)
