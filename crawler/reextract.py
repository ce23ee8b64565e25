"""``crawler reextract``: rebuild a snapshot's records from its WARC files alone, with today's extractors.

No network and no Scrapy engine: the responses come from the archive's WARCs (revisits resolved to their
original payloads), the same pure extractors read them, walked as the spider walks the live board
(``crawler.navigation``: post links, front pages, logos), and the records are committed as a new snapshot
revision (the next free id after the original's, same logical time); the original is never touched.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import archive
from archive import warc
from crawler import __version__
from crawler.extract import (
    ExtractionError,
    charset_from_content_type,
    extract_front,
    extract_listing,
    extract_post,
    parse_html,
)
from crawler.incremental import url_key
from crawler.items import RECORD_TYPES, Failure, ListingRow, PostSeen, as_row, stamp_provenance
from crawler.navigation import front_pages, front_records, is_post_link, logos_to_fetch, set_logo
from crawler.profile import load_profile


@dataclasses.dataclass
class Captured:
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes
    prov: dict[str, Any]

    @property
    def at(self) -> datetime | None:
        """When the response was received (its record's WARC-Date)."""
        date = self.prov.get("warc_date")
        return warc.iso_to_datetime(date) if date else None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def reextract(root: str | Path, snapshot_id: str, site: str) -> str:
    """Re-extract ``snapshot_id``; returns the id of the new snapshot revision."""
    root = Path(root)
    arch = archive.open(root)
    run = arch.runs(snapshot=snapshot_id, site=site).iloc[0]
    profile = load_profile(run["profile"]).with_base_url(run["base_url"])
    now = run["logical_time"].to_pydatetime()
    captured = _captures(root, site, snapshot_id)
    if not captured:
        raise FileNotFoundError(f"snapshot {snapshot_id} of {site} has no WARC files in {root}")
    observed = arch.post_obs(snapshot=snapshot_id, site=site)
    known_ids = {url_key(u): pid for u, pid in zip(observed["url"], observed["post_id"], strict=True)}
    known_ids.update(
        {
            url_key(u): pid
            for u, pid in zip(observed["requested_url"].dropna(), observed["post_id"], strict=False)
        }
    )

    new_id = _revision_id(arch, root, site, snapshot_id)
    writer = archive.SnapshotWriter(root, site, new_id)
    pages = posts = 0

    def stage(url: str, kind: str, records: Iterable[Any], info: dict[str, Any] | None = None) -> None:
        rows = [(RECORD_TYPES[type(r)], as_row(r)) for r in records]
        writer.stage(url, rows, kind=kind, info=info or {})

    def document(url: str):
        c = captured[url]
        return parse_html(c.body, url, charset_from_content_type(c.header("Content-Type")))

    url, page = profile.url(profile.listing.start), 1
    while url and url in captured:
        try:
            listing = extract_listing(document(url), profile, page=page, now=now, fetched_at=captured[url].at)
        except ExtractionError as exc:
            stage(url, "error", [_failure(url, "extract", str(exc))])
            break
        stage(
            url,
            "listing",
            _stamped(listing.rows, captured[url]),
            {"page": page, "next_url": listing.next_url},
        )
        pages += 1
        for row in listing.rows:
            posts += _post(row, captured, known_ids, profile, now, stage, document)
        url, page = listing.next_url, page + 1

    for front_url, wanted in front_pages(profile).items():
        front = captured.get(front_url)
        if front is None:
            continue
        try:
            blocks, partners = extract_front(document(front_url), profile, wanted=wanted, fetched_at=front.at)
        except ExtractionError as exc:
            stage(front_url, "error", [_failure(front_url, "extract", str(exc))])
            continue
        for logo_url, group in logos_to_fetch(partners).items():
            logo = captured.get(logo_url)
            if logo is not None and logo.status == 200:
                set_logo(group, logo.body, logo.header("Content-Type"))
        records = front_records(blocks, partners, wanted, functools.partial(_failure, front_url, "extract"))
        stage(front_url, "front", _stamped(records, front))

    writer.commit(
        {
            "profile": profile.name,
            "base_url": profile.base_url,
            "logical_time": now,
            "started_at": _now(),
            "finished_at": _now(),
            "duration_s": 0.0,
            "status": "ok",
            "finish_reason": f"reextracted from {snapshot_id}",
            "requests": 0,
            "responses": len(captured),
            "response_bytes": sum(len(c.body) for c in captured.values()),
            "listing_pages": pages,
            "code_version": __version__,
        }
    )
    return new_id


def _post(row: ListingRow, captured, known_ids, profile, now, stage, document) -> int:
    """Stage the post a listing row links to, from its capture or, when it was not downloaded in the
    original run, as carried forward (its known version)."""
    url = row.post_url
    if not is_post_link(profile, url):
        return 0
    capture = captured.get(url)
    if capture is None or capture.status not in (200, 304) or not capture.body:
        post_id = row.post_id or known_ids.get(url_key(url))
        if capture is not None and capture.status and capture.status >= 400:
            stage(url, "error", [_failure(url, "http", f"HTTP {capture.status}", capture.status)])
        elif post_id:
            stage(url, "post", [PostSeen(post_id=post_id, url=url, fetch="skipped")])
        return 0
    try:
        post = extract_post(
            document(url), profile, now=now, listing=row, http_status=200, fetched_at=capture.at
        )
    except ExtractionError as exc:
        stage(url, "error", [_failure(url, "extract", str(exc))])
        return 0
    post.etag, post.last_modified = capture.header("ETag"), capture.header("Last-Modified")
    records: list[Any] = _stamped([post], capture)
    if row.post_id is None:  # a path alias: the listing row learns its post's id
        row.post_id = post.post_id
        records.append(row)
    stage(url, "post", records)
    return 1


def _captures(root: Path, site: str, snapshot_id: str) -> dict[str, Captured]:
    """The snapshot's responses by URL (the first capture of a URL wins), redirects followed."""
    found: dict[str, Captured] = {}
    for url, status, headers, body, prov in warc.replay_responses(root, site, snapshot_id):
        found.setdefault(url, Captured(status, headers, body, prov))
    for url, c in list(found.items()):
        hops = 0
        while c.status in (301, 302, 303, 307, 308) and hops < 5:
            target = c.header("Location")
            if not target or target not in found:
                break
            c, hops = found[target], hops + 1
        found[url] = c
    return found


def _stamped(records: list[Any], capture: Captured) -> list[Any]:
    prov = capture.prov
    return stamp_provenance(
        records, prov.get("payload_file"), prov.get("payload_offset"), prov.get("payload_length")
    )


def _revision_id(arch, root: Path, site: str, snapshot_id: str) -> str:
    """The first free snapshot id after the original: a revision sorts right after what it revises."""
    taken = set(arch.snapshots(site=site)["snapshot_id"]) | {
        s["snapshot_id"] for s in archive.resumable(root, site)
    }
    moment = archive.parse_snapshot_id(snapshot_id)
    for seconds in range(1, 3600):
        candidate = archive.snapshot_id_for(moment + timedelta(seconds=seconds))
        if candidate not in taken:
            return candidate
    raise RuntimeError(f"no free snapshot id within an hour after {snapshot_id}")


def _now() -> datetime:
    return datetime.now(UTC)


def _failure(url: str, stage: str, reason: str, status: int | None = None) -> Failure:
    return Failure(url=url, stage=stage, reason=reason, http_status=status, at=_now())
