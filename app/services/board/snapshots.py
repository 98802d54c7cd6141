"""Snapshots of the report for the standard periods: served while young enough, refreshed by jobs."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.extensions import db
from app.models import BoardSnapshot, Direction, utcnow
from app.services import access
from app.services.board.periods import Period, Scope, standard_period, today
from app.services.board.reporting import _store, keep_later, report

log = logging.getLogger(__name__)

# --- snapshots: the figures of the standard periods, kept fresh by a job -------------------------------
SNAPSHOT_KINDS = ("today", "week", "month", "quarter", "year")
LONG_KINDS = ("quarter", "year")


class _Everyone:
    """The job's viewpoint: every ticket (the board's users all see every ticket)."""

    is_authenticated = True
    role = "analyst"
    institution_id = None


def _snapshot_key(period: Period, scope: Scope) -> str:
    return f"{period.key}|{scope.key}"


def cached_report(user, period: Period, scope: Scope = Scope(), *, force: bool = False,
                  now: datetime | None = None) -> dict:
    """The report from a snapshot young enough, else computed now (and kept). Young enough: BOARD_SNAPSHOT_MAX_AGE;
    a quarter or a year BOARD_LONG_SNAPSHOT_MAX_AGE (the directions' ones are refreshed every 10 minutes by a job:
    seconds of work each, and a long period's figures move slowly). A report computed here is stored by a job
    (`keep_later`): the page that asked writes nothing."""
    now = now or utcnow()
    if not access.sees_every_ticket(user):
        return report(user, period, scope, now)
    key = _snapshot_key(period, scope)
    snap = db.session.get(BoardSnapshot, key)
    if snap is not None and not force and young_enough(period, snap.computed_at, now):
        return snap.data
    data = report(user, period, scope, now)
    keep_later(key, data, now)
    return data


def young_enough(period: Period, computed_at: datetime, now: datetime) -> bool:
    """Whether a snapshot computed at `computed_at` may be served for `period` now (cached_report's rule)."""
    long = period.kind in LONG_KINDS
    max_age = timedelta(seconds=current_app.config["BOARD_LONG_SNAPSHOT_MAX_AGE" if long else "BOARD_SNAPSHOT_MAX_AGE"])
    return timedelta(0) <= now - computed_at <= max_age


def keep(key: str, data: dict, computed_at: datetime) -> None:
    """Store (or replace) the snapshot `key`. The caller commits."""
    _store(key, data, computed_at)


def refresh_snapshots(now: datetime | None = None) -> int:
    """Recompute the city-wide report of every standard period, in the caller's transaction. Returns how many."""
    return sum(1 for key in refresh_snapshot_steps(now) if key != "purge")


def refresh_snapshot_steps(now: datetime | None = None) -> Iterator[str]:
    """The city-wide snapshots one by one: yields each stored key, then "purge" after deleting old ones. The
    job commits at each yield (a snapshot is kept even if a later one fails)."""
    now = now or utcnow()
    on = today(now)
    for kind in SNAPSHOT_KINDS:
        period = standard_period(kind, on)
        key = _snapshot_key(period, Scope())
        _store(key, report(_Everyone(), period, Scope(), now), now)
        yield key
    # yesterday's and older snapshots are never read again
    db.session.execute(delete(BoardSnapshot).where(BoardSnapshot.computed_at < now - timedelta(days=2)))
    yield "purge"


def refresh_direction_snapshots(now: datetime | None = None) -> int:
    """Recompute the quarter and the year of every direction, in the caller's transaction. Returns how many."""
    return sum(1 for _ in refresh_direction_snapshot_steps(now))


def refresh_direction_snapshot_steps(now: datetime | None = None) -> Iterator[str]:
    """Each direction's quarter and year (the job, every 10 minutes: those take seconds live, the shorter
    periods well under one): yields each stored key; the job commits at each yield."""
    now = now or utcnow()
    on = today(now)
    for direction_id in db.session.scalars(select(Direction.id).order_by(Direction.sort_order, Direction.id)).all():
        scope = Scope(direction_id=direction_id)
        for kind in LONG_KINDS:
            period = standard_period(kind, on)
            key = _snapshot_key(period, scope)
            _store(key, report(_Everyone(), period, scope, now), now)
            yield key
