"""Checks of a new snapshot against what a healthy crawl of the site looks like and against the previous
snapshot: above all, they catch a site redesign that makes the extractors silently return nothing.

Pure functions over summaries; thresholds come from the site profile (``[monitors]``). Any failed check
makes the run ``degraded`` (exit code 3) and names what failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_rows_per_page: int = 10  # every listing page but the last
    min_field_share: float = 0.95  # posts downloaded this run that have a date, an author, a body
    min_partners: int = 1  # when the profile has partner sections
    min_row_ratio: float = 0.5  # listing rows against the previous snapshot's
    expect_partners: bool = True


@dataclass(slots=True)
class SnapshotSummary:
    """What the monitors need to know of a snapshot, gathered while it is committed."""

    rows_per_page: Counter[int] = field(default_factory=Counter)
    posts_downloaded: int = 0
    posts_with: Counter[str] = field(default_factory=Counter)  # field name -> posts having it
    carried: Counter[str] = field(default_factory=Counter)  # posts not downloaded: not_modified, skipped
    partners: int = 0
    reads: dict[str, int] = field(default_factory=dict)  # post id -> reads (first listing row)
    unmatched: list[str] = field(default_factory=list)  # extraction failures: "no ... matched ..."

    #: The staged columns that add_listing, add_post and add_failure read.
    LISTING_COLUMNS: ClassVar[tuple[str, ...]] = ("page", "post_id", "reads", "is_notice")
    POST_COLUMNS: ClassVar[tuple[str, ...]] = ("published", "author", "body_text")
    FAILURE_COLUMNS: ClassVar[tuple[str, ...]] = ("stage", "reason", "url")

    @property
    def listing_rows(self) -> int:
        return sum(self.rows_per_page.values())

    def add_listing(self, row: Mapping[str, Any]) -> None:
        self.rows_per_page[row["page"]] += 1
        post_id, reads = row.get("post_id"), row.get("reads")
        if post_id and reads is not None and not row.get("is_notice"):
            self.reads.setdefault(post_id, reads)

    def add_post(self, post: Mapping[str, Any]) -> None:
        self.posts_downloaded += 1
        for name in self.POST_COLUMNS:
            if post.get(name):
                self.posts_with[name] += 1

    def add_failure(self, failure: Mapping[str, Any]) -> None:
        if failure.get("stage") == "extract" and "matched" in (failure.get("reason") or ""):
            self.unmatched.append(f"{failure['url']}: {failure['reason']}")


@dataclass(frozen=True, slots=True)
class MonitorResult:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(
    new: SnapshotSummary,
    previous_rows: int | None,
    previous_reads: Mapping[str, int],
    thresholds: Thresholds,
) -> list[MonitorResult]:
    t = thresholds
    results = []

    pages = sorted(new.rows_per_page)
    thin = [p for p in pages[:-1] if new.rows_per_page[p] < t.min_rows_per_page]
    if not pages:
        results.append(MonitorResult("listing_rows_per_page", False, "no listing rows at all"))
    else:
        results.append(
            MonitorResult(
                "listing_rows_per_page",
                not thin,
                f"pages with fewer than {t.min_rows_per_page} rows: {thin}"
                if thin
                else f"{len(pages)} pages, {min(new.rows_per_page.values())}+ rows each",
            )
        )

    if new.posts_downloaded:
        for name, label in (("published", "date"), ("author", "author"), ("body_text", "body")):
            share = new.posts_with[name] / new.posts_downloaded
            results.append(
                MonitorResult(
                    f"posts_with_{label}",
                    share >= t.min_field_share,
                    f"{share:.1%} of {new.posts_downloaded} downloaded posts "
                    f"(minimum {t.min_field_share:.0%})",
                )
            )
    elif not new.carried:
        results.append(MonitorResult("posts_found", False, "no post downloaded or carried forward"))

    if t.expect_partners:
        results.append(
            MonitorResult(
                "partners_found", new.partners >= t.min_partners, f"{new.partners} (minimum {t.min_partners})"
            )
        )

    fallen = sorted(
        (pid, previous_reads[pid], reads)
        for pid, reads in new.reads.items()
        if pid in previous_reads and reads < previous_reads[pid]
    )
    results.append(
        MonitorResult(
            "reads_never_fall",
            not fallen,
            f"{len(fallen)} posts read fewer times than before, e.g. {fallen[:3]}"
            if fallen
            else f"{len(new.reads)} read counts checked",
        )
    )

    if previous_rows:
        ratio = new.listing_rows / previous_rows
        results.append(
            MonitorResult(
                "row_count_stable",
                ratio >= t.min_row_ratio,
                f"{new.listing_rows} listing rows against {previous_rows} before ({ratio:.0%})",
            )
        )

    results.append(
        MonitorResult(
            "selectors_matched",
            not new.unmatched,
            "; ".join(new.unmatched[:3])
            + (f" (+{len(new.unmatched) - 3} more)" if len(new.unmatched) > 3 else "")
            if new.unmatched
            else "every page matched its selectors",
        )
    )
    return results


def failed(results: Iterable[MonitorResult]) -> list[str]:
    return [r.name for r in results if not r.ok]
