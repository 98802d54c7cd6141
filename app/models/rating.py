"""The rating's stored decisions (issue 14, item 4): frozen ratings of closed periods, «к поощрению» marks and
people's clearances of «проверить накрутку» jumps."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class RatingSnapshot(db.Model):
    """A direction's rating over a closed month, quarter or year, kept as it was when frozen."""

    __tablename__ = "rating_snapshots"
    __table_args__ = (UniqueConstraint("kind", "start", "direction_id", name="uq_rating_snapshots_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # month, quarter, year
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    direction_id: Mapped[int] = mapped_column(ForeignKey("directions.id"), index=True)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RatingSnapshotRow(db.Model):
    """One participant's row of a frozen rating: place, score, flags, ranks and the figures as plain numbers."""

    __tablename__ = "rating_snapshot_rows"
    __table_args__ = (UniqueConstraint("snapshot_id", "institution_id", name="uq_rating_snapshot_rows"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("rating_snapshots.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    place: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    ranks: Mapped[dict] = mapped_column(JSON, default=dict)
    figures: Mapped[dict] = mapped_column(JSON, default=dict)


class RatingMark(db.Model):
    """«К поощрению»: the head marks a participant of a frozen rating, with a note."""

    __tablename__ = "rating_marks"
    __table_args__ = (UniqueConstraint("snapshot_id", "institution_id", name="uq_rating_marks"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("rating_snapshots.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GrowthClearance(db.Model):
    """A person looked at an implausible one-day rise of an account and cleared it: no longer «проверить накрутку»."""

    __tablename__ = "growth_clearances"
    __table_args__ = (UniqueConstraint("account_id", "day", name="uq_growth_clearances"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cleared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
