"""The board's snapshots: the figures of a standard period, kept fresh by a job."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class BoardSnapshot(db.Model):
    """The board's figures for a standard period, computed by a job so the page answers at once."""

    __tablename__ = "board_snapshots"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class BoardRollup(db.Model):
    """The board's figures of one city day (grain 0) or one calendar month (grain 1, day = its first day) per
    institution (0: no executor yet) and per «imported history or not»: exact counts that add up over days, and
    histograms (app/services/board/rollups.py) of first-response and resolution times for the medians. Kept by
    the job `app.jobs.board.refresh_rollups` from `board_dirty`; `flask board rebuild-rollups` builds them all."""

    __tablename__ = "board_rollups"

    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imported: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    touched: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    running: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    ever_resolved: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    sla_resolved: Mapped[int] = mapped_column(Integer, default=0)
    resolution_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    good: Mapped[int] = mapped_column(Integer, default=0)
    running_all: Mapped[int] = mapped_column(Integer, default=0)
    paused_late: Mapped[int] = mapped_column(Integer, default=0)
    first_hist: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    resolution_hist: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class BoardCategoryRollup(db.Model):
    """Tickets received per city day (grain 0) or month (grain 1), rubric, institution (0: none) and «imported or
    not»: the board's «growing rubrics» from rows instead of tickets. Kept with `BoardRollup`."""

    __tablename__ = "board_category_rollups"

    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    category_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    imported: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)


class BoardDirty(db.Model):
    """A city day whose rollup rows no longer match the tickets (written by a trigger on `tickets`, PostgreSQL;
    append-only so writers never wait on each other). The board computes such days live until the job has
    recomputed them and deleted the marks it read."""

    __tablename__ = "board_dirty"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)


class BoardRollupState(db.Model):
    """One row (id 1): the rollups cover the city days before `built_through` (in time zone `tz`); the trigger
    marks days before `marking_through` dirty (set first, so no write between the two is missed)."""

    __tablename__ = "board_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tz: Mapped[str] = mapped_column(String(64))
    marking_through: Mapped[date | None] = mapped_column(Date)
    built_through: Mapped[date | None] = mapped_column(Date)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
