"""The per-site catalog ``_catalog/<site>.json``: which snapshots are committed and which files hold them.

It is the readers' source of truth. It is only ever replaced whole (temporary file, fsync,
``os.replace``, fsync of the directory) under the site's commit lock, so a reader sees either the old or
the new catalog, never a mix. Its shape::

    {
      "format": "policyboard-archive-catalog", "site": "<site>", "schema_version": 2,
      "generation": 7,            # +1 at every replacement
      "compactions": 1,           # compactions done: numbers the files a compaction writes
      "snapshots": [              # sorted by snapshot id
        {"snapshot_id": "...", "committed_at": "...Z", "schema_version": 2, "code_version": "0.1.0",
         "rows": {"listing": 210, "post_versions": 3, ...}, "migrated_from": 1}   # last key: only if migrated
      ],
      "datasets": {"listing": [{"name": "<sid>-00000.parquet", "bytes": 51234, "rows": 210,
                                "snapshots": {"<sid>": 210}}], ...}
    }

Files are listed per dataset in row order: a snapshot's rows of one dataset are in exactly one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archive import layout
from archive.errors import ArchiveVersionError
from archive.schema import DATASETS, SCHEMA_VERSION

CATALOG_FORMAT = "policyboard-archive-catalog"


def check_version(version: Any, where: str) -> None:
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise ArchiveVersionError(f"{where}: unreadable archive schema version {version!r}") from None
    if v > SCHEMA_VERSION:
        raise ArchiveVersionError(
            f"{where} was written with archive schema version {v}, but this reader knows only up to "
            f"{SCHEMA_VERSION}: upgrade policyboard-archiver to read it"
        )


def empty(site: str) -> dict[str, Any]:
    return {
        "format": CATALOG_FORMAT,
        "site": site,
        "schema_version": SCHEMA_VERSION,
        "generation": 0,
        "compactions": 0,
        "snapshots": [],
        "datasets": {name: [] for name in DATASETS},
    }


def read(root: Path, site: str) -> dict[str, Any] | None:
    """The catalog of ``site``, or None if the site has none (a v1 site, or no commit yet)."""
    path = layout.catalog_path(root, site)
    try:
        cat = layout.read_json(path)
    except FileNotFoundError:
        return None
    if cat.get("format") != CATALOG_FORMAT or cat.get("site") != site:
        raise ValueError(f"{path}: not the catalog of site {site!r}")
    check_version(cat.get("schema_version"), f"catalog {path}")
    for name in DATASETS:
        cat["datasets"].setdefault(name, [])
    return cat


def write(root: Path, site: str, cat: dict[str, Any]) -> None:
    """Replace the catalog atomically. The caller holds the site's commit lock."""
    cat["generation"] = int(cat.get("generation", 0)) + 1
    cat["snapshots"] = sorted(cat["snapshots"], key=lambda s: s["snapshot_id"])
    path = layout.catalog_path(root, site)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write_json(path, cat, indent=1)


def snapshot_ids(cat: dict[str, Any] | None) -> set[str]:
    return {s["snapshot_id"] for s in cat["snapshots"]} if cat else set()


def add_commit(cat: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Register the snapshot of a v2 commit manifest and its files (appended: the newest rows last)."""
    sid = manifest["snapshot_id"]
    if sid in snapshot_ids(cat):
        return
    cat["snapshots"].append(
        {
            "snapshot_id": sid,
            "committed_at": manifest["committed_at"],
            "schema_version": manifest["schema_version"],
            "code_version": manifest.get("code_version"),
            "rows": {name: manifest["datasets"][name]["rows"] for name in DATASETS},
        }
    )
    for name in DATASETS:
        for f in manifest["datasets"][name]["files"]:
            cat["datasets"][name].append(
                {"name": f["name"], "bytes": f["bytes"], "rows": f["rows"], "snapshots": {sid: f["rows"]}}
            )
