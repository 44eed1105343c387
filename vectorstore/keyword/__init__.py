"""Keyword search: the analyzer, the FTS5 index's columns, BM25 scoring and term statistics."""
