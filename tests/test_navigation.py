"""crawler.navigation: what the spider and ``crawler reextract`` share about walking a board."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

from crawler.extract import extract_blocks, extract_front, extract_partners
from crawler.items import Failure, Partner
from crawler.navigation import (
    NO_PARTNERS,
    front_pages,
    front_records,
    is_post_link,
    logos_to_fetch,
    set_logo,
)
from crawler.profile import load_profile
from tests.test_extract import page

PROFILE = load_profile("seoulsolution")
AT = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def _failure(reason: str) -> Failure:
    return Failure(url="https://example.org/ko", stage="extract", reason=reason, at=AT)


def test_front_pages_name_what_each_page_holds() -> None:
    assert PROFILE.partners is not None and PROFILE.blocks is not None
    assert front_pages(PROFILE) == {"https://www.seoulsolution.kr/ko": frozenset({"partners", "blocks"})}
    assert front_pages(PROFILE.with_base_url("http://127.0.0.1:8000")) == {
        "http://127.0.0.1:8000/ko": frozenset({"partners", "blocks"})
    }
    apart = dataclasses.replace(PROFILE, blocks=dataclasses.replace(PROFILE.blocks, page="/en/about"))
    assert front_pages(apart) == {
        "https://www.seoulsolution.kr/ko": frozenset({"partners"}),
        "https://www.seoulsolution.kr/en/about": frozenset({"blocks"}),
    }
    assert front_pages(dataclasses.replace(PROFILE, partners=None, blocks=None)) == {}


def test_a_front_page_gives_only_what_it_is_wanted_for() -> None:
    doc = page("front.html")
    blocks, partners = extract_front(doc, PROFILE, wanted={"partners", "blocks"}, fetched_at=AT)
    assert [b.block_id for b in blocks] == [b.block_id for b in extract_blocks(doc, PROFILE, fetched_at=AT)]
    assert [p.name for p in partners] == [p.name for p in extract_partners(doc, PROFILE, fetched_at=AT)]
    assert len(blocks) > 0 and len(partners) > 10
    only_partners = extract_front(doc, PROFILE, wanted={"partners"}, fetched_at=AT)
    assert only_partners[0] == [] and len(only_partners[1]) == len(partners)
    only_blocks = extract_front(doc, PROFILE, wanted={"blocks"}, fetched_at=AT)
    assert len(only_blocks[0]) == len(blocks) and only_blocks[1] == []


def test_post_links_follow_the_profile_pattern() -> None:
    assert is_post_link(PROFILE, "https://www.seoulsolution.kr/en/content/4567")
    assert is_post_link(PROFILE, "http://127.0.0.1:8000/ko/content/seouls-oda-story")
    assert not is_post_link(PROFILE, "https://www.seoulsolution.kr/ko/policy-news?page=2")
    assert not is_post_link(PROFILE, None)
    assert not is_post_link(PROFILE, "")


def test_front_records_flag_a_page_that_lost_its_partners() -> None:
    doc = page("front.html")
    blocks, partners = extract_front(doc, PROFILE, wanted={"partners", "blocks"}, fetched_at=AT)
    assert front_records(blocks, partners, {"partners", "blocks"}, _failure) == [*blocks, *partners]
    lost = front_records(blocks, [], {"partners", "blocks"}, _failure)
    assert lost[:-1] == blocks
    assert isinstance(lost[-1], Failure) and lost[-1].reason == NO_PARTNERS
    assert front_records(blocks, [], {"blocks"}, _failure) == blocks  # not a partners page: no failure


def _partner(position: int, logo: str | None) -> Partner:
    return Partner(
        section="international",
        position=position,
        name=f"P{position}",
        alt_raw=f"P{position} 로고이미지",
        link=None,
        page_url="https://x/ko",
        logo_url=logo,
    )


def test_each_logo_is_fetched_once_and_hashed_onto_every_partner_showing_it() -> None:
    a, b, c, d = (
        _partner(1, "https://x/a.png"),
        _partner(2, "https://x/b.png"),
        _partner(3, "https://x/a.png"),
        _partner(4, None),
    )
    groups = logos_to_fetch([a, b, c, d])
    assert list(groups) == ["https://x/a.png", "https://x/b.png"]
    assert groups["https://x/a.png"] == [a, c]
    assert list(logos_to_fetch([a, b, c, d], done={"https://x/a.png"})) == ["https://x/b.png"]
    set_logo(groups["https://x/a.png"], b"\x89PNG logo", "image/png; charset=binary")
    for partner in (a, c):
        assert partner.logo_sha256 == hashlib.sha256(b"\x89PNG logo").hexdigest()
        assert (partner.logo_bytes, partner.logo_type) == (9, "image/png")
    assert b.logo_sha256 is None
    set_logo([b], b"", None)
    assert (b.logo_bytes, b.logo_type) == (0, None)
