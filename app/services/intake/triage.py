"""Intake: store every incoming message exactly once, then triage stored messages in batches.

`accept()` is all a webhook does besides answering: one INSERT … ON CONFLICT DO NOTHING per message
(unique network + external id), committed by the caller, then a triage job is asked for after commit.
`triage_pending()` takes untriaged messages with FOR UPDATE SKIP LOCKED, so any number of workers can
run it; a worker killed mid-batch rolls back its transaction and the messages are simply taken again.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased, selectinload

from app.channels import content
from app.channels.base import parse_command
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import OPEN_STATUSES, Category, Institution, Message, Ticket, TicketEvent, utcnow
from app.services import (
    access,
    batchmemo,
    deeplinks,
    repeats,
    replies,
    routing_model,
    routing_rules,
    sla,
    staff_telegram,
    tickets,
    verdict,
    workflow,
)
from app.services.errors import ValidationFailed
from app.services.intake import routing
from app.services.replies import main_ticket, residents_of  # noqa: F401  (intake.residents_of: older callers)
from app.services.text import has_words, normalise

log = logging.getLogger(__name__)

TRIAGE_BATCH = 200


# --- triage ---------------------------------------------------------------------------------------
def triage_pending(limit: int = TRIAGE_BATCH, now: datetime | None = None) -> int:
    """Triage up to `limit` stored messages, then send the acknowledgements that are due; returns how many
    messages. Caller commits.

    The batch is one transaction. When a message's triage fails, the batch is rolled back and taken again message
    by message, each in a savepoint: the others are triaged as always, the failing one is set aside on the
    «не обращение» pile as TRIAGE_FAILED (logged with its id) for a moderator, never retried forever."""
    batch = _take(limit)
    try:
        with batchmemo.scope():  # what every message reads alike (rules, rubrics, streets) is read once per batch
            made = batchmemo.memo(_UNNUMBERED, list)  # new tickets, numbered just before the commit
            _threads_with_tickets(batch)
            for message in batch:
                triage_message(message, now=now)
                _thread_touched(message)
            _number_and_acknowledge(made)
            send_due_acks(now=now)
    except Exception:  # noqa: BLE001 — one message must not hold up the others
        if not batch:
            raise
        log.warning("triage: a batch of %d failed; taken again message by message", len(batch), exc_info=True)
        db.session.rollback()
        return _one_by_one(limit, now)
    return len(batch)


_UNNUMBERED = "intake.unnumbered"  # batchmemo: [(ticket, message to acknowledge now or None)] of the batch


def _number_and_acknowledge(made: list[tuple[Ticket, Message | None]]) -> None:
    """The batch's new tickets take their numbers (one statement a year: the counter row stays locked from here to
    the commit, not for the whole batch), then their acknowledgements, which show the number, are written."""
    tickets.number_tickets([t for t, _ in made])
    for ticket, message in made:
        if message is not None:
            replies.notify(ticket, "ack", message=message)


TRIAGE_FAILED = "triage_failed"  # noise_reason of a message whose triage raised (routing.NOISE_LABELS)


def _take(limit: int) -> list[Message]:
    stmt = (select(Message).where(Message.triaged_at.is_(None)).order_by(Message.id).limit(limit)
            .with_for_update(skip_locked=True, of=Message)
            .options(selectinload(Message.resident), selectinload(Message.account)))  # one query each per batch
    return list(db.session.scalars(stmt))


def _one_by_one(limit: int, now: datetime | None) -> int:
    batch = _take(limit)
    for message in batch:
        try:
            with db.session.begin_nested():
                triage_message(message, now=now)
        except Exception:  # noqa: BLE001
            log.exception("triage: message %s (%s %s) failed; set aside for a moderator", message.id,
                          message.network, message.external_id)
            message = db.session.get(Message, message.id, populate_existing=True)
            message.triaged_at, message.noise_reason, message.ticket_id = now or utcnow(), TRIAGE_FAILED, None
            db.session.flush()
    send_due_acks(now=now)
    return len(batch)


def _thread_key(m: Message) -> tuple:
    return m.resident_id, m.thread_key, m.network


def _threads_with_tickets(batch: list[Message]) -> None:
    """One query for the batch: the (resident, thread, network) of its messages that some stored message already
    links to a ticket. A message on a thread outside this set, and not taken earlier in the batch, has no open ticket
    to join: `_open_ticket_of` answers None for it without asking the database."""
    residents = {m.resident_id for m in batch if m.resident_id is not None and m.thread_key}
    rows = db.session.execute(
        select(Message.resident_id, Message.thread_key, Message.network).distinct()
        .where(Message.resident_id.in_(residents), Message.ticket_id.isnot(None))).all() if residents else []
    batchmemo.memo("intake.threads", set).update(tuple(r) for r in rows)


def _thread_touched(m: Message) -> None:
    batchmemo.memo("intake.threads", set).add(_thread_key(m))  # may have made or joined a ticket: ask from now on


def untriaged_count() -> int:
    return db.session.scalar(select(db.func.count(Message.id)).where(Message.triaged_at.is_(None)))


BOT_COMMANDS = ("start", "status", "help")
# A deep-link code (Telegram allows 1-64 characters A-Za-z0-9_- in ?start=): anything else after /start is text.
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A ticket number as a resident types it («БЛГ-2026-000123», «блг-2026-123», «123»): one token with a digit.
_NUMBER = re.compile(r"^(?=[^\s]*\d)[^\W_]+(?:-[^\W_]+)*$")
NUMBER_MAX = 32


def _after_command(text: str) -> str:
    """The text after a leading `/command` (or `/command@bot`)."""
    stripped = (text or "").strip()
    if not stripped.startswith("/"):
        return stripped
    parts = stripped.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def triage_message(m: Message, now: datetime | None = None) -> Ticket | None:
    """Decide what a stored message is: an edit, a bot command, noise, part of an open ticket, or a new one.

    One rule set for every network. A bot command whose argument is not a code or a ticket number is the
    resident's text (`/status не пришёл ответ…` is an appeal). An edit of a message that is part of a ticket
    shows on that ticket; an edit of any other message is triaged again with its new text."""
    now = now or utcnow()
    m.triaged_at = now
    text = routing_text(m)
    if m.edit_of_id is not None:
        original = db.session.get(Message, m.edit_of_id)
        if original is not None and original.ticket is not None:
            ticket = original.ticket
            m.ticket = ticket
            workflow.record(ticket, "message_edited", resident=m.resident, at=m.received_at,
                            text=m.text, message_id=m.id)
            _set_place(ticket, m)
            _text_arrived(ticket, m, routing_text(m), now)
            return ticket
        # Triaged as if new: «/status <number>» corrected by an edit is answered, not made a ticket of its number
        # (adapters never mark an edit as a command; only /status is worth answering again).
        m.command, m.command_arg = parse_command(m.text, ("status",))
    if m.command:
        handled, text = _command(m, now)
        if handled:
            return m.ticket
        m.noise_reason = None  # the command was answered, or was no command: what is left is the resident's
    reason = routing.noise_reason(text, m.attachments)
    if reason:
        m.noise_reason = reason
        return None
    ticket = _open_ticket_of(m)
    if ticket is not None:
        _join(ticket, m, text, now)
        return ticket
    return _new_ticket(m, now, text)


def routing_text(m: Message) -> str:
    """The resident's words in a message, as the rules read them: a bot command's own word left out
    («/help у нас …» on a network whose bot knows no /help is the same words)."""
    text = (m.text or "").strip()
    head = text.split(None, 1)[0] if text.startswith("/") else ""
    if head[1:].split("@", 1)[0].lower() in BOT_COMMANDS:
        return _after_command(text)
    return text


def _join(ticket: Ticket, m: Message, text: str, now: datetime) -> None:
    """A follow-up of the resident: part of their ticket (a waiting or resolved ticket goes back to work)."""
    m.noise_reason = None
    m.ticket = ticket
    _set_place(ticket, m)
    workflow.record(ticket, "message", resident=m.resident, at=m.received_at, message_id=m.id)
    # «Спасибо» (with a photo too), «Да, спасибо», «Да» typed to «Проблема решена?»: kept, not reopened
    thanks = ticket.status == "resolved" and (routing.is_thanks(text) or routing.is_yes(text))
    if ticket.status in ("waiting_resident", "resolved") and not thanks:
        workflow.change_status(ticket, "in_progress", None, resident=m.resident, now=now,
                               comment="Житель ответил")
    _text_arrived(ticket, m, text, now)


def noise_pile(limit: int = 100, before_id: int | None = None) -> list[Message]:
    """Messages set aside as «не обращение» (thanks, emoji, ads…), newest first, for moderators to review.
    A message edited later is shown as its latest version only (an edit that became an appeal leaves the pile)."""
    later = aliased(Message)
    superseded = exists().where(later.edit_of_id == func.coalesce(Message.edit_of_id, Message.id),
                                later.id > Message.id)
    stmt = select(Message).where(Message.noise_reason.isnot(None), Message.noise_reason.notin_(("command", "edit")),
                                 Message.ticket_id.is_(None), ~superseded)
    if before_id:
        stmt = stmt.where(Message.id < before_id)
    return list(db.session.scalars(stmt.order_by(Message.id.desc()).limit(limit)))


def promote(m: Message, actor, now: datetime | None = None) -> Ticket:
    """A moderator says a message from the «не обращение» pile is an appeal after all: make its ticket."""
    access.ensure_can_manage(actor)
    if m.ticket_id is not None:
        raise ValidationFailed("Сообщение уже относится к обращению")
    now = now or utcnow()
    m.noise_reason = None
    m.triaged_at = now
    ticket = _new_ticket(m, now, routing_text(m), burst=False)
    workflow.record(ticket, "promoted", actor, at=now)
    return ticket


def _open_ticket_of(m: Message) -> Ticket | None:
    """The resident's open (or just resolved) ticket on the same thread, if any. A ticket merged into another
    stands for the main one: a follow-up in the merged ticket's thread joins the main ticket."""
    if m.resident_id is None or not m.thread_key:
        return None
    if batchmemo.active() and _thread_key(m) not in batchmemo.memo("intake.threads", set):
        return None  # no message of this thread is part of a ticket (read once for the batch)
    stmt = (select(Ticket).join(Message, Message.ticket_id == Ticket.id)
            .where(Message.resident_id == m.resident_id, Message.thread_key == m.thread_key,
                   Message.network == m.network, Message.id != m.id,
                   Ticket.status.in_(OPEN_STATUSES + ("resolved", "merged")))
            .order_by(Ticket.id.desc()).limit(1))
    ticket = main_ticket(db.session.scalar(stmt))
    return ticket if ticket is not None and ticket.status in OPEN_STATUSES + ("resolved",) else None


def _regime_of(m: Message, address: str | None) -> str:
    """59-ФЗ for an identified written appeal (web form or API: a full name and a postal address or e-mail);
    the local regulation for everything else (social networks, anonymous forms)."""
    resident = m.resident
    if m.kind not in ("form", "api") or resident is None:
        return "local"
    full_name = len((resident.display_name or "").split()) >= 2
    return "59fz" if full_name and (address or resident.email) else "local"


def _came_through(m: Message) -> Institution | None:
    """The participant whose code brought the resident: the web form's hidden field (`/appeal?p=<code>`, kept in
    the message), else the bot's deep link (`/start <code>`, VK `ref`, MAX `bot_started` payload) remembered on
    the resident of that network until another code."""
    if m.kind == "form":
        return deeplinks.participant_by_code((m.raw or {}).get("participant"))
    resident = m.resident
    if resident is not None and resident.preferred_institution_id:
        return db.session.get(Institution, resident.preferred_institution_id)
    return None


@dataclass
class Decision:
    """Where triage sends a new appeal, and why (issue 15, item 4). Category: an admin's override rule, else the
    learned model when sure, else — only while no model is stored — the rubrics' keywords, else a moderator.
    Institution: the participant whose deep link brought the resident, else the override rule's, else the model's
    when sure, else the owner of the account written to, else the chosen rubric's default institution, else a
    moderator. `suggestion`: the model's top three of each, kept on the ticket for one-click accept."""

    category: Category | None = None
    institution: Institution | None = None
    category_source: str | None = None  # rule | model | keywords
    institution_source: str | None = None  # deeplink | rule | model | account | category
    category_p: float | None = None
    institution_p: float | None = None
    matched: list[str] = field(default_factory=list)
    confidence: float = 0.0  # the keywords' share (source keywords)
    rule_id: int | None = None
    suggestion: dict | None = None


def _suggestion_json(s: routing_model.Suggestion) -> dict | None:
    if s.empty:
        return None
    return {"category": [[c.id, round(p, 4)] for c, p in s.category],
            "institution": [[i.id, round(p, 4)] for i, p in s.institution],
            "category_sure": s.category_sure, "institution_sure": s.institution_sure}


def _route(m: Message, text: str) -> Decision:
    d = Decision()
    rule = routing_rules.match(text)
    model = routing_model.suggest(text)
    d.suggestion = _suggestion_json(model)
    if rule is not None and rule.category is not None and rule.category.is_active:
        d.category, d.category_source, d.matched, d.rule_id = rule.category, "rule", list(rule.matched), rule.rule.id
    elif model.category_sure:
        d.category, d.category_p = model.category[0]
        d.category_source = "model"
    elif not model.category and not model.institution:  # no model stored yet: the rubrics' keywords
        route = routing.categorize(text)
        if route.category is not None:
            d.category, d.category_source = route.category, "keywords"
            d.matched, d.confidence = route.matched, route.confidence
    for source, candidate in (
            ("deeplink", lambda: _came_through(m)),
            ("rule", lambda: rule.institution if rule is not None else None),
            ("model", lambda: model.institution[0][0] if model.institution_sure else None),
            ("account", lambda: m.account.institution if m.account is not None else None),
            ("category", lambda: d.category.default_institution if d.category is not None else None)):
        institution = tickets.receiving(candidate())
        if institution is not None:
            d.institution, d.institution_source = institution, source
            if source == "model":
                d.institution_p = model.institution[0][1]
            if source == "rule":
                d.rule_id = rule.rule.id
            break
    return d


def _set_place(ticket: Ticket, m: Message) -> None:
    """The first place a resident sends (a location or venue) becomes the ticket's place."""
    place = content.place_of(m.attachments or [])
    if place is None or ticket.latitude is not None:
        return
    ticket.latitude, ticket.longitude = place["latitude"], place["longitude"]
    ticket.place_text = (place["text"] or "")[:300] or None


def _record_route(ticket: Ticket, d: Decision, now: datetime) -> None:
    """The «routed» event: the route, where each half came from and how sure the model was."""
    if d.category is None and d.institution is None:
        return
    workflow.record(ticket, "routed", at=now, category=d.category.name if d.category else None,
                    category_source=d.category_source, category_p=_pct(d.category_p),
                    institution=d.institution.short_name if d.institution else None,
                    institution_source=d.institution_source, institution_p=_pct(d.institution_p),
                    matched=d.matched, confidence=round(d.confidence, 2), rule_id=d.rule_id)


def _pct(p: float | None) -> float | None:
    return None if p is None else round(p, 3)


# --- bursts --------------------------------------------------------------------------------------
# No web form or API submission is a burst: each is one complete message, acknowledged at once.
BURSTLESS = ("web", "api")


def burst_window() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("BURST_WINDOW_SECONDS") or 0))


def _untouched(ticket: Ticket) -> bool:
    """New, and no staff member has done anything with it yet."""
    if ticket.status != "new":
        return False
    return not db.session.scalar(select(exists().where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.actor_user_id.isnot(None))))


def _text_arrived(ticket: Ticket, m: Message, text: str, now: datetime) -> None:
    """The burst's first text: a ticket opened by messages without words (an album's first photo, a photo sent
    before its text) takes its summary from this text and, while staff have not touched it, is routed again."""
    if ticket.status != "new" or ticket.id is None or not has_words(text):
        return
    others = [x for x in ticket.messages if x.id != m.id]
    if not others or any(has_words(routing_text(x)) for x in others if x.edit_of_id is None):
        return  # the ticket has its words already
    first = min(others, key=lambda x: (x.received_at, x.id))
    if m.received_at - first.received_at > burst_window() or not _untouched(ticket):
        return
    ticket.summary = text.strip()
    d = _route(first, text)
    ticket.route_suggestion = d.suggestion
    changed = False
    if d.category is not None and d.category.id != ticket.category_id:
        ticket.category = d.category
        changed = True
    if d.institution is not None and d.institution.id != ticket.institution_id:
        ticket.institution = d.institution
        changed = True
    if changed:  # the deadlines of the new category, on the new institution's working calendar
        sla.set_deadlines(ticket, ticket.category, ticket.created_at)
        _record_route(ticket, d, now)


def send_due_acks(now: datetime | None = None, limit: int = 500) -> int:
    """Acknowledge the tickets whose burst window has passed (once each: the mark is cleared as the row is
    made). Returns how many. Caller commits."""
    now = now or utcnow()
    stmt = (select(Ticket).where(Ticket.ack_due_at.isnot(None), Ticket.ack_due_at <= now)
            .order_by(Ticket.ack_due_at, Ticket.id).limit(limit).with_for_update(skip_locked=True))
    done = 0
    for ticket in db.session.scalars(stmt):
        ticket.ack_due_at = None
        if ticket.status in ("rejected", "merged"):
            continue  # rejected within the window, or joined with another ticket (its residents were told)
        first = min((x for x in ticket.messages if x.reply_address), key=lambda x: (x.received_at, x.id),
                    default=None)
        if first is not None:
            replies.notify(ticket, "ack", message=first)
            done += 1
    return done


def _new_ticket(m: Message, now: datetime, text: str | None = None, burst: bool = True) -> Ticket:
    text = routing_text(m) if text is None else text
    d = _route(m, text)
    summary = content.summary(text, m.attachments or [])
    address = (m.raw or {}).get("address") if m.kind in ("form", "api") else None
    made = batchmemo.peek(_UNNUMBERED)  # in a triage batch: numbered (and acknowledged) just before its commit
    ticket = tickets.create_ticket(network=m.network, summary=summary, resident=m.resident, institution=d.institution,
                                   category=d.category, account=m.account, messages=[m], created_at=now,
                                   address=address, regime=_regime_of(m, address),
                                   number=tickets.stand_in_number() if made is not None else None)
    ticket.route_suggestion = d.suggestion
    _set_place(ticket, m)
    repeats.on_intake(ticket, text, now)  # the address in the words (flushed with the new ticket), the likely repeats
    _record_route(ticket, d, now)
    window = burst_window()
    if burst and window and m.network not in BURSTLESS:
        ticket.ack_due_at = min(m.received_at, now) + window
        enqueue_after_commit(db.session(), "app.jobs.intake.send_acks", queue="acks",
                             delay=window.total_seconds() + 1, once=True)
        if made is not None:
            made.append((ticket, None))
    elif made is not None:
        made.append((ticket, m))
    else:
        replies.notify(ticket, "ack", message=m)
    return ticket


def _command(m: Message, now: datetime) -> tuple[bool, str]:
    """A bot command: (True, "") when answered as one; (False, text) when the message is the resident's text
    after all (an argument that is not a code or a ticket number) — `text` is what is left to triage."""
    arg = (m.command_arg or "").strip()
    if m.command == "callback":
        m.noise_reason = "command"
        verdict.handle(m)  # a button press: «Проблема решена?» Да / Нет, a rating 1-5
        return True, ""
    participant = deeplinks.participant_by_code(arg) if m.command == "start" and arg else None
    if (m.command == "start" and participant is None and m.network == "telegram"
            and staff_telegram.is_link_code(arg)):
        # a staff member linking their Telegram (code from /notifications): no ticket, no resident flow.
        # Only from Telegram: the code sent in another network binds nothing (a plain /start greeting there).
        # A participant's code is looked up first: its random code may begin with the staff codes' «u» too.
        m.noise_reason = "command"
        user = staff_telegram.link(arg, (m.reply_address or {}).get("chat_id"))
        replies.bot_answer(m, "staff_linked", user=user)
        return True, ""
    if m.command == "start" and (not arg or _CODE.match(arg)):
        m.noise_reason = "command"
        if participant is not None and m.resident is not None:  # the resident's appeals here go to it
            m.resident.preferred_institution_id = participant.id
        words = _start_words(m, arg)
        if words:  # VK: the first message written after vk.me/…?ref=<code> is the resident's own appeal
            m.noise_reason = None
            return False, words
        replies.bot_answer(m, "start", institution=deeplinks.routable(participant))
        return _content_left(m)
    if m.command == "status":
        number, _, rest = arg.partition(" ") if arg else ("", "", "")
        number = number.strip()
        if number and (len(number) > NUMBER_MAX or not _NUMBER.match(number)):
            return False, routing_text(m)  # «/status не пришёл ответ…»: the resident's words
        m.noise_reason = "command"
        number = number.upper()
        ticket = db.session.scalar(select(Ticket).where(Ticket.number == number)) if number else None
        replies.bot_answer(m, "status", ticket=ticket, number=number,
                           main=main_ticket(ticket) if ticket is not None and ticket.status == "merged" else None)
        rest = rest.strip()
        if not (rest or content.is_content(m.attachments)) or routing.noise_reason(rest, m.attachments):
            return True, ""  # nothing but the command (a photo or a place sent with it is the resident's)
        main = main_ticket(ticket)
        if main is not None and m.resident_id is not None and m.resident_id in residents_of(main):
            _join(main, m, rest, now)  # «/status <number> <more text>»: the text is added to that ticket
            return True, ""
        return False, rest  # a number of someone else's ticket: the words are the resident's own appeal
    if m.command in ("start", "help") and arg:
        return False, routing_text(m)  # a long text after /start or /help: the resident's words
    m.noise_reason = "command"
    replies.bot_answer(m, "help")
    return _content_left(m)


def _content_left(m: Message) -> tuple[bool, str]:
    """After a command is answered: a photo, a file or a place sent with it is still the resident's (VK and MAX
    let a command's text carry them) and is triaged like any message; a command alone is done."""
    return (False, "") if content.is_content(m.attachments) else (True, "")


# What the «Начать» button (VK, MAX) or a typed «start» sends: a greeting, not the resident's words.
_START_WORDS = frozenset({"начать", "старт", "start", "begin", "начало"})


def _start_words(m: Message, code: str) -> str:
    """The resident's own words in a message that started the bot with a code, besides the command and the code:
    Telegram and MAX send `/start <code>` alone; VK sends the code (`ref`) with whatever the resident wrote."""
    text = (m.text or "").strip()
    if text.startswith("/"):
        return ""  # `/start <code>` (Telegram, MAX bot_started, typed)
    if not code or not has_words(text) or normalise(text).strip(" !.").lower() in _START_WORDS:
        return ""
    return text
