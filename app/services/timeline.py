"""A ticket's timeline: resident messages, events, replies and notes in time order."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    MESSAGE_KINDS,
    NETWORK_LABELS,
    PRIORITY_LABELS,
    REJECT_REASONS,
    STATUS_LABELS,
    Message,
    Reply,
    Ticket,
    TicketEvent,
)
from app.templating import local_dt

REPLY_STATES = {"pending": "ожидает отправки", "sent": "доставлен", "failed": "не доставлен"}


@dataclass
class Entry:
    at: datetime
    kind: str  # message | event | note | reply
    who: str
    title: str
    body: str = ""
    extra: str = ""
    files: list = field(default_factory=list)  # (label, message id, index, has a link)


def _event_title(e: TicketEvent) -> tuple[str, str]:
    p = e.payload or {}
    if e.kind == "created":
        return f"Обращение зарегистрировано ({NETWORK_LABELS.get(p.get('network'), p.get('network', ''))})", ""
    if e.kind == "status":
        old, new = STATUS_LABELS.get(p.get("from"), p.get("from")), STATUS_LABELS.get(p.get("to"), p.get("to"))
        title = f"Статус: {old} → {new}"
        body = []
        if p.get("reason"):
            body.append("Причина: " + REJECT_REASONS.get(p["reason"], p["reason"]))
        if p.get("comment"):
            body.append(p["comment"])
        return title, "\n".join(body)
    if e.kind == "assigned":
        prev = f" (было: {p['previous']})" if p.get("previous") else ""
        return f"Передано исполнителю: {p.get('institution', '')}{prev}", ""
    if e.kind == "category":
        prev = f" (было: {p['previous']})" if p.get("previous") else ""
        return f"Рубрика: {p.get('category', '')}{prev}", ""
    if e.kind == "merged":
        return f"Присоединено обращение {p.get('source', '')}", ""
    if e.kind == "note":
        return "Внутренняя заметка", p.get("text", "")
    if e.kind == "reply":
        return "Ответ жителю", ""
    if e.kind == "interim":
        when = local_dt(datetime.fromisoformat(p["promised"])) if p.get("promised") else ""
        return f"Промежуточный ответ жителю (срок: {when})", p.get("text", "")
    if e.kind == "deadline":
        when = local_dt(datetime.fromisoformat(p["deadline"])) if p.get("deadline") else ""
        what = "первого ответа" if p.get("clock") == "first_response" else "решения"
        return f"Новый срок {what}: {when}", p.get("reason", "")
    if e.kind == "priority":
        was = PRIORITY_LABELS.get(p.get("previous"), p.get("previous") or "")
        return f"Приоритет: {PRIORITY_LABELS.get(p.get('priority'), p.get('priority'))} (был: {was})", ""
    if e.kind == "message_edited":
        return "Житель отредактировал сообщение", p.get("text", "")
    if e.kind == "routed":
        words = ", ".join(p.get("matched") or [])
        where = f" → {p['institution']}" if p.get("institution") else ""
        return f"Разобрано автоматически: {p.get('category', '')}{where}", f"Слова: {words}" if words else ""
    if e.kind == "promoted":
        return "Сделано обращением из «не обращений»", ""
    if e.kind == "verdict":
        via = f" ({NETWORK_LABELS.get(p['via'], p['via'])})" if p.get("via") else ""
        if p.get("rating") is not None:
            return f"Оценка жителя: {p['rating']} из 5{via}", ""
        answer = "проблема решена" if p.get("verdict") == "yes" else "проблема не решена"
        return f"Житель: {answer}{via}", ""
    if e.kind in ("sla_warning", "sla_breach"):
        clock = "первого ответа" if p.get("clock") == "first_response" else "решения"
        what = f"Скоро срок {clock}" if e.kind == "sla_warning" else f"Просрочен срок {clock}"
        due = datetime.fromisoformat(p["deadline"]) if p.get("deadline") else None
        return what + (f" (срок: {local_dt(due)})" if due else ""), ""
    if e.kind == "control":
        return _control_title(p)
    return e.kind, ""


CONTROL_STEPS = {
    "issued": "Поручение главы № {n} выдано: {institution}, срок {due}",
    "accept": "Поручение № {n} принято к исполнению ({institution})",
    "report": "Доложено об исполнении поручения № {n} ({institution})",
    "approve": "Поручение № {n} исполнено: доклад принят",
    "return": "Поручение № {n} возвращено на доработку",
    "cancel": "Поручение № {n} снято с контроля",
    "late": "Поручение № {n} просрочено (срок {due}, {institution})",
}


def _control_title(p: dict) -> tuple[str, str]:
    """A step of a control order (app/services/control.py) on the ticket's timeline."""
    due = local_dt(datetime.fromisoformat(p["due"])) if p.get("due") else "—"
    template = CONTROL_STEPS.get(p.get("step"), "Поручение № {n}: {step}")
    title = template.format(n=p.get("order_id", ""), institution=p.get("institution", ""), due=due,
                            step=p.get("step", ""))
    if p.get("step") == "issued":
        body = p.get("instruction", "")
    elif p.get("report"):
        body = p["report"]
    elif p.get("reason"):
        body = "Причина: " + p["reason"]
    else:
        body = ""
    return title, body


FILE_KINDS = {"photo": "фото", "document": "документ", "video": "видео", "audio": "аудио", "sticker": "стикер"}


def _file_label(a: dict) -> str:
    kind = FILE_KINDS.get(a.get("kind"), "файл")
    return f"{kind}: {a['name']}" if a.get("name") else kind


def build(ticket: Ticket) -> list[Entry]:
    entries: list[Entry] = []
    # The resident messages of this ticket and of the duplicates merged into it.
    ids = [ticket.id, *db.session.scalars(select(Ticket.id).where(Ticket.duplicate_of_id == ticket.id))]
    messages = db.session.scalars(select(Message).where(Message.ticket_id.in_(ids))
                                  .options(joinedload(Message.resident), joinedload(Message.ticket))).all()
    for m in messages:
        who = m.resident.display_name if m.resident else "Житель"
        title = f"{MESSAGE_KINDS.get(m.kind, m.kind)} · {NETWORK_LABELS.get(m.network, m.network)}"
        if m.ticket_id != ticket.id:
            title += f" · из {m.ticket.number}"
        files = [(_file_label(a), m.id, i, m.network in ("web", "telegram") or bool(a.get("url")))
                 for i, a in enumerate(m.attachments or [])]
        entries.append(Entry(m.received_at, "message", who, title, m.text, m.permalink or "", files))
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                .options(joinedload(TicketEvent.actor_user), joinedload(TicketEvent.actor_resident))
                                .order_by(TicketEvent.id)).all()
    for e in events:
        if e.kind in ("reply", "message"):
            continue  # shown from the outbox row / the message itself
        who = (e.actor_user.display_name if e.actor_user else
               e.actor_resident.display_name if e.actor_resident else "Система")
        title, body = _event_title(e)
        entries.append(Entry(e.created_at, "note" if e.kind == "note" else "event", who, title, body))
    replies = db.session.scalars(select(Reply).where(Reply.ticket_id == ticket.id)
                                 .options(joinedload(Reply.author))).all()
    for r in replies:
        who = r.author.display_name if r.author else "Система"
        state = REPLY_STATES.get(r.state, r.state)
        extra = f"{state}" + (f": {r.last_error}" if r.state == "failed" and r.last_error else "")
        entries.append(Entry(r.created_at, "reply", who, f"Ответ жителю ({NETWORK_LABELS.get(r.network, r.network)})",
                             r.text, extra))
    order = {"message": 0, "event": 1, "note": 2, "reply": 3}
    entries.sort(key=lambda x: (x.at, order[x.kind]))
    return entries
