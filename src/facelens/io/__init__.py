"""Readers (images, folders, videos, arrays, bytes) and writers (CSV, Parquet, JSONL, crops, overlays)."""
