"""Run the replica in a child process (the pattern of Scrapy's tests/mockserver.py): the child binds port 0
and prints its address, which we read back. Tests and ``crawler demo`` use this."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

_READY = re.compile(r"^Replica serving (http://[^/\s]+)/ ")
_REPO_ROOT = Path(__file__).resolve().parents[2]


class ReplicaProcess:
    """``with ReplicaProcess(day=2) as replica: fetch(replica.url + "/ko/policy-news")``."""

    def __init__(
        self,
        day: int = 1,
        posts: int = 320,
        redesign: bool = False,
        access_log: Path | None = None,
        *,
        busy_every: int = 0,
        startup_timeout: float = 120.0,  # a 20,000-post corpus takes about 20 s to generate
    ) -> None:
        self.busy_every = busy_every
        self.day = day
        self.posts = posts
        self.redesign = redesign
        self.access_log = access_log
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "crawler.replica",
            "--port",
            "0",
            "--day",
            str(self.day),
            "--posts",
            str(self.posts),
        ]
        if self.redesign:
            cmd.append("--redesign")
        if self.access_log is not None:
            cmd += ["--access-log", str(self.access_log)]
        if self.busy_every:
            cmd += ["--busy-every", str(self.busy_every)]
        return cmd

    def start(self) -> ReplicaProcess:
        # stderr goes to a file, never a pipe: the access log defaults to stderr and would fill a pipe
        # that nobody reads.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed in stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self._fail(f"no address line within {self.startup_timeout:.0f} s")
                chunk = os.read(self._proc.stdout.fileno(), 1)
                if not chunk:
                    self._fail(f"exited with status {self._proc.wait()} before printing its address")
                line += chunk
        match = _READY.match(line.decode("utf-8", "replace"))
        if not match:
            self._fail(f"unexpected first line {line!r}")
        self.url = match.group(1)
        return self

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def _fail(self, reason: str) -> None:
        stderr = self.stderr_text()
        self.stop()
        raise RuntimeError(
            f"replica did not start ({' '.join(self.command())}): {reason}\n--- stderr ---\n{stderr}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> ReplicaProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
