"""The ticket queue: filters, sort orders and keyset pagination (fast at a million rows)."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select, tuple_

from app.extensions import db
from app.models import OPEN_STATUSES, Category, Institution, SlaPolicy, Ticket, User, utcnow
from app.services import access, sla

SORTS = {
    "new": _l("Сначала новые"),
    "old": _l("Сначала старые"),
    "due": _l("Ближе к сроку"),
}

# The SLA select: «просрочено» is Ticket.is_overdue; «скоро срок» = running and due within
# SOON_WORKING_MINUTES of the city's working time; «на паузе» = waiting for the resident.
SLA_STATES = {
    "overdue": _l("просрочено"),
    "soon": _l("скоро срок"),
    "paused": _l("на паузе"),
}
SOON_WORKING_MINUTES = 120
RUNNING_STATUSES = [s for s in OPEN_STATUSES if s != "waiting_resident"]


# The columns of a ticket a list row reads (the queue's and /my's rows, their SLA countdown, the route chips), read
# as plain values: a page of rows is 50 small objects, not 50 ORM tickets with their institution, rubric and policy
# joined (issue 16: that loading was a third of the queue's Python).
ROW_COLUMNS = ("id", "number", "status", "priority", "category_id", "institution_id", "network", "summary", "address",
               "created_at", "resolution_due_at", "sla_paused_at", "version", "route_suggestion")


class RowInstitution:
    """What a list row reads of a ticket's institution (its name, and its working hours for the countdown)."""
    __slots__ = ("id", "short_name", "business_hours")

    def __init__(self, id: int, short_name: str, business_hours: str | None):
        self.id, self.short_name, self.business_hours = id, short_name, business_hours


class RowPolicy:
    """What a list row reads of its rubric's SLA policy: whether it counts working hours (the countdown)."""
    __slots__ = ("id", "business_hours")

    def __init__(self, id: int, business_hours: bool):
        self.id, self.business_hours = id, business_hours


class RowCategory:
    __slots__ = ("id", "name", "sla_policy")

    def __init__(self, id: int, name: str, sla_policy: RowPolicy | None):
        self.id, self.name, self.sla_policy = id, name, sla_policy


class QueueRow:
    """A ticket as a list row sees it: the ROW_COLUMNS, `institution`, `category` (with its `sla_policy`) and
    Ticket's own rules — `is_open`, `is_overdue(now)`, `status_label` are Ticket's functions, not copies."""
    __slots__ = ROW_COLUMNS + ("institution", "category")

    is_open = Ticket.is_open
    status_label = Ticket.status_label
    is_overdue = Ticket.__dict__["is_overdue"].func

    def __repr__(self) -> str:
        return f"<QueueRow {self.number} {self.status}>"


def _row_select():
    """The columns and the FROM of a page of rows, built once (as Core table columns and joins: a statement with ORM
    entities goes through the ORM's compile path, and building the joins per request costs as much again)."""
    t, i = Ticket.__table__, Institution.__table__
    c, p = Category.__table__, SlaPolicy.__table__
    columns = [t.c[name] for name in ROW_COLUMNS] + [i.c.short_name, i.c.business_hours, c.c.name, p.c.id,
                                                     p.c.business_hours]
    joined = t.outerjoin(i, i.c.id == t.c.institution_id).outerjoin(c, c.c.id == t.c.category_id) \
        .outerjoin(p, p.c.id == c.c.sla_policy_id)
    return columns, joined


_ROW_SELECT = _row_select()


def rows_of(stmt: Select) -> list[QueueRow]:
    """The tickets a `select(Ticket)` statement finds, as QueueRow: one statement, the institution's and the rubric's
    few columns joined (always the committed values: no memo to keep in step); one RowInstitution / RowCategory per
    distinct value a page."""
    columns, joined = _ROW_SELECT
    stmt = stmt.with_only_columns(*columns).select_from(joined)
    n = len(ROW_COLUMNS)
    inst_at, cat_at = ROW_COLUMNS.index("institution_id"), ROW_COLUMNS.index("category_id")
    institutions: dict[tuple, RowInstitution] = {}
    categories: dict[tuple, RowCategory] = {}
    out = []
    for r in db.session.execute(stmt):
        row = QueueRow.__new__(QueueRow)
        for name, value in zip(ROW_COLUMNS, r, strict=False):  # r: the columns, then the joined ones
            setattr(row, name, value)
        iid, cid = r[inst_at], r[cat_at]
        if iid is None:
            row.institution = None
        else:
            key = (iid, r[n], r[n + 1])
            inst = institutions.get(key)
            if inst is None:
                inst = institutions[key] = RowInstitution(*key)
            row.institution = inst
        if cid is None:
            row.category = None
        else:
            key = (cid, r[n + 2], r[n + 3], r[n + 4])
            cat = categories.get(key)
            if cat is None:
                cat = categories[key] = RowCategory(cid, r[n + 2], RowPolicy(r[n + 3], r[n + 4]))
            row.category = cat
        out.append(row)
    return out


@dataclass
class QueueFilters:
    statuses: list[str] = field(default_factory=list)
    direction_id: int | None = None
    institution_id: int | None = None
    category_id: int | None = None
    network: str | None = None
    overdue: bool = False
    sla: str | None = None  # a key of SLA_STATES
    q: str = ""
    sort: str = "new"


@dataclass
class Page:
    rows: list[QueueRow]
    next_cursor: str | None


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not (isinstance(values, list) and len(values) == 2 and isinstance(values[1], int)
                and 0 <= values[1] < 2**31 and isinstance(values[0], str)):
            return None
        moment = datetime.fromisoformat(values[0])
        return [moment, values[1]] if moment.tzinfo is not None else None
    except (ValueError, TypeError, json.JSONDecodeError):
        return None


def _sort_column(sort: str):
    return Ticket.resolution_due_at if sort == "due" else Ticket.created_at


def filtered(user: User, f: QueueFilters, now: datetime | None = None) -> Select:
    stmt = access.visible_tickets(user, select(Ticket))
    if f.statuses:
        stmt = stmt.where(Ticket.status.in_(f.statuses))
    if f.institution_id:
        stmt = stmt.where(Ticket.institution_id == f.institution_id)
    if f.direction_id:
        # ids first: a literal IN list lets PostgreSQL use the (institution, status, created) index
        ids = list(db.session.scalars(select(Institution.id).where(Institution.direction_id == f.direction_id)))
        stmt = stmt.where(Ticket.institution_id.in_(ids or [-1]))
    if f.category_id:
        stmt = stmt.where(Ticket.category_id == f.category_id)
    if f.network:
        stmt = stmt.where(Ticket.network == f.network)
    now = now or utcnow()
    if f.overdue or f.sla == "overdue":
        stmt = stmt.where(Ticket.is_overdue(now))
    if f.sla == "soon":
        # a plain range on resolution_due_at per running status: ix_tickets_status_due serves it
        limit = sla.city_calendar().add_minutes(now, SOON_WORKING_MINUTES)
        stmt = stmt.where(Ticket.status.in_(RUNNING_STATUSES), Ticket.resolution_due_at >= now,
                          Ticket.resolution_due_at < limit)
    if f.sla == "paused":
        stmt = stmt.where(Ticket.status == "waiting_resident")
    q = f.q.strip()
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Ticket.number == q.upper(), Ticket.summary.ilike(like, escape="\\"),
                              Ticket.address.ilike(like, escape="\\")))
    return stmt


def page(user: User, f: QueueFilters, cursor: str | None = None, limit: int = 50,
         now: datetime | None = None) -> Page:
    """One page of the tickets `user` may see under filters `f`: at most `limit` rows in the order of `f.sort`
    (new | old | due), keyset-paginated on (sort column, id). `cursor` is the previous page's `next_cursor`
    (opaque base64 JSON; a forged one raises ValidationFailed); `next_cursor` is None on the last page."""
    col = _sort_column(f.sort)
    ascending = f.sort in ("old", "due")
    stmt = filtered(user, f, now)
    after = _decode(cursor) if cursor else None
    if after is not None:
        key = tuple_(col, Ticket.id)
        stmt = stmt.where(key > tuple_(*after) if ascending else key < tuple_(*after))
    order = (col.asc(), Ticket.id.asc()) if ascending else (col.desc(), Ticket.id.desc())
    rows = rows_of(stmt.order_by(*order).limit(limit + 1))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, col.key).isoformat(), last.id])
    return Page(rows, next_cursor)


def scan(user: User, f: QueueFilters, columns: Sequence, joins: Sequence = (), batch: int = 1000,
         now: datetime | None = None) -> Iterator[tuple]:
    """Every ticket of the filtered queue in the page's order, as plain tuples of `columns` (no ORM objects:
    constant memory), fetched in keyset batches of `batch` like `page()` (never OFFSET).

    `joins` are (target, onclause) pairs added as outer joins, for columns of other tables."""
    now = now or utcnow()  # one moment for the whole scan: "overdue" must not move between batches
    col = _sort_column(f.sort)
    ascending = f.sort in ("old", "due")
    base = filtered(user, f, now).with_only_columns(col, Ticket.id, *columns).select_from(Ticket)
    for target, onclause in joins:
        base = base.outerjoin(target, onclause)
    order = (col.asc(), Ticket.id.asc()) if ascending else (col.desc(), Ticket.id.desc())
    after = None
    while True:
        stmt = base
        if after is not None:
            key = tuple_(col, Ticket.id)
            stmt = stmt.where(key > tuple_(*after) if ascending else key < tuple_(*after))
        rows = db.session.execute(stmt.order_by(*order).limit(batch)).all()
        for row in rows:
            yield tuple(row[2:])
        if len(rows) < batch:
            return
        after = (rows[-1][0], rows[-1][1])


def arrivals(user: User, f: QueueFilters, after_id: int, limit: int = 50) -> list[QueueRow]:
    """Tickets that arrived after the newest one the moderator already sees (for live updates)."""
    return rows_of(filtered(user, f).where(Ticket.id > after_id).order_by(Ticket.id.desc()).limit(limit))
