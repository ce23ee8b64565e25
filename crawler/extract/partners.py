"""Partner logo lists → Partner records (name from the logo's alt text, link, logo URL)."""

from __future__ import annotations

from datetime import datetime

from crawler.extract.dom import Document, inline_text
from crawler.items import Partner
from crawler.normalize import partner_name
from crawler.profile import SiteProfile


def extract_partners(
    doc: Document, profile: SiteProfile, *, fetched_at: datetime | None = None
) -> list[Partner]:
    """Every logo of every partner section of the profile, in page order. Items with neither a logo
    nor a link (a caption inside the carousel) are not partners."""
    if profile.partners is None:
        return []
    partners: list[Partner] = []
    for section in profile.partners.sections:
        position = 0
        for item in doc.select(section.items):
            img = next(item.iter("img"), None)
            link = next((a for a in item.iter("a") if a.get("href")), None)
            if img is None and link is None:
                continue
            alt = (img.get("alt") if img is not None else None) or (
                link.get("title") if link is not None else None
            )
            alt = alt if alt and alt.strip() else inline_text(item)
            name = partner_name(alt)
            if not name:
                continue
            position += 1
            partners.append(
                Partner(
                    section=section.name,
                    position=position,
                    name=name,
                    alt_raw=alt,
                    link=doc.absolute(link.get("href")) if link is not None else None,
                    logo_url=doc.absolute(img.get("src")) if img is not None else None,
                    page_url=doc.url,
                    fetched_at=fetched_at,
                )
            )
    return partners
