"""The reader API notebooks use: committed snapshots only, typed pandas DataFrames.

The source of truth is each site's catalog (``_catalog/<site>.json``): only the files it names are
opened, and rows are selected by their ``snapshot_id`` column (row groups of other snapshots are skipped
by their statistics). A v1 site (no catalog, v1 manifests) is read through the same conversion that
compaction uses to migrate it, so an archive reads the same before and after migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from archive import catalog, files, layout, v1
from archive.catalog import check_version
from archive.errors import ArchiveVersionError
from archive.schema import DATASETS, POST_OBS, POSTS_VIEW, ROW_ORDER, VERSION_COLUMNS

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

__all__ = ["Archive", "ArchiveVersionError", "open_archive", "to_pandas"]


def open_archive(root: str | Path) -> Archive:
    """Open the archive at ``root`` for reading (published as ``archive.open``)."""
    root = Path(root)
    if not (root / layout.SNAPSHOTS_DIR).is_dir() and not (root / layout.CATALOG_DIR).is_dir():
        what = "does not exist" if not root.exists() else f"has no {layout.SNAPSHOTS_DIR}/ directory"
        raise FileNotFoundError(
            f"no archive at {root}: the directory {what} (an archive is created by archive.SnapshotWriter)"
        )
    return Archive(root)


@dataclass
class _Site:
    """What is committed for one site: catalog snapshots and files, plus unmigrated v1 snapshots."""

    name: str
    cat: dict[str, Any] | None
    entries: list[dict[str, Any]]  # snapshot entries, sorted by id
    v1_ids: frozenset[str]
    v1_tables: dict[str, pa.Table] | None  # the v1 snapshots converted to the v2 datasets

    def entry(self, sid: str) -> dict[str, Any]:
        return next(e for e in self.entries if e["snapshot_id"] == sid)


def _with_site(table: pa.Table, site: str) -> pa.Table:
    return table.add_column(0, pa.field("site", pa.string()), pa.array([site] * table.num_rows, pa.string()))


class Archive:
    """Read-only view of an archive. Every call re-reads the catalogs, so new commits show up."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._v1_cache: dict[tuple[Any, ...], tuple[dict[str, pa.Table], list[dict[str, Any]]]] = {}

    def __repr__(self) -> str:
        return f"archive.open({str(self.root)!r})"

    # -- what is committed -------------------------------------------------------------------------

    def _site_names(self) -> list[str]:
        names: set[str] = set()
        cdir = self.root / layout.CATALOG_DIR
        if cdir.is_dir():
            names.update(p.stem for p in cdir.glob("*.json") if not p.name.startswith("."))
        sdir = self.root / layout.SNAPSHOTS_DIR
        if sdir.is_dir():
            names.update(p.name for p in sdir.iterdir() if p.is_dir() and not p.name.startswith("."))
        out = []
        for n in sorted(names):
            try:
                out.append(layout.validate_site(n))
            except ValueError:
                continue
        return out

    def _v1(self, site: str, manifests: list[dict[str, Any]], cat: dict[str, Any] | None):
        key = (
            site,
            tuple((m["snapshot_id"], m["committed_at"]) for m in manifests),
            cat["generation"] if cat else None,
        )
        hit = self._v1_cache.get(key)
        if hit is None:
            known: set[tuple[str, str]] = set()
            if cat:
                t = files.read(
                    "post_versions",
                    files.catalog_files(self.root, site, cat, "post_versions"),
                    columns=["post_id", "content_hash"],
                )
                known = set(
                    zip(t.column("post_id").to_pylist(), t.column("content_hash").to_pylist(), strict=True)
                )
            parts: dict[str, list[pa.Table]] = {name: [] for name in DATASETS}
            entries = []
            for m in manifests:
                tables = v1.convert_snapshot(self.root, site, m, known)
                for name in DATASETS:
                    parts[name].append(tables[name])
                entries.append(v1.snapshot_entry(m, tables))
            hit = ({name: pa.concat_tables(ts) for name, ts in parts.items()}, entries)
            self._v1_cache = {key: hit}  # keep only the latest state
        return hit

    def _sites(self, site: str | None = None) -> dict[str, _Site]:
        if site is not None:  # a site without snapshots (yet) selects nothing; a malformed name is an error
            layout.validate_site(site)
            names = [site] if site in self._site_names() else []
        else:
            names = self._site_names()
        out: dict[str, _Site] = {}
        for name in names:
            cat = catalog.read(self.root, name)
            entries = list(cat["snapshots"]) if cat else []
            manifests = v1.manifests(self.root, name, catalog.snapshot_ids(cat))
            v1_tables = None
            if manifests:
                v1_tables, v1_entries = self._v1(name, manifests, cat)
                entries.extend(v1_entries)
            entries.sort(key=lambda e: e["snapshot_id"])
            if entries:
                out[name] = _Site(
                    name, cat, entries, frozenset(m["snapshot_id"] for m in manifests), v1_tables
                )
        return out

    def sites(self) -> list[str]:
        """Sites with at least one committed snapshot, sorted."""
        return list(self._sites())

    def snapshots(self, site: str | None = None) -> pd.DataFrame:
        """One row per committed snapshot, sorted by site then snapshot id."""
        es = [(s.name, e) for s in self._sites(site).values() for e in s.entries]
        return pd.DataFrame(
            {
                "site": pd.array([s for s, _ in es], dtype=_STRING),
                "snapshot_id": pd.array([e["snapshot_id"] for _, e in es], dtype=_STRING),
                "committed_at": pd.to_datetime([e["committed_at"] for _, e in es], utc=True).as_unit("us"),
                "schema_version": pd.array([e["schema_version"] for _, e in es], dtype="Int32"),
                **{
                    f"rows_{name}": pd.array([e["rows"].get(name, 0) for _, e in es], dtype="Int64")
                    for name in DATASETS
                },
                "code_version": pd.array([e.get("code_version") for _, e in es], dtype=_STRING),
            }
        )

    def _select(self, snapshot: SnapshotArg, site: str | None) -> dict[str, tuple[_Site, list[str]]]:
        sites = self._sites(site)
        if snapshot is None:
            return {n: (s, [e["snapshot_id"] for e in s.entries]) for n, s in sites.items()}
        if isinstance(snapshot, str) and snapshot == "latest":
            return {n: (s, [s.entries[-1]["snapshot_id"]]) for n, s in sites.items()}
        wanted = [snapshot] if isinstance(snapshot, str) else list(snapshot)
        for sid in wanted:
            if not isinstance(sid, str):
                raise TypeError(f"snapshot ids are strings, got {sid!r}")
            layout.validate_snapshot_id(sid)
        have = {e["snapshot_id"] for s in sites.values() for e in s.entries}
        missing = [sid for sid in wanted if sid not in have]
        if missing:
            scope = f"site {site!r}" if site is not None else "this archive"
            recent = sorted(have)[-5:]
            raise KeyError(f"snapshot(s) {missing} not committed in {scope}; latest committed: {recent}")
        chosen = set(wanted)
        out = {}
        for n, s in sites.items():
            sids = [e["snapshot_id"] for e in s.entries if e["snapshot_id"] in chosen]
            if sids:
                out[n] = (s, sids)
        return out

    # -- scanning ----------------------------------------------------------------------------------

    def _site_rows(
        self,
        s: _Site,
        dataset: str,
        sids: list[str] | None,
        columns: Sequence[str],
        filter: Any = None,
    ) -> pa.Table:
        """Rows of one site's dataset for ``sids`` (None: every snapshot), ``site`` column first."""
        for sid in sids or [e["snapshot_id"] for e in s.entries]:
            check_version(s.entry(sid)["schema_version"], f"snapshot {s.name}/{sid}")
        cols = list(columns)
        tables = []
        v2 = None if sids is None else [x for x in sids if x not in s.v1_ids]
        if v2 is None or v2:
            fs = files.catalog_files(self.root, s.name, s.cat, dataset, v2)
            tables.append(files.read(dataset, fs, snapshots=v2, columns=cols, filter=filter))
        if s.v1_tables is not None:
            t = s.v1_tables[dataset]
            old = s.v1_ids if sids is None else [x for x in sids if x in s.v1_ids]
            if old:
                if filter is not None:
                    t = t.filter(filter)
                mask = pc.is_in(t.column("snapshot_id"), value_set=pa.array(sorted(old), pa.string()))
                tables.append(t.filter(mask).select(cols))
        t = pa.concat_tables(tables) if tables else DATASETS[dataset].empty_table().select(cols)
        return _with_site(t, s.name)

    def _scan(
        self,
        dataset: str,
        sel: dict[str, tuple[_Site, list[str]]],
        columns: Sequence[str] | None = None,
        filter: Any = None,
    ) -> pa.Table:
        """``site``, ``snapshot_id``, then ``columns`` of the selection, ordered by site, snapshot id,
        then the dataset's natural order (``ROW_ORDER``) or else the order the rows were written in."""
        schema = DATASETS[dataset]
        want = [c for c in (columns if columns is not None else schema.names) if c != "snapshot_id"]
        order = [c for c in ROW_ORDER.get(dataset, ()) if c not in want]
        cols = ["snapshot_id", *want, *order]
        parts = [self._site_rows(s, dataset, sids, cols, filter) for s, sids in sel.values()]
        table = pa.concat_tables(parts) if parts else _with_site(schema.empty_table().select(cols), "")
        keys = ["site", "snapshot_id", *ROW_ORDER.get(dataset, ())]
        if table.num_rows > 1:
            table = table.sort_by([(k, "ascending") for k in keys])  # stable: file order among equals
        return table.select(["site", "snapshot_id", *want])

    # -- datasets ----------------------------------------------------------------------------------

    def _columns(self, names: Sequence[str], columns: Sequence[str] | None, what: str) -> list[str]:
        if columns is None:
            return [c for c in names if c not in ("site", "snapshot_id")]
        if isinstance(columns, str):
            columns = [columns]
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ValueError(f"{what}: unknown column(s) {unknown}; columns: {list(names)}")
        return [c for c in columns if c not in ("site", "snapshot_id")]

    def arrow(
        self,
        dataset: str,
        snapshot: SnapshotArg = None,
        site: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The rows of ``dataset`` in the selected committed snapshots as an Arrow table (``site``,
        ``snapshot_id`` first). ``dataset`` is a stored dataset, or ``posts`` (posts as they stood)."""
        if dataset == "posts":
            return self._posts(snapshot, site, columns)
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; datasets: {['posts', *DATASETS]}")
        cols = self._columns(["site", *DATASETS[dataset].names], columns, dataset)
        return self._scan(dataset, self._select(snapshot, site), cols)

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
        """Each post as it stood in the selected snapshots: its observation joined with its version.
        Columns: ``site``, ``snapshot_id``, the v1 post columns, then ``fetch``."""
        return self.read("posts", snapshot, site, columns)

    def post_obs(
        self, snapshot: SnapshotArg = None, site: str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The thin per-snapshot observations of posts (no content)."""
        return self.read("post_obs", snapshot, site, columns)

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

    # -- posts: observations joined with versions ------------------------------------------------

    def _versions_for(self, s: _Site, obs: pa.Table, columns: Sequence[str]) -> pa.Table:
        """The version rows (``columns``) of the (post_id, content_hash) pairs of ``obs``, in obs order."""
        ids = pc.unique(obs.column("post_id"))
        t = self._site_rows(
            s,
            "post_versions",
            None,
            ["post_id", "content_hash", *columns],
            filter=pc.field("post_id").isin(ids),
        )
        sep = pa.scalar("\x1f")
        vkeys = pc.binary_join_element_wise(t.column("post_id"), t.column("content_hash"), sep)
        okeys = pc.binary_join_element_wise(obs.column("post_id"), obs.column("content_hash"), sep)
        idx = pc.index_in(okeys, value_set=vkeys)
        if idx.null_count:
            missing = okeys.filter(pc.is_null(idx)).to_pylist()[:3]
            raise RuntimeError(
                f"archive {self.root}, site {s.name}: post observation(s) without their stored version "
                f"(post_id, content_hash): {[m.replace(chr(31), ', ') for m in missing]}"
            )
        return t.take(idx)

    def _posts(self, snapshot: SnapshotArg, site: str | None, columns: Sequence[str] | None) -> pa.Table:
        names = ["site", *POSTS_VIEW.names]
        cols = self._columns(names, columns, "posts")
        sel = self._select(snapshot, site)
        obs = self._scan("post_obs", sel)
        wanted = [c for c in cols if c in VERSION_COLUMNS]
        parts = []
        for name, (s, _) in sel.items():
            o = obs.filter(pc.equal(obs.column("site"), name)) if len(sel) > 1 else obs
            v = self._versions_for(s, o, wanted) if wanted else None
            arrays, fields = (
                [o.column("site"), o.column("snapshot_id")],
                [pa.field("site", pa.string()), POSTS_VIEW.field(0)],
            )
            for c in cols:
                src = v if c in VERSION_COLUMNS else o
                arrays.append(src.column(c))
                fields.append(POSTS_VIEW.field(c))
            parts.append(pa.Table.from_arrays(arrays, schema=pa.schema(fields)))
        if not parts:
            schema = pa.schema(
                [pa.field("site", pa.string()), *(POSTS_VIEW.field(c) for c in ["snapshot_id", *cols])]
            )
            return schema.empty_table()
        return pa.concat_tables(parts)

    def post_versions(self, site: str | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every stored version of every post: ``site``, ``post_id``, ``content_hash``, the version columns,
        ``first_seen`` (the snapshot that first stored it) and ``last_seen`` (the latest snapshot that
        observed it)."""
        names = ["site", "post_id", "content_hash", *VERSION_COLUMNS, "first_seen", "last_seen"]
        cols = self._columns(names, columns, "post_versions")
        sel = self._select(None, site)
        vcols = [c for c in cols if c not in ("last_seen", "post_id", "content_hash")]
        v = self._scan("post_versions", sel, ["post_id", "content_hash", *vcols])
        if "last_seen" in cols:
            obs = self._scan("post_obs", sel, ["post_id", "content_hash"])
            last = obs.group_by(["site", "post_id", "content_hash"], use_threads=False).aggregate(
                [("snapshot_id", "max")]
            )
            sep = pa.scalar("\x1f")
            vkeys = pc.binary_join_element_wise(
                v.column("site"), v.column("post_id"), v.column("content_hash"), sep
            )
            lkeys = pc.binary_join_element_wise(
                last.column("site"), last.column("post_id"), last.column("content_hash"), sep
            )
            idx = pc.index_in(vkeys, value_set=lkeys)
            v = v.append_column(pa.field("last_seen", pa.string()), last.column("snapshot_id_max").take(idx))
        return to_pandas(v.select(["site", *cols]))

    def post_state(self, site: str) -> pd.DataFrame:
        """One row per post known to ``site``, from the latest committed snapshot that observed it:
        what an incremental crawl needs to decide whether (and how) to fetch the post again."""
        layout.validate_site(site)
        sel = self._select(None, site)
        obs_cols = [
            "post_id",
            "url",
            "requested_url",
            "content_hash",
            "listing_title",
            "etag",
            "last_modified",
            "fetched_at",
        ]
        obs = self._scan("post_obs", sel, obs_cols)
        if obs.num_rows:
            # rows are sorted by snapshot: the last row of each post is its latest observation
            idx = pa.array(range(obs.num_rows), pa.int64())
            obs = obs.append_column("__i", idx)
            last = obs.group_by(["post_id"], use_threads=False).aggregate([("__i", "max")])
            obs = obs.take(last.column("__i_max")).drop_columns(["__i"])
        title = pa.nulls(obs.num_rows, pa.string())
        if obs.num_rows:
            (s, _) = sel[site]
            title = self._versions_for(s, obs, ["title"]).column("title")
        out = pa.table(
            {
                "post_id": obs.column("post_id"),
                "url": obs.column("url"),
                "requested_url": obs.column("requested_url"),
                "content_hash": obs.column("content_hash"),
                "title": title,
                "listing_title": obs.column("listing_title"),
                "etag": obs.column("etag"),
                "last_modified": obs.column("last_modified"),
                "fetched_at": obs.column("fetched_at").cast(POST_OBS.field("fetched_at").type),
                "last_seen": obs.column("snapshot_id"),
            }
        )
        if out.num_rows > 1:
            out = out.sort_by([("post_id", "ascending")])
        return to_pandas(out)

    # -- comparisons and history -----------------------------------------------------------------

    def changes(
        self, old: str | None = None, new: str | None = None, site: str | None = None
    ) -> pd.DataFrame:
        """What changed from snapshot ``old`` to ``new`` of one site: one row per change (see
        docs/archive-format.md). Defaults: the two latest committed snapshots of the site."""
        from archive.history import changes

        return changes(self, old, new, site)

    def reads_history(self, site: str | None = None) -> pd.DataFrame:
        """Read counts of every listed post in every snapshot, with the change since its previous
        snapshot and a flag where the count fell."""
        from archive.history import reads_history

        return reads_history(self, site)

    def partners_history(self, site: str | None = None) -> pd.DataFrame:
        """One row per partner (section, name): when it was first and last seen, and its latest link/logo."""
        from archive.history import partners_history

        return partners_history(self, site)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with the archive's promised dtypes: nullable Int*/boolean/string, dates as
    ``datetime64[ms]`` (midnight of the day), timestamps ``datetime64[us, UTC]``, lists as Python lists."""
    nested = [f.name for f in table.schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
    flat = table.drop_columns(nested)
    df = flat.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)
    for name in nested:
        df[name] = pd.Series(table.column(name).to_pylist(), index=df.index, dtype=object)
    return df[table.schema.names]
