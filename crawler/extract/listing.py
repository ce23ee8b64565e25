"""Listing page → rows (title as shown, category, date, author, reads, post link) and the next page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from crawler.extract.dom import Document, ExtractionError, inline_text, raw_text
from crawler.extract.values import DateValue, read_date
from crawler.items import ListingRow
from crawler.normalize import clean_text, parse_count, split_labelled, split_title
from crawler.profile import SiteProfile


@dataclass(slots=True)
class ListingPage:
    rows: list[ListingRow]
    next_url: str | None


def extract_listing(
    doc: Document,
    profile: SiteProfile,
    *,
    page: int,
    now: datetime,
    fetched_at: datetime | None = None,
) -> ListingPage:
    """Read every row of a listing page. Raises ExtractionError when the row selector finds nothing.

    A field is read with the profile's selector when it names one and that selector matches; else by
    its label inside the row (``등록일 2017-01-11``, ``조회수 11 READS``), so that a board whose markup
    moves a field still yields it.
    """
    spec = profile.listing
    row_elements = doc.select(spec.row)
    if not row_elements:
        raise ExtractionError(f"no listing rows matched {spec.row!r}")
    # One query per field for the whole page, matched to rows by ancestry.
    links = doc.per_container(row_elements, spec.title_link)
    fields = {name: doc.per_container(row_elements, sel) for name, sel in spec.fields.items()}
    notices = doc.per_container(row_elements, spec.notice) if spec.notice else [None] * len(row_elements)
    post_id_pattern = re.compile(profile.post.id_from_url)
    memo = _Memo(now)
    rows = [
        _row(
            doc,
            el,
            links[i],
            {name: found[i] for name, found in fields.items()},
            notices[i] is not None,
            page=page,
            position=i + 1,
            post_id_pattern=post_id_pattern,
            memo=memo,
            fetched_at=fetched_at,
        )
        for i, el in enumerate(row_elements)
    ]
    next_link = doc.first(spec.next_page)
    return ListingPage(
        rows=rows, next_url=doc.absolute(next_link.get("href")) if next_link is not None else None
    )


class _Memo:
    """Values that repeat down a page (a day's posts share their date, a board has few writers), each
    normalised once per page."""

    __slots__ = ("authors", "counts", "dates", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.dates: dict[str | None, DateValue] = {}
        self.counts: dict[str | None, int | None] = {}
        self.authors: dict[str | None, str | None] = {}

    def date(self, raw: str | None) -> DateValue:
        found = self.dates.get(raw)
        if found is None:
            found = self.dates[raw] = read_date(raw, self.now)
        return found

    def count(self, raw: str | None) -> int | None:
        if raw not in self.counts:
            self.counts[raw] = parse_count(raw)
        return self.counts[raw]

    def author(self, raw: str | None) -> str | None:
        if raw not in self.authors:
            self.authors[raw] = clean_text(raw) or None
        return self.authors[raw]


def _row(
    doc: Document,
    el: etree._Element,
    link: etree._Element | None,
    field_elements: dict[str, etree._Element | None],
    notice: bool,
    *,
    page: int,
    position: int,
    post_id_pattern: re.Pattern[str],
    memo: _Memo,
    fetched_at: datetime | None,
) -> ListingRow:
    title_raw = raw_text(link) or ""
    parts = split_title(title_raw)
    post_url = doc.absolute(link.get("href")) if link is not None else None
    match = post_id_pattern.search(post_url or "")
    labelled: dict[str, str] | None = None

    def field(name: str) -> str | None:
        nonlocal labelled
        value = raw_text(field_elements.get(name))
        if value:
            return value
        if labelled is None:
            labelled = split_labelled(inline_text(el).replace(clean_text(title_raw), " ", 1))
        return labelled.get(name)

    published = memo.date(field("published"))
    reads_raw = field("reads")
    author_raw = field("author")
    is_notice = notice or "notice" in (el.get("class") or "").split()
    return ListingRow(
        page=page,
        position=position,
        page_url=doc.url,
        title_raw=title_raw,
        title=parts.title,
        category=parts.category,
        truncated=parts.truncated,
        is_notice=is_notice,
        post_url=post_url,
        post_id=match.group(1) if match else None,
        published=published.day,
        published_at=published.moment,
        published_raw=published.raw,
        author=memo.author(author_raw),
        author_raw=author_raw,
        reads=memo.count(reads_raw),
        reads_raw=reads_raw,
        fetched_at=fetched_at,
    )
