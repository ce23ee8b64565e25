"""decode_page on the encodings Korean boards really serve, with honest and lying headers."""

from __future__ import annotations

import codecs

import pytest

from crawler.normalize import decode_page
from crawler.normalize.encoding import canonical_codec, meta_charset

# Includes syllables outside KS X 1001 (똠, 햏, 뷁) that only CP949 can encode.
KOREAN_BODY = (
    "<p>공유도시(Sharing City) 서울은? 시간, 공간, 재능, 물건, 정보 등 누구나 소유하고 있는 것을 "
    "함께 나누어 활용함으로써 쓰지 않고 놀리는 자원을 효율적으로 활용합니다. 똠방각하 햏 뷁</p>"
)


def page(meta: str = "", body: str = KOREAN_BODY, title: str = "공유도시 서울") -> str:
    return f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>{body}</body></html>"


META_EUCKR = '<meta charset="euc-kr">'
META_HTTP_EQUIV = '<meta http-equiv="Content-Type" content="text/html; charset=ks_c_5601-1987">'


@pytest.mark.parametrize(
    ("meta", "declared"),
    [
        (META_EUCKR, None),  # meta only
        (META_HTTP_EQUIV, None),  # http-equiv with the Microsoft label
        ("", None),  # no declaration at all
        (META_EUCKR, "iso-8859-1"),  # lying HTTP header, honest meta
        ("", "iso-8859-1"),  # lying HTTP header, no meta
        ("", "windows-1252"),
        (META_EUCKR, "utf-8"),  # lying UTF-8 header
        ("", "utf-8"),
        ('<meta charset="utf-8">', None),  # lying meta
        ("", "EUC-KR"),  # honest header
        ("", "x-windows-949"),  # label Python does not know
    ],
)
def test_cp949_page(meta: str, declared: str | None) -> None:
    html = page(meta)
    assert decode_page(html.encode("cp949"), declared) == (html, "cp949")


@pytest.mark.parametrize(("script_lines", "expected"), [(0, "euc-kr"), (300, "euc-kr"), (500, None)])
def test_meta_charset_reads_the_first_four_kilobytes(script_lines: int, expected: str | None) -> None:
    # bs4 alone scans max(2 KB, 5%); a meta after 3.3 KB of scripts still counts, at 5.5 KB not.
    padding = "<script>" + "var a = 1;\n" * script_lines + "</script>"
    html = page(padding + META_EUCKR).encode("cp949")
    assert meta_charset(html) == expected


def test_utf8_page_with_lying_euckr_header() -> None:
    html = page('<meta charset="utf-8">')
    assert decode_page(html.encode("utf-8"), "euc-kr") == (html, "utf-8")
    assert decode_page(page(META_EUCKR).encode("utf-8"), "euc-kr") == (page(META_EUCKR), "utf-8")


def test_utf8_page_without_declaration() -> None:
    html = page()
    assert decode_page(html.encode("utf-8"), None) == (html, "utf-8")


def test_utf8_page_with_lying_latin1_header() -> None:
    html = page()
    assert decode_page(html.encode("utf-8"), "iso-8859-1") == (html, "utf-8")


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ],
)
@pytest.mark.parametrize("declared", [None, "euc-kr", "iso-8859-1"])
def test_bom_wins(bom: bytes, codec: str, declared: str | None) -> None:
    html = page(META_EUCKR)
    assert decode_page(bom + html.encode(codec), declared) == (html, codec)


LATIN1_PAGE = page(
    '<meta charset="iso-8859-1">',
    body="<p>INFORMAÇÃO sobre São Paulo. Änderung in Café Zürich. Ørsted, naïve, déjà vu.</p>",
    title="Informação",
)


@pytest.mark.parametrize("declared", [None, "iso-8859-1", "latin-1"])
def test_latin1_european_page_stays_latin1(declared: str | None) -> None:
    assert decode_page(LATIN1_PAGE.encode("latin-1"), declared) == (LATIN1_PAGE, "latin-1")


def test_latin1_label_with_windows_1252_quotes_reads_as_cp1252() -> None:
    # Browsers (WHATWG) read a latin-1 label as windows-1252: 0x93/0x94 are curly quotes.
    html = page('<meta charset="iso-8859-1">', body="<p>“Café” – naïve</p>", title="Café")
    assert decode_page(html.encode("cp1252"), None) == (html, "cp1252")


def test_ascii_page_keeps_its_label() -> None:
    assert decode_page(b"<html>plain</html>", "us-ascii") == ("<html>plain</html>", "ascii")


def test_empty_and_undecodable_bodies() -> None:
    assert decode_page(b"", None) == ("", "utf-8")
    assert decode_page(b"", "euc-kr") == ("", "cp949")
    text, codec = decode_page(b"\x00\x01bad \xff\xfe\xfd\xfc", "no-such-charset")
    assert isinstance(text, str) and codec


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("EUC-KR", "cp949"),
        ("ks_c_5601-1987", "cp949"),
        ("x-windows-949", "cp949"),
        ("cp949", "cp949"),
        ("UTF8", "utf-8"),
        ("ISO-8859-1", "latin-1"),
        ("windows-1252", "cp1252"),
        ("us-ascii", "ascii"),
        ("base64", None),  # not a character set
        ("utf-7", None),
        ("undefined", None),
        ("nonsense", None),
        (None, None),
    ],
)
def test_canonical_codec(label: str | None, expected: str | None) -> None:
    assert canonical_codec(label) == expected
