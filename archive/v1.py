"""Schema version 1 archives: reading their snapshots and converting them to the v2 datasets.

A v1 snapshot is committed when its manifest ``_snapshots/<site>/<id>.json`` (``schema_version`` 1)
exists; its files are ``<dataset>/site=<site>/snapshot_id=<id>/part-00000.parquet`` with full copies of
every post. :func:`convert_snapshot` turns one such snapshot into the v2 tables (``snapshot_id`` column
first, ``posts`` split into new ``post_versions`` and ``post_obs``). The reader uses it to show an
unmigrated v1 archive exactly as compaction will store it once migrated, so both read the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from archive import layout
from archive.catalog import check_version
from archive.posts import OBS_FROM_POST, fallback_hash
from archive.schema import (
    DATASETS,
    ROW_ORDER,
    SCHEMA_VERSION_KEY,
    V1_DATASETS,
    VERSION_COLUMNS,
)


def manifests(root: Path, site: str, exclude: set[str]) -> list[dict[str, Any]]:
    """The v1 manifests of ``site`` whose snapshot is not in ``exclude`` (the catalog), by id."""
    d = root / layout.SNAPSHOTS_DIR / site
    out = []
    if not d.is_dir():
        return out
    for path in sorted(d.glob("*.json")):
        if path.name.startswith(".") or not layout.is_snapshot_id(path.stem) or path.stem in exclude:
            continue
        m = layout.read_json(path)
        if m.get("schema_version") != 1:
            continue  # a v2 manifest outside the catalog: a commit in progress, not committed yet
        if m.get("site") != site or m.get("snapshot_id") != path.stem:
            raise ValueError(f"{path}: manifest names {m.get('site')}/{m.get('snapshot_id')}")
        out.append(m)
    return out


def _read(root: Path, site: str, manifest: dict[str, Any], dataset: str) -> pa.Table:
    sid = manifest["snapshot_id"]
    d = layout.partition_dir(root, dataset, site, sid)
    paths = [str(d / f["name"]) for f in manifest["datasets"][dataset]["files"]]
    schema = V1_DATASETS[dataset]
    if not paths:
        return schema.empty_table()
    dset = ds.dataset(paths, schema=schema, format="parquet")
    for frag in dset.get_fragments():
        check_version((frag.physical_schema.metadata or {}).get(SCHEMA_VERSION_KEY), f"file {frag.path}")
    return dset.to_table()


def conform(table: pa.Table, dataset: str, snapshot_id: str | None = None, **constants: Any) -> pa.Table:
    """``table`` in the v2 schema of ``dataset``: columns reordered, missing ones null (or ``constants``),
    ``snapshot_id`` filled in when given."""
    schema = DATASETS[dataset]
    n = table.num_rows
    arrays = []
    for f in schema:
        if f.name == "snapshot_id" and snapshot_id is not None:
            arrays.append(pa.array([snapshot_id] * n, pa.string()))
        elif f.name in constants:
            arrays.append(pa.array([constants[f.name]] * n, f.type))
        elif f.name in table.column_names:
            arrays.append(table.column(f.name).cast(f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def convert_snapshot(
    root: Path, site: str, manifest: dict[str, Any], known: set[tuple[str, str]]
) -> dict[str, pa.Table]:
    """The v2 tables of one v1 snapshot. ``known`` holds the (post_id, content_hash) versions stored by
    earlier snapshots; the new ones found here are added to it."""
    check_version(manifest.get("schema_version"), f"snapshot {site}/{manifest['snapshot_id']}")
    sid = manifest["snapshot_id"]
    out: dict[str, pa.Table] = {}
    listing = _read(root, site, manifest, "listing")
    order = ROW_ORDER["listing"]
    listing = listing.sort_by([(c, "ascending") for c in order])  # stable: file order among equals
    out["listing"] = conform(listing, "listing", sid)

    posts = _read(root, site, manifest, "posts")
    hashes = posts.column("content_hash").to_pylist()
    if any(h is None for h in hashes):
        rows = posts.to_pylist()
        hashes = [h if h is not None else fallback_hash(r) for h, r in zip(hashes, rows, strict=True)]
        posts = posts.set_column(
            posts.schema.get_field_index("content_hash"), "content_hash", pa.array(hashes, pa.string())
        )
    ids = posts.column("post_id").to_pylist()
    new = []
    for key in zip(ids, hashes, strict=True):
        new.append(key not in known)
        known.add(key)
    kept = ["post_id", "content_hash", *(c for c in VERSION_COLUMNS if c in posts.column_names)]
    versions = posts.filter(pa.array(new, pa.bool_())).select(kept)  # v1 had no provenance columns
    out["post_versions"] = conform(versions, "post_versions", sid, first_seen=sid)
    obs = posts.select([c for c in OBS_FROM_POST if c in posts.column_names])  # v1 had no etag columns
    out["post_obs"] = conform(obs, "post_obs", sid, fetch="fetched")
    for name in ("partners", "blocks", "failures", "runs"):
        out[name] = conform(_read(root, site, manifest, name), name, sid)
    return out


def snapshot_entry(manifest: dict[str, Any], tables: dict[str, pa.Table]) -> dict[str, Any]:
    """The catalog entry of a v1 snapshot (as migration records it)."""
    return {
        "snapshot_id": manifest["snapshot_id"],
        "committed_at": manifest["committed_at"],
        "schema_version": manifest["schema_version"],
        "code_version": manifest.get("code_version"),
        "rows": {name: tables[name].num_rows for name in DATASETS},
        "migrated_from": 1,
    }
