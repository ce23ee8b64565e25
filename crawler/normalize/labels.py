"""Board labels → field names, and inline `label value label value` runs → dict."""

from __future__ import annotations

import re
from typing import Final

from crawler.normalize.text import clean_text, search_key

__all__ = ["FIELD_LABELS", "field_of_label", "split_labelled"]

# Surface forms per field. Matching ignores case, spaces and a trailing colon, so `조회 수`,
# `글쓴 이`, `DATE :` need no entry of their own. Deliberately absent: 조회기간 (a search
# period), 수정일 (modified), 마감일 (deadline): a listing's publication date is none of them.
FIELD_LABELS: Final[dict[str, tuple[str, ...]]] = {
    "published": ("등록일", "작성일", "게시일", "날짜", "일자", "등록일자", "작성일자", "게시일자",
                  "등록일시", "작성일시", "게시일시", "date", "posted", "posted on", "published",
                  "published on"),
    "author": ("글쓴이", "작성자", "등록자", "게시자", "writer", "author", "by", "name", "posted by"),
    "reads": ("조회수", "조회", "조회횟수", "hits", "hit", "views", "view", "reads"),
    "title": ("제목", "title", "subject"),
    "number": ("번호", "no", "no."),
    "attachments": ("첨부", "첨부파일", "attachment", "attachments", "file", "files"),
    "category": ("분류", "카테고리", "category"),
}  # fmt: skip

_KEY_TO_FIELD: Final = {
    re.sub(r"\s+", "", label): field for field, labels in FIELD_LABELS.items() for label in labels
}
_TRIM: Final = re.compile(r"^[\s:：|·]+|[\s:：|·]+$")


def _label_key(label: str) -> str:
    return re.sub(r"\s+", "", _TRIM.sub("", search_key(label)))


def field_of_label(label: str | None) -> str | None:
    """Field name for a board label (`등록일`, `Writer :`, `조회 수`), or None if unknown."""
    if not label:
        return None
    return _KEY_TO_FIELD.get(_label_key(label))


def _label_pattern(label: str) -> str:
    # Any space inside a label may be absent or repeated (`조회 수`, `조회수`); a Korean label
    # may also be written with spaces between syllables (`글쓴 이`).
    compact = label.replace(" ", "")
    body = r"\s*".join(re.escape(ch) for ch in compact)
    return body + r"(?!\w)" if compact[-1].isalnum() else body  # `No.12` still reads as a label


# Longest labels first so that `조회수` wins over `조회`, `첨부파일` over `첨부`, `No.` over `No`.
_ALL_LABELS: Final = sorted(_KEY_TO_FIELD, key=len, reverse=True)
# Whole words only: not preceded or followed by a letter, digit or Hangul (`조회기간` ≠ `조회`).
_LABEL_RE: Final = re.compile(
    r"(?<!\w)(?P<label>" + "|".join(_label_pattern(lb) for lb in _ALL_LABELS) + r")",
    re.IGNORECASE,
)
_COUNT_UNITS: Final = frozenset({"reads", "hits", "hit", "views", "view"})
# Short English labels that are also everyday words count only when capitalised (`No`, `By`).
_CAPITALISED_ONLY: Final = frozenset({"no", "no.", "by", "name", "file", "files"})
_ENDS_WITH_DIGIT: Final = re.compile(r"\d\s*$")
_SEPARATORS: Final = " \t\n:：|·"


def split_labelled(text: str | None) -> dict[str, str]:
    """Split `등록일 2017-01-11 글쓴이 ssunha 조회수 11 READS` into fields.

    Values are the raw text between a label and the next one, stripped of the separators
    `:`, `：`, `|`, `·` and whitespace. The first non-empty occurrence of a field wins; text
    before the first label is ignored. An English count word right after a number (`11 READS`)
    is the value's unit, not a new label; `No`, `By`, `Name`, `File` count only capitalised.
    """
    s = clean_text(text)
    if not s:
        return {}
    marks: list[tuple[int, int, str]] = []
    for m in _LABEL_RE.finditer(s):
        key = _label_key(m["label"])  # IGNORECASE also matches `ſ`, `K` (Kelvin): fold them
        field = _KEY_TO_FIELD.get(key)
        if field is None:
            continue
        if key in _COUNT_UNITS and _ENDS_WITH_DIGIT.search(s, 0, m.start()):
            continue  # `11 READS`: a unit
        if key in _CAPITALISED_ONLY and m["label"][0].islower():
            continue  # `no labels`, `supported by`: everyday English words, not labels
        marks.append((m.start(), m.end(), field))
    out: dict[str, str] = {}
    for i, (_, end, field) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(s)
        value = s[end:stop].strip(_SEPARATORS)
        if value and field not in out:
            out[field] = value
    return out
