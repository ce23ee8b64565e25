"""Change detection, read-count history and partner history, on snapshots built by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import archive

S1, S2, S3 = "20261101T000000Z", "20261102T000000Z", "20261103T000000Z"
BASE = "https://board.example.kr"
RUN = {"status": "ok"}


def url(pid: str) -> str:
    return f"{BASE}/node/{pid}"


def listing(
    rows: list[tuple[str, bool, int | None]], fetched: datetime | None = None
) -> list[tuple[str, dict]]:
    """(post id, is notice, reads) per row, in page order."""
    return [
        (
            "listing",
            {
                "page": 1,
                "position": i + 1,
                "page_url": f"{BASE}/news",
                "post_id": pid,
                "post_url": url(pid),
                "title": f"목록 제목 {pid}",
                "is_notice": notice,
                "reads": reads,
                "fetched_at": fetched,
            },
        )
        for i, (pid, notice, reads) in enumerate(rows)
    ]


def post(pid: str, **kw: Any) -> tuple[str, dict[str, Any]]:
    row = {
        "post_id": pid,
        "url": url(pid),
        "title": f"제목 {pid}",
        "body_text": f"본문 {pid}",
        "author": "서울시",
        "category": "환경",
        "published": datetime(2026, 10, 1).date(),
        "attachments": [{"name": "a.pdf", "url": f"{BASE}/f/{pid}.pdf", "size": 1}],
        "source_url": None,
    }
    row.update(kw)
    row["content_hash"] = "|".join(
        str(row[k])
        for k in ("title", "body_text", "author", "category", "published", "attachments", "source_url")
    )
    return ("posts", row)


def partner(
    section: str, position: int, name: str, link: str | None, sha: str | None = None
) -> tuple[str, dict]:
    return (
        "partners",
        {"section": section, "position": position, "name": name, "link": link, "logo_sha256": sha},
    )


def block(bid: str, position: int, heading: str, text: str) -> tuple[str, dict]:
    return ("blocks", {"block_id": bid, "position": position, "heading": heading, "text": text})


def commit(root: Path, sid: str, records: list[tuple[str, dict]], site: str = "kr") -> None:
    w = archive.SnapshotWriter(root, site, sid)
    w.stage(f"{BASE}/{sid}", records, kind="test")
    w.commit(RUN)


@pytest.fixture
def two_snapshots(tmp_path: Path) -> Path:
    commit(
        tmp_path,
        S1,
        [
            *listing(
                [
                    ("100", True, 5),
                    ("1", False, 10),
                    ("2", False, 20),
                    ("3", False, 30),
                    ("4", False, 40),
                    ("5", False, 50),
                ]
            ),
            post("100"),
            post("1"),
            post("2"),
            post("3"),
            post("4"),
            post("5"),
            partner("국내", 1, "Alpha", "https://alpha.example"),
            partner("국내", 2, "Beta", "https://beta.example"),
            partner("국내", 3, "Gamma", "https://gamma.example"),
            partner("해외", 1, "Delta", "https://delta.example", "sha-delta"),
            partner("해외", 2, "Epsilon", "https://epsilon.example", "sha-e"),
            block("b1", 1, "소개", "서울은 공유도시입니다."),
            block("b2", 2, "목표", "시민과 함께"),
        ],
    )
    commit(
        tmp_path,
        S2,
        [
            # post 4 is gone from the listing; post 5 is still listed but its page answers 404;
            # post 6 and notice 101 are new
            *listing(
                [
                    ("101", True, 1),
                    ("100", True, 6),
                    ("6", False, 0),
                    ("1", False, 11),
                    ("2", False, 21),
                    ("3", False, 31),
                    ("5", False, 50),
                ]
            ),
            ("post_seen", {"post_id": "100", "url": url("100"), "fetch": "not_modified", "http_status": 304}),
            ("post_seen", {"post_id": "1", "url": url("1"), "fetch": "skipped"}),
            post("2", title="제목 2 (수정)", body_text="본문 2 [수정]"),
            post("3", author="홍길동", attachments=[{"name": "b.pdf", "url": f"{BASE}/f/b.pdf"}]),
            post("6"),
            post("101"),
            ("failures", {"url": url("5"), "stage": "http", "reason": "HTTP 404", "http_status": 404}),
            ("failures", {"url": url("1"), "stage": "http", "reason": "HTTP 500", "http_status": 500}),
            partner("국내", 1, "Alpha Corp", "https://alpha.example"),  # renamed (same link)
            partner("국내", 2, "Beta", "https://beta.example/new"),  # relinked
            partner("해외", 1, "Delta", "https://delta.example", "sha-delta"),
            partner("해외", 2, "Epsilon Ltd", "https://epsilon.example/x", "sha-e"),  # renamed (same logo)
            partner("해외", 3, "Zeta", "https://zeta.example"),  # added
            block("b1", 1, "소개", "서울은 세계와 정책을 공유하는 도시입니다."),
            block("b2", 2, "목표", "시민과 함께"),
            block("b3", 3, "연락처", "02-123-4567"),
        ],
    )
    return tmp_path


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        out.append(
            {
                k: (None if v is pd.NA else v)
                for k, v in r.items()
                if k not in ("old_snapshot", "new_snapshot")
            }
        )
    return out


def test_every_kind_of_change(two_snapshots: Path) -> None:
    a = archive.open(two_snapshots)
    df = a.changes()
    assert list(df.columns) == [
        "kind",
        "post_id",
        "section",
        "name",
        "fields",
        "old",
        "new",
        "old_snapshot",
        "new_snapshot",
    ]
    assert (df["old_snapshot"] == S1).all() and (df["new_snapshot"] == S2).all()
    none = {"post_id": None, "section": None, "name": None, "fields": None, "old": None, "new": None}
    assert records(df) == [
        {**none, "kind": "post_added", "post_id": "6", "new": "제목 6"},
        {**none, "kind": "post_added", "post_id": "101", "new": "제목 101"},  # a new notice counts too
        {**none, "kind": "post_removed", "post_id": "4", "old": "제목 4"},  # gone from the listing
        {**none, "kind": "post_removed", "post_id": "5", "old": "제목 5"},  # listed, but its page is 404
        {
            **none,
            "kind": "post_edited",
            "post_id": "2",
            "fields": ["title", "body"],
            "old": "제목 2",
            "new": "제목 2 (수정)",
        },
        {
            **none,
            "kind": "post_edited",
            "post_id": "3",
            "fields": ["attachments", "author"],
            "old": "제목 3",
            "new": "제목 3",
        },
        {**none, "kind": "partner_added", "section": "해외", "name": "Zeta", "new": "https://zeta.example"},
        {
            **none,
            "kind": "partner_removed",
            "section": "국내",
            "name": "Gamma",
            "old": "https://gamma.example",
        },
        {
            **none,
            "kind": "partner_renamed",
            "section": "국내",
            "name": "Alpha Corp",
            "old": "Alpha",
            "new": "Alpha Corp",
        },
        {
            **none,
            "kind": "partner_renamed",
            "section": "해외",
            "name": "Epsilon Ltd",
            "old": "Epsilon",
            "new": "Epsilon Ltd",
        },
        {
            **none,
            "kind": "partner_relinked",
            "section": "국내",
            "name": "Beta",
            "fields": ["link"],
            "old": "https://beta.example",
            "new": "https://beta.example/new",
        },
        {
            **none,
            "kind": "block_changed",
            "name": "b1",
            "fields": ["text"],
            "old": "서울은 공유도시입니다.",
            "new": "서울은 세계와 정책을 공유하는 도시입니다.",
        },
        {**none, "kind": "block_changed", "name": "b3", "fields": ["heading", "text"], "new": "02-123-4567"},
    ]
    # posts 1 and 100 were not downloaded (their versions carried over): unchanged; a 500 is not a removal
    for col in ("kind", "post_id", "section", "name", "old", "new", "old_snapshot", "new_snapshot"):
        assert df[col].dtype == "string", col
    # the same, named explicitly, or by its new snapshot only
    pd.testing.assert_frame_equal(a.changes(S1, S2), df)
    pd.testing.assert_frame_equal(a.changes(new=S2, site="kr"), df)


def test_changes_selection_rules(two_snapshots: Path) -> None:
    a = archive.open(two_snapshots)
    same = a.changes(S2, S2)
    assert same.empty and list(same.columns) == list(a.changes().columns)
    back = a.changes(S2, S1)  # backwards: what was added is now removed
    assert set(back.loc[back["kind"] == "post_removed", "post_id"]) == {"6", "101"}
    with pytest.raises(KeyError, match="20261105T000000Z"):
        a.changes(S1, "20261105T000000Z")
    with pytest.raises(ValueError, match="snapshot id"):
        a.changes("yesterday", S2)
    commit(two_snapshots, S1, listing([("1", False, 1)]), site="other")
    with pytest.raises(ValueError, match="pass site="):
        a.changes()
    with pytest.raises(ValueError, match="changes need two"):
        a.changes(site="other")
    commit(two_snapshots, S3, listing([("100", True, 7), ("1", False, 12)]))
    assert (a.changes(site="kr")["old_snapshot"] == S2).all()  # defaults: the two latest of the site
    assert set(a.changes(old=S1, site="kr")["new_snapshot"]) == {S3}


def test_reads_history_flags_a_falling_count(tmp_path: Path) -> None:
    t1 = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
    commit(tmp_path, S1, listing([("100", True, 500), ("1", False, 10), ("2", False, 20)], fetched=t1))
    # post 2 listed twice in S2 (it moved between pages while crawling): its first row counts
    commit(tmp_path, S2, listing([("1", False, 15), ("2", False, 18), ("2", False, 99)]))
    commit(tmp_path, S3, listing([("1", False, 15), ("3", False, None), ("2", False, 25)]))
    h = archive.open(tmp_path).reads_history()
    assert list(h.columns) == ["site", "post_id", "snapshot_id", "observed_at", "reads", "delta", "fell"]
    got = [
        (
            r.post_id,
            r.snapshot_id,
            None if pd.isna(r.reads) else r.reads,
            None if pd.isna(r.delta) else r.delta,
            r.fell,
        )
        for r in h.itertuples()
    ]
    assert got == [
        ("1", S1, 10, None, False),
        ("1", S2, 15, 5, False),
        ("1", S3, 15, 0, False),
        ("2", S1, 20, None, False),
        ("2", S2, 18, -2, True),  # fell: never happens on a real board
        ("2", S3, 25, 7, False),
        ("3", S3, None, None, False),
    ]  # the notice (100) is not in the history
    assert h["observed_at"].tolist()[:2] == [pd.Timestamp(t1), pd.Timestamp("2026-11-02", tz="UTC")]
    assert [str(h[c].dtype) for c in h.columns] == [
        "string",
        "string",
        "string",
        "datetime64[us, UTC]",
        "Int64",
        "Int64",
        "boolean",
    ]


def test_partners_history(two_snapshots: Path) -> None:
    commit(
        two_snapshots,
        S3,
        [
            partner("국내", 1, "Alpha Corp", "https://alpha.example", "sha-a2"),
            partner("해외", 1, "Delta", "https://delta.example", "sha-delta-2"),
            partner(
                "해외", 2, "Delta", "https://delta.example/dup", "sha-dup"
            ),  # listed twice: first row counts
        ],
    )
    h = archive.open(two_snapshots).partners_history()
    assert list(h.columns) == [
        "site",
        "section",
        "name",
        "first_seen",
        "last_seen",
        "snapshots",
        "present_in_latest",
        "link",
        "logo_sha256",
        "logo_changes",
    ]
    rows = {(r.section, r.name): r for r in h.itertuples()}
    assert sorted(rows) == sorted(
        [
            ("국내", "Alpha"),
            ("국내", "Alpha Corp"),
            ("국내", "Beta"),
            ("국내", "Gamma"),
            ("해외", "Delta"),
            ("해외", "Epsilon"),
            ("해외", "Epsilon Ltd"),
            ("해외", "Zeta"),
        ]
    )
    d = rows[("해외", "Delta")]
    assert (d.first_seen, d.last_seen, d.snapshots, d.present_in_latest) == (S1, S3, 3, True)
    assert (d.link, d.logo_sha256, d.logo_changes) == ("https://delta.example", "sha-delta-2", 2)
    b = rows[("국내", "Beta")]
    assert (b.first_seen, b.last_seen, b.snapshots, b.present_in_latest, b.link) == (
        S1,
        S2,
        2,
        False,
        "https://beta.example/new",
    )
    g = rows[("국내", "Gamma")]
    assert (g.last_seen, g.snapshots, g.logo_changes) == (S1, 1, 0)  # no logo hash: no change counted
    assert str(h["snapshots"].dtype) == "Int64" and str(h["present_in_latest"].dtype) == "boolean"
