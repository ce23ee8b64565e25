"""Page bytes → text, and repair of CP949 text that was decoded as Latin-1/cp1252.

Scrapy/w3lib decode an EUC-KR page right only when EUC-KR is declared; with no charset or a
wrong one they fall to cp1252 or UTF-8 and produce garbage. Here a declared charset is only a
candidate that the bytes must confirm.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator
from typing import Final

from bs4.dammit import EncodingDetector
from charset_normalizer import from_bytes

__all__ = ["canonical_codec", "decode_page", "fix_mojibake", "meta_charset"]

_BOMS: Final = (  # UTF-32 before UTF-16: FF FE 00 00 starts with the UTF-16-LE BOM
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# EUC-KR labels decode as CP949 (Microsoft's UHC), a strict superset: real "EUC-KR" pages
# routinely contain the 8,822 extra syllables (똠, 햏, 뷁) that plain EUC-KR cannot decode.
# Python does not know `x-windows-949` / `windows-949`.
_KOREAN_LABELS: Final = frozenset({"euc_kr", "cp949", "x-windows-949", "windows-949", "ks_c_5601-1987",
                                   "ksc5601", "ks_x_1001", "uhc", "x-euc-kr", "korean"})  # fmt: skip
# Labels that servers and templates emit by default: never trusted over Korean-looking bytes.
_WEAK: Final = frozenset({"latin-1", "iso8859-1", "cp1252", "ascii"})
_NOT_CHARSETS: Final = frozenset({"undefined", "idna", "punycode", "unicode-escape",
                                   "raw-unicode-escape", "utf-7", "mbcs", "oem"})  # fmt: skip
_META_WINDOW: Final = 4096
_HANGUL: Final = re.compile("[\uac00-\ud7a3]")
_C1_BYTES: Final = re.compile(rb"[\x80-\x9f]")


def canonical_codec(label: str | None) -> str | None:
    """Python codec name for a charset label (`EUC-KR` → `cp949`), None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label.replace("-", "_") in _KOREAN_LABELS or label in _KOREAN_LABELS:
        return "cp949"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    name = info.name
    # Only real character sets: not base64/zlib (bytes-to-bytes), not Python's escape codecs,
    # `undefined` or `idna`, and not UTF-7, which WHATWG bans (it smuggles markup).
    if not getattr(info, "_is_text_encoding", True) or name in _NOT_CHARSETS:
        return None
    if name in ("euc_kr", "cp949"):
        return "cp949"
    if name == "iso8859-1":
        return "latin-1"
    return name.replace("_", "-")


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeError, LookupError, ValueError, TypeError):  # any codec failure means "no"
        return None


@functools.cache
def _single_byte(codec: str) -> bool:
    """True for codecs that map every high byte to one character on its own (latin-1, koi8-r)."""
    if codec == "utf-8":
        return False
    try:
        return len(bytes(range(0x80, 0x100)).decode(codec, errors="replace")) == 0x80
    except (UnicodeError, LookupError, ValueError, TypeError):
        return False


def _korean_enough(text: str) -> bool:
    """At least 2 Hangul syllables, and Hangul at least half of the non-ASCII characters."""
    hangul = len(_HANGUL.findall(text))
    non_ascii = sum(1 for ch in text if ord(ch) > 0x7F)
    return hangul >= 2 and hangul * 2 >= non_ascii


def _decode_weak(body: bytes, codec: str) -> tuple[str, str]:
    # Without bytes 0x80–0x9F, latin-1 and cp1252 agree: a latin-1 page stays latin-1.
    # With them, browsers read latin-1/ascii labels as windows-1252 (WHATWG): those bytes are
    # “ ” – … rather than C1 controls. Latin-1 remains for the five bytes cp1252 leaves undefined.
    if codec != "cp1252" and not _C1_BYTES.search(body):
        return body.decode("latin-1"), "latin-1"
    text = _strict(body, "cp1252")
    if text is not None:
        return text, "cp1252"
    return body.decode("latin-1"), "latin-1"


def meta_charset(body: bytes) -> str | None:
    """The charset a `<meta>` (or XML declaration) in the first 4 KB declares, lower-cased."""
    # find_declared_encoding scans only max(2 KB, 5%) unless told to search "the entire
    # document": hand it exactly the first 4 KB instead.
    return EncodingDetector.find_declared_encoding(
        body[:_META_WINDOW], is_html=True, search_entire_document=True
    )


def _labelled(body: bytes, declared: str | None) -> Iterator[str]:
    """The codecs the page is labelled with: the HTTP header's, then the ``<meta>``'s, which is only
    looked for when the header's did not decode the page (most pages stop at the header)."""
    codec = canonical_codec(declared)
    if codec:
        yield codec
    codec = canonical_codec(meta_charset(body))  # reached only when the header's did not decide
    if codec:
        yield codec


def decode_page(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode a page: (text, codec used).

    Order: a BOM wins; then the HTTP `declared` charset and the `<meta>` charset of the first
    4 KB, each trusted only when the body decodes strictly with it; a single-byte label
    (latin-1, cp1252, ascii, koi8-r...) is not trusted when the body has high bytes that
    decode strictly as UTF-8, or as CP949 into Korean-looking text; a CP949 label loses to
    UTF-8 when both decode strictly and UTF-8 yields more Hangul. Then UTF-8 strict, CP949
    strict (Korean-looking), then charset-normalizer, and last UTF-8 with replacement
    characters. Never raises.
    """
    if not body:
        return "", canonical_codec(declared) or "utf-8"
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec

    high = not body.isascii()
    tried: list[str] = []
    for codec in _labelled(body, declared):
        # A UTF-16/32 label without a BOM decodes almost any even-length body: ignore it.
        if codec in tried or codec.startswith(("utf-16", "utf-32")):
            continue
        tried.append(codec)
        if high and _single_byte(codec):
            # Any bytes "decode" under a single-byte label: let UTF-8, or CP949 that reads as
            # Korean, overrule it (a lying latin-1/windows-1252 header is the common case).
            utf8 = _strict(body, "utf-8")
            if utf8 is not None:
                return utf8, "utf-8"
            korean = _strict(body, "cp949")
            if korean is not None and _korean_enough(korean):
                return korean, "cp949"
        if codec in _WEAK:
            return (body.decode("ascii"), codec) if not high else _decode_weak(body, codec)
        text = _strict(body, codec)
        if text is None:
            continue
        if codec == "cp949" and high:
            utf8 = _strict(body, "utf-8")
            if utf8 is not None and len(_HANGUL.findall(utf8)) > len(_HANGUL.findall(text)):
                return utf8, "utf-8"
        return text, codec

    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    text = _strict(body, "cp949")
    if text is not None and _korean_enough(text):
        return text, "cp949"
    try:
        best = from_bytes(body).best()
    except Exception:  # a detector bug must not lose the page: fall through to UTF-8
        best = None
    if best is not None:
        codec = canonical_codec(best.encoding) or best.encoding
        return str(best), codec
    return body.decode("utf-8", errors="replace"), "utf-8"


# --- mojibake -------------------------------------------------------------------------------

# cp1252's 0x80–0x9F characters back to their bytes; with latin-1 for the rest, one table
# covers both round trips (and the "sloppy" mix where undefined bytes became C1 controls).
_CP1252_BACK: Final = {
    ord(ch): b for b in range(0x80, 0xA0) if (ch := bytes([b]).decode("cp1252", errors="ignore"))
}
_MIN_NON_ASCII_SHARE: Final = 0.25
_MIN_HANGUL_OUT: Final = 2
_MIN_HANGUL_SHARE_OUT: Final = 0.9


def fix_mojibake(s: str | None) -> str:
    """Repair CP949 text that was decoded as Latin-1 or cp1252; else return `s` unchanged.

    Guards (0 false positives on 33 European strings in our measurements): no Hangul in the
    input; non-ASCII characters ≥ 25% of the letters (alphabetic or non-ASCII characters);
    the bytes decode strictly as CP949; ≥ 2 Hangul syllables come out; Hangul is ≥ 90% of the
    non-ASCII characters out. Run it before clean_text: mojibake contains U+00AD soft hyphens
    (byte 0xAD) that clean_text would delete.
    """
    if not s:
        return ""
    if s.isascii() or _HANGUL.search(s):
        return s
    letters = sum(1 for ch in s if ch.isalpha() or ord(ch) > 0x7F)
    non_ascii = sum(1 for ch in s if ord(ch) > 0x7F)
    if non_ascii < _MIN_NON_ASCII_SHARE * letters:
        return s
    try:
        raw = s.translate(_CP1252_BACK).encode("latin-1")
        out = raw.decode("cp949")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s
    hangul = len(_HANGUL.findall(out))
    out_non_ascii = sum(1 for ch in out if ord(ch) > 0x7F)
    if hangul >= _MIN_HANGUL_OUT and hangul >= _MIN_HANGUL_SHARE_OUT * out_non_ascii:
        return out
    return s
