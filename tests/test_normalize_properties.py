"""Property tests for crawler.normalize: totality and the invariants the crawler relies on."""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.normalize import (
    TitleParts,
    clean_text,
    decode_page,
    detect_lang,
    field_of_label,
    fix_mojibake,
    parse_count,
    parse_date,
    partner_name,
    reconcile_title,
    search_key,
    split_labelled,
    split_title,
)
from crawler.normalize.lang import letter_counts
from crawler.normalize.text import ZERO_WIDTH, hangul_syllable_count

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=SEOUL)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# parse_date may fall back to dateparser (~1 ms a call) on arbitrary text.
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text biased towards what boards contain: Hangul (precomposed and jamo), compatibility
# ideographs, zero-width and exotic spaces, line breaks, plus anything at all.
BOARD_CHARS = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),
    st.characters(min_codepoint=0x3131, max_codepoint=0x318E),
    st.characters(min_codepoint=0xF900, max_codepoint=0xFAFF),
    st.sampled_from(list(ZERO_WIDTH + "\u00a0\u3000\u2029\n\r\t ·|:：[]…")),
    st.characters(),
)
BOARD_TEXT = st.one_of(st.text(), st.text(BOARD_CHARS))


def _strip_zw(s: str) -> str:
    return s.translate(dict.fromkeys(map(ord, ZERO_WIDTH)))


@FAST
@given(BOARD_TEXT, st.booleans())
def test_clean_text_idempotent_and_keeps_hangul(s: str, keep: bool) -> None:
    out = clean_text(s, keep_paragraphs=keep)
    assert clean_text(out, keep_paragraphs=keep) == out
    assert out == out.strip()
    # Zero-width characters are removed before NFC, so jamo they separated compose: count
    # against NFC of the input without them; and never fewer than NFC of the raw input.
    assert hangul_syllable_count(out) == hangul_syllable_count(unicodedata.normalize("NFC", _strip_zw(s)))
    assert hangul_syllable_count(out) >= hangul_syllable_count(unicodedata.normalize("NFC", s))
    assert not any(ch in out for ch in ZERO_WIDTH)
    if not keep:
        assert "\n" not in out and "  " not in out


def test_clean_text_folds_every_unicode_whitespace() -> None:
    # Every character str.isspace() knows (what str.split() and str regexes' \s both use) separates
    # words; the line breaks among them split paragraphs only when a blank line follows.
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert {"\u00a0", "\u3000", "\u2028", "\x1c", "\x85"} <= set(spaces)
    assert all(re.fullmatch(r"\s", ch) for ch in spaces)
    for ch in spaces:
        assert clean_text(f"{ch}a{ch}{ch}b{ch}") == "a b", repr(ch)
        # two line boundaries in a row are a blank line: a paragraph break
        breaks = len(f"a{ch}b".splitlines()) == 2
        expected = "a\n\nb" if breaks else "a b"
        assert clean_text(f"a{ch}{ch}b{ch}", keep_paragraphs=True) == expected, repr(ch)
    assert clean_text("a\u3000\u00a0b\n \n c\u2003d", keep_paragraphs=True) == "a b\n\nc d"


@FAST
@given(st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3) | st.sampled_from(" \u00a0")))
def test_clean_text_keeps_every_syllable_of_plain_hangul(s: str) -> None:
    assert hangul_syllable_count(clean_text(s)) == hangul_syllable_count(s)


@FAST
@given(BOARD_TEXT)
def test_search_key_total_and_clean(s: str) -> None:
    key = search_key(s)
    assert isinstance(key, str)
    assert clean_text(key) == key


@FAST
@given(st.text(st.characters(min_codepoint=0x3131, max_codepoint=0x318E) | st.just(" ")))
def test_search_key_leaves_compat_jamo_alone(s: str) -> None:
    assert search_key(s) == clean_text(s)


# --- parse_date ------------------------------------------------------------------------------

NOWS = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(
        st.none(),
        st.sampled_from([SEOUL, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]),
    ),
)


def _now_seoul(now: datetime) -> datetime:
    return now.replace(tzinfo=SEOUL) if now.tzinfo is None else now.astimezone(SEOUL)


def _assert_not_future(value: date | datetime | None, now: datetime) -> None:
    assert value is None or isinstance(value, date)
    now_s = _now_seoul(now)
    if isinstance(value, datetime):
        assert value.tzinfo is not None
        assert value <= now_s
    elif value is not None:
        assert value <= now_s.date()


LABELS = st.sampled_from(["", "등록일 ", "등록일 : ", "작성일: ", "Date ", "Posted on ", "날짜 ", "일시 "])
TAILS = st.sampled_from(["", " | 조회 123", " 11 READS", " (수)", "  ", " ㅣ 조회수 3"])
YEARS = st.integers(1890, 2110)
MONTHS = st.integers(0, 14)
DAYS = st.integers(0, 33)
HOURS = st.integers(0, 26)
MINUTES = st.integers(0, 61)
SMALL = st.integers(0, 400)


@st.composite
def date_like(draw: st.DrawFn) -> str:
    y, mo, d, h, mi, n = (draw(s) for s in (YEARS, MONTHS, DAYS, HOURS, MINUTES, SMALL))
    month_name = draw(st.sampled_from(["January", "Feb", "Mar.", "sept", "December", "May"]))
    core = draw(
        st.sampled_from(
            [
                f"{y:04d}-{mo:02d}-{d:02d}",
                f"{y}. {mo}. {d}.",
                f"{y}/{mo:02d}/{d:02d}",
                f"{y:04d}{mo:02d}{d:02d}",
                f"{y % 100:02d}.{mo:02d}.{d:02d}",
                f"{y % 100:02d}-{mo:02d}-{d:02d}",
                f"{y}년 {mo}월 {d}일 (수)",
                f"{mo:02d}-{d:02d}",
                f"{mo:02d}.{d:02d}",
                f"{mo}월 {d}일",
                f"{h:02d}:{mi:02d}",
                f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}",
                f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{mi:02d}",
                f"{y}.{mo:02d}.{d:02d} 오후 {h}:{mi:02d}",
                f"{y}.{mo:02d}.{d:02d} 오전 {h}:{mi:02d}",
                f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00Z",
                f"{n}일 전",
                f"{n}시간 전",
                f"{n}분 전",
                f"{n}개월 전",
                f"{n}년 전",
                f"{n} days ago",
                f"{n} hours ago",
                "어제",
                "그제",
                "그저께",
                "방금",
                "조금 전",
                "일주일 전",
                "yesterday",
                f"어제 {h:02d}:{mi:02d}",
                f"오늘 {h:02d}:{mi:02d}",
                f"{d}th {month_name} {y}",
                f"{month_name} {d}th, {y}",
                f"{month_name} {d}",
                f"{d} {month_name}",
            ]
        )
    )
    return draw(LABELS) + core + draw(TAILS)


@SLOW
@given(date_like(), NOWS)
def test_parse_date_never_in_the_future_templates(text: str, now: datetime) -> None:
    _assert_not_future(parse_date(text, now=now), now)


@SLOW
@given(st.text(), NOWS)
def test_parse_date_total_and_never_in_the_future_any_text(text: str, now: datetime) -> None:
    _assert_not_future(parse_date(text, now=now), now)


@SLOW
@given(st.text(BOARD_CHARS | st.sampled_from(list("0123456789-./:년월일시분전 "))))
def test_parse_date_total_on_board_like_text(text: str) -> None:
    _assert_not_future(parse_date(text, now=NOW), NOW)


@FAST
@given(date_like())
def test_parse_date_datetimes_are_seoul(text: str) -> None:
    value = parse_date(text, now=NOW)
    if isinstance(value, datetime):
        assert value.tzinfo == SEOUL


# --- other functions -------------------------------------------------------------------------


@FAST
@given(BOARD_TEXT | st.from_regex(r"(조회수? ?:? ?)?[0-9,.]{1,12} ?(k|M|만|천|회|READS)?", fullmatch=True))
def test_parse_count_none_or_non_negative_int(s: str) -> None:
    value = parse_count(s)
    assert value is None or (type(value) is int and value >= 0)


PARTNER_PIECES = st.sampled_from(
    ["로", "고", "로고", " ", "\u200b", "\u1105", "\u1169", "의", " logo", " 이미지", "KOICA", "\u00a0", "CI"]
)


@FAST
@given(BOARD_TEXT | st.lists(PARTNER_PIECES, max_size=12).map("".join))
def test_partner_name_never_contains_logo(s: str) -> None:
    name = partner_name(s)
    assert "로고" not in name
    assert clean_text(name) == name


@FAST
@given(BOARD_TEXT, BOARD_TEXT)
def test_titles_labels_lang_total(a: str, b: str) -> None:
    parts = split_title(a)
    assert isinstance(parts, TitleParts)
    assert clean_text(parts.title) == parts.title
    assert parts.category is None or isinstance(parts.category, str)
    assert isinstance(reconcile_title(a, b), bool)
    assert detect_lang(a) in (None, "ko", "en", "mixed")
    assert field_of_label(a) in (
        None,
        "published",
        "author",
        "reads",
        "title",
        "number",
        "attachments",
        "category",
    )
    fields = split_labelled(a)
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in fields.items())


@FAST
@given(BOARD_TEXT)
def test_fix_mojibake_total_and_never_touches_hangul_text(s: str) -> None:
    out = fix_mojibake(s)
    assert isinstance(out, str)
    if any("\uac00" <= ch <= "\ud7a3" for ch in s):
        assert out == s


@FAST
@given(st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=2, max_size=30))
def test_fix_mojibake_repairs_latin1_reading_of_cp949(korean: str) -> None:
    assert fix_mojibake(korean.encode("cp949").decode("latin-1")) == korean


@FAST
@given(
    st.binary(max_size=300),
    st.one_of(
        st.none(),
        st.text(max_size=12),
        st.sampled_from(
            [
                "utf-8",
                "euc-kr",
                "cp949",
                "iso-8859-1",
                "latin-1",
                "windows-1252",
                "ascii",
                "utf-16",
                "x-windows-949",
            ]
        ),
    ),
)
def test_decode_page_total(body: bytes, declared: str | None) -> None:
    text, codec = decode_page(body, declared)
    assert isinstance(text, str) and isinstance(codec, str) and codec


@FAST
@given(
    st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3) | st.sampled_from(" .,"), max_size=200),
    st.sampled_from([None, "euc-kr", "iso-8859-1", "utf-8", "windows-1252", "ks_c_5601-1987"]),
    st.booleans(),
)
def test_decode_page_reads_cp949_pages_whatever_the_header(
    korean: str, declared: str | None, meta: bool
) -> None:
    head = '<meta charset="euc-kr">' if meta else ""
    html = f"<html><head>{head}<title>공유도시 서울</title></head><body><p>{korean}</p></body></html>"
    assert decode_page(html.encode("cp949"), declared) == (html, "cp949")


# -- fast paths give what the general rules give --------------------------------------------------------
# Each fast path serves the commonest board form (ASCII text, `2017-01-11`, `11 READS`); the same value
# written in a form that takes the general path must read the same.


@FAST
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_clean_text_ascii_fast_path_agrees(s: str) -> None:
    assert clean_text(s) == clean_text(s + "\u200b") == clean_text("\u200b" + s)


@FAST
@given(st.integers(1800, 2100), st.integers(0, 13), st.integers(0, 32), st.sampled_from(["", " ", "\t"]))
def test_parse_date_iso_fast_path_agrees(y: int, m: int, d: int, pad: str) -> None:
    iso = f"{pad}{y:04d}-{m:02d}-{d:02d}{pad}"
    dotted = f"{pad}{y:04d}.{m:02d}.{d:02d}{pad}"  # the same day through the general year-month-day rule
    got = parse_date(iso, now=NOW)
    assert got == parse_date(dotted, now=NOW)
    if y >= 1900 and 1 <= m <= 12 and 1 <= d <= 28 and date(y, m, d) <= NOW.date():
        assert got == date(y, m, d)


@FAST
@given(
    st.integers(0, 10**8),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(["", "READS", "reads", "Hits", "view", "views", "times", "회", "k", "x"]),
)
def test_parse_count_plain_fast_path_agrees(n: int, space: str, unit: str) -> None:
    text = f"{n}{space}{unit}"
    general = text.replace(" ", "\u3000") + "\u3000"  # not ASCII: the full rules, after NFKC
    assert parse_count(text) == parse_count(general)
    if n < 10**7 and unit in ("", "READS", "reads", "Hits", "view", "views", "times"):
        assert parse_count(text) == n


@FAST
@given(st.one_of(st.text(alphabet=st.sampled_from(list("ab 가.…⋯\u3000\t")), max_size=12), BOARD_TEXT))
def test_truncation_marker_found_as_the_pattern_finds_it(s: str) -> None:
    from crawler.normalize.titles import _TRUNCATED, truncation_start

    s = clean_text(s)  # split_title looks for the marker in cleaned text
    m = _TRUNCATED.search(s)
    assert truncation_start(s) == (None if m is None else m.start())


# The letters detect_lang counts, as its docstring and the Unicode blocks define them.
HANGUL_LETTERS = [(0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3131, 0x318E), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)]
LATIN_LETTERS = [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F), (0x1E00, 0x1EFF)]


def _reference_counts(s: str) -> tuple[int, int]:
    def count(ranges: list[tuple[int, int]]) -> int:
        return sum(1 for ch in s if any(lo <= ord(ch) <= hi for lo, hi in ranges))

    return count(HANGUL_LETTERS), count(LATIN_LETTERS)


def test_letter_counts_of_every_code_point() -> None:
    # All of Unicode, surrogates and non-BMP included, counted by the table (a long text) and, in
    # short pieces, by the regular expressions: both give the size of the ranges.
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    expected = (sum(hi - lo + 1 for lo, hi in HANGUL_LETTERS), sum(hi - lo + 1 for lo, hi in LATIN_LETTERS))
    assert expected == (11634, 706)
    assert letter_counts(every) == expected
    pieces = [letter_counts(every[i : i + 150]) for i in range(0, len(every), 150)]
    assert (sum(h for h, _ in pieces), sum(latin for _, latin in pieces)) == expected


def test_letter_counts_class_each_bmp_code_point() -> None:
    # One character at a time, alone (the regular expressions) and repeated past the table's threshold
    # (the table), lone surrogates included: a misplaced entry cannot hide behind a right total.
    for code in range(0x10000):
        hangul, latin = _reference_counts(chr(code))
        assert letter_counts(chr(code)) == (hangul, latin), hex(code)
        assert letter_counts(chr(code) * 256) == (256 * hangul, 256 * latin), hex(code)


@FAST
@given(BOARD_TEXT, st.integers(min_value=1, max_value=40))
def test_letter_counts_match_the_reference_at_any_length(s: str, times: int) -> None:
    hangul, latin = _reference_counts(s)
    assert letter_counts(s) == (hangul, latin)
    assert letter_counts(s * times) == (hangul * times, latin * times)
