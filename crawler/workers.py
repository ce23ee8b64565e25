"""A worker process that the crawl's event loop talks to over two pipes, with no thread in the crawl.

``concurrent.futures.ProcessPoolExecutor`` hands every task over through two threads of the submitting
process (a management thread and a queue feeder): about 0.4 ms of that process's CPU per task, and the
crawl's calls that release the GIL (a socket send, zlib, SQLite) took several times longer beside them
(docs/benchmark.md).
Here the reactor thread writes the calls of each turn of its event loop, as length-prefixed pickles, to
the worker's stdin and reads the replies from its stdout when the event loop reports it readable; the
worker runs the calls one at a time, in order, and answers in the same order (about 0.1 ms of the crawl's
CPU per call).

The functions a worker runs are module-level (pickled by reference); so are their arguments and results.
POSIX only (non-blocking pipes watched by a selector event loop): ``available()`` says whether it can run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Collection
from typing import Any

_HEADER = struct.Struct("<Q")  # each frame: its length, then a pickle
# os.read(fd, n) allocates n bytes before it reads: 1 MiB cost 25 µs a read against 1.6 µs for 64 KiB
# (a few replies of a few KB each are what a read finds); a larger reply takes several reads.
_READ_CHUNK = 1 << 16

# The worker's first frame is the parent's sys.path (so it imports the same code), its second the
# initializer; then calls until its stdin closes.
_BOOT = "from crawler.workers import _boot; _boot()"


class WorkerDied(RuntimeError):
    """The worker process exited (or was killed) before answering."""


def available() -> bool:
    """Whether this platform runs pipe workers (non-blocking pipes in a selector loop: POSIX)."""
    return os.name == "posix"


class PipeWorker:
    """One worker process. ``call`` (from the event loop's thread) returns an asyncio future of the result;
    ``call_sync`` waits for it, after every call queued before it. Raises ``WorkerDied`` (in the futures
    too) once the process is gone. The pipes stay non-blocking: the loop watches them, and the blocking
    paths (start-up, ``call_sync``, ``close``) pump both with ``select`` until a deadline, so that neither
    side can wait forever for the other."""

    def __init__(
        self,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        startup_timeout: float = 120.0,
    ) -> None:
        # stderr is inherited: the worker's log lines and tracebacks go where the crawl's go. PYTHONPATH:
        # the worker imports this module before it reads the crawl's sys.path; -P keeps the current
        # directory from shadowing it.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        # glibc gives the top of the heap back to the OS whenever 128 KiB of it is free, and takes it back
        # on the next large allocation: a zlib compressor (about 270 KiB) per WARC record made that two
        # system calls and fresh zeroed pages per record (measured: 0.1-0.2 ms of the writer's CPU a page).
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(8 << 20))
        self._proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in, self._out = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outbuf = bytearray()  # frames not yet taken by the pipe
        self._inbuf = bytearray()  # reply bytes not yet a whole frame
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop watching the pipes, if any
        self._flush_handle: asyncio.Handle | None = None  # the write of this turn's calls, once due
        self._dead: str | None = None  # why the worker is gone
        self._outbuf += _frame(pickle.dumps(list(sys.path)))
        self._outbuf += _frame(pickle.dumps((initializer, initargs)))
        try:
            (ok, value), *_ = self._pump(time.monotonic() + startup_timeout, replies=1)
        except BaseException:
            self.close(timeout=0)
            raise
        if not ok:
            self.close(timeout=0)
            raise value

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        return self._dead is None

    # -- calls ---------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Queue ``fn(*args, **kwargs)`` in the worker; a future of its result, from the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._dead is not None:
            future.set_exception(WorkerDied(self._dead))
            return future
        data = _frame(pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        self._attach(loop)
        self._pending.append(future)
        self._send(data)
        return future

    def call_sync(self, fn: Callable[..., Any], *args: Any, timeout: float = 600.0, **kwargs: Any) -> Any:
        """Run ``fn`` in the worker and wait for its result, blocking the calling thread. Calls queued
        before it are sent first and their futures settled (their callbacks run when the loop next turns).
        A worker that does not answer by ``timeout`` is killed: where its answers stand is then unknown."""
        if self._dead is not None:
            raise WorkerDied(self._dead)
        data = _frame(pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        self._detach()
        self._outbuf += data
        earlier = len(self._pending)
        try:
            replies = self._pump(time.monotonic() + timeout, replies=earlier + 1)
        except BaseException as exc:
            self._kill(f"the worker was killed: {type(exc).__name__} during a call that waits for it")
            raise
        for reply in replies[:earlier]:
            _settle(self._pending.popleft(), *reply)
        ok, value = replies[earlier]
        if not ok:
            raise value
        return value

    def close(self, timeout: float = 30.0) -> None:
        """Let the worker finish what it was sent, settling the futures with its answers, and exit (its
        stdin closes); kill it after ``timeout``. Futures still unanswered then fail with WorkerDied."""
        self._detach()
        deadline = time.monotonic() + timeout
        try:
            if self._dead is None and self._pending:
                for reply in self._pump(deadline, replies=len(self._pending)):
                    _settle(self._pending.popleft(), *reply)
        except BaseException:  # stuck, dead or interrupted: what is left fails below
            pass
        finally:
            alive = self._dead is None
            self._dead = self._dead or "the worker was closed"
            for pipe in (self._proc.stdin, self._proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(timeout=max(0.0, deadline - time.monotonic()) if alive else 5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._gone(self._dead)

    # -- the event loop's side -----------------------------------------------------------------------

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self._detach()  # a new loop (asyncio.run() in tests): the old one is finished with
        loop.add_reader(self._out, self._on_readable)
        if self._outbuf:
            loop.add_writer(self._in, self._on_writable)
        self._loop = loop

    def _detach(self) -> None:
        if self._flush_handle is not None:  # what it would write stays in _outbuf for whoever comes next
            self._flush_handle.cancel()
            self._flush_handle = None
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._out)
            loop.remove_writer(self._in)

    def _send(self, data: bytes) -> None:
        idle = not self._outbuf  # else a flush is due, or the pipe is full and the writer callback drains it
        self._outbuf += data
        if idle:
            # Written once the loop has run the callbacks already due this turn: the calls of a burst of
            # responses go in one write, and the worker wakes once for them.
            assert self._loop is not None
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._write_some()
        if self._outbuf and self._loop is not None:
            self._loop.add_writer(self._in, self._on_writable)

    def _on_writable(self) -> None:
        self._write_some()
        if not self._outbuf and self._loop is not None:
            self._loop.remove_writer(self._in)

    def _on_readable(self) -> None:
        if not self._read_some():
            return
        for reply in _frames(self._inbuf):
            if not self._pending:  # a reply nobody asked for: the protocol is broken
                self._kill("the worker answered a call it was not sent")
                return
            _settle(self._pending.popleft(), *reply)

    # -- pipe I/O (both pipes are non-blocking), for the loop's callbacks and the blocking pump --------

    def _write_some(self) -> None:
        """Give the worker's stdin what it takes of ``_outbuf``. A broken pipe drops the rest: the worker
        is gone, and the reader learns it from its stdout's end, after its last answers."""
        try:
            del self._outbuf[: os.write(self._in, self._outbuf)]
        except BlockingIOError:
            pass
        except OSError:
            self._outbuf.clear()

    def _read_some(self) -> bool:
        """Append what the worker's stdout holds to ``_inbuf``; False once the worker is gone."""
        try:
            data = os.read(self._out, _READ_CHUNK)
        except BlockingIOError:
            return True
        except OSError as exc:
            self._gone(f"the worker's stdout failed: {exc}")
            return False
        if not data:
            self._gone(self._exit_reason())
            return False
        self._inbuf += data
        return True

    def _gone(self, why: str) -> None:
        if self._dead is None:
            self._dead = why
        self._detach()
        self._outbuf.clear()
        while self._pending:
            _settle(self._pending.popleft(), False, WorkerDied(self._dead))

    def _kill(self, why: str) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._gone(why)

    def _exit_reason(self) -> str:
        try:
            status = self._proc.wait(timeout=1.0)  # its stdout just closed: it is exiting
        except subprocess.TimeoutExpired:
            return "the worker closed its stdout"
        return f"the worker exited (status {status})"

    # -- the blocking paths ----------------------------------------------------------------------------

    def _pump(self, deadline: float, *, replies: int) -> list[tuple[bool, Any]]:
        """Write ``_outbuf`` and read until ``replies`` answers arrived, whichever pipe is ready first (a
        worker blocked writing answers stops reading calls); TimeoutError at ``deadline``."""
        got: list[tuple[bool, Any]] = []
        while len(got) < replies or self._outbuf:
            left = deadline - time.monotonic()
            writers = [self._in] if self._outbuf else []
            readable, writable, _ = select.select([self._out], writers, [], max(0.0, left))
            if not readable and not writable:
                raise TimeoutError("the worker did not answer in time")
            if writable:
                self._write_some()
            if readable:
                if not self._read_some():
                    raise WorkerDied(self._dead)
                got += _frames(self._inbuf, limit=replies - len(got))
        return got


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def _frames(buf: bytearray, limit: int | None = None) -> list[tuple[bool, Any]]:
    """Take the whole frames at the start of ``buf`` (at most ``limit``): (ok, result or exception)."""
    out: list[tuple[bool, Any]] = []
    start = 0
    size = _HEADER.size
    while len(buf) - start >= size and (limit is None or len(out) < limit):
        (n,) = _HEADER.unpack_from(buf, start)
        if len(buf) - start - size < n:
            break
        try:
            ok, value, remote = pickle.loads(buf[start + size : start + size + n])
            if not ok and remote:
                value.__cause__ = RemoteTraceback(remote)  # as concurrent.futures shows it
        except Exception as exc:  # e.g. an exception class this process cannot import: still an answer
            ok, value = False, RuntimeError(f"the worker's answer cannot be read here: {exc!r}")
        out.append((ok, value))
        start += size + n
    del buf[:start]
    return out


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the worker (the ``__cause__`` of what the caller gets)."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled by its awaiter: the answer is dropped
        return
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except RuntimeError:  # its loop is closed: the value is set, its callbacks will never run
        pass


# -- the worker's side --------------------------------------------------------------------------------


def _boot() -> None:
    """The worker's main: ``python -c "from crawler.workers import _boot; _boot()"``."""
    # Ctrl-C reaches the whole process group; the crawl decides when its workers stop (it closes stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies own fd 1; anything printed goes to stderr instead of into the reply stream.
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    calls = os.fdopen(os.dup(0), "rb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # a stray input() must not read the calls
    os.close(devnull)
    first = _read_frame(calls)
    if first is None:
        return
    sys.path[:] = pickle.loads(first)
    _serve(calls, replies)


_Reply = tuple[bool, Any, "str | None"]

#: Set in the worker by ``answer_in_groups``: the functions whose calls are answered in groups, and what
#: runs before a group's answers go out.
_GROUPED: frozenset[Callable[..., Any]] = frozenset()
_BEFORE_ANSWERS: Callable[[], None] | None = None
_MAX_GROUP = 64


def answer_in_groups(fns: Collection[Callable[..., Any]], before_answers: Callable[[], None]) -> None:
    """Called in a worker (by its initializer): calls of ``fns`` that arrive back to back are answered
    together, after ``before_answers()`` ran once for them all (say, one commit for a group of writes);
    if it raises, each call of the group gets its exception instead of its result. A group ends when no
    call is waiting, at 64 calls, or before a call of another function runs."""
    global _GROUPED, _BEFORE_ANSWERS
    _GROUPED, _BEFORE_ANSWERS = frozenset(fns), before_answers


def _serve(calls: Any, replies: Any) -> None:
    frame = _read_frame(calls)
    if frame is None:
        return
    try:
        initializer, initargs = pickle.loads(frame)
        reply: _Reply = (True, initializer(*initargs) if initializer is not None else None, None)
    except BaseException as exc:
        reply = _failure(exc)
    if not _answer(replies, [reply]) or not reply[0]:
        return  # nobody listens, or the initializer failed: nothing else can run
    group: list[_Reply] = []
    while (frame := _read_frame(calls)) is not None:
        try:
            fn, args, kwargs = pickle.loads(frame)
        except BaseException as exc:
            fn, args, kwargs = _raise, (exc,), {}
        try:
            grouped = fn in _GROUPED
        except TypeError:  # an unhashable callable is none of them
            grouped = False
        if group and not grouped and not _answer(replies, _end_group(group)):
            return  # answers go in the order of the calls: the group's first
        try:
            reply = (True, fn(*args, **kwargs), None)
        except BaseException as exc:  # every failure goes back to the caller, with where it happened
            reply = _failure(exc)
        if grouped:
            group.append(reply)
            if len(group) < _MAX_GROUP and select.select([calls], [], [], 0)[0]:
                continue  # another call is waiting: it joins the group
            reply_now = _end_group(group)
        else:
            reply_now = [reply]
        if not _answer(replies, reply_now):
            return
    if group:
        _answer(replies, _end_group(group))


def _raise(exc: BaseException) -> None:
    raise exc


def _failure(exc: BaseException) -> _Reply:
    return (False, exc, "".join(traceback.format_exception(exc)))


def _end_group(group: list[_Reply]) -> list[_Reply]:
    done = list(group)
    group.clear()
    try:
        if _BEFORE_ANSWERS is not None:
            _BEFORE_ANSWERS()
    except BaseException as exc:
        failure = _failure(exc)
        done = [reply if not reply[0] else failure for reply in done]
    return done


def _answer(replies: Any, group: list[_Reply]) -> bool:
    """Send the answers in one write; False if the crawl stopped listening (killed, or gave up on us)."""
    frames = []
    for reply in group:
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception: say so, with what it was
            data = pickle.dumps((False, RuntimeError(f"the worker's reply cannot be pickled: {exc!r}"), None))
        frames.append(_frame(data))
    try:
        _write_all(replies, b"".join(frames))
    except BrokenPipeError:
        return False
    return True


def _read_frame(stream: Any) -> bytes | None:
    head = _read_exactly(stream, _HEADER.size)
    if head is None:
        return None
    (n,) = _HEADER.unpack(head)
    return _read_exactly(stream, n)


def _read_exactly(stream: Any, n: int) -> bytes | None:
    parts: list[bytes] = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None  # the crawl closed our stdin: done
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write_all(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) :]  # an unbuffered write may take part of it
