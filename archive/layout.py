"""Where things live in an archive, the names that become paths, and small durable-I/O helpers.

Every name validated here ends up in a path (``site=<site>``, ``<snapshot_id>-<seq>.parquet``), so
anything outside the documented alphabet is refused instead of being escaped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CATALOG_DIR = "_catalog"  # one catalog per site: the readers' source of truth for "what is committed"
SNAPSHOTS_DIR = "_snapshots"  # immutable per-snapshot manifests (v1: the source of truth)
STAGING_DIR = "_staging"  # snapshots being written; the leading underscore hides it from hive readers
COMMIT_FILE = "COMMIT.json"  # commit intent inside a staging dir: once present, the commit rolls forward
ORPHANS_DIR = "orphans"
LOCK_FILE = ".lock"  # short per-site lock: commits, compaction, recovery
CRAWL_LOCK_FILE = "crawl.lock"  # per-site lock held for a whole crawl run
STAGE_DB = "stage.sqlite"  # the staged records of a snapshot being crawled
FILES_DIR = "files"  # Parquet files of a snapshot being committed, inside its staging dir
COMPACT_DIR = "compact"  # a compaction in progress: _staging/<site>/compact/
COMPACT_FILE = "COMPACT.json"  # compaction intent: once present, the compaction rolls forward
PART_FILE = "part-00000.parquet"  # v1: the one file of a dataset's snapshot partition
INPROGRESS_SUFFIX = ".inprogress"  # a file still being written: never carries a ``.parquet`` name

SNAPSHOT_ID_FORMAT = "%Y%m%dT%H%M%SZ"
_SNAPSHOT_ID_RE = re.compile(r"\d{8}T\d{6}Z")
_SITE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def validate_site(site: str) -> str:
    """Return ``site`` if it is a valid site name (``[a-z0-9][a-z0-9_-]*``), else raise ValueError."""
    if not isinstance(site, str) or not _SITE_RE.fullmatch(site):
        raise ValueError(
            f"invalid site name {site!r}: expected lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit (it becomes a directory name)"
        )
    return site


def validate_snapshot_id(snapshot_id: str) -> str:
    """Return ``snapshot_id`` if it is a valid UTC ``YYYYMMDDTHHMMSSZ`` id, else raise ValueError."""
    parse_snapshot_id(snapshot_id)
    return snapshot_id


def snapshot_id_for(dt: datetime) -> str:
    """The snapshot id of an instant: UTC ``YYYYMMDDTHHMMSSZ``; a naive datetime is taken as UTC.

    Sub-second precision is truncated: two snapshots of one site must be at least a second apart.
    """
    if not isinstance(dt, datetime):
        raise TypeError(f"snapshot_id_for() needs a datetime, got {dt!r} ({type(dt).__name__})")
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime(SNAPSHOT_ID_FORMAT)


def parse_snapshot_id(snapshot_id: str) -> datetime:
    """The instant (aware, UTC) named by a snapshot id; ValueError for anything not in the format."""
    if not isinstance(snapshot_id, str) or not _SNAPSHOT_ID_RE.fullmatch(snapshot_id):
        raise ValueError(
            f"invalid snapshot id {snapshot_id!r}: expected UTC 'YYYYMMDDTHHMMSSZ', e.g. '20261101T000000Z'"
        )
    try:
        return datetime.strptime(snapshot_id, SNAPSHOT_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:  # right shape, impossible date (month 13, ...)
        raise ValueError(f"invalid snapshot id {snapshot_id!r}: {exc}") from None


def is_snapshot_id(name: str) -> bool:
    try:
        parse_snapshot_id(name)
    except ValueError:
        return False
    return True


def site_dir(root: Path, dataset: str, site: str) -> Path:
    """v2: the hive partition dir that holds every file of ``dataset`` for ``site``."""
    return root / dataset / f"site={site}"


def data_file_name(snapshot_id: str, seq: int) -> str:
    """v2 file name: ``<snapshot_id>-<seq>.parquet``. A commit writes seq 0; a compaction names its
    output after the first snapshot it holds and its own (unique, increasing) generation number."""
    return f"{snapshot_id}-{seq:05d}.parquet"


def partition_dir(root: Path, dataset: str, site: str, snapshot_id: str) -> Path:
    """v1: the partition dir of one dataset of one snapshot."""
    return root / dataset / f"site={site}" / f"snapshot_id={snapshot_id}"


def catalog_path(root: Path, site: str) -> Path:
    return root / CATALOG_DIR / f"{site}.json"


def staging_dir(root: Path, site: str, snapshot_id: str) -> Path:
    return root / STAGING_DIR / site / snapshot_id


def manifest_path(root: Path, site: str, snapshot_id: str) -> Path:
    return root / SNAPSHOTS_DIR / site / f"{snapshot_id}.json"


# -- durable I/O -----------------------------------------------------------------------------------


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename/creation inside ``path`` durable (the entry lives in the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, content: dict[str, Any], *, indent: int | None = 2) -> None:
    """Write ``path`` so that a crash leaves either the old file (or none) or the complete new one."""
    atomic_write_bytes(path, json.dumps(content, indent=indent, sort_keys=True, ensure_ascii=False).encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` so that a crash leaves either the old file (or none) or the complete new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_json(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return json.load(f)


@contextlib.contextmanager
def site_lock(root: Path, site: str) -> Iterator[None]:
    """Exclusive per-site lock held while publishing, compacting or recovering, so that two processes
    never move the same files or replace the same catalog at once. ``flock`` is released by the kernel
    if the holder dies. Not re-entrant: a process must not take it twice."""
    d = root / STAGING_DIR / site
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
