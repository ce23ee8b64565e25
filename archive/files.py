"""Reading the v2 Parquet files a catalog names (shared by the reader, the writer and compaction)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from archive import layout
from archive.catalog import check_version
from archive.schema import DATASETS, SCHEMA_VERSION, SCHEMA_VERSION_KEY

_FORMAT = ds.ParquetFileFormat()
_LOCAL = pafs.LocalFileSystem()


def file_schema(dataset: str) -> pa.Schema:
    """The schema a dataset's files are written with: the declared one plus the version metadata."""
    return DATASETS[dataset].with_metadata({SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


def catalog_files(
    root: Path, site: str, cat: dict[str, Any] | None, dataset: str, snapshots: Iterable[str] | None = None
) -> list[tuple[Path, dict[str, Any]]]:
    """(path, entry) of the files of ``dataset`` holding rows of ``snapshots`` (None: of any snapshot),
    in catalog order."""
    if not cat:
        return []
    wanted = None if snapshots is None else set(snapshots)
    out = []
    for entry in cat["datasets"].get(dataset, []):
        held = entry["snapshots"]
        if wanted is None:
            if not entry["rows"]:
                continue
        elif not any(held.get(s, 0) for s in wanted):
            continue
        out.append((layout.site_dir(root, dataset, site) / entry["name"], entry))
    return out


def read(
    dataset: str,
    files: Sequence[tuple[Path, dict[str, Any]]],
    *,
    snapshots: Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
    filter: Any = None,
) -> pa.Table:
    """Rows of ``dataset`` from ``files`` (in the given order), restricted to ``snapshots`` using the row
    groups' statistics of ``snapshot_id`` so that other snapshots' row groups are skipped. Columns an
    older file lacks come back as nulls; a file of a newer schema version is refused."""
    schema = DATASETS[dataset]
    cols = list(schema.names if columns is None else columns)
    if not files:
        return schema.empty_table().select(cols)
    # Each file's footer is read once: checked for its schema version here, then reused by the scan.
    frags = [_FORMAT.make_fragment(str(p), filesystem=_LOCAL) for p, _ in files]
    for frag in frags:
        md = frag.physical_schema.metadata or {}
        check_version(md.get(SCHEMA_VERSION_KEY), f"file {frag.path}")
    dset = ds.FileSystemDataset(frags, schema=schema, format=_FORMAT, filesystem=_LOCAL)
    expr = filter
    if snapshots is not None:
        wanted = set(snapshots)
        held = set().union(*(e["snapshots"] for _, e in files))
        if not held <= wanted:
            sel = pc.field("snapshot_id").isin(sorted(wanted))
            expr = sel if expr is None else (expr & sel)
    return dset.to_table(columns=cols, filter=expr)  # fragments come back in the order given


def iter_batches(path: Path, *, batch_rows: int, columns: Sequence[str] | None = None) -> Any:
    with pq.ParquetFile(path) as pf:
        check_version((pf.schema_arrow.metadata or {}).get(SCHEMA_VERSION_KEY), f"file {path}")
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


#: Columns whose row-group statistics let a reader skip other snapshots' rows or find a post.
STATISTICS_COLUMNS = ("snapshot_id", "first_seen", "post_id", "page", "position")


#: A commit's row group also ends when its rows hold this much text (characters of str values). A post
#: holds its body twice (text and HTML), as Python strings and then as Arrow buffers: on the replica a
#: row group of 1,000 posts added about 22 MiB to the commit's RSS, and a board of long posts (a 1 MB
#: body) would need gigabytes. With this bound (and 100-row read batches) a 20,000-post commit grew by
#: 43 MiB instead of 76; compaction and the readers do not depend on a snapshot's row-group size.
BATCH_TEXT_CHARS = 1_000_000


class FileWriter:
    """Writes one Parquet file of a dataset under a temporary ``.inprogress`` name, in row groups of
    ``batch_rows`` (fewer when the rows' text passes ``BATCH_TEXT_CHARS``); :meth:`finish` closes it,
    proves it complete by reopening its footer, and renames it to its final name. Memory holds at most
    one row group."""

    def __init__(self, path: Path, dataset: str, *, batch_rows: int) -> None:
        self.final = path
        self.tmp = path.with_name(path.name + layout.INPROGRESS_SUFFIX)
        self.dataset = dataset
        self.schema = file_schema(dataset)
        self.batch_rows = batch_rows
        self.rows = 0
        self.snapshots: dict[str, int] = {}
        self._buf: list[dict[str, Any]] = []
        self._buf_text = 0  # characters of text held in _buf
        self._tables: list[pa.Table] = []
        self._buffered = 0
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        # Statistics only on the key columns readers filter on: min/max of every text column (bodies,
        # titles) would put whole strings into each footer, several KB per file.
        stats = [name for name in STATISTICS_COLUMNS if name in self.schema.names]
        self._w = pq.ParquetWriter(self.tmp, self.schema, compression="zstd", write_statistics=stats)

    def _count(self, sid: str, n: int) -> None:
        self.rows += n
        self.snapshots[sid] = self.snapshots.get(sid, 0) + n

    def add(self, row: dict[str, Any]) -> None:
        self._buf.append(row)
        self._count(row["snapshot_id"], 1)
        self._buf_text += sum(len(v) for v in row.values() if type(v) is str)
        if len(self._buf) >= self.batch_rows or self._buf_text >= BATCH_TEXT_CHARS:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if self._buf:
            self._w.write_table(
                pa.Table.from_pylist(self._buf, schema=self.schema), row_group_size=self.batch_rows
            )
            self._buf = []
            self._buf_text = 0

    def add_table(self, table: pa.Table, sid_counts: dict[str, int], *, max_bytes: int = 32 << 20) -> None:
        """Append an Arrow table (already in the dataset's schema); rows are grouped into row groups of up
        to ``batch_rows`` rows (or ``max_bytes``)."""
        for sid, n in sid_counts.items():
            self._count(sid, n)
        self._tables.append(table)
        self._buffered += table.num_rows
        if self._buffered >= self.batch_rows or sum(t.nbytes for t in self._tables) >= max_bytes:
            self._flush_tables()

    def _flush_tables(self) -> None:
        if self._tables:
            t = pa.concat_tables(self._tables).cast(self.schema)
            self._w.write_table(t, row_group_size=max(self.batch_rows, t.num_rows))
            self._tables, self._buffered = [], 0

    def finish(self) -> dict[str, Any]:
        self._flush_rows()
        self._flush_tables()
        self._w.close()  # a dataset with no rows still gets a typed, empty file
        layout.fsync_file(self.tmp)
        with pq.ParquetFile(self.tmp) as pf:  # reopening the footer proves the file is complete
            rows, schema = pf.metadata.num_rows, pf.schema_arrow
        if rows != self.rows:
            raise RuntimeError(f"{self.tmp}: {rows} rows in the footer, {self.rows} written")
        if not schema.equals(self.schema, check_metadata=True):
            raise RuntimeError(f"{self.tmp}: schema differs from the {self.dataset} schema:\n{schema}")
        os.replace(self.tmp, self.final)
        layout.fsync_dir(self.final.parent)
        return {
            "name": self.final.name,
            "bytes": self.final.stat().st_size,
            "rows": self.rows,
            "snapshots": dict(self.snapshots),
        }

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # the file is deleted anyway
            self._w.close()
        self.tmp.unlink(missing_ok=True)
