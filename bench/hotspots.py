"""Where a full crawl's time goes: one ``crawler crawl`` of the replica under cProfile, summarised per page.

Run: ``python -m bench.hotspots [--posts 5000] [--top 25] [--out crawl.prof]``. It prints the CPU time
per response by area (own time of the functions in each: Scrapy/Twisted/asyncio, our extractors, lxml,
normalisation, the archive and pyarrow, ...) and the top functions by own time. cProfile slows Python code
down (roughly 1.5-2x) and not C code, so read the shares, not the absolute figures. py-spy or pyinstrument,
when installed, give a sampling view of the same run: ``py-spy record -o crawl.svg -- python -m crawler
crawl ...``.
"""

from __future__ import annotations

import argparse
import pstats
import sys
from pathlib import Path

from bench import harness as h

#: Areas by path fragment, first match wins (own time of each function goes to its file's area).
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("our extractors (crawler/extract)", ("/crawler/extract/",)),
    ("normalisation (crawler/normalize)", ("/crawler/normalize/",)),
    ("spider (spiders/)", ("/spiders/",)),
    ("pipelines (pipelines/)", ("/pipelines/",)),
    ("archive (archive/)", ("/archive/",)),
    ("other project code (crawler/)", ("/crawler/",)),
    ("lxml / cssselect", ("/lxml/", "/cssselect/", "lxml.etree", "lxml.html")),
    ("pyarrow / pandas / numpy", ("/pyarrow/", "/pandas/", "/numpy/")),
    ("scrapy", ("/scrapy/",)),
    ("twisted", ("/twisted/",)),
    ("asyncio", ("/asyncio/",)),
    ("w3lib / parsel / urllib / http", ("/w3lib/", "/parsel/", "/urllib/", "/http/")),
    ("dateparser / regex", ("/dateparser/", "/regex/")),
    ("gzip / zlib", ("gzip", "zlib", "decompress")),
    ("logging", ("/logging/",)),
]


def area_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, fragments in AREAS:
        if any(f in where for f in fragments):
            return name
    if filename == "~":
        return "builtins (C: re, str, dict, ...)"
    return "other (stdlib, imports, ...)"


def profile_crawl(posts: int, out: Path, timeout: float = 3600.0) -> tuple[int, pstats.Stats]:
    import archive

    with h.replica(1, posts) as replica, h.scratch("hotspots") as tmp:
        root = tmp / "archive"
        command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "crawler", "crawl", h.SITE]
        command += ["--base-url", replica.url, "--archive", str(root), "--at", h.at_time(0).isoformat()]
        proc = h.run_child(command, timeout=timeout)
        if proc.returncode not in h.COMMITTED_EXIT_CODES or not out.exists():
            raise h.BenchError(f"profiled crawl exited {proc.returncode}:\n{proc.tail()}")
        responses = int(archive.open(root).runs(site=h.SITE)["responses"].iloc[0])
    return responses, pstats.Stats(str(out))


def report(stats: pstats.Stats, responses: int, top: int) -> str:
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    areas: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tt, _ct, _callers) in raw.items():
        key = area_of(filename, function)
        areas[key] = areas.get(key, 0.0) + tt
    lines = [f"{responses:,} responses; profiled CPU {1000 * total / responses:.2f} ms per response", ""]
    lines.append(f"{'area (own time)':<40} {'ms/page':>8} {'share':>6}")
    for name, tt in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:<40} {1000 * tt / responses:>8.3f} {tt / total:>6.1%}")
    lines += ["", f"{'top functions by own time':<70} {'ms/page':>8} {'calls/page':>10}"]
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, function), (_cc, nc, tt, _ct, _callers) in ranked:
        where = f"{_short(filename)}:{line}({function})"
        lines.append(f"{where[:70]:<70} {1000 * tt / responses:>8.3f} {nc / responses:>10.1f}")
    return "\n".join(lines)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(h.REPO) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=5000, help="replica size (5000)")
    parser.add_argument("--top", type=int, default=25, help="functions to list (25)")
    parser.add_argument("--out", default="crawl.prof", help="where cProfile's data goes (crawl.prof)")
    args = parser.parse_args(argv)
    responses, stats = profile_crawl(args.posts, Path(args.out).resolve())
    print(report(stats, responses, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
