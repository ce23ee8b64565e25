"""The on-disk snapshot archive: the only place in the project that writes Parquet.

Crawling (one run at a time per site, crash-safe and resumable)::

    with archive.crawl_lock(root, "korea-policy") as lock:
        w = archive.SnapshotWriter(root, "korea-policy", archive.snapshot_id_for(now))
        w.stage(page_url, [("listing", {...}), ...], kind="listing", info={...})   # once per page
        w.commit({"status": "ok", ...})

Reading (committed snapshots only)::

    a = archive.open(root)
    a.posts(snapshot="latest", site="korea-policy")
    a.changes()

The format is described in docs/archive-format.md.
"""

from archive.commit import recover
from archive.compact import compact, compact_after_commit
from archive.errors import ArchiveFormatError, ArchiveLocked, ArchiveVersionError
from archive.layout import parse_snapshot_id, snapshot_id_for, validate_site, validate_snapshot_id
from archive.lock import CrawlLock, crawl_lock
from archive.reader import Archive, to_pandas
from archive.reader import open_archive as open  # noqa: F401  (archive.open)
from archive.schema import DATASETS, SCHEMA_VERSION, STAGE_DATASETS
from archive.writer import SnapshotWriter, discard, resumable

# `open` is left out of __all__ so that `from archive import *` never shadows the builtin.
__all__ = [
    "DATASETS",
    "SCHEMA_VERSION",
    "STAGE_DATASETS",
    "Archive",
    "ArchiveFormatError",
    "ArchiveLocked",
    "ArchiveVersionError",
    "CrawlLock",
    "SnapshotWriter",
    "compact",
    "compact_after_commit",
    "crawl_lock",
    "discard",
    "parse_snapshot_id",
    "recover",
    "resumable",
    "snapshot_id_for",
    "to_pandas",
    "validate_site",
    "validate_snapshot_id",
]
