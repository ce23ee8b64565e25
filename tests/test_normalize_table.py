"""Table-driven tests for crawler.normalize: every case states its exact expected value."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from crawler.normalize import (
    TitleParts,
    clean_text,
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

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=SEOUL)


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)


# The seed page (the text of a real page of the site, as captured), verbatim.
SEED_TITLES = [
    "[News_Seoul's ODA] Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri..",
    "[US_Cities Today] Global Covenant of Mayors leadership team announced",
    "[News_Policy Sharing] Seoul Opens an Online Platform to Tackle Urban Challenges ..",
    "[News_ Seoul's Policy Sharing] Seoul Exports Downtown Market Analysis Service to..",
]
SEED_META = "등록일 2017-01-11 글쓴이 ssunha 조회수 11 READS"


# --- clean_text ------------------------------------------------------------------------------

CLEAN_CASES = [
    (None, ""),
    ("", ""),
    ("  Seoul   Policy \t Sharing \n", "Seoul Policy Sharing"),
    ("서울\u00a0정책", "서울 정책"),  # NBSP
    ("서울\u3000정책", "서울 정책"),  # ideographic space
    ("게\u200b시\u200c판\u200d\u2060\ufeff", "게시판"),  # zero-width characters
    ("soft\u00adhyphen", "softhyphen"),
    (unicodedata.normalize("NFD", "공유도시 서울"), "공유도시 서울"),  # NFD from macOS
    ("①㈜™㎡ㅋㅋ", "①㈜™㎡ㅋㅋ"),  # never NFKC
    ("\uf900\uf901", "\uf900\uf901"),  # CJK compatibility ideographs kept
    ("e\u0301\uf900e\u0301", "é\uf900é"),  # NFC around them
    ("\u2003em\u2002space\u205f", "em space"),
    (SEED_META, SEED_META),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_CASES)
def test_clean_text(raw: str | None, expected: str) -> None:
    assert clean_text(raw) == expected


PARAGRAPH_CASES = [
    ("첫 줄\n둘째 줄\n\n\n  \n셋째\r\n문단", "첫 줄 둘째 줄\n\n셋째 문단"),
    ("one\u2029two", "one\n\ntwo"),
    ("\n\n  a  \n\u200b\nb\n\n", "a\n\nb"),
    ("a\u00a0\u00a0b\nc", "a b c"),
]


@pytest.mark.parametrize(("raw", "expected"), PARAGRAPH_CASES)
def test_clean_text_paragraphs(raw: str, expected: str) -> None:
    assert clean_text(raw, keep_paragraphs=True) == expected


SEARCH_KEY_CASES = [
    (None, ""),
    ("ＡＢＣ Straße", "abc strasse"),
    ("①㈜™", "1(주)tm"),
    ("ㅋㅋ ㄱㅏ", "ㅋㅋ ㄱㅏ"),  # compatibility jamo guarded
    ("  Seoul\u00a0ODA ", "seoul oda"),
    (unicodedata.normalize("NFD", "서울"), "서울"),
]


@pytest.mark.parametrize(("raw", "expected"), SEARCH_KEY_CASES)
def test_search_key(raw: str | None, expected: str) -> None:
    assert search_key(raw) == expected


# --- parse_date ------------------------------------------------------------------------------

DATE_CASES = [
    ("2017-01-11", date(2017, 1, 11)),
    ("2017.01.11", date(2017, 1, 11)),
    ("2017. 1. 11.", date(2017, 1, 11)),
    ("2017/01/11", date(2017, 1, 11)),
    ("20170111", date(2017, 1, 11)),
    ("17.01.11", date(2017, 1, 11)),
    ("17-01-11", date(2017, 1, 11)),
    ("99.01.11", date(1999, 1, 11)),
    ("2017년 1월 11일 (수)", date(2017, 1, 11)),
    ("01-11", date(2026, 1, 11)),
    ("01.11", date(2026, 1, 11)),
    ("1월 11일", date(2026, 1, 11)),
    ("12월 25일", date(2025, 12, 25)),  # latest not after now
    ("02-29", date(2024, 2, 29)),
    ("14:22", kst(2026, 11, 25, 14, 22)),
    ("15:30", kst(2026, 11, 24, 15, 30)),  # later than now today → yesterday
    ("2017-01-11 14:22", kst(2017, 1, 11, 14, 22)),
    ("2017-01-11 14:22:05", kst(2017, 1, 11, 14, 22, 5)),
    ("2017.01.11 오후 2:22", kst(2017, 1, 11, 14, 22)),
    ("2017.01.11 오전 12:05", kst(2017, 1, 11, 0, 5)),
    ("2017-01-11T05:22:05Z", kst(2017, 1, 11, 14, 22, 5)),
    ("2017년 1월 11일 14시 22분", kst(2017, 1, 11, 14, 22)),
    ("3일 전", date(2026, 11, 22)),
    ("2시간 전", kst(2026, 11, 25, 13, 0)),
    ("5분 전", kst(2026, 11, 25, 14, 55)),
    ("어제", date(2026, 11, 24)),
    ("어제 14:22", kst(2026, 11, 24, 14, 22)),
    ("그제", date(2026, 11, 23)),
    ("그저께", date(2026, 11, 23)),
    ("방금", kst(2026, 11, 25, 15, 0)),
    ("조금 전", kst(2026, 11, 25, 15, 0)),
    ("일주일 전", date(2026, 11, 18)),
    ("1개월 전", date(2026, 10, 25)),
    ("5th January 2017", date(2017, 1, 5)),
    ("January 9th, 2017", date(2017, 1, 9)),
    ("Jan 9, 2017", date(2017, 1, 9)),
    ("3 days ago", date(2026, 11, 22)),
    ("an hour ago", kst(2026, 11, 25, 14, 0)),
    ("yesterday", date(2026, 11, 24)),
    ("등록일 : 2017.01.11", date(2017, 1, 11)),
    ("등록일 2017-01-11", date(2017, 1, 11)),
    ("Date 2017-01-11", date(2017, 1, 11)),
    ("작성일: 2017.01.11 14:22", kst(2017, 1, 11, 14, 22)),
    ("Posted on January 9th, 2017", date(2017, 1, 9)),
    ("2017-01-11 | 조회 123", date(2017, 1, 11)),
    (SEED_META, date(2017, 1, 11)),
    (
        "Global Covenant of Mayors leadership team announced 5th January 2017 Jonathan Andrews",
        date(2017, 1, 5),
    ),
    ("2017-02-30", None),  # invalid
    ("2026-11-26", None),  # future
    ("오늘 16:00", None),  # future time today
    ("26.12.01", None),  # future, not 1926
    ("2017년 1월", None),  # no day
    ("abc", None),
    ("", None),
    (None, None),
    ("조회 123", None),
]


@pytest.mark.parametrize(("text", "expected"), DATE_CASES)
def test_parse_date(text: str | None, expected: date | datetime | None) -> None:
    got = parse_date(text, now=NOW)
    assert got == expected
    assert type(got) is type(expected)  # a date is not a datetime and vice versa
    if isinstance(got, datetime):
        assert got.tzinfo == SEOUL


def test_parse_date_naive_now_is_seoul() -> None:
    assert parse_date("14:22", now=datetime(2026, 11, 25, 15, 0)) == kst(2026, 11, 25, 14, 22)


def test_parse_date_utc_now_is_converted() -> None:
    # 06:00 UTC is 15:00 in Seoul: 14:22 is today, 15:30 still yesterday.
    now_utc = datetime(2026, 11, 25, 6, 0, tzinfo=ZoneInfo("UTC"))
    assert parse_date("15:30", now=now_utc) == kst(2026, 11, 24, 15, 30)


# --- parse_count -----------------------------------------------------------------------------

COUNT_CASES = [
    ("1,234", 1234),
    ("11 READS", 11),
    ("11 reads", 11),
    ("조회 11", 11),
    ("조회수 : 1,234", 1234),
    ("조회수 1,234회", 1234),
    ("Hits 12", 12),
    ("Views: 3", 3),
    ("1.2k", 1200),
    ("1.2K", 1200),
    ("3M", 3_000_000),
    ("1.2만", 12000),
    ("3천", 3000),
    ("12 회", 12),
    ("０１２", 12),
    ("", None),
    ("abc", None),
    ("-", None),
    (None, None),
    ("2017-01-11", None),
    ("20170111", None),
    ("20171399", 20171399),  # not a valid date: a (large) count
    ("조회기간 3", None),
    ("1.5", None),
]


@pytest.mark.parametrize(("text", "expected"), COUNT_CASES)
def test_parse_count(text: str | None, expected: int | None) -> None:
    assert parse_count(text) == expected


# --- labels ----------------------------------------------------------------------------------

LABEL_CASES = [
    ("등록일", "published"),
    ("작성일 :", "published"),
    ("게시일", "published"),
    ("날짜", "published"),
    ("일자", "published"),
    ("Date", "published"),
    ("Posted", "published"),
    ("Published：", "published"),
    ("글쓴이", "author"),
    ("글쓴 이", "author"),
    ("작성자", "author"),
    ("등록자", "author"),
    ("WRITER", "author"),
    ("Author:", "author"),
    ("By", "author"),
    ("Name", "author"),
    ("조회수", "reads"),
    ("조회", "reads"),
    ("조회 수", "reads"),
    ("Hits", "reads"),
    ("Views", "reads"),
    ("Reads", "reads"),
    ("READS", "reads"),
    ("제목", "title"),
    ("Title", "title"),
    ("Subject", "title"),
    ("번호", "number"),
    ("No", "number"),
    ("No.", "number"),
    ("첨부", "attachments"),
    ("첨부파일", "attachments"),
    ("Attachment", "attachments"),
    ("Attachments", "attachments"),
    ("File", "attachments"),
    ("분류", "category"),
    ("카테고리", "category"),
    ("Category", "category"),
    ("조회기간", None),
    ("수정일", None),
    ("마감일", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("label", "expected"), LABEL_CASES)
def test_field_of_label(label: str | None, expected: str | None) -> None:
    assert field_of_label(label) == expected


SPLIT_CASES = [
    ("Date 2017-01-11 Writer ssunha", {"published": "2017-01-11", "author": "ssunha"}),
    (SEED_META, {"published": "2017-01-11", "author": "ssunha", "reads": "11 READS"}),
    (
        "작성자 : 홍길동 | 작성일 : 2017.01.11 | 조회 : 1,234",
        {"author": "홍길동", "published": "2017.01.11", "reads": "1,234"},
    ),
    ("조회기간 2017-01-01 조회 3", {"reads": "3"}),  # 조회기간 is not 조회
    ("등록일 2017-01-11 등록일 2018-01-01", {"published": "2017-01-11"}),  # first wins
    ("글쓴 이 : 김철수 · 조회 수 5", {"author": "김철수", "reads": "5"}),
    ("Hits 12", {"reads": "12"}),
    ("no labels here", {}),
    ("Supported by Seoul", {}),
    ("No. 12 Title Seoul Opens By ssunha", {"number": "12", "title": "Seoul Opens", "author": "ssunha"}),
    (None, {}),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_split_labelled(text: str | None, expected: dict[str, str]) -> None:
    assert split_labelled(text) == expected


# --- titles ----------------------------------------------------------------------------------

TITLE_CASES = [
    (
        SEED_TITLES[0],
        TitleParts("News_Seoul's ODA", "Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri", True),
    ),
    (
        SEED_TITLES[1],
        TitleParts("US_Cities Today", "Global Covenant of Mayors leadership team announced", False),
    ),
    (
        SEED_TITLES[2],
        TitleParts("News_Policy Sharing", "Seoul Opens an Online Platform to Tackle Urban Challenges", True),
    ),
    (
        SEED_TITLES[3],
        TitleParts("News_ Seoul's Policy Sharing", "Seoul Exports Downtown Market Analysis Service to", True),
    ),
    ("Wait… what happened", TitleParts(None, "Wait… what happened", False)),
    ("【보도】 서울시 정책…", TitleParts("보도", "서울시 정책", True)),
    ("［공지］ 안내...", TitleParts("공지", "안내", True)),
    ("<기생충> 수상", TitleParts(None, "<기생충> 수상", False)),  # angle brackets are titles of works
    ("[공지]", TitleParts(None, "[공지]", False)),
    ("Plain\u00a0title ", TitleParts(None, "Plain title", False)),
    (None, TitleParts(None, "", False)),
]


@pytest.mark.parametrize(("text", "expected"), TITLE_CASES)
def test_split_title(text: str | None, expected: TitleParts) -> None:
    assert split_title(text) == expected


RECONCILE_CASES = [
    (
        SEED_TITLES[0],
        "Foreign Public Officials Learn Know-how of ‘Miracle of Han River’ through Seoul Internship Program",
        True,
    ),
    (SEED_TITLES[1], "Global Covenant of Mayors leadership team announced", True),
    (SEED_TITLES[2], "Seoul Opens an Online Platform to Tackle Urban Challenges with Other Cities", True),
    (SEED_TITLES[3], "Seoul Exports Downtown Market Analysis Service to Buenos Aires", True),
    (
        SEED_TITLES[3],
        "[News_ Seoul's Policy Sharing] Seoul Exports Downtown Market Analysis Service to Buenos Aires",
        True,
    ),
    (SEED_TITLES[2], "Seoul Opens an Online Platform to Tackle Urban Problems", False),
    ("Global Covenant", "Global Covenant of Mayors leadership team announced", False),  # not truncated
    ("서울시 정책 공유..", "서울시 정책공유 플랫폼 개설", True),  # whitespace differs at the cut
    (None, "anything", False),
]


@pytest.mark.parametrize(("shown", "full", "expected"), RECONCILE_CASES)
def test_reconcile_title(shown: str | None, full: str | None, expected: bool) -> None:
    assert reconcile_title(shown, full) is expected


# --- partners --------------------------------------------------------------------------------

PARTNER_CASES = [
    ("CITYNET 로고이미지", "CITYNET"),
    ("ICLEI 로고이미지", "ICLEI"),
    ("서울시청의 로고", "서울시청"),
    ("K-Developedia 로고 이미지", "K-Developedia"),
    ("KOICA logo", "KOICA"),
    ("ADB Logo image", "ADB"),
    ("KDI CI", "KDI"),
    ("해외건설협회 로고이미지", "해외건설협회"),
    ("World Cities Summit 로고이미지", "World Cities Summit"),
    ("UN SDG 온라인플랫폼", "UN SDG 온라인플랫폼"),
    ("서울시립대", "서울시립대"),
    ("metta", "metta"),
    (
        "MITI – Metropolis International Training Institute",
        "MITI – Metropolis International Training Institute",
    ),
    ("로고", ""),
    (None, ""),
]


@pytest.mark.parametrize(("alt", "expected"), PARTNER_CASES)
def test_partner_name(alt: str | None, expected: str) -> None:
    assert partner_name(alt) == expected


# --- detect_lang -----------------------------------------------------------------------------

LANG_CASES = [
    ("공유도시 서울 정책", "ko"),
    ("Seoul Opens an Online Platform", "en"),
    ("CITYNET 로고이미지", "mixed"),
    ("서울시 ODA 사업 안내 공지입니다", "ko"),  # 13 Hangul, 3 Latin: 81% Hangul
    ("a", None),
    ("2017-01-11 | 123", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), LANG_CASES)
def test_detect_lang(text: str | None, expected: str | None) -> None:
    assert detect_lang(text) == expected


# --- fix_mojibake ----------------------------------------------------------------------------

KOREAN_SAMPLES = ["서울시 국제협력과", "공유도시 서울", "등록일 글쓴이 조회수", "똠방각하 햏 뷁"]
MOJIBAKE_CASES = [
    *[(k.encode("cp949").decode("latin-1"), k) for k in KOREAN_SAMPLES],
    *[(k.encode("cp949").decode("cp1252"), k) for k in KOREAN_SAMPLES],
    ("Œc¹æ°¢ÇÏ Ád ”î", "똠방각하 햏 뷁"),  # the cp1252 variant, spelled out
    ("\x81A\x81Ž ¼\xad¿ï", "갂걥 서울"),  # "sloppy" cp1252: undefined 0x81 kept as U+0081
    ("INFORMAÇÃO", "INFORMAÇÃO"),
    ("Änderung", "Änderung"),
    ("Café Zürich", "Café Zürich"),
    ("Ørsted", "Ørsted"),
    ("naïve", "naïve"),
    ("São Paulo", "São Paulo"),
    ("서울 Café", "서울 Café"),  # already has Hangul
    ("plain ascii", "plain ascii"),
    (None, ""),
]


@pytest.mark.parametrize(("text", "expected"), MOJIBAKE_CASES)
def test_fix_mojibake(text: str | None, expected: str) -> None:
    assert fix_mojibake(text) == expected


# --- pathological input: these once backtracked for tens of seconds ---------------------------

PATHOLOGICAL_DATES = [
    ("2017-01-11" + " " * 5000 + "x:", date(2017, 1, 11)),
    ("2017-01-11" + "\t" * 5000 + "오후", date(2017, 1, 11)),
]


@pytest.mark.parametrize(("text", "expected"), PATHOLOGICAL_DATES)
def test_parse_date_long_whitespace_runs(text: str, expected: date) -> None:
    assert parse_date(text, now=NOW) == expected


def test_parse_count_and_partner_name_long_inputs() -> None:
    assert parse_count("조회" + " " * 5000 + "x") is None
    assert partner_name("로고 " * 5000) == ""
