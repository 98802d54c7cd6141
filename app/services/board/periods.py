"""The board's periods (today … year, or the user's dates, each beside the previous one) and scope
(a direction or an institution), parsed from the query string."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.htmx import parse_id
from app.models import Direction, Institution, Ticket, utcnow

PERIOD_KINDS = {
    "today": _l("Сегодня"),
    "week": _l("Неделя"),
    "month": _l("Месяц"),
    "quarter": _l("Квартал"),
    "year": _l("Год"),
    "custom": _l("Свой период"),
}
DEFAULT_PERIOD = "month"
EARLIEST = date(2000, 1, 1)
MAX_CUSTOM_DAYS = 3 * 366

# --- periods ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # first day, city time
    end: date  # last day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as UTC-aware moments: midnight to midnight in the city."""
        return (datetime.combine(self.start, time(0), tz), datetime.combine(self.end + timedelta(days=1), time(0), tz))

    def previous(self) -> Period:
        """The same stretch one period earlier: this month to date ↔ the same days of last month."""
        if self.kind == "month":
            start = _add_months(self.start, -1)
            return Period(self.kind, start, min(start + (self.end - self.start), _month_end(start)))
        if self.kind == "quarter":
            start = _add_months(self.start, -3)
            return Period(self.kind, start, min(start + (self.end - self.start), _month_end(_add_months(start, 2))))
        if self.kind == "year":
            start = self.start.replace(year=self.start.year - 1)
            return Period(self.kind, start, min(start + (self.end - self.start), date(start.year, 12, 31)))
        if self.kind == "week":  # Monday to Friday ↔ Monday to Friday of the week before
            return Period(self.kind, self.start - timedelta(days=7), self.end - timedelta(days=7))
        return Period(self.kind, self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.start.isoformat()}:{self.end.isoformat()}"


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def city_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["CITY_TZ"])


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(city_tz()).date()


def standard_period(kind: str, on: date) -> Period:
    """A calendar period up to and including `on`: today, this week (from Monday), month, quarter, year."""
    if kind == "today":
        return Period(kind, on, on)
    if kind == "week":
        return Period(kind, on - timedelta(days=on.weekday()), on)
    if kind == "quarter":
        return Period(kind, date(on.year, 3 * ((on.month - 1) // 3) + 1, 1), on)
    if kind == "year":
        return Period(kind, date(on.year, 1, 1), on)
    return Period("month", on.replace(day=1), on)


def _parse_date(value: str | None) -> date | None:
    value = (value or "").strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def parse_period(args, now: datetime | None = None) -> tuple[Period, list[str]]:
    """The period from request arguments (`period`, `from`, `to`); bad input gives the default and a reason."""
    on = today(now)
    kind = (args.get("period") or DEFAULT_PERIOD).strip()
    errors: list[str] = []
    if kind not in PERIOD_KINDS:
        return standard_period(DEFAULT_PERIOD, on), ["Неизвестный период — показан текущий месяц"]
    if kind != "custom":
        return standard_period(kind, on), errors
    raw_from, raw_to = args.get("from"), args.get("to")
    start, end = _parse_date(raw_from), _parse_date(raw_to)
    if start is None or end is None:
        errors.append("Укажите даты начала и конца периода в виде ДД.ММ.ГГГГ — показан текущий месяц")
    elif end < start:
        errors.append("Конец периода раньше начала — показан текущий месяц")
    elif start < EARLIEST or end > on:
        errors.append(f"Даты должны быть между {EARLIEST:%d.%m.%Y} и сегодняшним днём — показан текущий месяц")
    elif (end - start).days + 1 > MAX_CUSTOM_DAYS:
        errors.append("Период длиннее трёх лет — показан текущий месяц")
    else:
        return Period("custom", start, end), errors
    return standard_period(DEFAULT_PERIOD, on), errors


# --- scope (direction / institution filters) ---------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    direction_id: int | None = None
    institution_id: int | None = None

    def conditions(self) -> list:
        conds = []
        if self.institution_id is not None:
            conds.append(Ticket.institution_id == self.institution_id)
        if self.direction_id is not None:
            conds.append(Ticket.institution_id.in_(
                select(Institution.id).where(Institution.direction_id == self.direction_id)))
        return conds

    @property
    def key(self) -> str:
        return f"d{self.direction_id or ''}:i{self.institution_id or ''}"


def parse_scope(args) -> tuple[Scope, list[str]]:
    errors: list[str] = []
    ids = {}
    for name, model, message in (("direction", Direction, "Направление не найдено — показаны все направления"),
                                 ("institution", Institution, "Учреждение не найдено — показаны все учреждения")):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        value = parse_id(raw)
        if value is None or db.session.get(model, value) is None:
            errors.append(message)
            continue
        ids[name] = value
    return Scope(ids.get("direction"), ids.get("institution")), errors
