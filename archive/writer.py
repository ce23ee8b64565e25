"""SnapshotWriter: stages a crawl's records crash-safely in SQLite, commits them as Parquet atomically.

While crawling, every page's records go into the snapshot's staging database with ``stage()``, in one
transaction together with the journal entry saying the page is done. A crawl killed at any instant
leaves a staging that a later run reopens with ``resume=True``: it knows which pages are done
(``journal()``) and what they produced (``staged()``), and finishes the same snapshot.

``commit(run)`` streams the staged rows (in batches) into one Parquet file per dataset, verifies every
file, splits posts into new versions and thin observations, and publishes the snapshot atomically
(see archive/commit.py).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from archive import catalog, files, layout
from archive import commit as _commit
from archive.convert import Converter, _Bad, converter_for, describe
from archive.errors import ArchiveFormatError, StageError
from archive.posts import carried_obs_row, fallback_hash, obs_row, version_row
from archive.schema import DATASETS, RUNS, SCHEMA_VERSION, STAGE_DATASETS, STAGE_KEYS
from archive.staging import STAGING_FORMAT, StageDB, StagedRow, dumps, listing_key

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "policyboard-archive-snapshot"
DEFAULT_BATCH_ROWS = 1000
#: Staged rows decoded at a time (at most ``batch_rows``): the writers buffer their row groups anyway, and
#: a read batch of 1,000 posts would hold 1,000 bodies beside them.
READ_BATCH_ROWS = 100
_SEEN_FETCH = ("not_modified", "skipped")


# Staged rows keep dates and timestamps as exact integers (days / microseconds since the epoch, UTC):
# pickling datetime objects costs ten times more, and Arrow takes the integers as they are at commit.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    dataset: str
    names: tuple[str, ...]
    columns: frozenset[str]
    fields: tuple[tuple[str, Converter, bool], ...]  # (name, converter, nullable)
    key: tuple[str, ...]
    temporal: tuple[tuple[str, bool], ...]  # (name, is_timestamp): stored in staging as exact integers
    convert: Callable[[dict[str, Any]], dict[str, Any]]  # compiled: see _compile


def _compile(
    dataset: str, fields: list[pa.Field], *, encode: bool = False
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A straight-line converter for one dataset's rows: values that already have their exact type (a
    ``str``, a ``bool``, an in-range ``int``) are taken as they are; anything else goes through the
    column's generic converter, which converts it or raises the ValueError naming dataset, column and
    value. Same checks as a loop over the fields, four times faster (stage() runs once per page).
    ``encode``: dates and timestamps come out as the integers staging stores (see _decode_temporal)."""
    convs = [converter_for(f.type) for f in fields]
    temporal = {
        i: pa.types.is_timestamp(f.type)
        for i, f in enumerate(fields)
        if encode and (pa.types.is_timestamp(f.type) or pa.types.is_date32(f.type))
    }

    def slow(i: int, v: Any) -> Any:
        try:
            v = convs[i](v)
        except _Bad as exc:
            raise ValueError(describe(dataset, fields[i].name, exc)) from None
        if i in temporal:
            return (v - _EPOCH) // _US if temporal[i] else v.toordinal() - _EPOCH_DAY
        return v

    def missing(name: str) -> None:  # pyarrow would store a null in a required column without a word
        raise ValueError(f"{dataset}.{name}: required column is missing or None")

    lines = ["def convert(row):", "    get = row.get", "    out = {}"]
    for i, f in enumerate(fields):
        t, name = f.type, repr(f.name)
        lines += [f"    v = get({name})", "    if v is None:"]
        lines.append("        pass" if f.nullable else f"        missing({name})")
        if pa.types.is_string(t):
            lines += ["    elif type(v) is str:", f"        out[{name}] = v"]
        elif pa.types.is_boolean(t):
            lines += ["    elif type(v) is bool:", f"        out[{name}] = v"]
        elif pa.types.is_integer(t):
            lo, hi = -(2 ** (t.bit_width - 1)), 2 ** (t.bit_width - 1) - 1
            lines += [f"    elif type(v) is int and {lo} <= v <= {hi}:", f"        out[{name}] = v"]
        lines += ["    else:", f"        out[{name}] = slow({i}, v)"]
    lines.append("    return out")
    namespace: dict[str, Any] = {"slow": slow, "missing": missing}
    exec(compile("\n".join(lines), f"<archive converter of {dataset}>", "exec"), namespace)
    return namespace["convert"]


def _spec(
    dataset: str, fields: Iterable[pa.Field], key: tuple[str, ...] = (), *, encode: bool = False
) -> _Spec:
    fields = list(fields)
    return _Spec(
        dataset=dataset,
        names=tuple(f.name for f in fields),
        columns=frozenset(f.name for f in fields),
        fields=tuple((f.name, converter_for(f.type), f.nullable) for f in fields),
        key=key,
        temporal=tuple(
            (f.name, pa.types.is_timestamp(f.type))
            for f in fields
            if pa.types.is_timestamp(f.type) or pa.types.is_date32(f.type)
        ),
        convert=_compile(dataset, fields, encode=encode),
    )


def _decode_temporal(temporal: Iterable[tuple[str, bool]], row: dict[str, Any]) -> dict[str, Any]:
    """Dates and timestamps of ``row`` (the columns ``temporal`` names: (name, is_timestamp)) from the
    integers staging stores."""
    for name, is_ts in temporal:
        v = row.get(name)
        if v is not None:
            row[name] = _EPOCH + timedelta(microseconds=v) if is_ts else date.fromordinal(v + _EPOCH_DAY)
    return row


def _full_row(spec: _Spec, row: dict[str, Any]) -> dict[str, Any]:
    """A staged row as it was given: every column of its dataset, in schema order, None for nulls
    (``ListingRow(**row)`` rebuilds the record)."""
    _decode_temporal(spec.temporal, row)
    return {name: row.get(name) for name in spec.names}


_STAGE_SPECS = {
    name: _spec(name, schema, STAGE_KEYS[name], encode=True) for name, schema in STAGE_DATASETS.items()
}
_RUN_SPEC = _spec("runs", [f for f in RUNS if f.name != "snapshot_id"])


def convert_row(spec: _Spec, row: Any) -> dict[str, Any]:
    """Check and convert one row against a dataset's schema; the ValueError names dataset, column, value.
    Null values are left out of the returned dict (they are nulls under the explicit schema)."""
    if type(row) is not dict:
        if isinstance(row, dict):
            row = dict(row)
        elif dataclasses.is_dataclass(row) and not isinstance(row, type):
            row = dataclasses.asdict(row)  # a crawler.items record
        else:
            raise ValueError(f"{spec.dataset}: a row must be a dict, got {type(row).__name__}")
    if not spec.columns.issuperset(row):
        unknown = sorted(row.keys() - spec.columns)
        raise ValueError(f"{spec.dataset}: unknown column(s) {unknown}; columns: {list(spec.names)}")
    return spec.convert(row)


def _default_code_version() -> str | None:
    try:
        return importlib.metadata.version("policyboard-archiver")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def v1_snapshots(root: Path) -> list[str]:
    """``site/snapshot_id`` of every v1 snapshot not yet migrated (listed by its v1 manifest)."""
    base = root / layout.SNAPSHOTS_DIR
    found = []
    if not base.is_dir():
        return found
    for site_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            known = catalog.snapshot_ids(catalog.read(root, site_dir.name))
        except ValueError:
            continue
        for path in sorted(site_dir.glob("*.json")):
            if path.name.startswith(".") or path.stem in known or not layout.is_snapshot_id(path.stem):
                continue
            if layout.read_json(path).get("schema_version") == 1:
                found.append(f"{site_dir.name}/{path.stem}")
    return found


class SnapshotWriter:
    """Stage and commit one snapshot of one site; nothing is visible to readers before commit() returns.

    ``resume=False`` starts a new staging (a staging dir of this id must not exist); ``resume=True``
    reopens the staging an earlier, interrupted run left. Not thread-safe: use from one thread at a time.
    """

    def __init__(
        self,
        root: str | Path,
        site: str,
        snapshot_id: str,
        *,
        resume: bool = False,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        code_version: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.site = layout.validate_site(site)
        self.snapshot_id = layout.validate_snapshot_id(snapshot_id)
        if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive int, got {batch_rows!r}")
        self.batch_rows = batch_rows
        self.code_version = code_version if code_version is not None else _default_code_version()
        (self.root / layout.SNAPSHOTS_DIR).mkdir(parents=True, exist_ok=True)  # marks the archive
        #: what recovery did for this site before we started (also logged)
        self.recovered: list[str] = _commit.recover(self.root, site=self.site)
        old = v1_snapshots(self.root)
        if old:
            raise ArchiveFormatError(
                f"the archive {self.root} still holds {len(old)} snapshot(s) in the v1 layout "
                f"({', '.join(old[:3])}{', …' if len(old) > 3 else ''}); this version writes schema "
                f"{SCHEMA_VERSION} only: run `crawler compact --archive {self.root}` (archive.compact) to "
                "migrate them first"
            )
        if _commit.is_committed(self.root, site, snapshot_id):
            raise FileExistsError(f"snapshot {site}/{snapshot_id} is already committed; never overwritten")
        self.staging = layout.staging_dir(self.root, site, snapshot_id)
        db_path = self.staging / layout.STAGE_DB
        if resume:
            if not self.staging.is_dir():
                raise FileNotFoundError(
                    f"nothing staged for {site}/{snapshot_id} to resume (no {self.staging})"
                )
            problem = staging_problem(self.staging)
            if problem:
                raise ValueError(
                    f"cannot resume {site}/{snapshot_id}: {problem}; "
                    f"drop it with archive.discard(root, {site!r}, {snapshot_id!r})"
                )
            self._db: StageDB | None = StageDB.open(db_path)
            meta = self._db.meta()
            self._db.set_meta("resumes", int(meta.get("resumes", 0)) + 1)
        else:
            try:
                self.staging.mkdir(parents=True)
            except FileExistsError:
                raise FileExistsError(
                    f"{self.staging} exists: an earlier run of {site}/{snapshot_id} did not commit; resume "
                    "it with SnapshotWriter(..., resume=True) (archive.resumable() lists it) or drop it "
                    f"with archive.discard(root, {site!r}, {snapshot_id!r})"
                ) from None
            layout.fsync_dir(self.staging.parent)
            meta = {
                "schema_version": SCHEMA_VERSION,
                "site": site,
                "snapshot_id": snapshot_id,
                "created_at": _now(),
                "code_version": self.code_version,
                "resumes": 0,
            }
            self._db = StageDB.create(db_path, meta)
        self._final_counts: dict[str, int] | None = None
        self._known_posts: set[str] | None = None
        self._state = "open"  # open -> committing -> committed | failed ; open -> aborted | closed
        # Pages staged with defer=True, checked and waiting for flush(): (rows, journal entry).
        self._deferred: list[tuple[list[StagedRow], tuple[str, str, str]]] = []

    # -- staging -----------------------------------------------------------------------------------

    def _check(self, action: str) -> StageDB:
        if self._state != "open" or self._db is None:
            raise RuntimeError(f"writer of {self.site}/{self.snapshot_id} is {self._state}; cannot {action}")
        return self._db

    def stage(
        self,
        source: str,
        records: Iterable[tuple[str, Any]],
        *,
        kind: str,
        info: dict[str, Any] | None = None,
        defer: bool = False,
    ) -> None:
        """Stage the records one page produced and mark ``source`` done, in ONE transaction.

        ``records``: ``(dataset, row)`` pairs, datasets among ``archive.schema.STAGE_DATASETS``. A row whose
        key (``STAGE_KEYS``) was staged before replaces that row. Every row is checked first: a bad value
        raises ValueError and nothing of the call is staged.

        ``defer=True``: the page is checked now and written by ``flush()``, in one transaction with the
        pages deferred with it (every other call of this writer flushes first, so the order holds). A
        crawl defers the pages of one turn of its event loop: one transaction for them all costs less
        than one each. Until the flush, a kill loses the page: its source is not marked done, and a
        resume fetches it again."""
        self._check("stage")
        if not isinstance(source, str) or not source:
            raise ValueError(f"stage(): source must be a non-empty str (a URL), got {source!r}")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"stage(): kind must be a non-empty str, got {kind!r}")
        if info is not None and not isinstance(info, dict):
            raise ValueError(f"stage(): info must be a dict, got {type(info).__name__}")
        try:
            info_json = json.dumps(info or {}, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"stage(): info of {source} is not JSON-serialisable: {exc}") from None
        self._deferred.append((self._prepare(records), (source, kind, info_json)))
        if not defer:
            self.flush()

    def flush(self) -> None:
        """Write the pages staged with ``defer=True``, in one transaction. If it fails, each page is
        tried on its own; ``StageError`` then names the pages that could not be staged (the others are)."""
        if not self._deferred:
            return
        db = self._check("stage")
        pages, self._deferred = self._deferred, []
        try:
            db.stage_many(pages)
            return
        except Exception:
            if len(pages) == 1:
                raise
        failed: dict[str, str] = {}
        for page in pages:
            try:
                db.stage_many([page])
            except Exception as exc:
                failed[page[1][0]] = f"{type(exc).__name__}: {exc}"
        if failed:
            raise StageError(failed)

    def write(self, dataset: str, row: dict[str, Any]) -> None:
        """Stage one row without a journal entry (for tools and tests; the crawler uses stage())."""
        self.flush()
        self._check("write").stage(self._prepare([(dataset, row)]), None)

    def write_many(self, dataset: str, rows: Iterable[dict[str, Any]]) -> None:
        self.flush()
        self._check("write").stage(self._prepare((dataset, r) for r in rows), None)

    def _prepare(self, records: Iterable[tuple[str, Any]]) -> list[StagedRow]:
        out = []
        for item in records:
            try:
                dataset, row = item
            except (TypeError, ValueError):
                raise ValueError(f"stage(): records are (dataset, row) pairs, got {item!r:.80}") from None
            spec = _STAGE_SPECS.get(dataset)
            if spec is None:
                if dataset == "runs":
                    raise ValueError("dataset 'runs': its single row is written by commit(run), not staged")
                raise ValueError(f"unknown dataset {dataset!r}; datasets: {list(STAGE_DATASETS)}")
            r = convert_row(spec, row)  # dates and timestamps already as staging's integers
            if dataset == "posts":
                if "content_hash" not in r:
                    r["content_hash"] = fallback_hash(_decode_temporal(spec.temporal, dict(r)))
            elif dataset == "post_seen":
                if r["fetch"] not in _SEEN_FETCH:
                    raise ValueError(
                        f"post_seen.fetch: expected one of {list(_SEEN_FETCH)}, got {r['fetch']!r}"
                    )
                self._check_known(r["post_id"])
            if dataset == "listing":
                out.append((dataset, listing_key(r["page"], r["position"]), dumps(r)))
            elif len(spec.key) == 1:
                out.append((dataset, r[spec.key[0]], dumps(r)))
            else:
                out.append((dataset, json.dumps([r[k] for k in spec.key], ensure_ascii=False), dumps(r)))
        return out

    def _check_known(self, post_id: str) -> None:
        """A post that was not downloaded must be known from an earlier snapshot: its version carries over."""
        if self._known_posts is None:
            cat = catalog.read(self.root, self.site)
            t = files.read(
                "post_obs", files.catalog_files(self.root, self.site, cat, "post_obs"), columns=["post_id"]
            )
            self._known_posts = set(pc.unique(t.column("post_id")).to_pylist())
        if post_id not in self._known_posts:
            raise ValueError(
                f"post_seen: post {post_id!r} has no earlier observation in site {self.site!r}; a post that "
                "was never downloaded must be staged as 'posts'"
            )

    def journal(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """source -> (kind, info) of every staged source, in the order they were first staged."""
        self.flush()
        return self._check("read the journal").journal()

    def staged(self, dataset: str, columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """The rows of ``dataset`` staged so far (the latest value of each key), in first-insertion order;
        each with every column of the dataset (None where null), dates and timestamps as given (UTC).
        ``columns``: only those (a summary of 5,000 posts that reads three columns of each spent half its
        time rebuilding the other thirty)."""
        if dataset not in STAGE_DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; datasets: {list(STAGE_DATASETS)}")
        spec = _STAGE_SPECS[dataset]
        if columns is not None and not set(columns) <= set(spec.names):
            unknown = sorted(set(columns) - set(spec.names))
            raise ValueError(f"{dataset}: unknown column(s) {unknown}; columns: {list(spec.names)}")
        self.flush()
        db = self._check("read staged rows")
        batches = db.rows(dataset, batch=min(READ_BATCH_ROWS, self.batch_rows))
        if columns is None:
            for batch in batches:
                for row in batch:
                    yield _full_row(spec, row)
            return
        temporal = [(name, is_ts) for name, is_ts in spec.temporal if name in columns]
        for batch in batches:
            for row in batch:
                yield _decode_temporal(temporal, {name: row.get(name) for name in columns})

    @property
    def counts(self) -> dict[str, int]:
        """Rows staged per dataset (distinct keys)."""
        if self._db is None:
            return dict(self._final_counts or dict.fromkeys(STAGE_DATASETS, 0))
        self.flush()
        return {name: self._db.count(name) for name in STAGE_DATASETS}

    @property
    def meta(self) -> dict[str, Any]:
        """What the staging records about itself: created_at, code_version, schema_version, resumes…"""
        return self._check("read the staging metadata").meta()

    # -- committing --------------------------------------------------------------------------------

    def commit(self, run: dict[str, Any]) -> Path:
        """Write the ``runs`` row, stream the staging into verified Parquet files, publish atomically.
        Returns the path of the snapshot's manifest."""
        self.flush()
        db = self._check("commit")
        run_row = self._run_row(run)  # a bad run row fails here, and the writer stays usable
        self._state = "committing"
        try:
            with layout.site_lock(self.root, self.site):
                if _commit.is_committed(self.root, self.site, self.snapshot_id):
                    raise FileExistsError(
                        f"snapshot {self.site}/{self.snapshot_id} is already committed; never overwritten"
                    )
                manifest = self._write_files(db, run_row)
                self._final_counts = self.counts
                db.close()
                self._db = None
                path = _commit.publish(self.root, self.site, self.snapshot_id, manifest)
        except BaseException:
            self._state = "failed"  # staging stays on disk: recover() rolls it forward, or a resume retries
            if self._db is not None:
                self._final_counts = self.counts
                self._db.close()
                self._db = None
            raise
        self._state = "committed"
        return path

    def _run_row(self, run: dict[str, Any]) -> dict[str, Any]:
        run = (
            dataclasses.asdict(run)
            if dataclasses.is_dataclass(run) and not isinstance(run, type)
            else dict(run)
        )
        if run.get("schema_version") not in (None, SCHEMA_VERSION):
            raise ValueError(
                f"runs.schema_version: this archive writes {SCHEMA_VERSION}, got {run['schema_version']!r}"
            )
        if run.pop("snapshot_id", None) not in (None, self.snapshot_id):
            raise ValueError(f"runs.snapshot_id: this writer writes {self.snapshot_id}")
        run["schema_version"] = SCHEMA_VERSION
        return convert_row(_RUN_SPEC, run)

    def _known_versions(self, cat: dict[str, Any]) -> set[tuple[str, str]]:
        t = files.read(
            "post_versions",
            files.catalog_files(self.root, self.site, cat, "post_versions"),
            columns=["post_id", "content_hash"],
        )
        return set(zip(t.column("post_id").to_pylist(), t.column("content_hash").to_pylist(), strict=True))

    def _previous_observations(self, cat: dict[str, Any], ids: set[str]) -> dict[str, dict[str, Any]]:
        """The latest observation of each post in ``ids`` among the committed snapshots. Files are read
        newest first (a snapshot's rows are in one file, and files hold disjoint snapshot ranges), and
        only until every post is found."""
        found: dict[str, dict[str, Any]] = {}
        todo = set(ids)
        entries = files.catalog_files(self.root, self.site, cat, "post_obs")
        for path, entry in sorted(entries, key=lambda pe: max(pe[1]["snapshots"]), reverse=True):
            if not todo:
                break
            t = files.read("post_obs", [(path, entry)], filter=pc.field("post_id").isin(sorted(todo)))
            here: dict[str, dict[str, Any]] = {}
            for row in t.to_pylist():
                prev = here.get(row["post_id"])
                if prev is None or row["snapshot_id"] >= prev["snapshot_id"]:
                    here[row["post_id"]] = row
            found.update(here)
            todo -= here.keys()
        return found

    def _write_files(self, db: StageDB, run_row: dict[str, Any]) -> dict[str, Any]:
        sid, batch = self.snapshot_id, self.batch_rows
        read = min(READ_BATCH_ROWS, batch)
        files_dir = self.staging / layout.FILES_DIR
        if files_dir.exists():  # left by an earlier commit attempt that did not reach its intent
            shutil.rmtree(files_dir)
        cat = catalog.read(self.root, self.site) or catalog.empty(self.site)
        name = layout.data_file_name(sid, 0)
        writers = {ds: files.FileWriter(files_dir / ds / name, ds, batch_rows=batch) for ds in DATASETS}
        try:
            for rows in db.rows("listing", batch=read, natural=True):
                for r in rows:
                    r["snapshot_id"] = sid
                    writers["listing"].add(r)

            known = self._known_versions(cat)
            seen_ids = db.keys("post_seen") - db.keys("posts")
            previous = self._previous_observations(cat, seen_ids) if seen_ids else {}
            fetch: Counter[str] = Counter()
            for rows in db.posts_and_seen(batch=read):
                for seen, r in rows:
                    if seen:
                        prev = previous.get(r["post_id"])
                        if prev is None:
                            raise RuntimeError(
                                f"post_seen {r['post_id']!r}: no earlier observation in {self.site}; "
                                "it should have been staged as 'posts'"
                            )
                        writers["post_obs"].add(carried_obs_row(sid, r, prev))
                        fetch[r["fetch"]] += 1
                    else:
                        key = (r["post_id"], r["content_hash"])
                        if key not in known:
                            known.add(key)
                            writers["post_versions"].add(version_row(sid, r))
                        writers["post_obs"].add(obs_row(sid, r))
                        fetch["fetched"] += 1

            for ds in ("partners", "blocks", "failures"):
                for rows in db.rows(ds, batch=read):
                    for r in rows:
                        r["snapshot_id"] = sid
                        writers[ds].add(r)

            meta = db.meta()
            fill = {
                "listing_rows": writers["listing"].rows,
                "posts": writers["post_obs"].rows,
                "partners": writers["partners"].rows,
                "blocks": writers["blocks"].rows,
                "failures": writers["failures"].rows,
                "posts_fetched": fetch["fetched"],
                "posts_not_modified": fetch["not_modified"],
                "posts_skipped": fetch["skipped"],
                "resumes": int(meta.get("resumes", 0)),
                "code_version": self.code_version,
            }
            run = {**{k: v for k, v in fill.items() if v is not None}, **run_row, "snapshot_id": sid}
            writers["runs"].add(run)
            done: dict[str, dict[str, Any] | None] = {}
            for ds, w in writers.items():
                if not w.rows and cat["datasets"].get(ds):
                    # A snapshot without rows of a dataset needs no file of it: an empty file costs
                    # about 1-3 KB in every unchanged crawl. (The first snapshot writes one anyway, so
                    # that raw readers of the dataset directory always find a typed file.)
                    w.discard()
                    done[ds] = None
                else:
                    done[ds] = w.finish()  # step 1: closed, verified, renamed
        except BaseException:
            for w in writers.values():
                w.discard()
            raise
        return {
            "format": MANIFEST_FORMAT,
            "site": self.site,
            "snapshot_id": sid,
            "schema_version": SCHEMA_VERSION,
            "committed_at": _now(),
            "code_version": run.get("code_version"),
            "staging": {
                "created_at": meta.get("created_at"),
                "code_version": meta.get("code_version"),
                "resumes": int(meta.get("resumes", 0)),
                "sources": len(db.journal()),
            },
            "datasets": {
                ds: {
                    "rows": f["rows"] if f else 0,
                    "files": [{"name": f["name"], "bytes": f["bytes"], "rows": f["rows"]}] if f else [],
                }
                for ds, f in done.items()
            },
        }

    # -- giving up -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop using this writer and keep its staging for a later resume (as a killed crawl would)."""
        if self._db is not None and self._state == "open":
            try:
                self.flush()
            except Exception as exc:  # their sources are not marked done: a resume fetches them again
                log.warning("%s/%s: deferred pages not staged: %s", self.site, self.snapshot_id, exc)
        if self._db is not None:
            self._final_counts = self.counts
            self._db.close()
            self._db = None
        if self._state == "open":
            self._state = "closed"

    def abort(self) -> None:
        """Discard everything staged (the staging dir), deferred pages too. A no-op after abort()."""
        self._deferred = []
        if self._state == "aborted":
            return
        if self._state == "committed":
            raise RuntimeError(f"snapshot {self.site}/{self.snapshot_id} is committed; cannot abort")
        if self._db is not None:
            self._db.close()
            self._db = None
        # a failed commit may already have written its intent: then recover() decides, not abort()
        if (self.staging / layout.COMMIT_FILE).exists():
            raise RuntimeError(f"{self.staging} holds a commit intent; run archive.recover() instead")
        shutil.rmtree(self.staging, ignore_errors=True)
        self._state = "aborted"

    def __repr__(self) -> str:
        return f"SnapshotWriter({str(self.root)!r}, {self.site!r}, {self.snapshot_id!r}, state={self._state})"


# -- staged snapshots --------------------------------------------------------------------------------


def staging_problem(stage: Path) -> str | None:
    """Why the staging dir ``stage`` cannot be resumed, or None if it can."""
    if (stage / layout.COMMIT_FILE).exists():
        return "its commit is in progress (archive.recover() completes it)"
    if (stage / layout.ORPHANS_DIR).exists():
        return f"it holds {layout.ORPHANS_DIR}/ that recovery moved aside: inspect them"
    db_path = stage / layout.STAGE_DB
    if not db_path.is_file():
        if any((stage / name).is_dir() for name in ("listing", "posts", "runs")):
            return "it was staged by archive schema version 1 (Parquet files), which cannot be resumed"
        return "it has no staging database (the run died while creating it)"
    try:
        db = StageDB.open(db_path)
        try:
            meta = db.meta()
        finally:
            db.close()
    except Exception as exc:
        return f"its staging database is unreadable ({type(exc).__name__}: {exc})"
    if meta.get("format") != STAGING_FORMAT:
        return "its staging database has no metadata"
    if meta.get("schema_version") != SCHEMA_VERSION:
        return (
            f"it was staged by archive schema version {meta.get('schema_version')}, this version writes "
            f"{SCHEMA_VERSION}"
        )
    return None


def resumable(root: str | Path, site: str) -> list[dict[str, Any]]:
    """Every staged, uncommitted snapshot of ``site``, oldest first: ``snapshot_id``, ``created_at`` (ISO
    UTC), ``code_version``, ``schema_version``, ``sources_done``, ``rows`` (per dataset), ``resumes``,
    ``resumable`` (bool) and ``reason`` (why not, or None), ``path``.

    Runs recovery for the site first, so interrupted commits are completed rather than listed."""
    root = Path(root)
    layout.validate_site(site)
    base = root / layout.STAGING_DIR / site
    if not base.is_dir():
        return []
    _commit.recover(root, site=site)
    out = []
    for stage in sorted(p for p in base.iterdir() if p.is_dir() and layout.is_snapshot_id(p.name)):
        problem = staging_problem(stage)
        entry: dict[str, Any] = {
            "snapshot_id": stage.name,
            "created_at": None,
            "code_version": None,
            "schema_version": None,
            "sources_done": 0,
            "rows": {},
            "resumes": 0,
            "resumable": problem is None,
            "reason": problem,
            "path": str(stage),
        }
        db_path = stage / layout.STAGE_DB
        if db_path.is_file() and (problem is None or "schema version" in problem):
            db = StageDB.open(db_path)
            try:
                meta = db.meta()
                entry.update(
                    created_at=meta.get("created_at"),
                    code_version=meta.get("code_version"),
                    schema_version=meta.get("schema_version"),
                    resumes=int(meta.get("resumes", 0)),
                    sources_done=len(db.journal()),
                    rows={name: db.count(name) for name in STAGE_DATASETS} if problem is None else {},
                )
            finally:
                db.close()
        elif (stage / layout.ORPHANS_DIR).exists() and all(
            p.name == layout.ORPHANS_DIR for p in stage.iterdir()
        ):
            continue  # only orphans moved aside by recovery: not a staged snapshot
        if entry["created_at"] is None:
            entry["created_at"] = (
                datetime.fromtimestamp(stage.stat().st_mtime, UTC).isoformat().replace("+00:00", "Z")
            )
        out.append(entry)
    return out


def discard(root: str | Path, site: str, snapshot_id: str) -> None:
    """Drop the staging of an uncommitted snapshot (call it under the crawl lock: no writer may be using
    it). ``orphans/`` that recovery moved aside are kept. A staging holding a commit intent is refused:
    ``archive.recover()`` completes that commit instead."""
    root = Path(root)
    layout.validate_site(site)
    layout.validate_snapshot_id(snapshot_id)
    stage = layout.staging_dir(root, site, snapshot_id)
    with layout.site_lock(root, site):
        if not stage.exists():
            return
        if (stage / layout.COMMIT_FILE).exists():
            raise RuntimeError(f"{stage} holds a commit intent; run archive.recover() to complete it")
        if (stage / layout.ORPHANS_DIR).exists():
            for p in stage.iterdir():
                if p.name != layout.ORPHANS_DIR:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            log.warning(
                "discarded the staging of %s/%s; kept %s", site, snapshot_id, stage / layout.ORPHANS_DIR
            )
        else:
            shutil.rmtree(stage)
        layout.fsync_dir(stage.parent)
