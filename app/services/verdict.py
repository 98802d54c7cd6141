"""The resident's verdict on a resolved ticket: «Проблема решена?» Да / Нет and a rating from 1 to 5.

The one place for these rules:
- `ask(ticket)` is called when a ticket becomes resolved: the «resolved» message carries the buttons — row
  [«Да, решена», «Нет, не решена»], row [1 … 5] — where the resident's network can show them under that
  message (Telegram, MAX, OK, VK dialogs). VK and OK comments cannot carry buttons: they get the text only.
  Web form and API residents have no push channel: their text carries a personal link to the status page
  `/status/<number>?v=<token>` (the token is signed with SECRET_KEY, salt "verdict"), which shows the buttons.
- A button's payload is `v:<ticket id>:<answer>` (answer: yes | no | 1…5), well under Telegram's 64 bytes.
- `handle(message)` applies a press that came in as a `callback` command. Only the ticket's own resident may
  answer (anyone else pressing in a group chat is told so politely). Answers are taken while the ticket is
  resolved, and for VERDICT_WAIT_DAYS more after it was closed (by the no-answer job or by a moderator), so a
  resident answering a day after the timeout is still heard. Each answer counts once per resolution: the
  ticket's columns hold the resident's latest answer, and an answer "belongs" to the current resolution when
  its time is not before `resolved_at`.
- «Да» → verdict yes (and the bot asks for a rating if none yet); a rating 3–5 → stored, implies yes;
  «Нет» or a rating 1–2 → verdict no (rating stored) and the ticket goes back to work through
  workflow.change_status (a new deadline; reopen_count + 1: a repeat complaint).
- Every verdict and rating is a TicketEvent «verdict» (the ticket's timeline shows it).
- `unanswered()` + `close_unanswered_ticket()`: resolved tickets without an answer for VERDICT_WAIT_DAYS are
  closed with «Житель не ответил за N дн.» (the housekeeping job runs them in batches).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, or_, select

from app.extensions import db
from app.models import Message, Reply, Resident, Ticket, VerdictAnswer, utcnow
from app.services import events, replies, workflow
from app.urls import external_url

PREFIX = "v"
VERDICTS = ("yes", "no")
RATINGS = ("1", "2", "3", "4", "5")
YES_LABEL, NO_LABEL = "Да, решена", "Нет, не решена"
SALT = "verdict"
TOKEN_IN_TEXT = re.compile(r"\?v=[A-Za-z0-9_.\-]+")
# Networks and reply addresses that can show buttons under a message.
BUTTON_NETWORKS = ("telegram", "max", "ok", "vk")
LINK_NETWORKS = ("web", "api")  # no push channel: the status page shows the buttons, behind the link's token


# --- payloads and buttons ------------------------------------------------------------------------
def payload(ticket_id: int, answer: str) -> str:
    return f"{PREFIX}:{ticket_id}:{answer}"


def parse(data: str | None) -> tuple[int, str] | None:
    """`v:<ticket id>:<answer>` → (ticket id, answer); None for anything else."""
    parts = (data or "").strip().split(":")
    if len(parts) != 3 or parts[0] != PREFIX or not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 12:
        return None
    if parts[2] not in VERDICTS + RATINGS:
        return None
    return int(parts[1]), parts[2]


def rating_row(ticket_id: int) -> list[list[str]]:
    return [[n, payload(ticket_id, n)] for n in RATINGS]


def buttons(ticket_id: int) -> list[list[list[str]]]:
    """Rows of [label, payload] (JSON, as Reply.buttons keeps them)."""
    return [[[YES_LABEL, payload(ticket_id, "yes")], [NO_LABEL, payload(ticket_id, "no")]], rating_row(ticket_id)]


def can_show_buttons(message: Message) -> bool:
    address = message.reply_address or {}
    if message.network not in BUTTON_NETWORKS:
        return False
    if message.network == "vk":
        return address.get("type") == "message"  # wall, topic and photo comments take no keyboard
    return address.get("type") != "comment"  # OK comments: answered by hand anyway


# --- the web link --------------------------------------------------------------------------------
def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token(ticket: Ticket, resident: Resident | None = None) -> str:
    """The personal link's token: the ticket, and the resident when it is not the ticket's own (a resident of a
    ticket merged into it answers for themselves)."""
    if resident is not None and resident.id != ticket.resident_id:
        return _serializer().dumps([ticket.id, resident.id])
    return _serializer().dumps(ticket.id)


def token_resident(ticket: Ticket, value: str | None) -> tuple[bool, Resident | None]:
    """Whether the token is a personal link of this ticket, and whose (the ticket's own resident by default)."""
    if not value:
        return False, None
    try:
        data = _serializer().loads(value)
    except BadSignature:
        return False, None
    if data == ticket.id:
        return True, ticket.resident
    if isinstance(data, list) and len(data) == 2 and data[0] == ticket.id and isinstance(data[1], int):
        resident = db.session.get(Resident, data[1])
        return resident is not None, resident
    return False, None


def token_matches(ticket: Ticket, value: str | None) -> bool:
    return token_resident(ticket, value)[0]


def link(ticket: Ticket, resident: Resident | None = None) -> str:
    """The resident's personal status page link with the token (absolute when the app knows its address)."""
    return external_url("public.status", number=ticket.number, v=token(ticket, resident))


def strip_token(text: str) -> str:
    """A reply text as the public sees it: the personal link without its token."""
    return TOKEN_IN_TEXT.sub("", text or "")


# --- asking --------------------------------------------------------------------------------------
def wait_days() -> int:
    return int(current_app.config.get("VERDICT_WAIT_DAYS") or 7)


def ask(ticket: Ticket, text: str | None = None) -> Reply | None:
    """The «resolved» message, asking «Проблема решена?» of every resident of the ticket (and of the tickets
    merged into it), each the way their network allows. Returns the own resident's message."""
    first = None
    for message in replies.recipients(ticket):
        if message.network in LINK_NETWORKS:
            reply = replies.notify(ticket, "resolved", message=message, text=text, ask="link",
                                   verdict_link=link(ticket, message.resident))
        elif can_show_buttons(message):
            reply = replies.notify(ticket, "resolved", message=message, text=text, ask="buttons",
                                   buttons=buttons(ticket.id))
        else:
            reply = replies.notify(ticket, "resolved", message=message, text=text, ask=None)
        first = first or reply
    return first


# --- answering -----------------------------------------------------------------------------------
def accepts_answers(ticket: Ticket, now: datetime) -> bool:
    """Resolved, or closed less than VERDICT_WAIT_DAYS ago (a late answer after the timeout still counts)."""
    if ticket.resolved_at is None:
        return False
    if ticket.status == "resolved":
        return True
    return ticket.status == "closed" and ticket.closed_at is not None \
        and now - ticket.closed_at <= timedelta(days=wait_days())


def _this_round(at: datetime | None, ticket: Ticket) -> bool:
    return at is not None and ticket.resolved_at is not None and at >= ticket.resolved_at


def _answer_row(ticket: Ticket, resident: Resident | None) -> VerdictAnswer | None:
    if resident is None or ticket.id is None:
        return None
    return db.session.scalar(select(VerdictAnswer).where(VerdictAnswer.ticket_id == ticket.id,
                                                         VerdictAnswer.resident_id == resident.id))


def has_verdict(ticket: Ticket, resident: Resident | None = None) -> bool:
    """Whether the resident (default: the ticket's own) answered «Проблема решена?» in this resolution."""
    if resident is None or resident.id == ticket.resident_id:
        return _this_round(ticket.verdict_at, ticket)
    row = _answer_row(ticket, resident)
    return row is not None and _this_round(row.verdict_at, ticket)


def has_rating(ticket: Ticket, resident: Resident | None = None) -> bool:
    if resident is None or resident.id == ticket.resident_id:
        return _this_round(ticket.rated_at, ticket)
    row = _answer_row(ticket, resident)
    return row is not None and _this_round(row.rated_at, ticket)


def _store(ticket: Ticket, resident: Resident | None, now: datetime, verdict: str | None = None,
           rating: int | None = None) -> None:
    """Keep the resident's answer: a row per resident; the ticket's columns for its own resident (or when the
    answer comes without a resident, e.g. the status page's link)."""
    if resident is None or resident.id == ticket.resident_id:
        if verdict is not None:
            ticket.verdict, ticket.verdict_at = verdict, now
        if rating is not None:
            ticket.rating, ticket.rated_at = rating, now
    if resident is None:
        return
    row = _answer_row(ticket, resident)
    if row is None:
        row = VerdictAnswer(ticket_id=ticket.id, resident_id=resident.id)
        db.session.add(row)
    if verdict is not None:
        row.verdict, row.verdict_at = verdict, now
    if rating is not None:
        row.rating, row.rated_at = rating, now


def apply(ticket: Ticket, answer: str, resident: Resident | None, now: datetime | None = None,
          via: str | None = None) -> str:
    """Apply one resident's answer (each resident of the ticket and of the tickets merged into it answers for
    themselves; any «Нет» reopens the ticket). Returns the outcome: yes | rated | reopened | repeat | late.
    The caller has checked that `resident` is one of the ticket's residents. Caller commits."""
    now = now or utcnow()
    if not accepts_answers(ticket, now):
        return "late"
    if answer == "yes":
        if has_verdict(ticket, resident):
            return "repeat"
        _store(ticket, resident, now, verdict="yes")
        events.record(ticket, "verdict", resident=resident, at=now, verdict="yes", via=via)
        return "yes"
    if answer == "no":
        if has_verdict(ticket, resident) or has_rating(ticket, resident):
            return "repeat"
        _store(ticket, resident, now, verdict="no")
        events.record(ticket, "verdict", resident=resident, at=now, verdict="no", via=via)
        workflow.change_status(ticket, "in_progress", None, resident=resident, now=now,
                               comment="Житель: проблема не решена")
        return "reopened"
    rating = int(answer)
    if has_rating(ticket, resident):
        return "repeat"
    good = rating >= 3
    verdict = None
    if not has_verdict(ticket, resident) or not good:
        verdict = "yes" if good else "no"
    _store(ticket, resident, now, verdict=verdict, rating=rating)
    events.record(ticket, "verdict", resident=resident, at=now, rating=rating,
                  verdict=verdict or ("yes" if good else "no"), via=via)
    if good:
        return "rated"
    workflow.change_status(ticket, "in_progress", None, resident=resident, now=now,
                           comment=f"Житель оценил ответ на {rating} из 5: проблема не решена")
    return "reopened"


def handle(message: Message, now: datetime | None = None) -> str:
    """A button press (`command="callback"`) from a network. Answers the presser; never raises on bad input.
    Returns the outcome (invalid | stranger | late | repeat | yes | rated | reopened)."""
    now = now or utcnow()
    parsed = parse(message.command_arg)
    ticket = None
    if parsed is not None:
        ticket = db.session.get(Ticket, parsed[0], with_for_update=True, populate_existing=True)
    if ticket is not None and ticket.status == "merged":  # a button sent before the merge: the main ticket's
        main = replies.main_ticket(ticket)
        ticket = db.session.get(Ticket, main.id, with_for_update=True, populate_existing=True) if main else None
    if ticket is None:
        replies.bot_answer(message, "verdict_invalid")
        return "invalid"
    own = message.resident_id is not None and message.resident_id in replies.residents_of(ticket)
    if not own:
        replies.bot_answer(message, "verdict_stranger")
        return "stranger"
    resident = message.resident
    outcome = apply(ticket, parsed[1], resident, now=now, via=message.network)
    extra = {}
    if outcome == "yes" and not has_rating(ticket, resident):
        extra["buttons"] = [rating_row(ticket.id)]
    replies.bot_answer(message, f"verdict_{outcome}", ticket=ticket, rated=has_rating(ticket, resident),
                       rating=int(parsed[1]) if parsed[1] in RATINGS else None, **extra)
    return outcome


# --- no answer -----------------------------------------------------------------------------------
def _unanswered_condition(cutoff: datetime):
    return and_(Ticket.status == "resolved", Ticket.resolved_at < cutoff,
                or_(Ticket.verdict_at.is_(None), Ticket.verdict_at < Ticket.resolved_at),
                or_(Ticket.rated_at.is_(None), Ticket.rated_at < Ticket.resolved_at))


def unanswered(now: datetime | None = None, limit: int = 200) -> list[Ticket]:
    """Resolved tickets whose resident has not answered for VERDICT_WAIT_DAYS, locked (skip locked)."""
    cutoff = (now or utcnow()) - timedelta(days=wait_days())
    stmt = (select(Ticket).where(_unanswered_condition(cutoff)).order_by(Ticket.resolved_at, Ticket.id)
            .limit(limit).with_for_update(skip_locked=True))
    return list(db.session.scalars(stmt))


def close_unanswered_ticket(ticket: Ticket, now: datetime | None = None) -> None:
    days = wait_days()
    workflow.change_status(ticket, "closed", None, now=now or utcnow(), comment=f"Житель не ответил за {days} дн.")
