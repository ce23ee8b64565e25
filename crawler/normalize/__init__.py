"""Pure normalisation functions for board text: no network, no global state that depends on
the crawl time. See docs in each submodule for the measured reasons behind each rule."""

from crawler.normalize.counts import parse_count
from crawler.normalize.dates import parse_date
from crawler.normalize.encoding import decode_page, fix_mojibake
from crawler.normalize.labels import field_of_label, split_labelled
from crawler.normalize.lang import detect_lang
from crawler.normalize.partners import partner_name
from crawler.normalize.text import clean_text, search_key
from crawler.normalize.titles import TitleParts, reconcile_title, split_title

__all__ = [
    "TitleParts",
    "clean_text",
    "decode_page",
    "detect_lang",
    "field_of_label",
    "fix_mojibake",
    "parse_count",
    "parse_date",
    "partner_name",
    "reconcile_title",
    "search_key",
    "split_labelled",
    "split_title",
]
