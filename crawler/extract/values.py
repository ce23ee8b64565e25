"""Small conversions shared by the extractors: a parsed date as (day, moment in UTC, raw text)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

from crawler.normalize import parse_date


class DateValue(NamedTuple):  # (a tuple: built for every listing row, where a frozen dataclass costs 1 µs)
    day: date | None  # the calendar day on the board (in the board's time zone)
    moment: datetime | None  # the instant in UTC, when the board shows a time of day
    raw: str | None


def read_date(raw: str | None, now: datetime) -> DateValue:
    """Parse a board date against the crawl's logical time ``now``."""
    value = parse_date(raw, now=now) if raw else None
    if isinstance(value, datetime):
        return DateValue(day=value.date(), moment=value.astimezone(UTC), raw=raw)
    return DateValue(day=value, moment=None, raw=raw)
