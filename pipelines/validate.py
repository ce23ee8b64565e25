"""Replace records that cannot be stored as what they claim to be by failures saying why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crawler.items import Block, Failure, ListingRow, PageResult, Partner, Post, PostSeen

#: Fields without which a record means nothing.
REQUIRED: dict[type, tuple[str, ...]] = {
    ListingRow: ("page_url",),
    Post: ("post_id", "url", "title"),
    PostSeen: ("post_id", "url", "fetch"),
    Partner: ("section", "name"),
    Block: ("block_id",),
    Failure: ("url", "stage", "reason"),
}


def problem(record: Any) -> str | None:
    """Why ``record`` cannot be stored, or None."""
    required = REQUIRED.get(type(record))
    if required is None:
        return f"unknown record type {type(record).__name__}"
    missing = [name for name in required if not getattr(record, name)]
    if missing:
        return f"{type(record).__name__} without {', '.join(missing)}"
    if isinstance(record, ListingRow) and not (record.title_raw or record.post_url):
        return "listing row with neither title nor link"
    return None


class ValidatePipeline:
    def __init__(self, crawler: Any) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: PageResult) -> PageResult:
        checked = []
        for record in item.records:
            reason = problem(record)
            if reason is None:
                checked.append(record)
            else:
                self.stats.inc_value("board/failures/validate")
                checked.append(Failure(url=item.url, stage="validate", reason=reason, at=datetime.now(UTC)))
        item.records = checked
        return item
