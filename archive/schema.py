"""The archive's table schemas: explicit, versioned, never inferred.

An inferred schema turns an all-null column into type ``null`` and then refuses the next batch, and
``Table.from_pylist`` drops keys it has not seen: every dataset is written with the schema below.
``site`` and ``snapshot_id`` are hive partition columns (directory names), not file columns.
"""

from __future__ import annotations

import pyarrow as pa

#: Bumped whenever a column is added, removed or retyped; readers accept every version up to theirs.
SCHEMA_VERSION = 1

#: Key written into every Parquet file's metadata and every snapshot manifest.
SCHEMA_VERSION_KEY = b"archive_schema_version"

TIMESTAMP = pa.timestamp("us", tz="UTC")

ATTACHMENT = pa.struct(
    [
        pa.field("name", pa.string()),
        pa.field("url", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mime", pa.string()),
    ]
)
IMAGE = pa.struct([pa.field("src", pa.string()), pa.field("alt", pa.string())])

# The list item is named "element", as Parquet's LIST spec (and pyarrow, reading it back) names it:
# with pyarrow's default "item" the declared schema would differ from every file's schema.
ATTACHMENTS = pa.list_(pa.field("element", ATTACHMENT))
IMAGES = pa.list_(pa.field("element", IMAGE))

PARTITIONING = pa.schema([pa.field("site", pa.string()), pa.field("snapshot_id", pa.string())])

LISTING = pa.schema(
    [
        pa.field("page", pa.int32(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("page_url", pa.string(), nullable=False),
        pa.field("title_raw", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("truncated", pa.bool_()),
        pa.field("is_notice", pa.bool_()),
        pa.field("post_url", pa.string()),
        pa.field("post_id", pa.string()),
        pa.field("published", pa.date32()),
        pa.field("published_at", TIMESTAMP),
        pa.field("published_raw", pa.string()),
        pa.field("author", pa.string()),
        pa.field("author_raw", pa.string()),
        pa.field("reads", pa.int64()),
        pa.field("reads_raw", pa.string()),
        pa.field("fetched_at", TIMESTAMP),
    ]
)

POSTS = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("requested_url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("title_raw", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("category", pa.string()),
        pa.field("listing_title", pa.string()),
        pa.field("title_matches_listing", pa.bool_()),
        pa.field("published", pa.date32()),
        pa.field("published_at", TIMESTAMP),
        pa.field("published_raw", pa.string()),
        pa.field("author", pa.string()),
        pa.field("author_raw", pa.string()),
        pa.field("reads", pa.int64()),
        pa.field("reads_raw", pa.string()),
        pa.field("body_text", pa.string()),
        pa.field("body_html", pa.string()),
        pa.field("attachments", ATTACHMENTS),
        pa.field("images", IMAGES),
        pa.field("source_url", pa.string()),
        pa.field("source_text", pa.string()),
        pa.field("encoding", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("content_hash", pa.string()),
        pa.field("fetched_at", TIMESTAMP),
    ]
)

PARTNERS = pa.schema(
    [
        pa.field("section", pa.string(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("alt_raw", pa.string()),
        pa.field("link", pa.string()),
        pa.field("logo_url", pa.string()),
        pa.field("page_url", pa.string()),
        pa.field("logo_sha256", pa.string()),
        pa.field("logo_bytes", pa.int64()),
        pa.field("logo_type", pa.string()),
        pa.field("fetched_at", TIMESTAMP),
    ]
)

BLOCKS = pa.schema(
    [
        pa.field("block_id", pa.string(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("heading", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("page_url", pa.string()),
        pa.field("fetched_at", TIMESTAMP),
    ]
)

FAILURES = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("referer", pa.string()),
        pa.field("at", TIMESTAMP),
    ]
)

RUNS = pa.schema(
    [
        pa.field("profile", pa.string()),
        pa.field("base_url", pa.string()),
        pa.field("logical_time", TIMESTAMP),
        pa.field("started_at", TIMESTAMP),
        pa.field("finished_at", TIMESTAMP),
        pa.field("duration_s", pa.float64()),
        pa.field("status", pa.string()),  # ok | failed | degraded
        pa.field("finish_reason", pa.string()),
        pa.field("requests", pa.int64()),
        pa.field("responses", pa.int64()),
        pa.field("response_bytes", pa.int64()),
        pa.field("listing_pages", pa.int64()),
        pa.field("listing_rows", pa.int64()),
        pa.field("posts", pa.int64()),
        pa.field("partners", pa.int64()),
        pa.field("blocks", pa.int64()),
        pa.field("failures", pa.int64()),
        pa.field("http_statuses", pa.string()),  # JSON object: status code -> count
        pa.field("code_version", pa.string()),
        pa.field("schema_version", pa.int32()),
        pa.field("stats_json", pa.string()),
    ]
)

#: Every dataset of a snapshot, in the order a commit publishes them (``runs`` last: it marks completion).
DATASETS: dict[str, pa.Schema] = {
    "listing": LISTING,
    "posts": POSTS,
    "partners": PARTNERS,
    "blocks": BLOCKS,
    "failures": FAILURES,
    "runs": RUNS,
}

#: Natural row order within a snapshot, where the arrival order of records is not the page's order
#: (a listing row whose post id waits for its post page is written late).
ROW_ORDER: dict[str, tuple[str, ...]] = {"listing": ("page", "position")}
