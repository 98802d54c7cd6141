"""Ticket operations staff perform: create, assign, categorise, note, reply, merge, bulk."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import (
    PRIORITY_LABELS,
    REGIME_LABELS,
    REJECT_REASONS,
    Category,
    ControlOrder,
    DataVersion,
    HotSpotTicket,
    Institution,
    Message,
    RepeatSuggestion,
    Reply,
    Resident,
    Ticket,
    TicketCounter,
    User,
    VerdictAnswer,
    utcnow,
)
from app.models.base import insert_or_ignore
from app.services import access, events, refdata, replies, sla, verdict, workflow
from app.services.errors import DomainError, NotFound, ValidationFailed


# --- numbers ------------------------------------------------------------------------------------
def next_number(year: int) -> str:
    """Take the next human ticket number for the year, e.g. БЛГ-2026-000123 (safe under concurrency)."""
    prefix = current_app.config["TICKET_PREFIX"]
    stmt = (update(TicketCounter).where(TicketCounter.year == year)
            .values(last=TicketCounter.last + 1).returning(TicketCounter.last)
            .execution_options(synchronize_session=False))  # no scan of the session's objects per number
    with db.session.no_autoflush:  # the counter needs nothing of the session's pending rows: no flush of them here
        last = db.session.execute(stmt).scalar()
        if last is None:  # first ticket of the year; two workers may race here, hence ON CONFLICT
            db.session.execute(insert_or_ignore(TicketCounter).values(year=year, last=0)
                               .on_conflict_do_nothing(index_elements=["year"]))
            last = db.session.execute(stmt).scalar()
    return f"{prefix}-{year}-{last:06d}"


def reserve_numbers(year: int, count: int) -> list[str]:
    """Take `count` consecutive numbers of the year at once (one locked update; the import's batches), in order."""
    if count <= 0:
        return []
    prefix = current_app.config["TICKET_PREFIX"]
    stmt = (update(TicketCounter).where(TicketCounter.year == year)
            .values(last=TicketCounter.last + count).returning(TicketCounter.last)
            .execution_options(synchronize_session=False))
    last = db.session.execute(stmt).scalar()
    if last is None:
        db.session.execute(insert_or_ignore(TicketCounter).values(year=year, last=0)
                           .on_conflict_do_nothing(index_elements=["year"]))
        last = db.session.execute(stmt).scalar()
    return [f"{prefix}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


# A batch of intake (services/intake/triage) makes its tickets first and numbers them just before its commit, so
# the year's counter row is locked for one statement, not for the whole batch (two workers' batches no longer run
# one after the other). Until then a ticket carries a unique stand-in no resident or page ever sees: it is
# replaced in the same transaction. Numbers stay gap-free, and in the order of the tickets within a batch.
UNNUMBERED = "~"


def stand_in_number() -> str:
    """A unique stand-in for a ticket numbered later in its transaction (`number_tickets`)."""
    return UNNUMBERED + secrets.token_hex(12)


def number_tickets(tickets_: list[Ticket]) -> None:
    """Give the tickets made with a stand-in their numbers: per year (city time) one `reserve_numbers` in the order
    of their ids, then one UPDATE for all (executemany). The numbers are set on the objects as loaded. Caller
    commits, soon: the counter row of each year stays locked until then."""
    db.session.flush()  # every pending row first, then the lock
    todo = sorted((t for t in tickets_ if t.number.startswith(UNNUMBERED)), key=lambda t: t.id)
    if not todo:
        return
    tz = sla.city_calendar().tz
    by_year: dict[int, list[Ticket]] = {}
    for t in todo:
        by_year.setdefault(t.created_at.astimezone(tz).year, []).append(t)
    rows = []
    for year in sorted(by_year):
        for t, number in zip(by_year[year], reserve_numbers(year, len(by_year[year])), strict=True):
            rows.append({"t_id": t.id, "t_number": number})
            set_committed_value(t, "number", number)
    table = Ticket.__table__
    db.session.execute(table.update().where(table.c.id == bindparam("t_id"))
                       .values(number=bindparam("t_number"), updated_at=table.c.updated_at), rows)


def require(model, row_id: int | None, missing: str):
    """The row of `model` with this id, or NotFound with the message a user reads."""
    row = db.session.get(model, row_id) if row_id is not None else None
    if row is None:
        raise NotFound(missing)
    return row


def get_by_number(user: User, number: str, *options) -> Ticket:
    """The ticket `user` may see by its number (NotFound otherwise); `options`: loader options for what the caller
    shows (the ticket page loads its institution, rubric, resident and account with it)."""
    # unique(): every row is read (a collection loaded with the ticket, e.g. the page's answers, is complete)
    ticket = db.session.execute(select(Ticket).where(Ticket.number == number.strip().upper()).options(*options)) \
        .unique().scalar_one_or_none()
    return access.ensure_can_view(user, ticket)


@dataclass(frozen=True)
class PageFacts:
    """What the ticket page's own statement tells besides the ticket: whether each of the page's optional lists may
    have rows (the lists whose answer is «none» are not asked for), the reference data version, and the names of the
    ticket's institution and rubric."""
    answers: bool  # residents' answers (verdict_answers)
    replies: bool  # replies to the resident (the timeline)
    orders: bool  # control orders on the ticket or on a hot spot it belongs to (before the user's visibility)
    repeats: bool  # undismissed repeat suggestions involving it (before their tickets' state and visibility)
    family: bool  # tickets merged into it (their messages are on its timeline)
    reference_version: int | None
    institution_name: str | None  # the names the page shows of its institution and rubric (scalar subqueries: less
    category_name: str | None  # of the planner's work than two more joins, and no objects to build)


def _page_facts_columns() -> tuple:
    t = Ticket.__table__.c
    spots = select(HotSpotTicket.hot_spot_id).where(HotSpotTicket.ticket_id == t.id)
    merged = Ticket.__table__.alias("merged")
    return (
        exists().where(VerdictAnswer.ticket_id == t.id).label("has_answers"),
        exists().where(Reply.ticket_id == t.id).label("has_replies"),
        exists().where(or_(ControlOrder.ticket_id == t.id, ControlOrder.hot_spot_id.in_(spots))).label("has_orders"),
        exists().where(or_(RepeatSuggestion.ticket_id == t.id, RepeatSuggestion.other_id == t.id),
                       RepeatSuggestion.dismissed.is_(False)).label("has_repeats"),
        exists().where(merged.c.duplicate_of_id == t.id).label("has_family"),
        select(DataVersion.version).where(DataVersion.name == refdata.REFERENCE).scalar_subquery()
        .label("reference_version"),
        select(Institution.name).where(Institution.id == t.institution_id).scalar_subquery().label("institution_name"),
        select(Category.name).where(Category.id == t.category_id).scalar_subquery().label("category_name"),
    )


# built once (the number bound): composing the EXISTS subqueries cost more Python than executing the statement
_PAGE_TICKET = select(Ticket, *_page_facts_columns()).where(Ticket.number == bindparam("number"))
_PAGE_STATEMENTS: dict[tuple, object] = {}


def get_for_page(user: User, number: str, *options) -> tuple[Ticket, PageFacts]:
    """get_by_number for the ticket page, with its PageFacts read in the same statement (EXISTS subqueries: the
    planner's cost of a join to each is more than the statements they let the page skip). The reference data
    version is handed to refdata, which then reads no version of its own in this request."""
    stmt = _PAGE_STATEMENTS.get(options)
    if stmt is None:  # once per set of loader options (the page's are a module constant)
        if len(_PAGE_STATEMENTS) >= 16:
            _PAGE_STATEMENTS.clear()
        stmt = _PAGE_STATEMENTS[options] = _PAGE_TICKET.options(*options)
    row = db.session.execute(stmt, {"number": number.strip().upper()}).one_or_none()
    ticket = access.ensure_can_view(user, row[0] if row is not None else None)
    refdata.preset(row.reference_version)
    return ticket, PageFacts(row.has_answers, row.has_replies, row.has_orders, row.has_repeats, row.has_family,
                             row.reference_version, row.institution_name, row.category_name)


# --- creation -----------------------------------------------------------------------------------
def receiving(institution: Institution | None) -> Institution | None:
    """The institution when it may be sent residents' appeals, else None. A participant that only publishes
    (`receives_appeals` off: a shop in «бизнес») is never given a ticket: triage, the category's default and
    the staff's assignment all ask here."""
    return institution if institution is not None and institution.is_active and institution.receives_appeals \
        else None


def create_ticket(*, network: str, summary: str, resident: Resident | None = None,
                  institution: Institution | None = None, category: Category | None = None,
                  account=None, priority: str = "normal", address: str | None = None,
                  messages: list[Message] = (), created_at: datetime | None = None,
                  actor: User | None = None, regime: str = "local", number: str | None = None) -> Ticket:
    """A new ticket (status «new») with the next number of its year (city time), its deadlines under `regime`
    from `created_at` (sla.set_deadlines), `messages` attached to it and a «created» event. Without an
    institution the category's default one is taken. Intake, the ingest API and the demo call it; nothing is
    sent to the resident here (intake acknowledges). `number`: a stand-in (`stand_in_number`) when the caller numbers
    its tickets later (`number_tickets`). The caller commits."""
    created_at = created_at or utcnow()
    if institution is None and category is not None:
        institution = category.default_institution
    institution = receiving(institution)
    ticket = Ticket(number=number or next_number(created_at.astimezone(sla.city_calendar().tz).year),
                    network=network, summary=summary.strip(), resident=resident, institution=institution,
                    category=category, account=account, priority=priority, address=address,
                    regime=regime, created_at=created_at, updated_at=created_at, status="new")
    sla.set_deadlines(ticket, category, created_at)
    db.session.add(ticket)
    for m in messages:
        m.ticket = ticket
    events.record(ticket, "created", actor, resident=resident, at=created_at, network=network)
    return ticket


# --- single-ticket actions ----------------------------------------------------------------------
def assign(ticket: Ticket, institution: Institution, actor: User, expected_version: int | None = None,
           now: datetime | None = None) -> None:
    """Merge `ticket` into `into` (moderators only): `ticket` becomes «merged» with `duplicate_of` = `into`, each
    gets an event («status» on it, «merged» on `into`). Its messages stay where they are: the ticket family
    (replies.family_ids / main_ticket / residents_of) is how answers and the «Проблема решена?» question reach
    the residents of both, and a follow-up in the merged thread joins `into`. The caller commits."""
    access.ensure_can_manage(actor)
    workflow.check_version(ticket, expected_version)
    now = now or utcnow()
    if ticket.status not in ("new", "assigned", "in_progress"):
        raise ValidationFailed("Обращение в статусе «%(status)s» нельзя передать исполнителю",
                               status=ticket.status_label)
    if receiving(institution) is None:
        raise ValidationFailed("«%(who)s» не получает обращения жителей: выберите другое учреждение",
                               field="institution_id", who=institution.short_name)
    old = ticket.institution
    if old is not None and old.id == institution.id and ticket.status != "new":
        raise ValidationFailed("Обращение уже передано: %(who)s", field="institution_id", who=institution.short_name)
    ticket.institution, ticket.institution_id = institution, institution.id
    previous = old.short_name if old is not None and old.id != institution.id else None
    events.record(ticket, "assigned", actor, at=now, institution_id=institution.id,
                  institution=institution.short_name, previous=previous)
    if ticket.status == "new":
        workflow.change_status(ticket, "assigned", actor, now=now)
    else:
        ticket.assigned_at = now
    replies.notify(ticket, "assigned")


def set_category(ticket: Ticket, category: Category, actor: User, expected_version: int | None = None,
                 now: datetime | None = None) -> None:
    access.ensure_can_manage(actor)
    workflow.check_version(ticket, expected_version)
    if ticket.category_id == category.id:
        return
    if not category.is_active:  # a chip or a form opened before the rubric was switched off
        raise ValidationFailed("Рубрика «%(name)s» отключена: выберите другую", field="category_id",
                               name=category.name)
    old = ticket.category
    ticket.category, ticket.category_id = category, category.id
    events.record(ticket, "category", actor, at=now, category_id=category.id, category=category.name,
                  previous=old.name if old else None)


def set_priority(ticket: Ticket, priority: str, actor: User, expected_version: int | None = None,
                 now: datetime | None = None) -> None:
    """Mark a ticket urgent (or back to normal); the local regime's deadlines follow (sla.apply_priority)."""
    access.ensure_can_manage(actor)
    workflow.check_version(ticket, expected_version)
    if priority not in PRIORITY_LABELS:
        raise ValidationFailed("Неизвестный приоритет", field="priority")
    if ticket.priority == priority:
        return
    now = now or utcnow()
    previous, ticket.priority = ticket.priority, priority
    events.record(ticket, "priority", actor, at=now, priority=priority, previous=previous)
    for clock, (old, new) in sla.apply_priority(ticket).items():
        events.record(ticket, "deadline", actor, at=now, clock=clock,
                      previous=old.isoformat() if old else None, deadline=new.isoformat(),
                      reason="Срочное обращение: срок вдвое короче" if priority == "urgent"
                      else "Обычный приоритет: срок по регламенту")


def add_note(ticket: Ticket, actor: User, text: str, now: datetime | None = None) -> None:
    access.ensure_can_work(actor, ticket)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Заметка пуста", field="text")
    events.record(ticket, "note", actor, at=now, text=text)


def public_reply(ticket: Ticket, actor: User, text: str, now: datetime | None = None) -> Reply:
    """Queue a reply to the resident in the network they wrote from (an outbox row)."""
    access.ensure_can_work(actor, ticket)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Текст ответа пуст", field="text")
    if ticket.status in ("merged",):
        raise ValidationFailed("Обращение объединено с другим: отвечайте в основном обращении")
    now = now or utcnow()
    reply = replies.notify(ticket, "staff", text=text, author=actor)
    if reply is None:  # nowhere to send it (e.g. the resident left no contact): kept, and marked as such
        reply = Reply(ticket=ticket, network=ticket.network, kind="staff", text=text, author_id=actor.id,
                      created_at=now, state="failed", last_error="Житель не оставил адреса для ответа")
        db.session.add(reply)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    events.record(ticket, "reply", actor, at=now, text=text)
    return reply


def resend_reply(ticket: Ticket, actor: User, reply_id: int, now: datetime | None = None) -> Reply:
    """«Отправить ещё раз»: staff judged that a reply whose delivery a crash left unconfirmed did not arrive."""
    access.ensure_can_work(actor, ticket)
    reply = db.session.get(Reply, reply_id, with_for_update=True)
    if reply is None or reply.ticket_id != ticket.id:
        raise NotFound("Ответ не найден")
    replies.resend(reply)
    events.record(ticket, "reply_resent", actor, at=now or utcnow(), reply_id=reply.id)
    return reply


def interim_answer(ticket: Ticket, actor: User, text: str, promised: str | datetime,
                   now: datetime | None = None) -> Reply | None:
    """Промежуточный ответ: tell the resident what is being done and by when the final answer comes. It stops
    the first-response clock; the promised moment becomes the resolution deadline (within the regime's limit)."""
    access.ensure_can_work(actor, ticket)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Текст промежуточного ответа пуст", field="text")
    if not ticket.is_open:
        raise ValidationFailed("Обращение в статусе «%(status)s»: промежуточный ответ не нужен",
                               status=ticket.status_label)
    now = now or utcnow()
    when = promised if isinstance(promised, datetime) else sla.parse_promise(promised, ticket)
    previous = sla.promise(ticket, when, now)
    shown = when.astimezone(sla.calendar_for(ticket.institution).tz).strftime("%d.%m.%Y %H:%M")
    reply = replies.notify(ticket, "interim", text=text, author=actor, promised=shown)
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.updated_at = now
    events.record(ticket, "interim", actor, at=now, text=text, promised=when.isoformat())
    events.record(ticket, "deadline", actor, at=now, clock="resolution", previous=previous.isoformat(),
                  deadline=when.isoformat(), reason=f"Промежуточный ответ: обещано к {shown}")
    return reply


def change_status(ticket: Ticket, to: str, actor: User | None, *, comment: str | None = None, **kwargs):
    """A staff member moves the ticket (workflow.change_status: the rules, the clocks, the «status» event).
    When the ticket becomes resolved the residents are told and asked «Проблема решена?» (verdict.ask): this is
    the one place that pairs the two; resolving needs that answer (`comment`: the measures taken, or why it
    cannot be done). Returns the «status» event."""
    if to == "resolved" and not (comment or "").strip():
        raise ValidationFailed("Напишите ответ жителю: какие меры приняты или почему решить нельзя", field="comment")
    event = workflow.change_status(ticket, to, actor, comment=comment, **kwargs)
    if to == "resolved":
        verdict.ask(ticket, text=comment)
    return event


# --- deadlines: the 59-ФЗ extension and the legal regime (the arithmetic is services/sla) --------------
def extend_deadline(ticket: Ticket, reason: str, actor, now: datetime) -> datetime:
    """59-ФЗ art. 12 p. 2: the answer deadline moves by 30 days, once, with a recorded reason; the resident is
    told. Returns the new deadline."""
    access.ensure_can_work(actor, ticket)
    reason = (reason or "").strip()
    if ticket.regime != sla.FZ59:
        raise ValidationFailed("Продлить срок можно только обращению по 59-ФЗ")
    if not ticket.is_open:
        raise ValidationFailed("Обращение в статусе «%(status)s»: срок не продлевается", status=ticket.status_label)
    if ticket.extended_at is not None:
        raise ValidationFailed("Срок уже продлевался: по 59-ФЗ продление возможно один раз")
    if not reason:
        raise ValidationFailed("Укажите причину продления", field="reason")
    previous = ticket.resolution_due_at
    ticket.resolution_due_at = previous + sla.FZ59_EXTENSION
    ticket.extended_at, ticket.extension_reason = now, reason
    ticket.updated_at = now
    replies.notify(ticket, "extended", text=reason)
    events.record(ticket, "deadline", actor, at=now, clock="resolution", previous=previous.isoformat(),
                  deadline=ticket.resolution_due_at.isoformat(),
                  reason=f"Срок продлён на 30 дней (ст. 12 ч. 2 59-ФЗ): {reason}")
    return ticket.resolution_due_at


def change_regime(ticket: Ticket, regime: str, reason: str, actor, now: datetime) -> None:
    """A moderator says which law the appeal falls under: the clocks restart from now under the new regime
    (the first-response clock only if nobody has answered yet), and the timeline says why."""
    access.ensure_can_manage(actor)
    reason = (reason or "").strip()
    if regime not in REGIME_LABELS:
        raise ValidationFailed("Неизвестный режим", field="regime")
    if regime == ticket.regime:
        raise ValidationFailed("Обращение уже в режиме «%(regime)s»", field="regime", regime=REGIME_LABELS[regime])
    if not ticket.is_open:
        raise ValidationFailed("Обращение в статусе «%(status)s»: режим не меняется", status=ticket.status_label)
    if not reason:
        raise ValidationFailed("Укажите, почему меняется режим", field="reason")
    previous = ticket.resolution_due_at
    ticket.regime = regime
    ticket.extended_at = ticket.extension_reason = None
    targets = sla.regime_targets(ticket, ticket.category)
    if ticket.first_responded_at is None:
        ticket.first_response_due_at = sla.deadline_under(ticket, targets, now, "first")
    ticket.resolution_due_at = sla.deadline_under(ticket, targets, now, "resolution")
    if ticket.sla_paused_at is not None:
        ticket.sla_paused_at = now
    ticket.updated_at = now
    title = "59-ФЗ" if regime == sla.FZ59 else "местного регламента"
    events.record(ticket, "deadline", actor, at=now, clock="resolution", previous=previous.isoformat(),
                  deadline=ticket.resolution_due_at.isoformat(), regime=regime,
                  reason=f"Переведено в режим {title}: {reason}")


def merge(ticket: Ticket, into: Ticket, actor: User, expected_version: int | None = None,
          now: datetime | None = None) -> None:
    access.ensure_can_manage(actor)
    workflow.check_version(ticket, expected_version)
    if into.id == ticket.id:
        raise ValidationFailed("Нельзя объединить обращение с самим собой", field="merge_into")
    if into.status == "merged":
        raise ValidationFailed("Обращение %(number)s само объединено с другим", field="merge_into",
                               number=into.number)
    workflow.change_status(ticket, "merged", actor, _merge_allowed=True, comment=f"в {into.number}", now=now)
    ticket.duplicate_of = into
    events.record(into, "merged", actor, at=now, source=ticket.number, source_id=ticket.id)
    db.session.flush()
    # The residents of the merged ticket stay residents of the main one: told once, then every answer, status
    # message and «Проблема решена?» of the main ticket reaches them too (replies.recipients).
    replies.notify_merged(ticket, into)


# --- bulk ---------------------------------------------------------------------------------------
BULK_ACTIONS = {
    "assign": _l("Передать исполнителю"),
    "category": _l("Назначить рубрику"),
    "reject": _l("Отклонить"),
    "merge": _l("Объединить с обращением"),
}


@dataclass
class BulkResult:
    changed: list[Ticket] = field(default_factory=list)
    skipped: list[tuple[Ticket, str]] = field(default_factory=list)


def bulk(actor: User, ticket_ids: list[int], action: str, *, institution: Institution | None = None,
         category: Category | None = None, reason: str | None = None, merge_into: Ticket | None = None
         ) -> BulkResult:
    """Apply one action to several tickets; a ticket that cannot take it is skipped with the reason."""
    access.ensure_can_manage(actor)
    if action not in BULK_ACTIONS:
        raise ValidationFailed("Выберите действие", field="action")
    if not ticket_ids:
        raise ValidationFailed("Отметьте хотя бы одно обращение", field="ids")
    if action == "assign" and institution is None:
        raise ValidationFailed("Выберите учреждение", field="institution_id")
    if action == "category" and category is None:
        raise ValidationFailed("Выберите рубрику", field="category_id")
    if action == "reject" and reason not in REJECT_REASONS:
        raise ValidationFailed("Укажите причину отклонения", field="reason")
    if action == "merge" and merge_into is None:
        raise ValidationFailed("Укажите номер обращения, с которым объединить", field="merge_into")
    tickets = db.session.scalars(access.visible_tickets(actor, select(Ticket))
                                 .where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)).all()
    if len(tickets) != len(set(ticket_ids)):
        raise NotFound("Часть выбранных обращений не найдена")
    result = BulkResult()
    for t in tickets:
        try:
            with db.session.begin_nested():
                if action == "assign":
                    assign(t, institution, actor)
                elif action == "category":
                    set_category(t, category, actor)
                elif action == "reject":
                    workflow.change_status(t, "rejected", actor, reason=reason)
                else:
                    merge(t, merge_into, actor)
            result.changed.append(t)
        except DomainError as exc:
            result.skipped.append((t, exc.message))
    return result
