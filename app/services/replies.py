"""Replies to residents as an outbox: a Reply row first, then a job delivers it through the network's adapter.

Rows are created inside the caller's transaction; delivery is enqueued after commit. Delivery takes the
row with a lock, so two workers never send the same reply; it records the platform's message id, retries
with backoff (honouring the platform's retry-after), and marks a reply failed with the reason when
retrying cannot help, which the ticket's timeline shows.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import or_, select

from app.channels import get_adapter
from app.channels.base import ChannelError, OutgoingReply
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import STATUS_LABELS, Message, Reply, Ticket, User, utcnow

MAX_ATTEMPTS = 6
BACKOFF = (10, 30, 120, 600, 1800)  # seconds between attempts when the platform gives no retry-after


def family_ids(ticket: Ticket) -> list[int]:
    """The ticket's id and the ids of every ticket merged into it (directly or through a chain of merges)."""
    ids, frontier = [ticket.id], [ticket.id]
    while frontier and len(ids) < 10_000:
        frontier = [i for i in db.session.scalars(select(Ticket.id).where(Ticket.duplicate_of_id.in_(frontier)))
                    if i not in ids]
        ids.extend(frontier)
    return ids


def recipients(ticket: Ticket, ids: list[int] | None = None) -> list[Message]:
    """Whom to tell about a ticket: for each resident of the ticket and of the tickets merged into it, their
    latest message that can be answered (it has an address in its network). The ticket's own resident first."""
    ids = ids if ids is not None else family_ids(ticket)
    messages = db.session.scalars(select(Message).where(Message.ticket_id.in_(ids))
                                  .order_by(Message.received_at.desc(), Message.id.desc())).all()
    latest: dict = {}
    for m in messages:
        if m.reply_address:
            latest.setdefault(m.resident_id if m.resident_id is not None else ("message", m.id), m)
    own = latest.pop(ticket.resident_id, None) if ticket.resident_id is not None else None
    return ([own] if own is not None else []) + list(latest.values())


def _source_message(ticket: Ticket) -> Message | None:
    """The ticket's own resident's latest message that can be answered."""
    found = recipients(ticket)
    return found[0] if found else None


def _queue(reply: Reply) -> Reply:
    db.session.add(reply)
    db.session.flush()
    enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies",
                         job_id=f"deliver-{reply.id}")
    return reply


def notify(ticket: Ticket, kind: str, message: Message | None = None, text: str | None = None,
           author: User | None = None, buttons: list | None = None, **context) -> Reply | None:
    """Tell the resident about their ticket (ack | assigned | resolved | staff | interim | extended).
    `context` goes to the template; `buttons`: rows of [label, payload] sent under the message.
    Without `message`, every resident of the ticket and of the tickets merged into it is told, each in their own
    network (`recipients`); the own resident's reply is returned. None: nobody to tell."""
    targets = [message] if message is not None else recipients(ticket)
    first = None
    for target in targets:
        if not target.reply_address:
            continue
        body = render_template(f"messages/{kind}.txt", ticket=ticket, text=text or "",
                               status=STATUS_LABELS.get(ticket.status, ticket.status),
                               city=current_app.config["CITY_NAME"], **context).strip()
        reply = _queue(Reply(ticket=ticket, network=target.network, kind=kind, text=body,
                             author_id=author.id if author else None, in_reply_to_message_id=target.id,
                             created_at=utcnow(), buttons=buttons or []))
        first = first or reply
    return first


def notify_merged(source: Ticket, into: Ticket) -> int:
    """Tell each resident of `source` (and of what was merged into it) once that their appeal was joined with
    `into`; residents who are already residents of `into` are not told. Returns how many were told."""
    joined = set(family_ids(source))
    before = {m.resident_id for m in recipients(into, [i for i in family_ids(into) if i not in joined])}
    told = 0
    for target in recipients(source):
        if target.resident_id is not None and target.resident_id in before:
            continue
        if notify(into, "merged", message=target, source=source) is not None:
            told += 1
    return told


def bot_answer(message: Message, kind: str, buttons: list | None = None, **context) -> Reply | None:
    """Answer a bot command (/start, /status) or a button press in the resident's chat."""
    if not message.reply_address:
        return None
    ticket = context.get("ticket")
    body = render_template(f"messages/bot_{kind}.txt", city=current_app.config["CITY_NAME"],
                           status=STATUS_LABELS.get(ticket.status, ticket.status) if ticket else "",
                           **context).strip()
    return _queue(Reply(ticket_id=ticket.id if ticket else None, network=message.network, kind="bot", text=body,
                        in_reply_to_message_id=message.id, created_at=utcnow(), buttons=buttons or []))


# --- delivery ------------------------------------------------------------------------------------
def deliver(reply_id: int, now: datetime | None = None) -> str:
    """Send one pending reply. Returns its state afterwards. Caller commits."""
    now = now or utcnow()
    reply = db.session.get(Reply, reply_id, with_for_update={"skip_locked": True})
    if reply is None:
        return "missing"
    if reply.state != "pending":
        return reply.state  # sent already (or given up): never twice
    if reply.next_attempt_at is not None and reply.next_attempt_at > now:
        return "pending"
    config = current_app.config
    try:
        adapter = get_adapter(reply.network)
    except (KeyError, ImportError):
        return _fail(reply, "Отправка в эту сеть не поддерживается")
    if not adapter.is_enabled(config):
        return _fail(reply, "Сеть не подключена: нет токена в настройках")
    address = reply.in_reply_to.reply_address if reply.in_reply_to else {}
    buttons = [[(str(label), str(data)) for label, data in row] for row in reply.buttons or []]
    out = OutgoingReply(network=reply.network, text=reply.text, address=address,
                        idempotency_key=f"reply-{reply.id}", buttons=buttons)
    reply.attempts += 1
    try:
        result = adapter.send(out, config)
    except ChannelError as exc:
        reply.last_error = str(exc)[:1000]
        if exc.permanent or reply.attempts >= MAX_ATTEMPTS:
            reply.state = "failed"
            return "failed"
        wait = exc.retry_after if exc.retry_after else BACKOFF[min(reply.attempts - 1, len(BACKOFF) - 1)]
        reply.next_attempt_at = now + timedelta(seconds=wait)
        enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies", delay=wait)
        return "pending"
    reply.state, reply.external_id, reply.sent_at, reply.last_error = "sent", result.external_id, now, None
    return "sent"


def _fail(reply: Reply, why: str) -> str:
    reply.state, reply.last_error = "failed", why
    return "failed"


def stale_pending(now: datetime | None = None, older_than: timedelta = timedelta(minutes=1),
                  limit: int = 500) -> list[int]:
    """Pending replies nobody is delivering (enqueue lost, Redis was down, worker killed)."""
    now = now or utcnow()
    stmt = (select(Reply.id).where(Reply.state == "pending", Reply.created_at < now - older_than,
                                   or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now))
            .order_by(Reply.id).limit(limit))
    return list(db.session.scalars(stmt))
