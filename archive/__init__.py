"""The on-disk snapshot archive: the only place in the project that writes Parquet.

Writing::

    w = archive.SnapshotWriter(root, "korea-policy", archive.snapshot_id_for(now))
    w.write("listing", {...}); ...
    w.commit({"status": "ok", ...})

Reading (committed snapshots only)::

    a = archive.open(root)
    a.posts(snapshot="latest", site="korea-policy")

The format is described in docs/archive-format.md.
"""

from archive.commit import recover
from archive.layout import parse_snapshot_id, snapshot_id_for, validate_site, validate_snapshot_id
from archive.reader import Archive, ArchiveVersionError, to_pandas
from archive.reader import open_archive as open  # noqa: F401  (archive.open)
from archive.schema import DATASETS, SCHEMA_VERSION
from archive.writer import SnapshotWriter

# `open` is left out of __all__ so that `from archive import *` never shadows the builtin.
__all__ = [
    "DATASETS",
    "SCHEMA_VERSION",
    "Archive",
    "ArchiveVersionError",
    "SnapshotWriter",
    "parse_snapshot_id",
    "recover",
    "snapshot_id_for",
    "to_pandas",
    "validate_site",
    "validate_snapshot_id",
]
