"""The crawl lock: one crawl run at a time per archive and site.

``with archive.crawl_lock(root, site) as lock:`` takes an exclusive ``flock`` on
``_staging/<site>/crawl.lock`` for the whole run and writes ``{pid, host, started_at, argv}`` into the
file. A second process fails at once with :class:`ArchiveLocked` naming the holder. The kernel releases
a ``flock`` when its process dies, so a lock file left by a dead (even SIGKILLed) run is simply taken
over; ``lock.took_over`` then holds what that dead run had written, so the caller can say so.

This is separate from the short per-site commit lock (``_staging/<site>/.lock``) that commits,
compaction and recovery take for a moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive import layout
from archive.errors import ArchiveLocked

log = logging.getLogger(__name__)


@dataclass
class CrawlLock:
    """A held crawl lock. ``info`` is what this process wrote; ``took_over`` what a dead holder had left
    (``None`` when the lock file was free)."""

    path: Path
    info: dict[str, Any]
    took_over: dict[str, Any] | None = None
    _fd: int = field(default=-1, repr=False)


def _read_holder(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    if not data.strip():
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return {"unreadable": data[:200].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"unreadable": repr(value)[:200]}


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "a process that has not written its details yet"
    if "unreadable" in holder:
        return f"a process whose lock details are unreadable ({holder['unreadable']!r})"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, started at {holder.get('started_at')} "
        f"({' '.join(map(str, holder.get('argv') or []))})"
    )


@contextlib.contextmanager
def crawl_lock(root: str | Path, site: str, *, argv: list[str] | None = None) -> Iterator[CrawlLock]:
    """Hold the crawl lock of ``site`` in the archive at ``root`` for the ``with`` block.

    Raises :class:`ArchiveLocked` at once (never waits) when another live process holds it. Not
    re-entrant: taking it twice in one process fails like a second process would."""
    root = Path(root)
    layout.validate_site(site)
    d = root / layout.STAGING_DIR / site
    d.mkdir(parents=True, exist_ok=True)
    path = d / layout.CRAWL_LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            for _ in range(20):  # the holder may be between taking the lock and writing its details
                if holder:
                    break
                time.sleep(0.025)
                holder = _read_holder(fd)
            raise ArchiveLocked(
                f"the archive {root} is being crawled for site {site!r} by {_describe(holder)}; "
                f"lock file {path}",
                holder or {},
                str(path),
            ) from None
        previous = _read_holder(fd)  # left by a run that died holding it: the kernel released its flock
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "argv": list(sys.argv if argv is None else argv),
        }
        data = json.dumps(info, ensure_ascii=False).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        lock = CrawlLock(path=path, info=info, took_over=previous, _fd=fd)
        if previous:
            log.warning("took over the stale crawl lock of %s (%s)", _describe(previous), path)
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)  # an empty lock file means "free": the next holder took over nothing
    finally:
        os.close(fd)  # closing the descriptor releases the flock
