"""The head of city's control board: figures over a period beside the previous one, institutions and directions
ranked fairly, the weekly charts. One place for every board figure; the page, the export, the weekly digest and
the snapshot job all read `report()`.

Definitions (the page says them too):
* received — tickets created in the period (merged duplicates are not counted twice; tickets rejected as spam,
  advertising, thanks or a repeat are not appeals and are not counted anywhere);
* open / overdue — of those received, still open now / overdue now or resolved after their deadline;
* resolved, on time — tickets resolved in the period (resolved_at in it), and of them resolved by the deadline;
* median first response — over tickets received in the period that got one (first response − creation);
* median / mean resolution — over tickets resolved in the period (resolution − creation, calendar time);
* ratings — residents' ratings given in the period, each resident's answer once (the residents of tickets merged
  into a ticket answer for themselves); «good» is 4 or 5;
* reopened — of tickets received in the period that were ever resolved, the share a resident returned to work.

All of a period's figures come from one pass over the tickets created, resolved or rated in it (three indexed
ranges, `FILTER` aggregates), so the numbers of one row always agree with each other.
"""
from __future__ import annotations

import calendar
import logging
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, literal, or_, select, tuple_

from app.extensions import db
from app.htmx import parse_id
from app.jobs import enqueue
from app.models import OPEN_STATUSES, BoardSnapshot, Category, Direction, Institution, Ticket, VerdictAnswer, utcnow
from app.models.base import insert_or_ignore
from app.services import access

log = logging.getLogger(__name__)

PERIOD_KINDS = {
    "today": _l("Сегодня"),
    "week": _l("Неделя"),
    "month": _l("Месяц"),
    "quarter": _l("Квартал"),
    "year": _l("Год"),
    "custom": _l("Свой период"),
}
DEFAULT_PERIOD = "month"
EARLIEST = date(2000, 1, 1)
MAX_CUSTOM_DAYS = 3 * 366

# Fair ranking: institutions with fewer resolved tickets than this are listed, not ranked; every institution's
# results are blended with SMOOTHING tickets "as good as the city average" (a Bayesian average), so one ticket
# answered in four minutes does not top the table.
MIN_VOLUME = 5
SMOOTHING = 10
# Federal quality targets (the lines to beat).
TARGET_MEAN_DAYS = 8
TARGET_GOOD_SHARE = 0.60


# --- periods ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # first day, city time
    end: date  # last day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as UTC-aware moments: midnight to midnight in the city."""
        return (datetime.combine(self.start, time(0), tz), datetime.combine(self.end + timedelta(days=1), time(0), tz))

    def previous(self) -> Period:
        """The same stretch one period earlier: this month to date ↔ the same days of last month."""
        if self.kind == "month":
            start = _add_months(self.start, -1)
            return Period(self.kind, start, min(start + (self.end - self.start), _month_end(start)))
        if self.kind == "quarter":
            start = _add_months(self.start, -3)
            return Period(self.kind, start, min(start + (self.end - self.start), _month_end(_add_months(start, 2))))
        if self.kind == "year":
            start = self.start.replace(year=self.start.year - 1)
            return Period(self.kind, start, min(start + (self.end - self.start), date(start.year, 12, 31)))
        if self.kind == "week":  # Monday to Friday ↔ Monday to Friday of the week before
            return Period(self.kind, self.start - timedelta(days=7), self.end - timedelta(days=7))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.start.isoformat()}:{self.end.isoformat()}"


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def city_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["CITY_TZ"])


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(city_tz()).date()


def standard_period(kind: str, on: date) -> Period:
    """A calendar period up to and including `on`: today, this week (from Monday), month, quarter, year."""
    if kind == "today":
        return Period(kind, on, on)
    if kind == "week":
        return Period(kind, on - timedelta(days=on.weekday()), on)
    if kind == "quarter":
        return Period(kind, date(on.year, 3 * ((on.month - 1) // 3) + 1, 1), on)
    if kind == "year":
        return Period(kind, date(on.year, 1, 1), on)
    return Period("month", on.replace(day=1), on)


def _parse_date(value: str | None) -> date | None:
    value = (value or "").strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def parse_period(args, now: datetime | None = None) -> tuple[Period, list[str]]:
    """The period from request arguments (`period`, `from`, `to`); bad input gives the default and a reason."""
    on = today(now)
    kind = (args.get("period") or DEFAULT_PERIOD).strip()
    errors: list[str] = []
    if kind not in PERIOD_KINDS:
        return standard_period(DEFAULT_PERIOD, on), ["Неизвестный период — показан текущий месяц"]
    if kind != "custom":
        return standard_period(kind, on), errors
    raw_from, raw_to = args.get("from"), args.get("to")
    start, end = _parse_date(raw_from), _parse_date(raw_to)
    if start is None or end is None:
        errors.append("Укажите даты начала и конца периода в виде ДД.ММ.ГГГГ — показан текущий месяц")
    elif end < start:
        errors.append("Конец периода раньше начала — показан текущий месяц")
    elif start < EARLIEST or end > on:
        errors.append(f"Даты должны быть между {EARLIEST:%d.%m.%Y} и сегодняшним днём — показан текущий месяц")
    elif (end - start).days + 1 > MAX_CUSTOM_DAYS:
        errors.append("Период длиннее трёх лет — показан текущий месяц")
    else:
        return Period("custom", start, end), errors
    return standard_period(DEFAULT_PERIOD, on), errors


# --- scope (direction / institution filters) ---------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    direction_id: int | None = None
    institution_id: int | None = None

    def conditions(self) -> list:
        conds = []
        if self.institution_id is not None:
            conds.append(Ticket.institution_id == self.institution_id)
        if self.direction_id is not None:
            conds.append(Ticket.institution_id.in_(
                select(Institution.id).where(Institution.direction_id == self.direction_id)))
        return conds

    @property
    def key(self) -> str:
        return f"d{self.direction_id or ''}:i{self.institution_id or ''}"


def parse_scope(args) -> tuple[Scope, list[str]]:
    errors: list[str] = []
    ids = {}
    for name, model, message in (("direction", Direction, "Направление не найдено — показаны все направления"),
                                 ("institution", Institution, "Учреждение не найдено — показаны все учреждения")):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        value = parse_id(raw)
        if value is None or db.session.get(model, value) is None:
            errors.append(message)
            continue
        ids[name] = value
    return Scope(ids.get("direction"), ids.get("institution")), errors


# --- the aggregate ------------------------------------------------------------------------------------
@dataclass
class Figures:
    received: int = 0
    open: int = 0
    overdue: int = 0
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    rating_sum: int = 0
    good: int = 0
    reopened: int = 0
    ever_resolved: int = 0
    resolution_seconds: float = 0.0
    median_first_response: float | None = None  # seconds
    median_resolution: float | None = None  # seconds

    @property
    def sla_share(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None

    @property
    def rating_avg(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def good_share(self) -> float | None:
        return self.good / self.rated if self.rated else None

    @property
    def reopened_share(self) -> float | None:
        return self.reopened / self.ever_resolved if self.ever_resolved else None

    @property
    def mean_resolution_days(self) -> float | None:
        return self.resolution_seconds / self.resolved / 86400 if self.resolved else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(sla_share=self.sla_share, rating_avg=self.rating_avg, good_share=self.good_share,
                 reopened_share=self.reopened_share, mean_resolution_days=self.mean_resolution_days)
        return d


# Not appeals, not counted anywhere on the board: duplicates merged into another ticket, and tickets moderators
# rejected as noise (spam, advertising, thanks, a repeat).
NOISE_REASONS = ("spam", "advertising", "thanks", "duplicate")


def counted():
    """The tickets the board counts (SQL condition)."""
    return and_(Ticket.status != "merged",
                or_(Ticket.status != "rejected", Ticket.reject_reason.is_(None),
                    Ticket.reject_reason.notin_(NOISE_REASONS)))


def _seconds(later, earlier):
    """Seconds between two timestamp columns, on PostgreSQL and SQLite."""
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _conditions(start: datetime, end: datetime, now: datetime) -> dict:
    created = and_(Ticket.created_at >= start, Ticket.created_at < end)
    resolved = and_(Ticket.resolved_at >= start, Ticket.resolved_at < end, Ticket.status.in_(("resolved", "closed")))
    rated = and_(Ticket.rated_at >= start, Ticket.rated_at < end, Ticket.rating.isnot(None))
    return {
        "any": or_(created, and_(Ticket.resolved_at >= start, Ticket.resolved_at < end),
                   and_(Ticket.rated_at >= start, Ticket.rated_at < end)),
        "created": created, "resolved": resolved, "rated": rated,
        "overdue": and_(created, or_(Ticket.is_overdue(now), Ticket.resolved_at > Ticket.resolution_due_at)),
        "first": and_(created, Ticket.first_responded_at.isnot(None)),
    }


_COUNTS = ("received", "open", "overdue", "resolved", "on_time", "rated", "rating_sum", "good", "reopened",
           "ever_resolved", "resolution_seconds")


def _aggregate_columns(c: dict, postgres: bool) -> list:
    res_secs = _seconds(Ticket.resolved_at, Ticket.created_at)
    first_secs = _seconds(Ticket.first_responded_at, Ticket.created_at)
    cols = [
        func.count().filter(c["created"]),
        func.count().filter(and_(c["created"], Ticket.status.in_(OPEN_STATUSES))),
        func.count().filter(c["overdue"]),
        func.count().filter(c["resolved"]),
        func.count().filter(and_(c["resolved"], Ticket.resolved_at <= Ticket.resolution_due_at)),
        func.count().filter(c["rated"]),
        func.coalesce(func.sum(Ticket.rating).filter(c["rated"]), 0),
        func.count().filter(and_(c["rated"], Ticket.rating >= 4)),
        func.count().filter(and_(c["created"], Ticket.reopen_count > 0)),
        func.count().filter(and_(c["created"], or_(Ticket.resolved_at.isnot(None), Ticket.reopen_count > 0))),
        func.coalesce(func.sum(res_secs).filter(c["resolved"]), 0),
    ]
    if postgres:
        cols += [func.percentile_cont(0.5).within_group(first_secs).filter(c["first"]),
                 func.percentile_cont(0.5).within_group(res_secs).filter(c["resolved"])]
    return cols


def _figures(values, postgres: bool) -> Figures:
    f = Figures(**{name: (float(v) if name == "resolution_seconds" else int(v or 0))
                   for name, v in zip(_COUNTS, values[:11], strict=True)})
    if postgres:
        f.median_first_response = float(values[11]) if values[11] is not None else None
        f.median_resolution = float(values[12]) if values[12] is not None else None
    return f


def aggregate(user, start: datetime, end: datetime, scope: Scope = Scope(), group=None,
              now: datetime | None = None) -> dict:
    """Figures of [start, end) per value of `group` (a column, or None for one total under the key None)."""
    now = now or utcnow()
    c = _conditions(start, end, now)
    key = group if group is not None else literal(None)
    postgres = _dialect() == "postgresql"
    stmt = select(key.label("k"), *_aggregate_columns(c, postgres)).select_from(Ticket).where(
        c["any"], counted(), *scope.conditions())
    stmt = access.visible_tickets(user, stmt)
    if group is not None:
        stmt = stmt.group_by(key)
        if group.table is not Ticket.__table__:
            stmt = stmt.outerjoin(group.table, _join_condition(group))
    out: dict = {row[0]: _figures(row[1:], postgres) for row in db.session.execute(stmt)}
    if not postgres:
        _portable_medians(out, user, c, scope, group)
    _add_other_answers(out, user, start, end, scope, group)
    if group is None and None not in out:
        out[None] = Figures()
    return out


def _add_other_answers(out: dict, user, start: datetime, end: datetime, scope: Scope, group) -> None:
    """Every resident's answer counts: the ratings given in the period by residents other than a ticket's own
    (residents of the tickets merged into it, app/services/verdict.py) are added to the ticket's figures."""
    key = group if group is not None else literal(None)
    rated = and_(VerdictAnswer.rated_at >= start, VerdictAnswer.rated_at < end, VerdictAnswer.rating.isnot(None))
    stmt = (select(key, func.count(), func.coalesce(func.sum(VerdictAnswer.rating), 0),
                   func.count().filter(VerdictAnswer.rating >= 4))
            .select_from(VerdictAnswer).join(Ticket, Ticket.id == VerdictAnswer.ticket_id)
            .where(rated, or_(Ticket.resident_id.is_(None), VerdictAnswer.resident_id != Ticket.resident_id),
                   counted(), *scope.conditions()))
    if group is not None:
        stmt = stmt.group_by(key)
        if group.table is not Ticket.__table__:
            stmt = stmt.outerjoin(group.table, _join_condition(group))
    for k, n, total, good in db.session.execute(access.visible_tickets(user, stmt)):
        if not n:
            continue
        f = out.setdefault(k, Figures())
        f.rated += int(n)
        f.rating_sum += int(total)
        f.good += int(good)


def aggregate_sets(user, start: datetime, end: datetime, scope: Scope = Scope(),
                   now: datetime | None = None) -> tuple[Figures, dict, dict]:
    """The city total, per institution and per direction. On PostgreSQL three statements: the counts in one
    pass (GROUPING SETS); the resolution medians over the period's resolved tickets only (GROUPING SETS); the
    first-response median of the city. The first-response median is not computed per institution or direction
    (no table shows it; it would sort every received ticket three times)."""
    if _dialect() != "postgresql":
        return (aggregate(user, start, end, scope, None, now)[None],
                aggregate(user, start, end, scope, Ticket.institution_id, now),
                aggregate(user, start, end, scope, Institution.direction_id, now))
    now = now or utcnow()
    c = _conditions(start, end, now)
    inst, direction = Ticket.institution_id, Institution.direction_id
    sets = func.grouping_sets(tuple_(), tuple_(inst), tuple_(direction))

    def grouped(columns, where):
        stmt = (select(func.grouping(inst, direction), inst, direction, *columns)
                .select_from(Ticket).outerjoin(Institution, Institution.id == Ticket.institution_id)
                .where(where, counted(), *scope.conditions()).group_by(sets))
        return db.session.execute(access.visible_tickets(user, stmt))

    total, by_inst, by_dir = Figures(), {}, {}

    def slot(row) -> Figures:
        if row[0] == 3:
            return total
        target = by_inst if row[0] == 1 else by_dir
        return target.setdefault(row[1] if row[0] == 1 else row[2], Figures())

    for row in grouped(_aggregate_columns(c, False), c["any"]):
        f = slot(row)
        for name, value in zip(_COUNTS, row[3:], strict=True):
            setattr(f, name, float(value) if name == "resolution_seconds" else int(value or 0))
    median = func.percentile_cont(0.5).within_group(_seconds(Ticket.resolved_at, Ticket.created_at))
    for row in grouped([median], c["resolved"]):
        slot(row).median_resolution = float(row[3]) if row[3] is not None else None
    first = select(func.percentile_cont(0.5).within_group(_seconds(Ticket.first_responded_at, Ticket.created_at))
                   ).select_from(Ticket).where(c["first"], counted(), *scope.conditions())
    value = db.session.scalar(access.visible_tickets(user, first))
    total.median_first_response = float(value) if value is not None else None
    _add_other_answers({None: total}, user, start, end, scope, None)
    _add_other_answers(by_inst, user, start, end, scope, inst)
    _add_other_answers(by_dir, user, start, end, scope, direction)
    return total, by_inst, by_dir


def _join_condition(group):
    if group.table is Institution.__table__:
        return Institution.id == Ticket.institution_id
    if group.table is Category.__table__:
        return Category.id == Ticket.category_id
    raise ValueError("unsupported grouping")


def _portable_medians(out: dict, user, c: dict, scope: Scope, group) -> None:
    """SQLite has no percentile_cont: the durations are read and the medians taken in Python."""
    key = group if group is not None else literal(None)
    for attr, cond, secs in (("median_first_response", c["first"], _seconds(Ticket.first_responded_at,
                                                                            Ticket.created_at)),
                             ("median_resolution", c["resolved"], _seconds(Ticket.resolved_at, Ticket.created_at))):
        stmt = select(key, secs).select_from(Ticket).where(cond, counted(), *scope.conditions())
        if group is not None and group.table is not Ticket.__table__:
            stmt = stmt.outerjoin(group.table, _join_condition(group))
        values: dict = {}
        for k, v in db.session.execute(access.visible_tickets(user, stmt)):
            values.setdefault(k, []).append(float(v))
        for k, vs in values.items():
            out.setdefault(k, Figures())
            setattr(out[k], attr, statistics.median(vs))


# --- ranking ------------------------------------------------------------------------------------------
@dataclass
class RankRow:
    id: int | None
    name: str
    figures: dict
    previous: dict
    score: float | None = None
    good_smoothed: float | None = None
    rank: int | None = None  # None: too few tickets to rank
    meets_time_target: bool | None = None
    meets_rating_target: bool | None = None
    sla_change: float | None = None  # points of SLA share against the previous period
    direction_id: int | None = None


def _smoothed(hits: int, total: int, prior: float) -> float:
    return (hits + SMOOTHING * prior) / (total + SMOOTHING)


def ranking(level: str, cur: dict, prev: dict, city: Figures) -> dict:
    """Institutions (or directions) ranked by SLA compliance smoothed toward the city average.
    `cur`/`prev`: figures per id for this period and the previous one (from aggregate_sets)."""
    prior_sla = city.sla_share if city.sla_share is not None else 0.5
    prior_good = city.good_share if city.good_share is not None else TARGET_GOOD_SHARE
    if level == "institution":
        names = {i.id: (i.short_name, i.direction_id) for i in db.session.scalars(select(Institution))}
    else:
        names = {d.id: (d.name, None) for d in db.session.scalars(select(Direction))}
    rows = []
    for key, f in cur.items():
        if not (f.received or f.resolved or f.rated):
            continue
        p = prev.get(key, Figures())
        name, direction_id = names.get(key, (str(_l("Не распределено")), None))
        row = RankRow(id=key, name=name, figures=f.as_dict(), previous=p.as_dict(), direction_id=direction_id)
        if f.resolved:
            row.score = _smoothed(f.on_time, f.resolved, prior_sla)
        row.good_smoothed = _smoothed(f.good, f.rated, prior_good)
        if f.mean_resolution_days is not None:
            row.meets_time_target = f.mean_resolution_days <= TARGET_MEAN_DAYS
        if f.good_share is not None:
            row.meets_rating_target = f.good_share >= TARGET_GOOD_SHARE
        if f.sla_share is not None and p.sla_share is not None:
            row.sla_change = f.sla_share - p.sla_share
        rows.append(row)
    ranked = sorted((r for r in rows if r.id is not None and r.figures["resolved"] >= MIN_VOLUME),
                    key=lambda r: (-r.score, -r.good_smoothed, -r.figures["resolved"], r.name))
    for i, r in enumerate(ranked, 1):
        r.rank = i
    unranked = sorted((r for r in rows if r.rank is None), key=lambda r: (-r.figures["received"], r.name))
    return {"ranked": [asdict(r) for r in ranked], "unranked": [asdict(r) for r in unranked],
            "prior_sla": prior_sla, "prior_good": prior_good}


# --- charts -------------------------------------------------------------------------------------------
def weekly_series(user, end_day: date, weeks: int = 12, scope: Scope = Scope()) -> list[dict]:
    """Received and resolved per week (Monday to Sunday, city time), the last `weeks` weeks to `end_day`."""
    tz = city_tz()
    monday = end_day - timedelta(days=end_day.weekday())
    starts = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
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
    return {"total": asdict(total), "institutions": [[k, asdict(f)] for k, f in by_inst.items()],
            "directions": [[k, asdict(f)] for k, f in by_dir.items()]}


def _unpack(data: dict) -> tuple[Figures, dict, dict]:
    return (Figures(**data["total"]), {k: Figures(**f) for k, f in data["institutions"]},
            {k: Figures(**f) for k, f in data["directions"]})


def previous_sets(user, period: Period, scope: Scope, now: datetime) -> tuple[Figures, dict, dict]:
    """The previous period's figures, kept up to BOARD_PREVIOUS_MAX_AGE: a past period hardly changes (late
    ratings, reopenings, the cohort's overdue count move slowly), and it is half the cost of a long period."""
    tz = city_tz()
    if not access.sees_every_ticket(user):
        return aggregate_sets(user, *period.bounds(tz), scope, now)
    key = f"previous|{period.key}|{scope.key}"
    snap = db.session.get(BoardSnapshot, key)
    max_age = timedelta(seconds=current_app.config["BOARD_PREVIOUS_MAX_AGE"])
    if snap is not None and timedelta(0) <= now - snap.computed_at <= max_age:
        return _unpack(snap.data)
    sets = aggregate_sets(user, *period.bounds(tz), scope, now)
    _store(key, _pack(sets), now)
    return sets


def open_by_direction(user, scope: Scope = Scope(), now: datetime | None = None) -> list[dict]:
    """Tickets open and overdue right now, per direction (those with no executor yet: «Не распределено»)."""
    now = now or utcnow()
    stmt = (select(Institution.direction_id, func.count(), func.count().filter(Ticket.is_overdue(now)))
            .select_from(Ticket).outerjoin(Institution, Institution.id == Ticket.institution_id)
            .where(Ticket.status.in_(OPEN_STATUSES), *scope.conditions())
            .group_by(Institution.direction_id))
    counts = {k: (int(o), int(d)) for k, o, d in db.session.execute(access.visible_tickets(user, stmt))}
    rows = [{"id": d.id, "name": d.name, "open": counts.get(d.id, (0, 0))[0], "count": counts.get(d.id, (0, 0))[1]}
            for d in db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id))]
    if None in counts:
        rows.append({"id": None, "name": str(_l("Не распределено")), "open": counts[None][0],
                     "count": counts[None][1]})
    return rows


def growing_categories(user, period: Period, scope: Scope = Scope(), limit: int = 8,
                       min_volume: int = MIN_VOLUME) -> list[dict]:
    """Categories whose received count grew most against the previous period (at least `min_volume` now)."""
    tz = city_tz()
    out = []
    for a, b in (period.bounds(tz), period.previous().bounds(tz)):
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
    now = now or utcnow()
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
        growing=growing_categories(user, period, scope),
    )
    return asdict(r)


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
    long = period.kind in LONG_KINDS
    max_age = timedelta(seconds=current_app.config["BOARD_LONG_SNAPSHOT_MAX_AGE" if long else "BOARD_SNAPSHOT_MAX_AGE"])
    if snap is not None and not force and timedelta(0) <= now - snap.computed_at <= max_age:
        return snap.data
    data = report(user, period, scope, now)
    keep_later(key, data, now)
    return data


def keep_later(key: str, data: dict, now: datetime) -> None:
    """Have the low queue store a snapshot just computed, for the next viewer (in-process without Redis, in its
    own transaction). A failure to ask is logged: the page is served all the same."""
    try:
        enqueue("app.jobs.board.keep_snapshot", key, data, now.isoformat(), queue="low")
    except Exception:  # Redis down: the periodic refresh keeps the standard periods anyway
        log.exception("could not ask for the board snapshot %s to be kept", key)


def keep(key: str, data: dict, computed_at: datetime) -> None:
    """Store (or replace) the snapshot `key`. The caller commits."""
    _store(key, data, computed_at)


def _store(key: str, data: dict, now: datetime) -> None:
    stmt = insert_or_ignore(BoardSnapshot).values(key=key, computed_at=now, data=data)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                  set_={"computed_at": now, "data": data}))


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
