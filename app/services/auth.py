"""Logging in with throttling of failed attempts, and creating users."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.channels.web import normalise_email
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


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("no-such-user: the same work as a real check")


def authenticate(username: str, password: str, ip: str, now: datetime | None = None) -> User:
    """The active user with these credentials, or a DomainError. Failed attempts are recorded (caller commits)."""
    now = now or utcnow()
    username = (username or "").strip()
    if _throttled(username, ip, now):
        raise Throttled(f"Слишком много неудачных попыток входа. Повторите через "
                        f"{current_app.config['LOGIN_LOCK_MINUTES']} минут.")
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")  # an unknown name costs as much as a wrong password
    if user is None or not user.check_password(password) or not user.is_active:
        db.session.add(LoginAttempt(username=username.lower()[:64], ip=ip[:64], attempted_at=now))
        raise DomainError("Неверное имя пользователя или пароль")
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username.lower()))
    return user


def purge_login_attempts(older_than: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - older_than)).rowcount


MAX_PASSWORD = 200


def validate_password(password: str | None, username: str = "", *, min_length: int | None = None,
                      field: str = "password") -> str:
    """One rule for every password set (command line, /admin/users, one's own): long enough, not the name."""
    password = password or ""
    min_length = min_length if min_length is not None else current_app.config.get("PASSWORD_MIN_LENGTH", 8)
    if len(password) < min_length:
        raise ValidationFailed("Пароль слишком короткий (не меньше %(n)s символов)", field=field, n=min_length)
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed("Пароль слишком длинный (не больше %(n)s символов)", field=field, n=MAX_PASSWORD)
    if username and password.strip().lower() == username.strip().lower():
        raise ValidationFailed("Пароль не должен совпадать с именем пользователя", field=field)
    return password


# Roles bound to one institution: the executor works its tickets, the smm specialist manages its accounts.
BOUND_ROLES = ("executor", "smm")


def validate_role(role: str, institution_id: int | None) -> None:
    if role not in ROLES:
        raise ValidationFailed("Роль должна быть одной из: %(roles)s", field="role", roles=", ".join(ROLES))
    if role in BOUND_ROLES:
        if institution_id is None or db.session.get(Institution, institution_id) is None:
            if role == "executor":
                raise ValidationFailed("Исполнителю нужно учреждение", field="institution_id")
            raise ValidationFailed("SMM-специалисту нужен участник, чьи аккаунты он ведёт", field="institution_id")
    elif institution_id is not None:
        raise ValidationFailed("Учреждение указывается только для исполнителя и SMM-специалиста",
                               field="institution_id")


def create_user(username: str, password: str, role: str, *, full_name: str = "",
                institution_id: int | None = None, email: str | None = None,
                min_password_length: int | None = None) -> User:
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValidationFailed("Имя пользователя: от 1 до 64 символов", field="username")
    if any(ch.isspace() or not ch.isprintable() for ch in username):
        raise ValidationFailed("Имя пользователя без пробелов и служебных символов", field="username")
    if len(full_name or "") > 200:
        raise ValidationFailed("ФИО: не больше 200 символов", field="full_name")
    try:
        email = normalise_email(email)  # the one rule for an address (the web form's too): no lists, no line breaks
    except ValueError:
        raise ValidationFailed("Проверьте адрес электронной почты, например ivanova@mail.ru", field="email") from None
    validate_role(role, institution_id)
    validate_password(password, username, min_length=min_password_length)
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise ValidationFailed("Пользователь «%(name)s» уже есть", field="username", name=username)
    user = User(username=username, full_name=full_name or "", role=role, institution_id=institution_id,
                email=email or None)
    user.set_password(password)
    db.session.add(user)
    return user


def change_own_password(user: User, current: str, new: str, confirm: str, ip: str = "-",
                        now: datetime | None = None) -> None:
    """A staff member's new password; every other session of theirs ends (the caller logs this one in again).
    A wrong current password counts as a failed login (caller commits): a stolen session cannot guess it."""
    now = now or utcnow()
    if _throttled(user.username, ip, now):
        raise Throttled("Слишком много неудачных попыток ввода пароля. Повторите через %(n)s мин.",
                        field="current", n=current_app.config["LOGIN_LOCK_MINUTES"])
    if not user.check_password(current or ""):
        db.session.add(LoginAttempt(username=user.username.lower()[:64], ip=ip[:64], attempted_at=now))
        raise ValidationFailed("Текущий пароль неверен", field="current")
    validate_password(new, user.username, field="new")
    if new != confirm:
        raise ValidationFailed("Пароли не совпадают", field="confirm")
    if new == current:
        raise ValidationFailed("Новый пароль совпадает с прежним", field="new")
    user.set_password(new)
    user.end_sessions()
