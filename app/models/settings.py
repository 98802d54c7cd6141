"""Site settings an admin (or the role a setting belongs to) changes on a page: one row a key, the value as JSON.
Read and written only through app/services/settings.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class SiteSetting(db.Model):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict | list | str | int | float | bool | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DataVersion(db.Model):
    """A counter per kind of slowly changing data, bumped by database triggers in the same transaction as the
    change (migration 0029): «reference» = directions, institutions, categories. Pages cache what they build
    from that data (the queue's drop-down lists) under the version, so every web process on every machine sees
    a change at once, whoever made it (a page, the CLI, plain SQL). Read through app/services/refdata.py."""
    __tablename__ = "data_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
