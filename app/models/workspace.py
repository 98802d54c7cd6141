"""The executor's /my: its overdue count kept by a trigger on tickets (migration 0033, PostgreSQL)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime


class WorkspaceLateCount(db.Model):
    """A signed change (+1/−1) of the number of an institution's overdue-able tickets at one UTC deadline hour:
    running open tickets by the hour of their deadline, paused ones late when paused at 1970-01-01 (always
    overdue). Written by the trigger `workspace_late_count` on `tickets`, append-only (writers never wait on each
    other); the sum of an institution's rows before an hour is its number of tickets overdue by then
    (app/services/workspace.py), which compacts the rows now and then."""

    __tablename__ = "workspace_late_counts"
    __table_args__ = (Index("ix_workspace_late_counts_institution_hour", "institution_id", "due_hour", "n"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    institution_id: Mapped[int]
    due_hour: Mapped[datetime] = mapped_column(UTCDateTime)
    n: Mapped[int]
