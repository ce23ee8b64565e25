from __future__ import annotations

import pytest

from crawler.politeness import MIN_DELAY_S, politeness_settings, user_agent
from crawler.profile import ProfileError, load_profile


def test_bundled_profile_points_at_the_real_site() -> None:
    profile = load_profile("seoulsolution")
    assert profile.base_url == "https://www.seoulsolution.kr"
    assert profile.url(profile.listing.start) == "https://www.seoulsolution.kr/ko/policy-news"
    assert [s.name for s in profile.partners.sections] == ["international", "domestic"]
    assert not profile.is_loopback


def test_base_url_maps_the_same_paths_onto_the_replica() -> None:
    profile = load_profile("seoulsolution").with_base_url("http://127.0.0.1:8123/")
    assert profile.url("/ko/policy-news") == "http://127.0.0.1:8123/ko/policy-news"
    assert profile.is_loopback
    assert profile.listing == load_profile("seoulsolution").listing


def test_real_sites_get_polite_settings_and_loopback_full_speed() -> None:
    profile = load_profile("seoulsolution")
    real = politeness_settings(profile, contact="archive@example.org")
    assert real["ROBOTSTXT_OBEY"] is True
    assert real["DOWNLOAD_DELAY"] >= MIN_DELAY_S
    assert real["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
    assert real["AUTOTHROTTLE_ENABLED"] is True
    assert real["DOWNLOAD_MAXSIZE"] == 16 * 1024 * 1024
    assert "archive@example.org" in real["USER_AGENT"] and "policyboard-archiver/" in real["USER_AGENT"]
    local = politeness_settings(profile.with_base_url("http://127.0.0.1:1"))
    assert local["DOWNLOAD_DELAY"] == 0 and local["CONCURRENT_REQUESTS_PER_DOMAIN"] == 16
    assert local["ROBOTSTXT_OBEY"] is True


def test_user_agent_without_contact_still_names_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRAWLER_CONTACT", raising=False)
    assert user_agent().startswith("policyboard-archiver/0.1.0 (")
    assert "contact" not in user_agent()


def test_unknown_profile_and_bad_base_url_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ProfileError, match=r"no site profile 'nowhere'.*seoulsolution"):
        load_profile("nowhere")
    with pytest.raises(ProfileError, match="absolute http"):
        load_profile("seoulsolution").with_base_url("ftp://example")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Bad Name"\nbase_url = "https://x.test"\n[listing]\n[post]\n')
    with pytest.raises(ProfileError, match="must match"):
        load_profile(str(bad))
