"""Publishing a committed snapshot atomically, and recovering from a crash at any point of it.

The protocol (see docs/archive-format.md):

1. the writer streams the staging into one Parquet file per dataset in
   ``_staging/<site>/<id>/files/<dataset>/``, closes, fsyncs and verifies each one;
2. ``COMMIT.json`` (the manifest content) is written into the staging dir: the commit intent;
3. each file is renamed into ``<dataset>/site=<site>/`` (``runs`` last);
4. the manifest ``_snapshots/<site>/<id>.json`` is written;
5. the catalog ``_catalog/<site>.json`` is replaced by one that lists the snapshot and its files:
   from now on the snapshot is committed;
6. the staging dir is removed.

A crash before (2) leaves a staging that readers never look at (and a later run can resume); a crash
after (2) is rolled forward by :func:`recover`. Readers of our API trust the catalog only, so they see a
snapshot whole or not at all. Steps 1-6 and recovery run under the per-site commit lock.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from archive import catalog, layout
from archive.schema import DATASETS, V1_DATASETS

log = logging.getLogger(__name__)


def is_committed(root: Path, site: str, snapshot_id: str) -> bool:
    """In the site's catalog, or a v1 snapshot (whose manifest alone made it committed)."""
    if snapshot_id in catalog.snapshot_ids(catalog.read(root, site)):
        return True
    path = layout.manifest_path(root, site, snapshot_id)
    return path.exists() and layout.read_json(path).get("schema_version") == 1


def publish(root: Path, site: str, snapshot_id: str, manifest: dict[str, Any]) -> Path:
    """Steps 2-6 for a staging whose files are closed and verified. The caller holds the site lock.
    Returns the manifest path."""
    stage = layout.staging_dir(root, site, snapshot_id)
    for name in DATASETS:
        for f in manifest["datasets"][name]["files"]:
            dst = layout.site_dir(root, name, site) / f["name"]
            if dst.exists():
                raise FileExistsError(
                    f"{dst} already exists although snapshot {site}/{snapshot_id} is not committed; "
                    "run archive.recover() to move it aside"
                )
    layout.atomic_write_json(stage / layout.COMMIT_FILE, manifest, indent=None)  # (2) point of no return
    return _roll_forward(root, site, snapshot_id)


def _roll_forward(root: Path, site: str, snapshot_id: str) -> Path:
    """Steps 3-6 from whatever point a previous attempt reached. Caller holds the site lock."""
    stage = layout.staging_dir(root, site, snapshot_id)
    manifest = layout.read_json(stage / layout.COMMIT_FILE)
    if manifest.get("schema_version") == 1:
        return _roll_forward_v1(root, site, snapshot_id, manifest)
    for name in DATASETS:  # dict order: ``runs`` last
        dst_dir = layout.site_dir(root, name, site)
        for f in manifest["datasets"][name]["files"]:
            src = stage / layout.FILES_DIR / name / f["name"]
            dst = dst_dir / f["name"]
            if src.exists():
                if dst.exists():
                    raise RuntimeError(
                        f"cannot roll {site}/{snapshot_id} forward: both {src} and {dst} exist"
                    )
                dst_dir.mkdir(parents=True, exist_ok=True)
                os.rename(src, dst)  # the file appears whole, verified, with its final name
            elif not dst.exists():
                raise RuntimeError(
                    f"cannot roll {site}/{snapshot_id} forward: {f['name']} is in neither {src} nor {dst}"
                )
            size = dst.stat().st_size
            if size != f["bytes"]:
                raise RuntimeError(f"{dst}: {size} bytes, the commit intent says {f['bytes']}")
        if dst_dir.exists():
            layout.fsync_dir(dst_dir)
    target = layout.manifest_path(root, site, snapshot_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write_json(target, manifest, indent=None)  # (4) one line: one is written per snapshot
    layout.fsync_dir(target.parent.parent)
    cat = catalog.read(root, site) or catalog.empty(site)
    if snapshot_id not in catalog.snapshot_ids(cat):
        catalog.add_commit(cat, manifest)
        catalog.write(root, site, cat)  # (5) committed
    shutil.rmtree(stage)  # (6)
    layout.fsync_dir(stage.parent)
    return target


def _roll_forward_v1(root: Path, site: str, snapshot_id: str, manifest: dict[str, Any]) -> Path:
    """A commit intent left by a v1 writer: partition dirs moved into place, manifest written."""
    stage = layout.staging_dir(root, site, snapshot_id)
    for name in V1_DATASETS:  # ``runs`` last
        src = stage / name
        dst = layout.partition_dir(root, name, site, snapshot_id)
        if src.exists():
            if dst.exists():
                raise RuntimeError(f"cannot roll {site}/{snapshot_id} forward: both {src} and {dst} exist")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            layout.fsync_dir(dst.parent)
        elif not dst.exists():
            raise RuntimeError(
                f"cannot roll {site}/{snapshot_id} forward: {name} is in neither {src} nor {dst}"
            )
    target = layout.manifest_path(root, site, snapshot_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write_json(target, manifest)
    shutil.rmtree(stage)
    layout.fsync_dir(stage.parent)
    return target


def sites(root: Path) -> list[str]:
    names: set[str] = set()
    for d in (root / layout.STAGING_DIR, root / layout.SNAPSHOTS_DIR):
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if p.is_dir())
    if (root / layout.CATALOG_DIR).is_dir():
        names.update(p.stem for p in (root / layout.CATALOG_DIR).glob("*.json") if not p.name.startswith("."))
    for name in {*DATASETS, *V1_DATASETS}:
        if (root / name).is_dir():
            names.update(p.name[5:] for p in (root / name).iterdir() if p.name.startswith("site="))
    out = []
    for n in sorted(names):
        try:
            out.append(layout.validate_site(n))
        except ValueError:
            log.warning("ignoring %r: not a valid site name", n)
    return out


def recover(root: str | Path, *, site: str | None = None, discard_abandoned: bool = False) -> list[str]:
    """Bring the archive at ``root`` back to a state where every snapshot is committed or out of sight.

    - staging dir with a ``COMMIT.json``: the commit is rolled forward (moves finished, catalog updated);
    - staging dir of an already committed snapshot: leftover of the last step, removed;
    - staging dir without ``COMMIT.json``: an interrupted (or still running) crawl, resumable. Kept and
      reported, unless ``discard_abandoned=True`` (only safe when no writer of that site is running); a
      staging dir holding ``orphans/`` is never discarded;
    - a compaction with its intent (``COMPACT.json``) is rolled forward; one without is removed;
    - a data file (v2) or partition dir (v1) in a final place that no committed snapshot and no intent
      accounts for: moved to ``_staging/<site>/<id>/orphans/<dataset>`` (never deleted);
    - a missing catalog of a site whose v2 manifests exist is rebuilt from the manifests and files.

    Returns one human-readable line per action taken or problem found.
    """
    root = Path(root)
    chosen = [layout.validate_site(site)] if site is not None else sites(root)
    report: list[str] = []
    for s in chosen:
        with layout.site_lock(root, s):
            report.extend(_recover_site(root, s, discard_abandoned))
    for line in report:  # an interrupted crawl's staging is normal in v2: it waits for a resume
        (log.info if line.startswith("abandoned snapshot") else log.warning)("archive recovery: %s", line)
    return report


def _recover_site(root: Path, site: str, discard_abandoned: bool) -> list[str]:
    from archive.compaction import recover_compaction  # imported late: it imports this module

    report: list[str] = []
    for d, pattern in (
        (root / layout.SNAPSHOTS_DIR / site, ".*.tmp"),
        (root / layout.CATALOG_DIR, f".{site}.json.tmp"),
    ):
        if d.is_dir():
            for tmp in d.glob(pattern):  # a write interrupted before os.replace
                tmp.unlink()
                report.append(f"removed unfinished {tmp}")
    staging_root = root / layout.STAGING_DIR / site
    if staging_root.is_dir():
        for stage in sorted(staging_root.iterdir()):
            if stage.name.startswith(".") or stage.name in (layout.CRAWL_LOCK_FILE, layout.COMPACT_DIR):
                continue
            if not stage.is_dir() or not layout.is_snapshot_id(stage.name):
                report.append(f"unexpected entry {stage} left alone")
                continue
            sid = stage.name
            if (stage / layout.COMMIT_FILE).exists() and not is_committed(root, site, sid):
                _roll_forward(root, site, sid)
                report.append(f"rolled forward {site}/{sid}")
            elif is_committed(root, site, sid) and not (stage / layout.ORPHANS_DIR).exists():
                shutil.rmtree(stage)
                report.append(f"removed leftover staging of committed snapshot {site}/{sid}")
            elif discard_abandoned and not (stage / layout.ORPHANS_DIR).exists():
                shutil.rmtree(stage)
                report.append(f"discarded abandoned snapshot {site}/{sid}")
            else:
                report.append(f"abandoned snapshot {site}/{sid} kept in {stage}")
        report.extend(recover_compaction(root, site))
    if catalog.read(root, site) is None:
        line = _rebuild_catalog(root, site)
        if line:
            report.append(line)
    report.extend(_move_orphans(root, site))
    return report


def _v2_manifests(root: Path, site: str) -> list[dict[str, Any]]:
    d = root / layout.SNAPSHOTS_DIR / site
    out = []
    if d.is_dir():
        for path in sorted(d.glob("*.json")):
            if not path.name.startswith(".") and layout.is_snapshot_id(path.stem):
                m = layout.read_json(path)
                if m.get("schema_version", 1) >= 2:
                    out.append(m)
    return out


def _rebuild_catalog(root: Path, site: str) -> str | None:
    """A site with v2 manifests but no catalog (it was deleted or lost): rebuilt from the manifests and
    the ``snapshot_id`` column of the data files in place."""
    manifests = _v2_manifests(root, site)
    if not manifests:
        return None
    cat = catalog.empty(site)
    for m in manifests:
        cat["snapshots"].append(
            {
                "snapshot_id": m["snapshot_id"],
                "committed_at": m["committed_at"],
                "schema_version": m["schema_version"],
                "code_version": m.get("code_version"),
                "rows": dict.fromkeys(DATASETS, 0),
            }
        )
    sids = catalog.snapshot_ids(cat)
    by_id = {s["snapshot_id"]: s for s in cat["snapshots"]}
    for name in DATASETS:
        d = layout.site_dir(root, name, site)
        if not d.is_dir():
            continue
        entries = []
        for path in sorted(d.glob("*.parquet")):
            if path.name.startswith((".", "_")):
                continue
            col = pq.read_table(path, columns=["snapshot_id"]).column("snapshot_id").to_pylist()
            counts: dict[str, int] = {}
            for s in col:
                counts[s] = counts.get(s, 0) + 1
            named_after = path.name[:16]  # <snapshot_id>-<seq>.parquet
            if not set(counts) <= sids or (not counts and named_after not in sids):
                continue  # not accounted for by a manifest: left for the orphan scan
            entries.append(
                {
                    "name": path.name,
                    "bytes": path.stat().st_size,
                    "rows": len(col),
                    "snapshots": counts or {named_after: 0},
                }
            )
            for s, n in counts.items():
                by_id[s]["rows"][name] += n
        entries.sort(key=lambda e: (min(e["snapshots"]), e["name"]))
        cat["datasets"][name] = entries
    catalog.write(root, site, cat)
    return f"rebuilt the missing catalog of {site} from {len(manifests)} manifest(s) and the files in place"


def _move_orphans(root: Path, site: str) -> list[str]:
    report: list[str] = []
    cat = catalog.read(root, site)
    named = {name: {e["name"] for e in cat["datasets"][name]} for name in DATASETS} if cat else {}
    for name in sorted({*DATASETS, *V1_DATASETS}):
        site_dir = layout.site_dir(root, name, site)
        if not site_dir.is_dir():
            continue
        for entry in sorted(site_dir.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_dir() and entry.name.startswith("snapshot_id="):  # v1 partition
                sid = entry.name.removeprefix("snapshot_id=")
                if not layout.is_snapshot_id(sid):
                    report.append(f"unexpected entry {entry} left alone")
                    continue
                stage = layout.staging_dir(root, site, sid)
                if is_committed(root, site, sid) or (stage / layout.COMMIT_FILE).exists():
                    continue
                if cat and sid in catalog.snapshot_ids(cat):
                    continue
            elif entry.is_file() and entry.name.endswith(".parquet") and name in DATASETS:
                sid = entry.name[:16]
                if entry.name in named.get(name, ()):
                    continue
                if not layout.is_snapshot_id(sid):
                    report.append(f"unexpected entry {entry} left alone")
                    continue
                stage = layout.staging_dir(root, site, sid)
            else:
                report.append(f"unexpected entry {entry} left alone")
                continue
            dest = stage / layout.ORPHANS_DIR / name
            if entry.is_file():
                dest = dest / entry.name
            n = 0
            while dest.exists():
                n += 1
                dest = dest.with_name(f"{dest.name}.{n}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(entry, dest)
            layout.fsync_dir(site_dir)
            what = "partition" if entry.is_dir() or dest.is_dir() else "file"
            report.append(f"orphan {what} {entry} (no committed snapshot, no intent) moved to {dest}")
    return report
