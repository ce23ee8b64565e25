"""Site profiles: the per-site knowledge (URLs, selectors, label words, politeness) loaded from TOML.

Code stays generic; a new board is a new TOML file. ``with_base_url`` points a profile at another host
(the replica on 127.0.0.1) without touching its paths.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from crawler.monitors import Thresholds

# Read as package resources, not as files next to this module: in a Scrapyd egg they are zip members.
PROFILES_DIR = resources.files("crawler") / "profiles"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ProfileError(ValueError):
    """A profile that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class ListingProfile:
    start: str
    row: str
    title_link: str
    next_page: str
    notice: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostProfile:
    link_pattern: str
    id_from_url: str
    title: str
    body: str
    meta: str | None = None
    category: str | None = None
    id_from_shortlink: str | None = None
    attachments: str | None = None
    source_link_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PartnerSection:
    name: str
    items: str


@dataclass(frozen=True, slots=True)
class PartnersProfile:
    page: str
    sections: tuple[PartnerSection, ...]


@dataclass(frozen=True, slots=True)
class BlocksProfile:
    page: str
    items: str
    heading: str
    body: str


@dataclass(frozen=True, slots=True)
class Politeness:
    obey_robots: bool = True
    download_delay: float = 1.0
    concurrent_requests_per_domain: int = 1
    autothrottle: bool = True
    autothrottle_target_concurrency: float = 1.0
    download_maxsize: int = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SiteProfile:
    name: str
    title: str
    base_url: str
    timezone: str
    listing: ListingProfile
    post: PostProfile
    partners: PartnersProfile | None = None
    blocks: BlocksProfile | None = None
    politeness: Politeness = field(default_factory=Politeness)
    monitors: Thresholds = field(default_factory=Thresholds)

    def url(self, path: str) -> str:
        """An absolute URL on this profile's host."""
        return urljoin(self.base_url + "/", path)

    def with_base_url(self, base_url: str) -> SiteProfile:
        return dataclasses.replace(self, base_url=_check_base_url(base_url))

    @property
    def is_loopback(self) -> bool:
        """True when the target is this machine (the replica): politeness delays are then pointless."""
        host = urlsplit(self.base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(f"base URL must be an absolute http(s) URL, got {base_url!r}")
    return base_url.rstrip("/")


def _section(data: dict, name: str, cls: type, source: str):
    try:
        return cls(**data)
    except TypeError as exc:
        raise ProfileError(f"{source}: section [{name}]: {exc}") from None


def load_profile(name_or_path: str) -> SiteProfile:
    """Load a bundled profile by name (``seoulsolution``) or any profile by its TOML path."""
    path = Path(name_or_path)
    found = PROFILES_DIR / f"{name_or_path}.toml" if not path.suffix else path
    if not found.is_file():
        known = ", ".join(sorted(p.name[:-5] for p in PROFILES_DIR.iterdir() if p.name.endswith(".toml")))
        raise ProfileError(f"no site profile {name_or_path!r} (bundled profiles: {known})")
    source = found.name
    try:
        data = tomllib.loads(found.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    try:
        name = data["name"]
        listing = dict(data["listing"])
        post = dict(data["post"])
    except KeyError as exc:
        raise ProfileError(f"{source}: missing {exc.args[0]!r}") from None
    if not _NAME.match(name):
        raise ProfileError(f"{source}: profile name {name!r} must match {_NAME.pattern}")
    post["source_link_words"] = tuple(post.get("source_link_words", ()))
    partners = None
    if "partners" in data:
        p = dict(data["partners"])
        sections = tuple(_section(s, "partners.sections", PartnerSection, source) for s in p["sections"])
        partners = PartnersProfile(page=p["page"], sections=sections)
    blocks = _section(data["blocks"], "blocks", BlocksProfile, source) if "blocks" in data else None
    return SiteProfile(
        name=name,
        title=data.get("title", name),
        base_url=_check_base_url(data["base_url"]),
        timezone=data.get("timezone", "UTC"),
        listing=_section(listing, "listing", ListingProfile, source),
        post=_section(post, "post", PostProfile, source),
        partners=partners,
        blocks=blocks,
        politeness=_section(data.get("politeness", {}), "politeness", Politeness, source),
        monitors=_section(
            {"expect_partners": partners is not None, **data.get("monitors", {})},
            "monitors",
            Thresholds,
            source,
        ),
    )
