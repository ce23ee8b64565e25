"""The date benchmark's accuracy side (speed is shown by `python -m bench.dates`, not tested)."""

from __future__ import annotations

from bench.date_cases import CASES, NOW
from bench.dates import run
from crawler.normalize import parse_date


def test_bench_cases_are_many_and_distinct() -> None:
    texts = [t for t, _ in CASES]
    assert len(texts) >= 40
    assert len(set(texts)) == len(texts)


def test_parse_date_reads_every_bench_case() -> None:
    wrong = [(t, parse_date(t, now=NOW), e) for t, e in CASES if parse_date(t, now=NOW) != e]
    assert wrong == []


def test_bench_run_accuracy() -> None:
    result = run(repeat=1)
    assert set(result) == {
        "parse_date_per_s",
        "dateparser_per_s",
        "date_speedup",
        "parse_date_accuracy",
        "dateparser_accuracy",
        "cases",
    }
    assert result["cases"] == len(CASES)
    assert result["parse_date_accuracy"] == 1.0
    assert result["parse_date_accuracy"] >= result["dateparser_accuracy"]
