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
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, bindparam, cast, distinct, func, literal_column, not_, null, select, union_all

from app.extensions import db
from app.formatting import Labels, local_dt, plural_ru
from app.formatting import gettext as _  # Flask-Babel's, memoised per request (a list of up to 1000 items)
from app.models import (
    CONTROL_OPEN_STATES,
    CONTROL_STATES,
    OPEN_STATUSES,
    ControlOrder,
    HotSpot,
    Institution,
    Ticket,
    VerdictAnswer,
    utcnow,
)
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

_KIND_LABELS = Labels(KINDS)  # translated through the request's memo (the same text as str(KINDS[kind]))


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
        return _KIND_LABELS[self.kind]


def _days(delta_seconds: float) -> int:
    return max(0, int(delta_seconds // 86400))


def _late_text(days: int) -> str:
    if days == 0:
        return _("просрочено менее суток")
    return _("просрочено на %(n)s %(unit)s", n=days, unit=plural_ru(days, _("день"), _("дня"), _("дней")))


# Built statements by shape (SQL structure only, no data: they cannot go stale), the times and limits bound at
# execution: building the worklist's statements costs more CPU than running them (≈ 3.5 ms against 1 ms).
_STATEMENTS: dict = {}
_NOW = bindparam("now", type_=Ticket.__table__.c.resolution_due_at.type)
_ORDERS_NOW = bindparam("orders_now", type_=ControlOrder.__table__.c.due_at.type)
_START = bindparam("start", type_=Ticket.__table__.c.rated_at.type)
_END = bindparam("end", type_=Ticket.__table__.c.rated_at.type)
_LIMIT = bindparam("limit", type_=Integer)
_HOT_SINCE = bindparam("hot_since", type_=HotSpot.__table__.c.last_seen_at.type)


def _remember(key, stmt):
    if len(_STATEMENTS) > 1000:  # bounded: shapes are few (kinds × scopes × the institutions' executors)
        _STATEMENTS.clear()
    _STATEMENTS[key] = stmt
    return stmt


def _orders_stmt(scope: board.Scope):
    stmt = select(ControlOrder).where(ControlOrder.state.in_(CONTROL_OPEN_STATES))
    if scope.institution_id is not None:
        stmt = stmt.where(ControlOrder.institution_id == scope.institution_id)
    if scope.direction_id is not None:
        stmt = stmt.where(ControlOrder.institution_id.in_(
            select(Institution.id).where(Institution.direction_id == scope.direction_id)))
    return stmt


def _orders(scope: board.Scope, now: datetime, kinds: list[str], limit: int) -> dict[str, list[Item]]:
    """The late and the open control orders, earliest deadline first, `limit` of each kind: one statement of the
    columns shown (a UNION ALL of the kinds), built once per shape like the tickets' (_tickets_statement)."""
    key = ("orders", tuple(kinds), scope.institution_id, scope.direction_id)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        is_late = control.late_condition(_ORDERS_NOW)
        parts = []
        for kind in kinds:
            part = (_orders_stmt(scope).where(is_late if kind == "orders_late" else not_(is_late))
                    .with_only_columns(literal_column(f"'{kind}'").label("kind"), ControlOrder.id,
                                       ControlOrder.topic, ControlOrder.instruction, ControlOrder.ticket_id,
                                       ControlOrder.institution_id, ControlOrder.due_at, ControlOrder.state)
                    .order_by(ControlOrder.due_at, ControlOrder.id).limit(_LIMIT).subquery())
            parts.append(select(*part.c))
        u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
        stmt = _remember(key, select(u.c.kind, u.c.id, u.c.topic, u.c.instruction, Ticket.number,
                                     Institution.short_name, u.c.due_at, u.c.state)
                         .outerjoin(Ticket, Ticket.id == u.c.ticket_id)
                         .outerjoin(Institution, Institution.id == u.c.institution_id)
                         .order_by(u.c.due_at, u.c.id))
    rows = db.session.execute(stmt, {"orders_now": now, "limit": limit})
    out: dict[str, list[Item]] = {k: [] for k in kinds}
    for kind, oid, topic, instruction, number, institution, due_at, state in rows:
        title = _("Поручение: %(title)s", title=topic or number or instruction[:80])
        url = lambda oid=oid: url_for("control.detail", order_id=oid)  # noqa: E731
        if kind == "orders_late":
            days = _days((now - due_at).total_seconds())
            out[kind].append(Item(kind, 1000 + days, title, lambda days=days: _late_text(days), url, institution,
                                  due_at))
        else:
            left = _days((due_at - now).total_seconds())
            out[kind].append(Item(kind, 300 - left, title,
                                  lambda state=state, due=due_at: _("%(state)s; срок %(due)s",
                                                                    state=CONTROL_STATES.get(state, state),
                                                                    due=_local(due)),
                                  url, institution, due_at))
    return out


def _local(value: datetime) -> str:
    return local_dt(value, "%d.%m.%Y")


# the ratings counted as low (1 and 2: ratings are 1-5), as SQL literals so that PostgreSQL proves the partial
# index ix_tickets_low_rated (rating <= 2) usable whatever the plan
_LOW_RATINGS = (1, 2)
_LOW = literal_column("2")


def _own_low(start: datetime, end: datetime):
    """The ticket's own resident rated it 1-2 in the period (two-valued: false, never NULL, when not rated)."""
    return and_(Ticket.rating.isnot(None), Ticket.rating <= _LOW, Ticket.rated_at.isnot(None),
                Ticket.rated_at >= start, Ticket.rated_at < end)


def _answers_low(start: datetime, end: datetime):
    return and_(VerdictAnswer.rated_at >= start, VerdictAnswer.rated_at < end, VerdictAnswer.rating <= _LOW)


# the columns of the ticket kinds' rows (a UNION ALL of the kinds): only what the items show
def _ticket_columns(kind: str, answer_low=None):
    return (literal_column(f"'{kind}'").label("kind"), Ticket.id, Ticket.number, Ticket.summary,
            Ticket.institution_id, Ticket.created_at, Ticket.resolution_due_at, Ticket.on_control,
            Ticket.reopen_count, Ticket.rating, Ticket.rated_at,
            (answer_low if answer_low is not None else cast(null(), Integer)).label("answer_low"))



def _overdue_part(user, scope: board.Scope):
    return access.visible_tickets(user, select(*_ticket_columns("overdue")).where(
        Ticket.status.in_(OPEN_STATUSES), Ticket.is_overdue(_NOW), *scope.conditions())
        .order_by(Ticket.resolution_due_at, Ticket.id)).limit(_LIMIT)


def _reopened_part(user, scope: board.Scope):
    return access.visible_tickets(user, select(*_ticket_columns("reopened")).where(
        Ticket.status.in_(OPEN_STATUSES), Ticket.reopen_count > 0, *scope.conditions())
        .order_by(Ticket.reopen_count.desc(), Ticket.updated_at.desc())).limit(_LIMIT)


def _low_rating_part(user, scope: board.Scope):
    """Rated 1-2 in the period by its own resident or by a resident of a ticket merged into it, lowest own rating
    first, then the latest own rating. The candidates, each an index range: the latest `limit` own ratings of each
    low value (ix_tickets_low_rated, read backwards from the period's end), and the tickets of the answers rated
    1-2 in the period (few: residents of merged tickets); only these are sorted."""
    def own(r: int):
        return access.visible_tickets(user, select(Ticket.id).where(
            Ticket.rating == literal_column(str(r)), Ticket.rated_at >= _START, Ticket.rated_at < _END,
            *scope.conditions()).order_by(Ticket.rated_at.desc(), Ticket.id.desc()).limit(_LIMIT)).subquery()

    answers = access.visible_tickets(user, select(VerdictAnswer.ticket_id).join(
        Ticket, Ticket.id == VerdictAnswer.ticket_id).where(_answers_low(_START, _END), *scope.conditions()))
    candidates = union_all(*(select(own(r).c.id) for r in _LOW_RATINGS), answers).subquery()
    answer_low = (select(func.min(VerdictAnswer.rating)).where(VerdictAnswer.ticket_id == Ticket.id,
                                                               _answers_low(_START, _END)).scalar_subquery())
    return (select(*_ticket_columns("low_rating", answer_low)).where(Ticket.id.in_(select(candidates.c[0])))
            .order_by(Ticket.rating, Ticket.rated_at.desc(), Ticket.id.desc()).limit(_LIMIT))




def _tickets_statement(user, scope: board.Scope, kinds: tuple[str, ...]):
    """The UNION ALL of the ticket kinds with the institution's short name, built once per shape: the kinds, the
    scope and what the viewer's visibility condition reads (access.ticket_condition_key)."""
    key = ("tickets", kinds, scope.institution_id, scope.direction_id, access.ticket_condition_key(user))
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        parts = {"overdue": _overdue_part, "low_rating": _low_rating_part, "reopened": _reopened_part}
        subs = [parts[k](user, scope).subquery() for k in kinds]
        u = union_all(*(select(*s.c) for s in subs)).subquery() if len(subs) > 1 else subs[0]
        stmt = _remember(key, select(u, Institution.short_name).outerjoin(
            Institution, Institution.id == u.c.institution_id))
    return stmt


def _tickets(user, scope: board.Scope, period: board.Period, now: datetime, kinds: list[str],
             limit: int) -> dict[str, list[Item]]:
    """The ticket kinds (overdue, low ratings, reopened), `limit` of each: one statement (a UNION ALL of the
    kinds, each its own index range with its LIMIT), the columns shown and the institution's short name."""
    start, end = period.bounds(board.city_tz())
    rows = db.session.execute(_tickets_statement(user, scope, tuple(kinds)),
                              {"now": now, "start": start, "end": end, "limit": limit})
    out: dict[str, list[Item]] = {k: [] for k in kinds}
    for row in rows:
        kind = row.kind
        if kind == "overdue":
            days = _days((now - row.resolution_due_at).total_seconds())
            severity = 500 + days + (100 if row.on_control else 0)
            detail = (lambda days=days, on_control=row.on_control:  # noqa: E731
                      _late_text(days) + ("; " + _("на контроле") if on_control else ""))
        elif kind == "low_rating":
            own = (row.rating if row.rated_at is not None and start <= row.rated_at < end and (row.rating or 5) <= 2
                   else None)
            rating = min(r for r in (own, row.answer_low) if r is not None)
            severity = 200 + 10 * (3 - rating)
            detail = lambda rating=rating: _("оценка %(n)s из 5", n=rating)  # noqa: E731
        else:
            n = row.reopen_count
            severity = 150 + 10 * n
            detail = (lambda n=n: _("возвращалось в работу: %(n)s", n=n) if n > 1  # noqa: E731
                      else _("житель вернул в работу"))
        number = row.number
        out[kind].append(Item(kind, severity, f"{number}: {(row.summary or '').strip()[:120]}", detail,
                              lambda number=number: url_for("tickets.detail", number=number), row.short_name,
                              row.created_at))
    return out


def _hotspots(scope: board.Scope, now: datetime, limit: int) -> list[Item]:
    key = ("hotspots", scope.institution_id, scope.direction_id)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _remember(key, hotspots.active_rows_query(_HOT_SINCE, _LIMIT, institution_id=scope.institution_id,
                                                         direction_id=scope.direction_id))
    out = []
    for s in db.session.execute(stmt, {"hot_since": now - timedelta(days=hotspots.WINDOW_DAYS), "limit": limit}):
        out.append(Item("hotspots", 400 + 10 * s.open_count + s.ticket_count,
                        f"{s.category_name}: {s.label}" if s.category_name else s.label,
                        lambda s=s: _("%(what)s: обращений %(n)s, открыто %(open)s",
                                      what=_("одна и та же жалоба") if s.kind == "wording" else _("одно и то же место"),
                                      n=s.ticket_count, open=s.open_count),
                        lambda spot_id=s.id: url_for("board.hotspot", spot_id=spot_id), s.institution_name,
                        s.last_seen_at))
    return out


def worklist(user, period: board.Period, scope: board.Scope = board.Scope(), kind: str | None = None,
             limit: int = 40, now: datetime | None = None) -> list[Item]:
    """The problem issues, most serious first; `kind` narrows to one kind (a key of KINDS)."""
    now = now or utcnow()
    wanted = [kind] if kind in KINDS else list(KINDS)
    by_kind: dict[str, list[Item]] = {}
    order_kinds = [k for k in wanted if k in ("orders_late", "orders")]
    if order_kinds:
        by_kind.update(_orders(scope, now, order_kinds, limit))
    ticket_kinds = [k for k in wanted if k in ("overdue", "low_rating", "reopened")]
    if ticket_kinds:
        by_kind.update(_tickets(user, scope, period, now, ticket_kinds, limit))
    if "hotspots" in wanted:
        by_kind["hotspots"] = _hotspots(scope, now, limit)
    items: list[Item] = [item for k in wanted for item in by_kind[k]]  # in the kinds' order, as the sort's ties
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
    stmt = _counts_statement(user, scope, with_overdue=overdue is None)
    row = db.session.execute(stmt, {"now": now, "orders_now": now, "start": start, "end": end,
                                    "hot_since": now - timedelta(days=hotspots.WINDOW_DAYS)}).one()._mapping
    return {k: overdue if k not in row else (row[k] or 0) for k in KINDS}


def _counts_statement(user, scope: board.Scope, with_overdue: bool):
    """counts() in one statement, each count a subquery over its own index range; built once per shape."""
    key = ("counts", with_overdue, scope.institution_id, scope.direction_id, access.ticket_condition_key(user))
    stmt = _STATEMENTS.get(key)
    if stmt is not None:
        return stmt

    def tickets(*conditions):
        return access.visible_tickets(user, select(func.count()).select_from(Ticket).where(
            *conditions, *scope.conditions())).scalar_subquery()

    def orders(condition):
        return (_orders_stmt(scope).where(condition)
                .with_only_columns(func.count(), maintain_column_froms=True).scalar_subquery())

    # the low ratings: the own ones (an index-only range of ix_tickets_low_rated) plus the tickets rated low only by
    # an answer (a resident of a merged ticket), each ticket once
    answers_only = access.visible_tickets(user, select(func.count(distinct(VerdictAnswer.ticket_id))).select_from(
        VerdictAnswer).join(Ticket, Ticket.id == VerdictAnswer.ticket_id).where(
        _answers_low(_START, _END), not_(_own_low(_START, _END)), *scope.conditions())).scalar_subquery()
    is_late = control.late_condition(_ORDERS_NOW)
    queries = {
        "orders_late": orders(is_late),
        "overdue": tickets(Ticket.status.in_(OPEN_STATUSES), Ticket.is_overdue(_NOW)) if with_overdue else None,
        "hotspots": hotspots.count_active_query(institution_id=scope.institution_id,
                                                direction_id=scope.direction_id,
                                                since=_HOT_SINCE),
        "orders": orders(not_(is_late)),
        "low_rating": tickets(_own_low(_START, _END)) + answers_only,
        "reopened": tickets(Ticket.status.in_(OPEN_STATUSES), Ticket.reopen_count > 0),
    }
    return _remember(key, select(*(q.label(k) for k, q in queries.items() if q is not None)))

