"""The Scrapyd route of docs/operations.md, for real: ``scrapyd-deploy local -p policyboard`` builds the
project's egg and uploads it to a Scrapyd node, ``schedule.json`` runs the spider against the replica, and
the snapshot it commits is read back.

The node runs in a virtualenv of its own that sees the project's dependencies but not the project: the
test environment's editable install is a ``.pth`` hook, and a path added by a ``.pth`` line does not run
the ``.pth`` files it holds. So the spider, the pipelines and the site profile can only come from the
deployed egg (a zip file), as on a fresh node. The node listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.parse
import urllib.request
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import archive
from tests.conftest import DAY1_AT, REPO

pytestmark = pytest.mark.slow

#: The deploy target that scrapy.cfg and docs/operations.md name; the test's node takes a free port.
DOCUMENTED_TARGET = "url = http://127.0.0.1:6800/"
PROJECT_FILES = ("scrapy.cfg", "setup.py", "pyproject.toml", "README.md")
PACKAGES = ("crawler", "spiders", "pipelines", "archive")


def _node_environ() -> dict[str, str]:
    """The node's environment: no PYTHONPATH that could lead it to the repository."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@dataclass
class Node:
    url: str
    home: Path
    python: Path

    def get(self, path: str, **query: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(query)}", timeout=10) as r:
            return json.load(r)

    def post(self, path: str, fields: list[tuple[str, str]]) -> dict:
        data = urllib.parse.urlencode(fields).encode()
        with urllib.request.urlopen(f"{self.url}{path}", data=data, timeout=10) as r:
            return json.load(r)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_env(home: Path) -> Path:
    """A virtualenv whose only extra path is the test environment's site-packages; returns its python."""
    import scrapyd

    env = home / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    purelib = sysconfig.get_paths(vars={"base": str(env), "platbase": str(env)})["purelib"]
    deps = Path(scrapyd.__file__).resolve().parent.parent
    (Path(purelib) / "deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return env / "bin" / "python"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("scrapyd")
    python = _node_env(home)
    port = _free_port()
    (home / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
        "eggs_dir = eggs\nlogs_dir = logs\ndbs_dir = dbs\nitems_dir =\n"
        "max_proc = 1\npoll_interval = 0.5\n",
        encoding="utf-8",
    )
    out = (home / "scrapyd.out").open("wb")
    proc = subprocess.Popen(
        [str(python), "-m", "scrapyd"], cwd=home, env=_node_environ(), stdout=out, stderr=subprocess.STDOUT
    )
    node = Node(f"http://127.0.0.1:{port}/", home, python)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert node.get("daemonstatus.json")["status"] == "ok"
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    said = (home / "scrapyd.out").read_text(errors="replace")
                    raise AssertionError(f"Scrapyd did not start:\n{said[-3000:]}") from None
                time.sleep(0.2)
        yield node
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        out.close()


def _project_copy(dest: Path, node_url: str) -> Path:
    """The project's deployable files, with the documented target pointed at the test's node. A copy,
    because building the egg writes build/ and *.egg-info next to setup.py."""
    dest.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = (dest / "scrapy.cfg").read_text(encoding="utf-8")
    assert DOCUMENTED_TARGET in cfg  # the target the docs tell operators to deploy to
    (dest / "scrapy.cfg").write_text(cfg.replace(DOCUMENTED_TARGET, f"url = {node_url}"), encoding="utf-8")
    return dest


def _wait_finished(node: Node, job: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = node.get("listjobs.json", project="policyboard")
        done = [j for j in jobs["finished"] if j["id"] == job]
        if done:
            return done[0]
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not finish in {timeout} s: {jobs}")


def test_the_node_cannot_import_the_project_without_its_egg(node: Node) -> None:
    proc = subprocess.run(
        [str(node.python), "-c", "import scrapy, scrapyd, pyarrow, pandas; import crawler"],
        cwd=node.home,  # where the node runs its jobs
        env=_node_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "No module named 'crawler'" in proc.stderr


def test_deploy_schedule_and_read_back(
    node: Node, replica_day1: str, day1_archive: Path, tmp_path: Path
) -> None:
    project = _project_copy(tmp_path / "project", node.url)
    deploy = Path(sys.executable).parent / "scrapyd-deploy"
    proc = subprocess.run(
        [str(deploy), "local", "-p", "policyboard"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert answer["status"] == "ok" and answer["project"] == "policyboard"
    assert "seoulsolution" in node.get("listspiders.json", project="policyboard")["spiders"]

    root = tmp_path / "archive"
    scheduled = node.post(
        "schedule.json",
        [
            ("project", "policyboard"),
            ("spider", "seoulsolution"),
            ("setting", f"ARCHIVE_ROOT={root}"),
            ("base_url", replica_day1),
            ("at", DAY1_AT),
        ],
    )
    assert scheduled["status"] == "ok", scheduled
    _wait_finished(node, scheduled["jobid"])
    log = (node.home / "logs" / "policyboard" / "seoulsolution" / f"{scheduled['jobid']}.log").read_text(
        encoding="utf-8"
    )
    assert "Spider closed (finished)" in log, log[-3000:]
    assert " ERROR: " not in log, log[-3000:]
    assert "Committed snapshot 20261101T140000Z" in log

    # The node's snapshot holds what `crawler crawl` archives from the same replica at the same time.
    ours, cli = archive.open(root), archive.open(day1_archive)
    runs = ours.runs()
    assert list(runs["snapshot_id"]) == ["20261101T140000Z"]
    assert list(runs["status"]) == ["ok"]
    posts, cli_posts = ours.posts(), cli.posts()
    assert len(posts) == len(cli_posts) > 300
    assert sorted(posts["post_id"]) == sorted(cli_posts["post_id"])
    assert ours.listing()["title"].tolist() == cli.listing()["title"].tolist()
    assert sorted(ours.partners()["name"]) == sorted(cli.partners()["name"])
    assert posts["warc_file"].notna().all()  # each post points at its response in the node's WARC files
    assert all((root / f).is_file() for f in posts["warc_file"].unique())
