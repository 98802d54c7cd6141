"""What several test modules write again: a response's text, a table's row count, a ticket's events, a Telegram
webhook call, and committing as a job or a view does."""
from __future__ import annotations

from app.extensions import db
from app.models import TicketEvent
from tests.telegram_support import SECRET as TELEGRAM_SECRET


def body(resp) -> str:
    """A response's text."""
    return resp.get_data(as_text=True)


def count(model) -> int:
    """Rows in the model's table."""
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def events(ticket, kind: str | None = None) -> list[TicketEvent]:
    """The ticket's events in order, all or of one kind."""
    stmt = db.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    return [e for e in db.session.scalars(stmt) if kind is None or e.kind == kind]


def hook(client, update: dict, secret: str | None = TELEGRAM_SECRET):
    """A Telegram update posted to the webhook (with the secret header unless `secret` is None)."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/hooks/telegram", json=update, headers=headers)


def committed(value):
    """Commit as a job or a view does after calling a service (services never commit), and pass its result on:
    `committed(escalation.sweep(now)).warnings` — after-commit work (outbox deliveries) runs here."""
    db.session.commit()
    return value


def resolve(ticket, text: str = "Трубу заменили, вода есть", now=None):
    """Resolve `ticket` with the answer `text` as a moderator (through «В работе» when it is new); committed."""
    from app.services import tickets, workflow
    from tests.factories import make_user

    mod = make_user("moderator")
    if ticket.status == "new":
        workflow.change_status(ticket, "in_progress", mod, now=now)
    tickets.change_status(ticket, "resolved", mod, comment=text, now=now)
    db.session.commit()
    return ticket
