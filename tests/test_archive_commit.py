"""Commit atomicity and recovery: simulated crashes at every step, interrupted and resumed writers, orphans,
SIGKILL while staging and while committing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import archive
from archive import layout
from archive.schema import DATASETS

REPO = Path(__file__).resolve().parents[1]
OLD, NEW = "20261101T000000Z", "20261102T000000Z"
RUN = {"status": "ok", "code_version": "test"}


class SimulatedCrash(Exception):
    pass


def rows_for(sid: str, n: int) -> dict[str, list[dict[str, Any]]]:
    """Distinct, recognisable rows in every dataset, so that a partial snapshot would show."""
    return {
        "listing": [
            {"page": 1, "position": i, "page_url": f"{sid}/p", "title": f"{sid}-{i}"} for i in range(n)
        ],
        "posts": [{"post_id": f"{sid}-{i}", "url": f"u{i}", "body_text": "본문"} for i in range(n + 1)],
        "partners": [{"section": "s", "position": i, "name": f"{sid}-{i}"} for i in range(n + 2)],
        "blocks": [{"block_id": f"{sid}-{i}", "position": i} for i in range(n + 3)],
        "failures": [{"url": f"{sid}-{i}", "stage": "http", "reason": "404"} for i in range(n + 4)],
    }


def start_snapshot(root: Path, sid: str, n: int) -> archive.SnapshotWriter:
    w = archive.SnapshotWriter(root, "kr", sid, batch_rows=3)
    for name, rows in rows_for(sid, n).items():
        w.write_many(name, rows)
    return w


def state(root: Path) -> dict[str, dict[str, list[str]]]:
    """What a reader of our API sees: per snapshot, the identifying column of every dataset."""
    a = archive.open(root)
    key = {
        "listing": "title",
        "posts": "post_id",
        "partners": "name",
        "blocks": "block_id",
        "failures": "url",
    }
    out: dict[str, dict[str, list[str]]] = {sid: {} for sid in a.snapshots()["snapshot_id"]}
    for name, col in [*key.items(), ("runs", "status")]:
        df = a.read(name, columns=[col])  # every snapshot at once, split here
        for sid in out:
            out[sid][name] = df.loc[df["snapshot_id"] == sid, col].tolist()
    return out


def expected_state(*sids_n: tuple[str, int]) -> dict[str, dict[str, list[str]]]:
    out = {}
    for sid, n in sids_n:
        rows = rows_for(sid, n)
        out[sid] = {
            "listing": [r["title"] for r in rows["listing"]],
            "posts": [r["post_id"] for r in rows["posts"]],
            "partners": [r["name"] for r in rows["partners"]],
            "blocks": [r["block_id"] for r in rows["blocks"]],
            "failures": [r["url"] for r in rows["failures"]],
            "runs": ["ok"],
        }
    return out


def raw_readers_work(root: Path) -> dict[str, int]:
    """Plain pandas over every dataset dir: fails on any footerless file where raw readers look."""
    return {name: len(pd.read_parquet(root / name)) for name in DATASETS if (root / name).exists()}


def test_crash_at_every_rename_of_a_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_state = expected_state((OLD, 4))
    new_state = expected_state((OLD, 4), (NEW, 7))
    outcomes = []
    resumed = 0
    base = tmp_path / "base"
    start_snapshot(base, OLD, 4).commit(RUN)
    for k in range(100):
        root = tmp_path / f"k{k}"
        shutil.copytree(base, root)
        w = start_snapshot(root, NEW, 7)
        calls = 0
        real_rename, real_replace = os.rename, os.replace

        def crashing(real: Any, k: int = k) -> Any:
            def fn(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls > k:
                    raise SimulatedCrash(f"crash at rename/replace #{calls}")
                return real(*args, **kwargs)

            return fn

        monkeypatch.setattr(os, "rename", crashing(real_rename))
        monkeypatch.setattr(os, "replace", crashing(real_replace))
        try:
            w.commit(RUN)
        except SimulatedCrash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()
        if not crashed:
            assert state(root) == new_state
            # 7 files renamed in staging, the intent, 7 moves into place, the manifest, the catalog
            assert k == 17
            break
        intent = (layout.staging_dir(root, "kr", NEW) / layout.COMMIT_FILE).exists()
        # before recovery, our readers see the old state exactly, and raw readers still work
        assert state(root) == old_state, k
        for name in DATASETS:  # reading every snapshot at once, too
            assert set(archive.open(root).read(name)["snapshot_id"]) == {OLD}, (k, name)
        raw_readers_work(root)
        report = archive.recover(root)
        after = state(root)
        if intent:
            assert after == new_state, k
            assert report[-1] == f"rolled forward kr/{NEW}"  # after removing a half-written manifest, if any
            assert all(line.startswith("removed unfinished ") for line in report[:-1])
            assert not layout.staging_dir(root, "kr", NEW).exists()
            outcomes.append("rolled forward")
        else:
            assert after == old_state, k
            assert report == [f"abandoned snapshot kr/{NEW} kept in {layout.staging_dir(root, 'kr', NEW)}"]
            if k % 2:  # the staging is intact: a resumed writer commits it
                w = archive.SnapshotWriter(root, "kr", NEW, resume=True)
                assert w.counts["listing"] == 7 and w.meta["resumes"] == 1
                w.commit(RUN)
                after = state(root)
                assert after == new_state
                assert archive.open(root).runs(snapshot=NEW)["resumes"].tolist() == [1]
                resumed += 1
            else:
                assert archive.recover(root, discard_abandoned=True) == [
                    f"discarded abandoned snapshot kr/{NEW}"
                ]
                assert not layout.staging_dir(root, "kr", NEW).exists()
            outcomes.append("abandoned")
        assert raw_readers_work(root)["listing"] == sum(len(s["listing"]) for s in after.values())
    else:
        pytest.fail("commit never succeeded")
    assert outcomes.count("abandoned") == 8 and outcomes.count("rolled forward") == 9, outcomes
    assert resumed == 4


def test_crash_while_removing_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = start_snapshot(tmp_path, NEW, 2)

    def half_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        (Path(path) / layout.COMMIT_FILE).unlink()  # removed first, then the "crash"
        raise SimulatedCrash("rmtree")

    monkeypatch.setattr(shutil, "rmtree", half_rmtree)
    with pytest.raises(SimulatedCrash):
        w.commit(RUN)
    monkeypatch.undo()
    assert state(tmp_path) == expected_state((NEW, 2))  # the manifest was written: committed
    assert archive.recover(tmp_path) == [f"removed leftover staging of committed snapshot kr/{NEW}"]
    assert not layout.staging_dir(tmp_path, "kr", NEW).exists()


def test_new_writer_rolls_an_interrupted_commit_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = start_snapshot(tmp_path, OLD, 3)
    real = os.rename

    def fail_on_runs(src: Any, dst: Any) -> None:
        if "runs" in str(dst):
            raise SimulatedCrash("before moving runs")
        real(src, dst)

    monkeypatch.setattr(os, "rename", fail_on_runs)
    with pytest.raises(SimulatedCrash):
        w.commit(RUN)
    monkeypatch.undo()
    # the other datasets already sit in their final places, yet no reader of ours sees the snapshot
    assert (layout.site_dir(tmp_path, "listing", "kr") / layout.data_file_name(OLD, 0)).exists()
    assert not layout.catalog_path(tmp_path, "kr").exists()
    assert state(tmp_path) == {}
    w2 = archive.SnapshotWriter(tmp_path, "kr", NEW)
    assert w2.recovered == [f"rolled forward kr/{OLD}"]
    assert state(tmp_path) == expected_state((OLD, 3))
    w2.abort()


def test_abandoned_writer_is_invisible(tmp_path: Path) -> None:
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    w = start_snapshot(tmp_path, NEW, 50)  # 50+ rows per dataset staged
    assert (layout.staging_dir(tmp_path, "kr", NEW) / layout.STAGE_DB).is_file()
    w.close()  # never committed nor aborted, as after a crash
    assert state(tmp_path) == expected_state((OLD, 2))
    assert pd.read_parquet(tmp_path / "listing")["title"].tolist() == [
        "20261101T000000Z-0",
        "20261101T000000Z-1",
    ]
    assert not list((tmp_path / layout.STAGING_DIR).rglob("*.parquet"))  # staging holds no Parquet at all
    with pytest.raises(FileExistsError, match="did not commit"):
        archive.SnapshotWriter(tmp_path, "kr", NEW)  # kept for a later resume, never overwritten
    assert [e["snapshot_id"] for e in archive.resumable(tmp_path, "kr")] == [NEW]
    assert archive.recover(tmp_path, discard_abandoned=True) == [f"discarded abandoned snapshot kr/{NEW}"]
    assert archive.resumable(tmp_path, "kr") == []
    start_snapshot(tmp_path, NEW, 1).commit(RUN)
    assert state(tmp_path) == expected_state((OLD, 2), (NEW, 1))


def test_abort_discards_staging(tmp_path: Path) -> None:
    w = start_snapshot(tmp_path, NEW, 10)
    w.abort()
    w.abort()
    assert not layout.staging_dir(tmp_path, "kr", NEW).exists()
    assert state(tmp_path) == {}
    with pytest.raises(RuntimeError, match="aborted"):
        w.write("listing", rows_for(NEW, 1)["listing"][0])


def test_orphan_files_are_moved_aside_not_deleted(tmp_path: Path) -> None:
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    w = start_snapshot(tmp_path, NEW, 1)
    site_dir = layout.site_dir(tmp_path, "listing", "kr")
    orphan = site_dir / layout.data_file_name(NEW, 0)
    shutil.copy(site_dir / layout.data_file_name(OLD, 0), orphan)  # e.g. a catalog entry lost
    assert state(tmp_path) == expected_state((OLD, 2))  # our readers ignore it
    assert len(pd.read_parquet(tmp_path / "listing")) == 4  # raw readers see whatever is in place
    with pytest.raises(FileExistsError, match="recover"):
        w.commit(RUN)  # refuses to publish over it
    report = archive.recover(tmp_path, discard_abandoned=True)
    stage = layout.staging_dir(tmp_path, "kr", NEW)
    moved = stage / layout.ORPHANS_DIR / "listing" / orphan.name
    assert report == [
        f"discarded abandoned snapshot kr/{NEW}",  # the writer that failed to commit
        f"orphan file {orphan} (no committed snapshot, no intent) moved to {moved}",
    ]
    assert not orphan.exists()
    assert pq.read_table(moved).num_rows == 2  # kept
    assert len(pd.read_parquet(tmp_path / "listing")) == 2
    assert archive.resumable(tmp_path, "kr") == []  # orphans alone are not a staged snapshot
    # a staging dir holding orphans is never discarded, nor reused
    assert archive.recover(tmp_path, discard_abandoned=True) == [
        f"abandoned snapshot kr/{NEW} kept in {stage}"
    ]
    with pytest.raises(FileExistsError, match="did not commit"):
        archive.SnapshotWriter(tmp_path, "kr", NEW)
    assert moved.exists()


def test_v1_orphan_partition_in_a_v2_archive(tmp_path: Path) -> None:
    """A v1 partition dir that no manifest accounts for (left by a v1 crash) is moved aside too."""
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    v1_part = layout.partition_dir(
        REPO / "tests" / "fixtures" / "archive-v1", "listing", "seoulsolution", "20261101T140000Z"
    )
    orphan = layout.partition_dir(tmp_path, "listing", "kr", NEW)
    shutil.copytree(v1_part, orphan)
    assert state(tmp_path) == expected_state((OLD, 2))
    moved = layout.staging_dir(tmp_path, "kr", NEW) / layout.ORPHANS_DIR / "listing"
    assert archive.recover(tmp_path) == [
        f"orphan partition {orphan} (no committed snapshot, no intent) moved to {moved}"
    ]
    assert pq.read_table(moved / layout.PART_FILE).num_rows == 13


# -- real processes killed with SIGKILL -----------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, datetime as dt
    import archive
    root, mode = sys.argv[1], sys.argv[2]
    base = dt.datetime(2026, 11, 1)
    n = 0
    while True:
        sid = archive.snapshot_id_for(base + dt.timedelta(days=n))
        w = archive.SnapshotWriter(root, "kr", sid, batch_rows=50)
        for i in range(300 if mode == "commits" or n == 0 else 10**9):
            w.write("listing", {"page": 1, "position": i, "page_url": "p", "title": f"{sid}-{i}"})
            w.write("failures", {"url": f"{sid}-{i}", "stage": "http", "reason": "본문 없음"})
            if i == 1000:
                print("writing", flush=True)
        w.commit({"status": "ok"})
        print("committed", sid, flush=True)
        n += 1
    """
)


def run_and_kill(
    root: Path, mode: str, wait_for: str, times: int, delay: float, child: str = CHILD
) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", child, str(root), mode], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while sum(line.startswith(wait_for) for line in lines) < times:
            line = proc.stdout.readline()
            assert line, f"child exited early with {proc.wait()}"
            lines.append(line.strip())
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None
    lines += [line.strip() for line in proc.stdout.read().splitlines()]  # printed before it died
    proc.stdout.close()
    return lines


def check_committed_read_fully(root: Path) -> dict[str, int]:
    a = archive.open(root)
    snaps = a.snapshots()
    listing = a.listing()
    for sid, rows in zip(snaps["snapshot_id"], snaps["rows_listing"], strict=True):
        got = listing.loc[listing["snapshot_id"] == sid, "title"].tolist()
        assert got == [f"{sid}-{i}" for i in range(300)] and rows == 300
        assert len(a.failures(snapshot=sid)) == 300 and len(a.runs(snapshot=sid)) == 1
    return raw_readers_work(root)


def test_sigkill_mid_write(tmp_path: Path) -> None:
    lines = run_and_kill(tmp_path, "write", "writing", 1, 0.3)
    assert lines[0] == "committed 20261101T000000Z"
    # the killed writer left its staging database, and nothing at all where raw readers look
    assert (layout.staging_dir(tmp_path, "kr", "20261102T000000Z") / layout.STAGE_DB).is_file()
    assert not list((tmp_path / layout.STAGING_DIR).rglob("*.parquet*"))
    raw = check_committed_read_fully(tmp_path)
    assert raw["listing"] == 300 and raw["failures"] == 300
    assert archive.open(tmp_path).snapshots()["snapshot_id"].tolist() == ["20261101T000000Z"]
    stage = layout.staging_dir(tmp_path, "kr", "20261102T000000Z")
    assert archive.recover(tmp_path) == [f"abandoned snapshot kr/20261102T000000Z kept in {stage}"]
    (entry,) = archive.resumable(tmp_path, "kr")
    assert entry["resumable"] and entry["rows"]["listing"] > 1000
    # every write() that returned is there, in order: listing row i and failure i are staged together
    w = archive.SnapshotWriter(tmp_path, "kr", "20261102T000000Z", resume=True)
    titles = [r["title"] for r in w.staged("listing")]
    n = len(titles)
    assert titles == [f"20261102T000000Z-{i}" for i in range(n)]
    assert w.counts["failures"] in (n - 1, n)
    w.abort()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13])
def test_sigkill_during_commit_loop(tmp_path: Path, delay: float) -> None:
    lines = run_and_kill(tmp_path, "commits", "committed", 2, delay)
    printed = [line.split()[1] for line in lines if line.startswith("committed")]
    committed = archive.open(tmp_path).snapshots()["snapshot_id"].tolist()
    assert committed[: len(printed)] == printed  # every commit that returned is visible
    check_committed_read_fully(tmp_path)  # before recovery: committed snapshots whole, raw readers work
    archive.recover(tmp_path)
    after = archive.open(tmp_path).snapshots()["snapshot_id"].tolist()
    assert after[: len(committed)] == committed and len(after) <= len(committed) + 1
    raw = check_committed_read_fully(tmp_path)
    assert raw["runs"] == len(after)  # no commit intent left half done: every file has its catalog entry
    assert not any((tmp_path / layout.STAGING_DIR / "kr").glob(f"*/{layout.COMMIT_FILE}"))


# -- a crawl's stage() sequence killed at any instant, then resumed ----------------------------------

STAGE_CALLS = 400
SID = "20261102T000000Z"
STAGER = textwrap.dedent(
    """
    import sys
    import archive
    from tests.test_archive_commit import page_records, page_source, STAGE_CALLS, SID
    w = archive.SnapshotWriter(sys.argv[1], "kr", SID)
    print("open", flush=True)
    for i in range(STAGE_CALLS):
        w.stage(page_source(i), page_records(i), kind="listing", info={"i": i, "next": page_source(i + 1)})
        print("staged", i, flush=True)
    print("done", flush=True)
    """
)


def page_source(i: int) -> str:
    return f"https://board.example.kr/news?page={i}"


def page_records(i: int) -> list[tuple[str, dict[str, Any]]]:
    """What stage() call ``i`` of a crawl stages: a listing page of 5 rows (without post ids yet), the
    first row of the previous page again, now with its post id (an upsert), that post, and a failure
    whose key repeats every 7 pages (an upsert too)."""
    recs: list[tuple[str, dict[str, Any]]] = [
        (
            "listing",
            {"page": i, "position": j, "page_url": page_source(i), "title": f"{i}-{j}", "reads": i * j},
        )
        for j in range(5)
    ]
    if i:
        prev = {"page": i - 1, "position": 0, "page_url": page_source(i - 1), "title": f"{i - 1}-0"}
        recs.append(("listing", {**prev, "post_id": f"p{i - 1}", "reads": 0}))
        recs.append(
            (
                "posts",
                {
                    "post_id": f"p{i - 1}",
                    "url": f"https://board.example.kr/node/{i - 1}",
                    "body_text": f"본문 {i - 1}",
                    "content_hash": f"h{i - 1}",
                },
            )
        )
    recs.append(
        ("failures", {"url": f"https://board.example.kr/f{i % 7}", "stage": "http", "reason": f"call {i}"})
    )
    return recs


def expected_after(calls: int) -> dict[str, list[tuple[Any, ...]]]:
    """What the first ``calls`` stage() calls leave, computed independently of the archive: a dict per
    dataset, keyed like the archive keys rows, insertion order kept, later values replacing earlier ones."""
    keys = {"listing": ("page", "position"), "posts": ("post_id",), "failures": ("url", "stage")}
    state: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {name: {} for name in keys}
    for i in range(calls):
        for name, row in page_records(i):
            state[name][tuple(row[k] for k in keys[name])] = row
    return {
        "listing": sorted(
            (r["page"], r["position"], r["title"], r.get("post_id"), r["reads"])
            for r in state["listing"].values()
        ),
        "posts": [(r["post_id"], r["body_text"]) for r in state["posts"].values()],
        "failures": [(r["url"], r["reason"]) for r in state["failures"].values()],
    }


def staged_now(w: archive.SnapshotWriter) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "listing": sorted(
            (r["page"], r["position"], r["title"], r.get("post_id"), r["reads"]) for r in w.staged("listing")
        ),
        "posts": [(r["post_id"], r["body_text"]) for r in w.staged("posts")],
        "failures": [(r["url"], r["reason"]) for r in w.staged("failures")],
    }


@pytest.mark.parametrize(
    ("after_line", "delay"), [("open", 0.0), ("staged", 0.0), ("staged", 0.004), ("staged", 0.02)]
)
def test_sigkill_mid_staging_resumes_without_loss_or_duplicates(
    tmp_path: Path, after_line: str, delay: float
) -> None:
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    times = 1 if after_line == "open" else 60
    lines = run_and_kill(tmp_path, "stage", after_line, times, delay, child=STAGER)
    printed = [int(line.split()[1]) for line in lines if line.startswith("staged ")]
    returned = printed[-1] + 1 if printed else 0  # stage() calls that had returned when the child died
    assert "done" not in lines

    assert state(tmp_path) == expected_state((OLD, 2))  # nothing of the killed run is visible
    raw_readers_work(tmp_path)
    (entry,) = archive.resumable(tmp_path, "kr")
    assert entry["snapshot_id"] == SID and entry["resumable"], entry
    w = archive.SnapshotWriter(tmp_path, "kr", SID, resume=True)
    journal = w.journal()
    done = len(journal)
    # every call that returned is there; the call in flight is there whole or not at all
    assert done in (returned, returned + 1), (done, returned)
    assert list(journal) == [page_source(i) for i in range(done)]
    assert (
        journal[page_source(done - 1)] == ("listing", {"i": done - 1, "next": page_source(done)})
        if done
        else True
    )
    assert staged_now(w) == expected_after(done)
    assert entry["sources_done"] == done

    for i in range(done, STAGE_CALLS):  # the resumed run does only what is left
        w.stage(page_source(i), page_records(i), kind="listing", info={"i": i, "next": page_source(i + 1)})
    w.commit(RUN)
    want = expected_after(STAGE_CALLS)
    a = archive.open(tmp_path)
    listing = a.listing(snapshot=SID)
    got = sorted(
        zip(
            listing["page"],
            listing["position"],
            listing["title"],
            listing["post_id"].astype(object).where(listing["post_id"].notna(), None),
            listing["reads"],
            strict=True,
        )
    )
    assert got == want["listing"] and len(listing) == 5 * STAGE_CALLS
    posts = a.posts(snapshot=SID)
    # readers return a snapshot's posts ordered by post id (archive.schema.ROW_ORDER)
    assert list(zip(posts["post_id"], posts["body_text"], strict=True)) == sorted(want["posts"])
    failures = a.failures(snapshot=SID)
    assert list(zip(failures["url"], failures["reason"], strict=True)) == want["failures"]
    run = a.runs(snapshot=SID).iloc[0]
    assert run["resumes"] == 1 and run["posts_fetched"] == STAGE_CALLS - 1
    assert a.snapshots()["snapshot_id"].tolist() == [OLD, SID]
    assert archive.resumable(tmp_path, "kr") == []
