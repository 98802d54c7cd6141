"""The working calendar's exceptions to the `holidays` production calendar."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

CALENDAR_KINDS = ("holiday", "workday", "short")
CALENDAR_KIND_LABELS = {
    "holiday": "Выходной",
    "workday": "Рабочий день",
    "short": "Предпраздничный (на час короче)",
}


class CalendarDay(db.Model):
    """One day that overrides `holidays.RU`: a day off, a working day, or a pre-holiday short day."""

    __tablename__ = "calendar_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(300), default="")

    def __repr__(self) -> str:
        return f"<CalendarDay {self.date} {self.kind}>"
