"""Pure extraction: HTML bytes plus their URL (and the site profile) → typed records.

No network, no Scrapy engine: every function here runs on a saved page, which is how it is tested and
how a snapshot can be re-extracted from its stored responses.
"""

from crawler.extract.blocks import extract_blocks
from crawler.extract.dom import Document, ExtractionError, charset_from_content_type, parse_html
from crawler.extract.front import extract_front
from crawler.extract.listing import ListingPage, extract_listing
from crawler.extract.partners import extract_partners
from crawler.extract.post import content_hash, extract_post

__all__ = [
    "Document",
    "ExtractionError",
    "ListingPage",
    "charset_from_content_type",
    "content_hash",
    "extract_blocks",
    "extract_front",
    "extract_listing",
    "extract_partners",
    "extract_post",
    "parse_html",
]
