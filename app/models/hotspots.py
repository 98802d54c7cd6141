"""Hot spots: recurring problems found by a job (same category at the same street, or the same wording)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Institution
from app.models.ticket import Category, Ticket


class HotSpot(db.Model):
    """A recurring problem found automatically: the same category at the same street, or the same wording,
    several times within a few days. Refreshed by a job (app.services.board.hotspots)."""

    __tablename__ = "hot_spots"
    __table_args__ = (Index("ix_hot_spots_last_seen", "last_seen_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True, info={"key": True})
    kind: Mapped[str] = mapped_column(String(20))  # address | wording
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    label: Mapped[str] = mapped_column(String(300))
    ticket_count: Mapped[int] = mapped_column(default=0)
    open_count: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    category: Mapped[Category | None] = relationship()
    institution: Mapped[Institution | None] = relationship()
    tickets: Mapped[list[Ticket]] = relationship(secondary="hot_spot_tickets", order_by="Ticket.created_at.desc()")


class HotSpotTicket(db.Model):
    __tablename__ = "hot_spot_tickets"

    hot_spot_id: Mapped[int] = mapped_column(ForeignKey("hot_spots.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, index=True)
