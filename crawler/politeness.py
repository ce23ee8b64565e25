"""Scrapy settings that follow from a site profile: polite to real sites, full speed on loopback."""

from __future__ import annotations

import os

from crawler import __version__
from crawler.profile import SiteProfile

#: Floor for real sites, whatever a profile says: one request a second, one at a time.
MIN_DELAY_S = 1.0


def contact_of(contact: str | None = None) -> str | None:
    """Whom the site's operators can reach about this crawl: ``--contact`` or CRAWLER_CONTACT."""
    return contact or os.environ.get("CRAWLER_CONTACT") or None


def user_agent(contact: str | None = None) -> str:
    """An honest User-Agent naming the project and, when configured, whom to contact."""
    contact = contact_of(contact)
    suffix = f"; contact: {contact}" if contact else ""
    return f"policyboard-archiver/{__version__} (archival crawler for policy-news boards{suffix})"


def politeness_settings(profile: SiteProfile, contact: str | None = None) -> dict[str, object]:
    p = profile.politeness
    settings: dict[str, object] = {
        "USER_AGENT": user_agent(contact),
        "ROBOTSTXT_OBEY": p.obey_robots,
        "DOWNLOAD_MAXSIZE": p.download_maxsize,
        "DOWNLOAD_WARNSIZE": p.download_maxsize // 2,
    }
    if profile.is_loopback:
        # The replica on this machine: nobody to be polite to, and tests want speed.
        settings.update(
            {
                "DOWNLOAD_DELAY": 0,
                "AUTOTHROTTLE_ENABLED": False,
                "CONCURRENT_REQUESTS": 16,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
                "RETRY_BACKOFF_BASE": 0.1,
            }
        )
        return settings
    delay = max(MIN_DELAY_S, p.download_delay)
    settings.update(
        {
            "DOWNLOAD_DELAY": delay,
            "RANDOMIZE_DOWNLOAD_DELAY": True,
            "CONCURRENT_REQUESTS_PER_DOMAIN": max(1, min(p.concurrent_requests_per_domain, 2)),
            "AUTOTHROTTLE_ENABLED": p.autothrottle,
            "AUTOTHROTTLE_START_DELAY": delay,
            "AUTOTHROTTLE_MAX_DELAY": 60.0,
            "AUTOTHROTTLE_TARGET_CONCURRENCY": p.autothrottle_target_concurrency,
        }
    )
    return settings
