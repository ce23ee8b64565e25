"""The archive's format (schema v2): real Parquet files committed by SnapshotWriter and read back by every
reader — our API, pandas, pyarrow and DuckDB."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import archive
from archive import layout
from archive.schema import DATASETS, POSTS_VIEW, SCHEMA_VERSION, SCHEMA_VERSION_KEY, STAGE_DATASETS

KST = timezone(timedelta(hours=9))
S1, S2, S3 = "20261101T000000Z", "20261102T000000Z", "20261103T000000Z"

# -- one fully populated row and one sparse row per dataset --------------------------------------

FULL: dict[str, dict[str, Any]] = {
    "listing": {
        "page": 1,
        "position": 3,
        "page_url": "https://board.example.kr/news?page=1",
        "title_raw": "[공지] 2026년 스마트도시 정책 브리핑..",
        "title": "2026년 스마트도시 정책 브리핑",
        "category": "공지",
        "truncated": True,
        "is_notice": False,
        "post_url": "https://board.example.kr/node/1234",
        "post_id": "1234",
        "published": date(2026, 10, 31),
        "published_at": datetime(2026, 10, 31, 9, 30, tzinfo=KST),  # aware, not UTC
        "published_raw": "2026.10.31 09:30",
        "author": "홍길동",
        "author_raw": "작성자: 홍길동",
        "reads": 12_345,
        "reads_raw": "12,345",
        "fetched_at": datetime(2026, 11, 1, 0, 0, 5),  # naive: taken as UTC
    },
    "posts": {
        "post_id": "1234",
        "url": "https://board.example.kr/node/1234",
        "requested_url": "https://board.example.kr/node/1234?page=1",
        "title": "Smart City Policy Briefing 2026",
        "title_raw": "Smart City Policy Briefing 2026 ",
        "lang": "en",
        "category": "Notice",
        "listing_title": "Smart City Policy..",
        "title_matches_listing": True,
        "published": date(2026, 1, 2),
        "published_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "published_raw": "Jan 2, 2026",
        "author": "Seoul",
        "author_raw": "By Seoul",
        "reads": 0,
        "reads_raw": "0",
        "body_text": "서울시는 … 정책을 발표했다.\nSecond line",
        "body_html": "<p>서울시는 … 정책을 발표했다.</p>",
        "attachments": [
            {
                "name": "브리핑.pdf",
                "url": "https://board.example.kr/f/1.pdf",
                "size": 2**40,
                "mime": "application/pdf",
            },
            {"name": "data.xlsx", "url": "https://board.example.kr/f/2.xlsx"},  # missing keys -> null
        ],
        "images": [{"src": "https://board.example.kr/i/1.png", "alt": "지도"}],
        "source_url": "https://seoul.go.kr/x",
        "source_text": "서울특별시",
        "encoding": "utf-8",
        "http_status": 200,
        "content_hash": "ab" * 32,
        "fetched_at": datetime(2026, 11, 1, 9, 0, tzinfo=KST),
    },
    "partners": {
        "section": "Global Partners",
        "position": 1,
        "name": "세계은행",
        "alt_raw": "World Bank logo",
        "link": "https://worldbank.org",
        "logo_url": "https://board.example.kr/logo/wb.png",
        "page_url": "https://board.example.kr/partners",
        "logo_sha256": "cd" * 32,
        "logo_bytes": 5_000_000_000,
        "logo_type": "image/png",
        "fetched_at": datetime(2026, 11, 1, tzinfo=UTC),
    },
    "blocks": {
        "block_id": "about-1",
        "position": 1,
        "heading": "소개",
        "text": "Seoul Solution shares 서울's policies.",
        "lang": "ko",
        "page_url": "https://board.example.kr/about",
        "fetched_at": datetime(2026, 11, 1, tzinfo=UTC),
    },
    "failures": {
        "url": "https://board.example.kr/node/9",
        "stage": "http",
        "reason": "HTTP 404",
        "http_status": 404,
        "referer": "https://board.example.kr/news?page=3",
        "at": datetime(2026, 11, 1, 0, 1, tzinfo=UTC),
    },
}
SPARSE: dict[str, dict[str, Any]] = {
    "listing": {"page": 2, "position": 1, "page_url": "https://board.example.kr/news?page=2"},
    "posts": {"post_id": "9", "url": "https://board.example.kr/node/9", "attachments": [], "images": None},
    "partners": {"section": "s", "position": 2, "name": "n"},
    "blocks": {"block_id": "b", "position": 2},
    "failures": {"url": "u", "stage": "download", "reason": "timeout"},
}
RUN = {
    "profile": "seoulsolution",
    "base_url": "https://board.example.kr",
    "logical_time": datetime(2026, 11, 1),
    "started_at": datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC),
    "finished_at": datetime(2026, 11, 1, 0, 5, 1, tzinfo=UTC),
    "duration_s": 300.25,
    "status": "ok",
    "finish_reason": "finished",
    "requests": 10,
    "responses": 9,
    "response_bytes": 123_456,
    "listing_pages": 1,
    "listing_rows": 2,
    "posts": 2,
    "partners": 2,
    "blocks": 2,
    "failures": 2,
    "http_statuses": json.dumps({"200": 8, "404": 1}),
    "code_version": "0.1.0+test",
    "stats_json": "{}",
}

EXPECTED_DTYPES = {  # what each Arrow type becomes in the DataFrames of archive.open()
    pa.int32(): "Int32",
    pa.int64(): "Int64",
    pa.bool_(): "boolean",
    pa.string(): "string",
    pa.float64(): "float64",
    pa.date32(): "datetime64[ms]",
    pa.timestamp("us", tz="UTC"): "datetime64[us, UTC]",
}


def expected_value(v: Any) -> Any:
    """The value a row given to write() comes back as from archive.open()."""
    if isinstance(v, datetime):
        ts = pd.Timestamp(v)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if isinstance(v, date):
        return pd.Timestamp(v)
    return v


def output_fields(dataset: str) -> list[pa.Field]:
    """The columns archive.open() returns after site and snapshot_id."""
    schema = POSTS_VIEW if dataset == "posts" else DATASETS[dataset]
    return [f for f in schema if f.name != "snapshot_id"]


def assert_row(df: pd.DataFrame, i: int, dataset: str, given: dict[str, Any]) -> None:
    for field in output_fields(dataset):
        if field.name not in given and dataset == "posts" and field.name == "fetch":
            assert df["fetch"].iloc[i] == "fetched"
            continue
        actual = df[field.name].iloc[i]
        want = given.get(field.name)
        if pa.types.is_list(field.type):
            if want is not None:  # missing struct keys come back as None
                keys = [f.name for f in field.type.value_type]
                want = [{k: item.get(k) for k in keys} for item in want]
            assert actual == want, (dataset, field.name)
        elif want is None:
            assert pd.isna(actual), (dataset, field.name, actual)
        else:
            assert actual == expected_value(want), (dataset, field.name, actual, want)


def write_snapshot(
    root: Path, site: str, sid: str, rows: dict[str, list[dict[str, Any]]], **kw: Any
) -> archive.SnapshotWriter:
    w = archive.SnapshotWriter(root, site, sid, **kw)
    for dataset, rs in rows.items():
        w.write_many(dataset, rs)
    w.commit(RUN)
    return w


def listing_rows(n: int, start: int = 0, title: str = "제목") -> list[dict[str, Any]]:
    return [
        {"page": 1 + i // 10, "position": i, "page_url": f"p{i}", "title": f"{title} {i}", "reads": i * 10}
        for i in range(start, start + n)
    ]


# -- names -------------------------------------------------------------------------------------


def test_snapshot_ids() -> None:
    assert archive.snapshot_id_for(datetime(2026, 11, 1)) == "20261101T000000Z"
    assert archive.snapshot_id_for(datetime(2026, 11, 1, 8, 59, 59, 999999, tzinfo=KST)) == "20261031T235959Z"
    assert archive.parse_snapshot_id("20261101T000000Z") == datetime(2026, 11, 1, tzinfo=UTC)
    assert archive.parse_snapshot_id("20261101T000000Z").tzinfo is not None
    for bad in [
        "20261101T000000",
        "2026-11-01T00:00:00Z",
        "20261301T000000Z",
        "20261101t000000z",
        "",
        "../x",
    ]:
        with pytest.raises(ValueError, match="snapshot id"):
            archive.parse_snapshot_id(bad)
    with pytest.raises(TypeError):
        archive.snapshot_id_for(date(2026, 11, 1))  # type: ignore[arg-type]


def test_site_names(tmp_path: Path) -> None:
    assert archive.validate_site("seoul-solution_2") == "seoul-solution_2"
    for bad in ["Seoul", "_staging", "-x", "a b", "a/b", "..", "", "서울"]:
        with pytest.raises(ValueError, match="site name"):
            archive.validate_site(bad)
    with pytest.raises(ValueError, match="site name"):
        archive.SnapshotWriter(tmp_path, "../etc", S1)
    with pytest.raises(ValueError, match="snapshot id"):
        archive.SnapshotWriter(tmp_path, "kr", "2026-11-01")


# -- round trip --------------------------------------------------------------------------------


def test_round_trip_every_dataset_and_type(tmp_path: Path) -> None:
    w = write_snapshot(tmp_path, "kr", S1, {name: [FULL[name], SPARSE[name]] for name in FULL})
    assert w.counts == {"listing": 2, "posts": 2, "post_seen": 0, "partners": 2, "blocks": 2, "failures": 2}
    a = archive.open(tmp_path)
    # a post staged without a content hash gets one from the archive (its versions need a key)
    sparse_post = {**SPARSE["posts"], "content_hash": a.posts()["content_hash"].iloc[1]}
    assert sparse_post["content_hash"].startswith("archive-sha256:")
    for name in FULL:
        df = a.read(name)
        assert list(df.columns) == ["site", "snapshot_id", *(f.name for f in output_fields(name))]
        assert len(df) == 2
        assert df["site"].tolist() == ["kr", "kr"] and df["snapshot_id"].tolist() == [S1, S1]
        assert df["site"].dtype == "string" and not isinstance(df["site"].dtype, pd.CategoricalDtype)
        assert df["snapshot_id"].dtype == "string"
        for field in output_fields(name):
            want = "object" if pa.types.is_list(field.type) else EXPECTED_DTYPES[field.type]
            assert str(df[field.name].dtype) == want, (name, field.name)
        assert_row(df, 0, name, FULL[name])
        assert_row(df, 1, name, sparse_post if name == "posts" else SPARSE[name])
    runs = a.runs()
    assert len(runs) == 1
    assert_row(
        runs,
        0,
        "runs",
        # what the writer fills in when the run row leaves it out
        {
            **RUN,
            "schema_version": SCHEMA_VERSION,
            "posts_fetched": 2,
            "posts_not_modified": 0,
            "posts_skipped": 0,
            "resumes": 0,
        },
    )
    # the stored v2 datasets behind posts: one version per post, one observation per post
    obs = a.post_obs()
    assert obs["post_id"].tolist() == ["1234", "9"] and obs["fetch"].tolist() == ["fetched"] * 2
    assert obs["url"].tolist() == [FULL["posts"]["url"], SPARSE["posts"]["url"]]
    versions = a.post_versions()
    assert versions["post_id"].tolist() == ["1234", "9"]
    assert versions["first_seen"].tolist() == [S1, S1] and versions["last_seen"].tolist() == [S1, S1]
    assert versions["body_text"].iloc[0] == FULL["posts"]["body_text"]
    # Korean text, the int64 beyond 2**32 inside a struct, and the KST -> UTC conversion, spelled out
    posts = a.posts()
    assert posts["attachments"].iloc[0][0] == {
        "name": "브리핑.pdf",
        "url": "https://board.example.kr/f/1.pdf",
        "size": 2**40,
        "mime": "application/pdf",
    }
    assert a.listing()["published_at"].iloc[0] == pd.Timestamp("2026-10-31 00:30", tz="UTC")
    assert a.listing()["published"].iloc[0] == pd.Timestamp("2026-10-31")
    assert a.listing()["title"].iloc[0] == "2026년 스마트도시 정책 브리핑"


def data_file(root: Path, dataset: str, site: str, sid: str) -> Path:
    return layout.site_dir(root, dataset, site) / layout.data_file_name(sid, 0)


def test_all_null_column_keeps_its_type(tmp_path: Path) -> None:
    rows = [{"page": 1, "position": i, "page_url": "p", "reads": None} for i in range(3)]
    write_snapshot(tmp_path, "kr", S1, {"listing": rows}, batch_rows=2)
    path = data_file(tmp_path, "listing", "kr", S1)
    file_schema = pq.read_schema(path)
    assert file_schema.field("reads").type == pa.int64()
    assert file_schema.field("published").type == pa.date32()
    df = archive.open(tmp_path).listing()
    assert str(df["reads"].dtype) == "Int64" and df["reads"].isna().all()
    assert str(df["truncated"].dtype) == "boolean"


def test_empty_datasets_have_typed_files(tmp_path: Path) -> None:
    write_snapshot(tmp_path, "kr", S1, {"listing": listing_rows(2)})
    for name in DATASETS:
        files = list(layout.site_dir(tmp_path, name, "kr").iterdir())
        assert [f.name for f in files] == [f"{S1}-00000.parquet"]
        assert pq.read_schema(files[0]).remove_metadata().equals(DATASETS[name]), name
        assert pq.read_schema(files[0]).names[0] == "snapshot_id"  # inside every file, first
    assert archive.open(tmp_path).blocks().empty
    assert str(archive.open(tmp_path).blocks()["position"].dtype) == "Int32"


@pytest.mark.parametrize(
    ("dataset", "column", "value", "message"),
    [
        ("listing", "reads", "1,234", "listing.reads: expected int (int64), got '1,234' (str)"),
        ("listing", "reads", 1.0, "listing.reads: expected int (int64), got 1.0 (float)"),
        (
            "listing",
            "published",
            datetime(2026, 1, 1),
            "listing.published: expected datetime.date (not a datetime), got datetime.datetime(2026, 1, 1",
        ),
        ("listing", "published", "2026-01-01", "listing.published: expected datetime.date"),
        (
            "listing",
            "published_at",
            "2026-01-01T00:00Z",
            "listing.published_at: expected datetime, got '2026-01-01T00:00Z'",
        ),
        ("listing", "truncated", 1, "listing.truncated: expected bool, got 1 (int)"),
        ("listing", "truncated", "yes", "listing.truncated: expected bool, got 'yes' (str)"),
        ("listing", "position", True, "listing.position: expected int (int32), got True (bool)"),
        ("listing", "position", 2**31, "listing.position: expected int in int32 range, got 2147483648 (int)"),
        ("listing", "title", b"x", "listing.title: expected str, got b'x' (bytes)"),
        (
            "posts",
            "attachments",
            [{"name": "a", "url": "u", "size": "3"}],
            "posts.attachments[0].size: expected int (int64), got '3' (str)",
        ),
        (
            "posts",
            "attachments",
            [{"name": "a", "url": "u", "sha": "x"}],
            "posts.attachments[0]: expected dict",
        ),
        ("posts", "images", "x.png", "posts.images: expected list, got 'x.png' (str)"),
    ],
)
def test_wrong_types_are_rejected(
    tmp_path: Path, dataset: str, column: str, value: Any, message: str
) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    with pytest.raises(ValueError) as exc:
        w.write(dataset, {**SPARSE[dataset], column: value})
    assert message in str(exc.value)
    # stage() checks every row before it stages anything: the good row of the same call is not kept
    with pytest.raises(ValueError) as exc:
        w.stage(
            "https://x/1",
            [(dataset, SPARSE[dataset]), (dataset, {**SPARSE[dataset], column: value})],
            kind="t",
        )
    assert message in str(exc.value)
    assert w.counts[dataset] == 0 and w.journal() == {}  # the bad rows were not kept
    w.abort()


def test_unknown_columns_datasets_and_missing_required(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    with pytest.raises(ValueError, match=r"listing: unknown column\(s\) \['site', 'titel'\]"):
        w.write("listing", {**SPARSE["listing"], "titel": "x", "site": "kr"})
    with pytest.raises(ValueError, match="unknown dataset 'comments'"):
        w.write("comments", {})
    with pytest.raises(ValueError, match=r"listing\.page_url: required"):
        w.write("listing", {"page": 1, "position": 1})
    with pytest.raises(ValueError, match="runs"):
        w.write("runs", RUN)
    with pytest.raises(ValueError, match="unknown dataset 'post_versions'"):
        w.write("post_versions", {})  # stored datasets are made by commit, never staged
    with pytest.raises(ValueError, match=r"post_seen\.fetch: expected one of"):
        w.write("post_seen", {"post_id": "1", "url": "u", "fetch": "fetched"})
    with pytest.raises(ValueError, match=r"post 'nope' has no earlier observation"):
        w.write("post_seen", {"post_id": "nope", "url": "u", "fetch": "skipped"})
    with pytest.raises(ValueError, match="source must be a non-empty str"):
        w.stage("", [], kind="listing")
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        w.stage("u", [], kind="listing", info={"when": datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match=r"runs\.requests: expected int"):
        w.commit({"requests": "10"})
    assert w.counts == dict.fromkeys(STAGE_DATASETS, 0) and w.journal() == {}
    w.abort()
    assert not layout.staging_dir(tmp_path, "kr", S1).exists()


def test_dataclass_records_match_the_schema(tmp_path: Path) -> None:
    """crawler/items.py records are built to match what stage() takes: same fields, and they stage as-is."""
    from crawler.items import RECORD_TYPES, Attachment, Post

    for cls, dataset in RECORD_TYPES.items():
        assert [f.name for f in dataclasses.fields(cls)] == STAGE_DATASETS[dataset].names, dataset
    post = Post(
        post_id="1",
        url="u",
        requested_url="u",
        title="제목",
        title_raw="제목",
        lang="ko",
        attachments=[Attachment(name="a.hwp", url="https://x/a.hwp", size=10)],
    )
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.write("posts", dataclasses.asdict(post))
    w.stage(
        "u2", [("posts", dataclasses.replace(post, post_id="2"))], kind="post"
    )  # an instance is accepted too
    w.commit(RUN)
    got = archive.open(tmp_path).posts()["attachments"].tolist()
    assert got == [[{"name": "a.hwp", "url": "https://x/a.hwp", "size": 10, "mime": None}]] * 2


# -- raw readers ---------------------------------------------------------------------------------


def two_site_archive(root: Path) -> None:
    write_snapshot(root, "kr", S1, {"listing": listing_rows(3, 0, "가")})
    write_snapshot(root, "kr", S2, {"listing": listing_rows(4, 10, "나")})
    write_snapshot(root, "en-board", S1, {"listing": listing_rows(2, 20, "en")})
    write_snapshot(root, "en-board", S3, {"listing": listing_rows(1, 30, "en")})


def test_raw_readers_read_the_archive_like_we_do(tmp_path: Path) -> None:
    two_site_archive(tmp_path)
    cols = ["site", "snapshot_id", "page", "position", "title", "reads"]
    ours = archive.open(tmp_path).listing()[cols]
    expected = sorted(ours.astype(object).itertuples(index=False, name=None))
    assert len(expected) == 10

    pdf = pd.read_parquet(tmp_path / "listing")  # plain pandas, no help from us
    assert pdf["snapshot_id"].dtype != "category"  # a file column now; only site is a partition
    pdf = pdf.assign(site=pdf["site"].astype(str), snapshot_id=pdf["snapshot_id"].astype(str))[cols]
    assert sorted(pdf.astype(object).itertuples(index=False, name=None)) == expected

    table = ds.dataset(tmp_path / "listing", format="parquet", partitioning="hive").to_table()
    assert sorted(zip(*(table.column(c).to_pylist() for c in cols), strict=True)) == expected
    part = ds.partitioning(archive.schema.PARTITIONING, flavor="hive")  # as the docs show
    t = ds.dataset(tmp_path / "listing", format="parquet", partitioning=part).to_table(
        filter=(ds.field("site") == "kr") & (ds.field("snapshot_id") == S2)
    )
    assert sorted(t.column("position").to_pylist()) == list(range(10, 14))

    con = duckdb.connect()
    glob = str(tmp_path / "listing" / "**" / "*.parquet")
    rows = con.execute(
        f"SELECT {', '.join(cols)} FROM read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    assert sorted(rows) == expected
    # every dataset, even one with no rows at all, is readable by raw readers
    for name in DATASETS:
        assert len(pd.read_parquet(tmp_path / name)) == (
            4 if name == "runs" else 0 if name != "listing" else 10
        )


# -- selection ---------------------------------------------------------------------------------


def test_snapshot_and_site_selection(tmp_path: Path) -> None:
    two_site_archive(tmp_path)
    a = archive.open(tmp_path)
    assert a.sites() == ["en-board", "kr"]
    snaps = a.snapshots()
    assert list(zip(snaps["site"], snaps["snapshot_id"], strict=True)) == [
        ("en-board", S1),
        ("en-board", S3),
        ("kr", S1),
        ("kr", S2),
    ]
    assert snaps["rows_listing"].tolist() == [2, 1, 3, 4] and str(snaps["rows_listing"].dtype) == "Int64"
    assert snaps["schema_version"].tolist() == [SCHEMA_VERSION] * 4
    assert str(snaps["committed_at"].dtype) == "datetime64[us, UTC]"
    assert a.snapshots(site="kr")["snapshot_id"].tolist() == [S1, S2]

    def keys(df: pd.DataFrame) -> list[tuple[str, str, int]]:
        return list(zip(df["site"], df["snapshot_id"], df["position"], strict=True))

    # stable order: site, snapshot, then the file's row order
    assert keys(a.listing()) == [
        ("en-board", S1, 20),
        ("en-board", S1, 21),
        ("en-board", S3, 30),
        ("kr", S1, 0),
        ("kr", S1, 1),
        ("kr", S1, 2),
        *[("kr", S2, p) for p in range(10, 14)],
    ]
    assert keys(a.listing(snapshot="latest")) == [
        ("en-board", S3, 30),
        *[("kr", S2, p) for p in range(10, 14)],
    ]
    assert keys(a.listing(snapshot="latest", site="kr")) == [("kr", S2, p) for p in range(10, 14)]
    assert keys(a.listing(snapshot=S1)) == [("en-board", S1, 20), ("en-board", S1, 21)] + [
        ("kr", S1, p) for p in range(3)
    ]
    assert keys(a.listing(snapshot=S1, site="kr")) == [("kr", S1, p) for p in range(3)]
    assert keys(a.listing(snapshot=[S2, S3])) == [
        ("en-board", S3, 30),
        *[("kr", S2, p) for p in range(10, 14)],
    ]
    assert len(a.runs(snapshot="latest")) == 2
    assert a.runs(site="kr")["snapshot_id"].tolist() == [S1, S2]
    assert a.listing(site="nowhere").empty and a.snapshots(site="nowhere").empty
    assert list(a.listing(snapshot=S1, columns=["title"]).columns) == ["site", "snapshot_id", "title"]

    with pytest.raises(KeyError, match="20261105T000000Z"):
        a.listing(snapshot="20261105T000000Z")
    with pytest.raises(KeyError, match=S3):
        a.listing(snapshot=S3, site="kr")  # committed, but for another site
    with pytest.raises(KeyError, match="20991231T000000Z"):
        a.posts(snapshot=[S1, "20991231T000000Z"])
    with pytest.raises(ValueError, match="snapshot id"):
        a.listing(snapshot="yesterday")
    with pytest.raises(ValueError, match="unknown column"):
        a.listing(columns=["nope"])


def test_open_missing_and_empty_archives(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no archive at"):
        archive.open(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no archive at"):
        archive.open(tmp_path)  # exists, but is not an archive
    w = archive.SnapshotWriter(tmp_path, "kr", S1)
    w.write_many("listing", listing_rows(3))  # not committed: the archive still has no snapshot
    a = archive.open(tmp_path)
    assert a.sites() == [] and a.snapshots().empty
    assert list(a.snapshots().columns[:4]) == ["site", "snapshot_id", "committed_at", "schema_version"]

    def frames() -> dict[str, pd.DataFrame]:
        out = {name: a.read(name) for name in ["posts", *DATASETS]}
        out["post_versions()"] = a.post_versions()
        out["post_state"] = a.post_state("kr")
        out["reads_history"] = a.reads_history()
        out["partners_history"] = a.partners_history()
        return out

    empty = frames()
    assert all(df.empty for df in empty.values())
    assert a.listing(snapshot="latest").empty
    w.write("posts", FULL["posts"])
    w.write("partners", FULL["partners"])
    w.write("listing", FULL["listing"])
    w.commit(RUN)
    full = frames()
    for name, df in full.items():
        assert df.empty == (name in ("blocks", "failures")), name
        assert list(empty[name].columns) == list(df.columns), name
        assert empty[name].dtypes.equals(df.dtypes), name


def test_committed_ids_are_never_overwritten(tmp_path: Path) -> None:
    write_snapshot(tmp_path, "kr", S1, {"listing": listing_rows(1)})
    with pytest.raises(FileExistsError, match="already committed"):
        archive.SnapshotWriter(tmp_path, "kr", S1)
    with pytest.raises(FileExistsError, match="already committed"):
        archive.SnapshotWriter(tmp_path, "kr", S1, resume=True)
    w = archive.SnapshotWriter(tmp_path, "kr", S2)
    w.commit(RUN)
    with pytest.raises(RuntimeError, match="committed"):
        w.commit(RUN)
    with pytest.raises(RuntimeError, match="committed"):
        w.write("listing", listing_rows(1)[0])
    assert archive.open(tmp_path).snapshots()["rows_listing"].tolist() == [1, 0]


# -- batching ----------------------------------------------------------------------------------


def test_commit_streams_in_batches_and_makes_row_groups(tmp_path: Path) -> None:
    w = archive.SnapshotWriter(tmp_path, "kr", S1, batch_rows=500)
    for page in range(1000):  # a listing page of 20 rows per stage() call, as the crawler stages it
        rows = [
            ("listing", {"page": page, "position": i, "page_url": "p", "reads": page * 20 + i})
            for i in range(20)
        ]
        rows += [("failures", {"url": f"u{page}", "stage": "http", "reason": "404"})] if page % 4 == 0 else []
        w.stage(f"https://board/list?page={page}", rows, kind="listing")
    assert w.counts["listing"] == 20_000 and w.counts["failures"] == 250
    w.commit(RUN)
    files = list(layout.site_dir(tmp_path, "listing", "kr").iterdir())
    assert len(files) == 1
    md = pq.ParquetFile(files[0]).metadata
    assert md.num_rows == 20_000 and md.num_row_groups == 40
    assert md.row_group(0).column(0).compression == "ZSTD"
    df = archive.open(tmp_path).listing(columns=["reads"])
    assert df["reads"].tolist() == list(range(20_000))


def test_commit_does_not_hold_the_snapshot_in_memory(tmp_path: Path) -> None:
    """The commit streams batches: its peak of Python memory is the same for 1,200 posts (~40 MB of
    text) as for 300, and far below what holding the snapshot would take."""
    import tracemalloc

    body = "서울시 정책 본문입니다. " * 600  # 8,400 characters, twice per post (text and HTML)

    def commit_peak(sid: str, n: int) -> int:
        w = archive.SnapshotWriter(tmp_path, "kr", sid, batch_rows=50)
        for i in range(n):
            post = {
                "post_id": f"{sid}-{i}",
                "url": f"u{i}",
                "body_text": f"{i} {body}",
                "body_html": f"<p>{body}</p>",
            }
            w.write("posts", post)
        tracemalloc.start()
        try:
            w.commit(RUN)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = commit_peak(S1, 300), commit_peak(S2, 1200)
    held = 1200 * 2 * 2 * len(body)  # what the 1,200 posts' two texts take as Python str (2 bytes a char)
    assert large < 1.3 * small and large < held / 4, (small, large, held)
    a = archive.open(tmp_path)
    assert a.snapshots()["rows_post_versions"].tolist() == [300, 1200]
    bodies = a.posts(snapshot=S2, columns=["post_id", "body_text"]).set_index("post_id")["body_text"]
    assert bodies[f"{S2}-1199"].startswith("1199 ")
    assert pq.ParquetFile(data_file(tmp_path, "post_versions", "kr", S2)).metadata.num_row_groups == 24


# -- schema versions ---------------------------------------------------------------------------


def rewrite_file(path: Path, table: pa.Table, version: bytes) -> None:
    pq.write_table(table.replace_schema_metadata({SCHEMA_VERSION_KEY: version}), path)


def test_schema_version_is_recorded(tmp_path: Path) -> None:
    assert SCHEMA_VERSION == 2
    write_snapshot(tmp_path, "kr", S1, {"listing": listing_rows(2)})
    for name in DATASETS:
        path = data_file(tmp_path, name, "kr", S1)
        assert pq.read_schema(path).metadata[SCHEMA_VERSION_KEY] == str(SCHEMA_VERSION).encode()
    manifest = json.loads(layout.manifest_path(tmp_path, "kr", S1).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["datasets"]["listing"]["rows"] == 2
    assert manifest["code_version"] == RUN["code_version"]
    cat = json.loads(layout.catalog_path(tmp_path, "kr").read_text())
    assert cat["schema_version"] == SCHEMA_VERSION
    assert [s["schema_version"] for s in cat["snapshots"]] == [SCHEMA_VERSION]
    assert cat["datasets"]["listing"] == [
        {
            "name": f"{S1}-00000.parquet",
            "bytes": data_file(tmp_path, "listing", "kr", S1).stat().st_size,
            "rows": 2,
            "snapshots": {S1: 2},
        }
    ]
    assert archive.open(tmp_path).runs()["schema_version"].tolist() == [SCHEMA_VERSION]


def test_newer_files_are_refused_older_files_read(tmp_path: Path) -> None:
    write_snapshot(tmp_path, "kr", S1, {"listing": listing_rows(2)})
    write_snapshot(tmp_path, "kr", S2, {"listing": listing_rows(2)})
    a = archive.open(tmp_path)

    # an older file lacking two columns reads with nulls there
    old = data_file(tmp_path, "listing", "kr", S1)
    rewrite_file(
        old, pq.read_table(old).drop_columns(["reads", "author_raw"]), str(SCHEMA_VERSION - 1).encode()
    )
    df = a.listing(snapshot=S1)
    assert df["reads"].isna().all() and str(df["reads"].dtype) == "Int64"
    assert df["title"].tolist() == ["제목 0", "제목 1"]

    # a file written by a newer schema version is refused with a clear message
    new = data_file(tmp_path, "listing", "kr", S2)
    rewrite_file(new, pq.read_table(new), str(SCHEMA_VERSION + 1).encode())
    with pytest.raises(archive.ArchiveVersionError, match=f"version {SCHEMA_VERSION + 1}.*upgrade"):
        a.listing()
    assert len(a.listing(snapshot=S1)) == 2  # the other snapshot still reads

    # and so is a snapshot whose catalog entry says so, and a whole catalog of a newer version
    cpath = layout.catalog_path(tmp_path, "kr")
    cat = json.loads(cpath.read_text())
    cat["snapshots"][0]["schema_version"] = SCHEMA_VERSION + 1
    cpath.write_text(json.dumps(cat))
    with pytest.raises(archive.ArchiveVersionError, match="upgrade"):
        a.posts(snapshot=S1)
    cpath.write_text(json.dumps({**cat, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(archive.ArchiveVersionError, match="upgrade"):
        a.snapshots()


def test_every_column_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "archive-format.md").read_text()
    schemas = {**DATASETS, "posts": STAGE_DATASETS["posts"], "post_seen": STAGE_DATASETS["post_seen"]}
    for name, schema in schemas.items():
        section = doc.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
        assert documented == schema.names, name


def test_a_row_group_of_long_posts_is_bounded_by_its_text(tmp_path: Path) -> None:
    """Posts of 250,000 characters (in text and again in HTML): a row group ends at BATCH_TEXT_CHARS of
    text, not at batch_rows posts, so a commit never holds a thousand such bodies at once."""
    from archive.files import BATCH_TEXT_CHARS

    body = "긴 본문 " * 50_000  # 250,000 characters
    w = archive.SnapshotWriter(tmp_path, "kr", S1, batch_rows=1000)
    for i in range(30):
        w.write("posts", {"post_id": str(i), "url": f"u{i}", "body_text": body, "body_html": body})
    w.commit(RUN)
    md = pq.ParquetFile(data_file(tmp_path, "post_versions", "kr", S1)).metadata
    most = -(-BATCH_TEXT_CHARS // (2 * len(body)))  # rows until their text reaches the bound
    sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    assert sum(sizes) == 30 and max(sizes) == most and md.num_row_groups == -(-30 // most)
    assert archive.open(tmp_path).posts()["body_text"].str.len().tolist() == [len(body)] * 30
