from __future__ import annotations

from pathlib import Path

import pytest

from crawler.cli import demo_time, main
from tests.conftest import Demo


def test_demo_times_are_a_day_apart_late_in_the_seoul_day() -> None:
    assert demo_time(1).isoformat() == "2026-11-01T14:00:00+00:00"
    assert demo_time(3).isoformat() == "2026-11-03T14:00:00+00:00"


def test_unknown_profile_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["crawl", "nowhere", "--archive", str(tmp_path)]) == 2
    assert "no site profile 'nowhere'" in capsys.readouterr().err


def test_bad_at_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["crawl", "--at", "yesterday-ish", "--archive", str(tmp_path)]) == 2
    assert "--at must be an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_prints_a_summary_and_runs_lists_the_snapshots(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "7 snapshot(s) of seoulsolution" in demo.stdout
    assert main(["runs", "--archive", str(demo.archive)]) == 0
    out = capsys.readouterr().out
    assert out.count("2026110") == 7 and "listing_rows" in out


@pytest.mark.slow
def test_a_committed_snapshot_is_never_overwritten(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "crawl",
            "--base-url",
            "http://127.0.0.1:9",
            "--archive",
            str(demo.archive),
            "--at",
            "2026-11-01T14:00:00Z",
        ]
    )
    assert code == 2
    assert "already exists" in capsys.readouterr().err
