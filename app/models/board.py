"""The board's snapshots: the figures of a standard period, kept fresh by a job."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class BoardSnapshot(db.Model):
    """The board's figures for a standard period, computed by a job so the page answers at once."""

    __tablename__ = "board_snapshots"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
