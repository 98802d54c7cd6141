"""Small helpers several test modules share."""
from __future__ import annotations

from app.extensions import db


def committed(value):
    """Commit as a job or a view does after calling a service (services never commit), and pass its result on:
    `committed(escalation.sweep(now)).warnings` — after-commit work (outbox deliveries) runs here."""
    db.session.commit()
    return value
