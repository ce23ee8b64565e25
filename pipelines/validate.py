"""Reject records that cannot be stored as what they claim to be; the archive records each rejection."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from crawler.items import Block, Failure, ListingRow, Partner, Post

#: Fields without which a record means nothing.
REQUIRED: dict[type, tuple[str, ...]] = {
    ListingRow: ("page_url",),
    Post: ("post_id", "url", "title"),
    Partner: ("section", "name"),
    Block: ("block_id",),
    Failure: ("url", "stage", "reason"),
}


class InvalidItem(DropItem):
    """A record dropped for a reason worth storing in the ``failures`` dataset."""


class ValidatePipeline:
    def process_item(self, item: Any) -> Any:
        required = REQUIRED.get(type(item))
        if required is None:
            raise InvalidItem(f"unknown record type {type(item).__name__}")
        missing = [name for name in required if not getattr(item, name)]
        if missing:
            raise InvalidItem(f"{type(item).__name__} without {', '.join(missing)}")
        if isinstance(item, ListingRow) and not (item.title_raw or item.post_url):
            raise InvalidItem("listing row with neither title nor link")
        return item
