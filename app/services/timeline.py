"""A ticket's timeline: resident messages, events, replies and notes in time order."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, literal, null, select, union_all

from app.channels import content
from app.channels.clean import safe_link
from app.extensions import db
from app.formatting import Labels, local_dt
from app.formatting import gettext as _  # flask_babel's gettext through the request's memo: the same text
from app.models import (
    MESSAGE_KINDS,
    NETWORK_LABELS,
    PRIORITY_LABELS,
    REJECT_REASONS,
    STATUS_LABELS,
    Message,
    Post,
    Reply,
    Resident,
    Ticket,
    TicketEvent,
    User,
)

REPLY_STATES = {"pending": _l("ожидает отправки"), "sending": _l("отправляется"), "sent": _l("доставлен"),
                "failed": _l("не доставлен"), "unconfirmed": _l("доставка не подтверждена")}

# the labels translated through the request's memo (formatting.Labels: the same text as str() of the lazy label)
_NETWORKS, _STATUSES, _PRIORITIES, _REJECTS, _KINDS, _REPLY_STATES = (
    Labels(x) for x in (NETWORK_LABELS, STATUS_LABELS, PRIORITY_LABELS, REJECT_REASONS, MESSAGE_KINDS, REPLY_STATES))


@dataclass
class Entry:
    at: datetime
    kind: str  # message | event | note | reply
    who: str
    title: str
    body: str = ""
    extra: str = ""
    files: list = field(default_factory=list)  # (label, message id, index, has a link)
    resend_id: int | None = None  # a reply whose delivery is unconfirmed: staff may send it again
    # A resident's comment under a participant's publication: the post's first words and its link (or "").
    post: tuple[str, str] | None = None


POST_PREVIEW = 80  # characters of a post's text named on the ticket


def post_preview(text: str | None, limit: int = POST_PREVIEW) -> str:
    """A post's first ~80 characters, on one line, cut at a word with «…»."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:—-") + "…"


def _posts(messages: list[Message]) -> dict[int, tuple[str, str]]:
    """post id → (preview, safe link) for the posts the messages comment on."""
    ids = {m.post_id for m in messages if m.post_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(select(Post.id, Post.text, Post.permalink, Post.account_id)
                              .where(Post.id.in_(ids))).all()
    networks = {m.post_id: m.network for m in messages if m.post_id is not None}
    return {r.id: (post_preview(r.text), safe_link(r.permalink, networks[r.id]) or "") for r in rows}


def _when(value: str | None) -> str:
    return local_dt(datetime.fromisoformat(value)) if value else ""


def _label(labels: dict, key) -> str:
    return str(labels.get(key, key or ""))


def _event_title(kind: str, payload: dict | None) -> tuple[str, str]:
    """(title, body) of an event, in the staff's language (the payload keeps the facts, not the words)."""
    p = payload or {}
    if kind == "created":
        return _("Обращение зарегистрировано (%(network)s)", network=_label(_NETWORKS, p.get("network"))), ""
    if kind == "status":
        title = _("Статус: %(old)s → %(new)s", old=_label(_STATUSES, p.get("from")),
                  new=_label(_STATUSES, p.get("to")))
        body = []
        if p.get("reason"):
            body.append(_("Причина: %(reason)s", reason=_label(_REJECTS, p["reason"])))
        if p.get("comment"):
            body.append(p["comment"])
        return title, "\n".join(body)
    if kind == "assigned":
        title = _("Передано исполнителю: %(who)s", who=p.get("institution", ""))
        return title + (_(" (было: %(was)s)", was=p["previous"]) if p.get("previous") else ""), ""
    if kind == "category":
        title = _("Рубрика: %(name)s", name=p.get("category", ""))
        return title + (_(" (было: %(was)s)", was=p["previous"]) if p.get("previous") else ""), ""
    if kind == "merged":
        return _("Присоединено обращение %(number)s", number=p.get("source", "")), ""
    if kind == "note":
        return _("Внутренняя заметка"), p.get("text", "")
    if kind == "reply_resent":
        return _("Ответ отправлен ещё раз (доставка не была подтверждена)"), ""
    if kind == "reply":
        return _("Ответ жителю"), ""
    if kind == "interim":
        return _("Промежуточный ответ жителю (срок: %(when)s)", when=_when(p.get("promised"))), p.get("text", "")
    if kind == "deadline":
        if p.get("clock") == "first_response":
            return _("Новый срок первого ответа: %(when)s", when=_when(p.get("deadline"))), p.get("reason", "")
        return _("Новый срок решения: %(when)s", when=_when(p.get("deadline"))), p.get("reason", "")
    if kind == "priority":
        return _("Приоритет: %(new)s (был: %(old)s)", new=_label(_PRIORITIES, p.get("priority")),
                 old=_label(_PRIORITIES, p.get("previous"))), ""
    if kind == "message_edited":
        return _("Житель отредактировал сообщение"), p.get("text", "")
    if kind == "routed":
        words = ", ".join(p.get("matched") or [])
        title = _("Разобрано автоматически: %(category)s", category=p.get("category") or "—")
        title += _route_why(p.get("category_source"), p.get("category_p"))
        if p.get("institution"):
            title += f" → {p['institution']}" + _route_why(p.get("institution_source"), p.get("institution_p"))
        return title, _("Слова: %(words)s", words=words) if words else ""
    if kind == "promoted":
        return _("Сделано обращением из «не обращений»"), ""
    if kind == "verdict":
        via = f" ({_label(_NETWORKS, p['via'])})" if p.get("via") else ""
        if p.get("rating") is not None:
            return _("Оценка жителя: %(n)s из 5", n=p["rating"]) + via, ""
        answer = _("проблема решена") if p.get("verdict") == "yes" else _("проблема не решена")
        return _("Житель: %(answer)s", answer=answer) + via, ""
    if kind in ("sla_warning", "sla_breach"):
        first = p.get("clock") == "first_response"
        if kind == "sla_warning":
            what = _("Скоро срок первого ответа") if first else _("Скоро срок решения")
        else:
            what = _("Просрочен срок первого ответа") if first else _("Просрочен срок решения")
        return what + (_(" (срок: %(when)s)", when=_when(p["deadline"])) if p.get("deadline") else ""), ""
    if kind == "control":
        return _control_title(p)
    return kind, ""


CONTROL_STEPS = {
    "issued": _l("Поручение главы № %(n)s выдано: %(institution)s, срок %(due)s"),
    "accept": _l("Поручение № %(n)s принято к исполнению (%(institution)s)"),
    "report": _l("Доложено об исполнении поручения № %(n)s (%(institution)s)"),
    "approve": _l("Поручение № %(n)s исполнено: доклад принят"),
    "return": _l("Поручение № %(n)s возвращено на доработку"),
    "cancel": _l("Поручение № %(n)s снято с контроля"),
    "late": _l("Поручение № %(n)s просрочено (срок %(due)s, %(institution)s)"),
}


ROUTE_SOURCES = {"rule": _l("правило администратора"), "model": _l("модель"), "keywords": _l("ключевые слова"),
                 "deeplink": _l("ссылка участника"), "account": _l("аккаунт, куда написали"),
                 "category": _l("учреждение рубрики")}


_ROUTE_SOURCES = Labels(ROUTE_SOURCES)


def _route_why(source: str | None, p: float | None) -> str:
    """« (модель, 87 %)»: where a half of the route came from, with the model's probability."""
    if not source:
        return ""
    label = _ROUTE_SOURCES.get(source, source)
    return f" ({label}, {round(p * 100)} %)" if p is not None else f" ({label})"


_CONTROL_STEPS = Labels(CONTROL_STEPS)


def _control_title(p: dict) -> tuple[str, str]:
    """A step of a control order (app/services/control.py) on the ticket's timeline."""
    due = _when(p.get("due")) or "—"
    values = {"n": p.get("order_id", ""), "institution": p.get("institution", ""), "due": due,
              "step": p.get("step", "")}
    template = _CONTROL_STEPS.get(p.get("step"))
    title = template % values if template is not None else _("Поручение № %(n)s: %(step)s", **values)
    if p.get("step") == "issued":
        body = p.get("instruction", "")
    elif p.get("report"):
        body = p["report"]
    elif p.get("reason"):
        body = _("Причина: %(reason)s", reason=p["reason"])
    else:
        body = ""
    return title, body


FILE_KINDS = {"photo": _l("фото"), "document": _l("документ"), "video": _l("видео"), "audio": _l("аудио"),
              "sticker": _l("стикер"), "voice": _l("голосовое сообщение"), "location": _l("геометка"),
              "contact": _l("контакт"), "link": _l("ссылка"), "repost": _l("репост"), "poll": _l("опрос")}


_FILE_KINDS = Labels(FILE_KINDS)


def _file_label(a: dict) -> str:
    """«голосовое сообщение 0:12», «документ: акт.pdf», «геометка: ул. Кирова, 35», and what staff should know."""
    kind = _FILE_KINDS.get(a.get("kind")) or _("файл")
    what = content.detail(a) or (a.get("name") or "" if a.get("kind") not in FILE_KINDS else "")
    label = f"{kind}: {what}" if what else kind
    length = content.duration(a.get("duration")) if a.get("kind") in ("voice", "audio", "video") else ""
    label = f"{label} {length}" if length else label
    extra = a.get("text") if a.get("kind") in ("voice", "repost", "poll", "link") else None
    if extra:
        label += f" — {content.short(str(extra))}"
    return f"{label} ({a['note']})" if a.get("note") else label


def _openable(network: str, a: dict) -> bool:
    """Whether staff can open it through the app: a kept copy, a link, or a file the network serves on demand
    (not a contact card or a poll, not a Telegram file over the Bot API's limit)."""
    if a.get("stored") or a.get("url"):
        return True
    return network in ("web", "telegram") and a.get("kind") not in ("contact", "poll") and not a.get("note")


def _family():
    """The ids of the ticket and of every ticket merged into it, directly or through a chain of merges (what
    replies.family_ids finds level by level), as a recursive CTE: the messages come in one statement."""
    family = select(Ticket.id).where(Ticket.id == bindparam("ticket_id")).cte("family", recursive=True)
    family = family.union(select(Ticket.id).where(Ticket.duplicate_of_id == family.c.id))
    return select(family.c.id)


def _who(full_name: str | None, username: str | None) -> str:
    """User.display_name from the two columns."""
    return full_name or username


# What the page shows of each row, read as plain rows (not ORM objects with their relations: the messages' raw
# payloads, the actors' whole user rows): the resident messages of the ticket and of the duplicates merged into it,
# its events and its replies in ONE statement (UNION ALL of the three, the same columns, NULL where a kind has none;
# `src` says which), built once with a bound ticket id. Each part in id order, as three statements gave them.
_NONE = null()


def _messages(family: bool):
    """The messages' part: of the ticket and its merged family (a recursive CTE), or — when the ticket is known to
    have no merged tickets — of the ticket alone (a fraction of the planner's work; every row is the ticket's)."""
    number = Ticket.number.label("ticket_number") if family else _NONE.label("ticket_number")
    stmt = select(literal(0).label("src"), Message.id.label("id"), Message.ticket_id, Message.received_at.label("at"),
                  Message.kind, Message.network, Message.text, Message.attachments.label("data"),
                  Message.permalink, Message.post_id, Message.edit_of_id, number,
                  Resident.id.label("resident_id"), Resident.display_name,
                  Resident.network.label("resident_network"), Resident.external_id,
                  _NONE.label("full_name"), _NONE.label("username"), _NONE.label("state"),
                  _NONE.label("last_error"))
    if family:
        stmt = stmt.join(Ticket, Ticket.id == Message.ticket_id)
    stmt = stmt.outerjoin(Resident, Resident.id == Message.resident_id)
    return stmt.where(Message.ticket_id.in_(_family()) if family else Message.ticket_id == bindparam("ticket_id"))


# reply / message / message_edited are shown from the outbox row / the message itself (an edit is a message)
_EVENTS = (select(literal(1), TicketEvent.id, TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.kind,
                  _NONE, _NONE, TicketEvent.payload, _NONE, _NONE, _NONE, _NONE,
                  Resident.id, Resident.display_name, Resident.network, Resident.external_id,
                  User.full_name, User.username, _NONE, _NONE)
           .outerjoin(User, User.id == TicketEvent.actor_user_id)
           .outerjoin(Resident, Resident.id == TicketEvent.actor_resident_id)
           .where(TicketEvent.ticket_id == bindparam("ticket_id"),
                  TicketEvent.kind.not_in(("reply", "message", "message_edited"))))
_REPLIES = (select(literal(2), Reply.id, Reply.ticket_id, Reply.created_at, _NONE, Reply.network, Reply.text,
                   _NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NONE,
                   User.full_name, User.username, Reply.state, Reply.last_error)
            .outerjoin(User, User.id == Reply.author_id).where(Reply.ticket_id == bindparam("ticket_id")))
# (family, replies) → the statement: the parts the ticket's own statement says it may have (tickets.PageFacts)
_TIMELINE = {(family, replies): union_all(_messages(family), _EVENTS, *((_REPLIES,) if replies else ()))
             .order_by("src", "id") for family in (True, False) for replies in (True, False)}


def build(ticket: Ticket, replies: bool = True, family: bool = True) -> list[Entry]:
    """The ticket's timeline. `replies=False`: the caller knows it has no replies; `family=False`: no ticket has
    been merged into it (those parts are not asked for)."""
    entries: list[Entry] = []
    rows = db.session.execute(_TIMELINE[family, replies], {"ticket_id": ticket.id}).all()
    messages = [r for r in rows if r.src == 0]
    # An edit shows once: as the resident's message, titled as an edit, with only the files the original lacked.
    originals = {m.id: m for m in messages}
    posts = _posts(messages)
    for m in messages:
        who = Resident.name_of(m.display_name, m.resident_network, m.external_id) or _("Житель")
        title = f"{_KINDS.get(m.kind, m.kind)} · {_NETWORKS.get(m.network, m.network)}"
        known: set = set()
        if m.edit_of_id is not None:
            title = f"{_('Житель отредактировал сообщение')} · {_NETWORKS.get(m.network, m.network)}"
            original = originals.get(m.edit_of_id)
            attachments = original.data if original is not None else \
                getattr(db.session.get(Message, m.edit_of_id), "attachments", None)
            known = {a.get("file_id") for a in (attachments or [])}
        if m.ticket_id != ticket.id:
            title += " · " + _("из %(number)s", number=m.ticket_number)
        files = [(_file_label(a), m.id, i, _openable(m.network, a))
                 for i, a in enumerate(m.data or []) if not (known and a.get("file_id") in known)]
        entries.append(Entry(m.at, "message", who, title, m.text, safe_link(m.permalink, m.network) or "",
                             files, post=posts.get(m.post_id) if m.post_id is not None else None))
    for e in rows:
        if e.src != 1:
            continue
        who = (_who(e.full_name, e.username) if e.username is not None else
               (Resident.name_of(e.display_name, e.resident_network, e.external_id) or _("Житель"))
               if e.resident_id is not None else _("Система"))
        title, body = _event_title(e.kind, e.data)
        entries.append(Entry(e.at, "note" if e.kind == "note" else "event", who, title, body))
    for r in rows:
        if r.src != 2:
            continue
        who = _who(r.full_name, r.username) if r.username is not None else _("Система")
        state = _REPLY_STATES.get(r.state, r.state)
        extra = f"{state}" + (f": {r.last_error}" if r.state in ("failed", "unconfirmed") and r.last_error else "")
        entries.append(Entry(r.at, "reply", who,
                             _("Ответ жителю (%(network)s)", network=_label(_NETWORKS, r.network)), r.text, extra,
                             resend_id=r.id if r.state == "unconfirmed" else None))
    order = {"message": 0, "event": 1, "note": 2, "reply": 3}
    entries.sort(key=lambda x: (x.at, order[x.kind]))
    return entries
