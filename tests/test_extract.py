"""Extractors on saved pages: no server, no Scrapy engine, exact values."""

from __future__ import annotations

import html
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crawler.extract import (
    ExtractionError,
    charset_from_content_type,
    extract_blocks,
    extract_listing,
    extract_partners,
    extract_post,
    parse_html,
)
from crawler.extract.dom import block_text, clean_html
from crawler.profile import load_profile
from tests.conftest import FIXTURES

PAGES = FIXTURES / "seoulsolution"
META = json.loads((PAGES / "pages.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 1, 23, 0, tzinfo=ZoneInfo("Asia/Seoul"))
PROFILE = load_profile("seoulsolution")


def page(name: str):
    return parse_html((PAGES / name).read_bytes(), META[name]["url"], META[name]["charset"])


def listing(name: str, page_number: int = 1):
    return extract_listing(page(name), PROFILE, page=page_number, now=NOW)


def test_seed_rows_of_the_listing() -> None:
    result = listing("listing-page12-seed.html", 13)
    assert len(result.rows) == 21
    notice, *regular = result.rows
    assert notice.is_notice and notice.position == 1 and not any(r.is_notice for r in regular)
    oda = next(r for r in result.rows if r.post_id is None)  # the alias link does not reveal the node id
    assert (
        oda.title_raw == "[News_Seoul's ODA] Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri.."
    )
    assert (oda.category, oda.title, oda.truncated) == (
        "News_Seoul's ODA",
        "Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri",
        True,
    )
    assert (oda.published, oda.published_raw, oda.author, oda.reads, oda.reads_raw) == (
        date(2017, 1, 11),
        "2017-01-11",
        "ssunha",
        11,
        "11 READS",
    )
    assert oda.post_url.startswith("https://www.seoulsolution.kr/en/content/newsseouls-oda-foreign-public")
    assert oda.page == 13 and oda.page_url == META["listing-page12-seed.html"]["url"]
    by_id = {r.post_id: r for r in result.rows}
    cities = by_id["5189"]
    assert (cities.category, cities.title, cities.truncated, cities.reads) == (
        "US_Cities Today",
        "Global Covenant of Mayors leadership team announced",
        False,
        3,
    )
    sharing = by_id["5188"]
    assert sharing.title == "Seoul Opens an Online Platform to Tackle Urban Challenges" and sharing.truncated
    assert by_id["5187"].category == "News_ Seoul's Policy Sharing"  # the odd space is the site's own
    assert result.next_url == "https://www.seoulsolution.kr/ko/policy-news?page=13"


def test_comma_read_counts_and_positions() -> None:
    result = listing("listing-page0.html")
    assert [r.position for r in result.rows] == list(range(1, 22))
    with_comma = [r for r in result.rows if r.reads_raw and "," in r.reads_raw]
    assert with_comma, "the first page has read counts over 1,000"
    for row in with_comma:
        assert row.reads == int(row.reads_raw.split()[0].replace(",", ""))
        assert row.reads > 1000
    assert result.next_url == "https://www.seoulsolution.kr/ko/policy-news?page=1"


def test_last_page_has_no_next_link() -> None:
    assert listing("listing-last.html").next_url is None


def test_euc_kr_listing_without_http_charset_reads_as_hangul() -> None:
    doc = page("listing-page7-euc-kr.html")
    assert doc.encoding in ("cp949", "euc-kr")
    rows = extract_listing(doc, PROFILE, page=8, now=NOW).rows
    korean = [r for r in rows if any("가" <= c <= "힣" for c in r.title)]
    assert korean, "page 7 holds Korean titles"
    assert all("\ufffd" not in r.title_raw for r in rows)
    assert {r.author for r in rows} <= {
        "ssunha",
        "scaadmin",
        "seouladmin",
        "정책아카이브",
        "국제협력과",
        "admin",
    } | {r.author for r in rows if r.author and all("가" <= c <= "힣" for c in r.author)}


def test_listing_without_rows_is_an_extraction_error() -> None:
    doc = parse_html(b"<html><body><p>Maintenance</p></body></html>", "https://x.test/ko/policy-news")
    with pytest.raises(ExtractionError, match=r"no listing rows matched '\.view-content li\.views-row'"):
        extract_listing(doc, PROFILE, page=1, now=NOW)


def test_labels_find_fields_where_selectors_miss(tmp_path: Path) -> None:
    """A board with other markup: only the row and link are configured, the rest is found by its labels."""
    profile_path = tmp_path / "otherboard.toml"
    profile_path.write_text(
        'name = "otherboard"\nbase_url = "https://board.example"\n'
        '[listing]\nstart = "/bbs"\nrow = "table.board tr.item"\ntitle_link = "td.subject a"\n'
        'next_page = "a.next"\n'
        '[post]\nlink_pattern = "wr_id="\nid_from_url = "wr_id=(\\\\d+)"\ntitle = "h1"\nbody = "#content"\n',
        encoding="utf-8",
    )
    profile = load_profile(str(profile_path))
    html = """<html><body><table class="board">
      <tr class="item"><td class="subject">
        <a href="/bbs/board.php?bo_table=news&wr_id=77">【공지】 2026년 정책 브리핑</a></td>
        <td class="info">작성자 : 홍길동 | 작성일 : 26.11.01 | 조회 : 1,234</td></tr>
      <tr class="item"><td class="subject">
        <a href="/bbs/board.php?bo_table=news&wr_id=76">Urban water policy…</a></td>
        <td class="info">Writer scaadmin · Date 2026.10.30 · Hits 12</td></tr>
    </table></body></html>"""
    doc = parse_html(html.encode("utf-8"), "https://board.example/bbs/board.php?bo_table=news")
    first, second = extract_listing(doc, profile, page=1, now=NOW).rows
    assert (first.post_id, first.author, first.published, first.reads) == (
        "77",
        "홍길동",
        date(2026, 11, 1),
        1234,
    )
    assert first.post_url == "https://board.example/bbs/board.php?bo_table=news&wr_id=77"
    assert (second.author, second.published, second.reads) == ("scaadmin", date(2026, 10, 30), 12)
    assert second.truncated is True and second.title == "Urban water policy"


def test_post_reached_by_alias_reads_its_node_id_from_the_shortlink() -> None:
    row = next(r for r in listing("listing-page12-seed.html", 13).rows if r.post_id is None)
    post = extract_post(page("post-oda-alias.html"), PROFILE, now=NOW, listing=row)
    assert post.post_id == "5190"
    assert post.title == (
        "Foreign Public Officials Learn Know-how of ‘Miracle of Han River’ through Seoul Internship Program"
    )
    assert (post.category, post.published, post.author, post.lang) == (
        "News_Seoul's ODA",
        date(2017, 1, 11),
        "ssunha",
        "en",
    )
    assert post.title_matches_listing is True and post.listing_title == row.title_raw
    assert post.body_text.startswith("Foreign Public Officials Learn Know-how of ‘Miracle of Han River’")
    assert "\n\n" in post.body_text  # paragraphs kept
    assert "Since 2008, 168 public officials from 42 cities of 32 developing countries" in post.body_text
    assert len(post.content_hash) == 64


def test_post_with_source_link_attachments_and_list() -> None:
    post = extract_post(page("post-cities-today.html"), PROFILE, now=NOW)
    assert post.post_id == "5189" and post.url == "https://www.seoulsolution.kr/en/content/5189"
    assert post.source_url == "https://citiestoday.com/global-covenant-mayors-leadership-team-announced/"
    assert post.source_text == "See The Original Article(Click Here)"
    assert "Kasim Reed – Mayor of Atlanta\n\nPatricia De Lille – Mayor of Cape Town" in post.body_text
    assert "<ul><li>Park Won Soon" in post.body_html and "class=" not in post.body_html
    assert 'href="https://citiestoday.com/' in post.body_html
    assert post.title_matches_listing is None  # no listing context given


def test_korean_post_with_reads_and_attachments() -> None:
    post = extract_post(page("post-korean.html"), PROFILE, now=NOW)
    assert post.lang == "ko"
    assert post.reads is not None and post.reads_raw is not None
    assert post.attachments
    for attachment in post.attachments:
        assert attachment.url.startswith("https://www.seoulsolution.kr/sites/default/files/")
        assert attachment.size and attachment.size > 0
        assert attachment.mime in (
            "application/pdf",
            "application/x-hwp",
            "application/haansofthwp",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )


@pytest.mark.parametrize("name", ["post-euc-kr.html", "post-lying-header.html"])
def test_posts_in_euc_kr_read_as_hangul(name: str) -> None:
    post = extract_post(page(name), PROFILE, now=NOW)
    assert post.encoding in ("cp949", "euc-kr")
    assert post.lang == "ko"
    assert "\ufffd" not in post.body_text + post.title
    assert any("가" <= c <= "힣" for c in post.title)


def test_a_page_without_title_is_an_extraction_error() -> None:
    doc = parse_html(
        b"<html><body><div class='field-name-body'>x</div></body></html>", "https://x.test/en/content/1"
    )
    with pytest.raises(ExtractionError, match="no post title"):
        extract_post(doc, PROFILE, now=NOW)


def test_partners_of_both_sections() -> None:
    partners = extract_partners(page("front.html"), PROFILE)
    international = [p.name for p in partners if p.section == "international"]
    domestic = [p.name for p in partners if p.section == "domestic"]
    assert international == [
        "CITYNET",
        "ICLEI",
        "UNHABITAT",
        "WEGOV",
        "WORLDBANK",
        "KOICA",
        "KOTRA",
        "서울시청",
        "K-Developedia",
    ]
    assert domestic[:5] == ["Metropolis", "World Cities Summit", "CLC", "해외건설협회", "ADB"]
    assert domestic[-4:] == ["서울시립대", "metta", "국토연구원", "UN SDG 온라인플랫폼"]
    city_hall = partners[7]
    assert (city_hall.alt_raw, city_hall.position, city_hall.link) == (
        "서울시청의 로고",
        8,
        "https://www.seoul.go.kr",
    )
    assert (
        city_hall.logo_url == "https://www.seoulsolution.kr/sites/default/files/partners/seoul-city-hall.png"
    )
    assert [p.position for p in partners if p.section == "domestic"] == list(range(1, len(domestic) + 1))


def test_blocks() -> None:
    blocks = extract_blocks(page("front.html"), PROFILE)
    assert [b.block_id for b in blocks] == ["block-miti", "block-sharing-city", "block-sharing-city-why"]
    miti = blocks[0]
    assert miti.heading == "MITI – Metropolis International Training Institute" and miti.lang == "en"
    assert miti.text.count("\n\n") == 2
    assert blocks[1].heading == "공유도시(Sharing City) 서울은?" and blocks[1].lang == "ko"


def test_text_and_html_helpers() -> None:
    doc = parse_html(
        b"<html><body><div id=b>A<br>B<script>x()</script>"
        b"<p onclick='x'>C <b>D</b></p><!-- c -->E</div></body></html>",
        "https://x.test/p/1",
    )
    body = doc.first("#b")
    assert block_text(body) == "A B\n\nC D\n\nE"
    assert clean_html(body, doc.url) == "A<br>B<p>C <b>D</b></p>E"


def test_clean_html_is_what_lxml_html_gives() -> None:
    """clean_html works on a copy of the plain tree; lxml.html's drop_tree and make_links_absolute on a
    re-parsed copy (the route it replaced, kept for a body with its own <base>) give the same HTML."""
    from crawler.extract.dom import _clean_html_lxml

    doc = parse_html(
        b"<html><body><div id=b>lead<!-- c -->tail <script>x()</script>after script"
        b"<a href=' ../up?q=1#f ' class=k onclick=x>up</a><img src=/i.png alt=i style='x'>"
        b"<a href='https://other.test/abs'>abs</a><a href='#top'>top</a><a href='mailto:a@b.test'>m</a>"
        b"<form action=/f><input name=q></form>after form<iframe src=/x></iframe>"
        b"<p><span>S<style>.x{}</style>T</span>U</p><table><tr><td colspan=2 width=9>c</td></tr></table>"
        b"<a>\xec\x84\x9c\xec\x9a\xb8 &amp; &lt;b&gt;</a></div>"
        b"<div id=based><base href='https://base.test/dir/'><a href=rel>r</a></div></body></html>",
        "https://x.test/en/content/1",
    )
    for el in doc.root.iter("div", "p", "table", "a"):
        assert clean_html(el, doc.url) == _clean_html_lxml(el, doc.url)
    cleaned = clean_html(doc.first("#b"), doc.url)
    assert cleaned.startswith('leadtail after script<a href="https://x.test/en/up?q=1#f%20">up</a>')
    assert '<img src="https://x.test/i.png" alt="i">' in cleaned and "after form" in cleaned
    dropped = ("<script", "<iframe", "<form", "<input", "<style", "class=", "width=", "onclick=", "<!--")
    assert not any(word in cleaned for word in dropped)
    assert "서울 &amp; &lt;b&gt;" in cleaned
    based = clean_html(doc.first("#based"), doc.url)
    assert based == '<a href="https://base.test/dir/rel">r</a>'  # lxml.html applies the <base>


@pytest.mark.parametrize(
    "template",
    ["a{c}b/../c{c}?x{c}#y{c}", "//h{c}st/p", "http://[::1]{c}/", "{c}{c}/x", " h{c}:x ", "x/{c}./"],
)
def test_clean_html_links_with_any_character(template: str) -> None:
    """Links with every ASCII character (controls too) and some others: the same HTML as lxml.html's."""
    from crawler.extract.dom import _clean_html_lxml

    base = "https://x.test/en/content/1?p=2"
    for c in [chr(i) for i in range(1, 0x80)] + ["한", "\xa0", "\u3000", "\u2028", "\ufeff"]:
        link = html.escape(template.format(c=c))
        page = f'<html><body><div id=d><a href="{link}">t</a><img src="{link}"></div></body></html>'
        el = parse_html(page.encode(), base).first("#d")
        try:
            expected = _clean_html_lxml(el, base)
        except ValueError:  # an invalid IPv6 host: urljoin refuses it either way
            with pytest.raises(ValueError):
                clean_html(el, base)
            continue
        assert clean_html(el, base) == expected, repr(c)


@pytest.mark.parametrize(
    ("header", "charset"),
    [
        ("text/html; charset=UTF-8", "UTF-8"),
        (b'text/html;charset="euc-kr"', "euc-kr"),
        ("text/html", None),
        (None, None),
    ],
)
def test_charset_from_content_type(header, charset) -> None:
    assert charset_from_content_type(header) == charset
