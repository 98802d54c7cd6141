"""Rendered HTML that does not change from one request to the next, rendered once per data version.

A fragment (the board's ranking tables, the rating's standings, …) is a pure function of a stored data version
(a snapshot's key and the moment it was computed), the interface language, the application's script root, the
template's source and whatever of the viewer the caller says changes the HTML (`vary`: the role, the scope).
Its HTML is kept in `board_snapshots`, one row per fragment and variant: every web process on every machine
reads the same row, and a new data version is a miss (the row's version is compared), so nothing is ever
served stale; the row is then replaced. Like the snapshots, the page that renders a missing fragment writes
nothing itself: a low-priority job stores it (in-process without Redis). A process holds the rows it has decoded
by (key, computed_at), and each request reads the rows' `computed_at` first (`prefetch`): a replaced row has a
new moment, so what is held is never served for it.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from flask import current_app, has_request_context, request
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy import select

from app.extensions import db
from app.jobs import enqueue
from app.models import BoardSnapshot
from app.models.base import insert_or_ignore
from app.services import refdata

log = logging.getLogger(__name__)

PREFIX = "html|"
# Bumped when what a fragment's HTML depends on changes in a way the key cannot see (the templates' sources and the
# code the caller names are in the key already).
SHAPE = "1"
KEY_LENGTH = 200  # board_snapshots.key
_digests: dict[str, str] = {}  # template name or module file → SHA-256 of its source: immutable for the process


def _source_digest(templates: Iterable[str], code: Iterable[str]) -> str:
    out = []
    for name in templates:
        if name not in _digests:
            source, _, _ = current_app.jinja_env.loader.get_source(current_app.jinja_env, name)
            _digests[name] = hashlib.sha256(source.encode()).hexdigest()
        out.append(_digests[name])
    for path in code:
        if path not in _digests:
            _digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        out.append(_digests[path])
    return ":".join(out)


def key(name: str, data_key: str, templates: Iterable[str] = (), vary: Iterable = (), code: Iterable[str] = ()) -> str:
    """The row's key: the fragment, its data (without the version: one row per variant, replaced when the data
    changes) and a digest of everything else the HTML depends on: the language, the script root, the templates'
    sources, the source files of the code that shapes the values shown (`code`: module files, so a deployment
    that changes them starts new rows) and `vary` (what of the viewer or the configuration changes the HTML)."""
    root = request.script_root if has_request_context() else ""
    parts = [SHAPE, str(get_locale() or ""), root, _source_digest(templates, code), *(str(v) for v in vary)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    row_key = f"{PREFIX}{name}|{digest}|{data_key}"
    if len(row_key) > KEY_LENGTH:  # never cut: two long data keys sharing a beginning would share a row
        row_key = f"{PREFIX}{name}|{digest}|#{hashlib.sha256(data_key.encode()).hexdigest()}"
    return row_key


class Kept(NamedTuple):
    key: str
    computed_at: datetime  # the row's version: a snapshot's moment; a fragment's data version (`keep`)
    data: dict


# Rows read whole before, by (key, computed_at, fields): a row is only ever replaced with a new `computed_at` (a
# snapshot is recomputed at a new moment; a fragment is the same pure function of its key and data version), so an
# entry is its row as long as the row's `computed_at` is the one read from the database in this request — another
# process's write is a new moment, a miss. Spares decoding ≈ 140–330 KB of JSON a request; bounded.
_held: dict[tuple, Kept] = {}
_held_lock = threading.Lock()
MAX_HELD = 128  # ≈ 100 KB each at most


def prefetch(keys: list[str], *, head: str | None = None, fields: tuple[str, ...] = ()) -> dict[str, Kept]:
    """The kept rows of several fragments, by key (for `cached(..., kept=)`). With `head`: also that row (the data
    the fragments are rendered from, a report snapshot), its `data` only the top-level `fields`. One statement
    reads every row's version (`computed_at`); the data of a row not held at that version (`_held`) is read by a
    second one."""
    wanted = [*keys, *([head] if head is not None else [])]
    if not wanted:
        return {}
    versions = dict(db.session.execute(select(BoardSnapshot.key, BoardSnapshot.computed_at)
                                       .where(BoardSnapshot.key.in_(wanted))).all())
    out: dict[str, Kept] = {}
    missing = []
    for key, computed_at in versions.items():
        hit = _held.get((key, computed_at, fields if key == head else ()))
        if hit is not None:
            out[key] = hit
        else:
            missing.append(key)
    if missing:
        hold = not refdata.written()  # never a row this transaction may have written (a rollback would undo it)
        for r in db.session.execute(select(BoardSnapshot.key, BoardSnapshot.computed_at, BoardSnapshot.data)
                                    .where(BoardSnapshot.key.in_(missing))):
            data = r.data
            if r.key == head:
                data = {name: data.get(name) for name in fields} if isinstance(data, dict) else {}
            out[r.key] = kept = Kept(r.key, r.computed_at, data)
            if hold:
                with _held_lock:  # under the version read with the data: a row replaced meanwhile is its own entry
                    if len(_held) >= MAX_HELD:
                        _held.clear()
                    _held[(r.key, r.computed_at, fields if r.key == head else ())] = kept
    return out


def forget() -> None:
    """Drop the rows held (tests: behave like a freshly started process)."""
    with _held_lock:
        _held.clear()


def cached(name: str, data_key: str, version: datetime, render: Callable[[], str], *,
           templates: Iterable[str] = (), vary: Iterable = (), row_key: str | None = None,
           kept: dict | None = None) -> Markup:
    """The fragment's HTML for data `data_key` as of `version` (the moment the data was computed): the kept
    row when it is of this version, else `render()` now (and kept by a job for the next viewer). `row_key`:
    `key(name, data_key, templates, vary)` when the caller has it already; `kept`: `prefetch`'s rows (a key
    missing there is not kept)."""
    row_key = row_key or key(name, data_key, tuple(templates), vary)
    stamp = version.isoformat()
    row = kept.get(row_key) if kept is not None else db.session.get(BoardSnapshot, row_key)
    if is_current(row, version):
        return Markup(row.data["html"])
    html = str(render())
    try:
        enqueue("app.jobs.board.keep_fragment", row_key, {"version": stamp, "html": html}, stamp, queue="low")
    except Exception:  # Redis down: the next viewer renders it again
        log.exception("could not ask for the fragment %s to be kept", row_key)
    return Markup(html)


def is_current(row, version: datetime) -> bool:
    """Whether a kept row (`prefetch`'s or a BoardSnapshot) holds the fragment of data version `version`."""
    return row is not None and isinstance(row.data, dict) and row.data.get("version") == version.isoformat()


def keep(row_key: str, data: dict, version: datetime) -> None:
    """Store a rendered fragment unless a newer version is kept already (a slow job never puts an older one
    back). The caller commits."""
    stmt = insert_or_ignore(BoardSnapshot).values(key=row_key, computed_at=version, data=data)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["key"], set_={"computed_at": version, "data": data},
        where=BoardSnapshot.computed_at <= version))
