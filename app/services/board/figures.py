"""Every board figure of a period in one pass over the tickets: `live_sets()` (the definitions are in the
package's docstring, app/services/board/__init__.py); rollups.py serves the same from daily rollups."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, tuple_

from app.extensions import db
from app.models import OPEN_STATUSES, Category, Institution, SiteSetting, Ticket, VerdictAnswer, utcnow
from app.services import access, settings
from app.services.board.periods import Scope


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
    # Resolved in the period and under a deadline: imported history (`Ticket.imported`) counts as resolved by its
    # dates but never in SLA compliance. None (a snapshot older than the field): `resolved`.
    sla_resolved: int | None = None
    # The medians' largest relative error when they come from the daily rollups' histograms (rollups.py); None:
    # computed exactly from the tickets.
    median_error: float | None = None

    @property
    def sla_base(self) -> int:
        """The tickets SLA compliance is a share of (resolved in the period, imported history left out)."""
        return self.resolved if self.sla_resolved is None else self.sla_resolved

    @property
    def sla_share(self) -> float | None:
        return self.on_time / self.sla_base if self.sla_base else None

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
        # the fields are plain numbers: `asdict()`'s recursive deep copy is a tenth of a ranking's time for nothing
        d = {name: getattr(self, name) for name in _FIELDS}
        d.update(sla_share=self.sla_share, rating_avg=self.rating_avg, good_share=self.good_share,
                 reopened_share=self.reopened_share, mean_resolution_days=self.mean_resolution_days)
        return d


_FIELDS = tuple(f.name for f in fields(Figures))


# Not appeals, not counted anywhere on the board: duplicates merged into another ticket, and tickets moderators
# rejected as noise (spam, advertising, thanks, a repeat).
NOISE_REASONS = ("spam", "advertising", "thanks", "duplicate")


# Site setting: False leaves imported history (`flask tickets import`) out of the board and the open statistics.
IMPORTED_IN_STATS = "imported_in_stats"


def imported_in_stats() -> bool:
    return bool(settings.get(IMPORTED_IN_STATS, True))


def _imported_off():
    """SQL: the setting says «leave imported history out» (read by the statement itself, one uncorrelated
    subquery: no extra round trip, never a stale value)."""
    return exists().where(SiteSetting.key == IMPORTED_IN_STATS, cast(SiteSetting.value, String) == "false")


def counted():
    """The tickets the board counts (SQL condition): the one scope of the board and the open statistics.
    Imported history (`Ticket.imported`) counts by its dates unless the site setting `imported_in_stats` is
    false."""
    return and_(appeals(), or_(Ticket.imported.is_(False), ~_imported_off()))


def appeals():
    """`counted()` without the imported-history setting: not merged into another ticket, not rejected as noise
    (the daily rollups keep imported history apart and apply the setting when they are read)."""
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
           "ever_resolved", "resolution_seconds", "sla_resolved")


def _aggregate_columns(c: dict, postgres: bool) -> list:
    res_secs = _seconds(Ticket.resolved_at, Ticket.created_at)
    first_secs = _seconds(Ticket.first_responded_at, Ticket.created_at)
    cols = [
        func.count().filter(c["created"]),
        func.count().filter(and_(c["created"], Ticket.status.in_(OPEN_STATUSES))),
        func.count().filter(c["overdue"]),
        func.count().filter(c["resolved"]),
        func.count().filter(and_(c["resolved"], Ticket.imported.is_(False),
                                 Ticket.resolved_at <= Ticket.resolution_due_at)),
        func.count().filter(c["rated"]),
        func.coalesce(func.sum(Ticket.rating).filter(c["rated"]), 0),
        func.count().filter(and_(c["rated"], Ticket.rating >= 4)),
        func.count().filter(and_(c["created"], Ticket.reopen_count > 0)),
        func.count().filter(and_(c["created"], or_(Ticket.resolved_at.isnot(None), Ticket.reopen_count > 0))),
        func.coalesce(func.sum(res_secs).filter(c["resolved"]), 0),
        func.count().filter(and_(c["resolved"], Ticket.imported.is_(False))),
    ]
    if postgres:
        cols += [func.percentile_cont(0.5).within_group(first_secs).filter(c["first"]),
                 func.percentile_cont(0.5).within_group(res_secs).filter(c["resolved"])]
    return cols


def _figures(values, postgres: bool) -> Figures:
    f = Figures(**{name: (float(v) if name == "resolution_seconds" else int(v or 0))
                   for name, v in zip(_COUNTS, values[:len(_COUNTS)], strict=True)})
    if postgres:
        n = len(_COUNTS)
        f.median_first_response = float(values[n]) if values[n] is not None else None
        f.median_resolution = float(values[n + 1]) if values[n + 1] is not None else None
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


def live_sets(user, start: datetime, end: datetime, scope: Scope = Scope(),
                   now: datetime | None = None) -> tuple[Figures, dict, dict]:
    """The city total, per institution and per direction. On PostgreSQL three statements: the counts in one
    pass (GROUPING SETS); the resolution medians over the period's resolved tickets only (GROUPING SETS); the
    first-response median of the city. The first-response median is not computed per institution or direction
    (no table shows it; it would sort every received ticket three times). Computed from the tickets:
    `rollups.aggregate_sets()` serves the same figures from the daily rollups when it can."""
    if _dialect() != "postgresql":
        return (aggregate(user, start, end, scope, None, now)[None],
                aggregate(user, start, end, scope, Ticket.institution_id, now),
                aggregate(user, start, end, scope, Institution.direction_id, now))
    now = now or utcnow()
    inst, direction = Ticket.institution_id, Institution.direction_id
    c = _conditions(start, end, now)
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
