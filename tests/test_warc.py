"""WARC files of real crawls of the replica: byte-exact bodies, revisits on an unchanged second crawl,
crash safety, CDXJ offsets, re-reading and replay, WACZ export."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive import warc
from tests.test_capture import (
    REPO,
    SITE,
    SNAP1,
    SNAP2,
    WARCIO,
    crawl_command,
    crawl_env,
    run_capture_crawl,
)

POSTS = 60


@pytest.fixture(scope="module")
def replica() -> Iterator[Any]:
    from crawler.replica import ReplicaProcess

    with ReplicaProcess(day=1, posts=POSTS) as r:
        yield r


@pytest.fixture(scope="module")
def site() -> Any:
    from crawler.replica import ReplicaSite

    return ReplicaSite(day=1, posts=POSTS)


@pytest.fixture(scope="module")
def two_crawls(replica: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A full crawl (snapshot 1), then an incremental-style recrawl of the unchanged replica (snapshot 2)."""
    tmp = tmp_path_factory.mktemp("warc")
    root = tmp / "archive"
    first = run_capture_crawl(
        {
            "base_url": replica.url,
            "root": str(root),
            "snapshot_id": SNAP1,
            "posts": POSTS,
            "results": str(tmp / "first.jsonl"),
        }
    )
    etags = {}
    for url, status, headers, _body, _prov in warc.replay_responses(root, SITE, SNAP1):
        etag = dict(headers).get("ETag")
        if status == 200 and etag:
            etags[url[len(replica.url) :]] = etag
    second = run_capture_crawl(
        {
            "base_url": replica.url,
            "root": str(root),
            "snapshot_id": SNAP2,
            "posts": POSTS,
            "mode": "recrawl",
            "refetch": 2,
            "conditional": 3,
            "etags": etags,
            "results": str(tmp / "second.jsonl"),
            # the first crawl wrote in the writer process (the default here), this one in its own thread
            "settings": {"WARC_WRITER_PROCESS": False},
        }
    )
    return {"root": root, "first": first, "second": second}


def _warcio_ok(path: Path) -> None:
    for cmd in (["check", "-v"], ["index"]):
        proc = subprocess.run([WARCIO, *cmd, str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, path, proc.stdout[-3000:], proc.stderr[-3000:])
        assert "fail" not in proc.stdout.lower(), proc.stdout[-3000:]


def _all_warcs(root: Path) -> list[Path]:
    return sorted(warc.warc_dir(root, SITE).glob("*.warc.gz"))


def test_every_warc_passes_warcio_check_and_index(two_crawls: dict[str, Any]) -> None:
    files = _all_warcs(two_crawls["root"])
    assert [p.name for p in files] == [warc.warc_name(SNAP1, 0), warc.warc_name(SNAP2, 0)]
    for path in files:
        _warcio_ok(path)


def test_bodies_are_what_the_replica_served(two_crawls: dict[str, Any], site: Any, replica: Any) -> None:
    root = two_crawls["root"]
    seen = {"gzip": 0, "png": 0, 301: 0, 304: 0, 404: 0, "robots": 0}
    for path in warc.snapshot_warcs(root, SITE, SNAP1):
        for rec in warc.iter_responses(path):
            target = rec.uri[len(replica.url) :]
            page = site.render(target)
            if rec.status == 304:
                seen[304] += 1
                assert rec.payload == b"" and rec.profile == warc.PROFILE_NOT_MODIFIED
                assert rec.original_decoded == page.body  # resolved to the response it validated
                continue
            assert rec.status == page.status, target
            if rec.header("Content-Encoding") == "gzip":
                seen["gzip"] += 1
                assert rec.payload[:2] == b"\x1f\x8b"  # the gzip bytes as sent, not Scrapy's decoded copy
                assert rec.payload == gzip.compress(page.body, compresslevel=6, mtime=0)
                assert gzip.decompress(rec.payload) == page.body
            else:
                assert rec.payload == page.body, target
            assert rec.decoded == page.body
            seen["png"] += rec.header("Content-Type") == "image/png"
            seen["robots"] += target == "/robots.txt"
            seen[rec.status] = seen.get(rec.status, 0) + 1
    assert all(seen[k] for k in ("gzip", "png", 301, 304, 404, "robots")), seen


def test_scrapy_sees_what_it_always_saw(two_crawls: dict[str, Any], site: Any, replica: Any) -> None:
    import hashlib

    for row in two_crawls["first"]:
        assert row["captured"] is not None, row["url"]
        assert not any(k.lower().startswith("x-policyboard") for k in row["scrapy_headers"])
        page = site.render(row["url"][len(replica.url) :])
        if row["status"] == 200:  # HttpCompressionMiddleware decoded the body, as without capture
            assert row["body_sha256"] == hashlib.sha256(page.body).hexdigest()
        assert row["captured"]["status_line"].startswith(f"HTTP/1.1 {row['status']} ")
        assert row["provenance"]["warc_file"].startswith(f"warcs/site={SITE}/")


def test_second_crawl_writes_revisits_and_is_small(two_crawls: dict[str, Any]) -> None:
    root = two_crawls["root"]
    size1 = sum(p.stat().st_size for p in warc.snapshot_warcs(root, SITE, SNAP1))
    size2 = sum(p.stat().st_size for p in warc.snapshot_warcs(root, SITE, SNAP2))
    print(f"\nWARC bytes: first crawl {size1:,}, second crawl {size2:,} ({size2 / size1:.1%})")
    types: dict[str, int] = {}
    for path in warc.snapshot_warcs(root, SITE, SNAP2):
        for rec in warc.iter_responses(path):
            key = rec.rec_type if rec.rec_type == "response" else rec.profile.rsplit("/", 1)[1]
            types[key] = types.get(key, 0) + 1
            if rec.rec_type == "revisit":
                # always the original response record of snapshot 1, never another revisit
                assert rec.original is not None and Path(rec.original[0]).name == warc.warc_name(SNAP1, 0)
                orig = warc.read_record(rec.original[0], rec.original[1], rec.original[2], resolve=False)
                assert orig.rec_type == "response"
                if rec.profile == warc.PROFILE_IDENTICAL:
                    assert rec.warc_header("WARC-Refers-To-Target-URI") == orig.uri
                    assert rec.warc_header("WARC-Refers-To-Date") == orig.date
                    assert rec.warc_header("WARC-Refers-To") == orig.record_id
                    assert rec.digest == orig.digest and rec.payload == orig.payload
    print("second crawl records:", types)
    assert types.get("identical-payload-digest", 0) >= 6 and types.get("server-not-modified", 0) == 3
    assert types.get("response", 0) == 0  # nothing changed on the replica
    assert size2 <= 0.10 * size1


def test_cdxj_points_at_the_records(two_crawls: dict[str, Any]) -> None:
    root = two_crawls["root"]
    for path in _all_warcs(root):
        lines = warc.read_cdxj(path.with_name(warc.cdxj_name(path.name)))
        assert lines and [(k, t) for k, t, _ in lines] == sorted((k, t) for k, t, _ in lines)
        for _key, ts, data in lines:
            assert data["filename"] == path.name
            rec = warc.read_record(path, int(data["offset"]), int(data["length"]), resolve=False)
            assert rec.uri == data["url"]
            assert rec.length == int(data["length"])
            assert (
                rec.date is not None
                and rec.date.replace("-", "").replace(":", "").replace("T", "")[:14] == ts
            )


def test_provenance_of_each_exchange_reads_back(two_crawls: dict[str, Any]) -> None:
    root = two_crawls["root"]
    for row in two_crawls["first"] + two_crawls["second"]:
        prov = row["provenance"]
        rec = warc.read_record(root / prov["warc_file"], prov["offset"], prov["length"])
        assert rec.uri == row["url"] and rec.record_id == prov["record_id"]
        req = warc.read_record(root / prov["warc_file"], prov["request_offset"], prov["request_length"])
        assert req.rec_type == "request" and req.warc_header("WARC-Concurrent-To") == rec.record_id
        assert req.head.decode("latin-1") + req.payload.decode("latin-1") == row["captured"]["request"]
        if prov["payload_file"]:
            orig = warc.read_record(
                root / prov["payload_file"], prov["payload_offset"], prov["payload_length"]
            )
            assert orig.rec_type == "response"


def test_replay_responses_in_capture_order(two_crawls: dict[str, Any], site: Any, replica: Any) -> None:
    root = two_crawls["root"]
    for snap, rows in ((SNAP1, two_crawls["first"]), (SNAP2, two_crawls["second"])):
        replayed = list(warc.replay_responses(root, SITE, snap))
        offsets = [(p["warc_file"], p["offset"]) for *_, p in replayed]
        assert offsets == sorted(offsets)
        spider_urls = {r["url"] for r in rows}
        assert spider_urls <= {u for u, *_ in replayed}
        for url, status, headers, body, prov in replayed:
            page = site.render(url[len(replica.url) :])
            assert body == page.body, (snap, url, status)
            assert prov["payload_file"] is not None
            assert isinstance(headers, list)


def test_export_wacz(two_crawls: dict[str, Any], tmp_path: Path) -> None:
    out = warc.export_wacz(two_crawls["root"], SITE, SNAP2, tmp_path / "snap2.wacz")
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert {"datapackage.json", "pages/pages.jsonl"} <= names
        assert any(n.startswith("indexes/") for n in names)
        # snapshot 2's revisits need snapshot 1's originals: both WARCs are in the package
        assert {f"archive/{warc.warc_name(SNAP1, 0)}", f"archive/{warc.warc_name(SNAP2, 0)}"} <= names
        package = json.loads(z.read("datapackage.json"))
        assert all(r["hash"].startswith("sha256:") for r in package["resources"])
    wacz = str(Path(sys.executable).with_name("wacz"))
    proc = subprocess.run([wacz, "validate", "-f", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# -- crash safety --------------------------------------------------------------------------------------


class _Ex:
    def __init__(
        self, url: str, body: bytes, status: int = 200, *, head: bytes | None = None,
        request: bytes = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n", complete: bool = True,
    ) -> None:  # fmt: skip
        from datetime import UTC, datetime

        self.url = url
        self.request = request
        self.response_head = head or f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.response_body = body
        self.remote_ip = "127.0.0.1"
        self.started_at = datetime.now(UTC)
        self.complete = complete


#: Response heads whose CDXJ fields take cdxj-indexer's rules: no reason phrase, no Content-Type, one
#: without a space or with parameters, a folded header line, an upper-case name, a 304, a Latin-1 value.
ODD_HEADS = [
    b"HTTP/1.1 200\r\nContent-Type:text/html;charset=utf-8\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nX-Long: a\r\n  continued: here\r\nCONTENT-TYPE:  image/png \r\n\r\n",
    b"HTTP/1.1 301 Moved\nLocation: /b\nContent-Type: text/html ; q=1\n\n",
    b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    b"HTTP/1.1 200 OK\r\nContent-Type: text/caf\xe9\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type:\r\n\r\n",
]


def _odd_exchanges() -> list[_Ex]:
    out = []
    for i, head in enumerate(ODD_HEADS):
        body = b"" if b" 304 " in head else f"body {i}".encode()
        out.append(_Ex(f"http://example.org/odd/{i}?q=%ED%95%9C&a=1", body, head=head))
    out.append(_Ex("http://example.org/odd/again", b"body 0", head=ODD_HEADS[0]))  # identical payload
    out.append(_Ex("http://example.org/odd/cut", b"partial", complete=False))
    out.append(_Ex("http://example.org/odd/post", b"ok", request=b"POST /p HTTP/1.1\r\nHost: e\r\n\r\nx=1"))
    return out


def test_cdxj_is_what_cdxj_indexer_writes(two_crawls: dict[str, Any], tmp_path: Path) -> None:
    """The writer indexes each record as it writes it; cdxj-indexer, reading the file back, agrees."""
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, max_bytes=2_000)  # rotates: several files, each indexed
    written = [w.write(ex) for ex in _odd_exchanges()]
    w.finish()
    w.close()
    assert {p.record_type for p in written} == {"response", "revisit"}
    files = warc.publish(root, SITE, SNAP1)
    assert len(files) >= 3
    for path in [root / name for name in files] + _all_warcs(two_crawls["root"]):
        ours = path.with_name(warc.cdxj_name(path.name)).read_text(encoding="utf-8")
        reference = warc.write_cdxj(path, tmp_path / "reference.cdxj").read_text(encoding="utf-8")
        assert ours == reference and ours.count("\n") >= 1, path


def _warcio_members(ex: _Ex, prov: warc.Provenance, original: dict[str, Any] | None) -> bytes:
    """The two records of an exchange as warcio's RecordBuilder and WARCWriter write them (the HTTP heads
    kept verbatim), decompressed, with the record IDs of ``prov``."""
    from warcio.recordbuilder import RecordBuilder
    from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
    from warcio.warcwriter import WARCWriter

    class RawHead(StatusAndHeaders):
        def __init__(self, raw: bytes, *, is_request: bool) -> None:
            parsed = StatusAndHeadersParser([], verify=False).parse(io.BytesIO(raw))
            super().__init__(parsed.statusline, parsed.headers, parsed.protocol, is_http_request=is_request)
            self.headers_buff = raw

        def compute_headers_buffer(self, header_filter: Any = None) -> None:
            pass

    builder = RecordBuilder(warc_version=warc.WARC_VERSION)
    common = {"WARC-Date": warc._iso(ex.started_at), "WARC-IP-Address": ex.remote_ip}
    headers = {**common, "WARC-Payload-Digest": prov.digest}
    if not ex.complete:
        headers["WARC-Truncated"] = "disconnect"
    payload = ex.response_body
    if prov.record_type == "revisit":
        assert original is not None
        headers.update({"WARC-Refers-To": original["record_id"], "WARC-Refers-To-Target-URI": original["uri"],
                        "WARC-Refers-To-Date": original["warc_date"],
                        "WARC-Profile": prov.profile})  # fmt: skip
        payload = b""
    resp = builder.create_warc_record(
        ex.url, prov.record_type, payload=io.BytesIO(payload), length=len(payload), warc_headers_dict=headers,
        http_headers=RawHead(ex.response_head, is_request=False),
    )  # fmt: skip
    resp.rec_headers.replace_header("WARC-Record-ID", prov.record_id)
    req_head, req_body = warc.split_head(ex.request)
    req = builder.create_warc_record(
        ex.url, "request", payload=io.BytesIO(req_body), length=len(req_body), warc_headers_dict=common,
        http_headers=RawHead(req_head, is_request=True),
    )  # fmt: skip
    req.rec_headers.add_header("WARC-Concurrent-To", prov.record_id)
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version=warc.WARC_VERSION)
    writer.write_record(resp)
    writer.write_record(req)
    return out.getvalue()


def test_records_are_the_bytes_warcio_writes(tmp_path: Path) -> None:
    import re

    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1)
    for ex in _odd_exchanges():
        if b" 304 " in ex.response_head:
            continue  # a 304 without an earlier response: no original to refer to (covered by the crawls)
        prov = w.write(ex)
        original = w.index.by_record_id(prov.payload_record_id) if prov.record_type == "revisit" else None
        with open(w.stage / (warc.warc_name(SNAP1, 0) + warc.OPEN_SUFFIX), "rb") as f:
            f.seek(prov.offset)
            ours = gzip.decompress(f.read(prov.request_offset + prov.request_length - prov.offset))
        reference = _warcio_members(ex, prov, dict(original) if original is not None else None)
        # The request's record ID is random in both; everything else is equal byte for byte.
        request_id = re.compile(rb"(WARC-Type: request\r\nWARC-Record-ID: )<urn:uuid:[^>]+>")
        assert request_id.sub(rb"\1ID", ours) == request_id.sub(rb"\1ID", reference), ex.url
    w.close()


def test_torn_write_is_truncated_on_resume(tmp_path: Path) -> None:
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, resume=False)
    first = w.write(_Ex("http://example.org/a", b"A" * 5000))
    good = w.write(_Ex("http://example.org/b", b"B" * 5000))
    open_file = w.stage / (warc.warc_name(SNAP1, 0) + warc.OPEN_SUFFIX)
    w._f.write(b"\x1f\x8b\x08\x00half a gzip member")  # killed in the middle of a record (SIGKILL)
    w._f.flush()
    w._f = None
    w.index.close()
    w2 = warc.WarcWriter(root, SITE, SNAP1, resume=True)
    assert open_file.stat().st_size == good.request_offset + good.request_length
    again = w2.write(_Ex("http://example.org/a2", b"A" * 5000))
    assert again.record_type == "revisit" and again.payload_offset == first.offset
    w2.close()
    published = warc.publish(root, SITE, SNAP1)
    assert published == [f"warcs/site={SITE}/{warc.warc_name(SNAP1, 0)}"]
    _warcio_ok(root / published[0])
    assert warc.publish(root, SITE, SNAP1) == published  # idempotent


@pytest.mark.parametrize("grouped", [False, True], ids=["each-write", "one-group"])
def test_rotation(tmp_path: Path, grouped: bool) -> None:
    """Files rotate at max_bytes; in a group, the file that fills up is committed and closed, and the
    group goes on in the next one."""
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, max_bytes=20_000)
    for i in range(12):
        w.write(_Ex(f"http://example.org/{i}", os.urandom(4000)), commit=not grouped)
    w.commit()
    assert _indexed(root) == {f"http://example.org/{i}" for i in range(12)}
    w.finish()
    w.close()
    names = warc.publish(root, SITE, SNAP1)
    assert len(names) >= 2
    for name in names:
        _warcio_ok(root / name)
        assert (root / name).read_bytes()[:2] == b"\x1f\x8b"
        first = next(warc.iter_records(root / name))
        assert first.rec_type == "warcinfo"


def test_sigkill_while_writing_then_resume(replica: Any, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    spec = {"base_url": replica.url, "root": str(root), "snapshot_id": SNAP1, "posts": POSTS,
            "results": str(tmp_path / "killed.jsonl"), "concurrency": 1, "delay": 0.05}  # fmt: skip
    proc = subprocess.Popen(
        crawl_command(spec), cwd=REPO, env=crawl_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    db = warc.index_path(root, SITE)
    deadline = time.monotonic() + 60
    records = 0
    try:
        while time.monotonic() < deadline and records < 15:
            time.sleep(0.05)
            if db.exists():
                with sqlite3.connect(db) as conn, _suppress():
                    records = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        assert records >= 15, "the crawl did not get going"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    staged = list(warc.stage_dir(root, SITE, SNAP1).glob("*" + warc.OPEN_SUFFIX))
    assert staged and not _all_warcs(root), "nothing committed yet"
    resumed = run_capture_crawl({**spec, "resume": True, "delay": 0, "concurrency": 4})
    assert resumed
    files = warc.snapshot_warcs(root, SITE, SNAP1)
    assert files
    for path in files:
        _warcio_ok(path)
    uris = [r.uri for p in files for r in warc.iter_responses(p)]
    assert len(uris) > records  # the killed run's durable records were kept, the resumed run added more


class _suppress:  # a tiny context manager: the database may be mid-transaction
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], sqlite3.Error)  # type: ignore[arg-type]


def test_read_record_on_a_cdxj_written_by_hand(two_crawls: dict[str, Any]) -> None:
    """The CDXJ needs nothing of ours: offsets and lengths slice self-contained gzip members."""
    path = _all_warcs(two_crawls["root"])[0]
    _key, _ts, data = warc.read_cdxj(path.with_name(warc.cdxj_name(path.name)))[0]
    with path.open("rb") as f:
        f.seek(int(data["offset"]))
        member = f.read(int(data["length"]))
    text = gzip.GzipFile(fileobj=io.BytesIO(member)).read()
    assert text.startswith(b"WARC/1.1\r\n") and data["url"].encode() in text


def _indexed(root: Path) -> set[str]:
    """The URIs of the records another connection sees in the site's index (what a resume would see)."""
    with sqlite3.connect(warc.index_path(root, SITE)) as db:
        return {uri for (uri,) in db.execute("SELECT uri FROM records")}


def test_a_group_of_writes_is_recorded_by_its_commit(tmp_path: Path) -> None:
    """write(commit=False) leaves the rows in one open transaction; commit() records them all at once,
    after their bytes; a revisit inside the group finds the group's own earlier response."""
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, resume=False)
    w.write(_Ex("http://example.org/before", b"0" * 3000))
    first = w.write(_Ex("http://example.org/a", b"A" * 3000), commit=False)
    again = w.write(_Ex("http://example.org/a2", b"A" * 3000), commit=False)
    assert again.record_type == "revisit" and again.payload_offset == first.offset
    assert _indexed(root) == {"http://example.org/before"}  # not yet recorded
    w.commit()
    assert _indexed(root) == {"http://example.org/before", "http://example.org/a", "http://example.org/a2"}
    open_file = w.stage / (warc.warc_name(SNAP1, 0) + warc.OPEN_SUFFIX)
    assert open_file.stat().st_size == again.request_offset + again.request_length  # flushed before
    w.commit()  # nothing open: nothing to do
    w.close()


def test_a_group_killed_before_its_commit_is_gone_after_resume(tmp_path: Path) -> None:
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, resume=False)
    kept = w.write(_Ex("http://example.org/kept", b"K" * 3000))
    w.write(_Ex("http://example.org/lost", b"L" * 3000), commit=False)
    w._f.flush()  # its bytes reached the file, not its index rows: then SIGKILL
    w._f = None
    w.index.db.close()
    w2 = warc.WarcWriter(root, SITE, SNAP1, resume=True)
    open_file = w2.stage / (warc.warc_name(SNAP1, 0) + warc.OPEN_SUFFIX)
    assert open_file.stat().st_size == kept.request_offset + kept.request_length
    assert _indexed(root) == {"http://example.org/kept"}
    w2.close()


def test_an_exchange_that_cannot_be_written_fails_alone_but_an_index_failure_fails_the_group(
    tmp_path: Path,
) -> None:
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, resume=False)
    w.write(_Ex("http://example.org/1", b"1" * 100), commit=False)
    bad = _Ex("http://example.org/bad", b"x")
    bad.started_at = "not a time"
    with pytest.raises(AttributeError):
        w.write(bad, commit=False)  # before any index row: the group is not affected
    w.write(_Ex("http://example.org/2", b"2" * 100), commit=False)
    w.commit()
    assert _indexed(root) == {"http://example.org/1", "http://example.org/2"}

    w.write(_Ex("http://example.org/3", b"3" * 100), commit=False)
    w.index.db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON records WHEN NEW.uri LIKE '%/4' "
                       "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")  # fmt: skip
    with pytest.raises(sqlite3.DatabaseError, match="disk says no"):
        w.write(_Ex("http://example.org/4", b"4" * 100), commit=False)
    w.write(_Ex("http://example.org/5", b"5" * 100), commit=False)
    with pytest.raises(warc.WarcGroupError, match="disk says no"):
        w.commit()
    assert _indexed(root) == {"http://example.org/1", "http://example.org/2"}  # none of 3, 4, 5
    assert not w.index.db.in_transaction
    # (the trigger was made inside the group's transaction: the rollback took it too)
    w.write(_Ex("http://example.org/6", b"6" * 100), commit=False)
    w.commit()  # the next group is not marked by the last one's failure
    assert "http://example.org/6" in _indexed(root)
    w.close()


def test_a_content_coded_payload_is_stored_not_deflated_again(tmp_path: Path) -> None:
    """A gzip body goes into its record as stored deflate blocks (several, past 64 KiB), the record's
    headers still deflated; decompressed, the record is what warcio writes, and warcio checks the file."""
    import re

    page = b"<p>%d</p>" * 30_000 % tuple(range(30_000))
    body = gzip.compress(page)
    assert len(body) > 65_535
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
    root = tmp_path / "a"
    w = warc.WarcWriter(root, SITE, SNAP1, resume=False)
    coded = _Ex("http://example.org/coded", body, head=head)
    plain = _Ex("http://example.org/plain", b"<p>plain</p>" * 500)
    provs = [w.write(coded), w.write(plain)]
    with open(w.stage / (warc.warc_name(SNAP1, 0) + warc.OPEN_SUFFIX), "rb") as f:
        members = []
        for prov in provs:
            f.seek(prov.offset)
            members.append(f.read(prov.length))
            f.seek(prov.offset)
            both = gzip.decompress(f.read(prov.request_offset + prov.request_length - prov.offset))
            reference = _warcio_members(coded if prov is provs[0] else plain, prov, None)
            request_id = re.compile(rb"(WARC-Type: request\r\nWARC-Record-ID: )<urn:uuid:[^>]+>")
            assert request_id.sub(rb"\1ID", both) == request_id.sub(rb"\1ID", reference)
    stored = body[:65_535] in members[0] and body[65_535:] in members[0]  # two stored blocks
    assert stored and b"WARC-Type: response" not in members[0]  # the record's headers are deflated
    assert b"<p>plain</p>" * 10 not in members[1]  # an uncoded body is deflated as before
    w.finish()
    w.close()
    (published,) = warc.publish(root, SITE, SNAP1)
    _warcio_ok(root / published)
    record = next(r for r in warc.iter_responses(root / published) if r.uri == coded.url)
    assert record.payload == body and record.decoded == page


def _reference_surt(url: str) -> str:
    """What cdxj-indexer keys a record by."""
    import surt

    try:
        return surt.surt(url)
    except Exception:
        return url


_LABELS = st.text("abcXYz09-_", min_size=1, max_size=5)
_OCTETS = st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "010", "0x7f"])
_HOSTS = (
    st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
    | st.lists(_OCTETS, min_size=3, max_size=5).map(".".join)
    | st.sampled_from(["www.", "www2.", "WWW.", ""]).flatmap(lambda w: _LABELS.map(lambda h: f"{w}{h}.org"))
)
_PORTS = st.sampled_from(["", ":0", ":80", ":443", ":8000", ":65535", ":65536", ":99999", ":080", ":"])
_SEGMENTS = st.lists(st.text("aB0._~-;%=", max_size=4) | st.sampled_from([".", "..", ""]), max_size=4)
_TAILS = st.sampled_from(["", "/", "?b=2&a=1", "?", "#f", "/?x=Y", ";jsessionid=0123456789abcdef"])


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    _HOSTS,
    _PORTS,
    _SEGMENTS,
    _TAILS,
    st.booleans(),
)
def test_cdxj_keys_are_surts(
    scheme: str, host: str, port: str, segments: list[str], tail: str, dot: bool
) -> None:
    """The writer's CDXJ key (a shortcut for simple URLs) is cdxj-indexer's, whatever the URL."""
    url = f"{scheme}://{host}{'.' if dot else ''}{port}" + "".join(f"/{s}" for s in segments) + tail
    assert warc.url_surt(url) == _reference_surt(url), url


_NEAR_LABELS = st.text("ab09-", min_size=1, max_size=4)
_NEAR_HOSTS = (
    st.lists(_NEAR_LABELS, min_size=2, max_size=3).map(".".join)
    | st.lists(st.integers(0, 256).map(str), min_size=4, max_size=4).map(".".join)
    | st.sampled_from(["www.", "www1.", "wwwx."]).flatmap(lambda w: _NEAR_LABELS.map(lambda h: f"{w}{h}.kr"))
)
_NEAR_SEGMENTS = st.lists(st.text("az09._~-", min_size=1, max_size=5), max_size=4)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["http", "https"]),
    _NEAR_HOSTS,
    _PORTS,
    _NEAR_SEGMENTS,
    st.sampled_from(["", "", "/", "//", "?", "#", "/A"]),
)
def test_cdxj_keys_of_urls_near_the_shortcut_are_surts(
    scheme: str, host: str, port: str, segments: list[str], tail: str
) -> None:
    """Lowercase hosts and paths, most of them the shortcut's, some one character away from it."""
    url = f"{scheme}://{host}{port}" + "".join(f"/{s}" for s in segments) + tail
    assert warc.url_surt(url) == _reference_surt(url), url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/en/content/10306",
        "https://seoulsolution.kr/en/content/seoul-s-oda_2017.v2/",
        "http://replica.test:8080",
    ],
)
def test_the_boards_post_urls_take_the_shortcut(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _reference_surt(url)

    def not_called(url: str) -> str:
        raise AssertionError(f"surt.surt({url!r}) called")

    monkeypatch.setattr(warc.surt, "surt", not_called)
    assert warc.url_surt(url) == expected
