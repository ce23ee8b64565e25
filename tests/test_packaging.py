"""Our top-level packages must be this repository's, never PyPI's unrelated `crawler`/`archive`/... ."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import pytest
import scrapy

from tests.conftest import REPO


@pytest.mark.parametrize("name", ["crawler", "spiders", "pipelines", "archive"])
def test_package_imports_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert importlib.util.find_spec(name).origin == str(REPO / name / "__init__.py")


def test_distribution_has_its_own_name_and_pins_scrapy() -> None:
    dist = importlib.metadata.distribution("policyboard-archiver")
    requires = dist.requires or []
    assert any(r.startswith("scrapy") and "<2.20" in r and ">=2.16" in r for r in requires), requires
    for unrelated in ("crawler", "archive", "spiders", "pipelines"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(unrelated)


def test_installed_scrapy_is_in_the_tested_range() -> None:
    major, minor = (int(x) for x in scrapy.__version__.split(".")[:2])
    assert (2, 16) <= (major, minor) < (2, 20)


def test_console_script_and_module_entry_point() -> None:
    module = subprocess.run([sys.executable, "-m", "crawler", "--version"], capture_output=True, text=True)
    assert module.returncode == 0
    assert module.stdout.strip() == "crawler 0.1.0"
    script = subprocess.run(
        [str(REPO / ".venv" / "bin" / "crawler"), "--version"], capture_output=True, text=True
    )
    assert script.stdout.strip() == "crawler 0.1.0"


def test_scrapy_finds_the_site_spider_from_the_repository_root() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["board", "seoulsolution"]


def test_archive_loads_its_parts_on_first_use() -> None:
    """`import archive` is light (the WARC writer's process needs only archive.warc), and every documented
    name and submodule is still an attribute of the package; archive.compact stays the function."""
    code = (
        "import sys, archive\n"
        "print(sorted(m for m in ('pyarrow', 'pandas', 'scrapy') if m in sys.modules))\n"
        "import archive.compaction\n"
        "print(archive.schema.SCHEMA_VERSION == archive.SCHEMA_VERSION,"
        " archive.schema.PARTITIONING is not None)\n"
        "print(archive.compact.__name__, archive.open.__name__, archive.warc.publish.__name__)\n"
        "print(all(hasattr(archive, name) for name in archive.__all__))\n"
        "try:\n    archive.no_such_name\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]",
        "True True",
        "compact open_archive publish",
        "True",
        "module 'archive' has no attribute 'no_such_name'",
    ]
