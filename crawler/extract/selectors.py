"""CSS selectors for parsed pages: simple selectors matched in Python against a per-page class index,
everything else through lxml's XPath translation.

Profiles name their fields with simple selectors (``.view-content li.views-row``, ``#block-x li``,
``h1.page-title``). cssselect turns a class test into ``contains(concat(' ', normalize-space(@class),
' '), ' x ')`` evaluated on every element of the page: about 0.3 ms a query on a 33 KB listing page,
where one pass that indexes the page's classes and ids costs about as much as a single such query and
then answers every selector by a dict lookup plus an ancestor walk, right to left, as browsers match.
Anything outside the simple subset (pseudo-classes, attribute operators other than ``=``, sibling
combinators, groups) keeps cssselect's exact semantics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cssselect
from lxml import etree
from lxml.cssselect import CSSSelector


@dataclass(frozen=True, slots=True)
class Compound:
    """One compound selector: ``tag#id.a.b[attr][attr=value]`` (every part optional)."""

    tag: str | None
    id: str | None
    classes: frozenset[str]
    attrs: tuple[tuple[str, str | None], ...]  # (name, None) = present; (name, value) = equals

    def matches(self, el: etree._Element) -> bool:
        if self.tag is not None and el.tag != self.tag:
            return False
        if self.id is not None and el.get("id") != self.id:
            return False
        if self.classes and not self.classes.issubset((el.get("class") or "").split()):
            return False
        for name, value in self.attrs:
            found = el.get(name)
            if found is None or (value is not None and found != value):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Simple:
    """A chain of compounds joined by descendant (``" "``) or child (``">"``) combinators."""

    compounds: tuple[Compound, ...]  # left to right
    combinators: tuple[str, ...]  # combinators[i] joins compounds[i] and compounds[i + 1]

    @property
    def key(self) -> Compound:
        return self.compounds[-1]

    def matches(self, el: etree._Element, scope: etree._Element | None) -> bool:
        """``el`` matches the last compound already: check the others right to left. As cssselect's
        ``descendant-or-self::A/descendant::B`` does, the chain may start at ``scope`` itself but not
        above it."""
        return _match_left(self, len(self.compounds) - 2, el, scope)


def _match_left(sel: Simple, i: int, el: etree._Element, scope: etree._Element | None) -> bool:
    if i < 0:
        return True
    if el is scope:
        return False  # nothing above the scope may take part
    compound, combinator = sel.compounds[i], sel.combinators[i]
    if combinator == ">":
        parent = el.getparent()
        return parent is not None and compound.matches(parent) and _match_left(sel, i - 1, parent, scope)
    for ancestor in el.iterancestors():
        if compound.matches(ancestor) and _match_left(sel, i - 1, ancestor, scope):
            return True
        if ancestor is scope:
            break
    return False


class PageIndex:
    """Elements by class and by id, in document order: built once per page, on first use.

    Only the classes that compiled selectors name are indexed (a page's other class tokens, most of
    them, would cost a dict entry each for nothing): see ``page_index``."""

    __slots__ = ("by_class", "by_id", "wanted")

    def __init__(self, root: etree._Element) -> None:
        wanted = self.wanted = frozenset(_WANTED_CLASSES)
        by_class: dict[str, list[etree._Element]] = {name: [] for name in wanted}
        by_id: dict[str, list[etree._Element]] = {}
        tokens = _wanted_tokens(wanted)
        known = tokens.get
        # One pass for both: an XPath query for the ids alone cost about as much as this whole loop.
        for el in root.iter(etree.Element):  # elements only: no comments or processing instructions
            classes = el.get("class")  # (el.attrib would build a proxy object per element)
            if classes:
                names = known(classes)
                if names is None:
                    names = tokens[classes] = tuple(n for n in dict.fromkeys(classes.split()) if n in wanted)
                for name in names:
                    by_class[name].append(el)
            ident = el.get("id")
            if ident is not None:
                by_id.setdefault(ident, []).append(el)
        self.by_class = by_class
        self.by_id = by_id


#: ``class`` attribute value -> the wanted classes it names (once each), for one wanted set: a page
#: repeats a few dozen class strings hundreds of times, and pages of a board share them.
_TOKENS: dict[str, tuple[str, ...]] = {}
_TOKENS_FOR: list[frozenset[str]] = [frozenset()]
_TOKENS_MAX = 4096  # class strings that carry ids (`node-12345`) must not grow it without bound


def _wanted_tokens(wanted: frozenset[str]) -> dict[str, tuple[str, ...]]:
    if _TOKENS_FOR[0] != wanted or len(_TOKENS) > _TOKENS_MAX:
        _TOKENS.clear()
        _TOKENS_FOR[0] = wanted
    return _TOKENS


def page_index(root: etree._Element, current: PageIndex | None) -> PageIndex:
    """``current`` if it indexes every class that compiled selectors name, else a new index of ``root``
    (a selector compiled after the index was built may name a class it skipped)."""
    if current is not None and len(current.wanted) == len(_WANTED_CLASSES):  # the set only grows
        return current
    return PageIndex(root)


#: Every class named by a selector compiled so far: what a PageIndex indexes.
_WANTED_CLASSES: set[str] = set()

Matcher = Callable[[etree._Element, "PageIndex | None", "etree._Element | None"], list[etree._Element]]


@functools.lru_cache(maxsize=512)
def compile_selector(css: str) -> Matcher:
    """A function ``(root, index, within) -> matches in document order`` for ``css``."""
    simple = _simple(css)
    if simple is None:
        xpath = CSSSelector(css, translator="html")
        return lambda root, index, within: xpath(root if within is None else within)
    for compound in simple.compounds:
        _WANTED_CLASSES.update(compound.classes)
    return functools.partial(_select_simple, simple)


def _select_simple(
    sel: Simple, root: etree._Element, index: PageIndex | None, within: etree._Element | None
) -> list[etree._Element]:
    key = sel.key
    if within is not None or index is None:
        # A small subtree (a row, a block): walk it rather than filter the page's index by ancestry.
        scope = root if within is None else within
        candidates = scope.iter(key.tag) if key.tag else scope.iter(etree.Element)
        return [el for el in candidates if key.matches(el) and sel.matches(el, scope)]
    first = sel.compounds[0]
    if len(sel.compounds) > 1 and ">" not in sel.combinators and (first.id or first.classes):
        return _descend(sel, _indexed(first, index), index)
    if key.id is not None or key.classes:
        candidates = _indexed(key, index)
    else:
        candidates = list(root.iter(key.tag) if key.tag else root.iter(etree.Element))
    return [el for el in candidates if key.matches(el) and sel.matches(el, None)]


def _indexed(compound: Compound, index: PageIndex) -> list[etree._Element]:
    """The page's elements matching a compound that names an id or a class, in document order."""
    if compound.id is not None:
        found = index.by_id.get(compound.id, [])
    else:
        found = min((index.by_class.get(c, []) for c in compound.classes), key=len)
        if len(compound.classes) == 1 and compound.tag is None and not compound.attrs:
            return found  # `.name` alone: the index entry is the answer
    return [el for el in found if compound.matches(el)]


def _descend(sel: Simple, tops: list[etree._Element], index: PageIndex) -> list[etree._Element]:
    """Left to right for descendant chains that start with an indexed compound: each step searches the
    subtrees of the previous step's matches (a row's field is a few elements, not the whole page).
    Subtrees are visited in document order and a nested one repeats only what was already seen, so the
    result stays in document order without sorting."""
    current = tops
    for compound in sel.compounds[1:]:
        # A compound naming a class or an id is a set of the page's elements: test membership by id.
        members = {id(el) for el in _indexed(compound, index)} if compound.id or compound.classes else None
        seen: set[int] = set()
        found: list[etree._Element] = []
        for top in current:
            for el in top.iter(compound.tag) if compound.tag else top.iter(etree.Element):
                key = id(el)
                if el is top or key in seen:
                    continue
                if (key not in members) if members is not None else not compound.matches(el):
                    continue
                seen.add(key)
                found.append(el)
        current = found
    return current


def _simple(css: str) -> Simple | None:
    """``css`` as a Simple chain, or None when it needs cssselect's full semantics."""
    try:
        parsed = cssselect.parse(css)
    except cssselect.SelectorError:
        return None  # CSSSelector raises the proper error
    if len(parsed) != 1 or parsed[0].pseudo_element is not None:
        return None
    compounds: list[Compound] = []
    combinators: list[str] = []
    tree = parsed[0].parsed_tree
    while isinstance(tree, cssselect.parser.CombinedSelector):
        if tree.combinator not in (" ", ">"):
            return None
        right = _compound(tree.subselector)
        if right is None:
            return None
        compounds.append(right)
        combinators.append(tree.combinator)
        tree = tree.selector
    first = _compound(tree)
    if first is None:
        return None
    compounds.append(first)
    return Simple(tuple(reversed(compounds)), tuple(reversed(combinators)))


def _compound(node: object) -> Compound | None:
    tag: str | None = None
    ident: str | None = None
    classes: set[str] = set()
    attrs: list[tuple[str, str | None]] = []
    while True:
        if isinstance(node, cssselect.parser.Element):
            if node.namespace is not None:
                return None
            # The html translator lower-cases tag names, as HTML parsing does.
            tag = node.element.lower() if node.element not in (None, "*") else None
            break
        if isinstance(node, cssselect.parser.Class):
            classes.add(node.class_name)
        elif isinstance(node, cssselect.parser.Hash):
            if ident is not None and ident != node.id:
                return None
            ident = node.id
        elif isinstance(node, cssselect.parser.Attrib):
            if node.namespace is not None or node.operator not in ("exists", "="):
                return None
            value = None if node.operator == "exists" else node.value
            if value is not None and not isinstance(value, str):
                value = value.value  # cssselect >= 1.2 wraps the value in a Token
            attrs.append((node.attrib.lower(), value))
        else:
            return None  # pseudo-classes, functions, negation
        node = node.selector
    return Compound(tag, ident, frozenset(classes), tuple(attrs))
