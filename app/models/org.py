"""Directions, participant institutions, their network accounts and account statistics."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

NETWORKS = ("telegram", "vk", "ok", "max")
NETWORK_LABELS = {
    "telegram": "Telegram",
    "vk": _l("ВКонтакте"),
    "ok": _l("Одноклассники"),
    "max": "MAX",
    "web": _l("Веб-форма"),
    "api": "API",
}


class Direction(db.Model):
    __tablename__ = "directions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    sort_order: Mapped[int] = mapped_column(default=0)

    institutions: Mapped[list["Institution"]] = relationship(back_populates="direction")

    def __repr__(self) -> str:
        return f"<Direction {self.code}>"


class Institution(db.Model):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    direction_id: Mapped[int] = mapped_column(ForeignKey("directions.id"), index=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    short_name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(60))
    # "09:00-13:00,14:00-18:00" or "24x7"; NULL: the city default (BUSINESS_HOURS)
    business_hours: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    direction: Mapped[Direction] = relationship(back_populates="institutions")
    accounts: Mapped[list["Account"]] = relationship(back_populates="institution")

    def __repr__(self) -> str:
        return f"<Institution {self.short_name}>"


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("network", "handle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    network: Mapped[str] = mapped_column(String(20))
    handle: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    followers: Mapped[int] = mapped_column(default=0)
    posts: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    institution: Mapped[Institution] = relationship(back_populates="accounts")
    snapshots: Mapped[list["AccountSnapshot"]] = relationship(back_populates="account")


class AccountSnapshot(db.Model):
    __tablename__ = "account_snapshots"
    __table_args__ = (UniqueConstraint("account_id", "taken_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    taken_on: Mapped[date]
    followers: Mapped[int]
    posts: Mapped[int]

    account: Mapped[Account] = relationship(back_populates="snapshots")

