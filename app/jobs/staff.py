"""Staff notification jobs: an SLA notification pushed to the user's linked Telegram chat. Idempotent."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services import staff_telegram


@in_app
def send_notification(notification_id: int) -> str:
    state = staff_telegram.send(notification_id)
    db.session.commit()
    return state
