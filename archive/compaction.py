"""Compaction: merge a site's small files into few large ones, and migrate v1 snapshots to v2.

Nothing a reader of our API returns changes: the rows, their values and their order stay the same; only
the files holding them do. The steps (see docs/archive-format.md, "Compaction"):

1. under the site's crawl lock (no crawl may run) and commit lock, plan which files to merge: runs of
   "small" files (under half the target) between large ones; every v1 snapshot is converted;
2. write the new files in ``_staging/<site>/compact/<dataset>/`` (closed, fsynced, footer verified);
3. write the intent ``_staging/<site>/compact/COMPACT.json``: the new catalog, the files to move in and
   the files (and v1 partition dirs) it supersedes; from here on recovery rolls the compaction forward;
4. rename the new files into ``<dataset>/site=<site>/`` and fsync those directories;
5. replace the catalog (the switch: our readers now read the new files);
6. delete the superseded files and v1 partition dirs, then the staging dir.

Raw readers (pandas, pyarrow, DuckDB on the dataset directories) may see rows twice between the first
rename of step 4 and the last deletion of step 6: renames, directory fsyncs, one catalog write and
unlinks, i.e. milliseconds; our readers never do.
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from archive import catalog, files, layout, v1
from archive import commit as _commit
from archive.lock import crawl_lock
from archive.schema import DATASETS, ROW_ORDER, V1_DATASETS

log = logging.getLogger(__name__)

COMPACT_FORMAT = "policyboard-archive-compaction"
TARGET_ROWS = 200_000
TARGET_BYTES = 64 << 20
ROW_GROUP_ROWS = 10_000
READ_BATCH_ROWS = 1_000


@dataclass
class _Item:
    """A unit of a dataset in snapshot order: one v2 file, or one v1 snapshot."""

    sids: list[str]
    rows: dict[str, int]
    est_bytes: dict[str, float]
    entry: dict[str, Any] | None = None  # v2 file entry
    tables: dict[str, pa.Table] | None = None  # v1 snapshot converted

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class _Plan:
    keep: list[dict[str, Any]] = field(default_factory=list)
    groups: list[list[tuple[str, _Item]]] = field(default_factory=list)  # (sid, item) per output file
    superseded: list[str] = field(default_factory=list)  # file names of this dataset


def compact(
    root: str | Path,
    site: str | None = None,
    *,
    target_rows: int = TARGET_ROWS,
    target_bytes: int = TARGET_BYTES,
) -> dict[str, Any]:
    """Compact (and migrate from v1) every site of the archive at ``root``, or ``site``. Takes the crawl
    lock (raises :class:`archive.ArchiveLocked` while a crawl runs) and the commit lock of each site.
    Returns what it did: files and bytes before and after, per site and in total, migrated snapshots."""
    root = Path(root)
    if not (root / layout.SNAPSHOTS_DIR).is_dir() and not (root / layout.CATALOG_DIR).is_dir():
        raise FileNotFoundError(f"no archive at {root}")
    sites = [layout.validate_site(site)] if site is not None else _commit.sites(root)
    total: dict[str, Any] = {
        "files_before": 0,
        "files_after": 0,
        "bytes_before": 0,
        "bytes_after": 0,
        "migrated_snapshots": [],
        "sites": {},
    }
    for s in sites:
        with crawl_lock(root, s):
            _commit.recover(root, site=s)
            with layout.site_lock(root, s):
                r = _compact_site(root, s, target_rows, target_bytes)
        total["sites"][s] = r
        for k in ("files_before", "files_after", "bytes_before", "bytes_after"):
            total[k] += r[k]
        total["migrated_snapshots"] += [f"{s}/{sid}" for sid in r["migrated_snapshots"]]
    return total


def compact_after_commit(
    root: str | Path, site: str, *, target_rows: int = TARGET_ROWS, target_bytes: int = TARGET_BYTES
) -> dict[str, Any]:
    """Merge the small files of ``site`` right after a commit, for a caller that holds the site's crawl
    lock (the crawl that committed). Each commit leaves one small file per dataset; merged and clustered
    (see ``_write_group``), an unchanged snapshot costs a few KB instead of a copy of every row. What is
    rewritten is bounded by the targets: files of half a target or more are kept as they are. Same
    steps and crash recovery as :func:`compact`."""
    root = Path(root)
    site = layout.validate_site(site)
    with layout.site_lock(root, site):
        return _compact_site(root, site, target_rows, target_bytes)


def _v1_files(root: Path, site: str, manifests: list[dict[str, Any]]) -> list[Path]:
    out = []
    for m in manifests:
        for name in V1_DATASETS:
            d = layout.partition_dir(root, name, site, m["snapshot_id"])
            out.extend(d / f["name"] for f in m["datasets"][name]["files"])
    return out


def _compact_site(root: Path, site: str, target_rows: int, target_bytes: int) -> dict[str, Any]:
    cat = catalog.read(root, site)
    manifests = v1.manifests(root, site, catalog.snapshot_ids(cat))
    v1_paths = _v1_files(root, site, manifests)
    cur_files = [(name, e) for name in DATASETS for e in (cat["datasets"][name] if cat else [])]
    before_files = len(cur_files) + len(v1_paths)
    before_bytes = sum(e["bytes"] for _, e in cur_files) + sum(
        p.stat().st_size for p in v1_paths if p.exists()
    )

    # v1 snapshots, converted exactly as the reader converts them
    known: set[tuple[str, str]] = set()
    if cat:
        t = files.read(
            "post_versions",
            files.catalog_files(root, site, cat, "post_versions"),
            columns=["post_id", "content_hash"],
        )
        known = set(zip(t.column("post_id").to_pylist(), t.column("content_hash").to_pylist(), strict=True))
    converted = {m["snapshot_id"]: v1.convert_snapshot(root, site, m, known) for m in manifests}
    v1_bytes = {
        m["snapshot_id"]: {
            name: float(
                sum(f["bytes"] for f in m["datasets"]["posts" if name.startswith("post_") else name]["files"])
            )
            for name in DATASETS
        }
        for m in manifests
    }

    plans = {name: _plan(cat, name, converted, v1_bytes, target_rows, target_bytes) for name in DATASETS}
    if not manifests and not any(p.groups or p.superseded for p in plans.values()):
        return {
            "files_before": before_files,
            "files_after": before_files,
            "bytes_before": before_bytes,
            "bytes_after": before_bytes,
            "migrated_snapshots": [],
            "datasets": {},
        }

    new_cat = copy.deepcopy(cat) if cat else catalog.empty(site)
    new_cat["compactions"] = int(new_cat.get("compactions", 0)) + 1
    gen = new_cat["compactions"]
    for m in manifests:
        new_cat["snapshots"].append(v1.snapshot_entry(m, converted[m["snapshot_id"]]))
    stage = root / layout.STAGING_DIR / site / layout.COMPACT_DIR
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    moves: list[list[str]] = []
    deletes: list[str] = []
    report: dict[str, Any] = {}
    for name in DATASETS:
        plan = plans[name]
        outputs = []
        for group in plan.groups:
            entry = _write_group(
                root, site, name, group, stage / name / layout.data_file_name(group[0][0], gen)
            )
            outputs.append(entry)
            moves.append([name, entry["name"]])
        entries = sorted(
            plan.keep + outputs, key=lambda e: (min(e["snapshots"]) if e["snapshots"] else "", e["name"])
        )
        if not entries:  # raw readers need one typed file per dataset, even with no rows at all
            first = new_cat["snapshots"][0]["snapshot_id"] if new_cat["snapshots"] else "00000000T000000Z"
            entry = _write_group(root, site, name, [], stage / name / layout.data_file_name(first, gen))
            entries = [entry]
            moves.append([name, entry["name"]])
        new_cat["datasets"][name] = entries
        deletes += [f"{name}/site={site}/{n}" for n in plan.superseded]
        report[name] = {"files_before": len(cat["datasets"][name]) if cat else 0, "files_after": len(entries)}
    for m in manifests:
        for name in V1_DATASETS:
            deletes.append(f"{name}/site={site}/snapshot_id={m['snapshot_id']}")
    intent = {
        "format": COMPACT_FORMAT,
        "site": site,
        "base_generation": cat["generation"] if cat else 0,
        "catalog": new_cat,
        "moves": moves,
        "deletes": deletes,
    }
    layout.atomic_write_json(stage / layout.COMPACT_FILE, intent, indent=None)  # (3) point of no return
    _roll_forward(root, site, intent)
    after = catalog.read(root, site)
    assert after is not None
    after_files = [e for name in DATASETS for e in after["datasets"][name]]
    return {
        "files_before": before_files,
        "files_after": len(after_files),
        "bytes_before": before_bytes,
        "bytes_after": sum(e["bytes"] for e in after_files),
        "migrated_snapshots": [m["snapshot_id"] for m in manifests],
        "datasets": report,
    }


def _plan(
    cat: dict[str, Any] | None,
    name: str,
    converted: dict[str, dict[str, pa.Table]],
    v1_bytes: dict[str, dict[str, float]],
    target_rows: int,
    target_bytes: int,
) -> _Plan:
    items: list[_Item] = []
    for e in cat["datasets"][name] if cat else []:
        rows = {s: n for s, n in e["snapshots"].items()}
        per_row = e["bytes"] / e["rows"] if e["rows"] else 0.0
        items.append(_Item(sorted(rows), rows, {s: n * per_row for s, n in rows.items()}, entry=e))
    for sid, tables in converted.items():
        items.append(_Item([sid], {sid: tables[name].num_rows}, {sid: v1_bytes[sid][name]}, tables=tables))
    items.sort(key=lambda it: (it.sids[0] if it.sids else "", 0 if it.entry is not None else 1))
    plan = _Plan()

    def big(it: _Item) -> bool:
        return it.entry is not None and (
            it.entry["rows"] >= target_rows // 2 or it.entry["bytes"] >= target_bytes // 2
        )

    run: list[_Item] = []

    def close_run() -> None:
        files_in_run = [it for it in run if it.entry is not None]
        rewrite = any(it.tables is not None for it in run) or len(files_in_run) > 1
        if not rewrite:
            plan.keep.extend(it.entry for it in files_in_run if it.entry is not None and it.entry["rows"])
            # a lone empty file is dropped only when rewriting; keep it to leave a typed file in place
            plan.keep.extend(it.entry for it in files_in_run if it.entry is not None and not it.entry["rows"])
            run.clear()
            return
        plan.superseded.extend(it.entry["name"] for it in files_in_run if it.entry is not None)
        group: list[tuple[str, _Item]] = []
        rows = 0
        size = 0.0
        for it in run:
            for sid in it.sids:
                n, b = it.rows.get(sid, 0), it.est_bytes.get(sid, 0.0)
                if not n:
                    continue
                if group and (rows + n > target_rows or size + b > target_bytes):
                    plan.groups.append(group)
                    group, rows, size = [], 0, 0.0
                group.append((sid, it))
                rows += n
                size += b
        if group:
            plan.groups.append(group)
        run.clear()

    for it in items:
        if big(it):
            close_run()
            plan.keep.append(it.entry)  # type: ignore[arg-type]
        else:
            run.append(it)
    close_run()
    return plan


def _write_group(
    root: Path, site: str, name: str, group: list[tuple[str, _Item]], path: Path
) -> dict[str, Any]:
    """Write the rows of ``group`` (snapshot order) into one verified file at ``path`` (in staging).

    A dataset with a natural row order (``ROW_ORDER``) is written clustered: sorted by that key, then by
    snapshot, in one row group. Snapshots of a board repeat most rows unchanged, so each column then
    holds runs of one value that Parquet's dictionary and run-length encodings store once: 30 snapshots
    of an unchanged board take about the room of one. Readers sort by snapshot and the same key, so they
    return the same rows in the same order as before; they read the whole file for any one snapshot,
    which the group's size bounds (``TARGET_ROWS``)."""
    cluster = ROW_ORDER.get(name)
    w: files.FileWriter | _Clustering = files.FileWriter(
        path, name, batch_rows=TARGET_ROWS if cluster else ROW_GROUP_ROWS
    )
    if cluster:
        w = _Clustering(w, [*cluster, "snapshot_id"])
    try:
        i = 0
        while i < len(group):
            sid, it = group[i]
            if it.tables is not None:
                t = it.tables[name]
                w.add_table(t, {sid: t.num_rows})
                i += 1
                continue
            # consecutive snapshots of the same file
            sids = []
            while i < len(group) and group[i][1] is it:
                sids.append(group[i][0])
                i += 1
            entry = it.entry
            assert entry is not None
            src = layout.site_dir(root, name, site) / entry["name"]
            if set(sids) >= {s for s, n in entry["snapshots"].items() if n}:
                for batch in files.iter_batches(src, batch_rows=READ_BATCH_ROWS):
                    t = pa.Table.from_batches([batch])
                    counts: dict[str, int] = {}
                    for s in t.column("snapshot_id").to_pylist():
                        counts[s] = counts.get(s, 0) + 1
                    w.add_table(t, counts)
            else:
                t = files.read(name, [(src, entry)], snapshots=sids)
                w.add_table(t, {s: entry["snapshots"][s] for s in sids if entry["snapshots"].get(s)})
        return w.finish()
    except BaseException:
        w.discard()
        raise


class _Clustering:
    """A FileWriter front that holds a group's tables and writes them sorted by ``keys`` at the end."""

    def __init__(self, writer: files.FileWriter, keys: list[str]) -> None:
        self.writer, self.keys = writer, keys
        self.tables: list[pa.Table] = []
        self.counts: dict[str, int] = {}

    def add_table(self, table: pa.Table, sid_counts: dict[str, int]) -> None:
        self.tables.append(table.cast(self.writer.schema))
        for sid, n in sid_counts.items():
            self.counts[sid] = self.counts.get(sid, 0) + n

    def finish(self) -> dict[str, Any]:
        if self.tables:
            t = pa.concat_tables(self.tables)
            self.tables = []
            # sort_by is stable: rows equal on the keys keep the order they had
            self.writer.add_table(t.sort_by([(k, "ascending") for k in self.keys]), self.counts)
        return self.writer.finish()

    def discard(self) -> None:
        self.writer.discard()


def _roll_forward(root: Path, site: str, intent: dict[str, Any]) -> None:
    """Steps 4-6 from wherever an earlier attempt stopped. Caller holds the site lock."""
    stage = root / layout.STAGING_DIR / site / layout.COMPACT_DIR
    dirs = set()
    for name, fname in intent["moves"]:  # (4)
        src, dst = stage / name / fname, layout.site_dir(root, name, site) / fname
        if src.exists():
            if dst.exists():
                raise RuntimeError(
                    f"cannot roll the compaction of {site} forward: both {src} and {dst} exist"
                )
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
        elif not dst.exists():
            raise RuntimeError(
                f"cannot roll the compaction of {site} forward: {fname} is in neither {src} nor {dst}"
            )
        dirs.add(dst.parent)
    for d in dirs:
        layout.fsync_dir(d)
    cur = catalog.read(root, site)
    if (cur["generation"] if cur else 0) == intent["base_generation"]:
        catalog.write(root, site, copy.deepcopy(intent["catalog"]))  # (5) the switch
    touched = set()
    for rel in intent["deletes"]:  # (6)
        p = root / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
        touched.add(p.parent)
    for d in sorted(touched, key=lambda p: len(p.parts), reverse=True):
        for e in (d, d.parent):  # prune what migration emptied (e.g. posts/site=<site>/, posts/)
            if e.is_dir() and e != root and not any(e.iterdir()):
                e.rmdir()
        if d.is_dir():
            layout.fsync_dir(d)
    shutil.rmtree(stage)
    layout.fsync_dir(stage.parent)


def recover_compaction(root: Path, site: str) -> list[str]:
    """Called by recovery (site lock held): finish a compaction that wrote its intent, drop one that
    did not."""
    stage = root / layout.STAGING_DIR / site / layout.COMPACT_DIR
    if not stage.exists():
        return []
    intent_path = stage / layout.COMPACT_FILE
    if intent_path.exists():
        _roll_forward(root, site, layout.read_json(intent_path))
        return [f"rolled forward the compaction of {site}"]
    shutil.rmtree(stage)
    return [f"removed an unfinished compaction of {site} (its files were never published)"]
