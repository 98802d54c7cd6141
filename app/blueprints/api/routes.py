"""Ingest API (filled in below)."""
