"""Working-time arithmetic and ticket deadlines. All SLA math lives here.

Times are stored in UTC and computed in the city's time zone. The production
calendar comes from the `holidays` package (RU: public holidays, days moved by
decree, working Saturdays).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from flask import current_app

from app.models import Category, Ticket


def parse_hours(spec: str) -> tuple[tuple[time, time], ...]:
    """"09:00-13:00,14:00-18:00" → ((09:00, 13:00), (14:00, 18:00))."""
    intervals = []
    for part in spec.split(","):
        start, end = (time.fromisoformat(x.strip()) for x in part.split("-"))
        if end <= start:
            raise ValueError(f"bad business-hours interval: {part!r}")
        intervals.append((start, end))
    intervals.sort()
    return tuple(intervals)


@dataclass(frozen=True)
class WorkCalendar:
    tz: ZoneInfo
    hours: tuple[tuple[time, time], ...]

    @property
    def _ru(self):
        return _ru_calendar()

    def is_working_day(self, d: date) -> bool:
        return self._ru.is_working_day(d)

    def intervals_on(self, d: date):
        if not self.is_working_day(d):
            return []
        return [(datetime.combine(d, a, self.tz), datetime.combine(d, b, self.tz)) for a, b in self.hours]

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


@lru_cache(maxsize=8)
def _calendar(tz_name: str, hours: str) -> WorkCalendar:
    return WorkCalendar(ZoneInfo(tz_name), parse_hours(hours))


def city_calendar() -> WorkCalendar:
    cfg = current_app.config
    return _calendar(cfg["CITY_TZ"], cfg["BUSINESS_HOURS"])


def _add(start: datetime, minutes: int, business_hours: bool) -> datetime:
    if business_hours:
        return city_calendar().add_minutes(start, minutes)
    return start + timedelta(minutes=minutes)


def set_deadlines(ticket: Ticket, category: Category | None, start: datetime) -> None:
    """First-response and resolution deadlines from the category's SLA policy (urgent halves them)."""
    if category is not None:
        policy = category.sla_policy
        first, resolution, bh = policy.first_response_minutes, policy.resolution_minutes, policy.business_hours
    else:
        first, resolution, bh = 60, 9 * 60, True  # city default: route within 1 h, answer within 9 working h
    if ticket.priority == "urgent":
        first, resolution = max(first // 2, 15), max(resolution // 2, 60)
    ticket.first_response_due_at = _add(start, first, bh)
    ticket.resolution_due_at = _add(start, resolution, bh)


def _uses_business_hours(ticket: Ticket) -> bool:
    return ticket.category.sla_policy.business_hours if ticket.category else True


def pause(ticket: Ticket, now: datetime) -> None:
    """Waiting for the resident: the clock stops."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume(ticket: Ticket, now: datetime) -> None:
    """The clock runs again: the deadline moves by the working time spent paused."""
    if ticket.sla_paused_at is None:
        return
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    if ticket.resolution_due_at <= paused_at:
        return  # it was already late when paused: lateness is not forgiven
    if _uses_business_hours(ticket):
        cal = city_calendar()
        left = cal.minutes_between(paused_at, ticket.resolution_due_at)
        ticket.resolution_due_at = cal.add_minutes(now, left)
    else:
        ticket.resolution_due_at = now + (ticket.resolution_due_at - paused_at)
