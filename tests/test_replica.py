"""The replica site: deterministic content, seed fidelity, day evolution, and real HTTP behaviour."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from crawler.replica import ReplicaProcess, ReplicaSite, server
from crawler.replica.content import pathauto_slug

REPO = Path(__file__).resolve().parents[1]

# The four rows of the captured seed page, as shown there.
SEED_ROWS = [
    ("5190", "[News_Seoul's ODA] Foreign Public Officials Learn Know-how of ‘Miracle of Han Ri..",
     "2017-01-11", "ssunha", "11 READS"),
    ("5189", "[US_Cities Today] Global Covenant of Mayors leadership team announced",
     "2017-01-13", "ssunha", "3 READS"),
    ("5188", "[News_Policy Sharing] Seoul Opens an Online Platform to Tackle Urban Challenges ..",
     "2017-01-12", "ssunha", "4 READS"),
    ("5187", "[News_ Seoul's Policy Sharing] Seoul Exports Downtown Market Analysis Service to..",
     "2017-01-12", "ssunha", "5 READS"),
]  # fmt: skip
SEED_TITLES = {
    "5190": "Foreign Public Officials Learn Know-how of ‘Miracle of Han River’ "
    "through Seoul Internship Program",
    "5189": "Global Covenant of Mayors leadership team announced",
    "5188": "Seoul Opens an Online Platform to Tackle Urban Challenges with Other Cities",
    "5187": "Seoul Exports Downtown Market Analysis Service to Buenos Aires",
}
ODA_ALIAS = (
    "/en/content/newsseouls-oda-foreign-public-officials-learn-know-how-%E2%80%98miracle-han-river%E2%80%99"
    "-through-seoul"
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(
    base: str, target: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(base + target, headers=headers or {}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def parse(body: bytes, encoding: str = "utf-8") -> lxml_html.HtmlElement:
    return lxml_html.fromstring(body.decode(encoding))


def rows(doc: lxml_html.HtmlElement) -> list[dict[str, str]]:
    out = []
    for li in doc.xpath("//ul[@class='board-list']/li"):

        def field(name: str, li: lxml_html.HtmlElement = li) -> str:
            return li.xpath(f".//div[contains(@class,'views-field-{name}')]//span[@class='field-content']")[
                0
            ].text_content()

        link = li.xpath(".//div[contains(@class,'views-field-title')]//a")[0]
        out.append({
            "title": link.text_content(), "href": link.get("href"), "notice": "notice" in li.get("class"),
            "date": field("created"), "author": field("name"), "reads": field("totalcount"),
        })  # fmt: skip
    return out


@pytest.fixture(scope="module")
def day1_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replica") / "access.log"


@pytest.fixture(scope="module")
def day1(day1_log: Path) -> Iterator[ReplicaProcess]:
    with ReplicaProcess(day=1, access_log=day1_log) as replica:
        yield replica


@pytest.fixture(scope="module")
def day2() -> Iterator[ReplicaProcess]:
    with ReplicaProcess(day=2) as replica:
        yield replica


@pytest.fixture(scope="module")
def site1() -> ReplicaSite:
    return ReplicaSite(1)


def test_same_day_renders_byte_identical_pages() -> None:
    a, b = ReplicaSite(3), ReplicaSite(3)
    assert a.listing_pages() == b.listing_pages() >= 16
    for page in range(a.listing_pages() + 1):
        assert a.render(f"/ko/policy-news?page={page}").body == b.render(f"/ko/policy-news?page={page}").body
    for post in a.posts()[:40]:
        assert a.render(post.path).body == b.render(post.path).body
    assert a.changes() == b.changes() and a.posts() == b.posts()
    # ...and across interpreters with another hash seed: nothing depends on hash() or the clock.
    code = (
        "import hashlib; from crawler.replica import ReplicaSite; s = ReplicaSite(3); "
        "body = b''.join(s.render(f'/ko/policy-news?page={p}').body for p in range(17)); "
        "print(hashlib.sha256(body).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    mine = hashlib.sha256(b"".join(a.render(f"/ko/policy-news?page={p}").body for p in range(17))).hexdigest()
    assert child.stdout.strip() == mine


def test_listing_has_320_posts_on_16_pages_over_http(day1: ReplicaProcess, site1: ReplicaSite) -> None:
    target: str | None = "/ko/policy-news"
    pages: list[list[dict[str, str]]] = []
    while target is not None:
        status, headers, body = fetch(day1.url, target)
        assert status == 200 and headers["content-type"] in ("text/html; charset=utf-8", "text/html")
        encoding = "utf-8" if "charset=utf-8" in headers["content-type"] else "euc-kr"
        doc = parse(body, encoding)
        pages.append(rows(doc))
        nxt = doc.xpath("//ul[@class='pager']/li[contains(@class,'pager-next')]/a/@href")
        target = nxt[0] if nxt else None
    assert len(pages) == site1.listing_pages() == 16
    for page_rows in pages:
        assert page_rows[0]["notice"] and page_rows[0]["title"].startswith("[Notice] ")
        assert not any(r["notice"] for r in page_rows[1:])
    regular = [r for page_rows in pages for r in page_rows[1:]]
    assert [len(p) - 1 for p in pages] == [20] * 16
    assert len(regular) == 320
    truth = site1.posts()
    assert truth[0].notice and [p.path for p in truth[1:]] == [r["href"] for r in regular]
    assert [p.reads for p in truth[1:]] == [
        int(r["reads"].removesuffix(" READS").replace(",", "")) for r in regular
    ]
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+ READS", r["reads"]) for r in regular)  # comma thousands
    assert sum(p.lang == "ko" for p in truth) > 60 and any("…" in p.title for p in truth)
    # Past the end: an empty view, still 200.
    status, _, body = fetch(day1.url, "/ko/policy-news?page=40")
    assert status == 200 and parse(body).xpath("//div[@class='view-empty']") and not rows(parse(body))


def test_seed_rows_and_pages_are_exactly_the_seed(day1: ReplicaProcess, site1: ReplicaSite) -> None:
    listing = [r for page in range(site1.listing_pages()) for r in rows(parse(*_page(day1, page)))[1:]]
    titles = [r["title"] for r in listing]
    start = titles.index(SEED_ROWS[0][1])
    for offset, (nid, title, day, writer, reads) in enumerate(SEED_ROWS):
        row = listing[start + offset]
        assert (row["title"], row["date"], row["author"], row["reads"]) == (title, day, writer, reads)
        assert row["href"] == (ODA_ALIAS if nid == "5190" else f"/en/content/{nid}")
        status, _, body = fetch(day1.url, row["href"])
        doc = parse(body)
        assert status == 200
        assert doc.xpath("string(//h1[@class='page-title'])") == SEED_TITLES[nid]
        assert doc.xpath("string(//title)") == f"{SEED_TITLES[nid]} | Seoul Solution"
        assert doc.xpath("string(//div[@class='node-meta']//span[@class='date'])") == day
        assert doc.xpath("string(//div[@class='node-meta']//span[@class='writer'])") == writer
        assert doc.xpath("//link[@rel='shortlink']/@href") == [f"/node/{nid}"]
    oda = parse(fetch(day1.url, ODA_ALIAS)[2])
    body = oda.xpath("string(//div[contains(@class,'field-name-body')])")
    assert "Bijay Keshar Khanal from Kathmandu, Nepal said" in body and "OECD DAC" in body
    cities_today = parse(fetch(day1.url, "/en/content/5189")[2])
    source = cities_today.xpath("//a[@class='source-link']")[0]
    assert source.text == "See The Original Article(Click Here)" and source.get("href").startswith("https://")
    assert len(cities_today.xpath("//div[contains(@class,'field-name-body')]//li")) == 9  # the nine mayors
    # The alias is the pathauto slug; the node id path answers too (canonical: the alias); /node/ redirects.
    assert pathauto_slug("News_Seoul's ODA " + SEED_TITLES["5190"]) == ODA_ALIAS.removeprefix("/en/content/")
    status, _, by_nid = fetch(day1.url, "/en/content/5190")
    assert status == 200 and parse(by_nid).xpath("//link[@rel='canonical']/@href") == [ODA_ALIAS]
    status, headers, _ = fetch(day1.url, "/node/5190")
    assert status == 301 and headers["location"] == day1.url + ODA_ALIAS


def _page(replica: ReplicaProcess, page: int) -> tuple[bytes, str]:
    _, headers, body = fetch(replica.url, f"/ko/policy-news?page={page}")
    return body, "utf-8" if "charset=utf-8" in headers["content-type"] else "euc-kr"


def test_footer_partners_and_blocks_match_the_seed(day1: ReplicaProcess, site1: ReplicaSite) -> None:
    doc = parse(fetch(day1.url, "/ko")[2])
    intl = doc.xpath("//div[@id='block-partners-international']//li//img/@alt")
    domestic = doc.xpath("//div[@id='block-partners-domestic']//li//img/@alt")
    assert intl[0] == "CITYNET 로고이미지" and intl[-2:] == ["서울시청의 로고", "K-Developedia 로고 이미지"]
    assert len(intl) == 9 and len(domestic) == 18
    assert domestic[0] == "Metropolis 로고이미지" and domestic[13] == "KOSMIC 로고이미지"
    assert domestic[-4:] == ["서울시립대", "metta", "국토연구원", "UN SDG 온라인플랫폼"]
    assert [p.alt for p in site1.partners()["domestic"]] == domestic
    headings = [h.text_content() for h in doc.xpath("//div[contains(@class,'block-info')]/h2")]
    assert headings == [h for h, _ in site1.blocks()]
    assert headings[0] == "MITI – Metropolis International Training Institute"
    logos = set()
    for partner in site1.partners()["international"][:3]:
        status, headers, png = fetch(day1.url, partner.logo_path)
        assert (
            status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n")
        )
        logos.add(png)
    assert len(logos) == 3
    status, _, robots = fetch(day1.url, "/robots.txt")
    assert status == 200 and b"Disallow: /admin/" in robots and b"Disallow: /user/\n" in robots


def test_reads_never_fall_from_day_1_to_day_5() -> None:
    previous = {p.post_id: p.reads for p in ReplicaSite(1).posts()}
    assert [previous[n] for n in ("5190", "5189", "5188", "5187")] == [11, 3, 4, 5]
    for day in range(2, 6):
        current = {p.post_id: p.reads for p in ReplicaSite(day).posts()}
        for post_id, reads in previous.items():
            if post_id in current:
                assert current[post_id] > reads, (day, post_id)
        previous = current


def test_day2_changes_are_what_the_pages_show(day2: ReplicaProcess, site1: ReplicaSite) -> None:
    site2 = ReplicaSite(2)
    changes = site2.changes()
    assert ReplicaSite(1).changes() == []
    kinds = [c["kind"] for c in changes]
    assert kinds == [
        "post_added",
        "post_added",
        "post_edited",
        "post_removed",
        "partner_added",
        "partner_removed",
    ]
    top = rows(parse(fetch(day2.url, "/ko/policy-news")[2]))
    added = sorted((c["post_id"] for c in changes if c["kind"] == "post_added"), key=int, reverse=True)
    assert [r["href"].rsplit("/", 1)[1] for r in top[1:3]] == added
    assert all(re.fullmatch(r"\d\d:\d\d", r["date"]) for r in top[1:3])  # today's posts: time only
    new_page = parse(fetch(day2.url, top[1]["href"])[2])
    assert re.fullmatch(r"2026-11-02 \d\d:\d\d", new_page.xpath("string(//span[@class='date'])"))
    assert len(site2.posts()) == len(site1.posts()) + 1

    removed = next(c["post_id"] for c in changes if c["kind"] == "post_removed")
    old_path = next(p.path for p in site1.posts() if p.post_id == removed)
    assert fetch(day2.url, old_path)[0] == 404
    assert fetch(day2.url, f"/node/{removed}")[0] == 404
    assert removed not in {p.post_id for p in site2.posts()}

    edit = next(c for c in changes if c["kind"] == "post_edited")
    assert edit["post_id"] not in {"5190", "5189", "5188", "5187"} and "body" in edit["fields"]
    before = next(p for p in site1.posts() if p.post_id == edit["post_id"])
    after = next(p for p in site2.posts() if p.post_id == edit["post_id"])
    assert after.paragraphs != before.paragraphs and after.updated == site2.today
    _, headers, body = fetch(day2.url, after.path)
    text = parse(body).xpath("string(//div[contains(@class,'field-name-body')])")
    assert after.paragraphs[-1] in text and before.paragraphs[-1] in text
    assert headers["last-modified"].startswith("Mon, 02 Nov 2026")

    footer = parse(fetch(day2.url, "/ko")[2])
    for change in changes:
        if change["kind"].startswith("partner_"):
            names = footer.xpath(f"//div[@id='block-partners-{change['section']}']//a/@title")
            assert (change["name"] in names) == (change["kind"] == "partner_added")
            was_there = change["name"] in [p.name for p in site1.partners()[change["section"]]]
            assert was_there == (change["kind"] == "partner_removed")


def test_changes_cli_prints_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crawler.replica", "--day", "3", "--changes"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert json.loads(out.stdout) == ReplicaSite(3).changes()


def test_conditional_requests_and_gzip(day1: ReplicaProcess) -> None:
    status, headers, body = fetch(day1.url, "/ko/policy-news?page=2")
    assert status == 200 and headers["etag"].startswith('"') and "last-modified" in headers
    assert int(headers["content-length"]) == len(body)
    assert fetch(day1.url, "/ko/policy-news?page=2", {"If-None-Match": headers["etag"]})[0] == 304
    assert fetch(day1.url, "/ko/policy-news?page=2", {"If-None-Match": '"other"'})[0] == 200
    assert (
        fetch(day1.url, "/ko/policy-news?page=2", {"If-Modified-Since": headers["last-modified"]})[0] == 304
    )
    old = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert fetch(day1.url, "/ko/policy-news?page=2", {"If-Modified-Since": old})[0] == 200

    status, zheaders, zbody = fetch(day1.url, "/ko/policy-news?page=2", {"Accept-Encoding": "gzip, deflate"})
    assert zheaders["content-encoding"] == "gzip" and zheaders["vary"] == "Accept-Encoding"
    assert gzip.decompress(zbody) == body and len(zbody) < len(body)
    assert zheaders["etag"] != headers["etag"]
    assert (
        fetch(
            day1.url, "/ko/policy-news?page=2", {"Accept-Encoding": "gzip", "If-None-Match": zheaders["etag"]}
        )[0]
        == 304
    )
    assert (
        fetch(day1.url, "/ko/policy-news?page=2", {"Accept-Encoding": "gzip;q=0"})[1].get("content-encoding")
        is None
    )
    status, hheaders, hbody = fetch(day1.url, "/ko/policy-news?page=2", method="HEAD")
    assert status == 200 and hbody == b"" and hheaders["content-length"] == str(len(body))
    assert fetch(day1.url, "/ko/policy-news", method="POST")[0] == 405


def test_euc_kr_listing_and_lying_header(day1: ReplicaProcess, site1: ReplicaSite) -> None:
    status, headers, body = fetch(day1.url, "/ko/policy-news?page=7")
    assert status == 200 and headers["content-type"] == "text/html"  # no charset in the header
    assert b'<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    page_rows = rows(parse(body, "euc-kr"))
    truth = site1.posts()[1 + 7 * 20 : 1 + 8 * 20]
    assert [r["title"] for r in page_rows[1:]] == [p.listing_title for p in truth]
    assert "Île-de-France".encode("ascii", "xmlcharrefreplace") in body  # outside EUC-KR: a reference

    post = next(p for p in site1.posts() if p.post_id == site1.euc_kr_post_id)
    assert post.lang == "ko" and int(post.post_id) < 5000 and post.encoding == "euc-kr"
    assert not any(p.lang == "ko" and int(p.post_id) < 5000 and int(p.post_id) > int(post.post_id)
                   for p in site1.posts())  # fmt: skip
    status, headers, body = fetch(day1.url, post.path)
    assert headers["content-type"] == "text/html" and b"charset=euc-kr" in body
    assert parse(body, "euc-kr").xpath("string(//h1)") == post.title

    lying = next(p for p in site1.posts() if p.post_id == site1.lying_header_post_id)
    status, headers, body = fetch(day1.url, lying.path)
    assert headers["content-type"] == "text/html; charset=iso-8859-1" and b"charset" not in body.lower()
    assert parse(body, "euc-kr").xpath("string(//h1)") == lying.title
    assert fetch(day1.url, "/ko/policy-news?page=6")[1]["content-type"] == "text/html; charset=utf-8"


def test_access_log_has_one_line_per_request(day1: ReplicaProcess, day1_log: Path) -> None:
    before = day1_log.read_text(encoding="utf-8").splitlines()
    targets = ["/ko", "/ko/policy-news?page=1", "/does-not-exist", "/robots.txt"]
    sizes = [len(fetch(day1.url, t)[2]) for t in targets]
    lines = day1_log.read_text(encoding="utf-8").splitlines()[len(before) :]
    assert lines == [f"GET {t} {s} {n}" for t, s, n in zip(targets, [200, 200, 404, 200], sizes, strict=True)]


def test_redesign_markup_drops_the_drupal_view() -> None:
    page = ReplicaSite(1, redesign=True).render("/ko/policy-news?page=1")
    doc = parse(page.body)
    assert doc.xpath("//table[@class='board_list']//tr") and not doc.xpath(
        "//li[contains(@class,'views-row')]"
    )
    assert not doc.xpath("//ul[@class='pager']")


def test_importing_the_replica_installs_no_reactor() -> None:
    # The project CLI imports crawler.replica.server to build its parser, in processes where Scrapy must then
    # install the asyncio reactor: importing must not install the default one.
    code = (
        "import sys, crawler.replica, crawler.replica.server, crawler.replica.cli; "
        "print('twisted.internet.reactor' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert child.stdout.strip() == "False"


def test_prepared_pages_are_kept_within_their_byte_bound(
    site1: ReplicaSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The replica keeps what it rendered and compressed (a crawl of the whole site then costs it only the
    # serving), as gzip alone for compressible pages, and drops the oldest past PREPARED_MAX_BYTES.
    targets = [f"/ko/policy-news?page={n}" for n in range(1, 7)]
    resource = server.ReplicaResource(site1, io.StringIO())
    first = resource._get(targets[0])
    assert first.plain_body is None and first.body == site1.render(targets[0]).body
    assert resource._get(targets[0]) is first  # kept, not prepared again

    monkeypatch.setattr(server, "PREPARED_MAX_BYTES", 3 * first.size)
    for target in targets[1:]:
        resource._get(target)
    kept = list(resource._prepared)
    assert kept == targets[-len(kept) :] and 1 < len(kept) < len(targets)
    assert resource._prepared_bytes == sum(p.size for p in resource._prepared.values())
    assert resource._prepared_bytes <= server.PREPARED_MAX_BYTES
    robots = resource._get("/robots.txt")  # not HTML: kept as it is served
    assert robots.gzip_body is None and robots.body == site1.render("/robots.txt").body
