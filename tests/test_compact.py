"""Compaction and v1 migration: what every reader returns never changes; crashes at any step recover."""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import archive
import archive.compaction as compact_module
from archive import layout
from archive.schema import DATASETS

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "archive-v1"


class SimulatedCrash(Exception):
    pass


def day(k: int) -> str:
    return archive.snapshot_id_for(datetime(2026, 11, 1) + timedelta(days=k))


def build(root: Path, days: int) -> None:
    """A small board followed for ``days`` snapshots: a post added and one removed (404) every day, one
    edited, the others re-downloaded or carried by post_seen, partners and blocks changing now and then."""
    alive = [str(i) for i in range(1, 9)]
    version: dict[str, int] = dict.fromkeys(alive, 1)
    for k in range(days):
        sid = day(k)
        w = archive.SnapshotWriter(root, "kr", sid)
        records: list[tuple[str, dict[str, Any]]] = []
        gone = None
        if k:
            new = str(8 + k)
            alive.insert(0, new)
            version[new] = 1
            gone = alive.pop()
            edited = alive[len(alive) // 2]
            version[edited] += 1
            records.append(
                (
                    "failures",
                    {
                        "url": f"https://b.kr/node/{gone}",
                        "stage": "http",
                        "reason": "HTTP 404",
                        "http_status": 404,
                    },
                )
            )
        at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=k)
        for pos, pid in enumerate(alive, 1):
            records.append(
                (
                    "listing",
                    {
                        "page": 1 + pos // 5,
                        "position": pos,
                        "page_url": "https://b.kr/news",
                        "post_id": pid,
                        "post_url": f"https://b.kr/node/{pid}",
                        "title": f"제목 {pid}",
                        "reads": 10 * int(pid) + k,
                        "fetched_at": at,
                    },
                )
            )
            v = version[pid]
            if k and (k + int(pid)) % 2 and v == 1 and pid != str(8 + k):
                records.append(
                    (
                        "post_seen",
                        {
                            "post_id": pid,
                            "url": f"https://b.kr/node/{pid}",
                            "fetch": "not_modified",
                            "http_status": 304,
                        },
                    )
                )
            else:
                records.append(
                    (
                        "posts",
                        {
                            "post_id": pid,
                            "url": f"https://b.kr/node/{pid}",
                            "title": f"제목 {pid} v{v}",
                            "body_text": f"본문 {pid} v{v}",
                            "published": date(2026, 10, int(pid) % 28 + 1),
                            "reads": 10 * int(pid) + k,
                            "content_hash": f"{pid}-{v}",
                            "fetched_at": at,
                            "attachments": [{"name": f"{pid}.pdf", "url": f"https://b.kr/f/{pid}.pdf"}],
                        },
                    )
                )
        for i, name in enumerate(["서울연구원", "KDI", "World Bank", "UCLG"][: 2 + k % 3]):
            records.append(
                (
                    "partners",
                    {
                        "section": "국내" if i < 2 else "해외",
                        "position": i + 1,
                        "name": name,
                        "link": f"https://p{i}.example",
                        "logo_sha256": f"sha{i}-{k // 3}",
                    },
                )
            )
        records.append(
            ("blocks", {"block_id": "about", "position": 1, "heading": "소개", "text": f"판 {k // 2}"})
        )
        w.stage(f"https://b.kr/{sid}", records, kind="test")
        w.commit({"status": "ok", "requests": 10 + k, "logical_time": at})


def everything(root: Path) -> dict[str, pd.DataFrame]:
    """Every reader method's frame (several selections), to compare before and after."""
    a = archive.open(root)
    ids = a.snapshots()["snapshot_id"].tolist()
    out = {"snapshots": a.snapshots().drop(columns=["committed_at"])}
    for name in ("listing", "posts", "post_obs", "partners", "blocks", "failures", "runs"):
        out[name] = a.read(name)
        out[f"{name}@latest"] = a.read(name, snapshot="latest")
        out[f"{name}@some"] = a.read(name, snapshot=ids[1::2])
    out["post_versions"] = a.post_versions()
    for site in a.sites():
        out[f"post_state {site}"] = a.post_state(site)
        for old, new in itertools.pairwise(ids):
            out[f"changes {old} {new}"] = a.changes(old, new, site=site)
        out[f"changes {ids[0]} {ids[-1]}"] = a.changes(ids[0], ids[-1], site=site)
    out["reads_history"] = a.reads_history()
    out["partners_history"] = a.partners_history()
    return out


def assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        pd.testing.assert_frame_equal(before[key], after[key], obj=key)


def raw_rows(root: Path) -> dict[str, int]:
    """Rows that plain pandas sees in each dataset directory (fails on any footerless file)."""
    return {name: len(pd.read_parquet(root / name)) for name in DATASETS if (root / name).exists()}


def data_files(root: Path) -> list[Path]:
    return sorted(p for name in DATASETS for p in (root / name).rglob("*.parquet"))


def test_compaction_changes_no_reader_output(tmp_path: Path) -> None:
    build(tmp_path, 6)
    before = everything(tmp_path)
    raw_before = raw_rows(tmp_path)
    assert raw_before == {name: int(before["snapshots"][f"rows_{name}"].sum()) for name in DATASETS}
    files_before = data_files(tmp_path)
    assert len(files_before) == 6 * 7
    bytes_before = sum(p.stat().st_size for p in files_before)

    result = archive.compact(tmp_path, target_rows=30)  # a small target: several output files
    assert_same(before, everything(tmp_path))
    assert raw_rows(tmp_path) == raw_before  # raw readers see every row once, no more
    files_after = data_files(tmp_path)
    assert result["files_before"] == 42 and result["files_after"] == len(files_after) < 20
    assert result["bytes_before"] == bytes_before
    assert result["bytes_after"] == sum(p.stat().st_size for p in files_after)
    assert result["migrated_snapshots"] == [] and list(result["sites"]) == ["kr"]
    listing_files = sorted((tmp_path / "listing" / "site=kr").iterdir())
    assert len(listing_files) > 1  # 50 listing rows, at most 30 a file (never splitting a snapshot)
    for f in listing_files:
        t = pq.read_table(f)
        assert t.num_rows <= 30 or len(set(t.column("snapshot_id").to_pylist())) == 1
        keys = list(
            zip(
                t.column("page").to_pylist(),
                t.column("position").to_pylist(),
                t.column("snapshot_id").to_pylist(),
                strict=True,
            )
        )
        assert keys == sorted(keys)  # clustered: by the natural order, then by snapshot
    assert not (tmp_path / layout.STAGING_DIR / "kr" / layout.COMPACT_DIR).exists()

    again = archive.compact(tmp_path, target_rows=30)  # nothing left to merge
    assert again["files_before"] == again["files_after"] == len(files_after)

    # the archive goes on: a new snapshot dedups against versions now stored in compacted files
    w = archive.SnapshotWriter(tmp_path, "kr", day(6))
    w.stage(
        "x",
        [
            ("posts", {"post_id": "9", "url": "https://b.kr/node/9", "content_hash": "9-1"}),
            ("post_seen", {"post_id": "10", "url": "https://b.kr/node/10", "fetch": "skipped"}),
        ],
        kind="t",
    )
    w.commit({"status": "ok"})
    a = archive.open(tmp_path)
    assert a.snapshots()["rows_post_versions"].iloc[-1] == 0
    latest = a.posts(snapshot="latest").set_index("post_id")
    assert latest.loc["10", "title"] == "제목 10 v1" and latest.loc["10", "fetch"] == "skipped"
    before = everything(tmp_path)
    archive.compact(tmp_path)
    assert_same(before, everything(tmp_path))
    assert len(data_files(tmp_path)) == 7  # default targets: one file per dataset


def test_reading_one_snapshot_skips_other_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Datasets without a natural order keep one snapshot's rows together (row-group statistics let a
    reader skip the others); clustered ones are one row group sorted by their key, then snapshot."""
    build(tmp_path, 5)
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 2)
    archive.compact(tmp_path)
    (path,) = (tmp_path / "post_versions" / "site=kr").iterdir()
    frag = next(ds.dataset(path, format="parquet").get_fragments())
    total = pq.ParquetFile(path).metadata.num_row_groups
    wanted = frag.split_by_row_group(filter=pc.field("snapshot_id") == day(2))
    assert total >= 5 and 1 <= len(wanted) <= 2  # the statistics exclude the other snapshots' row groups
    a = archive.open(tmp_path)
    assert a.post_versions()["first_seen"].tolist().count(day(2)) == 2  # the new post, the edited one
    (listing,) = (tmp_path / "listing" / "site=kr").iterdir()
    assert pq.ParquetFile(listing).metadata.num_row_groups == 1
    assert a.listing(snapshot=day(2))["snapshot_id"].unique().tolist() == [day(2)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame], dict[str, int]]:
    root = tmp_path_factory.mktemp("built") / "a"
    build(root, 3)
    return root, everything(root), raw_rows(root)


def crash_on_call(monkeypatch: pytest.MonkeyPatch, k: int) -> list[str]:
    """Make the k-th rename / replace / unlink / rmtree from now on raise (k=0: never); returns the calls
    made, by name."""
    calls: list[str] = []

    def wrap(name: str, real: Any) -> Any:
        def fn(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            if len(calls) == k:
                raise SimulatedCrash(f"crash at call #{k} ({name})")
            return real(*args, **kwargs)

        return fn

    for name in ("rename", "replace", "unlink"):
        monkeypatch.setattr(os, name, wrap(name, getattr(os, name)))
    monkeypatch.setattr(shutil, "rmtree", wrap("rmtree", shutil.rmtree))
    return calls


def light(root: Path) -> dict[str, pd.DataFrame]:
    a = archive.open(root)
    return {"posts": a.posts(), "listing": a.listing(), "post_versions": a.post_versions(), "runs": a.runs()}


def test_crash_at_any_step_of_a_compaction(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    built: tuple[Path, dict[str, pd.DataFrame], dict[str, int]],
) -> None:
    source, before, raw_before = built
    light_before = light(source)
    dry = tmp_path / "dry"
    shutil.copytree(source, dry)
    sequence = crash_on_call(monkeypatch, 0)
    archive.compact(dry)
    monkeypatch.undo()
    # 7 files renamed in staging, the intent, 7 moves, the catalog, then the superseded files deleted
    assert sequence[:16] == ["replace"] * 8 + ["rename"] * 7 + ["replace"], sequence
    deletions = [i for i, name in enumerate(sequence, 1) if i > 16]
    # before the intent (a sample), every step from the intent to the switch, then deletions
    steps = [1, 7, 8, 9, 12, 15, 16, 17, deletions[len(deletions) // 2], deletions[-1]]
    outcomes = []
    for k in steps:
        root = tmp_path / f"k{k}"
        shutil.copytree(source, root)
        crash_on_call(monkeypatch, k)
        with pytest.raises(SimulatedCrash):
            archive.compact(root)
        monkeypatch.undo()
        # whatever the instant: our readers return exactly what they did, raw readers never fail
        assert_same(light_before, light(root))
        raw = raw_rows(root)
        assert all(raw[n] >= raw_before[n] for n in DATASETS), k  # duplicates at worst, never a loss
        intent = (root / layout.STAGING_DIR / "kr" / layout.COMPACT_DIR / layout.COMPACT_FILE).exists()
        report = archive.recover(root)
        outcomes.append("rolled forward" if intent else "dropped")
        if intent:
            assert report[-1] == "rolled forward the compaction of kr", (k, report)
            assert all(line.startswith("removed unfinished ") for line in report[:-1]), (k, report)
            assert len(data_files(root)) == 7
        else:
            assert report == ["removed an unfinished compaction of kr (its files were never published)"], k
            assert len(data_files(root)) == 3 * 7
        assert not (root / layout.STAGING_DIR / "kr" / layout.COMPACT_DIR).exists()
        assert_same(light_before, light(root))
        assert raw_rows(root) == raw_before, k  # after recovery, every row once
    assert outcomes.count("dropped") == 3 and outcomes.count("rolled forward") == len(steps) - 3, outcomes
    assert_same(before, everything(root))  # the last one, in full


def test_migrating_the_v1_fixture(tmp_path: Path) -> None:
    root = tmp_path / "a"
    shutil.copytree(FIXTURE, root)
    before = everything(FIXTURE)  # the frozen archive read as it is
    result = archive.compact(root)
    assert result["migrated_snapshots"] == [
        "seoulsolution/20261101T140000Z",
        "seoulsolution/20261102T140000Z",
    ]
    assert result["files_before"] == 12 and result["files_after"] == 7
    assert_same(before, everything(root))
    assert not list(root.rglob("snapshot_id=*")) and not (root / "posts").exists()  # v1 partitions gone
    cat = archive.catalog.read(root, "seoulsolution")
    assert [s["migrated_from"] for s in cat["snapshots"]] == [1, 1]
    assert [s["schema_version"] for s in cat["snapshots"]] == [1, 1]  # the version each was written with
    assert raw_rows(root) == {
        "listing": 27,
        "post_versions": 17,
        "post_obs": 27,
        "partners": 54,
        "blocks": 6,
        "failures": 0,
        "runs": 2,
    }
    assert archive.compact(root)["files_after"] == 7  # a no-op now

    # the migrated archive takes new snapshots, deduplicated against the migrated versions
    old = archive.open(root).posts(snapshot="latest").set_index("post_id").loc["3812"]
    w = archive.SnapshotWriter(root, "seoulsolution", "20261103T140000Z")
    w.stage(
        old["url"],
        [
            (
                "posts",
                {
                    "post_id": "3812",
                    "url": old["url"],
                    "title": old["title"],
                    "content_hash": old["content_hash"],
                },
            )
        ],
        kind="post",
    )
    w.stage(
        "x", [("post_seen", {"post_id": "9702", "url": "http://x/9702", "fetch": "skipped"})], kind="post"
    )
    w.commit({"status": "ok"})
    a = archive.open(root)
    assert a.snapshots()["rows_post_versions"].tolist() == [13, 4, 0]
    latest = a.posts(snapshot="latest").set_index("post_id")
    assert latest.loc["9702", "title"] == "Seoul and Ulaanbaatar Agree to Cooperate on Big Data Campus"
    assert latest.loc["3812", "body_text"] == old["body_text"]


@pytest.mark.parametrize("k", [8, 9, 10, 12])
def test_crash_while_migrating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Crashes around the switch of a migration (7 files written, intent, moves, catalog, deletions)."""
    root = tmp_path / "a"
    shutil.copytree(FIXTURE, root)
    before = everything(FIXTURE)
    crash_on_call(monkeypatch, k)
    with pytest.raises(SimulatedCrash):
        archive.compact(root)
    monkeypatch.undo()
    assert_same(before, everything(root))  # v1 view before the switch, migrated files after it
    archive.recover(root)
    assert_same(before, everything(root))
    if k == 8:  # the intent itself was not written: the migration never happened, and can be rerun
        assert list(root.rglob("snapshot_id=*"))
        archive.compact(root)
        assert_same(before, everything(root))
    assert not list(root.rglob("snapshot_id=*"))


def test_compaction_after_each_commit(tmp_path: Path) -> None:
    """What a crawl does after its commit, under its crawl lock: the site's small files merge (the
    clustered datasets sorted by their key, then snapshot) and readers return the same frames. A later
    snapshot with no rows of a dataset writes no file of it."""
    build(tmp_path, 3)
    before = everything(tmp_path)
    with archive.crawl_lock(tmp_path, "kr"):
        done = archive.compact_after_commit(tmp_path, "kr")
    assert done["files_before"] == 3 * 7 and done["files_after"] == 7
    assert_same(before, everything(tmp_path))
    (obs,) = (tmp_path / "post_obs" / "site=kr").iterdir()
    t = pq.read_table(obs, columns=["post_id", "snapshot_id"])
    keys = list(zip(t.column("post_id").to_pylist(), t.column("snapshot_id").to_pylist(), strict=True))
    assert keys == sorted(keys) and len({s for _, s in keys}) == 3

    w = archive.SnapshotWriter(tmp_path, "kr", day(3))
    row = {"page": 1, "position": 1, "page_url": "https://b.kr/news", "title": "제목"}
    w.stage("https://b.kr/news", [("listing", row)], kind="listing")
    manifest = layout.read_json(w.commit({"status": "ok"}))
    assert manifest["datasets"]["failures"] == {"rows": 0, "files": []}
    assert manifest["datasets"]["post_versions"] == {"rows": 0, "files": []}
    assert len(manifest["datasets"]["listing"]["files"]) == 1
    a = archive.open(tmp_path)
    assert a.failures(snapshot=day(3)).empty and list(a.failures(snapshot=day(3)).columns) == list(
        a.failures().columns
    )
    assert len(a.listing(snapshot=day(3))) == 1
