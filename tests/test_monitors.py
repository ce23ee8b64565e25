from __future__ import annotations

from crawler.monitors import SnapshotSummary, Thresholds, check, failed


def healthy(pages: int = 3) -> SnapshotSummary:
    summary = SnapshotSummary()
    n = 0
    for page in range(1, pages + 1):
        for position in range(1, 22 if page < pages else 6):
            n += 1
            summary.add_listing({"page": page, "position": position, "post_id": str(n), "reads": 100 + n})
    for i in range(40):
        summary.add_post({"published": "2017-01-11", "author": "ssunha", "body_text": "x" if i else ""})
    summary.partners = 27
    return summary


def test_a_healthy_snapshot_passes_every_monitor() -> None:
    results = check(healthy(), previous_rows=60, previous_reads={"1": 101, "2": 50}, thresholds=Thresholds())
    assert failed(results) == []
    assert {r.name for r in results} == {
        "listing_rows_per_page", "posts_with_date", "posts_with_author", "posts_with_body", "partners_found",
        "reads_never_fall", "row_count_stable", "selectors_matched",
    }  # fmt: skip
    body = next(r for r in results if r.name == "posts_with_body")
    assert body.detail == "97.5% of 40 downloaded posts (minimum 95%)"


def test_a_redesign_fails_the_monitors_that_name_it() -> None:
    broken = SnapshotSummary()
    broken.add_failure(
        {"stage": "extract", "url": "http://x/ko/policy-news", "reason": "no listing rows matched 'li'"}
    )
    broken.partners = 27
    results = check(broken, previous_rows=336, previous_reads={}, thresholds=Thresholds())
    assert failed(results) == [
        "listing_rows_per_page",
        "posts_found",
        "row_count_stable",
        "selectors_matched",
    ]


def test_falling_reads_collapsing_rows_and_thin_pages_fail() -> None:
    summary = healthy()
    summary.rows_per_page[2] = 3
    results = check(
        summary, previous_rows=500, previous_reads={"1": 999}, thresholds=Thresholds(min_partners=30)
    )
    assert failed(results) == [
        "listing_rows_per_page",
        "partners_found",
        "reads_never_fall",
        "row_count_stable",
    ]
    fall = next(r for r in results if r.name == "reads_never_fall")
    assert "('1', 999, 101)" in fall.detail


def test_carried_posts_count_as_found_when_nothing_was_downloaded() -> None:
    summary = healthy()
    summary.posts_downloaded, summary.posts_with = 0, summary.posts_with.__class__()
    summary.carried["not_modified"] = 40
    results = check(summary, previous_rows=None, previous_reads={}, thresholds=Thresholds())
    assert failed(results) == []
    assert not any(r.name.startswith("posts_with") for r in results)
