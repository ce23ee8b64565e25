"""Read/hit counters: `1,234`, `11 READS`, `조회수 : 1,234회`, `1.2k`, `1.2만`."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Final

__all__ = ["parse_count"]

_NUM: Final = r"(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
_MULT: Final = r"(?:\s*(?P<mult>[kmb]|천|만|억)(?![a-z]))?"
_MULTIPLIERS: Final = {
    "k": 1_000, "m": 1_000_000, "b": 1_000_000_000, "천": 1_000, "만": 10_000, "억": 100_000_000,
}  # fmt: skip
# A count label followed by its number: `조회수 : 1,234`, `Hits 12`. Whole words only, so
# `조회기간 3` is not a count. The text is casefolded before matching.
_LABELLED: Final = re.compile(
    rf"(?<!\w)(?:조회\s*수|조회|hits?|views?|reads?|조회\s*횟수)\s*[:：]?\s*{_NUM}(?![\d.,]\d){_MULT}"
)
# A bare number, possibly with its unit: `1,234`, `11 reads`, `12 회`, `3천`.
_BARE: Final = re.compile(rf"\s*{_NUM}{_MULT}\s*(?:회|번|건|hits?|views?|reads?|times)?\s*")
_DATE_LIKE: Final = re.compile(
    r"\d\s*[-./]\s*\d{1,2}\s*[-./]\s*\d|\d:\d\d|\d{4}\s*년"
    r"|(?<!\d)(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)"  # 20170111
)


# The common case, a plain number with an optional English unit (`11 READS`, `1234`), as the full rules
# read it; at most 7 digits, so that a compact date (`20170111`) still meets _DATE_LIKE.
_PLAIN: Final = re.compile(r"\s*(\d{1,7})(?:\s*(?:reads?|hits?|views?|times))?\s*", re.IGNORECASE | re.ASCII)


def parse_count(text: str | None) -> int | None:
    """Return the count as an int ≥ 0, or None when `text` holds no count.

    A labelled number wins anywhere in the text; otherwise the whole text must be a number
    with an optional multiplier (k, M, B, 천, 만, 억) and unit (회, READS, views...). Dates
    (including a bare `20170111`) and fractions without a multiplier (`1.5`) are not counts.
    """
    if not text:
        return None
    plain = _PLAIN.fullmatch(text) if text.isascii() else None
    if plain is not None:
        return int(plain[1])
    # NFKC: full-width digits and `：`; casefold: READS/Hits; one space per run keeps the
    # optional-space patterns linear.
    if not text.isascii():  # ASCII is already NFKC
        text = unicodedata.normalize("NFKC", text)
    s = " ".join(text.casefold().split())
    m = _LABELLED.search(s)
    if m is None:
        if _DATE_LIKE.search(s):
            return None
        m = _BARE.fullmatch(s)
        if m is None:
            return None
    try:
        value = Decimal(m["num"].replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        return None
    mult = m["mult"]
    if mult is not None:
        value *= _MULTIPLIERS[mult]
    elif value != value.to_integral_value():
        return None
    return int(value)
