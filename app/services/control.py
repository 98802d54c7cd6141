"""Control orders (поручения) of the head of city: the one place for their rules.

An order is issued on a ticket or on a hot spot, to one institution, with a deadline. Its life:

    issued ──accept──► in_progress ──report──► reported ──approve──► done
                           ▲                      │
                           └───────return─────────┘        any open state ──cancel──► cancelled

Who (app/services/access.py): the head and admins issue, approve, return and cancel; the institution's
executors accept and report (moderators and admins may do that on the institution's behalf).
Every step writes a ControlOrderEvent and a TicketEvent (kind "control") on the order's ticket, or on every
ticket of the hot spot; `Ticket.on_control` is True while a ticket has an open order. Late orders are
escalated once by `sweep_late()` (a conditional UPDATE: two workers at once escalate each order once).
Services never commit: the caller (view or job) does.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, not_, or_, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.formatting import local_dt, plural_ru
from app.models import (
    CONTROL_OPEN_STATES,
    CONTROL_STATES,
    ControlOrder,
    ControlOrderEvent,
    HotSpot,
    HotSpotTicket,
    Institution,
    Notification,
    Ticket,
    User,
    utcnow,
)
from app.services import access, events, exports, replies, sla
from app.services.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed

INSTRUCTION_MAX = 4000
TEXT_MAX = 4000
TOPIC_MAX = 300
MAX_AHEAD = timedelta(days=366)  # a deadline at most a year ahead

# The one table of state transitions.
TRANSITIONS: dict[str, frozenset[str]] = {
    "issued": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset({"reported", "cancelled"}),
    "reported": frozenset({"done", "in_progress", "cancelled"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}


@dataclass(frozen=True)
class Action:
    name: str
    label: object  # lazy string
    sources: tuple[str, ...]
    target: str
    side: str  # "institution" (accept, report) or "head" (approve, return, cancel)
    text_required: object | None = None  # the message when the action's text is missing


ACTIONS: dict[str, Action] = {
    "accept": Action("accept", _l("Принять к исполнению"), ("issued",), "in_progress", "institution"),
    "report": Action("report", _l("Доложить об исполнении"), ("in_progress",), "reported", "institution",
                     _l("Напишите, что сделано по поручению")),
    "approve": Action("approve", _l("Принять доклад"), ("reported",), "done", "head"),
    "return": Action("return", _l("Вернуть на доработку"), ("reported",), "in_progress", "head",
                     _l("Укажите, почему поручение возвращается")),
    "cancel": Action("cancel", _l("Снять с контроля"), CONTROL_OPEN_STATES, "cancelled", "head",
                     _l("Укажите причину снятия с контроля")),
}
for _a in ACTIONS.values():  # the actions follow the table
    assert all(_a.target in TRANSITIONS[s] for s in _a.sources), _a

# What each step is called in the order's history and the ticket's timeline.
STEP_LABELS = {
    "issued": "Выдано поручение",
    "accept": "Поручение принято к исполнению",
    "report": "Доложено об исполнении поручения",
    "approve": "Поручение исполнено: доклад принят",
    "return": "Поручение возвращено на доработку",
    "cancel": "Поручение снято с контроля",
    "late": "Поручение просрочено",
}


class IssueInvalid(ValidationFailed):
    """Issuing failed validation: `errors` maps each wrong field to its message (the first is `field`)."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


# --- lateness: defined once, for Python and SQL ---------------------------------------------------------
def is_late(order: ControlOrder, now: datetime | None = None) -> bool:
    """Open and past its deadline — unless the institution reported in time and the head has not judged yet."""
    if order.state == "reported" and order.reported_at is not None and order.reported_at <= order.due_at:
        return False
    return order.state in CONTROL_OPEN_STATES and order.due_at < (now or utcnow())


def late_condition(now: datetime | None = None):
    """is_late() in SQL."""
    reported_in_time = and_(ControlOrder.state == "reported", ControlOrder.reported_at <= ControlOrder.due_at)
    return and_(ControlOrder.state.in_(CONTROL_OPEN_STATES), ControlOrder.due_at < (utcnow() if now is None else now),
                not_(reported_in_time))


def stamp(order: ControlOrder) -> str:
    """The order's edit stamp for forms (optimistic concurrency): its last change in microseconds."""
    return str(int(order.updated_at.timestamp() * 1_000_000)) if order.updated_at else ""


# --- deadlines -----------------------------------------------------------------------------------------
def _calendar(institution: Institution | None):
    return sla.calendar_for(institution)


def due_moment(due: date | datetime, institution: Institution | None = None) -> datetime:
    """A deadline in UTC: a date means the end of that working day (the institution's hours, else the
    city's); a naive datetime is city time."""
    cal = _calendar(institution)
    if isinstance(due, datetime):
        return (due if due.tzinfo else due.replace(tzinfo=cal.tz)).astimezone(UTC)
    spans = cal.intervals_on(due)
    if spans:
        end = spans[-1][1]
    else:  # a day off: the usual end of the working day
        end = datetime.combine(due, cal.hours[-1][1] if cal.hours else time(23, 59), cal.tz)
    return end.astimezone(UTC)


DUE_FORMATS = ("%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y", "%Y-%m-%d")


def parse_due(text: str | None) -> date | datetime | None:
    """A deadline typed in a form: «25.12.2026», «2026-12-25» (a date input), optionally with «14:30».
    None when empty; ValidationFailed (field "due") when unreadable."""
    raw = (text or "").strip().replace("T", " ")
    if not raw:
        return None
    for fmt in DUE_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return parsed if "%H" in fmt else parsed.date()
    raise ValidationFailed("Укажите срок датой: ДД.ММ.ГГГГ, можно со временем ЧЧ:ММ", field="due")


# --- reading -------------------------------------------------------------------------------------------
def visible_orders(user: User, stmt):
    return stmt.where(access.order_condition(user))


def get(user: User, order_id: int | None, *, for_update: bool = False) -> ControlOrder:
    """The order, if the user may see it; NotFound otherwise (another institution's order included)."""
    order = None
    if order_id is not None:
        stmt = select(ControlOrder).where(ControlOrder.id == order_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        order = db.session.scalar(stmt)
    return access.ensure_can_view_order(user, order)


def hot_spot_of(order: ControlOrder) -> HotSpot | None:
    return db.session.get(HotSpot, order.hot_spot_id) if order.hot_spot_id else None


def tickets_of(order: ControlOrder) -> list[Ticket]:
    """The tickets whose timeline shows this order: its ticket, or every ticket of its hot spot."""
    if order.ticket_id is not None:
        return [order.ticket or db.session.get(Ticket, order.ticket_id)]
    spot = hot_spot_of(order)
    return list(spot.tickets) if spot is not None else []


def orders_for_ticket(user: User, ticket: Ticket) -> list[ControlOrder]:
    """Orders on the ticket itself and on the hot spots it belongs to, newest first."""
    spots = select(HotSpotTicket.hot_spot_id).where(HotSpotTicket.ticket_id == ticket.id)
    stmt = (select(ControlOrder)
            .where(or_(ControlOrder.ticket_id == ticket.id, ControlOrder.hot_spot_id.in_(spots)))
            .options(joinedload(ControlOrder.institution))
            .order_by(ControlOrder.created_at.desc(), ControlOrder.id.desc()))
    return list(db.session.scalars(visible_orders(user, stmt)))


def orders_for_hot_spot(user: User, hot_spot: HotSpot) -> list[ControlOrder]:
    stmt = (select(ControlOrder).where(ControlOrder.hot_spot_id == hot_spot.id)
            .options(joinedload(ControlOrder.institution))
            .order_by(ControlOrder.created_at.desc(), ControlOrder.id.desc()))
    return list(db.session.scalars(visible_orders(user, stmt)))


def counts_by_state(user: User, now: datetime | None = None) -> dict[str, int]:
    """Orders the user may see, per state (every state present), plus "open" and "late"."""
    now = now or utcnow()
    rows = db.session.execute(visible_orders(user, select(
        ControlOrder.state, func.count(), func.count().filter(late_condition(now)))
        .group_by(ControlOrder.state))).all()
    counts = dict.fromkeys(CONTROL_STATES, 0)
    late = 0
    for state, n, n_late in rows:
        counts[state] = counts.get(state, 0) + n
        late += n_late
    counts["open"] = sum(counts[s] for s in CONTROL_OPEN_STATES)
    counts["late"] = late
    return counts


STATE_FILTERS = ("open", *CONTROL_STATES, "all")


@dataclass
class OrderPage:
    rows: list[ControlOrder]
    next_cursor: str | None


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        due, oid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        due, oid = datetime.fromisoformat(due), int(oid)
        if due.tzinfo is None or not 0 <= oid < 2**31:  # a time without a zone cannot be compared: refused
            raise ValueError("not a cursor of this list")
        return due, oid
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("Ссылка на страницу списка устарела", field="cursor") from None


def list_orders(user: User, state: str | None = None, institution_id: int | None = None,
                late: bool | None = None, limit: int = 50, cursor: str | None = None,
                now: datetime | None = None) -> OrderPage:
    """Orders the user may see, the nearest deadline first (keyset on (due_at, id)).
    state: None or "all" — every state; "open" — issued, in progress, reported; or one state.
    late: True — only late orders; False — only those not late."""
    now = now or utcnow()
    stmt = select(ControlOrder).options(joinedload(ControlOrder.institution), joinedload(ControlOrder.ticket),
                                        joinedload(ControlOrder.issued_by))
    if state and state != "all":
        if state == "open":
            stmt = stmt.where(ControlOrder.state.in_(CONTROL_OPEN_STATES))
        elif state in CONTROL_STATES:
            stmt = stmt.where(ControlOrder.state == state)
        else:
            raise ValidationFailed("Неизвестное состояние поручения", field="state")
    if institution_id is not None:
        stmt = stmt.where(ControlOrder.institution_id == institution_id)
    if late is True:
        stmt = stmt.where(late_condition(now))
    elif late is False:
        stmt = stmt.where(~late_condition(now))
    if cursor:
        due, oid = _decode(cursor)
        stmt = stmt.where(or_(ControlOrder.due_at > due, and_(ControlOrder.due_at == due, ControlOrder.id > oid)))
    limit = max(1, min(int(limit), 500))
    rows = list(db.session.scalars(visible_orders(user, stmt)
                                   .order_by(ControlOrder.due_at, ControlOrder.id).limit(limit + 1)).unique())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode([rows[-1].due_at.isoformat(), rows[-1].id])
    return OrderPage(rows, next_cursor)


def institution_choices() -> list[tuple[int, str]]:
    """Active institutions an order may go to."""
    return list(db.session.execute(select(Institution.id, Institution.short_name)
                                   .where(Institution.is_active.is_(True)).order_by(Institution.short_name)))


# --- permissions ---------------------------------------------------------------------------------------
def may(user: User | None, order: ControlOrder, action: str) -> bool:
    a = ACTIONS.get(action)
    if a is None or order.state not in a.sources:
        return False
    if a.side == "head":
        return access.can_issue_orders(user)
    return access.can_execute_order(user, order)


def allowed_actions(user: User | None, order: ControlOrder) -> list[str]:
    """The actions this user may take on the order now, in a stable order."""
    return [name for name in ACTIONS if may(user, order, name)]


# --- writing -------------------------------------------------------------------------------------------
def _where(order: ControlOrder) -> str:
    if order.ticket_id is not None:
        t = order.ticket or db.session.get(Ticket, order.ticket_id)
        return f"по обращению {t.number}"
    spot = hot_spot_of(order)
    return f"по горячей точке «{spot.label}»" if spot else ""


def _record(order: ControlOrder, step: str, actor: User | None, now: datetime, **payload) -> None:
    """The step in the order's history and on the timeline of each of its tickets."""
    db.session.add(ControlOrderEvent(order=order, kind=step, actor_user_id=actor.id if actor else None,
                                     created_at=now, payload=payload))
    for ticket in tickets_of(order):
        events.record(ticket, "control", actor, at=now, order_id=order.id, step=step, state=order.state,
                      institution=order.institution.short_name if order.institution else "",
                      due=order.due_at.isoformat(), **payload)


def refresh_on_control(tickets: list[Ticket]) -> None:
    """Ticket.on_control := the ticket has an open order (on itself or on one of its hot spots)."""
    for ticket in tickets:
        spots = select(HotSpotTicket.hot_spot_id).where(HotSpotTicket.ticket_id == ticket.id)
        has_open = db.session.scalar(select(func.count(ControlOrder.id)).where(
            ControlOrder.state.in_(CONTROL_OPEN_STATES),
            or_(ControlOrder.ticket_id == ticket.id, ControlOrder.hot_spot_id.in_(spots)))) > 0
        if ticket.on_control != has_open:
            ticket.on_control = has_open


def _active_executors(institution_id: int) -> list[int]:
    return list(db.session.scalars(select(User.id).where(
        User.role == "executor", User.is_active_user.is_(True), User.institution_id == institution_id)))


def _notify(user_ids, order: ControlOrder, kind: str, text: str, now: datetime) -> int:
    """One in-app notification per user (linked Telegram chats get it there too, through the outbox)."""
    users = db.session.execute(select(User.id, User.telegram_chat_id).where(
        User.id.in_(set(user_ids)), User.is_active_user.is_(True))).all()
    for uid, chat in sorted(users):
        note = Notification(user_id=uid, ticket_id=order.ticket_id, control_order_id=order.id, kind=kind,
                            text=text, created_at=now)
        db.session.add(note)
        if chat:
            db.session.flush()
            replies.push_to_staff(note, now)
    return len(users)


def _local(moment: datetime) -> str:
    return local_dt(moment)


def issue(actor: User, *, instruction: str | None, institution_id: int | None, due: date | datetime | str | None,
          ticket: Ticket | None = None, hot_spot: HotSpot | None = None, topic: str | None = None,
          now: datetime | None = None) -> ControlOrder:
    """Issue an order; IssueInvalid (a ValidationFailed with every wrong field) when the input is wrong."""
    now = now or utcnow()
    if not access.can_issue_orders(actor):
        raise NotAllowed("Поручения выдаёт глава")
    errors: dict[str, str] = {}
    instruction = (instruction or "").strip()
    if not instruction:
        errors["instruction"] = _("Напишите текст поручения")
    elif len(instruction) > INSTRUCTION_MAX:
        errors["instruction"] = _("Текст поручения — не больше %(n)s символов", n=INSTRUCTION_MAX)
    institution = db.session.get(Institution, institution_id) if institution_id is not None else None
    if institution_id is None:
        errors["institution_id"] = _("Выберите учреждение-исполнителя")
    elif institution is None or not institution.is_active:
        errors["institution_id"] = _("Учреждение не найдено или не работает")
    due_at = None
    try:
        parsed = parse_due(due) if isinstance(due, str) else due
        if parsed is None:
            errors["due"] = _("Укажите срок исполнения")
        else:
            due_at = due_moment(parsed, institution)
            if due_at <= now:
                errors["due"] = _("Срок уже прошёл: укажите срок в будущем")
            elif due_at > now + MAX_AHEAD:
                errors["due"] = _("Срок — не дальше чем через год")
    except ValidationFailed as exc:
        errors["due"] = exc.message
    if (ticket is None) == (hot_spot is None):
        errors["target"] = _("Поручение выдаётся по одному обращению или по одной горячей точке")
    topic = (topic or "").strip()
    if len(topic) > TOPIC_MAX:
        errors["topic"] = _("Тема — не больше %(n)s символов", n=TOPIC_MAX)
    if errors:
        raise IssueInvalid(errors)
    if not topic:
        topic = (f"{ticket.number}: {ticket.summary}" if ticket is not None else hot_spot.label)[:TOPIC_MAX]
    order = ControlOrder(ticket=ticket, hot_spot_id=hot_spot.id if hot_spot else None, topic=topic,
                         instruction=instruction, institution=institution, due_at=due_at, state="issued",
                         issued_by_id=actor.id, created_at=now, updated_at=now)
    db.session.add(order)
    db.session.flush()
    _record(order, "issued", actor, now, instruction=instruction)
    refresh_on_control(tickets_of(order))
    _notify(_active_executors(institution.id), order, "control_issued",
            f"Поручение главы № {order.id} {_where(order)}: срок {_local(due_at)}", now)
    return order


def act(order: ControlOrder, action: str, actor: User, *, text: str | None = None,
        expected_stamp: str | None = None, now: datetime | None = None) -> ControlOrderEvent:
    """Take one step of the order's life (see ACTIONS), or raise a DomainError saying why not."""
    now = now or utcnow()
    # Lock the row: two people acting on one order at once are serialised; the stamp catches stale forms.
    locked = db.session.scalar(select(ControlOrder).where(ControlOrder.id == order.id).with_for_update()
                               .execution_options(populate_existing=True))
    order = locked or order
    if expected_stamp not in (None, "") and str(expected_stamp) != stamp(order):
        raise Conflict("Поручение уже изменил другой сотрудник. Обновите страницу и повторите действие.")
    a = ACTIONS.get(action or "")
    if a is None:
        raise ValidationFailed("Выберите действие", field="action")
    if order.state not in a.sources:
        raise InvalidTransition("Поручение в состоянии «%(state)s»: действие «%(action)s» недоступно",
                                state=order.state_label, action=a.label)
    if not may(actor, order, action):
        raise NotAllowed("У вас нет права на действие «%(action)s»", action=a.label)
    text = (text or "").strip()
    if a.text_required is not None and not text:
        raise ValidationFailed(str(a.text_required), field="text")
    if len(text) > TEXT_MAX:
        raise ValidationFailed("Текст — не больше %(n)s символов", field="text", n=TEXT_MAX)

    previous = order.state
    order.state = a.target
    order.updated_at = now
    payload = {"from": previous}
    if action == "report":
        order.report, order.reported_at = text, now
        payload["report"] = text
    elif text:
        payload["reason" if action in ("return", "cancel") else "comment"] = text
    if action == "approve":
        order.done_at = now
    _record(order, action, actor, now, **payload)
    refresh_on_control(tickets_of(order))
    where = _where(order)
    if action == "report" and order.issued_by_id:
        _notify([order.issued_by_id], order, "control_reported",
                f"Поручение № {order.id} {where}: {order.institution.short_name} доложило об исполнении", now)
    elif action in ("return", "cancel"):
        what = "возвращено на доработку" if action == "return" else "снято с контроля"
        _notify(_active_executors(order.institution_id), order, f"control_{action}",
                f"Поручение № {order.id} {where} {what}: {text}", now)
    return db.session.scalars(select(ControlOrderEvent).where(ControlOrderEvent.order_id == order.id)
                              .order_by(ControlOrderEvent.id.desc()).limit(1)).first()


# --- escalation ----------------------------------------------------------------------------------------
def sweep_late(now: datetime | None = None) -> list[int]:
    """Escalate every late open order not escalated yet: once each, however often this runs and however
    many workers run it at once. A conditional UPDATE claims the orders (a concurrent transaction waits on
    the row lock, then sees escalated_at set and skips the row); only the claiming transaction writes the
    event «Поручение просрочено» and notifies the issuer, every head and the institution's executors.
    Returns the escalated order ids. The caller commits."""
    now = now or utcnow()
    claimed = sorted(db.session.scalars(
        update(ControlOrder)
        .where(late_condition(now), ControlOrder.escalated_at.is_(None))
        .values(escalated_at=now, updated_at=ControlOrder.updated_at)  # not an edit: open forms stay valid
        .returning(ControlOrder.id)
        .execution_options(synchronize_session=False)))
    if not claimed:
        return []
    heads = list(db.session.scalars(select(User.id).where(User.role == "head", User.is_active_user.is_(True))))
    orders = db.session.scalars(select(ControlOrder).where(ControlOrder.id.in_(claimed))
                                .execution_options(populate_existing=True).order_by(ControlOrder.id))
    for order in orders:
        _record(order, "late", None, now)
        users = {*heads, *_active_executors(order.institution_id)}
        if order.issued_by_id:
            users.add(order.issued_by_id)
        _notify(users, order, "control_late",
                f"Поручение № {order.id} {_where(order)} просрочено (срок: {_local(order.due_at)}), "
                f"исполнитель: {order.institution.short_name}", now)
    return claimed


def describe_due(order: ControlOrder, now: datetime | None = None) -> tuple[str, str]:
    """The deadline in words, calendar time: («осталось 3 дня», "ok" | "soon") or («просрочено на 2 ч», "late");
    a closed order: its outcome, "closed"."""
    now = now or utcnow()
    if order.state not in CONTROL_OPEN_STATES:
        return str(order.state_label), "closed"
    late = is_late(order, now)
    if not late and order.state == "reported" and order.due_at <= now:
        return _("доложено в срок, ждёт решения главы"), "ok"
    delta = (now - order.due_at) if late else (order.due_at - now)
    minutes = max(int(delta.total_seconds() // 60), 1)
    days, hours = minutes // 1440, minutes // 60
    if days:
        span = f"{days} {plural_ru(days, _('день'), _('дня'), _('дней'))}"
    elif hours:
        span = _("%(n)s ч", n=hours)
    else:
        span = _("%(n)s мин", n=minutes)
    if late:
        return _("просрочено на %(span)s", span=span), "late"
    return _("осталось %(span)s", span=span), "soon" if delta < timedelta(days=1) else "ok"


# --- the list as a workbook ---------------------------------------------------------------------------
def orders_workbook(user: User, f: dict, error: str | None, now: datetime, limit: int) -> tuple[bytes, str]:
    """The orders list with the page's filters `f` (state, institution, late) as XLSX, every page through the
    keyset cursor up to about `limit` rows; `error`: the filter message the page showed, noted in the file.
    Returns (bytes, file name)."""

    def rows():
        cursor, n = None, 0
        while True:
            page = list_orders(user, state=f["state"], institution_id=f["institution"],
                               late=f["late"], cursor=cursor, limit=500, now=now)
            for o in page.rows:
                target = o.ticket.number if o.ticket else (f"горячая точка: {o.topic}" if o.topic else "")
                yield (o.id, o.created_at, o.issued_by.display_name if o.issued_by else "", o.institution.short_name,
                       target, o.instruction, o.due_at, str(o.state_label),
                       "да" if is_late(o, now) else "нет", o.report or "", o.reported_at, o.done_at)
                n += 1
            if not page.next_cursor or n > limit:
                return
            cursor = page.next_cursor

    sheet = exports.Sheet("Поручения", ("№", "Выдано", "Кем", "Учреждение", "По", "Поручение", "Срок", "Состояние",
                                        "Просрочено", "Доклад", "Доложено", "Исполнено"), rows(),
                          ("int", "datetime", "text", "text", "text", "text", "datetime", "text", "text", "text",
                           "datetime", "datetime"), (6, 17, 20, 30, 24, 60, 17, 20, 11, 50, 17, 17))
    state_names = {"open": "открытые", "all": "все", **{k: str(v) for k, v in CONTROL_STATES.items()}}
    filters = [("Состояние", state_names.get(f["state"], f["state"]))]
    if f["institution"]:
        inst = db.session.get(Institution, f["institution"])
        filters.append(("Учреждение", inst.short_name if inst else str(f["institution"])))
    if f["late"] is not None:
        filters.append(("Просрочка", "только просроченные" if f["late"] else "без просроченных"))
    if error:
        filters.append(("Внимание", error))
    data = exports.workbook([sheet], exports.About(what="Поручения главы", by=user.display_name,
                                                   filters=filters))
    return data, f"Поручения {now:%d.%m.%Y}.xlsx"
