"""Commit atomicity and recovery: simulated crashes at every step, abandoned writers, orphans, SIGKILL."""

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
    out: dict[str, dict[str, list[str]]] = {}
    for sid in a.snapshots()["snapshot_id"]:
        out[sid] = {name: a.read(name, snapshot=sid)[col].tolist() for name, col in key.items()}
        out[sid]["runs"] = a.runs(snapshot=sid)["status"].tolist()
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
    for k in range(100):
        root = tmp_path / f"k{k}"
        start_snapshot(root, OLD, 4).commit(RUN)
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
            assert k >= 10  # 6 files renamed into place, the intent, 6 partition moves, the manifest
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
            assert all(line.startswith("removed unfinished manifest") for line in report[:-1])
            assert not layout.staging_dir(root, "kr", NEW).exists()
            outcomes.append("rolled forward")
        else:
            assert after == old_state, k
            assert report == [f"abandoned snapshot kr/{NEW} kept in {layout.staging_dir(root, 'kr', NEW)}"]
            assert archive.recover(root, discard_abandoned=True) == [f"discarded abandoned snapshot kr/{NEW}"]
            assert not layout.staging_dir(root, "kr", NEW).exists()
            outcomes.append("abandoned")
        assert raw_readers_work(root)["listing"] == sum(len(s["listing"]) for s in after.values())
    else:
        pytest.fail("commit never succeeded")
    assert outcomes.count("abandoned") >= 6 and outcomes.count("rolled forward") >= 7, outcomes


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
    assert layout.partition_dir(tmp_path, "listing", "kr", OLD).exists()
    assert state(tmp_path) == {}
    w2 = archive.SnapshotWriter(tmp_path, "kr", NEW)
    assert w2.recovered == [f"rolled forward kr/{OLD}"]
    assert state(tmp_path) == expected_state((OLD, 3))
    w2.abort()


def test_abandoned_writer_is_invisible(tmp_path: Path) -> None:
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    w = start_snapshot(tmp_path, NEW, 50)  # several batches already encoded into staging files
    assert any(layout.staging_dir(tmp_path, "kr", NEW).rglob("*.inprogress"))
    del w  # never committed nor aborted, as after a crash
    assert state(tmp_path) == expected_state((OLD, 2))
    assert pd.read_parquet(tmp_path / "listing")["title"].tolist() == [
        "20261101T000000Z-0",
        "20261101T000000Z-1",
    ]
    with pytest.raises(FileExistsError, match="did not commit"):
        archive.SnapshotWriter(tmp_path, "kr", NEW)  # kept for a later resume, never overwritten
    assert archive.recover(tmp_path, discard_abandoned=True) == [f"discarded abandoned snapshot kr/{NEW}"]
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


def test_orphan_partitions_are_moved_aside_not_deleted(tmp_path: Path) -> None:
    start_snapshot(tmp_path, OLD, 2).commit(RUN)
    w = start_snapshot(tmp_path, NEW, 1)
    orphan = layout.partition_dir(tmp_path, "listing", "kr", NEW)
    shutil.copytree(layout.partition_dir(tmp_path, "listing", "kr", OLD), orphan)  # e.g. a manifest lost
    assert state(tmp_path) == expected_state((OLD, 2))  # our readers ignore it
    assert len(pd.read_parquet(tmp_path / "listing")) == 4  # raw readers see whatever is in place
    with pytest.raises(FileExistsError, match="recover"):
        w.commit(RUN)  # refuses to publish over it
    report = archive.recover(tmp_path, discard_abandoned=True)
    stage = layout.staging_dir(tmp_path, "kr", NEW)
    moved = stage / layout.ORPHANS_DIR / "listing"
    assert report == [
        f"discarded abandoned snapshot kr/{NEW}",  # the writer that failed to commit
        f"orphan partition {orphan} (no manifest, no commit intent) moved to {moved}",
    ]
    assert not orphan.exists()
    assert pq.read_table(moved / layout.PART_FILE).num_rows == 2  # kept
    assert len(pd.read_parquet(tmp_path / "listing")) == 2
    # a staging dir holding orphans is never discarded, nor reused
    assert archive.recover(tmp_path, discard_abandoned=True) == [
        f"abandoned snapshot kr/{NEW} kept in {stage}"
    ]
    with pytest.raises(FileExistsError, match="did not commit"):
        archive.SnapshotWriter(tmp_path, "kr", NEW)
    assert moved.exists()


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


def run_and_kill(root: Path, mode: str, wait_for: str, times: int, delay: float) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), mode], stdout=subprocess.PIPE, text=True, env=env
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
    # the killed writer left a file without its footer, but only in staging
    inprogress = list((tmp_path / layout.STAGING_DIR).rglob("*.inprogress"))
    assert inprogress
    with pytest.raises(Exception, match=r"(?i)parquet|footer|magic"):
        pq.ParquetFile(inprogress[0])
    raw = check_committed_read_fully(tmp_path)
    assert raw["listing"] == 300 and raw["failures"] == 300
    assert archive.open(tmp_path).snapshots()["snapshot_id"].tolist() == ["20261101T000000Z"]
    stage = layout.staging_dir(tmp_path, "kr", "20261102T000000Z")
    assert archive.recover(tmp_path) == [f"abandoned snapshot kr/20261102T000000Z kept in {stage}"]


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
    assert raw["runs"] == len(after)  # no commit intent left half done: every partition has its manifest
    assert not any((tmp_path / layout.STAGING_DIR / "kr").glob(f"*/{layout.COMMIT_FILE}"))
