"""In-app notifications of a staff member."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Notification, User


def unread_count(user: User) -> int:
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))
