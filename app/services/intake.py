"""Intake: store every incoming message exactly once, then triage stored messages in batches.

`accept()` is all a webhook does besides answering: one INSERT … ON CONFLICT DO NOTHING per message
(unique network + external id), committed by the caller, then a triage job is asked for after commit.
`triage_pending()` takes untriaged messages with FOR UPDATE SKIP LOCKED, so any number of workers can
run it; a worker killed mid-batch rolls back its transaction and the messages are simply taken again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.channels.base import IncomingMessage
from app.channels.clean import clean_message, clean_str, redact_headers, redact_text
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import (
    OPEN_STATUSES,
    Account,
    Institution,
    IntakeRejection,
    Message,
    Resident,
    Ticket,
    utcnow,
)
from app.models.base import insert_or_ignore
from app.services import replies, routing, staff_telegram, tickets, workflow

TRIAGE_BATCH = 200


LINK_COLUMNS = frozenset({"permalink"})  # a cut link is a wrong link: dropped instead


def fit_columns(model, values: dict) -> dict:
    """`values` with every string cut to its column's length: PostgreSQL refuses a longer one, and the whole
    delivery would then miss the queue (a 1000-character «/start …», a 400-digit id). Links are dropped."""
    columns = model.__table__.columns
    for key, value in values.items():
        column = columns.get(key)
        length = getattr(column.type, "length", None) if column is not None else None
        if length and isinstance(value, str) and len(value) > length:
            values[key] = None if key in LINK_COLUMNS else value[:length]
    return values


def _resident_id(m: IncomingMessage, now: datetime) -> tuple[int, bool]:
    """The resident's id, and whether the row is new."""
    values = fit_columns(Resident, dict(network=m.network, external_id=m.author_id, display_name=m.author_name or "",
                                        created_at=now, phone=m.contact.get("phone"), email=m.contact.get("email"),
                                        consent_at=now if m.contact.get("consent") else None))
    stmt = (insert_or_ignore(Resident).values(**values)
            .on_conflict_do_nothing(index_elements=["network", "external_id"]).returning(Resident.id))
    rid = db.session.execute(stmt).scalar()
    if rid is not None:
        return rid, True
    return db.session.scalar(select(Resident.id).where(Resident.network == m.network,
                                                       Resident.external_id == values["external_id"])), False


def _account_id(m: IncomingMessage) -> int | None:
    """Our account the message reached: by the network's id, else the account of its thread (a reply to a
    reply inside a post's comments only names the discussion group)."""
    if m.account_ref:
        found = db.session.scalar(select(Account.id).where(Account.network == m.network,
                                                           Account.external_id == str(m.account_ref)).limit(1))
        if found is not None:
            return found
    if m.thread_key:
        return db.session.scalar(select(Message.account_id).where(
            Message.network == m.network, Message.thread_key == m.thread_key, Message.account_id.isnot(None))
            .order_by(Message.id.desc()).limit(1))
    return None


def accept(messages: list[IncomingMessage], now: datetime | None = None) -> list[int]:
    """Store the messages; a message seen before is skipped. Returns the ids of new rows. Caller commits."""
    now = now or utcnow()
    new_ids = []
    unnamed = False  # a new VK resident: callbacks carry no names, users.get fills them in (jobs/intake.vk_names)
    for m in messages:
        clean_message(m)  # NUL, lone surrogates, impossible dates, links to other hosts: see channels.clean
        resident_id, created = _resident_id(m, now)
        unnamed = unnamed or (created and m.network == "vk" and not m.author_name)
        values = dict(
            network=m.network, external_id=m.external_id, kind=m.kind, text=m.text or "",
            attachments=[a.as_dict() for a in m.attachments], permalink=(m.permalink or None),
            thread_key=m.thread_key, reply_to_external_id=m.reply_to, raw=m.raw, reply_address=m.reply_address,
            received_at=m.sent_at or now, account_id=_account_id(m), resident_id=resident_id,
            command=m.command or ("start" if m.start_code else None),
            command_arg=(m.command_arg or m.start_code),
        )
        fit_columns(Message, values)
        if m.edit_of:
            values["edit_of_id"] = db.session.scalar(select(Message.id).where(
                Message.network == m.network, Message.external_id == m.edit_of))
        stmt = (insert_or_ignore(Message).values(**values)
                .on_conflict_do_nothing(index_elements=["network", "external_id"]).returning(Message.id))
        mid = db.session.execute(stmt).scalar()
        if mid is not None:
            new_ids.append(mid)
    if new_ids:
        enqueue_after_commit(db.session(), "app.jobs.intake.request_triage", queue="intake", inline=True)
    if unnamed:
        enqueue_after_commit(db.session(), "app.jobs.intake.request_vk_names", queue="default", inline=True)
    return new_ids


def reject(network: str, reason: str, body: str, headers: dict) -> None:
    """Keep an authenticated request we could not take, with its raw body, for the admin. Caller commits.
    Secrets (the platforms' secret headers, VK's `secret` field, tokens, cookies) are never kept; characters
    PostgreSQL cannot store (NUL, lone surrogates) are shown escaped."""
    body = (body or "")[:100_000].replace("\x00", "\\0")
    db.session.add(IntakeRejection(network=network[:20], reason=clean_str(reason)[:300],
                                   body=clean_str(redact_text(body)), headers=redact_headers(headers)))


# --- triage ---------------------------------------------------------------------------------------
def triage_pending(limit: int = TRIAGE_BATCH, now: datetime | None = None) -> int:
    """Triage up to `limit` stored messages; returns how many. Caller commits."""
    stmt = (select(Message).where(Message.triaged_at.is_(None)).order_by(Message.id).limit(limit)
            .with_for_update(skip_locked=True, of=Message))
    batch = list(db.session.scalars(stmt))
    for message in batch:
        triage_message(message, now=now)
    return len(batch)


def untriaged_count() -> int:
    return db.session.scalar(select(db.func.count(Message.id)).where(Message.triaged_at.is_(None)))


def triage_message(m: Message, now: datetime | None = None) -> Ticket | None:
    """Decide what a stored message is: an edit, a bot command, noise, part of an open ticket, or a new one."""
    now = now or utcnow()
    m.triaged_at = now
    if m.edit_of_id is not None:
        original = db.session.get(Message, m.edit_of_id)
        if original is not None and original.ticket is not None:
            m.ticket = original.ticket
            workflow.record(original.ticket, "message_edited", resident=m.resident, at=m.received_at,
                            text=m.text, message_id=m.id)
        else:
            m.noise_reason = "edit"
        return m.ticket
    if m.command:
        _command(m)
        return None
    reason = routing.noise_reason(m.text, bool(m.attachments))
    if reason:
        m.noise_reason = reason
        return None
    ticket = _open_ticket_of(m)
    if ticket is not None:
        m.ticket = ticket
        workflow.record(ticket, "message", resident=m.resident, at=m.received_at, message_id=m.id)
        if ticket.status in ("waiting_resident", "resolved"):
            workflow.change_status(ticket, "in_progress", None, resident=m.resident, now=now,
                                   comment="Житель ответил")
        return ticket
    return _new_ticket(m, now)


def noise_pile(limit: int = 100, before_id: int | None = None) -> list[Message]:
    """Messages set aside as «не обращение» (thanks, emoji, ads…), newest first, for moderators to review."""
    stmt = select(Message).where(Message.noise_reason.isnot(None), Message.noise_reason.notin_(("command", "edit")),
                                 Message.ticket_id.is_(None))
    if before_id:
        stmt = stmt.where(Message.id < before_id)
    return list(db.session.scalars(stmt.order_by(Message.id.desc()).limit(limit)))


def promote(m: Message, actor, now: datetime | None = None) -> Ticket:
    """A moderator says a message from the «не обращение» pile is an appeal after all: make its ticket."""
    from app.services import access
    from app.services.errors import ValidationFailed

    access.ensure_can_manage(actor)
    if m.ticket_id is not None:
        raise ValidationFailed("Сообщение уже относится к обращению")
    now = now or utcnow()
    m.noise_reason = None
    m.triaged_at = now
    ticket = _new_ticket(m, now)
    workflow.record(ticket, "promoted", actor, at=now)
    return ticket


def _open_ticket_of(m: Message) -> Ticket | None:
    """The resident's open (or just resolved) ticket on the same thread, if any."""
    if m.resident_id is None or not m.thread_key:
        return None
    stmt = (select(Ticket).join(Message, Message.ticket_id == Ticket.id)
            .where(Message.resident_id == m.resident_id, Message.thread_key == m.thread_key,
                   Message.network == m.network, Ticket.status.in_(OPEN_STATUSES + ("resolved",)))
            .order_by(Ticket.id.desc()).limit(1))
    return db.session.scalar(stmt)


def _regime_of(m: Message, address: str | None) -> str:
    """59-ФЗ for an identified written appeal (web form or API: a full name and a postal address or e-mail);
    the local regulation for everything else (social networks, anonymous forms)."""
    resident = m.resident
    if m.kind not in ("form", "api") or resident is None:
        return "local"
    full_name = len((resident.display_name or "").split()) >= 2
    return "59fz" if full_name and (address or resident.email) else "local"


def _new_ticket(m: Message, now: datetime) -> Ticket:
    route = routing.categorize(m.text)
    resident = m.resident
    institution = None
    if resident is not None and resident.preferred_institution_id:
        institution = db.session.get(Institution, resident.preferred_institution_id)
    if institution is None and m.account is not None:
        institution = m.account.institution
    if institution is None and route.category is not None:
        institution = route.category.default_institution
    summary = m.text.strip() or ("[фото]" if m.attachments else "")
    address = (m.raw or {}).get("address") if m.kind in ("form", "api") else None
    ticket = tickets.create_ticket(network=m.network, summary=summary, resident=resident, institution=institution,
                                   category=route.category, account=m.account, messages=[m], created_at=now,
                                   address=address, regime=_regime_of(m, address))
    db.session.flush()
    if route.category is not None:
        workflow.record(ticket, "routed", at=now, category=route.category.name, matched=route.matched,
                        confidence=round(route.confidence, 2),
                        institution=institution.short_name if institution else None)
    replies.notify(ticket, "ack", message=m)
    return ticket


def _command(m: Message) -> None:
    m.noise_reason = "command"
    if m.command == "callback":
        from app.services import verdict  # verdict → workflow → … → intake: imported when needed

        verdict.handle(m)  # a button press: «Проблема решена?» Да / Нет, a rating 1-5
        return
    if m.command == "start" and m.network == "telegram" and staff_telegram.is_link_code(m.command_arg):
        # a staff member linking their Telegram (code from /notifications): no ticket, no resident flow.
        # Only from Telegram: the code sent in another network binds nothing (a plain /start greeting there).
        user = staff_telegram.link(m.command_arg, (m.reply_address or {}).get("chat_id"))
        replies.bot_answer(m, "staff_linked", user=user)
    elif m.command == "start":
        institution = _institution_from_code(m.command_arg) if m.command_arg else None
        if institution is not None and m.resident is not None:
            m.resident.preferred_institution_id = institution.id
        replies.bot_answer(m, "start", institution=institution)
    elif m.command == "status":
        number = (m.command_arg or "").strip().upper()
        ticket = db.session.scalar(select(Ticket).where(Ticket.number == number)) if number else None
        replies.bot_answer(m, "status", ticket=ticket, number=number)
    else:
        replies.bot_answer(m, "help")


def _institution_from_code(code: str) -> Institution | None:
    """Deep-link codes are `i<institution id>` (printed in the QR codes of the participants' directory)."""
    code = code.strip().lower()
    if code.startswith("i") and code[1:].isdigit():
        return db.session.get(Institution, int(code[1:]))
    return None
