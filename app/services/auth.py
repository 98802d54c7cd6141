"""Logging in with throttling of failed attempts, and creating users."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import ROLES, Institution, LoginAttempt, User, utcnow
from app.services.errors import DomainError, ValidationFailed


class Throttled(DomainError):
    status_code = 429


IP_FACTOR = 4  # an office behind one NAT shares an address: its limit is looser than one account's


def _throttled(username: str, ip: str, now: datetime) -> bool:
    since = now - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    recent = select(func.count(LoginAttempt.id)).where(LoginAttempt.attempted_at >= since)
    by_user = db.session.scalar(recent.where(LoginAttempt.username == username.lower()))
    if by_user >= limit:
        return True
    return db.session.scalar(recent.where(LoginAttempt.ip == ip)) >= limit * IP_FACTOR


def authenticate(username: str, password: str, ip: str, now: datetime | None = None) -> User:
    """The active user with these credentials, or a DomainError. Failed attempts are recorded (caller commits)."""
    now = now or utcnow()
    username = (username or "").strip()
    if _throttled(username, ip, now):
        raise Throttled(f"Слишком много неудачных попыток входа. Повторите через "
                        f"{current_app.config['LOGIN_LOCK_MINUTES']} минут.")
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None or not user.check_password(password) or not user.is_active:
        db.session.add(LoginAttempt(username=username.lower()[:64], ip=ip[:64], attempted_at=now))
        raise DomainError("Неверное имя пользователя или пароль")
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username.lower()))
    return user


def purge_login_attempts(older_than: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - older_than)).rowcount


def create_user(username: str, password: str, role: str, *, full_name: str = "",
                institution_id: int | None = None) -> User:
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValidationFailed("Имя пользователя: от 1 до 64 символов", field="username")
    if role not in ROLES:
        raise ValidationFailed("Роль должна быть одной из: %(roles)s", field="role", roles=", ".join(ROLES))
    if len(password or "") < 4:
        raise ValidationFailed("Пароль слишком короткий (не меньше 4 символов)", field="password")
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise ValidationFailed("Пользователь «%(name)s» уже есть", field="username", name=username)
    if role == "executor":
        if institution_id is None or db.session.get(Institution, institution_id) is None:
            raise ValidationFailed("Исполнителю нужно учреждение (--institution ID)", field="institution_id")
    elif institution_id is not None:
        raise ValidationFailed("Учреждение указывается только для исполнителя", field="institution_id")
    user = User(username=username, full_name=full_name, role=role, institution_id=institution_id)
    user.set_password(password)
    db.session.add(user)
    return user
