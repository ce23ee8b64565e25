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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.commit import recover
    from archive.compaction import compact, compact_after_commit
    from archive.errors import ArchiveFormatError, ArchiveLocked, ArchiveVersionError, StageError
    from archive.layout import parse_snapshot_id, snapshot_id_for, validate_site, validate_snapshot_id
    from archive.lock import CrawlLock, crawl_lock
    from archive.reader import Archive, to_pandas
    from archive.reader import open_archive as open  # noqa: F401  (archive.open)
    from archive.schema import DATASETS, SCHEMA_VERSION, STAGE_DATASETS
    from archive.writer import SnapshotWriter, discard, resumable

#: Where each public name lives. Loaded on first use (PEP 562), so that a process that needs one
#: submodule (the WARC writer's worker: archive.warc) does not import pyarrow and pandas with it.
_HOME = {
    "recover": "commit",
    "compact": "compaction",
    "compact_after_commit": "compaction",
    "ArchiveFormatError": "errors",
    "ArchiveLocked": "errors",
    "ArchiveVersionError": "errors",
    "StageError": "errors",
    "parse_snapshot_id": "layout",
    "snapshot_id_for": "layout",
    "validate_site": "layout",
    "validate_snapshot_id": "layout",
    "CrawlLock": "lock",
    "crawl_lock": "lock",
    "Archive": "reader",
    "to_pandas": "reader",
    "open": "reader",
    "DATASETS": "schema",
    "SCHEMA_VERSION": "schema",
    "STAGE_DATASETS": "schema",
    "SnapshotWriter": "writer",
    "discard": "writer",
    "resumable": "writer",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:  # a submodule (archive.schema, archive.warc...), as after an eager import
        try:
            return importlib.import_module(f"archive.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"archive.{name}":
                raise
            raise AttributeError(f"module 'archive' has no attribute {name!r}") from None
    module = importlib.import_module(f"archive.{home}")
    value = getattr(module, "open_archive" if name == "open" else name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


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
    "StageError",
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
