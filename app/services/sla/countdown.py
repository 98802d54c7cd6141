"""A ticket's deadline in words a person reads: «осталось 3 ч 20 мин рабочего времени».

Time left is counted in the working time of the ticket's institution (sla.calendar_for), or round
the clock when the ticket's SLA policy is 24×7. Lateness is counted in calendar time: a resident
who waits two days past the deadline has waited two days, whatever the office hours.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.formatting import catalogue_memo, plural_forms
from app.formatting import gettext as _  # Flask-Babel's gettext, memoised per request (rows of the queue)
from app.models import Ticket
from app.services import sla

SOON_SHARE = 0.25  # less than a quarter of the resolution span left…
SOON_MINUTES = 120  # …or less than two working hours
STATES = ("ok", "soon", "overdue", "paused", "closed")
# the units' three Russian forms, translated only when chosen (plural_forms)
DAYS = (_l("день"), _l("дня"), _l("дней"))
WORKING_DAYS = (_l("рабочий день"), _l("рабочих дня"), _l("рабочих дней"))


@dataclass(frozen=True)
class Countdown:
    text: str
    state: str  # one of STATES


_ROUND_THE_CLOCK: dict = {}  # zone → its 24×7 calendar (one instance, not one per row)


def _calendar(ticket: Ticket) -> sla.WorkCalendar:
    cal = sla.calendar_for(ticket.institution)
    if ticket.category is not None and not ticket.category.sla_policy.business_hours:
        round_the_clock = _ROUND_THE_CLOCK.get(cal.tz)
        if round_the_clock is None:
            round_the_clock = _ROUND_THE_CLOCK[cal.tz] = sla.WorkCalendar(cal.tz, ())
        return round_the_clock  # a 24×7 policy: every minute counts
    return cal


def minutes_per_day(cal: sla.WorkCalendar) -> int:
    """Working minutes in an ordinary working day (1440 round the clock)."""
    if cal.round_the_clock:
        return 24 * 60
    return sum((b.hour * 60 + b.minute) - (a.hour * 60 + a.minute) for a, b in cal.hours)


def _duration(minutes: int) -> str:
    """«3 ч 20 мин», «3 ч», «45 мин» (abbreviations need no plural)."""
    hours, mins = divmod(max(minutes, 0), 60)
    if hours and mins:
        return _("%(h)d ч %(m)d мин", h=hours, m=mins)
    if hours:
        return _("%(h)d ч", h=hours)
    return _("%(m)d мин", m=mins)


def _late(ticket: Ticket, now: datetime) -> Countdown:
    # a ticket paused while already late stays late by the time it had been late when paused
    until = ticket.sla_paused_at if ticket.status == "waiting_resident" and ticket.sla_paused_at else now
    minutes = max(int((until - ticket.resolution_due_at).total_seconds() // 60), 1)
    days = minutes // (24 * 60)
    if days:
        text = _("просрочено на %(n)d %(unit)s", n=days, unit=plural_forms(days, DAYS))
    else:
        text = _("просрочено на %(duration)s", duration=_duration(minutes))
    if ticket.status == "waiting_resident":
        text = _("%(late)s; на паузе: ждём жителя", late=text)
    return Countdown(text, "overdue")


_TEXTS_ATTR, _TEXTS_KEPT = "_om_countdown_texts", 4096


def _left_text(left: int, per_day: int, working: bool) -> str:
    """«осталось …»: `left` working minutes (`per_day` a working day; `working`: not round the clock)."""
    if left >= per_day:
        days = left // per_day  # whole working days: never promise more than there is
        if working:
            unit = plural_forms(days, WORKING_DAYS)
        else:
            unit = plural_forms(days, DAYS)
        return _("осталось %(n)d %(unit)s", n=days, unit=unit)
    if left < 1:
        return (_("срок — в начале следующего рабочего дня") if working
                else _("осталось меньше минуты"))
    if working:
        return _("осталось %(duration)s рабочего времени", duration=_duration(left))
    return _("осталось %(duration)s", duration=_duration(left))


def describe(ticket: Ticket, now: datetime) -> Countdown:
    """The ticket's countdown at `now`: text and state (ok, soon, overdue, paused, closed)."""
    if not ticket.is_open:
        return Countdown(_("срок не отслеживается: обращение не в работе"), "closed")
    if ticket.is_overdue(now):
        return _late(ticket, now)
    if ticket.status == "waiting_resident":
        return Countdown(_("на паузе: ждём жителя"), "paused")
    cal = _calendar(ticket)
    due = ticket.resolution_due_at
    left = cal.minutes_between(now, due)
    per_day = minutes_per_day(cal)
    working = not cal.round_the_clock
    # the words are a function of (left, per_day, working) and the language: kept per language (a list of rows says
    # «осталось 2 рабочих дня» many times), at most _TEXTS_KEPT of them
    texts = catalogue_memo(_TEXTS_ATTR)
    key = (left, per_day, working)
    text = texts.get(key)
    if text is None:
        text = _left_text(left, per_day, working)
        if len(texts) >= _TEXTS_KEPT:
            texts.clear()
        texts[key] = text
    span = cal.minutes_between(ticket.created_at, due)
    soon = left < SOON_MINUTES or (span > 0 and left < span * SOON_SHARE)
    return Countdown(text, "soon" if soon else "ok")
