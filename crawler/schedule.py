"""``crawler schedule``: crawls back to back on an interval, in the foreground, never overlapping.

Each run is a ``crawler crawl`` child process (the archive's lock also keeps a cron-started run out).
SIGTERM or SIGINT stops the loop cleanly: a running crawl is asked to stop (Scrapy shuts down gracefully
and its staged snapshot is resumed by the next run), then the scheduler exits 0.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

logger = logging.getLogger("crawler.schedule")

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OUTCOME = {0: "ok", 1: "failed", 2: "usage error", 3: "degraded", 75: "skipped: another run is active"}


def parse_interval(text: str) -> float:
    """``90s``, ``30m``, ``6h``, ``1d`` → seconds."""
    match = _INTERVAL.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"interval must look like 90s, 30m, 6h or 1d, got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def schedule(command: list[str], every: float, *, max_runs: int = 0) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(name)s] %(message)s")
    stop = threading.Event()
    child: list[subprocess.Popen] = []

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("Received %s: stopping after the current run", signal.Signals(signum).name)
        stop.set()
        for proc in child:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    runs = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            runs += 1
            logger.info("Run %d starting at %s", runs, datetime.now(UTC).isoformat(timespec="seconds"))
            proc = subprocess.Popen(command)
            child[:] = [proc]
            code = proc.wait()
            child.clear()
            seconds = time.monotonic() - started
            logger.info("Run %d exited %d (%s) after %.1f s", runs, code, OUTCOME.get(code, "error"), seconds)
            if max_runs and runs >= max_runs:
                break
            # Runs never overlap: the next starts one interval after this one started, or at once if late.
            stop.wait(max(0.0, every - seconds))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("Scheduler stopped after %d run(s)", runs)
    return 0
