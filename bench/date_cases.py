"""Board date strings as they appear on Korean/English listings, with the expected reading.

Shared by bench/dates.py and the tests. Expected values hold for NOW: a `date` when the board
gives a day, a Seoul-aware `datetime` when it also gives a time of day (or a relative time in
hours/minutes), None when there is no valid past date to read.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=SEOUL)


def _kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)


CASES: list[tuple[str, date | datetime | None]] = [
    # ISO and dotted forms, bare and labelled
    ("2017-01-11", date(2017, 1, 11)),
    ("2017.01.11", date(2017, 1, 11)),
    ("2017. 1. 11.", date(2017, 1, 11)),
    ("2017/01/11", date(2017, 1, 11)),
    ("20170111", date(2017, 1, 11)),
    ("등록일 2017-01-11", date(2017, 1, 11)),
    ("등록일 : 2017.01.11", date(2017, 1, 11)),
    ("작성일 2024.03.05", date(2024, 3, 5)),
    ("게시일: 2023-12-31", date(2023, 12, 31)),
    ("Date 2017-01-11", date(2017, 1, 11)),
    ("Date : 2017-01-13", date(2017, 1, 13)),
    ("2017-01-11 | 조회 123", date(2017, 1, 11)),
    ("등록일 2017-01-11 글쓴이 ssunha 조회수 11 READS", date(2017, 1, 11)),
    # two-digit years (YY-MM-DD)
    ("17.01.11", date(2017, 1, 11)),
    ("17-01-11", date(2017, 1, 11)),
    ("작성일 24.11.02", date(2024, 11, 2)),
    # Korean year-month-day
    ("2017년 1월 11일 (수)", date(2017, 1, 11)),
    ("2025년 12월 3일", date(2025, 12, 3)),
    # no year: the latest such day not after now
    ("01-11", date(2026, 1, 11)),
    ("11.20", date(2026, 11, 20)),
    ("1월 11일", date(2026, 1, 11)),
    ("12월 25일", date(2025, 12, 25)),
    # time of day
    ("14:22", _kst(2026, 11, 25, 14, 22)),
    ("16:40", _kst(2026, 11, 24, 16, 40)),
    ("2017-01-11 14:22", _kst(2017, 1, 11, 14, 22)),
    ("2017-01-11 14:22:05", _kst(2017, 1, 11, 14, 22, 5)),
    ("작성일: 2017.01.11 14:22", _kst(2017, 1, 11, 14, 22)),
    ("2017.01.11 오후 2:22", _kst(2017, 1, 11, 14, 22)),
    ("2017.01.11 오전 9:05", _kst(2017, 1, 11, 9, 5)),
    # relative
    ("3일 전", date(2026, 11, 22)),
    ("2시간 전", _kst(2026, 11, 25, 13, 0)),
    ("5분 전", _kst(2026, 11, 25, 14, 55)),
    ("어제", date(2026, 11, 24)),
    ("그제", date(2026, 11, 23)),
    ("그저께", date(2026, 11, 23)),
    ("방금", _kst(2026, 11, 25, 15, 0)),
    ("조금 전", _kst(2026, 11, 25, 15, 0)),
    ("일주일 전", date(2026, 11, 18)),
    ("1개월 전", date(2026, 10, 25)),
    ("3 days ago", date(2026, 11, 22)),
    ("yesterday", date(2026, 11, 24)),
    # English
    ("5th January 2017", date(2017, 1, 5)),
    ("January 9th, 2017", date(2017, 1, 9)),
    ("Jan 9, 2017", date(2017, 1, 9)),
    ("Posted on January 9th, 2017", date(2017, 1, 9)),
    ("Published 12 March 2024", date(2024, 3, 12)),
    # nothing valid to read
    ("2017-02-30", None),
    ("2026-12-01", None),
]
