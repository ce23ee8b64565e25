"""Dates per second and accuracy: parse_date against a well-configured dateparser.

Run: `python -m bench.dates [--repeat N]`. `run()` returns the figures for a project benchmark.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import dateparser

from bench.date_cases import CASES, NOW
from crawler.normalize import parse_date


def _dateparser_call(now_naive: datetime) -> Callable[[str], datetime | None]:
    # The fair baseline: the best settings measured in the notes, with the crawl time as base.
    settings = {"RELATIVE_BASE": now_naive, "PREFER_DATES_FROM": "past", "DATE_ORDER": "YMD"}

    def call(text: str) -> datetime | None:
        return dateparser.parse(text, languages=["ko", "en"], settings=settings)

    return call


def _parse_date_correct(got: date | datetime | None, expected: date | datetime | None) -> bool:
    return got == expected and type(got) is type(expected)


def _dateparser_correct(got: datetime | None, expected: date | datetime | None) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    if isinstance(expected, datetime):  # dateparser answers naive, in the base's (Seoul) clock
        return got == expected.replace(tzinfo=None)
    return got.date() == expected


def _time(fn: Callable[[str], Any], texts: list[str], repeat: int) -> tuple[float, list[Any]]:
    """Dates per second over the fastest of `repeat` passes (like timeit: the least disturbed
    pass), and the answers of a first warm-up pass (imports, regex and dateparser caches)."""
    results = [fn(t) for t in texts]
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, results


def run(repeat: int = 3) -> dict[str, float | int]:
    """Measure both parsers on bench.date_cases.CASES; returns rates, speed-up and accuracies."""
    texts = [t for t, _ in CASES]
    expected = [e for _, e in CASES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateparser's own deprecation chatter
        pd_rate, pd_results = _time(lambda t: parse_date(t, now=NOW), texts, repeat)
        dp_rate, dp_results = _time(_dateparser_call(NOW.replace(tzinfo=None)), texts, repeat)
    pd_ok = sum(_parse_date_correct(g, e) for g, e in zip(pd_results, expected, strict=True))
    dp_ok = sum(_dateparser_correct(g, e) for g, e in zip(dp_results, expected, strict=True))
    return {
        "parse_date_per_s": pd_rate,
        "dateparser_per_s": dp_rate,
        "date_speedup": pd_rate / dp_rate,
        "parse_date_accuracy": pd_ok / len(CASES),
        "dateparser_accuracy": dp_ok / len(CASES),
        "cases": len(CASES),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the case list per parser")
    args = parser.parse_args(argv)
    r = run(repeat=args.repeat)
    print(f"{r['cases']} board date strings, now = {NOW.isoformat()}, best of {args.repeat} passes")
    print(f"{'parser':<12} {'dates/s':>12} {'µs/date':>9} {'accuracy':>9}")
    for name, rate, acc in (
        ("parse_date", r["parse_date_per_s"], r["parse_date_accuracy"]),
        ("dateparser", r["dateparser_per_s"], r["dateparser_accuracy"]),
    ):
        print(f"{name:<12} {rate:>12,.0f} {1e6 / rate:>9.1f} {acc:>9.1%}")
    print(f"speed-up: {r['date_speedup']:.0f}x")


if __name__ == "__main__":
    main()
