"""The board's report: this period, the previous one, now, the rankings and the chart series as one JSON-able
dict (`report()`); the page, the XLSX, the digest and the snapshots read it."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from app.extensions import db
from app.jobs import enqueue
from app.models import OPEN_STATUSES, BoardSnapshot, Category, Direction, Institution, Ticket, utcnow
from app.models.base import insert_or_ignore
from app.services import access
from app.services.board import rollups
from app.services.board.figures import Figures, counted
from app.services.board.periods import Period, Scope, city_tz
from app.services.board.ranks import MIN_VOLUME, ranking
from app.services.board.rollups import aggregate_sets

log = logging.getLogger(__name__)


# --- charts -------------------------------------------------------------------------------------------
def weekly_series(user, end_day: date, weeks: int = 12, scope: Scope = Scope()) -> list[dict]:
    """Received and resolved per week (Monday to Sunday, city time), the last `weeks` weeks to `end_day`."""
    tz = city_tz()
    monday = end_day - timedelta(days=end_day.weekday())
    starts = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    if access.sees_every_ticket(user):
        days = rollups.daily_received_resolved(starts[0], monday + timedelta(days=6), scope)
        if days is not None:  # from the daily rollups
            return [{"week": s.isoformat(),
                     "received": sum(days.get(s + timedelta(days=i), (0, 0))[0] for i in range(7)),
                     "resolved": sum(days.get(s + timedelta(days=i), (0, 0))[1] for i in range(7))} for s in starts]
    edges = [datetime.combine(d, time(0), tz) for d in starts] + [datetime.combine(monday + timedelta(days=7),
                                                                                    time(0), tz)]
    cols = []
    for a, b in zip(edges, edges[1:], strict=False):
        cols.append(func.count().filter(and_(Ticket.created_at >= a, Ticket.created_at < b)))
        cols.append(func.count().filter(and_(Ticket.resolved_at >= a, Ticket.resolved_at < b,
                                             Ticket.status.in_(("resolved", "closed")))))
    first, last = edges[0], edges[-1]
    stmt = select(*cols).select_from(Ticket).where(
        or_(and_(Ticket.created_at >= first, Ticket.created_at < last),
            and_(Ticket.resolved_at >= first, Ticket.resolved_at < last)),
        counted(), *scope.conditions())
    row = db.session.execute(access.visible_tickets(user, stmt)).one()
    return [{"week": starts[i].isoformat(), "received": int(row[2 * i]), "resolved": int(row[2 * i + 1])}
            for i in range(weeks)]


def _pack(sets: tuple[Figures, dict, dict]) -> dict:
    total, by_inst, by_dir = sets
    return {"total": _plain(total), "institutions": [[k, _plain(f)] for k, f in by_inst.items()],
            "directions": [[k, _plain(f)] for k, f in by_dir.items()]}


def _plain(obj) -> dict:
    """A dataclass's fields as a dict, without `asdict()`'s recursive deep copy: every field here is a value made
    for this report alone (numbers, and dicts and lists built just before), shared with nothing."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _unpack(data: dict) -> tuple[Figures, dict, dict]:
    return (Figures(**data["total"]), {k: Figures(**f) for k, f in data["institutions"]},
            {k: Figures(**f) for k, f in data["directions"]})


def previous_sets(user, period: Period, scope: Scope, now: datetime) -> tuple[Figures, dict, dict]:
    """The previous period's figures, kept up to BOARD_PREVIOUS_MAX_AGE: a past period hardly changes (late
    ratings, reopenings, the cohort's overdue count move slowly), and it is half the cost of a long period. Its
    received count per rubric (`growing_categories`) is kept with them."""
    tz = city_tz()
    if not access.sees_every_ticket(user):
        return aggregate_sets(user, *period.bounds(tz), scope, now)
    kept = _kept_previous(period, scope, now)
    if kept is not None:
        return _unpack(kept)
    sets = aggregate_sets(user, *period.bounds(tz), scope, now)
    data = _pack(sets)
    categories = _received_by_category(period, scope)
    if categories is not None:
        data["categories"] = [[c, n] for c, n in categories.items()]
    # not `_store`: a page's transaction is never committed
    keep_later(f"previous|{period.key}|{scope.key}", data, now)
    return sets


def _kept_previous(period: Period, scope: Scope, now: datetime | None) -> dict | None:
    """The kept data of a previous period (`previous_sets`) when young enough at `now`, else None."""
    if now is None:
        return None
    snap = db.session.get(BoardSnapshot, f"previous|{period.key}|{scope.key}")
    max_age = timedelta(seconds=current_app.config["BOARD_PREVIOUS_MAX_AGE"])
    if snap is not None and isinstance(snap.data, dict) and timedelta(0) <= now - snap.computed_at <= max_age:
        return snap.data
    return None


def _received_by_category(period: Period, scope: Scope) -> dict[int, int] | None:
    """rollups.received_by_category of a period, once per report (`rollups.one_pass`)."""
    return rollups._memo(("received_by_category", period.key, scope.key),
                         lambda: rollups.received_by_category(period.start, period.end, scope))


def open_by_direction(user, scope: Scope = Scope(), now: datetime | None = None) -> list[dict]:
    """Tickets open and overdue right now, per direction (those with no executor yet: «Не распределено»)."""
    now = now or utcnow()
    counts = rollups.open_now(scope, now) if access.sees_every_ticket(user) else None
    if counts is None:
        counts = _open_by_direction_live(user, scope, now)
    rows = [{"id": d.id, "name": d.name, "open": counts.get(d.id, (0, 0))[0], "count": counts.get(d.id, (0, 0))[1]}
            for d in db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id))]
    if None in counts:
        rows.append({"id": None, "name": str(_l("Не распределено")), "open": counts[None][0],
                     "count": counts[None][1]})
    return rows


def _open_by_direction_live(user, scope: Scope, now: datetime) -> dict:
    stmt = (select(Institution.direction_id, func.count(), func.count().filter(Ticket.is_overdue(now)))
            .select_from(Ticket).outerjoin(Institution, Institution.id == Ticket.institution_id)
            .where(Ticket.status.in_(OPEN_STATUSES), *scope.conditions())
            .group_by(Institution.direction_id))
    return {k: (int(o), int(d)) for k, o, d in db.session.execute(access.visible_tickets(user, stmt))}


def growing_categories(user, period: Period, scope: Scope = Scope(), limit: int = 8,
                       min_volume: int = MIN_VOLUME, now: datetime | None = None) -> list[dict]:
    """Categories whose received count grew most against the previous period (at least `min_volume` now). With
    `now`: the previous period's counts kept with its figures (`previous_sets`) when young enough."""
    tz = city_tz()
    out = []
    for p in (period, period.previous()):
        counts = None
        if access.sees_every_ticket(user):
            kept = _kept_previous(p, scope, now) if p is not period else None
            if kept is not None and "categories" in kept:
                counts = {c: n for c, n in kept["categories"]}
            else:
                counts = _received_by_category(p, scope)
        if counts is not None:  # kept, or from the daily rollups
            out.append(counts)
            continue
        a, b = p.bounds(tz)
        stmt = (select(Ticket.category_id, func.count()).where(Ticket.created_at >= a, Ticket.created_at < b,
                                                                counted(),
                                                                Ticket.category_id.isnot(None), *scope.conditions())
                .group_by(Ticket.category_id))
        out.append(dict(db.session.execute(access.visible_tickets(user, stmt)).all()))
    cur, prev = out
    names = dict(db.session.execute(select(Category.id, Category.name)).all())
    rows = []
    for cid, n in cur.items():
        before = prev.get(cid, 0)
        if n < min_volume or n <= before:
            continue
        rows.append({"id": cid, "name": names.get(cid, "?"), "current": n, "previous": before,
                     "growth": (n - before) / before if before else None})
    rows.sort(key=lambda r: (-(r["current"] - r["previous"]), r["name"]))
    return rows[:limit]


# --- the whole report ---------------------------------------------------------------------------------
@dataclass
class Report:
    period: dict
    previous_period: dict
    scope: dict
    computed_at: str
    current: dict
    previous: dict
    now: dict = field(default_factory=dict)
    institutions: dict = field(default_factory=dict)
    directions: dict = field(default_factory=dict)
    weekly: list = field(default_factory=list)
    overdue_by_direction: list = field(default_factory=list)
    growing: list = field(default_factory=list)


def report(user, period: Period, scope: Scope = Scope(), now: datetime | None = None) -> dict:
    """Everything the board shows, as the JSON-able dict of `Report` (the page, the XLSX, the digest and the
    snapshot table read the same keys):

    - period, previous_period: {"kind", "start", "end"} (ISO dates); scope: {"direction_id", "institution_id"};
      computed_at: ISO moment (UTC)
    - current, previous: `Figures.as_dict()` of the whole scope — counts (received, resolved, open, overdue, …)
      and the derived shares (sla_share, good_share, reopened_share: 0…1 or None), rating_avg, medians in seconds,
      mean_resolution_days
    - now: {"open", "overdue"} right now
    - institutions, directions: `ranking()` — {"ranked": [RankRow as dict], "unranked": [...] (too few resolved
      to rank), "prior_sla", "prior_good"}
    - weekly: [{"week", "received", "resolved"}], overdue_by_direction: [{"id", "name", "open", "count"}],
      growing: [{"id", "name", "current", "previous", "growth"}]
    The caller may pass a Period and Scope from `parse_period` / `parse_scope`."""
    with rollups.one_pass():  # today's rows from the tickets once for every figure below
        return _report(user, period, scope, now or utcnow())


def _report(user, period: Period, scope: Scope, now: datetime) -> dict:
    tz = city_tz()
    prev = period.previous()
    cur, cur_inst, cur_dir = aggregate_sets(user, *period.bounds(tz), scope, now)
    before, prev_inst, prev_dir = previous_sets(user, prev, scope, now)
    by_direction = open_by_direction(user, scope, now)
    r = Report(
        period={"kind": period.kind, "start": period.start.isoformat(), "end": period.end.isoformat()},
        previous_period={"kind": prev.kind, "start": prev.start.isoformat(), "end": prev.end.isoformat()},
        scope={"direction_id": scope.direction_id, "institution_id": scope.institution_id},
        computed_at=now.isoformat(),
        current=cur.as_dict(), previous=before.as_dict(),
        now={"open": sum(r["open"] for r in by_direction), "overdue": sum(r["count"] for r in by_direction)},
        institutions=ranking("institution", cur_inst, prev_inst, cur),
        directions=ranking("direction", cur_dir, prev_dir, cur),
        weekly=weekly_series(user, period.end, scope=scope),
        overdue_by_direction=by_direction,
        growing=growing_categories(user, period, scope, now=now),
    )
    return _plain(r)


def keep_later(key: str, data: dict, now: datetime) -> None:
    """Have the low queue store a snapshot just computed, for the next viewer (in-process without Redis, in its
    own transaction). A failure to ask is logged: the page is served all the same."""
    try:
        enqueue("app.jobs.board.keep_snapshot", key, data, now.isoformat(), queue="low")
    except Exception:  # Redis down: the periodic refresh keeps the standard periods anyway
        log.exception("could not ask for the board snapshot %s to be kept", key)


def _store(key: str, data: dict, now: datetime) -> None:
    """Store (or replace) the computation `key` made at `now`, unless a newer one is kept already: a slow job (the
    periodic refresh, started before a page computed its own) never puts an older computation back. The kept
    HTML of a computation (app/fragments.py) follows its version forward only, so a computation going back in time
    would leave every page rendering its tables anew until the next one."""
    stmt = insert_or_ignore(BoardSnapshot).values(key=key, computed_at=now, data=data)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"computed_at": now, "data": data},
                                                  where=BoardSnapshot.computed_at <= now))
