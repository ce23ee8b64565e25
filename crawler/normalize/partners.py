"""Partner names from logo `alt` texts: `CITYNET 로고이미지` → `CITYNET`."""

from __future__ import annotations

import re
from typing import Final

from crawler.normalize.text import clean_text

__all__ = ["partner_name"]

# Trailing words that describe the image or the link rather than name the partner. Latin words
# need a space before them (`KDI CI`), Korean ones may be glued on (`KOICA로고`, `서울시청의 로고`).
_TRAILING: Final = re.compile(
    r"(?:\s*의)?\s*(?:로고\s*이미지|로고|심볼\s*마크|심볼|엠블럼|이미지|배너|바로\s*가기|새\s*창(?:\s*열림)?"
    r"|\(\s*새\s*창(?:\s*열림)?\s*\)|홈페이지)\s*$"
    r"|\s+(?:logo(?:\s*image)?|ci|bi|image|banner|emblem|symbol)\s*$",
    re.IGNORECASE,
)
_LOGO: Final = "로고"
_WINDOW: Final = 40


def partner_name(alt: str | None) -> str:
    """The organisation named by a logo's alt text, clean_text'ed; never contains "로고".

    Descriptive trailing words (로고, 로고 이미지, logo, logo image, CI, BI, 바로가기, 새창...)
    are removed repeatedly; names without them (`서울시립대`, `UN SDG 온라인플랫폼`) are kept.
    Any "로고" still left elsewhere is deleted (repeatedly, since deleting can join a new one).
    """
    name = clean_text(alt)
    while name:
        # Match within the last few dozen characters only: the words are short and spaces are
        # already collapsed, and a whole-string search per word would be quadratic.
        head, tail = name[:-_WINDOW], name[-_WINDOW:]
        stripped = _TRAILING.sub("", tail)
        if stripped == tail:
            break
        name = (head + stripped).strip()
    while _LOGO in name:
        name = clean_text(name.replace(_LOGO, " "))
    return clean_text(name)
