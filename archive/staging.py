"""The staging store of a snapshot being crawled: one SQLite database per snapshot.

``_staging/<site>/<snapshot_id>/stage.sqlite`` holds every staged row (upserted by its dataset's key)
and the journal of the sources (pages) that are done. ``stage()`` writes a page's rows and its journal
entry in ONE transaction, so after a crash (SIGKILL included) either all of a page is there or none of
it. WAL mode with ``synchronous=NORMAL``: a committed transaction survives the death of the process;
a power loss may lose the last transactions but never corrupts the database.

Rows are stored as pickled dicts (protocol 5) of values already converted by the archive's converters,
so the Parquet files written at commit get exactly the values that ``stage()`` accepted.
"""

from __future__ import annotations

import heapq
import json
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archive.schema import STAGE_DATASETS

STAGING_FORMAT = "policyboard-archive-staging"

_TABLES = {name: f"s_{name}" for name in STAGE_DATASETS}

# A staged row: (dataset, key, pickled dict). The key of a listing row is the integer
# ``listing_key(page, position)``, which is also its natural order; other keys are text.
StagedRow = tuple[str, int | str, bytes]


def listing_key(page: int, position: int) -> int:
    """(page, position) as one int64 that sorts like the pair (both are int32)."""
    return page * 2**32 + position + 2**31


def dumps(row: dict[str, Any]) -> bytes:
    return pickle.dumps(row, protocol=5)


loads = pickle.loads


class StageDB:
    """Thin wrapper over the staging database. Use from one thread at a time."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self.path = path
        self.con = con
        self._upsert = {
            name: (
                # a replaced row keeps its first seq: staged() returns rows in first-insertion order
                f"INSERT INTO {table}(seq, k, data) VALUES (?, ?, ?) "
                "ON CONFLICT(k) DO UPDATE SET data = excluded.data"
            )
            for name, table in _TABLES.items()
        }
        self._seq = self._max_seq()

    # -- opening -----------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False: the commit may
        # run in a worker thread; the writer is still used by one thread at a time.
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    @classmethod
    def create(cls, path: Path, meta: dict[str, Any]) -> StageDB:
        con = cls._connect(path)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute(
                "CREATE TABLE journal (source TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, "
                "info TEXT NOT NULL)"
            )
            for name, table in _TABLES.items():
                if name == "listing":  # the key is the rowid: one B-tree, natural order for free
                    columns = "k INTEGER PRIMARY KEY, seq INTEGER NOT NULL, data BLOB NOT NULL"
                else:
                    columns = "seq INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, data BLOB NOT NULL"
                con.execute(f"CREATE TABLE {table} ({columns})")
            con.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in {"format": STAGING_FORMAT, **meta}.items()],
            )
            con.execute("COMMIT")  # the tables and the metadata appear together, or not at all
        except BaseException:
            con.execute("ROLLBACK")
            con.close()
            raise
        return cls(path, con)

    @classmethod
    def open(cls, path: Path) -> StageDB:
        if not path.is_file():
            raise FileNotFoundError(f"no staging database at {path}")
        return cls(path, cls._connect(path))

    def close(self) -> None:
        self.con.close()  # the last connection to close checkpoints the WAL into the database

    # -- metadata ----------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.con.execute("SELECT key, value FROM meta")}

    def set_meta(self, key: str, value: Any) -> None:
        self.con.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def _max_seq(self) -> int:
        parts = [f"SELECT max(seq) AS m FROM {t}" for t in (*_TABLES.values(), "journal")]
        (m,) = self.con.execute(f"SELECT max(m) FROM ({' UNION ALL '.join(parts)})").fetchone()
        return int(m or 0)

    # -- writing -----------------------------------------------------------------------------------

    def stage(self, rows: list[StagedRow], journal: tuple[str, str, str] | None) -> None:
        """Upsert ``rows`` (dataset, key, data) and, if given, the journal entry
        ``(source, kind, info_json)`` in one transaction."""
        self.stage_many([(rows, journal)])

    def stage_many(self, pages: list[tuple[list[StagedRow], tuple[str, str, str] | None]]) -> None:
        """``stage`` for several pages, in order, in one transaction: all of them or none."""
        con = self.con
        seq = self._seq
        by_dataset: dict[str, list[tuple[int, int | str, bytes]]] = {}
        journal_rows: list[tuple[str, int, str, str]] = []
        for rows, journal in pages:
            for dataset, key, data in rows:
                seq += 1
                by_dataset.setdefault(dataset, []).append((seq, key, data))
            if journal is not None:
                seq += 1
                source, kind, info = journal
                journal_rows.append((source, seq, kind, info))
        con.execute("BEGIN IMMEDIATE")
        try:
            for dataset, params in by_dataset.items():
                con.executemany(self._upsert[dataset], params)
            for entry in journal_rows:
                con.execute(
                    "INSERT INTO journal(source, seq, kind, info) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(source) DO UPDATE SET kind = excluded.kind, info = excluded.info",
                    entry,
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._seq = seq

    # -- reading -----------------------------------------------------------------------------------

    def journal(self) -> dict[str, tuple[str, dict[str, Any]]]:
        cur = self.con.execute("SELECT source, kind, info FROM journal ORDER BY seq")
        return {source: (kind, json.loads(info)) for source, kind, info in cur}

    def count(self, dataset: str) -> int:
        (n,) = self.con.execute(f"SELECT count(*) FROM {_TABLES[dataset]}").fetchone()
        return int(n)

    def keys(self, dataset: str) -> set[int | str]:
        return {k for (k,) in self.con.execute(f"SELECT k FROM {_TABLES[dataset]}")}

    def rows(
        self, dataset: str, *, batch: int = 1000, natural: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Batches of staged rows in first-insertion order (``natural``: in key order, which for the
        listing is page then position)."""
        order = "k" if natural else "seq"
        cur = self.con.cursor()
        cur.execute(f"SELECT data FROM {_TABLES[dataset]} ORDER BY {order}")
        try:
            while chunk := cur.fetchmany(batch):
                yield [loads(data) for (data,) in chunk]
        finally:
            cur.close()

    def posts_and_seen(self, *, batch: int = 1000) -> Iterator[list[tuple[bool, dict[str, Any]]]]:
        """``posts`` and ``post_seen`` rows merged in first-insertion order, as (seen, row); a post id
        staged as ``posts`` hides its ``post_seen`` row. Both tables are read in rowid order and merged
        here, so SQLite never sorts (or copies) the post bodies."""
        posts = self.con.execute("SELECT seq, 0, data FROM s_posts ORDER BY seq")
        seen = self.con.execute(
            "SELECT seq, 1, data FROM s_post_seen WHERE k NOT IN (SELECT k FROM s_posts) ORDER BY seq"
        )

        def scan(cur: sqlite3.Cursor) -> Iterator[tuple[int, int, bytes]]:
            while chunk := cur.fetchmany(batch):
                yield from chunk

        out: list[tuple[bool, dict[str, Any]]] = []
        try:
            for _, is_seen, data in heapq.merge(scan(posts), scan(seen)):
                out.append((bool(is_seen), loads(data)))
                if len(out) >= batch:
                    yield out
                    out = []
            if out:
                yield out
        finally:
            posts.close()
            seen.close()
