"""The pages that carry a board's partner logo lists and descriptive blocks → both kinds of records."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from crawler.extract.blocks import extract_blocks
from crawler.extract.dom import Document
from crawler.extract.partners import extract_partners
from crawler.items import Block, Partner
from crawler.profile import SiteProfile


def extract_front(
    doc: Document, profile: SiteProfile, *, wanted: Collection[str], fetched_at: datetime | None = None
) -> tuple[list[Block], list[Partner]]:
    """The blocks and the partners of a page, each only if ``wanted`` names it (``"blocks"``,
    ``"partners"``): a profile may keep them on different pages (``crawler.navigation.front_pages``)."""
    blocks = extract_blocks(doc, profile, fetched_at=fetched_at) if "blocks" in wanted else []
    partners = extract_partners(doc, profile, fetched_at=fetched_at) if "partners" in wanted else []
    return blocks, partners
