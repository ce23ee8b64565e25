"""Descriptive text blocks (MITI, 공유도시 서울) → Block records with heading, text and language."""

from __future__ import annotations

from datetime import datetime

from crawler.extract.dom import Document, block_text, inline_text
from crawler.items import Block
from crawler.normalize import detect_lang, search_key
from crawler.profile import SiteProfile


def extract_blocks(doc: Document, profile: SiteProfile, *, fetched_at: datetime | None = None) -> list[Block]:
    spec = profile.blocks
    if spec is None:
        return []
    blocks = []
    for position, el in enumerate(doc.select(spec.items), start=1):
        heading = inline_text(doc.first(spec.heading, el))
        text = block_text(doc.first(spec.body, el))
        if not heading and not text:
            continue
        blocks.append(
            Block(
                # The element id is stable across crawls; the heading is the fallback key.
                block_id=el.get("id") or search_key(heading)[:80] or f"block-{position}",
                position=position,
                heading=heading,
                text=text,
                lang=detect_lang(f"{heading} {text}"),
                page_url=doc.url,
                fetched_at=fetched_at,
            )
        )
    return blocks
