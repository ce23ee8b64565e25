"""The reader API notebooks use: committed snapshots only, typed pandas DataFrames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from archive import layout
from archive.schema import DATASETS, PARTITIONING, ROW_ORDER, SCHEMA_VERSION, SCHEMA_VERSION_KEY

SnapshotArg = str | Sequence[str] | None

_STRING = pd.StringDtype("pyarrow")  # pd.NA for missing, like Int64/boolean (pandas' default str uses NaN)
_PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.string(): _STRING,
    pa.large_string(): _STRING,
}


class ArchiveVersionError(RuntimeError):
    """The archive (or one file of it) was written by a newer schema version than this reader's."""


def _check_version(version: Any, where: str) -> None:
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise ArchiveVersionError(f"{where}: unreadable archive schema version {version!r}") from None
    if v > SCHEMA_VERSION:
        raise ArchiveVersionError(
            f"{where} was written with archive schema version {v}, but this reader knows only up to "
            f"{SCHEMA_VERSION}: upgrade policyboard-archiver to read it"
        )


def open_archive(root: str | Path) -> Archive:
    """Open the archive at ``root`` for reading (published as ``archive.open``)."""
    root = Path(root)
    if not (root / layout.SNAPSHOTS_DIR).is_dir():
        what = "does not exist" if not root.exists() else f"has no {layout.SNAPSHOTS_DIR}/ directory"
        raise FileNotFoundError(
            f"no archive at {root}: the directory {what} (an archive is created by archive.SnapshotWriter)"
        )
    return Archive(root)


class Archive:
    """Read-only view of an archive. Every call re-reads the manifests, so new commits show up."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"archive.open({str(self.root)!r})"

    # -- manifests ---------------------------------------------------------------------------------

    def _manifests(self) -> list[dict[str, Any]]:
        out = []
        base = self.root / layout.SNAPSHOTS_DIR
        for site_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(site_dir.glob("*.json")):
                if path.name.startswith(".") or not layout.is_snapshot_id(path.stem):
                    continue
                m = layout.read_json(path)
                if m.get("site") != site_dir.name or m.get("snapshot_id") != path.stem:
                    raise ValueError(f"{path}: manifest names {m.get('site')}/{m.get('snapshot_id')}")
                out.append(m)
        return out

    def sites(self) -> list[str]:
        """Sites with at least one committed snapshot, sorted."""
        return sorted({m["site"] for m in self._manifests()})

    def snapshots(self, site: str | None = None) -> pd.DataFrame:
        """One row per committed snapshot, sorted by site then snapshot id."""
        ms = self._manifests()
        if site is not None:  # a site without snapshots (yet) selects nothing; a malformed name is an error
            layout.validate_site(site)
            ms = [m for m in ms if m["site"] == site]
        df = pd.DataFrame(
            {
                "site": pd.array([m["site"] for m in ms], dtype=_STRING),
                "snapshot_id": pd.array([m["snapshot_id"] for m in ms], dtype=_STRING),
                "committed_at": pd.to_datetime([m["committed_at"] for m in ms], utc=True).as_unit("us"),
                "schema_version": pd.array([m["schema_version"] for m in ms], dtype="Int32"),
                **{
                    f"rows_{name}": pd.array([m["datasets"][name]["rows"] for m in ms], dtype="Int64")
                    for name in DATASETS
                },
                "code_version": pd.array([m.get("code_version") for m in ms], dtype=_STRING),
            }
        )
        return df

    def _select(self, snapshot: SnapshotArg, site: str | None) -> list[dict[str, Any]]:
        ms = self._manifests()
        if site is not None:  # a site without snapshots (yet) selects nothing; a malformed name is an error
            layout.validate_site(site)
            ms = [m for m in ms if m["site"] == site]
        if snapshot is None:
            return ms
        if snapshot == "latest":
            latest: dict[str, dict[str, Any]] = {}
            for m in ms:  # sorted by id within a site, and ids sort chronologically
                latest[m["site"]] = m
            return list(latest.values())
        wanted = [snapshot] if isinstance(snapshot, str) else list(snapshot)
        for sid in wanted:
            if not isinstance(sid, str):
                raise TypeError(f"snapshot ids are strings, got {sid!r}")
            layout.validate_snapshot_id(sid)
        have = {m["snapshot_id"] for m in ms}
        missing = [sid for sid in wanted if sid not in have]
        if missing:
            scope = f"site {site!r}" if site is not None else "this archive"
            recent = sorted(have)[-5:]
            raise KeyError(f"snapshot(s) {missing} not committed in {scope}; latest committed: {recent}")
        chosen = set(wanted)
        return [m for m in ms if m["snapshot_id"] in chosen]

    # -- datasets ----------------------------------------------------------------------------------

    def arrow(
        self,
        dataset: str,
        snapshot: SnapshotArg = None,
        site: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The rows of ``dataset`` in the selected committed snapshots as an Arrow table
        (``site``, ``snapshot_id`` first; ordered by site, snapshot id, then the dataset's natural order
        from ``schema.ROW_ORDER`` or else file row order)."""
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; datasets: {list(DATASETS)}")
        schema = pa.schema(list(PARTITIONING) + list(DATASETS[dataset]))
        if columns is not None:
            unknown = [c for c in columns if c not in schema.names]
            if unknown:
                raise ValueError(f"{dataset}: unknown column(s) {unknown}; columns: {schema.names}")
            cols = ["site", "snapshot_id", *[c for c in columns if c not in ("site", "snapshot_id")]]
        else:
            cols = schema.names
        ms = self._select(snapshot, site)
        paths = []
        for m in ms:
            _check_version(m.get("schema_version"), f"snapshot {m['site']}/{m['snapshot_id']}")
            d = layout.partition_dir(self.root, dataset, m["site"], m["snapshot_id"])
            paths.extend(str(d / f["name"]) for f in m["datasets"][dataset]["files"])
        if not paths:
            return schema.empty_table().select(cols)
        # Only the files named by the selected manifests are opened: uncommitted partitions are never
        # even listed. The explicit schema null-fills columns an older file lacks; the explicit
        # partitioning keeps site/snapshot_id plain strings.
        dset = ds.dataset(
            paths,
            schema=schema,
            format="parquet",
            partitioning=ds.partitioning(PARTITIONING, flavor="hive"),
            partition_base_dir=str(self.root / dataset),
        )
        for frag in dset.get_fragments():
            md = frag.physical_schema.metadata or {}
            _check_version(md.get(SCHEMA_VERSION_KEY), f"file {frag.path}")
        table = dset.to_table(columns=cols)  # fragments are returned in the order given
        order = [c for c in ROW_ORDER.get(dataset, ()) if c in cols]
        if order:
            keys = ["site", "snapshot_id", *order]
            table = table.sort_by([(k, "ascending") for k in keys])
        return table

    def read(
        self,
        dataset: str,
        snapshot: SnapshotArg = None,
        site: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The rows of ``dataset`` as a DataFrame; see docs/archive-format.md for the dtypes."""
        return to_pandas(self.arrow(dataset, snapshot, site, columns))

    def listing(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("listing", snapshot, site, columns)

    def posts(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("posts", snapshot, site, columns)

    def partners(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("partners", snapshot, site, columns)

    def blocks(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("blocks", snapshot, site, columns)

    def failures(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("failures", snapshot, site, columns)

    def runs(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        return self.read("runs", snapshot, site, columns)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with the archive's promised dtypes: nullable Int*/boolean/string, dates as
    ``datetime64[ms]`` (midnight of the day), timestamps ``datetime64[us, UTC]``, lists as Python lists."""
    nested = [f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
    flat = table.drop_columns(nested)
    df = flat.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)
    for name in nested:
        df[name] = pd.Series(table.column(name).to_pylist(), index=df.index, dtype=object)
    return df[table.schema.names]
