"""The outbox: every outbound message — replies to residents, bot answers, staff notifications pushed to their
Telegram (SLA warnings and breaches, control orders, the weekly digest) — is a Reply row first, delivered by
one job (`deliver`) with the same states, backoff and the platform's retry-after.

Rows are created inside the caller's transaction; delivery is enqueued after commit. Delivery, part by part
(a long text is several messages on Telegram), commits `sending` before each platform call and the part's
platform id right after it, so:
- a rate limit (429, retry_after) on part 2 keeps part 1 recorded, and the retry sends part 2 and 3 only;
- a worker killed between the platform's "accepted" and our commit leaves the row `sending`; the sweep finds
  it (older than SENDING_STALE) and, on a network without an idempotency key (Telegram, MAX, OK), does NOT
  send it again blindly: it becomes `unconfirmed`, shown on the ticket as «доставка не подтверждена» with
  «отправить ещё раз» for staff. VK dedupes a repeated send by our random_id / guid: it is simply retried.
Failures retrying cannot help are `failed` with the reason, which the ticket's timeline shows.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import or_, select

from app.channels import get_adapter
from app.channels.base import ChannelError, OutgoingReply
from app.channels.telegram import TelegramAdapter
from app.extensions import db
from app.jobs import enqueue_after_commit, resolve
from app.models import STATUS_LABELS, ControlOrder, Message, Notification, Reply, Ticket, User, utcnow
from app.services import access, sla
from app.services.accounts import credentials
from app.services.errors import InvalidTransition
from app.services.secretbox import SecretUnreadable

MAX_ATTEMPTS = 6  # failed calls per part before giving up (a platform's rate limit does not count)
MAX_RATE_LIMITED = 50  # waits the platform may ask for (retry_after) before we give up on a message
BACKOFF = (10, 30, 120, 600, 1800)  # seconds between attempts when the platform gives no retry-after
# Networks that dedupe a repeated send by our key (VK: messages.send random_id, wall.createComment guid):
# after a crash mid-call they are retried; the others cannot tell us whether the message arrived.
IDEMPOTENT_NETWORKS = frozenset({"vk"})
STATES = ("pending", "sending", "sent", "failed", "unconfirmed")


def family_ids(ticket: Ticket) -> list[int]:
    """The ticket's id and the ids of every ticket merged into it (directly or through a chain of merges)."""
    ids, frontier = [ticket.id], [ticket.id]
    while frontier and len(ids) < 10_000:
        frontier = [i for i in db.session.scalars(select(Ticket.id).where(Ticket.duplicate_of_id.in_(frontier)))
                    if i not in ids]
        ids.extend(frontier)
    return ids


def main_ticket(ticket: Ticket | None) -> Ticket | None:
    """The ticket itself, or for a merged one the ticket it was merged into (following a chain of merges)."""
    seen = set()
    while ticket is not None and ticket.status == "merged" and ticket.duplicate_of_id is not None \
            and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = ticket.duplicate_of
    return ticket


def residents_of(ticket: Ticket) -> set[int]:
    """Ids of the residents of a ticket and of every ticket merged into it."""
    family = family_ids(ticket)
    found = set(db.session.scalars(select(Message.resident_id).where(Message.ticket_id.in_(family),
                                                                    Message.resident_id.isnot(None))))
    found.update(db.session.scalars(select(Ticket.resident_id).where(Ticket.id.in_(family),
                                                                    Ticket.resident_id.isnot(None))))
    return found


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
    if reply.kind == "ack":
        # Acknowledgements come in bursts (a triage batch makes hundreds): one job on their own queue delivers
        # every pending one (app/jobs/delivery.deliver_acks), asked for once per commit; no flush for an id.
        enqueue_after_commit(db.session(), "app.jobs.delivery.request_acks", queue="acks", inline=True, once=True)
        return reply
    db.session.flush()
    enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies",
                         job_id=f"deliver-{reply.id}")
    return reply


def pending_acks(limit: int = 500, after_id: int = 0) -> list[int]:
    """Acknowledgements waiting for their first try (a retry waits for its own delayed job), oldest first."""
    stmt = (select(Reply.id).where(Reply.kind == "ack", Reply.state == "pending", Reply.next_attempt_at.is_(None),
                                   Reply.id > after_id)
            .order_by(Reply.id).limit(limit))
    return list(db.session.scalars(stmt))


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


# --- staff pushes --------------------------------------------------------------------------------
def push_to_staff(note: Notification, now: datetime | None = None) -> Reply | None:
    """Queue `note` for its user's linked Telegram chat, through the outbox. None: nothing to push (the user has
    no linked chat, or Telegram is off: the in-app notification is the record). Held until the working hours of
    the user's institution (round-the-clock institutions at once) unless STAFF_PUSH_WORKING_HOURS_ONLY is off."""
    user = note.user if note.user is not None else db.session.get(User, note.user_id)
    if user is None or not user.is_active_user or not user.telegram_chat_id:
        return None
    if not TelegramAdapter().is_enabled(current_app.config):
        return None
    now = now or note.created_at or utcnow()
    hold = push_moment(user, now)
    db.session.flush()  # the notification's id
    reply = Reply(network="telegram", kind="push", text=note.text, notification_id=note.id,
                  address={"chat_id": user.telegram_chat_id}, created_at=now,
                  next_attempt_at=hold if hold > now else None)
    db.session.add(reply)
    db.session.flush()
    if hold <= now:
        enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies",
                             job_id=f"deliver-{reply.id}")
    return reply


def push_notifications(ids: list[int], now: datetime | None = None) -> int:
    """push_to_staff for the notifications `ids` (those of users with a linked chat). Returns how many queued."""
    if not ids:
        return 0
    notes = db.session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                               .where(Notification.id.in_(ids), User.telegram_chat_id.isnot(None))
                               .order_by(Notification.id)).all()
    return sum(push_to_staff(note, now) is not None for note in notes)


def mail_to_staff(note: Notification, to: str, subject: str, attachments: list[dict] | None = None,
                  now: datetime | None = None) -> Reply:
    """Queue `note` as an e-mail to `to` through the outbox (the digest). `attachments`: how to build each file
    when it goes ({"builder", "args", "filename", "mime"}). Caller commits."""
    db.session.flush()
    reply = Reply(network="email", kind="mail", text=note.text, notification_id=note.id,
                  address={"to": [to], "subject": subject, "attachments": attachments or []},
                  created_at=now or note.created_at or utcnow())
    db.session.add(reply)
    db.session.flush()
    enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies",
                         job_id=f"deliver-{reply.id}")
    return reply


def push_moment(user: User, now: datetime) -> datetime:
    """When a push to `user` may go: now, or the start of their institution's next working interval."""
    if not current_app.config.get("STAFF_PUSH_WORKING_HOURS_ONLY", True):
        return now
    return sla.calendar_for(user.institution).next_working_moment(now)


# --- delivery ------------------------------------------------------------------------------------
def sending_stale() -> timedelta:
    """A row `sending` for longer than this has lost its worker (a platform call takes HTTP_TIMEOUT at most)."""
    return timedelta(seconds=max(120.0, 4 * float(current_app.config.get("HTTP_TIMEOUT") or 10)))


def _parts(adapter, text: str) -> list[str]:
    split = getattr(adapter, "split", None)
    return split(text) if split is not None else [text]


def _address(reply: Reply) -> dict:
    if reply.address:
        return dict(reply.address)
    return dict(reply.in_reply_to.reply_address or {}) if reply.in_reply_to else {}


def _attachments(reply: Reply) -> list[tuple[str, bytes, str]]:
    """Files are not stored on the row: {"builder": dotted path, "args": [...], "filename", "mime"} in the
    address says how to build each one when the message goes (the digest's workbook)."""
    out = []
    for spec in (reply.address or {}).get("attachments") or []:
        out.append((spec["filename"], resolve(spec["builder"])(*spec.get("args", [])), spec["mime"]))
    return out


def _key(reply: Reply, part: int) -> str:
    return f"reply-{reply.id}" if part == 0 else f"reply-{reply.id}-part-{part + 1}"


def _locked(reply_id: int, skip_locked: bool = False) -> Reply | None:
    return db.session.get(Reply, reply_id, with_for_update={"skip_locked": True} if skip_locked else True,
                          populate_existing=True)


def deliver(reply_id: int, now: datetime | None = None) -> str:
    """Send a pending outbox row, part by part. Returns its state afterwards. Commits (several times: `sending`
    before each platform call, the result after it), so call it from a job, not inside a request's work."""
    now = now or utcnow()
    while True:
        config = current_app.config
        reply = _locked(reply_id, skip_locked=True)
        if reply is None:
            db.session.commit()
            return "missing"  # gone, or another worker holds it this instant
        if reply.state != "pending" or (reply.next_attempt_at is not None and reply.next_attempt_at > now):
            state = reply.state
            db.session.commit()
            return state  # sent already, given up, in flight or unconfirmed: never twice; or not yet its time
        gone = _staff_recipient_gone(reply)
        if gone:
            return _finish_failed(reply, gone)
        try:
            adapter = get_adapter(reply.network, outbound=True)
        except (KeyError, ImportError):
            return _finish_failed(reply, "Отправка в эту сеть не поддерживается")
        try:  # a participant's community answers its residents with its own token, when it has one
            config = credentials.send_config(reply, config)
        except SecretUnreadable as exc:
            return _finish_failed(reply, f"Токен сообщества: {exc}")
        if not adapter.is_enabled(config):
            return _finish_failed(reply, "Сеть не подключена: нет токена в настройках")
        parts = _parts(adapter, reply.text)
        done = list(reply.parts or [])
        if not parts:
            return _finish_failed(reply, "Пустой текст сообщения")
        if len(done) >= len(parts):
            return _finish_sent(reply, now)
        k, last = len(done), len(done) == len(parts) - 1
        buttons = [[(str(label), str(data)) for label, data in row] for row in reply.buttons or []] if last else []
        try:
            files = _attachments(reply)
        except Exception as exc:  # noqa: BLE001 — the file could not be built: say so on the row
            return _finish_failed(reply, f"Вложение не собрано: {exc}")
        out = OutgoingReply(network=reply.network, text=parts[k], address=_address(reply),
                            idempotency_key=_key(reply, k), buttons=buttons, part=k, attachments=files)
        reply.state, reply.sending_at = "sending", now
        reply.attempts += 1
        db.session.commit()  # durable before the platform is asked: a crash after its "accepted" is visible
        try:
            result = adapter.send(out, config)
        except ChannelError as exc:
            return _retry_or_fail(reply_id, exc, now, len(parts))
        reply = _locked(reply_id)
        reply.parts = done + [str(result.external_id)]
        if k == 0:
            reply.external_id = str(result.external_id)
        reply.sending_at = None
        if last:
            return _finish_sent(reply, now)
        reply.state = "pending"
        db.session.commit()


def _staff_recipient_gone(reply: Reply) -> str | None:
    """Why a staff push or mail may no longer go (checked before every part: it may have waited for working hours
    or a 429): its user was deactivated, the Telegram chat it is addressed to is no longer theirs, or the user may
    no longer see its ticket or order (moved to another institution or role, the ticket reassigned)."""
    if reply.notification_id is None:
        return None
    note = db.session.get(Notification, reply.notification_id)
    user = note.user if note is not None else None
    if user is None or not user.is_active_user:
        return "Сотрудник отключён: не отправлено"
    if reply.network == "telegram" and str((reply.address or {}).get("chat_id")) != str(user.telegram_chat_id):
        return "Сотрудник отвязал этот чат Telegram: не отправлено"
    if (note.ticket is not None and not access.can_view(user, note.ticket)) or (
            note.control_order_id is not None and not access.can_view_order(
                user, db.session.get(ControlOrder, note.control_order_id))):
        return "Сотрудник больше не видит это обращение или поручение: не отправлено"
    return None


def _finish_sent(reply: Reply, now: datetime) -> str:
    reply.state, reply.sent_at, reply.last_error, reply.next_attempt_at = "sent", now, None, None
    if reply.notification_id is not None and reply.network == "telegram":
        note = db.session.get(Notification, reply.notification_id)
        if note is not None and note.sent_at is None:
            note.sent_at = now
    db.session.commit()
    return "sent"


def _finish_failed(reply: Reply, why: str) -> str:
    reply.state, reply.last_error, reply.sending_at = "failed", why, None
    db.session.commit()
    return "failed"


def _retry_or_fail(reply_id: int, exc: ChannelError, now: datetime, total_parts: int) -> str:
    reply = _locked(reply_id)
    reply.last_error, reply.sending_at = str(exc)[:1000], None
    tries = reply.attempts - len(reply.parts or [])  # calls that did not deliver a part
    limited = exc.retry_after is not None
    if exc.permanent or (not limited and tries >= MAX_ATTEMPTS) or tries >= MAX_RATE_LIMITED:
        return _finish_failed(reply, reply.last_error)
    wait = exc.retry_after if limited else BACKOFF[min(tries - 1, len(BACKOFF) - 1)]
    reply.state, reply.next_attempt_at = "pending", now + timedelta(seconds=wait)
    enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply_id,
                         queue="acks" if reply.kind == "ack" else "replies", delay=wait)
    db.session.commit()
    return "pending"


def recover_stale(now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Rows left `sending` by a worker that died mid-call. VK (idempotent) → pending, sent again with the same
    key; the others → unconfirmed: whether the platform accepted it is unknown, staff decide. Commits."""
    now = now or utcnow()
    rows = db.session.scalars(select(Reply).where(Reply.state == "sending", Reply.sending_at < now - sending_stale())
                              .order_by(Reply.id).limit(limit).with_for_update(skip_locked=True)).all()
    counts = {"retried": 0, "unconfirmed": 0}
    for reply in rows:
        reply.sending_at = None
        if reply.network in IDEMPOTENT_NETWORKS:
            reply.state, reply.next_attempt_at = "pending", None
            counts["retried"] += 1
        else:
            part = len(reply.parts or []) + 1
            reply.state = "unconfirmed"
            reply.last_error = (f"Доставка не подтверждена: отправка части {part} прервалась после обращения к сети, "
                                "а сеть не позволяет проверить, дошло ли сообщение. Проверьте и отправьте ещё раз.")
            counts["unconfirmed"] += 1
    db.session.commit()
    return counts


def resend(reply: Reply) -> None:
    """Staff decided an unconfirmed message did not arrive: send it again from the unconfirmed part (parts
    already accepted are not sent again). Caller checks access and commits."""
    if reply.state != "unconfirmed":
        raise InvalidTransition("Этот ответ нельзя отправить ещё раз: его доставка не под вопросом.")
    reply.state, reply.next_attempt_at, reply.last_error = "pending", None, None
    enqueue_after_commit(db.session(), "app.jobs.delivery.deliver", reply.id, queue="replies",
                         job_id=f"deliver-{reply.id}-resend-{reply.attempts}")


def stale_pending(now: datetime | None = None, older_than: timedelta = timedelta(minutes=1),
                  limit: int = 500) -> list[int]:
    """Pending rows nobody is delivering (enqueue lost, Redis was down, worker killed), and held staff pushes
    whose moment has come."""
    now = now or utcnow()
    stmt = (select(Reply.id).where(Reply.state == "pending",
                                   or_(Reply.created_at < now - older_than, Reply.next_attempt_at.isnot(None)),
                                   or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now))
            .order_by(Reply.id).limit(limit))
    return list(db.session.scalars(stmt))
