"""WARC capture of real crawls: valid WARCs, provenance from Parquet rows to WARC records, re-extraction
from WARCs alone, and the size of an unchanged re-crawl."""

from __future__ import annotations

import gzip
import html
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import archive
from archive import warc
from crawler.normalize import decode_page
from crawler.replica import ReplicaProcess
from tests.conftest import REPO, Demo, run_crawl

pytestmark = pytest.mark.slow
WARCIO = Path(sys.executable).parent / "warcio"


def test_every_demo_warc_passes_warcio_check_and_index(demo: Demo) -> None:
    files = sorted((demo.archive / "warcs").rglob("*.warc.gz"))
    assert len(files) == 7  # one per snapshot
    check = subprocess.run([str(WARCIO), "check", "-v", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    for path in files:
        index = subprocess.run([str(WARCIO), "index", str(path)], capture_output=True, text=True)
        assert index.returncode == 0 and index.stdout.count('"warc-type"') > 300
        cdxj = path.with_name(path.name.replace(".warc.gz", ".cdxj"))
        assert len(cdxj.read_text().splitlines()) > 300


def test_parquet_rows_lead_to_the_warc_record_holding_their_text(demo: Demo) -> None:
    arch = archive.open(demo.archive)
    last = arch.snapshots()["snapshot_id"].iloc[-1]

    def payload(row: pd.Series) -> str:
        record = warc.read_record(
            demo.archive / row["warc_file"], int(row["warc_offset"]), int(row["warc_length"])
        )
        assert record.status == 200
        text, _encoding = decode_page(record.decoded, None)  # the EUC-KR pages too
        return html.unescape(text)  # the page writes "&" as "&amp;"

    posts = arch.posts(snapshot=last)
    assert posts["warc_file"].notna().all()
    for row in posts.itertuples():  # every post, the EUC-KR ones and titles with "&" included
        assert row.title_raw in payload(pd.Series(row._asdict())), row.post_id
    listing = arch.listing(snapshot=last)
    row = listing.iloc[30]
    assert row["title_raw"] in payload(row)  # a later day's unchanged listing page: its own response
    partners = arch.partners(snapshot=last)
    assert partners.iloc[0]["alt_raw"] in payload(partners.iloc[0])


def test_reextract_rebuilds_a_snapshot_from_its_warcs(demo: Demo, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    shutil.copytree(demo.archive, root)
    original = "20261103T140000Z"
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "reextract", "--archive", str(root), "--snapshot", original],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"Snapshot {original} re-extracted from its WARC files as 20261103T140001Z"
    arch = archive.open(root)
    for name in ("listing", "posts", "partners", "blocks"):
        live = getattr(arch, name)(snapshot=original)
        again = getattr(arch, name)(snapshot="20261103T140001Z")
        drop = ["snapshot_id", "fetched_at", "fetch", "http_status"]
        key = {"listing": ["page", "position"], "posts": ["post_id"], "partners": ["section", "position"]}
        order = key.get(name, ["block_id"])
        live = live.drop(columns=drop, errors="ignore").sort_values(order).reset_index(drop=True)
        again = again.drop(columns=drop, errors="ignore").sort_values(order).reset_index(drop=True)
        pd.testing.assert_frame_equal(again, live, obj=name)
    assert original in set(arch.snapshots()["snapshot_id"])  # the original stands as it was


def test_an_unchanged_recrawl_writes_at_most_a_tenth_of_the_first_warcs(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    with ReplicaProcess(day=1) as replica:
        assert run_crawl(replica.url, root, "--at", "2026-11-01T01:00:00Z").returncode == 0
        assert run_crawl(replica.url, root, "--at", "2026-11-01T07:00:00Z").returncode == 0
    first, second = (
        sum(p.stat().st_size for p in (root / "warcs").rglob(f"{sid}-*.warc.gz"))
        for sid in ("20261101T010000Z", "20261101T070000Z")
    )
    print(f"first run WARCs {first} B, unchanged second run {second} B ({second / first:.1%})")
    assert second <= 0.10 * first
    types = [
        r.rec_type for r in warc.iter_records(next((root / "warcs").rglob("20261101T070000Z-*.warc.gz")))
    ]
    assert "revisit" in types and types[0] == "warcinfo"
    with gzip.open(next((root / "warcs").rglob("20261101T010000Z-*.warc.gz")), "rb") as f:
        assert f.read(9) == b"WARC/1.1\r"
