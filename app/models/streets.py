"""The city's street list (addresses found in residents' texts are matched against it) and the likely repeats
found at intake (app/services/addresses.py, app/services/repeats.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.ticket import Ticket


class Street(db.Model):
    """A street of the city: «ул. Ленина» (kind «ул.», core «ленина»); `aliases`: other spellings, one a line
    («Ленинская», «Lenina»), matched like the name."""

    __tablename__ = "streets"
    __table_args__ = (UniqueConstraint("kind", "core"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="ул.")
    core: Mapped[str] = mapped_column(String(200), index=True)
    aliases: Mapped[str] = mapped_column(Text, default="", server_default="")
    district: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepeatSuggestion(db.Model):
    """«Возможный повтор»: `ticket` (the newer) may say the same as `other` (older, open) about the same place.
    Found once at intake; `dismissed` when a moderator said «не повтор»."""

    __tablename__ = "repeat_suggestions"
    __table_args__ = (UniqueConstraint("ticket_id", "other_id"),
                      Index("ix_repeat_suggestions_other", "other_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(20), default="address")  # address | distance
    dismissed: Mapped[bool] = mapped_column(default=False, server_default="false")
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(foreign_keys=[ticket_id])
    other: Mapped[Ticket] = relationship(foreign_keys=[other_id])
