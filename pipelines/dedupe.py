"""Keep one post per post id in a snapshot: a post reached by its node URL and by a path alias is one post."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from crawler.items import Post


class DuplicateItem(DropItem):
    """A record already stored in this snapshot under another URL: expected, counted, not a failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level="DEBUG")


class DedupePipeline:
    def __init__(self) -> None:
        self._posts: set[str] = set()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Post):
            if item.post_id in self._posts:
                raise DuplicateItem(f"post {item.post_id} already stored (again at {item.requested_url})")
            self._posts.add(item.post_id)
        return item
