"""Publishing a staged snapshot atomically, and recovering from a crash at any point of it.

The protocol (see docs/archive-format.md):

1. the writer closes and verifies every file in ``_staging/<site>/<id>/<dataset>/``;
2. ``COMMIT.json`` (the manifest content) is written into the staging dir: the commit intent;
3. each dataset's partition dir is renamed into ``<dataset>/site=<site>/snapshot_id=<id>`` (``runs`` last);
4. the manifest ``_snapshots/<site>/<id>.json`` is written: from now on the snapshot is committed;
5. the staging dir is removed.

A crash before (2) leaves an abandoned staging dir that readers never look at; a crash after (2) is
rolled forward by :func:`recover`. Readers of our API trust manifests only, so they see a snapshot
whole or not at all. Steps 2-5 and recovery run under a per-site lock.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from archive import layout
from archive.schema import DATASETS

log = logging.getLogger(__name__)


def is_committed(root: Path, site: str, snapshot_id: str) -> bool:
    return layout.manifest_path(root, site, snapshot_id).exists()


def publish(root: Path, site: str, snapshot_id: str, manifest: dict[str, Any]) -> Path:
    """Steps 2-5 for a staging dir whose files are closed and verified. Returns the manifest path."""
    stage = layout.staging_dir(root, site, snapshot_id)
    with layout.site_lock(root, site):
        if is_committed(root, site, snapshot_id):
            raise FileExistsError(f"snapshot {site}/{snapshot_id} is already committed; never overwritten")
        for name in DATASETS:
            dst = layout.partition_dir(root, name, site, snapshot_id)
            if dst.exists():
                raise FileExistsError(
                    f"{dst} already exists although snapshot {site}/{snapshot_id} is not committed; "
                    "run archive.recover() to move it aside"
                )
        layout.atomic_write_json(stage / layout.COMMIT_FILE, manifest)  # (2) point of no return
        return _roll_forward(root, site, snapshot_id)


def _roll_forward(root: Path, site: str, snapshot_id: str) -> Path:
    """Steps 3-5 from whatever point a previous attempt reached. Caller holds the site lock."""
    stage = layout.staging_dir(root, site, snapshot_id)
    manifest = layout.read_json(stage / layout.COMMIT_FILE)
    for name in DATASETS:  # dict order: ``runs`` last
        src = stage / name
        dst = layout.partition_dir(root, name, site, snapshot_id)
        if src.exists():
            if dst.exists():
                raise RuntimeError(f"cannot roll {site}/{snapshot_id} forward: both {src} and {dst} exist")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)  # a directory rename: the partition appears whole or not at all
            layout.fsync_dir(dst.parent)
        elif not dst.exists():
            raise RuntimeError(
                f"cannot roll {site}/{snapshot_id} forward: {name} is in neither {src} nor {dst}"
            )
        for f in manifest["datasets"][name]["files"]:
            size = (dst / f["name"]).stat().st_size
            if size != f["bytes"]:
                raise RuntimeError(f"{dst / f['name']}: {size} bytes, the commit intent says {f['bytes']}")
    layout.fsync_dir(stage)
    target = layout.manifest_path(root, site, snapshot_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write_json(target, manifest)  # (4) committed
    layout.fsync_dir(target.parent.parent)
    shutil.rmtree(stage)  # (5)
    layout.fsync_dir(stage.parent)
    return target


def _sites(root: Path) -> list[str]:
    names: set[str] = set()
    for d in (root / layout.STAGING_DIR, root / layout.SNAPSHOTS_DIR):
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if p.is_dir())
    for name in DATASETS:
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

    - staging dir with a ``COMMIT.json``: the commit is rolled forward (moves finished, manifest written);
    - staging dir of an already committed snapshot: leftover of step 5, removed;
    - staging dir without ``COMMIT.json``: an abandoned (or still running) writer. Kept and reported,
      unless ``discard_abandoned=True`` (only safe when no writer of that site is running); a staging
      dir holding ``orphans/`` is never discarded;
    - partition dir in a final place whose snapshot has no manifest and no commit intent: moved to
      ``_staging/<site>/<id>/orphans/<dataset>`` (never deleted).

    Returns one human-readable line per action taken or problem found.
    """
    root = Path(root)
    sites = [layout.validate_site(site)] if site is not None else _sites(root)
    report: list[str] = []
    for s in sites:
        with layout.site_lock(root, s):
            report.extend(_recover_site(root, s, discard_abandoned))
    for line in report:
        log.warning("archive recovery: %s", line)
    return report


def _recover_site(root: Path, site: str, discard_abandoned: bool) -> list[str]:
    report: list[str] = []
    snaps = root / layout.SNAPSHOTS_DIR / site
    if snaps.is_dir():
        for tmp in snaps.glob(".*.tmp"):  # a manifest write interrupted before os.replace
            tmp.unlink()
            report.append(f"removed unfinished manifest {tmp}")
    staging_root = root / layout.STAGING_DIR / site
    if staging_root.is_dir():
        for stage in sorted(staging_root.iterdir()):
            if stage.name.startswith("."):
                continue
            if not stage.is_dir() or not layout.is_snapshot_id(stage.name):
                report.append(f"unexpected entry {stage} left alone")
                continue
            sid = stage.name
            if is_committed(root, site, sid):
                shutil.rmtree(stage)
                report.append(f"removed leftover staging of committed snapshot {site}/{sid}")
            elif (stage / layout.COMMIT_FILE).exists():
                _roll_forward(root, site, sid)
                report.append(f"rolled forward {site}/{sid}")
            elif discard_abandoned and not (stage / layout.ORPHANS_DIR).exists():
                shutil.rmtree(stage)
                report.append(f"discarded abandoned snapshot {site}/{sid}")
            else:
                report.append(f"abandoned snapshot {site}/{sid} kept in {stage}")
    for name in DATASETS:
        site_dir = root / name / f"site={site}"
        if not site_dir.is_dir():
            continue
        for part in sorted(site_dir.iterdir()):
            sid = part.name.removeprefix("snapshot_id=")
            if not part.name.startswith("snapshot_id=") or not layout.is_snapshot_id(sid):
                report.append(f"unexpected entry {part} left alone")
                continue
            stage = layout.staging_dir(root, site, sid)
            if is_committed(root, site, sid) or (stage / layout.COMMIT_FILE).exists():
                continue
            dest = stage / layout.ORPHANS_DIR / name
            n = 0
            while dest.exists():
                n += 1
                dest = stage / layout.ORPHANS_DIR / f"{name}.{n}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(part, dest)
            layout.fsync_dir(site_dir)
            report.append(f"orphan partition {part} (no manifest, no commit intent) moved to {dest}")
    return report
