"""Processes, timing and memory for the project benchmark.

Every crawl runs in its own process (a Twisted reactor cannot restart); ``run_child`` reaps it with
``os.wait4`` so that its own peak RSS and CPU time come back with its exit status (not the maximum over
every child this process ever had, which is what ``RUSAGE_CHILDREN`` gives).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SITE = "seoulsolution"
#: The logical time of a first crawl of replica day 1 (23:00 in Seoul on the replica's first day).
DAY1_AT = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
#: Crawls a benchmark accepts as committed: 0 ok, 3 committed but a monitor failed (degraded).
COMMITTED_EXIT_CODES = (0, 3)


class BenchError(RuntimeError):
    """A figure that could not be measured (a crawl failed, the replica did not start...)."""


def log(message: str) -> None:
    """Progress on stderr; the table and nothing else goes to stdout."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


# -- child processes --------------------------------------------------------------------------------


@dataclass
class ProcResult:
    command: list[str]
    returncode: int | None  # None: killed at the timeout
    wall_s: float
    peak_rss_kib: int  # the child's own VmHWM (ru_maxrss of wait4)
    cpu_s: float  # user + system
    stdout: str
    stderr: str
    steal_s: float | None = None  # CPU time the hypervisor gave other guests meanwhile (all cores)

    @property
    def steal_share(self) -> float | None:
        """``steal_s`` as a share of all the machine's CPUs over the run (``/proc/stat`` counts them all)."""
        if self.steal_s is None or self.wall_s <= 0:
            return None
        return self.steal_s / (self.wall_s * (os.cpu_count() or 1))

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024

    def tail(self, chars: int = 1500) -> str:
        text = (self.stderr or "") + (self.stdout or "")
        return text[-chars:].strip()


def run_child(command: Sequence[str], *, timeout: float = 1800.0, cwd: Path = REPO) -> ProcResult:
    """Run ``command`` to its end; output goes to files (a pipe nobody reads would block a crawl)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        steal_before = steal_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=cwd, env=child_env(), stdout=out, stderr=err)
        deadline = started + timeout
        status, usage = None, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                status = None
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        steal_after = steal_seconds()
        stolen = steal_after - steal_before if steal_before is not None and steal_after is not None else None
        proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -9  # reaped here
        out.seek(0)
        err.seek(0)
        return ProcResult(
            command=list(command),
            returncode=proc.returncode if status is not None else None,
            wall_s=wall,
            peak_rss_kib=usage.ru_maxrss,
            cpu_s=usage.ru_utime + usage.ru_stime,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            steal_s=stolen,
        )


def steal_seconds() -> float | None:
    """The machine's steal time so far, all CPUs (``/proc/stat``; Linux guests): time its virtual CPUs
    were ready to run but the hypervisor ran another guest. None where the kernel does not say."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


# -- the replica ------------------------------------------------------------------------------------

_CAP = re.compile(r"posts must be between ([\d,]+) and ([\d,]+)")
_MIN_POSTS = 10
#: What this run learnt of the replica's sizes: the largest that started, and the largest it accepts once
#: it has refused one.
_limit: dict[str, int] = {"ok": 0}
#: Sizes asked for -> the size used instead; sizes refused -> the replica's reason (for the report).
clamped: dict[int, int] = {}
refusals: dict[int, str] = {}


def replica_size(posts: int) -> int:
    """``posts``, or the replica's largest working size when it is known to refuse ``posts``."""
    cap = _limit.get("max")
    return min(posts, cap) if cap else posts


def _start(day: int, posts: int, access_log: Path | None) -> Any:
    from crawler.replica import ReplicaProcess

    return ReplicaProcess(day=day, posts=posts, access_log=access_log, startup_timeout=300.0).start()


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


@contextlib.contextmanager
def replica(day: int, posts: int, access_log: Path | None = None) -> Iterator[Any]:
    """``crawler.replica.ReplicaProcess`` on loopback, with ``posts_used`` set. A size the replica refuses
    is replaced by the largest size it starts with (recorded in ``clamped`` and ``refusals``)."""
    size = replica_size(posts)
    try:
        proc = _start(day, size, access_log)
    except RuntimeError as exc:
        proc, size = _largest_below(day, size, access_log, exc)
    _limit["ok"] = max(_limit["ok"], size)
    if size != posts:
        clamped[posts] = size
    proc.posts_used = size
    try:
        yield proc
    finally:
        proc.stop()


def _largest_below(day: int, size: int, access_log: Path | None, exc: RuntimeError) -> tuple[Any, int]:
    """The replica refused ``size``: try the maximum it declares, then bisect between the largest size that
    started in this run and the smallest refused one (each size is its own deterministic corpus)."""
    refusals[size] = _reason(exc)
    log(f"the replica refuses {size:,} posts: {refusals[size]}")
    good, bad = max(_limit["ok"], _MIN_POSTS), size
    declared = _CAP.search(str(exc))
    if declared:
        high = int(declared.group(2).replace(",", ""))
        if good < high < bad:
            try:
                proc = _start(day, high, access_log)
            except RuntimeError as again:
                refusals[high] = _reason(again)
                log(f"the replica refuses {high:,} posts too: {refusals[high]}")
                bad = high
            else:
                _limit["max"] = high
                return proc, high
    if good >= bad:
        raise BenchError(f"the replica (day {day}) starts with no size up to {size:,}: {refusals[size]}")
    if not _limit["ok"]:  # nothing started yet in this run: is it the size at all?
        try:
            _start(day, good, None).stop()
        except RuntimeError as any_size:
            raise BenchError(
                f"the replica (day {day}) does not start even at {good:,} posts: {_reason(any_size)}"
            ) from None
    log(f"looking for the largest replica that starts, between {good:,} and {bad:,} posts")
    while bad - good > max(25, good // 100):
        mid = (good + bad) // 2
        try:
            _start(day, mid, None).stop()
        except RuntimeError:
            bad = mid
        else:
            good = mid
    _limit["max"] = good
    log(f"using {good:,} posts, the largest size found that the replica starts with")
    try:
        return _start(day, good, access_log), good
    except RuntimeError as final:
        raise BenchError(f"the replica (day {day}, {good:,} posts) did not start: {final}") from None


def replica_pid() -> int | None:
    """The pid of our (newest) replica child, for its CPU time; found through /proc (Linux)."""
    candidates = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with open(f"/proc/{os.getpid()}/task/{task}/children") as fh:
                candidates += [int(p) for p in fh.read().split()]
    for pid in sorted(candidates, reverse=True):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"crawler.replica" in fh.read().split(b"\0"):
                return pid
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- crawls -----------------------------------------------------------------------------------------


@dataclass
class Crawl:
    """One ``crawler crawl`` process and its row of the runs dataset."""

    proc: ProcResult
    run: dict[str, Any] = field(default_factory=dict)
    server_cpu_s: float | None = None

    @property
    def responses(self) -> int:
        return int(self.run["responses"])

    @functools.cached_property
    def scrapy_seconds(self) -> float:
        """The crawl's duration by Scrapy's own stopwatch (``elapsed_time_seconds``: its start time to the
        spider's close), the one the bare spider is timed by."""
        return float(json.loads(self.run["stats_json"])["elapsed_time_seconds"])

    @property
    def pages_per_s(self) -> float:
        """Responses over ``scrapy_seconds``."""
        return self.responses / self.scrapy_seconds

    @property
    def run_seconds(self) -> float:
        """``runs.duration_s``: Scrapy's start time to the run row, after the close."""
        return float(self.run["duration_s"])

    @property
    def end_seconds(self) -> float:
        """From Scrapy's close to the run row (``run_seconds`` minus ``scrapy_seconds``): the WARC writer's
        last records and the snapshot's summary and monitors, before the commit."""
        return self.run_seconds - self.scrapy_seconds

    @property
    def wall_pages_per_s(self) -> float:
        """Responses over the process's wall time, start-up and commit included."""
        return self.responses / self.proc.wall_s


def at_time(days_later: int = 0) -> datetime:
    return DAY1_AT + timedelta(days=days_later)


def full_crawl(url: str, root: Path, at: datetime, *, timeout: float = 1800.0) -> Crawl:
    """``crawler crawl seoulsolution --base-url URL --archive ROOT --at AT`` and its runs row."""
    import archive

    pid = replica_pid()
    before = cpu_seconds(pid)
    command = python_module("crawler", "crawl", SITE, "--base-url", url, "--archive", str(root))
    command += ["--at", at.isoformat()]
    proc = run_child(command, timeout=timeout)
    after = cpu_seconds(pid)
    if proc.returncode is None:
        raise BenchError(f"crawl timed out after {timeout:.0f} s: {' '.join(command)}\n{proc.tail()}")
    snapshot_id = archive.snapshot_id_for(at)
    try:
        runs = archive.open(root).runs(site=SITE)
        rows = runs[runs["snapshot_id"] == snapshot_id]
    except Exception as exc:  # the archive is unreadable: say why, with the crawl's own output
        raise BenchError(
            f"crawl exited {proc.returncode}; its archive cannot be read ({exc}):\n{proc.tail()}"
        ) from None
    if rows.empty or proc.returncode not in COMMITTED_EXIT_CODES:
        raise BenchError(
            f"crawl exited {proc.returncode} without committing snapshot {snapshot_id}:\n{proc.tail()}"
        )
    row = {k: _plain(v) for k, v in rows.iloc[0].to_dict().items()}
    if row.get("status") not in (None, "ok"):
        log(f"crawl {snapshot_id} committed with status {row.get('status')!r} (exit {proc.returncode})")
    server = after - before if before is not None and after is not None else None
    return Crawl(proc=proc, run=row, server_cpu_s=server)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        with contextlib.suppress(ValueError, AttributeError):
            return value.item()
    return value


# -- files ------------------------------------------------------------------------------------------


def dir_size(root: Path) -> int:
    """Apparent size in bytes of every file under ``root`` (what ``du --apparent-size -b`` says)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
