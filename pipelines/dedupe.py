"""Keep one post per post id in a snapshot: a post reached by its node URL and by a path alias is one post."""

from __future__ import annotations

from typing import Any

from crawler.items import PageResult, Post


class DedupePipeline:
    def __init__(self, crawler: Any) -> None:
        self.stats = crawler.stats
        self._posts: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupePipeline:
        return cls(crawler)

    def process_item(self, item: PageResult) -> PageResult:
        kept = []
        for record in item.records:
            if isinstance(record, Post):
                if record.post_id in self._posts:
                    self.stats.inc_value("board/duplicates")
                    continue
                self._posts.add(record.post_id)
            kept.append(record)
        item.records = kept
        return item
