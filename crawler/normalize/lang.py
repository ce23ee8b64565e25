"""Language tag from the Hangul/Latin letter ratio (agrees with kiwipiepy on board titles)."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["detect_lang"]

# Hangul: syllables, conjoining jamo, compatibility jamo, extended jamo A and B.
_HANGUL: Final = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\ud7b0-\ud7ff]+")
# Latin letters: ASCII, Latin-1 and Latin Extended-A/B letters, Latin Extended Additional.
_LATIN: Final = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+")

KO_SHARE: Final = 0.8  # ≥ 80% of the counted letters Hangul → "ko"
EN_SHARE: Final = 0.8  # ≥ 80% Latin → "en"
MIN_LETTERS: Final = 2  # fewer Hangul + Latin letters than this → None


def detect_lang(text: str | None) -> str | None:
    """ "ko", "en", "mixed" or None.

    Only Hangul (syllables and jamo) and Latin letters are counted; digits, punctuation, hanja
    and other scripts are ignored. With fewer than 2 counted letters the answer is None; a share
    of at least 80% for one script gives "ko" or "en"; anything else (both present) is "mixed".
    Each Hangul syllable counts as one letter, like each Latin letter.
    """
    if not text:
        return None
    # Letters counted as the lengths of runs: a third fewer match objects than one per letter.
    hangul = sum(map(len, _HANGUL.findall(text)))
    latin = sum(map(len, _LATIN.findall(text)))
    total = hangul + latin
    if total < MIN_LETTERS:
        return None
    if hangul >= KO_SHARE * total:
        return "ko"
    if latin >= EN_SHARE * total:
        return "en"
    return "mixed"
