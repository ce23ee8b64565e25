"""SnapshotWriter: buffers rows per dataset, writes them in batches to staging, commits atomically."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from archive import commit as _commit
from archive import layout
from archive.convert import Converter, _Bad, converter_for, describe
from archive.schema import DATASETS, SCHEMA_VERSION, SCHEMA_VERSION_KEY

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "policyboard-archive-snapshot"


def file_schema(dataset: str) -> pa.Schema:
    """The schema a dataset's files are written with: the declared one plus the version metadata."""
    return DATASETS[dataset].with_metadata({SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    schema: pa.Schema
    columns: frozenset[str]
    fields: tuple[tuple[str, Converter, bool], ...]


_SPECS = {
    name: _Spec(
        schema=file_schema(name),
        columns=frozenset(s.names),
        fields=tuple((f.name, converter_for(f.type), f.nullable) for f in s),
    )
    for name, s in DATASETS.items()
}


class SnapshotWriter:
    """Write one snapshot of one site; nothing is visible to readers before :meth:`commit` returns.

    ``write()`` is meant to be called from a Scrapy pipeline: it validates and converts the row,
    appends it to the dataset's buffer and only encodes Parquet when ``batch_rows`` rows are buffered,
    so memory holds at most one batch per dataset. Not thread-safe: use it from one thread (Scrapy's
    pipelines run on the reactor thread).
    """

    def __init__(self, root: str | Path, site: str, snapshot_id: str, *, batch_rows: int = 500) -> None:
        self.root = Path(root)
        self.site = layout.validate_site(site)
        self.snapshot_id = layout.validate_snapshot_id(snapshot_id)
        if not isinstance(batch_rows, int) or batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive int, got {batch_rows!r}")
        self.batch_rows = batch_rows
        (self.root / layout.SNAPSHOTS_DIR).mkdir(parents=True, exist_ok=True)  # marks the archive
        #: what recovery did for this site before we started (also logged)
        self.recovered: list[str] = _commit.recover(self.root, site=self.site)
        if _commit.is_committed(self.root, site, snapshot_id):
            raise FileExistsError(f"snapshot {site}/{snapshot_id} is already committed; never overwritten")
        self.staging = layout.staging_dir(self.root, site, snapshot_id)
        try:
            self.staging.mkdir(parents=True)
        except FileExistsError:
            raise FileExistsError(
                f"{self.staging} exists: an earlier writer of {site}/{snapshot_id} did not commit; "
                "use another snapshot id or archive.recover(root, discard_abandoned=True)"
            ) from None
        self._buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in DATASETS}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._counts: dict[str, int] = dict.fromkeys(DATASETS, 0)
        self._state = "open"  # open -> committing -> committed | failed ; open -> aborted

    # -- writing -----------------------------------------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Rows written per dataset so far (buffered rows included)."""
        return dict(self._counts)

    @property
    def buffered(self) -> dict[str, int]:
        """Rows currently held in memory per dataset (never more than ``batch_rows``)."""
        return {name: len(buf) for name, buf in self._buffers.items()}

    def write(self, dataset: str, row: dict[str, Any]) -> None:
        if dataset == "runs":
            raise ValueError("dataset 'runs': its single row is written by commit(run), not write()")
        self._append(dataset, row)

    def write_many(self, dataset: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(dataset, row)

    def _append(self, dataset: str, row: dict[str, Any]) -> None:
        if self._state != "open":
            raise RuntimeError(f"writer of {self.site}/{self.snapshot_id} is {self._state}; cannot write")
        spec = _SPECS.get(dataset)
        if spec is None:
            raise ValueError(f"unknown dataset {dataset!r}; datasets: {list(DATASETS)}")
        if not isinstance(row, dict):
            if dataclasses.is_dataclass(row) and not isinstance(row, type):
                row = dataclasses.asdict(row)  # a crawler.items record
            else:
                raise ValueError(f"{dataset}: a row must be a dict, got {type(row).__name__}")
        unknown = row.keys() - spec.columns
        if unknown:
            raise ValueError(f"{dataset}: unknown column(s) {sorted(unknown)}; columns: {spec.schema.names}")
        out: dict[str, Any] = {}
        for name, conv, nullable in spec.fields:
            v = row.get(name)
            if v is None:
                if not nullable:  # pyarrow would store a null in a required column without a word
                    raise ValueError(f"{dataset}.{name}: required column is missing or None")
                continue  # absent keys become nulls under the explicit schema
            try:
                out[name] = conv(v)
            except _Bad as exc:
                raise ValueError(describe(dataset, name, exc)) from None
        buf = self._buffers[dataset]
        buf.append(out)
        self._counts[dataset] += 1
        if len(buf) >= self.batch_rows:
            self._flush(dataset)

    def _path(self, dataset: str) -> Path:
        return self.staging / dataset / (layout.PART_FILE + layout.INPROGRESS_SUFFIX)

    def _writer(self, dataset: str) -> pq.ParquetWriter:
        w = self._writers.get(dataset)
        if w is None:
            path = self._path(dataset)
            path.parent.mkdir(parents=True, exist_ok=True)
            w = pq.ParquetWriter(path, _SPECS[dataset].schema, compression="zstd")
            self._writers[dataset] = w
        return w

    def _flush(self, dataset: str) -> None:
        buf = self._buffers[dataset]
        if not buf:
            return
        table = pa.Table.from_pylist(buf, schema=_SPECS[dataset].schema)
        self._writer(dataset).write_table(table, row_group_size=self.batch_rows)
        self._buffers[dataset] = []

    # -- committing --------------------------------------------------------------------------------

    def commit(self, run: dict[str, Any]) -> Path:
        """Write the ``runs`` row, close and verify every file, publish atomically; returns the manifest."""
        if self._state != "open":
            raise RuntimeError(f"writer of {self.site}/{self.snapshot_id} is {self._state}; cannot commit")
        run = dict(run)
        if run.get("schema_version") not in (None, SCHEMA_VERSION):
            raise ValueError(
                f"runs.schema_version: this archive writes {SCHEMA_VERSION}, got {run['schema_version']!r}"
            )
        run["schema_version"] = SCHEMA_VERSION
        self._append("runs", run)
        self._state = "committing"
        try:
            files = {name: self._close_and_verify(name) for name in DATASETS}  # step 1
            manifest = {
                "format": MANIFEST_FORMAT,
                "site": self.site,
                "snapshot_id": self.snapshot_id,
                "schema_version": SCHEMA_VERSION,
                "committed_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "code_version": run.get("code_version"),
                "datasets": {name: {"rows": self._counts[name], "files": [files[name]]} for name in DATASETS},
            }
            path = _commit.publish(self.root, self.site, self.snapshot_id, manifest)  # steps 2-5
        except BaseException:
            self._state = "failed"  # staging stays on disk: recover() rolls it forward or reports it
            raise
        self._state = "committed"
        return path

    def _close_and_verify(self, dataset: str) -> dict[str, Any]:
        self._flush(dataset)
        self._writer(dataset).close()  # a dataset with no rows still gets a typed, empty file
        tmp = self._path(dataset)
        layout.fsync_file(tmp)
        with pq.ParquetFile(tmp) as pf:  # reopening the footer proves the file is complete
            rows, schema = pf.metadata.num_rows, pf.schema_arrow
        if rows != self._counts[dataset]:
            raise RuntimeError(f"{tmp}: {rows} rows in the footer, {self._counts[dataset]} written")
        if not schema.equals(_SPECS[dataset].schema, check_metadata=True):
            raise RuntimeError(f"{tmp}: schema differs from the {dataset} schema:\n{schema}")
        final = tmp.with_name(layout.PART_FILE)
        os.replace(tmp, final)
        layout.fsync_dir(final.parent)
        return {"name": final.name, "bytes": final.stat().st_size}

    def abort(self) -> None:
        """Discard everything written so far (the staging dir). A no-op after abort()."""
        if self._state == "aborted":
            return
        if self._state == "committed":
            raise RuntimeError(f"snapshot {self.site}/{self.snapshot_id} is committed; cannot abort")
        for w in self._writers.values():
            try:
                w.close()
            except Exception:  # the file is about to be deleted anyway
                log.debug("closing a writer during abort failed", exc_info=True)
        self._writers.clear()
        self._buffers = {name: [] for name in DATASETS}
        # a failed commit may already have written its intent: then recover() decides, not abort()
        if self._state == "failed" and (self.staging / layout.COMMIT_FILE).exists():
            raise RuntimeError(f"{self.staging} holds a commit intent; run archive.recover() instead")
        shutil.rmtree(self.staging, ignore_errors=True)
        self._state = "aborted"

    def __repr__(self) -> str:
        return f"SnapshotWriter({str(self.root)!r}, {self.site!r}, {self.snapshot_id!r}, state={self._state})"
