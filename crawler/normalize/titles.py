"""Listing titles: `[Category] Title of the po..` → parts, and matching against full titles."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from crawler.normalize.text import clean_text, search_key

__all__ = ["TitleParts", "reconcile_title", "split_title"]


class TitleParts(NamedTuple):
    category: str | None
    title: str
    truncated: bool


# Only one leading bracket group counts, in square-bracket styles. Angle brackets are left
# alone on purpose: Korean writes titles of works in <…>, 〈…〉, 《…》 (`<기생충> 수상`), so a
# leading angle group is usually part of the title, not a board category.
_CATEGORY: Final = re.compile(r"^(?:\[([^\[\]]*)\]|【([^【】]*)】|［([^［］]*)］|〔([^〔〕]*)〕)\s*")
_OPENERS: Final = frozenset("[【［〔")  # a title that starts otherwise has no category
_MARKS: Final = frozenset(".…⋯")  # nor is it cut unless it ends so
# Truncation markers at the very end only: `..`, `...`, `…`, `⋯` (possibly repeated).
_TRUNCATED: Final = re.compile(r"\s*(?:\.{2,}|[…⋯]+)$")


def split_title(text: str | None) -> TitleParts:
    """Split a listing title into (category, title, truncated).

    The category is the text of a leading bracket group as written (only outer spaces
    stripped); a bracket group that is the whole title stays in the title. `truncated` is True
    when the title ends with `..`, `...`, `…` or `⋯`, which is then removed along with the
    spaces before it. A `…` inside the title is kept. The title is clean_text'ed.
    """
    s = clean_text(text)
    category: str | None = None
    m = _CATEGORY.match(s) if s[:1] in _OPENERS else None
    if m is not None and m.end() < len(s):
        inner = next(g for g in m.groups() if g is not None).strip()
        category = inner or None
        s = s[m.end() :]
    cut = truncation_start(s)
    if cut is not None:
        return TitleParts(category, s[:cut], True)
    return TitleParts(category, s, False)


def truncation_start(s: str) -> int | None:
    """Where a truncation marker at the end of ``s`` starts, spaces before it included (``_TRUNCATED``'s
    match, without a regular-expression search that tries every position of the title); None if none."""
    last = s[-1:]
    if last == ".":
        end = len(s.rstrip("."))
        if len(s) - end < 2:
            return None
    elif last and last in _MARKS:
        end = len(s.rstrip("…⋯"))
    else:
        return None
    return len(s[:end].rstrip())


def _keys(text: str | None) -> list[tuple[str, bool]]:
    """Candidate (key, truncated) readings: with and without the bracket group as category."""
    parts = split_title(text)
    plain = clean_text(text)
    t = _TRUNCATED.search(plain)
    whole = (plain[: t.start()], True) if t is not None else (plain, False)
    out = [(search_key(parts.title), parts.truncated), (search_key(whole[0]), whole[1])]
    return [(k, tr) for k, tr in out if k]


def reconcile_title(shown: str | None, full: str | None) -> bool:
    """True when a listing title as shown belongs to `full` (the post's own title).

    Both sides are compared as search keys, with and without a leading bracket category (the
    post page may or may not repeat it). A truncated title must be a prefix of the full one,
    ignoring all whitespace so that a cut next to a space does not matter; an untruncated one
    must be equal.
    """
    shown_keys = _keys(shown)
    full_keys = [k for k, _ in _keys(full)]
    for key, truncated in shown_keys:
        for full_key in full_keys:
            if truncated:
                if "".join(full_key.split()).startswith("".join(key.split())):
                    return True
            elif key == full_key:
                return True
    return False
