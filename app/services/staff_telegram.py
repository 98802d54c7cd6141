"""A staff member's Telegram: linked from /notifications with a one-time code, notifications pushed there once.

Linking: the user asks for a code on their notifications page and sends `/start u<code>` to the city's bot
(or opens t.me/<bot>?start=u<code>); intake's `/start` handler calls `link()` with the chat it came from.
Delivery: through the outbox like every outbound message (`replies.push_to_staff`: a Reply row with the
notification's id, the same states, backoff and Telegram's retry-after; held until the user's working hours).
Notification.sent_at is set when Telegram accepted it. The in-app notification is the record: without a bot
token nothing else happens.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from app.channels.telegram import TelegramAdapter, bot_id
from app.extensions import db
from app.models import Notification, Reply, User
from app.services import replies

CODE_PREFIX = "u"


def new_link_code(user: User) -> str:
    """A fresh one-time code for `user` (replaces an earlier one). Caller commits."""
    user.telegram_link_code = secrets.token_hex(8)
    return user.telegram_link_code


def deep_link(code: str, config: dict | None = None) -> str | None:
    config = config if config is not None else current_app.config
    bot = config.get("TELEGRAM_BOT_USERNAME") or bot_id(config)
    return f"https://t.me/{bot}?start={CODE_PREFIX}{code}" if bot else None


def is_link_code(arg: str | None) -> bool:
    return bool(arg) and arg.strip().lower().startswith(CODE_PREFIX)


def link(arg: str, chat_id) -> User | None:
    """`/start u<code>` from `chat_id`: the user holding that code gets the chat; the code is used up."""
    code = arg.strip().lower()[len(CODE_PREFIX):]
    if not code or chat_id is None:
        return None
    user = db.session.scalar(select(User).where(User.telegram_link_code == code,
                                                User.is_active_user.is_(True)).with_for_update())
    if user is None:
        return None
    user.telegram_chat_id = str(chat_id)
    user.telegram_link_code = None
    return user


def unlink(user: User) -> None:
    user.telegram_chat_id = None
    user.telegram_link_code = None


def send(notification_id: int, now: datetime | None = None) -> str:
    """Push one notification to its user's Telegram chat through the outbox, once (kept for jobs queued before
    the outbox carried staff pushes). The outbox's delivery commits (services/replies.deliver)."""
    note = db.session.get(Notification, notification_id)
    if note is None:
        return "missing"
    if note.sent_at is not None:
        return "sent"
    if not note.user.is_active_user or not note.user.telegram_chat_id:
        return "unlinked"
    if not TelegramAdapter().is_enabled(current_app.config):
        return "disabled"
    row = db.session.scalar(select(Reply).where(Reply.notification_id == note.id).order_by(Reply.id.desc()).limit(1))
    if row is None:
        row = replies.push_to_staff(note, now)  # committed by deliver with its «sending» state
    return replies.deliver(row.id, now)
