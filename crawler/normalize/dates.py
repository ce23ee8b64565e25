"""Board date strings → `date` / Seoul-aware `datetime`.

A fast path of compiled regular expressions reads the forms boards actually print (1–5 µs);
dateparser (about 700 µs a call, and wrong or None on several board forms: labels left on,
`그제`, `방금`, `20170111`, `01-11`) is only the fallback. Every result is checked against `now`:
a board never shows a publication date after the crawl, so a future value means a misreading.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["SEOUL", "parse_date"]

SEOUL: Final = ZoneInfo("Asia/Seoul")

_ZW: Final = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # search+sub beats translate
_DIGIT: Final = re.compile(r"\d")
_ISO_DAY: Final = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", re.ASCII)
_LATIN: Final = re.compile("[A-Za-z]")

# --- building blocks -------------------------------------------------------------------------

_MONTHS: Final = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH: Final = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])"
)
_AMPM: Final = r"오전|오후|[ap]\.?m\.?(?![a-z])"
# What may sit between a date and its time: a weekday "(수)", "수요일", "Wed,", "T", "at", "@", ",".
# Possessive quantifiers (`*+`, Python 3.11) keep runs of spaces from backtracking cubically.
_GAP: Final = (
    r"\s*+(?:(?:\(\s*+(?:[월화수목금토일](?:요일)?|[a-z]{3,9}\.?)\s*+\)|[월화수목금토일]요일"
    r"|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*+\.?)\s*+)?(?:(?:t|,|at(?![a-z])|@)\s*+)?"
)
# Times: "14:22", "14:22:05", "오후 2:22", "2:22 PM", "14시 22분 5초"; optional zone.
_TIME_RE: Final = re.compile(
    _GAP
    + rf"(?:(?P<ap1>{_AMPM})\s*+)?"
    + r"(?:(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:[.,]\d{1,6})?"
    + r"|(?P<kh>\d{1,2})\s*+시(?!간)(?:\s*+(?P<kmi>\d{1,2})\s*+분)?(?:\s*+(?P<ks>\d{1,2})\s*+초)?)"
    + rf"(?![\d:])(?:\s*+(?P<ap2>{_AMPM}))?"
    + r"(?:\s*+(?P<tz>z(?![a-z])|[+-]\d{2}:?\d{2}(?!\d)|kst|utc|gmt))?",
    re.IGNORECASE,
)

# --- absolute dates (searched anywhere: labels and trailing noise are simply skipped) ---------

_YMD4: Final = re.compile(
    r"(?<![\d.])(?P<y>\d{4})\s*(?:[-./]|년)\s*(?P<m>\d{1,2})\s*(?:[-./]|월)\s*(?P<d>\d{1,2})(?!\d)"
    r"(?:\s*일|\.(?!\d))?"
)
# Two-digit years are always YY-MM-DD (never DD-MM-YY); the separator must repeat, so a
# decimal or a version number does not qualify, and IP-like runs are refused.
_YMD2: Final = re.compile(
    r"(?<![\d.\-/])(?P<y>\d{2})(?P<sep>[-./])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d|[-./]\d)\.?"
    r"|(?<!\d)(?P<ky>\d{2})\s*년\s*(?P<km>\d{1,2})\s*월\s*(?P<kd>\d{1,2})\s*일"
)
_COMPACT: Final = re.compile(r"(?<![\d.\-/:])(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?![\d:])")
_EN_DMY: Final = re.compile(
    rf"(?<![\d:])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?{_MONTH}\s*,?\s*(?P<y>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_EN_MDY: Final = re.compile(
    rf"(?<![a-z]){_MONTH}\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)\s*,?\s*(?P<y>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
# Year and month without a day ("2017년 1월", "January 2017", "2017.01"): no day to report.
_YEAR_MONTH_ONLY: Final = re.compile(
    rf"^\D*?(?:(?<!\d)\d{{4}}\s*(?:년\s*\d{{1,2}}\s*월|[-./]\s*\d{{1,2}}\.?)|(?<![a-z]){_MONTH}\s*,?\s*\d{{4}})\s*$",
    re.IGNORECASE,
)

# --- dates without a year (the latest such date not after today) -----------------------------

_KO_MD: Final = re.compile(r"(?<!\d)(?P<m>\d{1,2})\s*월\s*(?P<d>\d{1,2})\s*일")
_EN_MD: Final = re.compile(
    rf"(?<![a-z]){_MONTH}\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:])"
    rf"|(?<![\d:])(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?(?P<mon2>jan(?:uary)?|feb(?:ruary)?"
    r"|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])",
    re.IGNORECASE,
)

# Ambiguous bare forms ("01-11", "01.11", "14:22") count only when they are the whole value,
# give or take a leading label and trailing noise after a separator.
_LABEL: Final = (
    r"(?:(?:최초\s*)?(?:등록|작성|게시|수정|발행|입력)\s*(?:일\s*시|일\s*자|일|시간)?|날\s*짜|일\s*자|일\s*시"
    r"|date|posted(?:\s+on)?|published(?:\s+on)?|updated(?:\s+on)?|modified|time)\s*[:：]?\s*"
)
_TAIL: Final = r"\s*(?:[|｜·ㆍ•ㅣ,;].*)?$"
_BARE_MD: Final = re.compile(
    rf"^\s*(?:{_LABEL})?(?P<m>\d{{1,2}})(?P<sep>[-./])(?P<d>\d{{1,2}})(?P=sep)?(?![\d.])",
    re.IGNORECASE,
)
_BARE_TIME: Final = re.compile(rf"^\s*(?:{_LABEL})?(?=\S)", re.IGNORECASE)
_REST_OK: Final = re.compile(_TAIL, re.DOTALL)

# --- relative forms -------------------------------------------------------------------------

_KO_NUM: Final = {"한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5,
                  "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9, "열": 10}  # fmt: skip
_EN_NUM: Final = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                  "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
_KO_REL: Final = re.compile(
    r"(?P<n>\d+|한|두|세|네|다섯|여섯|일곱|여덟|아홉|열)\s*(?P<u>초|분|시간|일|주일|주|개월|달|년)\s*(?:전|前)"
)
_EN_REL: Final = re.compile(
    r"(?<![a-z])(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s*"
    r"(?P<u>sec(?:ond)?s?|min(?:ute)?s?|hours?|hrs?|days?|weeks?|months?|years?)\s+ago(?![a-z])",
    re.IGNORECASE,
)
# Day words: offset in days. Ordered so that longer words win ("엊그제" before "그제").
_DAY_WORDS: Final = re.compile(
    r"엊그제|그저께|그제|어제|오늘|이틀\s*전|사흘\s*전|일주일\s*전|한\s*주\s*전"
    r"|(?<![a-z])(?:yesterday|today|the\s+day\s+before\s+yesterday)(?![a-z])",
    re.IGNORECASE,
)
_DAY_WORD_OFFSET: Final = {
    "엊그제": 2, "그저께": 2, "그제": 2, "어제": 1, "오늘": 0, "이틀전": 2, "사흘전": 3,
    "일주일전": 7, "한주전": 7, "yesterday": 1, "today": 0, "thedaybeforeyesterday": 2,
}  # fmt: skip
_DAY_WORD_HINT: Final = re.compile("[제께늘전]")
# "Just now": the crawl's own minute.
_NOW_WORDS: Final = re.compile(
    r"방금|조금\s*전|(?<![a-z])(?:just\s+now|moments?\s+ago|a\s+moment\s+ago)(?![a-z])", re.IGNORECASE
)

# --- fallback guards ------------------------------------------------------------------------

_FALLBACK_WORTHY: Final = re.compile(
    r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|yesterday|today|tomorrow|ago|"
    r"[년월일]|전|어제|오늘",
    re.IGNORECASE,
)
_HAS_TIME: Final = re.compile(
    r"\d\s*:\s*\d|\d\s*시(?!간\s*전)|오전|오후|(?<![a-z])[ap]\.?m\.?(?![a-z])|noon|midnight"
    r"|시간|분|초|(?<![a-z])(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)(?![a-z])",
    re.IGNORECASE,
)
_LEADING_LABEL: Final = re.compile(rf"^\s*{_LABEL}", re.IGNORECASE)
_MAX_FALLBACK_LEN: Final = 80


def _seoul_now(now: datetime) -> datetime:
    global _last_now
    given, seoul = _last_now  # one (given, converted) pair, read and replaced whole: thread-safe
    if given is now:  # a crawl parses every date against the same logical time
        return seoul
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        seoul = now.replace(tzinfo=SEOUL)
    else:
        seoul = now.astimezone(SEOUL)
    _last_now = (now, seoul)
    return seoul


_last_now: tuple[datetime | None, datetime] = (None, datetime(1970, 1, 1, tzinfo=UTC))


def _not_future(value: date | datetime, now: datetime) -> date | datetime | None:
    if isinstance(value, datetime):
        return value if value <= now else None
    return value if value <= now.date() else None


_Time = tuple[int, int, int, str | None]


def _time_after(text: str, pos: int) -> _Time | bool | None:
    """Time of day right after `pos`: (h, m, s, zone), None when absent, False when invalid."""
    if text.find(":", pos) < 0 and text.find("시", pos) < 0:
        return None  # cheap exit: most board dates carry no time
    m = _TIME_RE.match(text, pos)
    if m is None:
        return None
    h_, mi_, s_, kh, kmi, ks, ap1, ap2, tz = m.group("h", "mi", "s", "kh", "kmi", "ks", "ap1", "ap2", "tz")
    if h_ is not None:
        h, mi, s = int(h_), int(mi_), int(s_ or 0)
    else:
        h, mi, s = int(kh), int(kmi or 0), int(ks or 0)
    ap = ap1 or ap2
    if ap:
        ap = ap.lower().replace(".", "")
        # 12-hour clock: 오후/PM 1–11 → 13–23, 오전/AM 12 → 0; "오후 14:22" is already 24-hour.
        if ap in ("오후", "pm") and 1 <= h < 12:
            h += 12
        elif ap in ("오전", "am") and h == 12:
            h = 0
    if h > 23 or mi > 59 or s > 59:
        return False
    return h, mi, s, tz


def _at(day: date, t: _Time | bool | None, now: datetime) -> date | datetime | None:
    """`day` alone (t None), or at time `t`, in Seoul; None when invalid or in the future."""
    if t is None:
        return day if day <= now.date() else None
    if t is False or t is True:
        return None
    h, mi, s, tz = t
    if tz is None or tz.lower() == "kst":
        value = datetime(day.year, day.month, day.day, h, mi, s, tzinfo=SEOUL)
    else:
        if tz.lower() in ("z", "utc", "gmt"):
            zone = UTC
        else:
            digits = tz.replace(":", "")
            sign = -1 if digits[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5])))
        value = datetime(day.year, day.month, day.day, h, mi, s, tzinfo=zone).astimezone(SEOUL)
    return value if value <= now else None


def _combine(day: date, text: str, pos: int, now: datetime) -> date | datetime | None:
    """`day` alone, or with the time of day that follows it in `text`."""
    return _at(day, _time_after(text, pos), now)


def _latest_not_after(month: int, day: int, today: date) -> date | None:
    """The latest `month`/`day` not after `today` (02-29 looks back to the last leap year)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    for year in range(today.year, today.year - 9, -1):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d <= today:
            return d
    return None


def _minus_months(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    for dd in (day.day, 30, 29, 28):  # clamp 31 March minus a month to 28/29 February
        try:
            return date(y, m, dd)
        except ValueError:
            continue
    raise ValueError("unreachable")


def _relative(text: str, now: datetime, latin: bool) -> date | datetime | bool | None:
    """Relative forms; False when none is present."""
    today = now.date()
    m = _KO_REL.search(text) if ("전" in text or "前" in text) else None
    if m is None and latin:
        m = _EN_REL.search(text)
    if m is not None:
        raw = m["n"]
        n = int(raw) if raw.isdigit() else _KO_NUM.get(raw) or _EN_NUM[raw.lower()]
        unit = m["u"].lower()
        if unit in ("초",) or unit.startswith("sec"):
            return (now - timedelta(seconds=n)).replace(microsecond=0)
        if unit == "분" or unit.startswith("min"):
            return (now - timedelta(minutes=n)).replace(second=0, microsecond=0)
        if unit == "시간" or unit.startswith("h"):
            return (now - timedelta(hours=n)).replace(second=0, microsecond=0)
        if unit == "일" or unit.startswith("day"):
            return today - timedelta(days=n)
        if unit in ("주", "주일") or unit.startswith("week"):
            return today - timedelta(weeks=n)
        if unit in ("개월", "달") or unit.startswith("month"):
            return _minus_months(today, n)
        return _minus_months(today, 12 * n)  # 년 / years
    m = _DAY_WORDS.search(text) if (latin or _DAY_WORD_HINT.search(text)) else None
    if m is not None:
        key = re.sub(r"\s+", "", m[0]).lower()
        day = today - timedelta(days=_DAY_WORD_OFFSET[key])
        result = _combine(day, text, m.end(), now)  # "어제 14:22" carries a real time
        return result
    if (latin or "방금" in text or "전" in text) and _NOW_WORDS.search(text):
        return now.replace(second=0, microsecond=0)
    return False


def _fast(text: str, now: datetime) -> date | datetime | bool | None:
    """The regular-expression fast path; False means "no form recognised".

    Pattern families are gated on cheap tests (a digit, a Latin letter, a marker character) so
    that a common date costs a handful of regex calls.
    """
    today = now.date()
    m = _ISO_DAY.fullmatch(text)
    if m is not None:  # `2017-01-11` alone, the commonest board date: what _YMD4 and _combine would give
        y = int(m[1])
        day = date(y, int(m[2]), int(m[3]))
        return day if y >= 1900 and day <= today else None
    digit = _DIGIT.search(text) is not None
    latin = _LATIN.search(text) is not None

    if digit:
        m = _YMD4.search(text)
        if m is not None:
            y, mo, d = map(int, m.group("y", "m", "d"))
            if y < 1900:
                return None
            return _combine(date(y, mo, d), text, m.end(), now)

        if latin:
            m = _EN_DMY.search(text) or _EN_MDY.search(text)
            if m is not None:
                day = date(int(m["y"]), _MONTHS[m["mon"][:3].lower()], int(m["d"]))
                return _combine(day, text, m.end(), now)

        m = _YMD2.search(text)
        if m is not None:
            yy, mo, dd = (m["y"], m["m"], m["d"]) if m["y"] is not None else (m["ky"], m["km"], m["kd"])
            # Century pivot: years up to now's two-digit year are 20xx, later ones 19xx.
            y = (today.year // 100) * 100 + int(yy)
            if y > today.year:
                y -= 100
            return _combine(date(y, int(mo), int(dd)), text, m.end(), now)

        m = _COMPACT.search(text)
        if m is not None:
            return _combine(date(int(m["y"]), int(m["m"]), int(m["d"])), text, m.end(), now)

        if _YEAR_MONTH_ONLY.match(text):
            return None

        if "월" in text:
            m = _KO_MD.search(text)
            if m is not None:
                day = _latest_not_after(int(m["m"]), int(m["d"]), today)
                return None if day is None else _combine(day, text, m.end(), now)

    if latin or not text.isascii():
        rel = _relative(text, now, latin)
        if rel is not False:
            return rel

    if not digit:
        return False

    if latin:
        m = _EN_MD.search(text)
        if m is not None:
            mon, d = (m["mon"], m["d"]) if m["mon"] is not None else (m["mon2"], m["d2"])
            day = _latest_not_after(_MONTHS[mon[:3].lower()], int(d), today)
            return None if day is None else _combine(day, text, m.end(), now)

    m = _BARE_MD.match(text)
    if m is not None:
        t = _TIME_RE.match(text, m.end())
        end = t.end() if t is not None else m.end()
        if _REST_OK.match(text, end):
            day = _latest_not_after(int(m["m"]), int(m["d"]), today)
            return None if day is None else _combine(day, text, m.end(), now)

    m = _BARE_TIME.match(text)
    if m is not None:
        t = _TIME_RE.match(text, m.end())
        if t is not None and _REST_OK.match(text, t.end()):
            hms = _time_after(text, m.end())
            value = _at(today, hms, now)
            if value is None and hms:
                value = _at(today - timedelta(days=1), hms, now)  # today's is to come: yesterday
            return value
    return False


def _fallback(text: str, now: datetime) -> date | datetime | None:
    """dateparser, on the label-stripped value, for forms the fast path does not know."""
    text = _LEADING_LABEL.sub("", text, count=1)
    text = re.split(r"[|｜ㅣ]", text, maxsplit=1)[0].strip()
    if not text or len(text) > _MAX_FALLBACK_LEN or not _FALLBACK_WORTHY.search(text):
        return None
    import dateparser  # imported lazily: ~0.3 s of start-up the fast path never needs

    settings = {
        "DATE_ORDER": "YMD",
        "PREFER_DATES_FROM": "past",
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "TIMEZONE": "Asia/Seoul",
        "TO_TIMEZONE": "Asia/Seoul",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = dateparser.parse(text, languages=["ko", "en"], settings=settings)
    except Exception:  # dateparser is not total on arbitrary text; this function must be
        return None
    if found is None:
        return None
    if _HAS_TIME.search(text):
        return _not_future(found.replace(tzinfo=SEOUL), now)
    # Without a time of day in the input, dateparser's clock time is invented: keep the date.
    return _not_future(found.date(), now)


def parse_date(text: str | None, *, now: datetime) -> date | datetime | None:
    """Read a board date: a `date`, a Seoul-aware `datetime` when a time of day is given, or None.

    `now` is the crawl time (naive means Asia/Seoul). Years missing from `01-11`, `1월 11일`
    are the latest such date not after now; a bare `14:22` is today, or yesterday if today's
    14:22 is still to come. Relative days (`3일 전`, `어제`) give dates, relative hours and
    minutes give datetimes truncated to the minute; `방금`/`조금 전` give now to the minute.
    Never returns a value after `now`; never raises.
    """
    if not text:
        return None
    try:
        now_s = _seoul_now(now)
        if not text.isascii():
            if _ZW.search(text):
                text = _ZW.sub("", text)
            if not unicodedata.is_normalized("NFC", text):
                text = unicodedata.normalize("NFC", text)  # NFD "년" would not match the patterns
        result = _fast(text, now_s)
        if result is not False:
            return result  # type: ignore[return-value]
        return _fallback(text, now_s)
    except (ValueError, OverflowError):  # an impossible date (2017-02-30) or an edge of time
        return None
