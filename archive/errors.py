"""The archive's own exceptions."""

from __future__ import annotations

from typing import Any


class ArchiveVersionError(RuntimeError):
    """The archive (or one file of it) was written by a newer schema version than this reader's."""


class ArchiveFormatError(RuntimeError):
    """The archive is in a layout this operation does not handle (e.g. a writer finding v1 snapshots)."""


class ArchiveLocked(RuntimeError):
    """Another live process holds the crawl lock of this archive and site.

    ``holder`` is what that process wrote into the lock file: ``pid``, ``host``, ``started_at``, ``argv``
    (an empty dict if it had not written it yet)."""

    def __init__(self, message: str, holder: dict[str, Any], path: str) -> None:
        super().__init__(message)
        self.holder = holder
        self.path = path


class StageError(RuntimeError):
    """Pages that ``SnapshotWriter.flush`` could not stage (the other pages of the flush were staged).

    ``failed`` maps each page's source to why."""

    def __init__(self, failed: dict[str, str]) -> None:
        first = next(iter(failed.items()))
        super().__init__(f"{len(failed)} page(s) not staged, e.g. {first[0]}: {first[1]}")
        self.failed = failed
