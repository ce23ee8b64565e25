"""crawler.workers.PipeWorker: a real worker process driven by an asyncio loop, with what can go wrong."""

from __future__ import annotations

import _thread
import asyncio
import math
import operator
import os
import signal
import time

import pytest

from crawler.workers import PipeWorker, WorkerDied, available

pytestmark = pytest.mark.skipif(not available(), reason="pipe workers need a POSIX system")


@pytest.fixture
def worker() -> PipeWorker:
    w = PipeWorker()
    yield w
    w.close(timeout=5)


def test_answers_come_back_in_order_with_their_errors(worker: PipeWorker) -> None:
    async def run() -> tuple[list[int], BaseException]:
        futures = [worker.call(operator.add, i, 1000) for i in range(500)]
        failed = worker.call(math.sqrt, -1)
        done = await asyncio.gather(*futures)
        with pytest.raises(ValueError, match="math domain error") as info:
            await failed
        return done, info.value

    done, error = asyncio.run(run())
    assert done == [i + 1000 for i in range(500)] and type(error) is ValueError
    assert worker.pending == 0 and worker.alive


def test_calls_of_one_turn_of_the_loop_go_in_one_write(
    worker: PipeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of calls (the responses one select() returned) reaches the worker in one write: the
    crawl makes one system call for them and the worker wakes once."""
    import crawler.workers as workers

    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        if fd == worker._in:
            writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(workers.os, "write", counting_write)

    async def run() -> list[int]:
        burst = [worker.call(operator.add, i, 1) for i in range(8)]  # one turn
        first = await asyncio.gather(*burst)
        later = await worker.call(operator.add, 100, 1)  # a turn of its own
        return [*first, later]

    assert asyncio.run(run()) == [*range(1, 9), 101]
    assert len(writes) == 2, writes


def test_payloads_larger_than_a_pipe_go_both_ways(worker: PipeWorker) -> None:
    big = os.urandom(3_000_000)  # pipes hold 64 KB: both directions must be drained by the loop

    async def run() -> tuple[int, int]:
        size, echoed = await asyncio.gather(worker.call(len, big), worker.call(bytes, big))
        return size, len(echoed) if echoed == big else -1

    assert asyncio.run(run()) == (3_000_000, 3_000_000)


def test_each_new_loop_finds_the_worker_ready(worker: PipeWorker) -> None:
    async def one(i: int) -> int:
        return await worker.call(operator.mul, i, i)

    assert [asyncio.run(one(i)) for i in range(3)] == [0, 1, 4]


def test_call_sync_waits_for_the_calls_queued_before_it(worker: PipeWorker) -> None:
    async def run() -> tuple[list[object], int]:
        futures = [worker.call(operator.add, i, 1) for i in range(50)]
        result = worker.call_sync(operator.mul, 6, 7)  # blocks this (the loop's) thread
        return [f.result() for f in futures], result

    settled, result = asyncio.run(run())
    assert settled == list(range(1, 51)) and result == 42
    assert worker.call_sync(operator.neg, 5) == -5  # and the worker goes on after it


def test_printing_in_the_worker_does_not_corrupt_the_answers(worker: PipeWorker) -> None:
    async def run() -> list[object]:
        return await asyncio.gather(worker.call(print, "noise on stdout"), worker.call(operator.add, 2, 2))

    assert asyncio.run(run()) == [None, 4]


def test_an_answer_that_cannot_be_pickled_is_an_error_not_a_hang(worker: PipeWorker) -> None:
    with pytest.raises(RuntimeError, match="cannot be pickled"):
        worker.call_sync(_thread.allocate_lock)
    assert worker.call_sync(operator.add, 1, 1) == 2


def test_a_killed_worker_fails_its_calls_and_every_later_one(worker: PipeWorker) -> None:
    async def run() -> tuple[str, str]:
        pending = worker.call(time.sleep, 30)
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerDied) as first:
            await asyncio.wait_for(pending, 10)
        with pytest.raises(WorkerDied) as later:
            await worker.call(operator.add, 1, 1)
        return str(first.value), str(later.value)

    first, later = asyncio.run(run())
    assert "exited" in first and first == later and not worker.alive
    with pytest.raises(WorkerDied):
        worker.call_sync(operator.add, 1, 1)


def test_a_failing_initializer_stops_the_start() -> None:
    with pytest.raises(ValueError, match="math domain error"):
        PipeWorker(math.sqrt, (-1,))


def test_close_lets_the_worker_finish_what_it_was_sent() -> None:
    w = PipeWorker()

    async def run() -> list[asyncio.Future[object]]:
        futures = [w.call(time.sleep, 0.05), w.call(operator.add, 1, 2)]
        w.close(timeout=10)
        return futures

    slept, added = asyncio.run(run())
    assert slept.result() is None and added.result() == 3 and not w.alive
    assert w._proc.returncode == 0  # it exited on its own when its stdin closed, not killed


def test_close_kills_a_worker_that_does_not_finish_in_time() -> None:
    w = PipeWorker()

    async def run() -> asyncio.Future[object]:
        future = w.call(time.sleep, 30)
        w.close(timeout=0.5)
        return future

    future = asyncio.run(run())
    assert isinstance(future.exception(), WorkerDied) and w._proc.returncode == -signal.SIGKILL


def test_call_sync_behind_a_full_pipe_does_not_deadlock(worker: PipeWorker) -> None:
    """Calls queued faster than the worker reads them, each answered with 100 KB: the worker blocks
    writing answers while the crawl still has calls to send; the blocking pump must read while it writes."""
    chunk = os.urandom(100_000)

    async def run() -> tuple[list[int], int]:
        futures = [worker.call(bytes, chunk) for _ in range(20)]
        answer = worker.call_sync(len, b"abc", timeout=30)
        return [len(f.result()) for f in futures], answer

    sizes, answer = asyncio.run(run())
    assert sizes == [100_000] * 20 and answer == 3


def test_a_call_sync_that_times_out_kills_the_worker_rather_than_misplace_answers(worker: PipeWorker) -> None:
    with pytest.raises(TimeoutError):
        worker.call_sync(time.sleep, 5, timeout=0.2)
    assert not worker.alive

    async def later() -> object:
        return await worker.call(operator.add, 1, 1)

    with pytest.raises(WorkerDied):  # never the sleep's None given to the next caller
        asyncio.run(later())


def test_frames_left_unsent_by_one_loop_are_sent_under_the_next(worker: PipeWorker) -> None:
    big = os.urandom(2_000_000)
    seen: list[object] = []

    async def first() -> None:
        future = worker.call(len, big)  # not awaited: the loop ends with most of it still unsent
        future.add_done_callback(lambda f: seen.append(f.result()))

    async def second() -> object:
        return await asyncio.wait_for(worker.call(operator.add, 1, 1), 30)

    asyncio.run(first())
    assert asyncio.run(second()) == 2
    worker.close(timeout=10)  # the first loop's future is settled without raising, the worker reaped
    assert worker._proc.returncode == 0


def test_an_error_in_the_worker_carries_its_traceback(worker: PipeWorker) -> None:
    with pytest.raises(ValueError) as info:
        worker.call_sync(int, "not a number")
    assert "invalid literal" in str(info.value) and "Traceback" in str(info.value.__cause__)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "zombie" not in state


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc")
def test_a_worker_does_not_outlive_a_killed_crawl() -> None:
    """SIGKILL gives the crawl no chance to close its workers: its pipes close with it, and the worker
    exits on the end of its stdin instead of waiting for calls forever."""
    import subprocess
    import sys

    from tests.conftest import REPO

    script = "from crawler.workers import PipeWorker; w = PipeWorker(); print(w.pid, flush=True); input()"
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert _running(pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


# -- answers in groups (what the WARC writer's process does): module-level, the worker imports them ------

_GROUPS: list[list[int]] = []  # in the worker: the calls each run of the hook covered
_OPEN: list[int] = []


def _start_grouping(fail: bool) -> None:
    from crawler.workers import answer_in_groups

    def before_answers() -> None:
        group = list(_OPEN)
        _OPEN.clear()
        if fail:
            raise RuntimeError(f"the commit of {group} failed")
        _GROUPS.append(group)

    answer_in_groups([_grouped], before_answers)


def _grouped(i: int) -> int:
    _OPEN.append(i)
    return i


def _groups() -> list[list[int]]:
    return _GROUPS


def test_grouped_calls_are_answered_after_their_group_ends() -> None:
    w = PipeWorker(_start_grouping, (False,))
    try:

        async def run() -> list[object]:
            calls = [w.call(_grouped, i) for i in range(20)]  # one burst: one write
            calls.append(w.call(operator.add, 1, 1))  # another function ends the group first
            calls += [w.call(_grouped, i) for i in (20, 21)]
            return await asyncio.gather(*calls)

        assert asyncio.run(run()) == [*range(20), 2, 20, 21]  # in the order of the calls
        groups = w.call_sync(_groups)
    finally:
        w.close(timeout=5)
    assert [i for group in groups for i in group] == [*range(22)]  # every call in a group, once
    assert len(groups) < 20 and groups[-1][-1] == 21  # back-to-back calls shared a group
    assert not any(19 in g and 20 in g for g in groups)  # the other call split them


def test_a_failing_group_end_fails_each_call_of_the_group() -> None:
    w = PipeWorker(_start_grouping, (True,))
    try:

        async def run() -> list[object]:
            calls = [w.call(_grouped, i) for i in range(3)] + [w.call(operator.add, 2, 2)]
            return await asyncio.gather(*calls, return_exceptions=True)

        *grouped, other = asyncio.run(run())
    finally:
        w.close(timeout=5)
    assert other == 4
    assert all(isinstance(e, RuntimeError) and "the commit of [" in str(e) for e in grouped), grouped


class _Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self, x: int) -> int:
        return 2 * x


def test_an_unhashable_callable_is_answered_alone() -> None:
    w = PipeWorker(_start_grouping, (False,))
    try:
        assert w.call_sync(_Unhashable(), 21) == 42 and w.alive
    finally:
        w.close(timeout=5)
