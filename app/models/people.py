"""Staff users, residents and login attempts."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Institution

ROLES = ("admin", "moderator", "executor", "head", "analyst", "press", "smm")
ROLE_LABELS = {
    "admin": _l("Администратор"),
    "moderator": _l("Модератор"),
    "executor": _l("Исполнитель"),
    "head": _l("Глава"),
    "analyst": _l("Аналитик"),
    "press": _l("Пресс-служба"),
    "smm": _l("SMM-специалист участника"),  # bound to one participant (institution_id), manages its accounts
}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(200))  # the head's weekly digest
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    is_active_user: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Notifications also go to this Telegram chat (linked from /notifications with a one-time /start code).
    telegram_chat_id: Mapped[str | None] = mapped_column(String(32))
    telegram_link_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    # Part of the id kept in sessions and remember cookies: raising it (logout, deactivation, a new password)
    # ends every session of the user, copies of the cookie included.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # A one-time link to set the password (users created in bulk): only the hash of the token is kept.
    password_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    password_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    institution: Mapped[Institution | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_user

    def get_id(self) -> str:  # Flask-Login: what the session and the remember cookie carry
        return f"{self.id}:{self.session_version or 1}"

    def end_sessions(self) -> None:
        """Every session of this user ends at its next request (all devices, copied cookies too)."""
        self.session_version = (self.session_version or 1) + 1

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class LoginAttempt(db.Model):
    """Failed logins, counted per user name and per address to throttle guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "attempted_at"),
                      Index("ix_login_attempts_ip_at", "ip", "attempted_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Resident(db.Model):
    """A resident as seen in one network (personal data: 152-ФЗ)."""

    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("network", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128), info={"key": True})
    display_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by a deep link (QR code on an institution's poster): new appeals go to this institution.
    preferred_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def name(self) -> str:
        """The name to show. A VK resident is stored unnamed until jobs/intake.vk_names asks VK (callbacks carry
        only the id); until then, and for deleted pages, the id form «id<N>»."""
        return self.name_of(self.display_name, self.network, self.external_id)

    @staticmethod
    def name_of(display_name: str | None, network: str | None, external_id: str | None) -> str:
        """`name` from the three columns (a page that reads them as plain rows: the ticket's timeline)."""
        if display_name:
            return display_name
        return f"id{external_id}" if network == "vk" and external_id else ""
