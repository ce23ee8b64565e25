"""The WARC writer's process: what ``crawler.capture.WarcCapture`` hands it and the functions it runs.

Apart from ``crawler.capture`` so that the writer process imports neither Scrapy nor Twisted (its
start-up is CPU taken from the crawl): it unpickles ``Captured`` exchanges and calls ``archive.warc``.
The functions are module-level because the worker receives them pickled by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Captured:
    """One exchange as it went over the wire (``archive.warc.Exchange``)."""

    url: str
    request: bytes  # as written to the socket: request line, header lines, blank line, body
    response_head: bytes  # as received: status line and header lines up to and including the blank line
    response_body: bytes  # as received: content-encoded; chunk framing included if chunked
    remote_ip: str | None
    started_at: datetime  # when the request was written
    complete: bool = True  # False: the connection ended before the end of the response was seen
    interim: bytes = b""  # 1xx interim responses received before this one (Twisted ignores them)

    @property
    def status_line(self) -> bytes:
        return self.response_head.split(b"\n", 1)[0].rstrip(b"\r")


def finish(writer: Any, finished: bool) -> None:
    if finished:
        writer.finish()  # closes the open file and writes the CDXJ of every file
    writer.close()  # else the next run resumes the open file


_WRITER: Any = None


def preload_writer() -> None:
    """The process's initializer: what ``open_writer`` needs, imported before the crawl begins."""
    import archive.warc  # noqa: F401


def open_writer(args: dict[str, Any]) -> None:
    global _WRITER
    from archive.warc import WarcWriter
    from crawler.workers import answer_in_groups

    _WRITER = WarcWriter(**args)
    # Writes that arrive together share one index commit, and the crawl hears of them after it: a page
    # it stages then always has its records (see WarcWriter.commit).
    answer_in_groups([write], _commit)


def write(captured: Captured) -> Any:
    return _WRITER.write(captured, commit=False)


def _commit() -> None:
    if _WRITER is not None:
        _WRITER.commit()


def close_writer(finished: bool) -> None:
    global _WRITER
    writer, _WRITER = _WRITER, None
    if writer is not None:
        finish(writer, finished)
