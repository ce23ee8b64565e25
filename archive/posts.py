"""How a staged post becomes a version (``post_versions``) and an observation (``post_obs``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archive.schema import CONTENT_COLUMNS, POST_OBS, VERSION_COLUMNS

#: post_obs columns copied from a downloaded post (``snapshot_id`` and ``fetch`` are set by the writer).
OBS_FROM_POST: tuple[str, ...] = tuple(n for n in POST_OBS.names if n not in ("snapshot_id", "fetch"))
#: post_obs columns a post that was not downloaded carries over from its latest earlier observation.
CARRIED: tuple[str, ...] = (
    "content_hash",
    "requested_url",
    "listing_title",
    "title_matches_listing",
    "reads",
    "reads_raw",
    "encoding",
    "fetched_at",
)


def fallback_hash(post: dict[str, Any]) -> str:
    """A content hash for a post staged without one: sha256 over every version column, so that the
    archive can still key its versions (the crawler always sends its own ``content_hash``)."""
    content = [post.get(name) for name in CONTENT_COLUMNS]
    data = json.dumps(content, ensure_ascii=False, default=str, sort_keys=True)
    return "archive-sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()


def version_row(snapshot_id: str, post: dict[str, Any]) -> dict[str, Any]:
    row = {name: post.get(name) for name in VERSION_COLUMNS}
    row["snapshot_id"] = snapshot_id
    row["post_id"] = post["post_id"]
    row["content_hash"] = post["content_hash"]
    row["first_seen"] = snapshot_id
    return row


def obs_row(snapshot_id: str, post: dict[str, Any]) -> dict[str, Any]:
    row = {name: post.get(name) for name in OBS_FROM_POST}
    row["snapshot_id"] = snapshot_id
    row["fetch"] = "fetched"
    return row


def carried_obs_row(snapshot_id: str, seen: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The observation of a post that was not downloaded: this run's response facts, the rest carried
    over from the post's latest earlier observation."""
    row = {name: previous.get(name) for name in CARRIED}
    row["snapshot_id"] = snapshot_id
    row["post_id"] = seen["post_id"]
    row["url"] = seen["url"]
    if previous.get("url") != seen["url"]:
        row["requested_url"] = seen["url"]
    row["fetch"] = seen["fetch"]
    row["http_status"] = seen.get("http_status")
    # a 304 may omit the validators, a skipped post has none: keep the known ones for the next request
    row["etag"] = seen.get("etag") if seen.get("etag") is not None else previous.get("etag")
    lm = seen.get("last_modified")
    row["last_modified"] = lm if lm is not None else previous.get("last_modified")
    return row
