"""The working calendar's exceptions (table calendar_days): edit one day, import a year.

The arithmetic itself lives in app.services.sla; these functions only validate and store,
then drop sla's cached snapshot so the next deadline sees the change.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from app.extensions import db
from app.models import CALENDAR_KINDS, CalendarDay
from app.services import sla
from app.services.errors import DomainError, NotFound

_KINDS_RU = ", ".join(CALENDAR_KINDS)


def _as_date(value) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError("Неверная дата «%(value)s»: нужен формат ГГГГ-ММ-ДД.", "date", value=value) from None


def _validate(d, kind: str, note: str | None, source: str | None) -> tuple[date, str, str, str]:
    d = _as_date(d)
    kind = (kind or "").strip()
    if kind not in CALENDAR_KINDS:
        raise DomainError("Неверный вид дня «%(kind)s»: допустимо %(kinds)s.", "kind", kind=kind, kinds=_KINDS_RU)
    note, source = (note or "").strip(), (source or "").strip()
    if len(note) > 200:
        raise DomainError("Примечание длиннее 200 символов.", "note")
    if len(source) > 300:
        raise DomainError("Источник длиннее 300 символов.", "source")
    return d, kind, note, source


def set_calendar_day(d, kind: str, note: str | None = "", source: str | None = "") -> CalendarDay:
    """Create or replace the exception for date `d` (the caller commits)."""
    d, kind, note, source = _validate(d, kind, note, source)
    day = db.session.execute(db.select(CalendarDay).where(CalendarDay.date == d)).scalar_one_or_none()
    if day is None:
        day = CalendarDay(date=d)
        db.session.add(day)
    day.kind, day.note, day.source = kind, note, source
    db.session.flush()
    sla.invalidate_calendar_cache()
    return day


def remove_calendar_day(d) -> None:
    """Delete the exception for date `d`: the day follows `holidays` again (the caller commits)."""
    d = _as_date(d)
    day = db.session.execute(db.select(CalendarDay).where(CalendarDay.date == d)).scalar_one_or_none()
    if day is None:
        raise NotFound("В календаре нет исключения на %(day)s.", day=f"{d:%d.%m.%Y}")
    db.session.delete(day)
    db.session.flush()
    sla.invalidate_calendar_cache()


def import_year(rows: Iterable[tuple], source: str = "") -> int:
    """Import next year's calendar: rows of (date, kind, note). All rows are checked first;
    one bad row rejects the whole import (nothing is stored). Returns the number of days stored."""
    checked, seen, errors = [], set(), []
    for i, row in enumerate(rows, start=1):
        try:
            if len(row) != 3:
                raise DomainError("нужно три поля: дата, вид, примечание.")
            d, kind, note = row
            item = _validate(d, kind, note, source)
        except (DomainError, TypeError) as exc:
            errors.append(f"строка {i}: {getattr(exc, 'message', exc)}")
            continue
        if item[0] in seen:
            errors.append(f"строка {i}: дата {item[0]:%d.%m.%Y} повторяется.")
            continue
        seen.add(item[0])
        checked.append(item)
    if errors:
        raise DomainError("Календарь не импортирован: %(errors)s", errors="; ".join(errors[:10]))
    for d, kind, note, src in checked:
        set_calendar_day(d, kind, note, src)
    return len(checked)
