"""The project is configured in pyproject.toml. This file exists because ``scrapyd-deploy`` builds a
Scrapyd egg with ``python setup.py bdist_egg`` and, when there is no setup.py, writes one of its own that
knows nothing of the package data (the site profiles) or of pyproject's metadata."""

from setuptools import setup

setup()
