"""The archive's table schemas: explicit, versioned, never inferred.

An inferred schema turns an all-null column into type ``null`` and then refuses the next batch, and
``Table.from_pylist`` drops keys it has not seen: every dataset is written with the schema below.

Schema version 2 (see docs/archive-format.md):

- files are hive-partitioned by ``site`` only; ``snapshot_id`` is a string column inside every file
  (its first column), so that compaction can merge many snapshots into one file;
- a post's content is stored once per distinct version (``post_versions``, keyed by post id and
  content hash) and every snapshot keeps a thin observation of each post (``post_obs``).

The v1 schemas (``V1_*``) stay here: the reader reads v1 archives, and compaction migrates them. The
crawler's records still arrive in the v1 shapes (plus ``post_seen``): see ``STAGE_DATASETS``.
"""

from __future__ import annotations

import pyarrow as pa

#: Bumped whenever a column is added, removed or retyped; readers accept every version up to theirs.
SCHEMA_VERSION = 2

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

#: v2: the only hive partition column (a directory name), never a column inside the files.
PARTITIONING = pa.schema([pa.field("site", pa.string())])
#: v1 archives were partitioned by site and snapshot id.
V1_PARTITIONING = pa.schema([pa.field("site", pa.string()), pa.field("snapshot_id", pa.string())])

SNAPSHOT_ID = pa.field("snapshot_id", pa.string(), nullable=False)

# -- schema version 1 (also the shapes in which the crawler's records arrive) -----------------------

V1_LISTING = pa.schema(
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

V1_POSTS = pa.schema(
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

V1_PARTNERS = pa.schema(
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

V1_BLOCKS = pa.schema(
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

V1_FAILURES = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("referer", pa.string()),
        pa.field("at", TIMESTAMP),
    ]
)

V1_RUNS = pa.schema(
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


V1_DATASETS: dict[str, pa.Schema] = {
    "listing": V1_LISTING,
    "posts": V1_POSTS,
    "partners": V1_PARTNERS,
    "blocks": V1_BLOCKS,
    "failures": V1_FAILURES,
    "runs": V1_RUNS,
}

# -- schema version 2: what is stored ------------------------------------------------------------


def _with_snapshot_id(schema: pa.Schema) -> pa.Schema:
    return pa.schema([SNAPSHOT_ID, *schema])


#: Where a row's content came from: the WARC record holding the response's payload (a revisit resolved
#: to its original). Null where no WARC was written (crawls without capture, archives before it).
PROVENANCE = (
    pa.field("warc_file", pa.string()),  # relative to the archive root
    pa.field("warc_offset", pa.int64()),
    pa.field("warc_length", pa.int64()),
)
PROVENANCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in PROVENANCE)

#: Columns of a post that make up its content (what ``content_hash`` covers, with ``post_id``).
CONTENT_COLUMNS: tuple[str, ...] = (
    "title",
    "title_raw",
    "lang",
    "category",
    "published",
    "published_at",
    "published_raw",
    "author",
    "author_raw",
    "body_text",
    "body_html",
    "attachments",
    "images",
    "source_url",
    "source_text",
)
#: Columns of a post stored once per *version* (distinct ``(post_id, content_hash)``): its content and
#: the provenance of the download that first stored it.
VERSION_COLUMNS: tuple[str, ...] = CONTENT_COLUMNS + PROVENANCE_COLUMNS


def _with_provenance(schema: pa.Schema) -> pa.Schema:
    return pa.schema([*schema, *PROVENANCE])


LISTING_IN = _with_provenance(V1_LISTING)
PARTNERS_IN = _with_provenance(V1_PARTNERS)
BLOCKS_IN = _with_provenance(V1_BLOCKS)
_POST_FIELDS = {f.name: f for f in [*V1_POSTS, *PROVENANCE]}

LISTING = _with_snapshot_id(LISTING_IN)

POST_VERSIONS = pa.schema(
    [
        SNAPSHOT_ID,  # the snapshot that wrote the version: always equal to first_seen
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        *(_POST_FIELDS[name] for name in VERSION_COLUMNS),
        pa.field("first_seen", pa.string(), nullable=False),
    ]
)

POST_OBS = pa.schema(
    [
        SNAPSHOT_ID,
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("requested_url", pa.string()),
        pa.field("listing_title", pa.string()),
        pa.field("title_matches_listing", pa.bool_()),
        pa.field("reads", pa.int64()),
        pa.field("reads_raw", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("fetch", pa.string(), nullable=False),  # fetched | not_modified | skipped
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("fetched_at", TIMESTAMP),  # the last real download of this version
        pa.field("encoding", pa.string()),
    ]
)

PARTNERS = _with_snapshot_id(PARTNERS_IN)
BLOCKS = _with_snapshot_id(BLOCKS_IN)
FAILURES = _with_snapshot_id(V1_FAILURES)

RUNS = pa.schema(
    [
        SNAPSHOT_ID,
        *V1_RUNS,
        pa.field("posts_fetched", pa.int64()),
        pa.field("posts_not_modified", pa.int64()),
        pa.field("posts_skipped", pa.int64()),
        pa.field("resumes", pa.int64()),
        pa.field("monitors", pa.string()),  # JSON: the monitors' results
        pa.field("report", pa.string()),  # JSON: the run report
    ]
)

#: Every stored dataset, in the order a commit publishes them (``runs`` last: it marks completion).
DATASETS: dict[str, pa.Schema] = {
    "listing": LISTING,
    "post_versions": POST_VERSIONS,
    "post_obs": POST_OBS,
    "partners": PARTNERS,
    "blocks": BLOCKS,
    "failures": FAILURES,
    "runs": RUNS,
}

#: Natural row order within a snapshot: readers return rows in it (the arrival order of records is not
#: the page's order: a listing row whose post id waits for its post page is staged again late), and
#: compaction clusters rows by it across snapshots (see ``archive.compact``). Datasets not named here
#: come back in the order their rows were written.
ROW_ORDER: dict[str, tuple[str, ...]] = {
    "listing": ("page", "position"),
    "post_obs": ("post_id",),
    "partners": ("section", "position"),
    "blocks": ("position",),
}

#: Values of ``post_obs.fetch``.
FETCH_VALUES = ("fetched", "not_modified", "skipped")

# -- what SnapshotWriter.stage() accepts -----------------------------------------------------------

#: A post page as the crawler read it: the v1 post columns plus the response's validators.
POSTS = pa.schema(
    [
        *(f for f in V1_POSTS if f.name != "fetched_at"),
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        V1_POSTS.field("fetched_at"),
        *PROVENANCE,
    ]
)

#: A listed post this run did not download (``not_modified``: the server answered 304;
#: ``skipped``: fetched recently enough). Its version and listing fields carry over at commit.
POST_SEEN = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("fetch", pa.string(), nullable=False),  # not_modified | skipped
        pa.field("http_status", pa.int32()),
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
    ]
)

STAGE_DATASETS: dict[str, pa.Schema] = {
    "listing": LISTING_IN,
    "posts": POSTS,
    "post_seen": POST_SEEN,
    "partners": PARTNERS_IN,
    "blocks": BLOCKS_IN,
    "failures": V1_FAILURES,
}

#: The key of each staged dataset: staging a row with the key of an earlier one replaces it.
STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "listing": ("page", "position"),
    "posts": ("post_id",),
    "post_seen": ("post_id",),
    "partners": ("section", "position"),
    "blocks": ("block_id",),
    "failures": ("url", "stage"),
}

#: What ``Archive.posts()`` returns after ``site``: the v1 post columns, then how this snapshot got it.
POSTS_VIEW = pa.schema([SNAPSHOT_ID, *V1_POSTS, POST_OBS.field("fetch"), *PROVENANCE])
