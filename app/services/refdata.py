"""The version of the reference data (directions, institutions, categories) and a memo keyed by it.

Every change to those tables bumps `data_versions.version` in the same transaction (database triggers, migration
0029), whoever makes it: a page, the CLI, a job, plain SQL. A page reads the version once per request (one
primary-key lookup) and takes what it builds from that data — the queue's drop-down lists, their <option> HTML —
from a memo keyed by (what, version, locale). A web process whose memo holds an older version never serves it:
the key no longer matches, so every process on every machine shows a change from the next request on. The memo
holds a few versions' entries (lists of ~140 items), then starts again.

The version is read before the data it guards, so an entry can only be newer than its key, never older.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import has_request_context, request
from flask_babel import get_locale
from sqlalchemy import select

from app.extensions import db
from app.models import DataVersion

REFERENCE = "reference"
_ENVIRON_KEY = "om.refdata.version"
T = TypeVar("T")

_lock = threading.Lock()
_memo: dict[tuple, object] = {}
MAX_ENTRIES = 256  # a few versions' worth (≈15 lists a version and language); then it starts again


def version(name: str = REFERENCE) -> int:
    """The current version (read once per request; outside a request, every call reads it). Version numbers come
    from a sequence (migration 0029): never given twice, even by a transaction that rolled back."""
    if has_request_context():
        cached = request.environ.get(_ENVIRON_KEY)
        if cached is not None:
            return cached
    value = db.session.scalar(select(DataVersion.version).where(DataVersion.name == name))
    value = -1 if value is None else int(value)  # no row (a database before 0029): nothing is memoised
    if has_request_context():
        request.environ[_ENVIRON_KEY] = value
    return value


def memo(key: tuple, build: Callable[[], T]) -> T:
    """`build()` once per (key, reference version, locale) in this process."""
    v = version()
    full = (key, v, str(get_locale() or ""))
    hit = _memo.get(full)
    if hit is not None:
        return hit  # type: ignore[return-value]
    value = build()
    if v >= 0:
        with _lock:
            if len(_memo) >= MAX_ENTRIES:
                _memo.clear()
            _memo[full] = value
    return value


def forget() -> None:
    """Drop the memo (tests: behave like a freshly started process)."""
    with _lock:
        _memo.clear()
