"""The incremental rules: which post pages a run downloads, and with which validators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from crawler.incremental import KnownPost, KnownPosts, Plan, conditional_headers, plan, refresh_window
from crawler.items import ListingRow

NOW = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)


def row(
    title: str = "[News] A title..", post_id: str | None = "5190", url: str = "https://x.test/en/content/5190"
):
    return ListingRow(
        page=1, position=2, page_url="https://x.test/ko/policy-news", title_raw=title, title="A title",
        category="News", truncated=True, is_notice=False, post_url=url, post_id=post_id,
    )  # fmt: skip


def known(fetched_days_ago: float | None = 1, title: str = "[News] A title..") -> KnownPost:
    fetched = None if fetched_days_ago is None else NOW - timedelta(days=fetched_days_ago)
    return KnownPost(
        "5190", "https://x.test/en/content/5190", title, '"abc"', "Sun, 01 Nov 2026 00:00:00 GMT", fetched
    )


def test_plans() -> None:
    week = refresh_window(None)
    assert week == timedelta(days=7)
    assert plan(row(), None, NOW, week) is Plan.NEW
    assert plan(row(), known(1), NOW, week) is Plan.SKIP
    assert plan(row(), known(8), NOW, week) is Plan.STALE
    assert plan(row(), known(7), NOW, week) is Plan.STALE  # the window is inclusive at its end
    assert plan(row(), known(None), NOW, week) is Plan.STALE
    assert plan(row("[News] Another title.."), known(1), NOW, week) is Plan.TITLE_CHANGED
    assert plan(row(), known(0.5), NOW, refresh_window(0)) is Plan.STALE  # --refresh-days 0: revalidate all
    # A crawl dated before the last download (a backfill) ages it by the real clock.
    past = NOW - timedelta(days=30)
    assert plan(row(), known(1), past, week) is Plan.SKIP
    assert plan(row(), known(1), past, refresh_window(0), wall=NOW) is Plan.STALE
    assert plan(row(), known(8), past, week, wall=NOW) is Plan.STALE
    assert [p.fetch for p in Plan] == [True, True, True, False]


def test_conditional_headers_carry_the_validators() -> None:
    assert conditional_headers(known()) == {
        "If-None-Match": '"abc"',
        "If-Modified-Since": "Sun, 01 Nov 2026 00:00:00 GMT",
    }
    assert conditional_headers(None) == {}


def test_lookup_by_node_id_or_by_the_linked_url() -> None:
    state = pd.DataFrame(
        {
            "post_id": ["5190", "8832"],
            "url": ["https://x.test/en/content/5190", "https://x.test/en/content/8832"],
            "requested_url": ["https://x.test/en/content/5190", "https://x.test/en/content/some-alias"],
            "listing_title": ["[News] A title..", pd.NA],
            "etag": ['"abc"', pd.NA],
            "last_modified": [pd.NA, pd.NA],
            "fetched_at": [pd.Timestamp(NOW), pd.NaT],
        }
    )
    posts = KnownPosts.from_records(state.to_dict("records"))
    assert len(posts) == 2
    assert posts.lookup(row()).etag == '"abc"'
    alias = posts.lookup(row(post_id=None, url="https://x.test/en/content/some-alias"))
    assert alias is not None and alias.post_id == "8832"
    assert alias.listing_title is None and alias.fetched_at is None and alias.etag is None
    assert posts.lookup(row(post_id=None, url="https://x.test/en/content/unknown")) is None
    moved = posts.lookup(row(post_id=None, url="http://127.0.0.1:8080/en/content/some-alias"))
    assert moved is alias  # the same site behind another --base-url
