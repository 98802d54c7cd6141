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
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

import holidays
from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, selectinload

from app.extensions import db
from app.models import CalendarDay, Category, Institution, Ticket, utcnow
from app.services.errors import ValidationFailed

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
        """The working intervals of day `d` (memoised: a pure function of the zone, the hours, the day and the day's
        exception; a fresh list each call)."""
        return list(_intervals(self.tz, self.hours, d, self.exceptions.get(d)))

    def _intervals_on(self, d: date) -> list[tuple[datetime, datetime]]:
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

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` when it falls in working time, else the start of the next working interval."""
        cur = at.astimezone(self.tz)
        day = cur.date()
        for _ in range(3700):
            for lo, hi in self.intervals_on(day):
                if cur < hi:
                    return max(lo, cur).astimezone(at.tzinfo)
            day += timedelta(days=1)
        raise ValueError("working time out of calendar range")

    def minutes_between(self, a: datetime, b: datetime) -> int:
        """Working minutes from a to b (negative when b is before a)."""
        if b < a:
            return -self.minutes_between(b, a)
        a, b = a.astimezone(self.tz), b.astimezone(self.tz)
        if self.round_the_clock:
            return int((b - a).total_seconds() // 60)
        total = timedelta(0)
        first, last = a.date(), b.date()
        tz, hours, exceptions = self.tz, self.hours, self.exceptions
        for day in (first, last) if first != last else (first,):  # the two partial days
            for lo, hi in _intervals(tz, hours, day, exceptions.get(day)):  # intervals_on's, without its copy
                lo, hi = max(lo, a), min(hi, b)
                if hi > lo:
                    total += hi - lo
        day = first + timedelta(days=1)
        while day < last:  # whole days between them: each day's length, memoised
            total += _day_length(tz, hours, day, exceptions.get(day))
            day += timedelta(days=1)
        return int(total.total_seconds() // 60)


@lru_cache(maxsize=16384)
def _intervals(tz: ZoneInfo, hours: tuple, day: date, exception: str | None) -> tuple:
    """WorkCalendar.intervals_on, as a pure function of its arguments (the production calendar of the `holidays`
    package never changes while the process runs; the day's exception from calendar_days is an argument)."""
    cal = WorkCalendar(tz, hours, MappingProxyType({day: exception} if exception else {}))
    return tuple(cal._intervals_on(day))


@lru_cache(maxsize=16384)
def _day_length(tz: ZoneInfo, hours: tuple, day: date, exception: str | None) -> timedelta:
    """The working time of a whole `day` (what intervals_on gives, summed)."""
    return sum((hi - lo for lo, hi in _intervals(tz, hours, day, exception)), timedelta(0))


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
        _calendars.clear()


@lru_cache(maxsize=64)
def _hours(spec: str) -> tuple[tuple[time, time], ...]:
    return parse_hours(spec)


_calendars: dict[tuple, WorkCalendar] = {}


def _calendar(tz_name: str, hours: str) -> WorkCalendar:
    """The calendar of a zone and an hours spec with the current exceptions snapshot: one instance per snapshot
    (a list of 50 tickets asks for the same few calendars). The entry holds its snapshot, so the snapshot's id in the
    key is never reused while the entry lives; a new snapshot (EXCEPTIONS_TTL, invalidate_calendar_cache) is a new
    key."""
    exceptions = calendar_exceptions()
    key = (tz_name, hours, id(exceptions))
    cal = _calendars.get(key)
    if cal is None or cal.exceptions is not exceptions:
        cal = WorkCalendar(ZoneInfo(tz_name), _hours(hours), exceptions)
        if len(_calendars) >= 256:
            _calendars.clear()
        _calendars[key] = cal
    return cal


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


# --- legal regimes (sources and numbers: docs/sla-presets.md) ------------------------------------
LOCAL, FZ59 = "local", "59fz"
FZ59_REGISTRATION = timedelta(days=3)  # 59-ФЗ art. 8 p. 3: registered within 3 days
FZ59_ANSWER = timedelta(days=30)  # art. 12 p. 1: answered within 30 days of registration
FZ59_EXTENSION = timedelta(days=30)  # art. 12 p. 2: extended once, by up to 30 days, the resident notified
LOCAL_INTERIM_WORKING_DAYS = 7  # local regulation: after an interim answer, the final one within 7 working days


@dataclass(frozen=True)
class RegimeTargets:
    """A regime's clocks: working minutes on a calendar (local) or calendar time (59-ФЗ)."""

    first_minutes: int | None = None
    resolution_minutes: int | None = None
    business_hours: bool = True
    first: timedelta | None = None
    resolution: timedelta | None = None


def regime_targets(ticket: Ticket, category: Category | None = None) -> RegimeTargets:
    """The deadlines the ticket's regime gives: 59-ФЗ calendar days, or the local SLA policy's minutes."""
    if ticket.regime == FZ59:
        return RegimeTargets(business_hours=False, first=FZ59_REGISTRATION, resolution=FZ59_ANSWER)
    first, resolution, bh = _targets(ticket, category)
    return RegimeTargets(first_minutes=first, resolution_minutes=resolution, business_hours=bh)


def deadline_under(ticket: Ticket, targets: RegimeTargets, start: datetime, clock: str) -> datetime:
    """The deadline of `clock` (first | resolution) counted from `start` under `targets`, in the ticket's calendar."""
    span = targets.first if clock == "first" else targets.resolution
    if span is not None:
        return start + span
    minutes = targets.first_minutes if clock == "first" else targets.resolution_minutes
    return _add(calendar_for(_institution_of(ticket)) if targets.business_hours else None, start, minutes)


def set_deadlines(ticket: Ticket, category: Category | None, start: datetime) -> None:
    """First-response (59-ФЗ: registration) and resolution deadlines from `start`, by the ticket's regime:
    local — the category's SLA policy in working time (urgent halves it); 59-ФЗ — 3 and 30 calendar days."""
    targets = regime_targets(ticket, category)
    ticket.first_response_due_at = deadline_under(ticket, targets, start, "first")
    ticket.resolution_due_at = deadline_under(ticket, targets, start, "resolution")


def apply_priority(ticket: Ticket) -> dict[str, tuple[datetime, datetime]]:
    """After a priority change: the deadlines the new priority gives, counted from the clock's start. Raising to
    urgent only brings deadlines nearer, lowering to normal only moves them later (time already paused or
    extended is never taken back). 59-ФЗ tickets keep their legal terms. Returns {clock: (old, new)} moved."""
    moved: dict[str, tuple[datetime, datetime]] = {}
    if ticket.regime == FZ59 or ticket.status not in ("new", "assigned", "in_progress", "waiting_resident"):
        return moved
    targets, start = regime_targets(ticket, ticket.category), _regime_start(ticket)
    pick = min if ticket.priority == "urgent" else max
    for clock, attr in (("first_response", "first_response_due_at"), ("resolution", "resolution_due_at")):
        if clock == "first_response" and ticket.first_responded_at is not None:
            continue
        old = getattr(ticket, attr)
        new = deadline_under(ticket, targets, start, "first" if clock == "first_response" else "resolution")
        new = pick(old, new) if old is not None else new
        if new != old:
            setattr(ticket, attr, new)
            moved[clock] = (old, new)
    return moved


def restart_resolution(ticket: Ticket, now: datetime) -> datetime:
    """A reopened ticket (the resident says it is not solved) gets a new, full resolution target from now."""
    ticket.resolution_due_at = deadline_under(ticket, regime_targets(ticket, ticket.category), now, "resolution")
    return ticket.resolution_due_at


def _regime_start(ticket: Ticket) -> datetime:
    """When the current regime's clock started: the last regime change, else the ticket's creation."""
    for e in reversed(ticket.events):
        if e.kind == "deadline" and e.payload.get("regime"):
            return e.created_at
    return ticket.created_at


def regime_limit(ticket: Ticket) -> datetime:
    """The latest the final answer may be promised for: local — the close of the 7th working day after the
    clock started (the institution's calendar); 59-ФЗ — 30 days, 60 after the one extension."""
    start = _regime_start(ticket)
    if ticket.regime == FZ59:
        return start + FZ59_ANSWER + (FZ59_EXTENSION if ticket.extended_at else timedelta(0))
    cal = calendar_for(_institution_of(ticket))
    day, left = start.astimezone(cal.tz).date(), LOCAL_INTERIM_WORKING_DAYS
    for _ in range(3700):
        day += timedelta(days=1)
        if cal.is_working_day(day) and cal.intervals_on(day):
            left -= 1
            if left == 0:
                return cal.intervals_on(day)[-1][1].astimezone(start.tzinfo)
    raise ValueError("working time out of calendar range")


def parse_promise(text: str, ticket: Ticket) -> datetime:
    """A promised date typed in city time — «25.12.2026», «2026-12-25», optionally with «14:30» — as UTC.
    A bare date means the close of that working day (the regime's limit when it falls on that day)."""
    raw = (text or "").strip().replace("T", " ")
    tz = calendar_for(_institution_of(ticket)).tz
    for fmt in ("%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        if "%H" in fmt:
            return parsed.replace(tzinfo=tz).astimezone(UTC)
        d = parsed.date()
        spans = calendar_for(_institution_of(ticket)).intervals_on(d)
        end = spans[-1][1] if spans else datetime.combine(d, time(23, 59), tz)
        limit = regime_limit(ticket)
        if limit.astimezone(tz).date() == d:
            end = min(end, limit)
        return end.astimezone(UTC)
    raise ValidationFailed("Укажите срок датой: ДД.ММ.ГГГГ, можно со временем ЧЧ:ММ", field="promised")


def promise(ticket: Ticket, promised: datetime, now: datetime) -> datetime:
    """An interim answer: the promised moment becomes the resolution deadline, never beyond the regime's
    limit. Returns the previous deadline; ValidationFailed (Russian, for the resident's case) when refused."""
    if promised <= now:
        raise ValidationFailed("Обещанный срок уже прошёл: укажите будущую дату", field="promised")
    limit = regime_limit(ticket)
    if promised > limit:
        tz = calendar_for(_institution_of(ticket)).tz
        when = f"{limit.astimezone(tz):%d.%m.%Y %H:%M}"
        if ticket.regime == FZ59 and ticket.extended_at:
            raise ValidationFailed("Срок не может быть позже %(when)s (30 дней по 59-ФЗ с продлением)",
                                   field="promised", when=when)
        if ticket.regime == FZ59:
            raise ValidationFailed("Срок не может быть позже %(when)s (30 дней по 59-ФЗ)", field="promised", when=when)
        raise ValidationFailed("Срок не может быть позже %(when)s (%(n)s рабочих дней по местному регламенту)",
                               field="promised", when=when, n=LOCAL_INTERIM_WORKING_DAYS)
    previous = ticket.resolution_due_at
    ticket.resolution_due_at = promised
    return previous


# --- «скоро срок»: the warning moment, in the same working time as the deadline ---------------------
DEFAULT_WARNING_PERCENT = 75


def warning_moment(ticket: Ticket, due: datetime | None, start: datetime | None = None) -> datetime | None:
    """When the «скоро срок» warning of a clock ending at `due` is due: once the category's warning_percent
    (75 % without one) of the WORKING time from the ticket's start to `due` has passed, on the ticket's
    calendar — so a Friday-evening ticket warns on Monday afternoon, not on Sunday night. Calendar time for
    59-ФЗ and round-the-clock policies. Never after `due`."""
    if due is None:
        return None
    start = start or ticket.created_at or utcnow()  # a ticket not inserted yet is created now
    if due <= start:
        return due
    category = ticket.category
    if category is None and ticket.category_id is not None:  # set by id on a pending row: not loaded
        category = db.session.get(Category, ticket.category_id)
    policy = category.sla_policy if category is not None else None
    percent = policy.warning_percent if policy is not None and policy.warning_percent else DEFAULT_WARNING_PERCENT
    if ticket.regime == FZ59 or (policy is not None and not policy.business_hours):
        return start + (due - start) * percent / 100
    cal = calendar_for(_institution_of(ticket))
    total = cal.minutes_between(start, due)
    if total <= 0:
        return due
    return min(cal.add_minutes(start, max(1, total * percent // 100)), due)


def refresh_warnings(ticket: Ticket) -> None:
    """Keep the warning moments in step with the deadlines (called before every flush that moves them)."""
    ticket.first_response_warn_at = warning_moment(ticket, ticket.first_response_due_at)
    ticket.resolution_warn_at = warning_moment(ticket, ticket.resolution_due_at)


def fill_missing_warnings(limit: int = 2000) -> int:
    """Running tickets without stored warning moments (rows from before they were stored, bulk inserts such as
    the demo seed): compute them, `limit` per call (the escalation sweep calls it every run). A plain UPDATE:
    neither the ticket's version (staff's open forms) nor its updated_at move. Caller commits."""
    rows = db.session.scalars(
        db.select(Ticket).where(Ticket.status.in_(("new", "assigned", "in_progress", "waiting_resident")),
                                Ticket.resolution_due_at.isnot(None),
                                db.or_(Ticket.resolution_warn_at.is_(None),
                                       db.and_(Ticket.first_response_due_at.isnot(None),
                                               Ticket.first_response_warn_at.is_(None))))
        .options(selectinload(Ticket.category).selectinload(Category.sla_policy),
                 selectinload(Ticket.institution))
        .order_by(Ticket.id).limit(limit)).all()
    table = Ticket.__table__
    for t in rows:
        db.session.execute(table.update().where(table.c.id == t.id).values(
            first_response_warn_at=warning_moment(t, t.first_response_due_at),
            resolution_warn_at=warning_moment(t, t.resolution_due_at), updated_at=table.c.updated_at))
    if rows:
        db.session.expire_all()
    return len(rows)


_WARNING_INPUTS = ("first_response_due_at", "resolution_due_at", "category_id", "institution_id", "regime",
                   "created_at")


@event.listens_for(Session, "before_flush")
def _warnings_before_flush(session: Session, flush_context, instances) -> None:
    """Every place that sets a deadline (set_deadlines, priority, pause/resume, promise, extension, regime,
    reopen…) gets its warning moment here, in one place."""
    if not has_app_context():
        return
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Ticket) or obj.resolution_due_at is None:
            continue
        state = inspect(obj)
        if obj in session.new or any(state.attrs[a].history.has_changes() for a in _WARNING_INPUTS):
            refresh_warnings(obj)


def _uses_business_hours(ticket: Ticket) -> bool:
    if ticket.regime == FZ59:
        return False
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
