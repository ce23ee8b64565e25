"""WARC files of a snapshot: byte-exact request/response records, deduplication across snapshots, a CDXJ
index per file, reading records back, replaying a snapshot's responses, and WACZ export.

Layout inside the archive root (see docs/warc.md)::

    warcs/site=<site>/<snapshot_id>-<seq>.warc.gz         committed WARC files (gzip, one member per record)
    warcs/site=<site>/<snapshot_id>-<seq>.cdxj            their CDXJ indexes (pywb format, sorted)
    _staging/<site>/<snapshot_id>/warc/<name>.open        the file being written (truncated on resume)
    _staging/<site>/<snapshot_id>/warc/<name>, <cdxj>     finished, waiting for publish()
    _index/<site>/digests.sqlite                          files, records and payload digests (crash-safe)

The HTTP blocks are written exactly as they went over the wire: the request as Twisted wrote it, the
response's status line and header lines as received, and the body as received (still content-encoded; with
its chunked framing when the server chunked it). ``WARC-Payload-Digest`` is warcio's: sha1 (base32) over
those payload bytes. The digest index makes a payload that was already archived (by this snapshot or a
committed one) a ``revisit`` of the record that holds it, and a ``304`` a ``server-not-modified`` revisit;
revisits always point at an original ``response`` record, never at another revisit.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import socket
import sqlite3
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import surt
from warcio.timeutils import datetime_to_iso_date, iso_date_to_datetime
from warcio.warcwriter import WARCWriter

from archive import layout

log = logging.getLogger(__name__)

WARCS_DIR = "warcs"
INDEX_DIR = "_index"
DIGESTS_DB = "digests.sqlite"
STAGING_SUBDIR = "warc"
OPEN_SUFFIX = ".open"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024  # rotate to a new file once a file reaches this size
WARC_VERSION = "WARC/1.1"
PROFILE_IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
PROFILE_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
SOFTWARE = "policyboard-archiver"

_NAME_RE = re.compile(r"(\d{8}T\d{6}Z)-(\d{5})\.warc\.gz")


# -- what the capture hands over, and what the writer hands back --------------------------------------


class Exchange(Protocol):
    """One HTTP exchange as captured on the wire (``crawler.capture.Captured`` is one)."""

    url: str  # the request's URL (no fragment): WARC-Target-URI
    request: bytes  # request line, header lines, blank line and body, exactly as written to the socket
    response_head: bytes  # status line and header lines up to and including the blank line, as received
    response_body: bytes  # the body as received: content-encoded, chunk framing included if chunked
    remote_ip: str | None
    started_at: datetime  # when the request was written (WARC-Date)
    complete: bool  # False when the connection ended before the announced end of the body


@dataclass(frozen=True)
class Provenance:
    """Where an exchange went: its response (or revisit) record, its request record, and the record that
    holds the payload (itself for a ``response``; the original for a revisit; for a 304 the earlier
    response it validated, when the archive has one). Paths are relative to the archive root and name the
    committed location (``warcs/site=<site>/<file>``); before ``publish()`` the file is in staging."""

    warc_file: str
    offset: int
    length: int
    record_type: str  # "response" or "revisit"
    record_id: str
    profile: str | None
    digest: str | None  # WARC-Payload-Digest
    request_offset: int
    request_length: int
    payload_file: str | None
    payload_offset: int | None
    payload_length: int | None
    payload_record_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def payload_digest(data: bytes) -> str:
    """warcio's digest format: ``sha1:`` + base32 of the sha1 of the bytes."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_name(snapshot_id: str, seq: int) -> str:
    return f"{snapshot_id}-{seq:05d}.warc.gz"


def cdxj_name(name: str) -> str:
    return name.removesuffix(".warc.gz") + ".cdxj"


def warc_dir(root: str | Path, site: str) -> Path:
    return Path(root) / WARCS_DIR / f"site={site}"


def stage_dir(root: str | Path, site: str, snapshot_id: str) -> Path:
    return layout.staging_dir(Path(root), site, snapshot_id) / STAGING_SUBDIR


def index_path(root: str | Path, site: str) -> Path:
    return Path(root) / INDEX_DIR / site / DIGESTS_DB


def _rel(site: str, name: str) -> str:
    return f"{WARCS_DIR}/site={site}/{name}"


# -- the digest index ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    name TEXT PRIMARY KEY,
    snapshot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,            -- open | closed | committed
    durable_end INTEGER NOT NULL    -- end of the last complete gzip member (open files)
);
CREATE TABLE IF NOT EXISTS records(
    n INTEGER PRIMARY KEY AUTOINCREMENT,   -- capture order
    snapshot_id TEXT NOT NULL,
    file TEXT NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    record_type TEXT NOT NULL,             -- response | revisit
    record_id TEXT NOT NULL,
    profile TEXT,
    uri TEXT NOT NULL,
    url_key TEXT NOT NULL,                 -- path and query: the replica's port changes between runs
    warc_date TEXT NOT NULL,
    status INTEGER,
    digest TEXT,
    request_offset INTEGER NOT NULL,
    request_length INTEGER NOT NULL,
    orig_file TEXT, orig_offset INTEGER, orig_length INTEGER, orig_record_id TEXT
);
CREATE INDEX IF NOT EXISTS records_digest ON records(digest, record_type);
CREATE INDEX IF NOT EXISTS records_url ON records(url_key, record_type);
CREATE INDEX IF NOT EXISTS records_id ON records(record_id);
CREATE INDEX IF NOT EXISTS records_file ON records(file);
"""


def _url_key(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class DigestIndex:
    """SQLite (WAL) under ``_index/<site>/``: which WARC files exist in which state, and every
    response/revisit record with its payload digest. A record row is inserted in the same transaction
    that advances its file's ``durable_end``, after the bytes were handed to the OS.

    ``synchronous=NORMAL`` by default: a transaction survives the death of the process (kill, crash),
    which is what resuming needs, without an fsync per record (two per exchange cost more than the
    rest of the WARC writing). ``durable=True`` (publishing) makes every transaction reach the disk,
    and with it everything the WAL held before."""

    def __init__(self, root: str | Path, site: str, *, durable: bool = False) -> None:
        layout.validate_site(site)
        path = index_path(root, site)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time, not always the one that opened it (the crawl's WARC writer thread).
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(_SCHEMA)
        self.site = site

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        if self.db.in_transaction:  # a group of writes is open (WarcWriter.write(commit=False)): join it
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def files(self, snapshot_id: str, states: tuple[str, ...] | None = None) -> list[sqlite3.Row]:
        rows = self.db.execute(
            "SELECT * FROM files WHERE snapshot_id = ? ORDER BY seq", (snapshot_id,)
        ).fetchall()
        return [r for r in rows if states is None or r["state"] in states]

    def file(self, name: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM files WHERE name = ?", (name,)).fetchone()

    def original_by_digest(self, digest: str, snapshot_id: str) -> sqlite3.Row | None:
        """The first ``response`` record with this payload digest that is committed or of this snapshot."""
        return self.db.execute(
            "SELECT r.* FROM records r JOIN files f ON f.name = r.file "
            "WHERE r.digest = ? AND r.record_type = 'response' "
            "AND (f.state = 'committed' OR r.snapshot_id = ?) ORDER BY r.n LIMIT 1",
            (digest, snapshot_id),
        ).fetchone()

    def latest_for_url(self, uri: str, snapshot_id: str) -> sqlite3.Row | None:
        """The latest record holding (or pointing at) a 200 payload of this URL: what a 304 validated."""
        row = self.db.execute(
            "SELECT r.* FROM records r JOIN files f ON f.name = r.file "
            "WHERE r.url_key = ? AND r.status = 200 AND r.digest IS NOT NULL "
            "AND (f.state = 'committed' OR r.snapshot_id = ?) "
            "ORDER BY (r.uri = ?) DESC, r.n DESC LIMIT 1",
            (_url_key(uri), snapshot_id, uri),
        ).fetchone()
        if row is not None and row["record_type"] == "revisit" and row["orig_record_id"]:
            return self.by_record_id(row["orig_record_id"])
        return row

    def by_record_id(self, record_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM records WHERE record_id = ?", (record_id,)).fetchone()

    def by_location(self, name: str, offset: int) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM records WHERE file = ? AND offset = ?", (name, offset)
        ).fetchone()

    def forget_file(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("DELETE FROM records WHERE file = ?", (name,))
        db.execute("DELETE FROM files WHERE name = ?", (name,))


# -- writing ------------------------------------------------------------------------------------------


class WarcGroupError(RuntimeError):
    """A group of writes was not recorded: one of them failed, or its commit did."""


_RESPONSE_TYPE = "application/http; msgtype=response"
_REQUEST_TYPE = "application/http; msgtype=request"
#: warcio's level, for the record headers and payloads that are not compressed already.
_GZIP_LEVEL = 9


def _warc_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _member(
    fields: list[tuple[str, str]], http_head: bytes, payload: bytes, content_type: str, *, store: bool = False
) -> bytes:
    """One WARC record as a gzip member: the bytes, once decompressed, that warcio's ``WARCWriter`` writes
    for a record built with these header fields (in this order) and an HTTP head kept verbatim, without
    its parsing the head into headers and back (about half of the writer's time per exchange;
    tests/test_warc.py compares the two byte for byte). ``store``: the payload is compressed already (a
    content-coded body), so it goes into the member as stored deflate blocks (see ``_gzip_stored_tail``)."""
    block = http_head + payload
    lines = [WARC_VERSION]
    lines += [f"{name}: {value}" for name, value in fields]
    lines.append(f"WARC-Block-Digest: {payload_digest(block)}")
    lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(block)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + http_head
    if store:
        return _gzip_stored_tail(head, payload + b"\r\n\r\n")
    gz = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return gz.compress(head + payload + b"\r\n\r\n") + gz.flush()


#: What zlib writes before a gzip member's deflate data at level 9: magic, deflate, no flags, no time,
#: "slowest" (XFL 2), Unix.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
_STORED_MAX = 0xFFFF  # the most bytes a stored deflate block holds


def _gzip_stored_tail(head: bytes, tail: bytes) -> bytes:
    """A gzip member of ``head`` deflated and ``tail`` in stored blocks (RFC 1951 §3.2.4). Deflate would
    end up storing a compressed body too, but only after searching it for matches at the cost of the
    compression itself (72-75 µs for a 3.4 KB post body, at levels 1, 6 and 9 alike, against 9 µs
    stored); the record's text headers still compress. Any gzip reader reads it (warcio, zlib, gzip)."""
    gz = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    # A sync flush ends the deflated part on a byte boundary (with an empty stored block), where stored
    # blocks may follow; the compressor is not used again, so nothing refers back into the tail.
    parts = [_GZIP_HEADER, gz.compress(head), gz.flush(zlib.Z_SYNC_FLUSH)]
    view = memoryview(tail)
    for start in range(0, max(len(tail), 1), _STORED_MAX):
        chunk = view[start : start + _STORED_MAX]
        final = start + _STORED_MAX >= len(tail)
        parts.append(struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF))
        parts.append(chunk)
    crc = zlib.crc32(tail, zlib.crc32(head))
    parts.append(struct.pack("<II", crc, (len(head) + len(tail)) & 0xFFFFFFFF))
    return b"".join(parts)


#: A Content-Encoding other than identity in an HTTP head: its body is compressed already.
_CODED = re.compile(rb"^content-encoding:[ \t]*(?!identity[ \t]*\r?$)\S", re.IGNORECASE | re.MULTILINE)


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Split an HTTP message at the end of its header section (an empty line: CRLF or bare LF, as
    Twisted's parser accepts both)."""
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return raw, b""
        line = raw[pos:nl]
        if pos > 0 and line in (b"", b"\r"):
            return raw[: nl + 1], raw[nl + 1 :]
        pos = nl + 1


def _status_of(head: bytes) -> int | None:
    first = head.split(b"\n", 1)[0].split()
    try:
        return int(first[1])
    except (IndexError, ValueError):
        return None


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _cdxj_line(
    url: str,
    date: str,
    head: bytes,
    record_type: str,
    digest: str | None,
    offset: int,
    length: int,
    filename: str,
) -> str:
    """The line cdxj-indexer writes for a response or revisit record (its fields, order and rules: the
    status code, the Content-Type up to ``;`` or space, ``warc/revisit`` as a revisit's mime), from what
    the writer has in hand instead of reading the WARC back."""
    lines = head.split(b"\n")
    protocol_status = _decode_line(lines[0]).rstrip().split(" ", 1)
    index: dict[str, str] = {"url": url}
    if record_type == "revisit":
        index["mime"] = "warc/revisit"
    else:
        for raw in lines[1:]:
            line = _decode_line(raw).rstrip()
            if not line:
                break
            name, sep, value = line.partition(":")
            # A folded line (leading space) continues the header before it; the mime's first token
            # comes before any continuation, so skipping them is what cdxj-indexer gets too.
            if sep and line[0] not in " \t" and name.rstrip(" \t").lower() == "content-type":
                index["mime"] = _MIME_END.split(value.lstrip(), 1)[0].strip()
                break
    index["status"] = protocol_status[1].strip().split(" ", 1)[0] if len(protocol_status) > 1 else ""
    if digest:
        index["digest"] = digest
    index.update(length=str(length), offset=str(offset), filename=filename)
    key = url_surt(url)
    stamp = date[0:4] + date[5:7] + date[8:10] + date[11:13] + date[14:16] + date[17:19]
    return f"{key} {stamp} {json.dumps(index)}\n"


_MIME_END = re.compile(r"[;\s]")


def url_surt(url: str) -> str:
    """The CDXJ key of ``url``: what cdxj-indexer writes (``surt.surt``, or the URL if that fails)."""
    simple = _SIMPLE_URL.fullmatch(url)
    if simple is not None:
        host, port, path = simple.group("host", "port", "path")
        if not host.startswith("www") and (port is None or (port not in ("80", "443") and int(port) < 65536)):
            return ",".join(reversed(host.split("."))) + (f":{port}" if port else "") + ")" + (path or "/")
    try:
        return surt.surt(url)
    except Exception:
        return url


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]?|0)"
#: URLs that surt's canonicalisation leaves as they are but for the host reversed and a trailing slash:
#: lowercase, a host name or a plain IPv4 address, no query, fragment, escape, dot or empty path segment
#: (`surt.surt` takes about 50 µs a URL, a tenth of the WARC writer's work a page). Anything else, and a
#: `www` host or a default port, goes to surt; tests hold the two equal on generated URLs.
_SIMPLE_URL = re.compile(
    rf"https?://(?P<host>(?:[a-z](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?"
    # an IPv4 address whose first octet is not 0 (surt reads a leading 0 as octal)
    rf"|(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]?)(?:\.{_OCTET}){{3}})"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?(?P<path>(?:/[a-z0-9_~-][a-z0-9._~-]*)*)/?"
)


def _iso(dt: datetime) -> str:
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return datetime_to_iso_date(dt.replace(tzinfo=None), use_micros=True)


class WarcWriter:
    """Writes the exchanges of one snapshot into gzip WARC 1.1 files in the snapshot's staging directory.

    ``resume=True`` continues what an interrupted run of the same snapshot wrote (an open file is truncated
    to the end of its last durable record); ``resume=False`` discards it first. Each ``write()`` survives
    the death of the process when it returns (bytes flushed to the OS, then the index transaction), so a
    page that the crawl stages afterwards always has its records; ``sync=True`` adds an fsync per record,
    for power loss too. ``write(..., commit=False)`` leaves both for ``commit()``, which ends a group of
    writes with one flush and one transaction (a transaction costs about 100 µs, the most of a record's
    index work): until it returns, the group's records may be lost, and nobody may be told they exist.
    Closing a file fsyncs it. ``finish()`` closes the files and writes their CDXJ; ``publish()`` fsyncs
    everything and moves it into ``warcs/site=<site>/``.
    """

    def __init__(
        self,
        root: str | Path,
        site: str,
        snapshot_id: str,
        *,
        resume: bool = True,
        info: dict[str, Any] | None = None,
        software: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        sync: bool = False,
        durable_index: bool = False,
    ) -> None:
        self.root = Path(root)
        self.site = layout.validate_site(site)
        self.snapshot_id = layout.validate_snapshot_id(snapshot_id)
        self.info = dict(info or {})
        self.software = software or _software()
        self.max_bytes = max_bytes
        self.sync = sync
        self.stage = stage_dir(self.root, site, snapshot_id)
        self.index = DigestIndex(self.root, site, durable=durable_index)
        self._f: io.BufferedWriter | None = None
        self._name: str | None = None
        # CDXJ lines of the files this writer began: closing one writes its index without reading the
        # file back. A file resumed after a crash is indexed from its bytes (finish()).
        self._cdxj: dict[str, list[str]] = {}
        self._group_error: BaseException | None = None  # a write of the open group failed
        if not resume:
            discard(self.root, site, snapshot_id, index=self.index)
        self.stage.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- state ----------------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Bring staging files and the index into agreement after a crash (or a clean stop)."""
        known = set()
        for row in self.index.files(self.snapshot_id, ("open", "closed")):
            name = row["name"]
            known.add(name)
            open_path, final_path = self.stage / (name + OPEN_SUFFIX), self.stage / name
            if row["state"] == "open" and not open_path.exists() and final_path.exists():
                with self.index.tx() as db:  # renamed, then killed before the index said so
                    db.execute("UPDATE files SET state = 'closed' WHERE name = ?", (name,))
                continue
            if row["state"] == "closed":
                if not final_path.exists() and not (warc_dir(self.root, self.site) / name).exists():
                    log.warning("WARC %s of %s/%s is gone; forgetting it", name, self.site, self.snapshot_id)
                    with self.index.tx() as db:
                        self.index.forget_file(db, name)
                continue
            if not open_path.exists() or row["durable_end"] == 0:
                with self.index.tx() as db:
                    self.index.forget_file(db, name)
                open_path.unlink(missing_ok=True)
                continue
            size = open_path.stat().st_size
            if size != row["durable_end"]:
                log.warning(
                    "WARC %s: truncating %d bytes written after the last durable record",
                    name,
                    size - row["durable_end"],
                )
                with open_path.open("r+b") as f:
                    f.truncate(row["durable_end"])
                    f.flush()
                    os.fsync(f.fileno())
            self._f = open_path.open("ab")
            self._name = name
        for p in self.stage.glob("*" + OPEN_SUFFIX):
            if p.name.removesuffix(OPEN_SUFFIX) not in known:
                p.unlink()  # created, then killed before the index knew it
        for p in self.stage.glob("*.tmp"):
            p.unlink()

    def _next_seq(self) -> int:
        row = self.index.db.execute(
            "SELECT MAX(seq) FROM files WHERE snapshot_id = ?", (self.snapshot_id,)
        ).fetchone()
        return 0 if row[0] is None else row[0] + 1

    def _current(self) -> tuple[io.BufferedWriter, str]:
        if self._f is not None and self._name is not None:
            return self._f, self._name
        self._commit_within()  # a new file is known to the index before anything is written in it
        name = warc_name(self.snapshot_id, self._next_seq())
        path = self.stage / (name + OPEN_SUFFIX)
        with self.index.tx() as db:
            db.execute(
                "INSERT INTO files(name, snapshot_id, seq, state, durable_end) VALUES (?, ?, ?, 'open', 0)",
                (name, self.snapshot_id, int(name[17:22])),
            )
        f = path.open("wb")
        self._cdxj[name] = []
        layout.fsync_dir(self.stage)
        info = {
            "software": self.software,
            "format": "WARC File Format 1.1",
            "conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": f"{self.site}/{self.snapshot_id}",
            "site": self.site,
            "snapshot-id": self.snapshot_id,
            "hostname": socket.gethostname(),
            **{k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in self.info.items()},
        }
        writer = WARCWriter(f, gzip=True, warc_version=WARC_VERSION)
        writer.write_record(writer.create_warcinfo_record(name, info))
        self._sync(f)
        with self.index.tx() as db:
            db.execute("UPDATE files SET durable_end = ? WHERE name = ?", (f.tell(), name))
        self._f, self._name = f, name
        return f, name

    def _sync(self, f: io.BufferedWriter, *, force: bool = False) -> None:
        f.flush()
        if self.sync or force:
            os.fsync(f.fileno())

    # -- records ----------------------------------------------------------------------------------------

    def commit(self) -> None:
        """End the open group of ``write(..., commit=False)``: the file's bytes go to the OS (and the disk,
        with ``sync``), then the index transaction commits. If the group's index work failed, or this
        does, the group's rows are rolled back and the error raised: none of its records are recorded."""
        db = self.index.db
        error, self._group_error = self._group_error, None
        try:
            if error is not None:
                raise WarcGroupError(f"the index failed in this group of writes: {error!r}") from error
            if not db.in_transaction:
                return
            if self._f is not None:
                self._sync(self._f)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _commit_within(self) -> None:
        """commit() before a file opens or closes, in the middle of a group: a failure fails the group."""
        try:
            self.commit()
        except BaseException as exc:
            self._group_error = exc
            raise

    def write(self, ex: Exchange, *, commit: bool = True) -> Provenance:
        """Append the exchange's response (or revisit) record and its request record; return where.
        ``commit=False``: the records join the open group, durable once ``commit()`` returns. A write that
        fails before its index rows (an exchange that cannot be written) fails alone; one that fails in
        them fails its group."""
        f, name = self._current()
        head, body = ex.response_head, ex.response_body
        status = _status_of(head)
        date = _iso(ex.started_at)
        common = [("WARC-Date", date)]
        if ex.remote_ip:
            common.append(("WARC-IP-Address", ex.remote_ip))
        original = None
        profile = None
        digest: str | None = payload_digest(body)
        if status == 304:
            profile = PROFILE_NOT_MODIFIED
            original = self.index.latest_for_url(ex.url, self.snapshot_id)
            digest = original["digest"] if original is not None else None
        elif body:
            original = self.index.original_by_digest(digest, self.snapshot_id)
            if original is not None:
                profile = PROFILE_IDENTICAL
        fields = list(common)
        if digest:
            fields.append(("WARC-Payload-Digest", digest))
        if not ex.complete:
            fields.append(("WARC-Truncated", "disconnect"))
        if profile is not None:
            if original is not None:
                fields.append(("WARC-Refers-To", original["record_id"]))
                fields.append(("WARC-Refers-To-Target-URI", original["uri"]))
                fields.append(("WARC-Refers-To-Date", original["warc_date"]))
            fields.append(("WARC-Profile", profile))
        record_type = "revisit" if profile else "response"
        record_id = _warc_id()
        fields += [("WARC-Type", record_type), ("WARC-Record-ID", record_id), ("WARC-Target-URI", ex.url)]
        # A revisit holds the HTTP head only; a 304 has no body anyway.
        payload = b"" if profile else body
        resp = _member(
            fields, head, payload, _RESPONSE_TYPE, store=bool(payload) and bool(_CODED.search(head))
        )
        req_head, req_body = split_head(ex.request)
        req_fields = [*common, ("WARC-Type", "request"), ("WARC-Record-ID", _warc_id()),
                      ("WARC-Target-URI", ex.url), ("WARC-Payload-Digest", payload_digest(req_body)),
                      ("WARC-Concurrent-To", record_id)]  # fmt: skip
        req = _member(req_fields, req_head, req_body, _REQUEST_TYPE)
        offset = f.tell()
        f.write(resp)
        f.write(req)
        length, req_offset, req_length = len(resp), offset + len(resp), len(req)
        if commit:
            self._sync(f)
        elif not self.index.db.in_transaction:
            self.index.db.execute("BEGIN IMMEDIATE")  # the group's transaction: commit() ends it
        end = f.tell()
        if record_type == "response":
            orig = (name, offset, length, record_id)
        elif original is not None:
            orig = (original["file"], original["offset"], original["length"], original["record_id"])
        else:
            orig = (None, None, None, None)
        try:
            with self.index.tx() as db:
                db.execute(
                    "INSERT INTO records(snapshot_id, file, offset, length, record_type, record_id,"
                    " profile, uri, url_key, warc_date, status, digest, request_offset, request_length,"
                    " orig_file, orig_offset, orig_length, orig_record_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.snapshot_id, name, offset, length, record_type, record_id, profile, ex.url,
                     _url_key(ex.url), date, status, digest, req_offset, req_length, *orig),
                )  # fmt: skip
                db.execute("UPDATE files SET durable_end = ? WHERE name = ?", (end, name))
        except BaseException as exc:
            if not commit:  # the group's rows of earlier writes are in the same transaction
                self._group_error = self._group_error or exc
            raise
        lines = self._cdxj.get(name)
        if lines is not None:
            lines.append(_cdxj_line(ex.url, date, head, record_type, digest, offset, length, name))
        if end >= self.max_bytes:
            self._close_current()
        return Provenance(
            warc_file=_rel(self.site, name), offset=offset, length=length, record_type=record_type,
            record_id=record_id, profile=profile, digest=digest, request_offset=req_offset,
            request_length=req_length, payload_file=_rel(self.site, orig[0]) if orig[0] else None,
            payload_offset=orig[1], payload_length=orig[2], payload_record_id=orig[3],
        )  # fmt: skip

    def _close_current(self) -> None:
        f, name = self._f, self._name
        if f is None or name is None:
            return
        self._commit_within()
        self._sync(f, force=True)
        f.close()
        self._f = self._name = None
        os.replace(self.stage / (name + OPEN_SUFFIX), self.stage / name)
        layout.fsync_dir(self.stage)
        with self.index.tx() as db:
            db.execute("UPDATE files SET state = 'closed' WHERE name = ?", (name,))
        lines = self._cdxj.pop(name, None)
        if lines is not None:
            layout.atomic_write_bytes(self.stage / cdxj_name(name), "".join(sorted(lines)).encode())

    def finish(self) -> list[Path]:
        """Close the open file and write the CDXJ of every finished file of the snapshot still in staging.
        Returns the staged WARC paths (``publish()`` moves them into place)."""
        self._close_current()
        out = []
        for row in self.index.files(self.snapshot_id, ("closed",)):
            path = self.stage / row["name"]
            if not path.exists():
                continue  # already published by an interrupted publish()
            cdxj = self.stage / cdxj_name(row["name"])
            if not cdxj.exists():
                write_cdxj(path, cdxj)
            out.append(path)
        return out

    def close(self) -> None:
        """Stop writing without finishing (the next run resumes the open file)."""
        try:
            self.commit()
        finally:
            if self._f is not None:
                self._sync(self._f, force=True)
                self._f.close()
                self._f = self._name = None
            self.index.close()

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _software() -> str:
    try:
        from importlib.metadata import version

        return f"{SOFTWARE}/{version('policyboard-archiver')} warcio/{version('warcio')}"
    except Exception:  # pragma: no cover - not installed as a distribution
        return SOFTWARE


def publish(root: str | Path, site: str, snapshot_id: str) -> list[str]:
    """Finish the snapshot's WARC files (an interrupted writer's open file is truncated to its durable end
    and closed) and move them with their CDXJ into ``warcs/site=<site>/``. Idempotent: after a crash it
    completes what an earlier call started. Call it before the snapshot's staging directory is removed
    (the Parquet commit removes it). Returns the committed paths relative to ``root``."""
    root = Path(root)
    w = WarcWriter(root, site, snapshot_id, resume=True, durable_index=True)
    try:
        w.finish()
        dst_dir = warc_dir(root, site)
        dst_dir.mkdir(parents=True, exist_ok=True)
        out = []
        for row in w.index.files(snapshot_id, ("closed", "committed")):
            name = row["name"]
            if row["state"] == "closed":
                for n in (name, cdxj_name(name)):
                    src = w.stage / n
                    if src.exists():
                        os.replace(src, dst_dir / n)
                    elif not (dst_dir / n).exists():
                        raise RuntimeError(f"cannot publish {site}/{snapshot_id}: {n} is in neither place")
                layout.fsync_dir(dst_dir)
                with w.index.tx() as db:
                    db.execute("UPDATE files SET state = 'committed' WHERE name = ?", (name,))
            out.append(_rel(site, name))
        return out
    finally:
        w.close()


def discard(root: str | Path, site: str, snapshot_id: str, *, index: DigestIndex | None = None) -> None:
    """Forget an uncommitted snapshot's WARC files: staged files and their index rows (committed files of
    the snapshot are kept)."""
    own = index is None
    idx = index or DigestIndex(root, site)
    try:
        stage = stage_dir(root, site, snapshot_id)
        with idx.tx() as db:
            for row in idx.files(snapshot_id, ("open", "closed")):
                idx.forget_file(db, row["name"])
        if stage.exists():
            for p in stage.iterdir():
                p.unlink()
    finally:
        if own:
            idx.close()


# -- CDXJ -----------------------------------------------------------------------------------------------


#: The record types a CDXJ lists (cdxj-indexer's default, minus types this writer never writes).
CDXJ_RECORDS = "response,revisit"


def write_cdxj(warc_path: str | Path, out_path: str | Path) -> Path:
    """pywb's CDXJ (``SURT timestamp {json}``, sorted) of one WARC, written with cdxj-indexer; the
    ``filename`` field is the WARC's base name."""
    from cdxj_indexer.main import write_cdx_index

    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    # Named, not cdxj-indexer's default list: importing py-wacz appends "warcinfo" to that list.
    write_cdx_index(str(tmp), [str(warc_path)], {"sort": True, "records": CDXJ_RECORDS})
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out_path)
    return out_path


def read_cdxj(path: str | Path) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("!"):
                key, ts, data = line.rstrip("\n").split(" ", 2)
                out.append((key, ts, json.loads(data)))
    return out


# -- reading ----------------------------------------------------------------------------------------------


@dataclass
class WarcRecord:
    """One record read back. For ``response``/``revisit`` records ``status``/``headers``/``head`` are the
    HTTP response's; ``payload`` is the payload as sent (content-encoded, chunk framing included) and
    ``decoded`` the same without transfer and content coding. A revisit whose original was found carries
    the original's payload (identical by digest) and ``original``; a 304 keeps an empty payload (nothing
    was sent) and ``original`` names the earlier response it validated."""

    rec_type: str
    uri: str | None
    date: str | None
    record_id: str | None
    warc_headers: list[tuple[str, str]]
    offset: int
    length: int
    head: bytes = b""
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: bytes = b""
    decoded: bytes = b""
    profile: str | None = None
    digest: str | None = None
    original: tuple[str, int, int] | None = None  # (path relative to root or absolute, offset, length)
    original_decoded: bytes | None = None  # a 304's validated payload, decoded (when found)

    def warc_header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.warc_headers if k.lower() == low), None)

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


def _read_member(f: Any, offset: int, length: int | None) -> tuple[bytes, int]:
    """Decompress the gzip member at ``offset``; return its data and its compressed length."""
    f.seek(offset)
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = []
    consumed = 0
    remaining = length
    while not d.eof:
        chunk = f.read(65536 if remaining is None else min(65536, remaining))
        if not chunk:
            raise ValueError(f"truncated gzip member at offset {offset}")
        out.append(d.decompress(chunk))
        consumed += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    consumed -= len(d.unused_data)
    return b"".join(out), consumed


def _parse_record(data: bytes, offset: int, length: int) -> WarcRecord:
    head, rest = split_head(data)
    lines = head.decode("utf-8").split("\r\n")
    if not lines[0].startswith("WARC/"):
        raise ValueError(f"no WARC record at offset {offset}")
    warc_headers = []
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            warc_headers.append((k.strip(), v.strip()))
    h = {k.lower(): v for k, v in warc_headers}
    block = rest[: int(h["content-length"])]
    rec = WarcRecord(
        rec_type=h.get("warc-type", ""),
        uri=h.get("warc-target-uri"),
        date=h.get("warc-date"),
        record_id=h.get("warc-record-id"),
        warc_headers=warc_headers,
        offset=offset,
        length=length,
        profile=h.get("warc-profile"),
        digest=h.get("warc-payload-digest"),
    )
    if rec.rec_type in ("response", "revisit", "request") and "application/http" in h.get("content-type", ""):
        rec.head, rec.payload = split_head(block)
        rec.headers = _parse_headers(rec.head)
        if rec.rec_type != "request":
            rec.status = _status_of(rec.head)
        rec.decoded = decode_payload(rec.payload, rec.headers) if rec.payload else b""
    else:
        rec.payload = block
    return rec


def _parse_headers(head: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for raw in head.split(b"\n")[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:  # obsolete line folding
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip().decode("latin-1"))
            continue
        k, sep, v = line.partition(b":")
        if sep:
            out.append((k.strip().decode("latin-1"), v.strip().decode("latin-1")))
    return out


def dechunk(data: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        size = int(data[pos:nl].split(b";")[0].strip() or b"0", 16)
        pos = nl + 1
        if size == 0:
            break
        out.append(data[pos : pos + size])
        pos += size
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1
    return b"".join(out)


def decode_payload(payload: bytes, headers: list[tuple[str, str]]) -> bytes:
    """Remove transfer coding (chunked) and content coding (gzip, deflate; br and zstd when their modules
    are installed). An unknown or broken coding leaves the bytes as they are."""
    hv = {k.lower(): v for k, v in headers}
    data = payload
    if "chunked" in hv.get("transfer-encoding", "").lower():
        data = dechunk(data)
    codings = [c.strip().lower() for c in hv.get("content-encoding", "").split(",") if c.strip()]
    for coding in reversed(codings):
        try:
            if coding in ("gzip", "x-gzip"):
                data = _gunzip_all(data)
            elif coding == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)
            elif coding == "br":
                import brotli

                data = brotli.decompress(data)
            elif coding == "zstd":
                try:
                    from compression import zstd  # type: ignore[import-not-found]
                except ImportError:
                    from backports import zstd  # type: ignore[no-redef]
                data = zstd.decompress(data)
            elif coding != "identity":
                return data
        except Exception:  # a broken coding: keep what we have
            log.warning("could not undo content-encoding %s", coding)
            return data
    return data


def _gunzip_all(data: bytes) -> bytes:
    out = []
    while data:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out.append(d.decompress(data))
        if not d.eof:
            break
        data = d.unused_data.lstrip(b"\x00")
    return b"".join(out)


def read_record(
    path: str | Path, offset: int, length: int | None = None, *, resolve: bool = True
) -> WarcRecord:
    """The record whose gzip member starts at ``offset`` (``length``: its compressed length, as returned by
    the writer and in the CDXJ). With ``resolve`` a revisit gets its original's payload."""
    path = Path(path)
    with path.open("rb") as f:
        data, consumed = _read_member(f, offset, length)
    rec = _parse_record(data, offset, consumed)
    if resolve and rec.rec_type == "revisit":
        _Resolver.for_path(path).resolve(rec)
    return rec


def iter_records(path: str | Path, *, resolve: bool = True) -> Iterator[WarcRecord]:
    """Every record of a gzip WARC, in file order."""
    path = Path(path)
    resolver = _Resolver.for_path(path) if resolve else None
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            data, consumed = _read_member(f, offset, None)
            rec = _parse_record(data, offset, consumed)
            if resolver is not None and rec.rec_type == "revisit":
                resolver.resolve(rec)
            yield rec
            offset += consumed


def iter_responses(path: str | Path, *, resolve: bool = True) -> Iterator[WarcRecord]:
    """The ``response`` and ``revisit`` records of a WARC (revisits resolved to their original's payload):
    ``.uri``, ``.status``, ``.headers``, ``.payload`` (as sent), ``.decoded``, ``.offset``, ``.length``."""
    for rec in iter_records(path, resolve=resolve):
        if rec.rec_type in ("response", "revisit"):
            yield rec


class _Resolver:
    """Finds the record holding a revisit's payload: through the digest index when the WARC lies in an
    archive, else (or when the index lacks it) through the CDXJ files next to the WARC."""

    def __init__(self, root: Path | None, site: str | None, directory: Path) -> None:
        self.root, self.site, self.directory = root, site, directory
        self._by_digest: dict[str, tuple[Path, int, int]] | None = None
        self._db: sqlite3.Connection | None = None

    @classmethod
    def for_path(cls, path: Path) -> _Resolver:
        path = path.resolve()
        parent = path.parent
        root = site = None
        if parent.name.startswith("site=") and parent.parent.name == WARCS_DIR:
            root, site = parent.parent.parent, parent.name[5:]
        elif parent.name == STAGING_SUBDIR and parent.parent.parent.parent.name == layout.STAGING_DIR:
            root, site = parent.parent.parent.parent.parent, parent.parent.parent.name
        return cls(root, site, parent)

    def _locate(self, name: str) -> Path | None:
        candidates = [self.directory / name]
        if self.root is not None and self.site is not None:
            candidates.append(warc_dir(self.root, self.site) / name)
            m = _NAME_RE.fullmatch(name)
            if m:
                st = stage_dir(self.root, self.site, m.group(1))
                candidates += [st / name, st / (name + OPEN_SUFFIX)]
        return next((c for c in candidates if c.exists()), None)

    def _index(self) -> sqlite3.Connection | None:
        """A read-only connection to the archive's digest index (an archive may be on a read-only disk)."""
        if self._db is None and self.root is not None and self.site is not None:
            path = index_path(self.root, self.site)
            if path.exists():
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                self._db.row_factory = sqlite3.Row
        return self._db

    def _from_index(self, rec: WarcRecord) -> tuple[Path, int, int] | None:
        db = self._index()
        if db is None:
            return None
        row = None
        ref = rec.warc_header("WARC-Refers-To")
        if ref:
            row = db.execute("SELECT * FROM records WHERE record_id = ?", (ref,)).fetchone()
            if row is not None and row["record_type"] == "revisit":
                orig = row["orig_record_id"]
                row = (
                    db.execute("SELECT * FROM records WHERE record_id = ?", (orig,)).fetchone()
                    if orig
                    else None
                )
        if row is None and rec.digest:
            row = db.execute(
                "SELECT * FROM records WHERE digest = ? AND record_type = 'response' ORDER BY n LIMIT 1",
                (rec.digest,),
            ).fetchone()
        if row is None:
            return None
        path = self._locate(row["file"])
        return (path, row["offset"], row["length"]) if path else None

    def _from_cdxj(self, digest: str) -> tuple[Path, int, int] | None:
        if self._by_digest is None:
            self._by_digest = {}
            for cdxj in sorted(self.directory.glob("*.cdxj")):
                for _, _, data in read_cdxj(cdxj):
                    if data.get("mime") == "warc/revisit" or "digest" not in data:
                        continue
                    path = self.directory / data["filename"]
                    self._by_digest.setdefault(
                        data["digest"], (path, int(data["offset"]), int(data["length"]))
                    )
        return self._by_digest.get(digest)

    def resolve(self, rec: WarcRecord) -> None:
        where = self._from_index(rec) or (self._from_cdxj(rec.digest) if rec.digest else None)
        if where is None:
            return
        path, offset, length = where
        with path.open("rb") as f:
            data, consumed = _read_member(f, offset, length)
        orig = _parse_record(data, offset, consumed)
        rec.original = (str(path), offset, consumed)
        if rec.profile == PROFILE_NOT_MODIFIED:
            rec.original_decoded = orig.decoded
            return
        rec.payload = orig.payload
        # The revisit's own headers say how its payload was encoded (the same bytes, by digest).
        rec.decoded = decode_payload(orig.payload, rec.headers) if orig.payload else b""


# -- a snapshot's responses, for re-extraction ----------------------------------------------------------


def snapshot_warcs(root: str | Path, site: str, snapshot_id: str) -> list[Path]:
    """The committed WARC files of a snapshot, in write order."""
    layout.validate_snapshot_id(snapshot_id)
    d = warc_dir(root, site)
    return sorted(d.glob(f"{snapshot_id}-*.warc.gz")) if d.is_dir() else []


def replay_responses(
    root: str | Path, site: str, snapshot_id: str
) -> Iterator[tuple[str, int | None, list[tuple[str, str]], bytes, dict[str, Any]]]:
    """Every response of a committed snapshot from its WARC files, in capture order: ``(url, status,
    headers, decoded_body, provenance)``. Revisits are resolved to their original's payload; a 304 yields
    status 304 with the decoded body of the response it validated (``b""`` when the archive lacks it).
    ``provenance``: ``warc_file``, ``offset``, ``length``, ``record_type``, ``record_id``, ``profile``,
    ``digest`` of the record itself and ``payload_file``/``payload_offset``/``payload_length`` of the record
    holding the payload (paths relative to ``root`` when inside it). No network, no Scrapy."""
    root = Path(root)
    for path in snapshot_warcs(root, site, snapshot_id):
        rel = _rel(site, path.name)
        for rec in iter_responses(path):
            body = rec.decoded
            if rec.status == 304:
                body = rec.original_decoded or b""
            if rec.original is not None:
                opath = Path(rec.original[0])
                with contextlib.suppress(ValueError):
                    opath = opath.resolve().relative_to(root.resolve())
                payload = (opath.as_posix(), rec.original[1], rec.original[2])
            elif rec.rec_type == "response":
                payload = (rel, rec.offset, rec.length)
            else:
                payload = (None, None, None)
            prov = {
                "warc_file": rel, "offset": rec.offset, "length": rec.length,
                "record_type": rec.rec_type, "record_id": rec.record_id, "profile": rec.profile,
                "digest": rec.digest, "payload_file": payload[0], "payload_offset": payload[1],
                "payload_length": payload[2], "warc_date": rec.date,
            }  # fmt: skip
            yield rec.uri or "", rec.status, rec.headers, body, prov


def iso_to_datetime(value: str) -> datetime:
    return iso_date_to_datetime(value).replace(tzinfo=UTC)


# -- WACZ ---------------------------------------------------------------------------------------------------


def export_wacz(root: str | Path, site: str, snapshot_id: str, out_path: str | Path) -> Path:
    """A WACZ (ReplayWeb.page's format) of a committed snapshot, made with the ``wacz`` package: its WARC
    files under ``archive/``, a compressed CDXJ index, ``pages/pages.jsonl`` (every HTML 200 page) and
    ``datapackage.json`` with sha256 hashes. Revisits of earlier snapshots need those snapshots' WARCs to
    replay their payload, so the WARCs holding every referenced original are included too. The page list
    is every HTML 200 capture of the snapshot (revisits included), written by us and copied as is."""
    from wacz.main import main as wacz_main

    root = Path(root)
    files = snapshot_warcs(root, site, snapshot_id)
    if not files:
        raise KeyError(f"no committed WARC files for {site}/{snapshot_id}")
    needed = {p.resolve() for p in files}
    for path in files:
        for rec in iter_responses(path):
            if rec.original is not None:
                needed.add(Path(rec.original[0]).resolve())
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    pages_file = out_path.with_name(f".{out_path.name}.pages.jsonl")
    pages = [{"format": "json-pages-1.0", "id": "pages", "title": f"{site} {snapshot_id}"}]
    for path in files:
        for rec in iter_responses(path, resolve=False):
            mime = (rec.header("Content-Type") or "").split(";")[0].strip()
            if rec.status == 200 and mime == "text/html" and rec.uri and rec.date:
                pages.append({"url": rec.uri, "ts": rec.date, "title": rec.uri})
    pages_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages), "utf-8")
    args = ["create", "-o", str(tmp), "--hash-type", "sha256", "-p", str(pages_file), "--copy-pages"]
    args += ["--title", f"{site} {snapshot_id}"]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            rc = wacz_main(args + [str(p) for p in sorted(needed)])
    finally:
        pages_file.unlink(missing_ok=True)
    if rc not in (0, None):
        raise RuntimeError(f"wacz create failed ({rc}): {printed.getvalue()[-2000:]}")
    os.replace(tmp, out_path)
    return out_path
