"""The replica's corpus: the seed's four posts plus generated posts, and how the board evolves day by day.

Everything here is pure and deterministic: every random choice comes from a ``random.Random`` seeded with a
string (string seeds are hashed with SHA-512, so they do not depend on ``PYTHONHASHSEED``), never from the
clock or ``hash()``. The same ``(posts, day)`` always yields the same corpus.
"""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from importlib import resources
from typing import Any
from urllib.parse import quote

KST = timezone(timedelta(hours=9), "KST")  # Asia/Seoul has had no DST since 1988: a fixed offset is exact
DAY1 = date(2026, 11, 1)
ROWS_PER_PAGE = 20
SEED_NIDS = (5190, 5189, 5188, 5187)
NOTICE_NID = 9700
EUC_KR_LISTING_PAGE = 7
SECTIONS = ("international", "domestic")
PARTNER_LOGO_DIR = "/sites/default/files/partners"

# A block of a post body: ("strong", text) | ("p", text) | ("caption", text) | ("ul", (item, ...))
# | ("img", src, alt) | ("source", href, label).
Block = tuple[Any, ...]
Attachment = tuple[str, str, int, str]  # (name, URL path, size in bytes, MIME type)


@dataclass(frozen=True)
class ReplicaPost:
    """Ground truth for one post as the site shows it on the replica's current day."""

    post_id: str
    path: str  # what the listing links to: /en/content/<nid>, /ko/content/<nid> or a percent-encoded alias
    lang: str
    category: str | None
    title: str
    published: date
    published_time: time | None
    author: str
    reads: int
    paragraphs: list[
        str
    ]  # every text block of the body in order (p, bold lead, caption, each <li>, source link)
    attachments: list[Attachment]
    source_url: str | None
    encoding: str  # encoding of the post page's bytes: "utf-8" or "euc-kr"
    notice: bool
    updated: date | None = None  # last edit day (drives Last-Modified), None if never edited
    alias: str | None = None  # percent-encoded alias path when the post has one (then path == alias)

    @property
    def node_path(self) -> str:
        return f"/{self.lang}/content/{self.post_id}"

    @property
    def listing_title(self) -> str:
        return listing_title(self.category, self.title)


@dataclass(frozen=True)
class ReplicaPartner:
    name: str  # the link's title attribute
    alt: str  # the logo's alt text, as the site writes it
    link: str
    logo_path: str


@dataclass
class _Post:
    """Mutable working copy of a post while the days are applied."""

    nid: int
    lang: str
    category: str | None
    title: str
    published: date
    published_time: time | None
    author: str
    reads: int
    blocks: list[Block]
    attachments: list[Attachment] = field(default_factory=list)
    notice: bool = False
    alias: str | None = None
    updated: date | None = None
    updated_time: time | None = None
    protected: bool = False  # never edited or deleted: seeds, notice, encoding fixtures, aliased posts
    title_edited: bool = False
    encoding: str = "utf-8"

    @property
    def node_path(self) -> str:
        return f"/{self.lang}/content/{self.nid}"

    @property
    def path(self) -> str:
        return self.alias or self.node_path

    @property
    def source_url(self) -> str | None:
        return next((b[1] for b in self.blocks if b[0] == "source"), None)

    def last_modified(self) -> datetime:
        if self.updated is not None:
            return datetime.combine(self.updated, self.updated_time or time(0, 0), KST)
        return datetime.combine(self.published, self.published_time or time(0, 0), KST)

    def export(self) -> ReplicaPost:
        return ReplicaPost(
            post_id=str(self.nid),
            path=self.path,
            lang=self.lang,
            category=self.category,
            title=self.title,
            published=self.published,
            published_time=self.published_time,
            author=self.author,
            reads=self.reads,
            paragraphs=paragraphs(self.blocks),
            attachments=list(self.attachments),
            source_url=self.source_url,
            encoding=self.encoding,
            notice=self.notice,
            updated=self.updated,
            alias=self.alias,
        )


# ---------------------------------------------------------------------------------------------------------
# Small text helpers shared with the renderer


def listing_title(category: str | None, title: str) -> str:
    """The listing shows ``[CATEGORY] TITLE`` cut to 80 characters plus ``..`` (reproduces the seed)."""
    text = f"[{category}] {title}" if category else title
    return text[:80] + ".." if len(text) > 80 else text


def paragraphs(blocks: list[Block]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "ul":
            out.extend(block[1])
        elif kind in ("p", "strong", "caption"):
            out.append(block[1])
        elif kind == "source":
            out.append(block[2])
    return out


def excerpt(blocks: list[Block], limit: int = 200) -> str:
    """The listing's teaser: the body's text cut at a word boundary near ``limit`` characters."""
    text = " ".join(paragraphs(blocks))
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" .,;:") + "…"


# Drupal pathauto's default "strings to remove".
_IGNORE_WORDS = frozenset(
    [
        "a",
        "an",
        "as",
        "at",
        "before",
        "but",
        "by",
        "for",
        "from",
        "is",
        "in",
        "into",
        "like",
        "of",
        "off",
        "on",
        "onto",
        "per",
        "since",
        "than",
        "the",
        "this",
        "that",
        "to",
        "up",
        "via",
        "with",
    ]
)


def pathauto_slug(text: str, max_bytes: int = 100) -> str:
    """Drupal-pathauto-like alias: lower-case, ASCII punctuation dropped, ignore-words removed, words
    joined by ``-``, cut at a word boundary to ``max_bytes`` UTF-8 bytes, then percent-encoded.

    Cutting on bytes rather than characters is what yields the real site's alias of the seed's ODA post
    (``…through-seoul``: the two typographic quotes count three bytes each).
    """
    text = unicodedata.normalize("NFC", text.lower())
    text = re.sub(r"[!-,./:-@\[-`{-~]", "", text.replace("-", " "))  # ASCII punctuation; '-' split into words
    words = [w for w in text.split() if w not in _IGNORE_WORDS]
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate.encode("utf-8")) > max_bytes:
            break
        slug = candidate
    return quote(slug, safe="-")


# ---------------------------------------------------------------------------------------------------------
# Partners and blocks of the seed page


def _partner(name: str, alt: str, link: str, slug: str) -> ReplicaPartner:
    return ReplicaPartner(name=name, alt=alt, link=link, logo_path=f"{PARTNER_LOGO_DIR}/{slug}.png")


SEED_PARTNERS: dict[str, tuple[ReplicaPartner, ...]] = {
    "international": (
        _partner("CITYNET", "CITYNET 로고이미지", "https://citynet-ap.org", "citynet"),
        _partner("ICLEI", "ICLEI 로고이미지", "https://iclei.org", "iclei"),
        _partner("UNHABITAT", "UNHABITAT 로고이미지", "https://unhabitat.org", "unhabitat"),
        _partner("WEGOV", "WEGOV 로고이미지", "https://we-gov.org", "wegov"),
        _partner("WORLDBANK", "WORLDBANK 로고이미지", "https://www.worldbank.org", "worldbank"),
        _partner("KOICA", "KOICA 로고이미지", "https://www.koica.go.kr", "koica"),
        _partner("KOTRA", "KOTRA 로고이미지", "https://www.kotra.or.kr", "kotra"),
        _partner("서울시청", "서울시청의 로고", "https://www.seoul.go.kr", "seoul-city-hall"),
        _partner(
            "K-Developedia", "K-Developedia 로고 이미지", "https://www.kdevelopedia.org", "k-developedia"
        ),
    ),
    "domestic": (
        _partner("Metropolis", "Metropolis 로고이미지", "https://www.metropolis.org", "metropolis"),
        _partner(
            "World Cities Summit",
            "World Cities Summit 로고이미지",
            "https://www.worldcitiessummit.com.sg",
            "world-cities-summit",
        ),
        _partner("CLC", "CLC 로고이미지", "https://www.clc.gov.sg", "clc"),
        _partner("해외건설협회", "해외건설협회 로고이미지", "https://www.icak.or.kr", "icak"),
        _partner("ADB", "ADB 로고이미지", "https://www.adb.org", "adb"),
        _partner("기재부", "기재부 로고이미지", "https://www.moef.go.kr", "moef"),
        _partner("외교부", "외교부 로고이미지", "https://www.mofa.go.kr", "mofa"),
        _partner("수출입은행", "수출입은행 로고이미지", "https://www.koreaexim.go.kr", "koreaexim"),
        _partner("금융투자협회", "금융투자협회 로고이미지", "https://www.kofia.or.kr", "kofia"),
        _partner("KDI", "KDI 로고이미지", "https://www.kdi.re.kr", "kdi"),
        _partner("대한상공회의소", "대한상공회의소 로고이미지", "https://www.korcham.net", "korcham"),
        _partner("중소기업중앙회", "중소기업중앙회 로고이미지", "https://www.kbiz.or.kr", "kbiz"),
        _partner("대한국토", "대한국토 로고이미지", "https://www.kpa1959.or.kr", "kpa"),
        _partner("KOSMIC", "KOSMIC 로고이미지", "https://www.kosmic.or.kr", "kosmic"),
        _partner("서울시립대", "서울시립대", "https://www.uos.ac.kr", "uos"),
        _partner("metta", "metta", "https://www.metta.or.kr", "metta"),
        _partner("국토연구원", "국토연구원", "https://www.krihs.re.kr", "krihs"),
        _partner(
            "UN SDG 온라인플랫폼",
            "UN SDG 온라인플랫폼",
            "https://www.urbansdgplatform.org",
            "urban-sdg-platform",
        ),
    ),
}

# Partners that later days add, in order (the alt texts use the site's four spellings).
PARTNER_POOL: tuple[ReplicaPartner, ...] = (
    _partner("UCLG", "UCLG 로고이미지", "https://www.uclg.org", "uclg"),
    _partner("C40", "C40 로고이미지", "https://www.c40.org", "c40"),
    _partner("UNESCAP", "UNESCAP의 로고", "https://www.unescap.org", "unescap"),
    _partner("서울연구원", "서울연구원 로고 이미지", "https://www.si.re.kr", "seoul-institute"),
    _partner("OECD", "OECD 로고이미지", "https://www.oecd.org", "oecd"),
    _partner("GGGI", "GGGI 로고 이미지", "https://gggi.org", "gggi"),
    _partner("서울주택도시공사", "서울주택도시공사의 로고", "https://www.i-sh.co.kr", "sh"),
    _partner("UNDP", "UNDP 로고이미지", "https://www.undp.org", "undp"),
    _partner(
        "서울디지털재단", "서울디지털재단 로고이미지", "https://sdf.seoul.kr", "seoul-digital-foundation"
    ),
    _partner("AfDB", "AfDB 로고이미지", "https://www.afdb.org", "afdb"),
    _partner("한국교통연구원", "한국교통연구원 로고 이미지", "https://www.koti.re.kr", "koti"),
    _partner("IDB", "IDB 로고이미지", "https://www.iadb.org", "idb"),
    _partner("서울교통공사", "서울교통공사의 로고", "https://www.seoulmetro.co.kr", "seoul-metro"),
    _partner("UNOSD", "UNOSD 로고이미지", "https://unosd.un.org", "unosd"),
    _partner("한국환경연구원", "한국환경연구원", "https://www.kei.re.kr", "kei"),
    _partner("WeGO", "WeGO 로고이미지", "https://we-gov.org/wego", "wego"),
)

SEED_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "MITI – Metropolis International Training Institute",
        (
            "The main mission of the Metropolis International Training Institute (MITI) is to strengthen the "
            "institutional and professional capacities of local and "
            "metropolitan authorities and their leaders "
            "for better public governance.",
            "The Metropolis International Training Institute (MITI) is the training and learning center of "
            "Metropolis, established in 1996.Today, MITI counts on headquarters located in Seoul, and four "
            "regional centers: Cairo, Mashhad, Mexico City and Paris "
            "(Île-de-France). Formerly located in Montreal, "
            "the headquarters have been transferred to Seoul after a "
            "decision taken at the Metropolis Board of "
            "Directors’ meeting in Guangzhou, in 2012.",
            "With its relaunch in Seoul, MITI enters a new era of knowledge dissemination, with the boosted "
            "activation of its regional centers. MITI will spare no "
            "efforts to operate training programs in line "
            "with other Metropolis activities, for all members of the "
            "Association, and also for its institutional "
            "partners and affiliated cities.",
        ),
    ),
    (
        "공유도시(Sharing City) 서울은?",
        (
            "시간, 공간, 재능, 물건, 정보 등 누구나 소유하고 있는 것을 함께 "
            "나누어 활용함으로써 쓰지 않고 놀리는 "
            "자원을 효율적으로 활용하고, 지역경제를 활성화하며, 이웃과 공동체 "
            "의식도 형성하고, 환경에도 이로운 "
            "활동인 '공유'가 활성화된 도시입니다.",
        ),
    ),
    (
        "'공유도시 서울' 정책을 추진하게 된 이유는?",
        (
            "복지, 환경, 일자리 등에서 사회적 수요는 급증하고 있으나 한정된 "
            "예산과 자원으로 이를 해결하는데 많은 "
            "어려움이 있습니다. 또한 급격한 도시화로 공동체 의식이 실종되었고, "
            "과잉소비에 따른 자원고갈과 환경오염 "
            "문제가 지속적으로 발생하고 있습니다.",
            "이러한 해결이 어려운 도시의 경제적, 사회적, 환경적 문제들을 "
            "'공유'라는 새로운 방법을 통해 완화시켜 "
            "나가고자 합니다.",
        ),
    ),
)


def all_partners() -> list[ReplicaPartner]:
    """Every partner the replica can ever show (their logos are always served, like static files)."""
    return [*SEED_PARTNERS["international"], *SEED_PARTNERS["domestic"], *PARTNER_POOL]


# ---------------------------------------------------------------------------------------------------------
# Word lists for generated posts

EN_CATEGORIES = (
    ("News_Seoul's ODA", 4),
    ("US_Cities Today", 3),
    ("News_Policy Sharing", 4),
    ("News_ Seoul's Policy Sharing", 3),
    ("Urban Planning", 3),
    ("Transportation", 3),
)
KO_CATEGORIES = (
    ("환경", 3),
    ("도시재생", 3),
    ("스마트시티", 3),
    ("Urban Planning", 1),
    ("Transportation", 1),
)

POLICIES = (
    "Transport Operation & Information Service (TOPIS)",
    "Public Bike-Sharing System Ttareungyi",
    "Smart Water Metering",
    "Owl Bus Night Network",
    "Sharing City Program",
    "Cheonggyecheon Restoration Model",
    "Public Wi-Fi Network",
    "Resource Recovery Facility",
    "Urban Regeneration Plan",
    "Big Data Campus",
    "e-Government System",
    "Integrated Bus Fare System",
    "Air Quality Monitoring Network",
    "Smart Pole Program",
    "Flood Prevention Tunnel",
    "Affordable Housing Scheme",
    "Democracy Seoul Participation Platform",
    "Metro Platform Screen Doors",
    "LED Streetlight Retrofit",
    "Food Waste Separation Program",
    "Bus Rapid Transit Corridors",
    "Citizens' Health Program",
    "Water Supply Management System",
)
CITIES = (
    "Ulaanbaatar",
    "Hanoi",
    "Jakarta",
    "Kathmandu",
    "Lima",
    "Quito",
    "Nairobi",
    "Addis Ababa",
    "Tbilisi",
    "Almaty",
    "Manila",
    "Bangkok",
    "Kuala Lumpur",
    "Bogotá",
    "Buenos Aires",
    "Cairo",
    "Yangon",
    "Phnom Penh",
    "Vientiane",
    "Tashkent",
    "Dhaka",
    "Colombo",
    "Accra",
    "Kigali",
    "São Paulo",
    "Medellín",
)
REGIONS = ("Asia-Pacific", "Latin America", "Africa", "Central Asia", "Southeast Asia", "the Middle East")
AWARDS = (
    "the UN Public Service Award",
    "the Lee Kuan Yew World City Prize Special Mention",
    "the Guangzhou International Award for Urban Innovation",
    "a World Smart City Award",
    "the Metropolis Award",
    "the UN-Habitat Scroll of Honour",
)
FACILITIES = (
    "Seoul TOPIS Center",
    "Mapo Resource Recovery Facility",
    "Cheonggyecheon Museum",
    "Seoul Big Data Campus",
    "Seoul Bus Transfer Center",
    "Seoul Global Center",
    "Seoul Urban Solutions Agency",
    "Seoullo 7017",
    "Guui Water Purification Center",
    "Seoul Innovation Park",
)
EN_TITLE_TEMPLATES = (
    "Seoul Shares Its {policy} with {city}",
    "{city} Delegation Visits Seoul to Learn About the {policy}",
    "Seoul Metropolitan Government Signs MOU with {city} on {policy}",
    "{year} Seoul Policy Tour: {policy} Introduced to {n} Foreign Officials",
    "Seoul's {policy} Wins {award}",
    "Seoul to Export Its {policy} to {city}",
    "How Seoul Cut Commuting Times by {pct}% Through Its {policy}",
    "Mayors of {region} Gather in Seoul to Discuss the {policy}",
    "Seoul Launches {policy} Pilot in {district}",
    "{city} Adopts Seoul's {policy} Model",
    "Case Study: {policy}",
    "Seoul and {city} Agree to Cooperate on {policy}",
)
DISTRICTS = ("Mapo-gu", "Seongdong-gu", "Gangnam-gu", "Jongno-gu", "Eunpyeong-gu", "Nowon-gu", "Gwanak-gu")
EN_LEADS = (
    "Key facts",
    "Background",
    "Main programme",
    "Expected effects",
    "Next steps",
    "Overview of the cooperation",
)
EN_SENTENCES = (
    "The Seoul Metropolitan Government (SMG) announced on {md} that it will share its {policy} with {city}.",
    "The programme is part of Seoul's effort to share its urban policy experience with cities in {region}.",
    "A delegation of {n} officials from {city} visited the "
    "{facility} and met officials of the city government.",
    "Since {year0}, Seoul has shared {n2} policies with {n3} cities in {n4} countries.",
    "The project will be funded by {funder} with a budget of {money}.",
    "Participants will take part in lectures, site visits and workshops over {n5} days.",
    "The city expects the cooperation to reduce trial and error and shorten the implementation period.",
    "Officials from {city} said the {policy} could be adapted to the conditions of their own city.",
    "The consulting will be led by the Seoul Urban Solutions Agency together with private partners.",
    "Seoul will also introduce related policies such as the {policy2} to the visiting delegation.",
    "According to the city, more than {n6} citizens use the service every day.",
    "The agreement covers feasibility studies, capacity building and the exchange of experts.",
    "The city plans to publish the results of the project in an English casebook next year.",
)
EN_QUOTES = (
    "Seoul's experience can help cities facing the same problems we once faced",
    "We will systematize our knowledge so that partner cities can apply it in practice",
    "This cooperation is a starting point for a long-term partnership between our cities",
    "Sharing policies is the fastest way to solve common urban problems",
)
PERSONS = (
    ("Lee Hoeseung", "officer of the International Cooperation Bureau"),
    ("Kim Ji-young", "Director of the Urban Planning Bureau"),
    ("Park Min-soo", "Director General of the Transportation Headquarters"),
    ("Choi Eun-hee", "head of the Policy Export Team"),
)
FUNDERS = ("the Seoul Metropolitan Government", "the World Bank", "the Asian Development Bank", "KOICA")

KO_TOPICS = (
    "스마트도시",
    "대중교통",
    "도시재생",
    "상수도",
    "폐기물 관리",
    "전자정부",
    "공유경제",
    "대기질 개선",
    "교통정보 시스템(TOPIS)",
    "공공자전거",
    "기후변화 대응",
    "도시계획",
    "빅데이터",
    "주거복지",
    "재난안전",
)
KO_CITIES = (
    "울란바토르",
    "하노이",
    "자카르타",
    "카트만두",
    "리마",
    "키토",
    "나이로비",
    "아디스아바바",
    "트빌리시",
    "알마티",
    "마닐라",
    "방콕",
    "쿠알라룸푸르",
    "보고타",
    "부에노스아이레스",
    "카이로",
    "양곤",
    "프놈펜",
)
KO_ORGS = ("UN-Habitat", "메트로폴리스", "ICLEI", "세계은행", "아시아개발은행", "CITYNET", "UCLG")
KO_TITLE_TEMPLATES = (
    "서울시, {year} {topic} 정책 해외 공유 확대",
    "{city} 대표단, 서울 {topic} 정책 벤치마킹 방문",
    "서울시-{city}, {topic} 분야 협력 업무협약 체결",
    "서울시 {topic} 우수사례, {org} 국제회의서 소개",
    "서울시, {city}에 {topic} 시스템 수출 계약",
    "{topic} 분야 서울 정책 자문단 {city} 파견",
    "{year}년 서울정책 해외연수 프로그램 운영, {n}개 도시 공무원 참여",
    "서울시 {topic} 정책, {org} 우수정책으로 선정",
)
KO_SENTENCES = (
    "서울시는 {city_wa} {topic} 분야 협력을 강화하기 위해 {md} 업무협약을 체결했다고 밝혔다.",
    "이번 사업은 서울시의 우수 정책을 개발도상국 도시와 공유하기 위해 추진됐다.",
    "{city} 공무원 {n}명은 서울교통정보센터(TOPIS)와 마포자원회수시설 등을 방문해 운영 현황을 살펴봤다.",
    "서울시는 {year0}년부터 현재까지 {n2}개 도시에 {n3}건의 정책을 전수했다.",
    "사업비는 총 {money}이며 {funder_i} 지원한다.",
    "참가자들은 {n5}일 동안 강의와 현장 방문, 워크숍에 참여하게 된다.",
    "시는 이번 협력으로 시행착오를 줄이고 사업 기간을 단축할 수 있을 것으로 기대하고 있다.",
    "{city} 측은 서울의 {topic} 정책을 현지 여건에 맞게 도입하겠다고 밝혔다.",
    "자문은 서울도시솔루션공사와 민간 기업이 함께 맡는다.",
    "하루 평균 {n6}명 이상의 시민이 해당 서비스를 이용하고 있다.",
    "시는 사업 결과를 정리한 정책 사례집을 내년에 영문으로 발간할 계획이다.",
)
KO_LEADS = ("주요 내용", "추진 배경", "기대 효과", "향후 계획", "협력 개요")
KO_QUOTES = (
    "서울의 경험이 같은 문제를 겪는 도시들에 실질적인 도움이 되기를 바란다",
    "도시 간 정책 공유는 공통의 도시 문제를 해결하는 가장 빠른 길",
    "이번 협력을 계기로 두 도시의 장기적인 동반자 관계를 이어가겠다",
)
KO_PERSONS = (("김지영", "도시계획국장"), ("박민수", "국제협력과장"), ("최은희", "정책수출팀장"))
KO_FUNDERS = ("서울시", "세계은행", "아시아개발은행", "한국국제협력단(KOICA)")
EN_SOURCES = (
    "https://citiestoday.com/{slug}/",
    "https://www.koreaherald.com/view.php?ud={num}",
    "https://www.koreatimes.co.kr/www/nation/{num}.html",
    "https://www.smartcitiesworld.net/news/{slug}",
)
KO_SOURCES = (
    "https://www.yna.co.kr/view/AKR{num}",
    "https://news.seoul.go.kr/gov/archives/{num}",
    "https://www.hani.co.kr/arti/area/capital/{num}.html",
)
ATTACH_TYPES = (
    ("pdf", "application/pdf"),
    ("hwp", "application/x-hwp"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)
EN_ATTACH_STEMS = ("Casebook", "Project_Overview", "Press_Release", "Program_Schedule", "Final_Report")
KO_ATTACH_STEMS = ("사업개요", "보도자료", "결과보고서", "연수일정", "붙임_세부내용")

# The one title with an ellipsis in the middle (a stylistic "…", not a truncation).
ELLIPSIS_TITLE = (
    "Seoul's Smart Poles… Streetlights That Also Count Traffic, Measure Fine Dust and Offer Free Wi-Fi"
)
NOTICE = {
    "title": "How to Search the Seoul Policy Archive and Request Policy Materials",
    "category": "Notice",
    "published": date(2022, 3, 2),
    "author": "seouladmin",
    "reads": 18342,
    "blocks": [
        ("strong", "Welcome to the Seoul Policy Archive (Seoul Solution)."),
        (
            "p",
            "The archive collects Seoul's urban policies, case studies and news about policy sharing with "
            "cities around the world. Use the search box or browse the policy news board by category.",
        ),
        (
            "ul",
            (
                "Policy news: updates on Seoul's international cooperation and ODA projects.",
                "Case studies: detailed descriptions of Seoul's policies in English and Korean.",
                "Requests: officials of partner cities can ask for materials and consulting.",
            ),
        ),
        ("p", "For questions about the archive, please contact the Seoul Urban Solutions Agency."),
    ],
}


# ---------------------------------------------------------------------------------------------------------
# Generation


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    names = [o[0] for o in options]
    return rng.choices(names, weights=[o[1] for o in options])[0]


def _reads(rng: random.Random) -> int:
    if rng.random() < 0.03:
        return 0
    # Log-uniform up to ~25,000: about a third of the posts are over 1,000 reads.
    return int(math.exp(rng.uniform(0.0, math.log(25_000))))


def _author(rng: random.Random, year: int) -> str:
    if year <= 2018:
        return rng.choice(("ssunha", "ssunha", "seouladmin"))
    if year <= 2022:
        return rng.choice(("scaadmin", "scaadmin", "seouladmin", "정책아카이브"))
    return rng.choice(("scaadmin", "정책아카이브", "sharinghub", "seouladmin"))


def _fill(template: str, rng: random.Random, published: date) -> str:
    policy, policy2 = rng.sample(POLICIES, 2)
    values = {
        "policy": policy,
        "policy2": policy2,
        "city": rng.choice(CITIES),
        "region": rng.choice(REGIONS),
        "award": rng.choice(AWARDS),
        "district": rng.choice(DISTRICTS),
        "facility": rng.choice(FACILITIES),
        "year": published.year,
        "year0": rng.randint(2006, max(2006, published.year - 1)),
        "n": rng.randint(5, 40),
        "n2": rng.randint(20, 120),
        "n3": rng.randint(10, 60),
        "n4": rng.randint(8, 40),
        "n5": rng.randint(3, 20),
        "n6": f"{rng.randint(2, 900) * 1000:,}",
        "pct": rng.randint(8, 35),
        "md": f"{published:%B} {published.day}",
        "funder": rng.choice(FUNDERS),
        "money": f"{rng.randint(2, 90) * 100:,} million won",
    }
    return template.format(**values)


def _has_final_consonant(word: str) -> bool:
    """Whether the last Hangul syllable of ``word`` ends in a consonant (batchim): it picks the particle."""
    for ch in reversed(word):
        if "가" <= ch <= "힣":
            return (ord(ch) - 0xAC00) % 28 != 0
    return False


def _fill_ko(template: str, rng: random.Random, published: date) -> str:
    city, funder = rng.choice(KO_CITIES), rng.choice(KO_FUNDERS)
    values = {
        "topic": rng.choice(KO_TOPICS),
        "city": city,
        "org": rng.choice(KO_ORGS),
        "city_wa": city + ("과" if _has_final_consonant(city) else "와"),
        "funder_i": funder + ("이" if _has_final_consonant(funder) else "가"),
        "year": published.year,
        "year0": rng.randint(2006, max(2006, published.year - 1)),
        "n": rng.randint(5, 40),
        "n2": rng.randint(20, 120),
        "n3": rng.randint(30, 150),
        "n5": rng.randint(3, 20),
        "n6": f"{rng.randint(2, 900) * 1000:,}",
        "md": f"{published.month}월 {published.day}일",
        "money": f"{rng.randint(2, 90)}억 원",
    }
    return template.format(**values)


def _title(rng: random.Random, lang: str, published: date, used: set[str]) -> str:
    title = ""
    for _ in range(100):
        if lang == "en":
            title = _fill(rng.choice(EN_TITLE_TEMPLATES), rng, published)
        else:
            title = _fill_ko(rng.choice(KO_TITLE_TEMPLATES), rng, published)
        if 20 <= len(title) <= 120 and title not in used:
            used.add(title)
            return title
    # Large corpora (benchmarks) exhaust the templates: number the repeat, as boards do with a series.
    base = title[:110]
    for n in range(2, 10_000):
        numbered = f"{base} ({n})" if lang == "en" else f"{base} ({n}차)"
        if numbered not in used:
            used.add(numbered)
            return numbered
    raise RuntimeError("could not generate a unique title")  # pragma: no cover


def _body(rng: random.Random, lang: str, nid: int, published: date) -> list[Block]:
    en = lang == "en"
    sentences, leads = (EN_SENTENCES, EN_LEADS) if en else (KO_SENTENCES, KO_LEADS)
    fill = _fill if en else _fill_ko
    blocks: list[Block] = []
    count = rng.randint(3, 8)
    for i in range(count):
        if i > 0 and rng.random() < 0.25:
            blocks.append(("strong", rng.choice(leads)))
        text = " ".join(fill(s, rng, published) for s in rng.sample(sentences, rng.randint(2, 4)))
        blocks.append(("p", text))
        if rng.random() < 0.15:
            if en:
                name, position = rng.choice(PERSONS)
                blocks.append(("p", f"“{rng.choice(EN_QUOTES)},” said {name}, {position} of Seoul."))
            else:
                name, position = rng.choice(KO_PERSONS)
                blocks.append(("p", f"{name} 서울시 {position}은 “{rng.choice(KO_QUOTES)}”라고 말했다."))
    if rng.random() < 0.3:
        if en:
            items = (
                f"Period: {published:%B %Y}",
                f"Participants: {rng.randint(5, 40)} officials from {rng.choice(CITIES)}",
                f"Venue: {rng.choice(FACILITIES)}",
                "Programme: lectures, field trips and consulting",
            )
        else:
            items = (
                f"기간: {published.year}년 {published.month}월",
                f"대상: {rng.choice(KO_CITIES)} 공무원 {rng.randint(5, 40)}명",
                "장소: 서울시청 및 현장",
                "내용: 강의, 현장 방문, 정책 자문",
            )
        blocks.insert(rng.randint(1, len(blocks)), ("ul", items[: rng.randint(2, 4)]))
    if rng.random() < 0.15:
        alt = f"{rng.choice(POLICIES)} site visit" if en else f"{rng.choice(KO_TOPICS)} 현장 방문"
        src = f"/sites/default/files/inline/{published:%Y-%m}/{nid}_{rng.randint(1, 9)}.jpg"
        blocks.insert(rng.randint(1, len(blocks)), ("img", src, alt))
    return blocks


def _source(rng: random.Random, lang: str, title: str) -> Block:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "article"
    num = str(rng.randint(10_000_000, 99_999_999))
    if lang == "en":
        return (
            "source",
            rng.choice(EN_SOURCES).format(slug=slug, num=num),
            "See The Original Article(Click Here)",
        )
    return ("source", rng.choice(KO_SOURCES).format(slug=slug, num=num), "기사 원문 보기")


def _attachment(rng: random.Random, lang: str, published: date, suffix: str = "") -> Attachment:
    ext, mime = rng.choice(ATTACH_TYPES)
    stem = rng.choice(EN_ATTACH_STEMS if lang == "en" else KO_ATTACH_STEMS)
    name = f"{stem}_{published.year}{suffix}.{ext}"
    return (
        name,
        f"/sites/default/files/attach/{published:%Y-%m}/{quote(name)}",
        rng.randint(20_000, 5_000_000),
        mime,
    )


def _new_post(
    rng: random.Random,
    nid: int,
    published: date,
    published_time: time | None,
    used: set[str],
    lang: str | None = None,
) -> _Post:
    lang = lang or ("en" if rng.random() < 2 / 3 else "ko")
    category: str | None = None
    if rng.random() >= 0.1:
        category = _weighted(rng, EN_CATEGORIES if lang == "en" else KO_CATEGORIES)
    title = _title(rng, lang, published, used)
    blocks = _body(rng, lang, nid, published)
    if rng.random() < (0.8 if category == "US_Cities Today" else 0.15):
        blocks.append(_source(rng, lang, title))
    attachments = [_attachment(rng, lang, published)] if rng.random() < 0.25 else []
    if attachments and rng.random() < 0.3:
        attachments.append(_attachment(rng, lang, published, "_annex"))
    return _Post(
        nid=nid,
        lang=lang,
        category=category,
        title=title,
        published=published,
        published_time=published_time,
        author=_author(rng, published.year),
        reads=_reads(rng),
        blocks=blocks,
        attachments=attachments,
    )


def _load_seed_posts() -> list[_Post]:
    raw = json.loads(resources.files("crawler.replica").joinpath("data/seed_posts.json").read_text("utf-8"))
    posts = []
    for item in raw["posts"]:
        blocks: list[Block] = []
        for b in item["blocks"]:
            if b["type"] == "ul":
                blocks.append(("ul", tuple(b["items"])))
            elif b["type"] == "img":
                blocks.append(("img", b["src"], b["alt"]))
            elif b["type"] == "source":
                blocks.append(("source", b["href"], b["text"]))
            else:
                blocks.append((b["type"], b["text"]))
        post = _Post(
            nid=item["nid"],
            lang=item["lang"],
            category=item["category"],
            title=item["title"],
            published=date.fromisoformat(item["published"]),
            published_time=None,
            author=item["author"],
            reads=item["reads"],
            blocks=blocks,
            protected=True,
        )
        if item["alias"]:
            post.alias = f"/{post.lang}/content/{pathauto_slug(f'{post.category} {post.title}')}"
        posts.append(post)
    return posts


def _spread_dates(rng: random.Random, count: int, first: date, last: date) -> list[date]:
    span = (last - first).days
    return sorted(first + timedelta(days=rng.randint(0, span)) for _ in range(count))


# ---------------------------------------------------------------------------------------------------------
# The corpus on a given day


class Corpus:
    """All posts and partners of the site on ``day``, plus the changes that day made."""

    def __init__(self, posts: int = 320, day: int = 1) -> None:
        if not 10 <= posts <= 25_000:
            raise ValueError("posts must be between 10 and 25,000")
        if day < 1:
            raise ValueError("day must be >= 1")
        self.post_count = posts
        self.day = day
        self.today = DAY1 + timedelta(days=day - 1)
        self.posts: dict[int, _Post] = {}
        self.deleted: set[int] = set()
        self.partners: dict[str, list[ReplicaPartner]] = {s: list(SEED_PARTNERS[s]) for s in SECTIONS}
        self.changes: list[dict[str, Any]] = []
        self._used_titles: set[str] = set()
        self._pool_next = 0
        self._removed_partners: list[ReplicaPartner] = []
        self._partner_added_on: dict[str, int] = {}
        self._build_day1()
        for d in range(2, day + 1):
            self._apply_day(d)

    # -- day 1 ----------------------------------------------------------------------------------------
    def _build_day1(self) -> None:
        rng = random.Random(f"seoulsolution-replica/corpus/{self.post_count}")
        seeds = _load_seed_posts()
        self._used_titles.update(p.title for p in seeds)
        generated = self.post_count - len(seeds)
        # Older posts share the 2014..2017-01-10 stretch in proportion to its length, so that the seed
        # posts sit at their natural place in the node id order.
        old_first, old_last = date(2014, 1, 2), date(2017, 1, 10)
        new_first, new_last = date(2017, 1, 14), DAY1 - timedelta(days=1)
        older = max(1, round(generated * (old_last - old_first).days / (new_last - old_first).days))
        newer = generated - older
        old_dates = _spread_dates(rng, older, old_first, old_last)
        new_dates = _spread_dates(rng, newer, new_first, new_last)
        old_low = 1700 if older * 3 <= 5000 - 1700 else 1
        old_nids = sorted(rng.sample(range(old_low, 5000), older))  # all below 5000: see euc_kr_post_id
        new_range = [
            n for n in range(SEED_NIDS[0] + 1, SEED_NIDS[0] + 1 + max(5260, 3 * newer)) if n != NOTICE_NID
        ]
        new_nids = sorted(rng.sample(new_range, newer))
        generated_posts = [
            _new_post(rng, nid, published, None, self._used_titles)
            for nid, published in [
                *zip(old_nids, old_dates, strict=True),
                *zip(new_nids, new_dates, strict=True),
            ]
        ]
        for post in [*seeds, *generated_posts]:
            self.posts[post.nid] = post
        notice = _Post(
            nid=NOTICE_NID,
            lang="en",
            category=str(NOTICE["category"]),
            title=str(NOTICE["title"]),
            published=NOTICE["published"],
            published_time=None,
            author=str(NOTICE["author"]),
            reads=int(NOTICE["reads"]),
            blocks=list(NOTICE["blocks"]),
            notice=True,
            protected=True,
        )
        self.posts[notice.nid] = notice

        # The encoding fixtures need a Korean post below nid 5000 and one among the newer posts.
        for nids in (old_nids, new_nids):
            if not any(self.posts[n].lang == "ko" for n in nids):
                n = nids[-1]
                self.posts[n] = _new_post(rng, n, self.posts[n].published, None, self._used_titles, lang="ko")
        self.euc_kr_post_id = max(n for n in old_nids if self.posts[n].lang == "ko" and n < 5000)
        self.lying_header_post_id = min(n for n in new_nids if self.posts[n].lang == "ko")
        self.posts[self.euc_kr_post_id].encoding = "euc-kr"
        self.posts[self.lying_header_post_id].encoding = "euc-kr"
        for nid in (self.euc_kr_post_id, self.lying_header_post_id):
            self.posts[nid].protected = True

        english_new = [n for n in new_nids if self.posts[n].lang == "en"]
        if english_new:
            # The ellipsis title sits on an early listing page; a few English posts get pathauto aliases.
            special = self.posts[english_new[-min(len(english_new), 30)]]
            special.title, special.protected = ELLIPSIS_TITLE, True
            for nid in rng.sample(english_new[:-30] or english_new, min(4, len(english_new) // 10)):
                post = self.posts[nid]
                if post.protected:
                    continue
                text = f"{post.category} {post.title}" if post.category else post.title
                post.alias, post.protected = f"/en/content/{pathauto_slug(text)}", True

    # -- later days -----------------------------------------------------------------------------------
    def _apply_day(self, d: int) -> None:
        rng = random.Random(f"seoulsolution-replica/day/{self.post_count}/{d}")
        today = DAY1 + timedelta(days=d - 1)
        changes: list[dict[str, Any]] = []

        # Reads grow for every post that existed yesterday: a little for all, more for recent ones.
        for nid in sorted(self.posts):
            post = self.posts[nid]
            age = (today - post.published).days
            post.reads += 1 + rng.randint(0, 3) + (rng.randint(5, 60) if age <= 30 else 0)

        # Two new posts at the top, dated today with a time.
        top = max(self.posts) if self.posts else 0
        top = max(top, max(self.deleted, default=0))
        minutes = sorted(rng.sample(range(8 * 60, 19 * 60), 2))
        for offset, minute in zip((rng.randint(1, 4), rng.randint(5, 9)), minutes, strict=True):
            nid = top + offset
            post = _new_post(rng, nid, today, time(minute // 60, minute % 60), self._used_titles)
            post.reads = rng.randint(0, 40)
            self.posts[nid] = post
            changes.append({"kind": "post_added", "post_id": str(nid)})

        eligible = [
            n for n in sorted(self.posts) if not self.posts[n].protected and self.posts[n].published < today
        ]

        # One edit: always the body; on odd days also the title, every third day also the attachments.
        fields = ["body"]
        if d % 2 == 1:
            fields.insert(0, "title")
        if d % 3 == 0:
            fields.append("attachments")
        # A post edited in the last three days is left alone, so each day's edit is a different post.
        candidates = [
            n
            for n in eligible
            if not ("title" in fields and self.posts[n].title_edited)
            and not (self.posts[n].updated and (today - self.posts[n].updated).days <= 3)
        ] or eligible  # tiny corpora run out of fresh candidates
        edited_nid = None
        if candidates:
            edited_nid = rng.choice(candidates)
            self._edit(self.posts[edited_nid], fields, rng, d, today)
            changes.append({"kind": "post_edited", "post_id": str(edited_nid), "fields": fields})

        # One deletion (never the post edited today).
        victims = [n for n in eligible if n != edited_nid]
        if victims:
            victim = rng.choice(victims)
            del self.posts[victim]
            self.deleted.add(victim)
            changes.append({"kind": "post_removed", "post_id": str(victim)})

        # One partner added and one removed, in alternate sections.
        add_to, remove_from = (SECTIONS[0], SECTIONS[1]) if d % 2 == 0 else (SECTIONS[1], SECTIONS[0])
        current = {p.name for s in SECTIONS for p in self.partners[s]}
        newcomer = None
        while self._pool_next < len(PARTNER_POOL):
            candidate = PARTNER_POOL[self._pool_next]
            self._pool_next += 1
            if candidate.name not in current:
                newcomer = candidate
                break
        if newcomer is None:  # pool exhausted: a partner removed earlier comes back
            newcomer = next((p for p in self._removed_partners if p.name not in current), None)
            if newcomer is not None:
                self._removed_partners.remove(newcomer)
        if newcomer is not None:
            section = self.partners[add_to]
            section.insert(rng.randint(0, len(section)), newcomer)
            self._partner_added_on[newcomer.name] = d
            changes.append({"kind": "partner_added", "section": add_to, "name": newcomer.name})
        # Partners added in the last three days stay: a logo is not removed right after it appears.
        removable = [
            i
            for i, p in enumerate(self.partners[remove_from])
            if d - self._partner_added_on.get(p.name, -10) > 3
        ]
        if len(self.partners[remove_from]) > 3 and removable:
            gone = self.partners[remove_from].pop(rng.choice(removable))
            self._removed_partners.append(gone)
            changes.append({"kind": "partner_removed", "section": remove_from, "name": gone.name})

        self.changes = sort_changes(changes)

    @staticmethod
    def _edit(post: _Post, fields: list[str], rng: random.Random, d: int, today: date) -> None:
        minute = rng.randint(9 * 60, 18 * 60)
        post.updated, post.updated_time = today, time(minute // 60, minute % 60)
        if "title" in fields:
            post.title += " (Updated)" if post.lang == "en" else " (수정)"
            post.title_edited = True
        if post.lang == "en":
            note = (
                f"[Updated on {today:%Y-%m-%d}] The schedule and budget of the programme have been revised; "
                "details are available from the International Cooperation Bureau."
            )
        else:
            note = f"[{today:%Y-%m-%d} 수정] 사업 일정과 예산 관련 내용이 변경되었습니다."
        post.blocks = [*post.blocks, ("p", note)]
        if "attachments" in fields:
            revised = _attachment(rng, post.lang, today, f"_rev{d}")
            post.attachments = [*post.attachments[:-1], revised] if post.attachments else [revised]

    # -- views ----------------------------------------------------------------------------------------
    def regular_posts(self) -> list[_Post]:
        """Listing order: node id descending, notice excluded (it is pinned separately)."""
        return [self.posts[n] for n in sorted(self.posts, reverse=True) if not self.posts[n].notice]

    def notice_post(self) -> _Post:
        return self.posts[NOTICE_NID]


_KIND_ORDER = {
    k: i
    for i, k in enumerate(("post_added", "post_edited", "post_removed", "partner_added", "partner_removed"))
}


def sort_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        changes,
        key=lambda c: (
            _KIND_ORDER[c["kind"]],
            int(c.get("post_id", 0)),
            c.get("section", ""),
            c.get("name", ""),
        ),
    )


def export_posts(corpus: Corpus) -> list[ReplicaPost]:
    return [corpus.notice_post().export(), *(p.export() for p in corpus.regular_posts())]


__all__ = [
    "DAY1",
    "KST",
    "ROWS_PER_PAGE",
    "Corpus",
    "ReplicaPartner",
    "ReplicaPost",
    "all_partners",
    "excerpt",
    "listing_title",
    "pathauto_slug",
]
