"""«Проблемные вопросы»: the head's worklist, most serious first.

Kinds, and how serious each is (the severity orders one list across kinds):
* late control orders — 1000 + days late;
* overdue tickets — 500 + days late (+100 when the ticket is on control);
* hot spots — 400 + 10 × open tickets + all its tickets;
* open control orders — 300 − days left;
* answers rated 1–2 in the period (any resident of the ticket, the lowest) — 200 + 10 × (3 − rating);
* tickets a resident reopened, still open — 150 + 10 × times reopened.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, not_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.formatting import local_dt, plural_ru
from app.models import CONTROL_OPEN_STATES, OPEN_STATUSES, ControlOrder, Institution, Ticket, VerdictAnswer, utcnow
from app.services import access, board, control
from app.services.board import hotspots
from app.urls import path_for as url_for

KINDS = {
    "orders_late": _l("Поручения с нарушением срока"),
    "overdue": _l("Просроченные обращения"),
    "hotspots": _l("Повторяющиеся проблемы"),
    "orders": _l("На контроле"),
    "low_rating": _l("Низкие оценки жителей"),
    "reopened": _l("Возвращены жителями"),
}


@dataclass
class Item:
    kind: str
    severity: float
    title: str
    detail: str  # inside worklist() also a function giving it: worded only for the items shown
    url: str  # likewise
    institution: str | None = None
    when: datetime | None = None

    @property
    def kind_label(self) -> str:
        return str(KINDS[self.kind])


def _days(delta_seconds: float) -> int:
    return max(0, int(delta_seconds // 86400))


def _late_text(days: int) -> str:
    if days == 0:
        return _("просрочено менее суток")
    return _("просрочено на %(n)s %(unit)s", n=days, unit=plural_ru(days, _("день"), _("дня"), _("дней")))


def _orders_stmt(scope: board.Scope):
    stmt = select(ControlOrder).where(ControlOrder.state.in_(CONTROL_OPEN_STATES))
    if scope.institution_id is not None:
        stmt = stmt.where(ControlOrder.institution_id == scope.institution_id)
    if scope.direction_id is not None:
        stmt = stmt.where(ControlOrder.institution_id.in_(
            select(Institution.id).where(Institution.direction_id == scope.direction_id)))
    return stmt


def _orders(scope: board.Scope, now: datetime, late: bool, limit: int) -> list[Item]:
    is_late = control.late_condition(now)
    stmt = _orders_stmt(scope).where(is_late if late else not_(is_late))
    items = []
    for o in db.session.scalars(stmt.options(joinedload(ControlOrder.institution))
                                .order_by(ControlOrder.due_at).limit(limit)):
        title = o.topic or (o.ticket.number if o.ticket else "") or o.instruction[:80]
        if late:
            days = _days((now - o.due_at).total_seconds())
            items.append(Item("orders_late", 1000 + days, _("Поручение: %(title)s", title=title), _late_text(days),
                              _order_url(o), o.institution.short_name, o.due_at))
        else:
            left = _days((o.due_at - now).total_seconds())
            items.append(Item("orders", 300 - left, _("Поручение: %(title)s", title=title),
                              _("%(state)s; срок %(due)s", state=o.state_label, due=_local(o.due_at)), _order_url(o),
                              o.institution.short_name, o.due_at))
    return items


def _order_url(o: ControlOrder) -> str:
    return url_for("control.detail", order_id=o.id)


def _local(value: datetime) -> str:
    return local_dt(value, "%d.%m.%Y")


def _ticket_item(kind: str, t: Ticket, severity: float, detail) -> Item:
    """`detail`: the text, or a function giving it (worded only if the item makes the list's first `limit`)."""
    number = t.number
    return Item(kind, severity, f"{number}: {(t.summary or '').strip()[:120]}", detail,
                lambda: url_for("tickets.detail", number=number),
                t.institution.short_name if t.institution else None, t.created_at)


def _tickets(user, stmt, limit: int):
    stmt = access.visible_tickets(user, stmt).options(joinedload(Ticket.institution)).limit(limit)
    return db.session.scalars(stmt).all()


def _overdue(user, scope: board.Scope, now: datetime, limit: int) -> list[Item]:
    stmt = (select(Ticket).where(Ticket.status.in_(OPEN_STATUSES), Ticket.is_overdue(now), *scope.conditions())
            .order_by(Ticket.resolution_due_at, Ticket.id))
    out = []
    for t in _tickets(user, stmt, limit):
        days = _days((now - t.resolution_due_at).total_seconds())
        extra = 100 if t.on_control else 0
        out.append(_ticket_item("overdue", t, 500 + days + extra,
                                lambda days=days, on_control=t.on_control:
                                _late_text(days) + ("; " + _("на контроле") if on_control else "")))
    return out


def _low_rated(start: datetime, end: datetime):
    """Rated 1-2 in the period by its own resident or by a resident of a ticket merged into it (SQL). A UNION of
    ids, not an OR: the OR made PostgreSQL read the whole tickets table on every /board (≈ 170 ms at 1 M tickets);
    each half of the union is a range of its own rated_at index (≈ 7 ms)."""
    answers = select(VerdictAnswer.ticket_id).where(VerdictAnswer.rated_at >= start, VerdictAnswer.rated_at < end,
                                                    VerdictAnswer.rating <= 2)
    own = select(Ticket.id).where(Ticket.rated_at >= start, Ticket.rated_at < end, Ticket.rating <= 2)
    return Ticket.id.in_(own.union(answers))


def _low_rating(user, scope: board.Scope, period: board.Period, limit: int) -> list[Item]:
    start, end = period.bounds(board.city_tz())
    stmt = (select(Ticket).where(_low_rated(start, end), *scope.conditions())
            .order_by(Ticket.rating, Ticket.rated_at.desc()))
    found = _tickets(user, stmt, limit)
    lowest: dict = {}
    for tid, rating in db.session.execute(select(VerdictAnswer.ticket_id, VerdictAnswer.rating).where(
            VerdictAnswer.ticket_id.in_([t.id for t in found]), VerdictAnswer.rated_at >= start,
            VerdictAnswer.rated_at < end, VerdictAnswer.rating <= 2)):
        lowest[tid] = min(rating, lowest.get(tid, rating))
    items = []
    for t in found:
        own = t.rating if t.rated_at is not None and start <= t.rated_at < end and (t.rating or 5) <= 2 else None
        rating = min(r for r in (own, lowest.get(t.id)) if r is not None)
        items.append(_ticket_item("low_rating", t, 200 + 10 * (3 - rating),
                                  lambda rating=rating: _("оценка %(n)s из 5", n=rating)))
    return items


def _reopened(user, scope: board.Scope, limit: int) -> list[Item]:
    stmt = (select(Ticket).where(Ticket.status.in_(OPEN_STATUSES), Ticket.reopen_count > 0, *scope.conditions())
            .order_by(Ticket.reopen_count.desc(), Ticket.updated_at.desc()))
    out = []
    for t in _tickets(user, stmt, limit):
        n = t.reopen_count
        out.append(_ticket_item("reopened", t, 150 + 10 * n,
                                lambda n=n: _("возвращалось в работу: %(n)s", n=n) if n > 1
                                else _("житель вернул в работу")))
    return out


def _hotspots(scope: board.Scope, now: datetime, limit: int) -> list[Item]:
    out = []
    for s in hotspots.active(now, limit=limit, institution_id=scope.institution_id, direction_id=scope.direction_id):
        what = _("одна и та же жалоба") if s.kind == "wording" else _("одно и то же место")
        category = s.category.name if s.category else ""
        out.append(Item("hotspots", 400 + 10 * s.open_count + s.ticket_count,
                        f"{category}: {s.label}" if category else s.label,
                        _("%(what)s: обращений %(n)s, открыто %(open)s", what=what, n=s.ticket_count,
                          open=s.open_count),
                        url_for("board.hotspot", spot_id=s.id), s.institution.short_name if s.institution else None,
                        s.last_seen_at))
    return out


def worklist(user, period: board.Period, scope: board.Scope = board.Scope(), kind: str | None = None,
             limit: int = 40, now: datetime | None = None) -> list[Item]:
    """The problem issues, most serious first; `kind` narrows to one kind (a key of KINDS)."""
    now = now or utcnow()
    wanted = [kind] if kind in KINDS else list(KINDS)
    items: list[Item] = []
    for k in wanted:
        if k == "orders_late":
            items += _orders(scope, now, True, limit)
        elif k == "orders":
            items += _orders(scope, now, False, limit)
        elif k == "overdue":
            items += _overdue(user, scope, now, limit)
        elif k == "hotspots":
            items += _hotspots(scope, now, limit)
        elif k == "low_rating":
            items += _low_rating(user, scope, period, limit)
        elif k == "reopened":
            items += _reopened(user, scope, limit)
    items.sort(key=lambda i: (-i.severity, i.title))
    shown = items[:limit]
    for item in shown:  # the texts and addresses of the items shown only (each kind offers up to `limit`)
        if callable(item.detail):
            item.detail = item.detail()
        if callable(item.url):
            item.url = item.url()
    return shown


def counts(user, period: board.Period, scope: board.Scope = board.Scope(), now: datetime | None = None,
           overdue: int | None = None) -> dict:
    """How many items of each kind there are (the tabs of the worklist). `overdue`: the count of overdue tickets
    when the caller has it already (the board's report)."""
    now = now or utcnow()
    start, end = period.bounds(board.city_tz())

    def tickets(*conditions):
        return access.visible_tickets(user, select(func.count()).select_from(Ticket).where(
            *conditions, *scope.conditions())).scalar_subquery()

    def orders(condition):
        return (_orders_stmt(scope).where(condition)
                .with_only_columns(func.count(), maintain_column_froms=True).scalar_subquery())

    is_late = control.late_condition(now)
    # one statement, one round trip: each count is a subquery over its own index range
    queries = {
        "orders_late": orders(is_late),
        "overdue": tickets(Ticket.status.in_(OPEN_STATUSES), Ticket.is_overdue(now)) if overdue is None else None,
        "hotspots": hotspots.count_active_query(now, institution_id=scope.institution_id,
                                                direction_id=scope.direction_id),
        "orders": orders(not_(is_late)),
        "low_rating": tickets(_low_rated(start, end)),
        "reopened": tickets(Ticket.status.in_(OPEN_STATUSES), Ticket.reopen_count > 0),
    }
    asked = {k: q for k, q in queries.items() if q is not None}
    row = db.session.execute(select(*(q.label(k) for k, q in asked.items()))).one()._mapping
    return {k: overdue if k not in asked else (row[k] or 0) for k in queries}
