"""End to end: real crawls of the replica over HTTP into temporary archives, read back with pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

import archive
from crawler.replica import ReplicaSite
from tests.conftest import DAY1_AT, REPO

pytestmark = pytest.mark.slow

SEED = {
    "5190": (
        "News_Seoul's ODA",
        "Foreign Public Officials Learn Know-how of ‘Miracle of Han River’ through Seoul Internship Program",
        "2017-01-11",
        "ssunha",
        11,
    ),
    "5189": (
        "US_Cities Today",
        "Global Covenant of Mayors leadership team announced",
        "2017-01-13",
        "ssunha",
        3,
    ),
    "5188": (
        "News_Policy Sharing",
        "Seoul Opens an Online Platform to Tackle Urban Challenges with Other Cities",
        "2017-01-12",
        "ssunha",
        4,
    ),
    "5187": (
        "News_ Seoul's Policy Sharing",
        "Seoul Exports Downtown Market Analysis Service to Buenos Aires",
        "2017-01-12",
        "ssunha",
        5,
    ),
}
PARTNERS_REQUIRED = [
    "CITYNET",
    "ICLEI",
    "KOICA",
    "KOTRA",
    "Metropolis",
    "ADB",
    "KDI",
    "서울시립대",
    "국토연구원",
]


@pytest.fixture(scope="module")
def first(demo_archive: Path) -> dict[str, pd.DataFrame]:
    arch = archive.open(demo_archive)
    first_id = arch.snapshots(site="seoulsolution")["snapshot_id"].iloc[0]
    return {
        name: getattr(arch, name)(snapshot=first_id)
        for name in ("runs", "listing", "posts", "partners", "blocks", "failures")
    }


@pytest.fixture(scope="module")
def site() -> ReplicaSite:
    return ReplicaSite(day=1)


def test_demo_leaves_one_committed_snapshot_per_day(demo_archive: Path) -> None:
    snapshots = archive.open(demo_archive).snapshots(site="seoulsolution")
    assert list(snapshots["snapshot_id"]) == [f"202611{day:02d}T140000Z" for day in range(1, 8)]


def test_listing_has_a_row_for_every_listed_post(first, site: ReplicaSite) -> None:
    listing = first["listing"]
    regular = listing[~listing["is_notice"]]
    expected = [p.post_id for p in site.posts() if not p.notice]
    assert len(expected) >= 300
    assert list(regular["post_id"]) == expected  # every post, in listing order, ids resolved (aliases too)
    assert listing["page"].max() == site.listing_pages()
    assert listing.groupby("page")["is_notice"].sum().eq(1).all()  # the pinned notice on every page
    assert regular["reads"].notna().all() and regular["published"].notna().all()
    assert (regular["reads"] > 1000).sum() > 10  # "1,234 READS" read as 1234, not 1


def test_posts_are_complete(first, site: ReplicaSite) -> None:
    posts = first["posts"].set_index("post_id")
    truth = {p.post_id: p for p in site.posts()}
    assert set(posts.index) == set(truth)
    filled = posts[["title", "published", "author", "body_text"]].notna().all(axis=1) & (
        posts["body_text"] != ""
    )
    assert filled.mean() >= 0.99
    for post_id, post in truth.items():
        row = posts.loc[post_id]
        assert row["title"] == post.title, post_id
        assert row["published"].date() == post.published, post_id
        assert row["author"] == post.author, post_id


def test_seed_posts_carry_the_seed_values(first) -> None:
    posts = first["posts"].set_index("post_id")
    listing = first["listing"].set_index("post_id")
    for post_id, (category, title, day, writer, reads) in SEED.items():
        post = posts.loc[post_id]
        assert (post["category"], post["title"], post["author"]) == (category, title, writer)
        assert str(post["published"].date()) == day
        assert post["title_matches_listing"]
        row = listing.loc[post_id]
        assert (row["category"], row["author"], row["reads"]) == (category, writer, reads)
        assert str(row["published"].date()) == day
    oda = listing.loc["5190"]
    assert (
        oda["title_raw"]
        == "[News_Seoul's ODA] Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri.."
    )
    assert oda["truncated"] and oda["reads_raw"] == "11 READS"
    assert "/en/content/newsseouls-oda-" in oda["post_url"]  # reached by its path alias


def test_partners_and_blocks(first) -> None:
    partners = first["partners"]
    names = set(partners["name"])
    assert set(PARTNERS_REQUIRED) <= names
    assert not partners["name"].str.contains("로고").any()
    assert partners["logo_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert partners.loc[partners["name"] == "서울시청", "alt_raw"].item() == "서울시청의 로고"
    blocks = first["blocks"]
    assert blocks["heading"].str.startswith("MITI").any()
    assert set(blocks["lang"]) >= {"en", "ko"}


def test_euc_kr_and_lying_charset_pages_store_correct_hangul(first, site: ReplicaSite) -> None:
    posts = first["posts"].set_index("post_id")
    for post_id in (site.euc_kr_post_id, site.lying_header_post_id):
        truth = next(p for p in site.posts() if p.post_id == post_id)
        assert posts.loc[post_id, "title"] == truth.title
        assert posts.loc[post_id, "encoding"] in ("cp949", "euc-kr")
        assert "\ufffd" not in posts.loc[post_id, "body_text"]
    listing = first["listing"]
    page8 = listing[(listing["page"] == 8) & ~listing["is_notice"]]  # ?page=7 is served in EUC-KR
    truth_titles = {p.post_id: p.title for p in site.posts()}
    assert len(page8) == 20
    for row in page8.itertuples():
        assert truth_titles[row.post_id].startswith(row.title)


def test_dtypes_and_raw_readers(demo_archive: Path, first) -> None:
    listing = first["listing"]
    assert str(listing["reads"].dtype) == "Int64"
    assert listing["published"].dtype.kind == "M"
    assert str(listing["snapshot_id"].dtype) != "category"
    raw = pd.read_parquet(demo_archive / "listing")
    assert len(raw) == sum(
        len(archive.open(demo_archive).listing(snapshot=s)) for s in raw["snapshot_id"].unique()
    )
    table = ds.dataset(demo_archive / "post_versions", partitioning="hive").to_table()
    assert table.schema.field("attachments").type.value_type.names == ["name", "url", "size", "mime"]


def test_scrapy_crawl_from_the_repository_root(replica_day1: str, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    command = [sys.executable, "-m", "scrapy", "crawl", "seoulsolution", "-a", f"base_url={replica_day1}"]
    command += ["-a", "max_pages=1", "-s", f"ARCHIVE_ROOT={root}", "-s", "CRAWL_AT=2026-11-01T14:00:00Z"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    arch = archive.open(root)
    assert list(arch.snapshots()["snapshot_id"]) == ["20261101T140000Z"]
    assert len(arch.listing()) == 21  # one page: the notice and 20 rows
    assert len(arch.posts()) == 21


_COUNT_DEBUG_RECORDS = """
import logging, sys
made = []
factory = logging.getLogRecordFactory()
def counting(*args, **kwargs):
    record = factory(*args, **kwargs)
    if record.levelno < logging.INFO and record.name.startswith("scrapy.core"):
        made.append(record.name)
    return record
logging.setLogRecordFactory(counting)
from crawler.cli import main
code = main(sys.argv[1:])
print("DEBUG-RECORDS", len(made))
sys.exit(code)
"""


def test_the_crawl_builds_no_debug_log_records_it_would_drop(replica_day1: str, tmp_path: Path) -> None:
    """At the default level, Scrapy's per-page DEBUG lines ("Crawled (200)", "Scraped from") are dropped
    by the loggers (the root one and Scrapy's own) before a LogRecord is built: two a page otherwise."""
    command = [sys.executable, "-c", _COUNT_DEBUG_RECORDS, "crawl", "seoulsolution",
               "--base-url", replica_day1, "--archive", str(tmp_path / "a"), "--at", DAY1_AT,
               "--max-pages", "2"]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert archive.open(tmp_path / "a").runs().iloc[0]["responses"] > 40
    assert "DEBUG-RECORDS 0" in proc.stdout, proc.stdout[-500:]
