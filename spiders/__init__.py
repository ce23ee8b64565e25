"""Spiders: navigation only (which URL next, which extractor reads it)."""
