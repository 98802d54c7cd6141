"""The version of the reference data (directions, institutions, categories) and a memo keyed by it.

Every change to those tables bumps `data_versions.version` in the same transaction (database triggers, migration
0029), whoever makes it: a page, the CLI, a job, plain SQL. A page reads the version once per request (one
primary-key lookup) and takes what it builds from that data — the queue's drop-down lists, their <option> HTML —
from a memo keyed by (what, version, locale). A web process whose memo holds an older version never serves it:
the key no longer matches, so every process on every machine shows a change from the next request on. The memo
holds a few versions' entries (lists of ~140 items), then starts again.

The version is read before the data it guards, so an entry can only be newer than its key, never older. What a
request builds after writing through its session (its own uncommitted changes, which a rollback may undo) is not
kept, and a commit or rollback makes the request read the version again.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import has_request_context, request
from flask_babel import get_locale
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import DataVersion

REFERENCE = "reference"
_ENVIRON_KEY = "om.refdata.version"
_WROTE = "om.refdata.wrote"  # session.info: this transaction has written (flushed or executed a non-SELECT)
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


def preset(value: int | None, name: str = REFERENCE) -> None:
    """The version as the caller's own statement read it (a scalar subquery beside its data, e.g. the ticket
    page's), so that version() reads none of its own in this request — the same value at the same moment."""
    if name == REFERENCE and has_request_context() and not written():
        request.environ[_ENVIRON_KEY] = -1 if value is None else int(value)


def memo(key: tuple, build: Callable[[], T]) -> T:
    """`build()` once per (key, reference version, locale) in this process."""
    v = version()
    full = (key, v, str(get_locale() or ""))
    hit = _memo.get(full)
    if hit is not None:
        return hit  # type: ignore[return-value]
    value = build()
    if v >= 0 and not db.session.info.get(_WROTE):
        with _lock:
            if len(_memo) >= MAX_ENTRIES:
                _memo.clear()
            _memo[full] = value
    return value


def written() -> bool:
    """Whether the current transaction has written (what it reads may be its own uncommitted changes)."""
    return bool(db.session.info.get(_WROTE))


def _wrote(session, *_args) -> None:
    session.info[_WROTE] = True


def _wrote_statement(state) -> None:
    if not state.is_select:
        state.session.info[_WROTE] = True


def _ended(session, *_args) -> None:
    session.info.pop(_WROTE, None)
    if has_request_context():
        request.environ.pop(_ENVIRON_KEY, None)  # read the version again after a commit or a rollback


def register() -> None:
    """Track writes through every session (idempotent; called by the app factory): see the module's docstring."""
    if not event.contains(Session, "after_flush", _wrote):
        event.listen(Session, "after_flush", _wrote)
        event.listen(Session, "do_orm_execute", _wrote_statement)
        for name in ("after_commit", "after_rollback", "after_soft_rollback"):
            event.listen(Session, name, _ended)


def forget() -> None:
    """Drop the memo (tests: behave like a freshly started process)."""
    with _lock:
        _memo.clear()
