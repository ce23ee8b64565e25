"""Language tag from the Hangul/Latin letter ratio (agrees with kiwipiepy on board titles)."""

from __future__ import annotations

import re
from typing import Final

import numpy as np

__all__ = ["detect_lang", "letter_counts"]

# Hangul: syllables, conjoining jamo, compatibility jamo, extended jamo A and B.
_HANGUL_RANGES: Final = (
    (0xAC00, 0xD7A3),
    (0x1100, 0x11FF),
    (0x3131, 0x318E),
    (0xA960, 0xA97F),
    (0xD7B0, 0xD7FF),
)
# Latin letters: ASCII, Latin-1 and Latin Extended-A/B letters, Latin Extended Additional.
_LATIN_RANGES: Final = (
    (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F), (0x1E00, 0x1EFF),
)  # fmt: skip


def _class(ranges: tuple[tuple[int, int], ...]) -> re.Pattern[str]:
    return re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "]+")


_HANGUL: Final = _class(_HANGUL_RANGES)
_LATIN: Final = _class(_LATIN_RANGES)


# Every range is in the Basic Multilingual Plane and none holds a surrogate, so one table indexed by
# UTF-16 code unit classes a text's letters in three vectorised steps (1 Hangul, 2 Latin, 0 the rest; a
# character outside the BMP becomes two surrogates, both 0, as the regular expressions do not count it).
def _table() -> np.ndarray:
    table = np.zeros(0x10000, dtype=np.uint8)
    for letter_class, ranges in ((1, _HANGUL_RANGES), (2, _LATIN_RANGES)):
        for lo, hi in ranges:
            table[lo : hi + 1] = letter_class
    return table


_TABLE: Final = _table()
# Below this length the regular expressions are faster (numpy's fixed cost per call is a few µs); above,
# the table is: 21 against 92 µs for the 2,000 characters of a post's start.
_TABLE_FROM: Final = 200

KO_SHARE: Final = 0.8  # ≥ 80% of the counted letters Hangul → "ko"
EN_SHARE: Final = 0.8  # ≥ 80% Latin → "en"
MIN_LETTERS: Final = 2  # fewer Hangul + Latin letters than this → None


def letter_counts(text: str) -> tuple[int, int]:
    """(Hangul letters, Latin letters) in ``text``."""
    if len(text) < _TABLE_FROM:
        # Counted as the lengths of runs: a third fewer match objects than one per letter.
        return sum(map(len, _HANGUL.findall(text))), sum(map(len, _LATIN.findall(text)))
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    counts = np.bincount(_TABLE[units], minlength=3)
    return int(counts[1]), int(counts[2])


def detect_lang(text: str | None) -> str | None:
    """ "ko", "en", "mixed" or None.

    Only Hangul (syllables and jamo) and Latin letters are counted; digits, punctuation, hanja
    and other scripts are ignored. With fewer than 2 counted letters the answer is None; a share
    of at least 80% for one script gives "ko" or "en"; anything else (both present) is "mixed".
    Each Hangul syllable counts as one letter, like each Latin letter.
    """
    if not text:
        return None
    hangul, latin = letter_counts(text)
    total = hangul + latin
    if total < MIN_LETTERS:
        return None
    if hangul >= KO_SHARE * total:
        return "ko"
    if latin >= EN_SHARE * total:
        return "en"
    return "mixed"
