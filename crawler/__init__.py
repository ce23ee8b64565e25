"""Archival crawler for policy-news bulletin boards."""

__version__ = "0.1.0"
