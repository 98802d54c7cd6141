"""Working-time arithmetic and ticket deadlines. All SLA math lives here.

Times are stored in UTC and computed in the city's time zone. The production
calendar comes from the `holidays` package (RU: public holidays, days moved by
decree, working Saturdays), overridden by the `calendar_days` table (pre-holiday
short days, regional days off, next year's calendar before `holidays` knows it).
Business hours are the city's (BUSINESS_HOURS) or the institution's own.
"""
from __future__ import annotations

import re
import threading
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

import holidays
from flask import current_app

from app.extensions import db
from app.models import CalendarDay, Category, Institution, Ticket

ROUND_THE_CLOCK = "24x7"
SHORT_DAY_CUT = timedelta(hours=1)  # art. 95 of the Labour Code: a pre-holiday day is one hour shorter
EXCEPTIONS_TTL = 60.0  # seconds an exceptions snapshot is reused (1,000 deadlines/s → one query a minute)
_INTERVAL = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")


def parse_hours(spec: str) -> tuple[tuple[time, time], ...]:
    """"09:00-13:00,14:00-18:00" → ((09:00, 13:00), (14:00, 18:00)); "24x7" → () (round the clock)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("business hours: empty spec; expected e.g. '09:00-13:00,14:00-18:00' or '24x7'")
    if spec.strip().lower() == ROUND_THE_CLOCK:
        return ()
    intervals = []
    for part in spec.split(","):
        m = _INTERVAL.match(part.strip())
        if not m:
            raise ValueError(f"business hours: bad interval {part.strip()!r}; expected HH:MM-HH:MM")
        try:
            start, end = time.fromisoformat(m[1]), time.fromisoformat(m[2])
        except ValueError:
            raise ValueError(f"business hours: bad time in {part.strip()!r}") from None
        if end <= start:
            raise ValueError(f"business hours: interval {part.strip()!r} ends before it starts")
        intervals.append((start, end))
    intervals.sort()
    for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
        if start < end:
            raise ValueError(f"business hours: intervals overlap in {spec!r}")
    return tuple(intervals)


def validate_hours(spec: str | None) -> str | None:
    """Normalised spec for Institution.business_hours (None/blank = city default); ValueError if bad."""
    if spec is None or not spec.strip():
        return None
    parse_hours(spec)
    return spec.strip().replace(" ", "")


@dataclass(frozen=True)
class WorkCalendar:
    tz: ZoneInfo
    hours: tuple[tuple[time, time], ...]  # () = round the clock, every day
    exceptions: Mapping[date, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def round_the_clock(self) -> bool:
        return not self.hours

    @property
    def _ru(self):
        return _ru_calendar()

    def is_working_day(self, d: date) -> bool:
        if self.round_the_clock:
            return True
        kind = self.exceptions.get(d)
        if kind is not None:
            return kind != "holiday"
        return self._ru.is_working_day(d)

    def intervals_on(self, d: date) -> list[tuple[datetime, datetime]]:
        if self.round_the_clock:
            return [(datetime.combine(d, time(0), self.tz), datetime.combine(d + timedelta(days=1), time(0), self.tz))]
        if not self.is_working_day(d):
            return []
        out = [(datetime.combine(d, a, self.tz), datetime.combine(d, b, self.tz)) for a, b in self.hours]
        if self.exceptions.get(d) == "short":
            cut = SHORT_DAY_CUT
            while cut > timedelta(0) and out:  # cut the hour off the end of the day, across the lunch break if need be
                lo, hi = out[-1]
                if hi - lo > cut:
                    out[-1] = (lo, hi - cut)
                    break
                cut -= hi - lo
                out.pop()
        return out

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        """The moment `minutes` working minutes after `start`."""
        cur = start.astimezone(self.tz)
        left = timedelta(minutes=minutes)
        if left <= timedelta(0):
            return start
        day = cur.date()
        for _ in range(3700):  # ten years of days: a calendar bug must not loop forever
            for lo, hi in self.intervals_on(day):
                lo = max(lo, cur)
                if lo >= hi:
                    continue
                if left <= hi - lo:
                    return (lo + left).astimezone(start.tzinfo)
                left -= hi - lo
            day += timedelta(days=1)
            cur = datetime.combine(day, time(0), self.tz)
        raise ValueError("working time out of calendar range")

    def minutes_between(self, a: datetime, b: datetime) -> int:
        """Working minutes from a to b (negative when b is before a)."""
        if b < a:
            return -self.minutes_between(b, a)
        a, b = a.astimezone(self.tz), b.astimezone(self.tz)
        if self.round_the_clock:
            return int((b - a).total_seconds() // 60)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            for lo, hi in self.intervals_on(day):
                lo, hi = max(lo, a), min(hi, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return int(total.total_seconds() // 60)


@lru_cache(maxsize=1)
def _ru_calendar():
    this_year = date.today().year
    return holidays.RU(years=range(this_year - 3, this_year + 3))


# --- calendar exceptions: one query per EXCEPTIONS_TTL per database, not per computation ----------
_exc_lock = threading.Lock()
_exc_cache: dict[str, tuple[float, Mapping[date, str]]] = {}


def calendar_exceptions() -> Mapping[date, str]:
    """{date: kind} from calendar_days, cached for EXCEPTIONS_TTL seconds."""
    key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    now = _time.monotonic()
    hit = _exc_cache.get(key)
    if hit is not None and now - hit[0] < EXCEPTIONS_TTL:
        return hit[1]
    rows = db.session.execute(db.select(CalendarDay.date, CalendarDay.kind)).all()
    snapshot = MappingProxyType({d: k for d, k in rows})
    with _exc_lock:
        _exc_cache[key] = (now, snapshot)
    return snapshot


def invalidate_calendar_cache() -> None:
    """Drop the exceptions snapshot (after the calendar is edited)."""
    with _exc_lock:
        _exc_cache.clear()


@lru_cache(maxsize=64)
def _hours(spec: str) -> tuple[tuple[time, time], ...]:
    return parse_hours(spec)


def _calendar(tz_name: str, hours: str) -> WorkCalendar:
    return WorkCalendar(ZoneInfo(tz_name), _hours(hours), calendar_exceptions())


def city_calendar() -> WorkCalendar:
    cfg = current_app.config
    return _calendar(cfg["CITY_TZ"], cfg["BUSINESS_HOURS"])


def calendar_for(institution: Institution | None) -> WorkCalendar:
    """The institution's working calendar: its own hours, or the city's when it has none."""
    spec = institution.business_hours if institution is not None else None
    if not spec:
        return city_calendar()
    return _calendar(current_app.config["CITY_TZ"], spec)


def _institution_of(ticket: Ticket) -> Institution | None:
    if ticket.institution is not None:
        return ticket.institution
    if ticket.institution_id is not None:
        return db.session.get(Institution, ticket.institution_id)
    return None


def _add(cal: WorkCalendar | None, start: datetime, minutes: int) -> datetime:
    if cal is not None:
        return cal.add_minutes(start, minutes)
    return start + timedelta(minutes=minutes)


def _targets(ticket: Ticket, category: Category | None) -> tuple[int, int, bool]:
    """(first response, resolution) in minutes and whether they count working time."""
    if category is not None:
        policy = category.sla_policy
        first, resolution, bh = policy.first_response_minutes, policy.resolution_minutes, policy.business_hours
    else:
        first, resolution, bh = 60, 9 * 60, True  # city default: route within 1 h, answer within 9 working h
    if ticket.priority == "urgent":
        first, resolution = max(first // 2, 15), max(resolution // 2, 60)
    return first, resolution, bh


def set_deadlines(ticket: Ticket, category: Category | None, start: datetime) -> None:
    """First-response and resolution deadlines from the category's SLA policy (urgent halves them)."""
    first, resolution, bh = _targets(ticket, category)
    cal = calendar_for(_institution_of(ticket)) if bh else None
    ticket.first_response_due_at = _add(cal, start, first)
    ticket.resolution_due_at = _add(cal, start, resolution)


def restart_resolution(ticket: Ticket, now: datetime) -> datetime:
    """A reopened ticket (the resident says it is not solved) gets a new, full resolution target from now."""
    _, resolution, bh = _targets(ticket, ticket.category)
    ticket.resolution_due_at = _add(calendar_for(_institution_of(ticket)) if bh else None, now, resolution)
    return ticket.resolution_due_at


def _uses_business_hours(ticket: Ticket) -> bool:
    return ticket.category.sla_policy.business_hours if ticket.category else True


def pause(ticket: Ticket, now: datetime) -> None:
    """Waiting for the resident: the clock stops."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume(ticket: Ticket, now: datetime) -> datetime | None:
    """The clock runs again: the deadline moves by the working time spent paused. Returns the old deadline
    when it moved (the caller records why), else None."""
    if ticket.sla_paused_at is None:
        return None
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    old = ticket.resolution_due_at
    if old <= paused_at:
        return None  # it was already late when paused: lateness is not forgiven
    if _uses_business_hours(ticket):
        cal = calendar_for(_institution_of(ticket))
        left = cal.minutes_between(paused_at, ticket.resolution_due_at)
        ticket.resolution_due_at = cal.add_minutes(now, left)
    else:
        ticket.resolution_due_at = now + (ticket.resolution_due_at - paused_at)
    return old if ticket.resolution_due_at != old else None
