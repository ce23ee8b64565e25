"""Unicode clean-up for stored fields and keys for matching.

Stored text is NFC (macOS pages arrive in NFD, which breaks `'게시판' in text` and `[가-힣]`),
but never NFKC: NFKC rewrites `①`, `㈜`, `™`, `㎡` and turns `ㅋㅋ` into conjoining jamo.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ZERO_WIDTH", "clean_text", "hangul_syllable_count", "search_key"]

# Zero-width characters survive NFKC and are neither `\s` nor stripped by `str.strip()`.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ZW = re.compile(f"[{ZERO_WIDTH}]")  # (str.translate with a dict looks up every character: slower)

# NFC maps the 268 duplicate Korean hanja (U+F900–U+FAFF) onto unified ideographs, losing the
# distinction a source deliberately made: normalise the text *between* them only. They are
# starters that compose with nothing, so normalising the pieces separately is exact.
_COMPAT_IDEOGRAPHS = re.compile("([\uf900-\ufaff]+)")
# Compatibility jamo (ㄱ, ㅏ, ㅋㅋ) become conjoining jamo under NFKC and then fuse into syllables
# (`ㄱㅏ` → `가`): search keys keep them as they are.
_COMPAT_JAMO = re.compile("([\u3131-\u318e]+)")

_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+")  # a line break followed by blank line(s)
_HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")


def _nfc(s: str) -> str:
    if unicodedata.is_normalized("NFC", s):  # fast path: most board text already is NFC
        return s
    if not _COMPAT_IDEOGRAPHS.search(s):
        return unicodedata.normalize("NFC", s)
    parts = _COMPAT_IDEOGRAPHS.split(s)  # odd indexes are the protected ideograph runs
    return "".join(p if i % 2 else unicodedata.normalize("NFC", p) for i, p in enumerate(parts))


def clean_text(s: str | None, *, keep_paragraphs: bool = False) -> str:
    """Return `s` in NFC without zero-width characters and with collapsed whitespace.

    Zero-width characters are removed *before* NFC, so jamo split by a U+200B compose.

    Paragraph rule (keep_paragraphs=True): a paragraph break is a line break followed by one or
    more blank lines (lines holding only whitespace or zero-width characters); U+2029 PARAGRAPH
    SEPARATOR also counts as one. Single line breaks inside a paragraph are soft and become a
    space. Paragraphs are joined by exactly "\\n\\n"; empty paragraphs disappear. The result
    contains no other line break, so the function stays idempotent.
    """
    if not s:
        return ""
    if not keep_paragraphs and s.isascii():  # no zero-width character, NFC already: most titles, counts
        return " ".join(s.split())
    s = _nfc(_ZW.sub("", s))
    if not keep_paragraphs:
        return " ".join(s.split())  # str.split() and re's \s know the same whitespace
    # str.splitlines() knows every Unicode line boundary (\r\n, \r, \v, \f, \x1c-\x1e, \x85,
    # U+2028); U+2029 is promoted to a blank line first.
    lines = s.replace("\u2029", "\n\n").splitlines()
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    # str.split() knows the whitespace of str regexes' \s (NBSP, U+3000, U+2000–U+200A, ...), at half
    # the cost of a substitution
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def search_key(s: str | None) -> str:
    """NFKC + casefold + clean_text: a key for matching only, never for storage.

    Compatibility jamo U+3131–U+318E are left as they are (NFKC would make them conjoining
    jamo that then fuse into syllables).
    """
    if not s:
        return ""
    parts = _COMPAT_JAMO.split(s)  # odd indexes are the protected jamo runs
    folded = "".join(
        p if i % 2 else unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", p).casefold())
        for i, p in enumerate(parts)
    )
    return clean_text(folded)


def hangul_syllable_count(s: str) -> int:
    """Number of precomposed Hangul syllables U+AC00–U+D7A3 (used by guards and tests)."""
    return len(_HANGUL_SYLLABLE.findall(s))
