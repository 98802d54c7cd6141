"""Staff accounts managed in the app (/admin/users): roles, institutions, deactivation, password resets,
SMM specialists created in bulk from a CSV and one-time links to set a password.

Deactivating a user or setting a new password ends every session of theirs (User.end_sessions).
A one-time link carries a random token (32 bytes, URL-safe); only its SHA-256 is stored (password_token_hash),
it expires after PASSWORD_LINK_DAYS and is cleared once used."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from app.channels.web import normalise_email
from app.extensions import db
from app.models import Institution, User, utcnow
from app.services import auth, mailer
from app.services.admin import ensure_admin
from app.services.errors import NotFound, ValidationFailed


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.is_active_user.desc(), User.username)))


def create(actor: User, username: str, password: str, role: str, institution_id: int | None,
           full_name: str = "", email: str | None = None) -> User:
    ensure_admin(actor)
    return auth.create_user(username, password, role, full_name=(full_name or "").strip(),
                            institution_id=institution_id if role in auth.BOUND_ROLES else None,
                            email=(email or "").strip() or None)


def set_role(actor: User, user: User, role: str, institution_id: int | None) -> None:
    ensure_admin(actor)
    institution_id = institution_id if role in auth.BOUND_ROLES else None
    if user.id == actor.id and role != user.role:
        raise ValidationFailed("Свою роль изменить нельзя: попросите другого администратора", field="role")
    auth.validate_role(role, institution_id)
    if (user.role, user.institution_id) != (role, institution_id):
        user.role, user.institution_id = role, institution_id
        user.end_sessions()  # what the user may see changed: pages open under the old role end


def set_active(actor: User, user: User, active: bool) -> None:
    ensure_admin(actor)
    if user.id == actor.id and not active:
        raise ValidationFailed("Нельзя отключить самого себя", field="active")
    if user.is_active_user != active:
        user.is_active_user = active
        user.end_sessions()


def reset_password(actor: User, user: User, password: str) -> None:
    ensure_admin(actor)
    if user.id == actor.id:  # one's own password needs the current one (/account/password), an admin's too
        raise ValidationFailed("Свой пароль меняйте на странице «Смена пароля»: там нужен текущий пароль",
                               field="password")
    auth.validate_password(password, user.username)
    user.set_password(password)
    user.end_sessions()


# --- one-time links to set a password ----------------------------------------------------------------------------
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_password_link(actor: User, user: User, now: datetime | None = None) -> str:
    """A new one-time token for `user` (a previous link stops working); the raw token is returned once, only
    its hash is kept. The caller commits and builds the URL (/account/set-password/<token>)."""
    ensure_admin(actor)
    if user.id == actor.id:
        raise ValidationFailed("Свой пароль меняйте на странице «Смена пароля»: там нужен текущий пароль",
                               field="password")
    token = secrets.token_urlsafe(32)
    user.password_token_hash = _token_hash(token)
    user.password_token_expires_at = (now or utcnow()) + timedelta(days=current_app.config["PASSWORD_LINK_DAYS"])
    return token


def user_by_password_token(token: str | None, now: datetime | None = None) -> User:
    """The active user this unexpired token was issued to; NotFound for anything else (wrong, used, expired)."""
    token = str(token or "")
    if not 20 <= len(token) <= 100:
        raise NotFound("Ссылка недействительна: она уже использована, устарела или набрана с ошибкой")
    user = db.session.scalar(select(User).where(User.password_token_hash == _token_hash(token)))
    if user is None or not user.is_active_user or user.password_token_expires_at is None or \
            user.password_token_expires_at <= (now or utcnow()):
        raise NotFound("Ссылка недействительна: она уже использована, устарела или набрана с ошибкой")
    return user


def set_password_by_link(token: str, new: str, confirm: str, now: datetime | None = None) -> User:
    """Set the password through a one-time link (the password rules of every other way); the link is spent."""
    user = user_by_password_token(token, now)
    auth.validate_password(new, user.username, field="new")
    if new != confirm:
        raise ValidationFailed("Пароли не совпадают", field="confirm")
    user.set_password(new)
    user.password_token_hash = user.password_token_expires_at = None
    user.end_sessions()
    return user


# --- SMM specialists from a CSV ----------------------------------------------------------------------------------
CSV_MAX_BYTES = 512 * 1024
CSV_MAX_ROWS = 1000
_TELEGRAM = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_HEADER_WORDS = {"participant", "участник", "slug", "учреждение", "организация"}


@dataclass
class ImportRow:
    line: int
    participant: str
    full_name: str
    contact: str
    institution: Institution | None = None
    username: str = ""
    email: str | None = None
    telegram: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes) -> str:
    if len(data) > CSV_MAX_BYTES:
        raise ValidationFailed("Файл слишком большой (не больше %(n)s КБ)", field="file", n=CSV_MAX_BYTES // 1024)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("Файл не в кодировке UTF-8: сохраните его как «CSV UTF-8»", field="file") from None


def _participant(text: str) -> Institution | None:
    value = text.strip()
    if not value or len(value) > 300:
        return None
    return db.session.scalar(select(Institution).where(or_(Institution.slug == value.lower(),
                                                           func.lower(Institution.name) == value.lower()))
                             .order_by(Institution.id).limit(1))


def parse_smm_csv(data: bytes | str) -> list[ImportRow]:
    """Rows «participant (slug or exact name); full name; e-mail or @telegram»: UTF-8 with or without a BOM, «;» or
    «,» between columns, an optional header. Each row carries its errors (nothing is created here)."""
    text = data if isinstance(data, str) else _decode(data)
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") and ";" in first else ","
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    for n, cells in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if n == 1 and cells[0].lower() in _HEADER_WORDS:
            continue
        if len(rows) >= CSV_MAX_ROWS:
            raise ValidationFailed("Слишком много строк (не больше %(n)s за раз)", field="file", n=CSV_MAX_ROWS)
        cells += [""] * (3 - len(cells))
        row = ImportRow(n, cells[0][:300], cells[1][:300], cells[2][:300])
        if len(cells) > 3 and any(cells[3:]):
            row.errors.append("лишние столбцы: нужны участник, ФИО, e-mail или Telegram")
        row.institution = _participant(cells[0])
        if row.institution is None:
            row.errors.append("участник не найден (укажите адрес страницы или точное название)")
        if not cells[1]:
            row.errors.append("не указано ФИО")
        elif len(cells[1]) > 200:
            row.errors.append("ФИО длиннее 200 символов")
        contact = cells[2]
        if contact.startswith("@"):
            if _TELEGRAM.match(contact):
                row.telegram, row.username = contact, contact[1:]
            else:
                row.errors.append("имя в Telegram: @ и от 5 до 32 латинских букв, цифр или «_»")
        elif contact:
            try:
                row.email = normalise_email(contact)
            except ValueError:
                row.errors.append("неверный адрес электронной почты")
            else:
                row.username = row.email if len(row.email) <= 64 else row.email.split("@", 1)[0][:64]
        else:
            row.errors.append("нет ни e-mail, ни @имени в Telegram")
        if row.username:
            key = row.username.lower()
            if key in seen:
                row.errors.append(f"повтор строки {seen[key]}")
            else:
                seen[key] = n
                taken = db.session.scalar(select(User.id).where(or_(func.lower(User.username) == key,
                                                                    func.lower(User.email) == key)))
                if taken is not None:
                    row.errors.append("такой пользователь уже есть")
        rows.append(row)
    if not rows:
        raise ValidationFailed("В файле нет ни одной строки", field="file")
    return rows


def create_smm_users(actor: User, rows: list[ImportRow], now: datetime | None = None) -> list[tuple[User, str]]:
    """Create an smm user for every row without errors, each with a one-time link token (returned once) and
    a random password nobody knows (the link sets the real one). The caller commits."""
    ensure_admin(actor)
    created = []
    for row in rows:
        if not row.ok:
            continue
        user = User(username=row.username, full_name=row.full_name, role="smm", institution_id=row.institution.id,
                    email=row.email)
        user.set_password(secrets.token_urlsafe(32))
        db.session.add(user)
        db.session.flush()
        created.append((user, issue_password_link(actor, user, now)))
    return created


def mail_password_links(links: list[tuple[User, str]]) -> dict[int, str]:
    """E-mail each user with an address their link when e-mail is configured: user id → "" (sent) or the reason
    it was not; users without an address (Telegram) are left for the admin to pass the link on."""
    if not mailer.is_configured():
        return {}
    city = current_app.config.get("CITY_NAME", "")
    done = {}
    for user, url in links:
        if not user.email:
            continue
        text = (f"Здравствуйте, {user.full_name or user.username}!\n\n"
                f"Для вас создана учётная запись в «Открытом муниципалитете» ({city}), логин: {user.username}.\n"
                f"Задайте пароль по ссылке (она действует {current_app.config['PASSWORD_LINK_DAYS']} дн. и один раз):"
                f"\n{url}\n")
        try:
            refused = mailer.send_mail([user.email], "Открытый муниципалитет: задайте пароль", text)
            done[user.id] = "адрес не принят сервером" if refused else ""
        except mailer.MailError as exc:
            done[user.id] = str(exc)
    return done
