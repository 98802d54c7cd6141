"""Working-time arithmetic: the production calendar with its exceptions, per-institution hours, the CLI.

The property tests compare app.services.sla with a deliberately naive reference that walks the
calendar one minute at a time.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import CalendarDay
from app.services import sla
from app.services.errors import DomainError, NotFound
from app.services.sla import calendar as calendar_service
from tests.factories import make_category, make_institution, make_policy, make_ticket

TZ = ZoneInfo("Asia/Yakutsk")
RU = holidays.RU(years=range(2024, 2030))
MINUTE = timedelta(minutes=1)
PROPS = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SEEDED_SHORT = {date(2025, 3, 7), date(2025, 4, 30), date(2025, 6, 11), date(2025, 11, 1),
                date(2026, 4, 30), date(2026, 5, 8), date(2026, 6, 11), date(2026, 11, 3),
                date(2027, 2, 20), date(2027, 4, 30), date(2027, 6, 11), date(2027, 11, 3)}


def at(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


# --- the reference: one minute at a time ----------------------------------------------------------
class Reference:
    def __init__(self, hours: list[tuple[str, str]] | None, exceptions: dict[date, str]):
        self.hours = None if hours is None else [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in hours]
        self.exceptions = exceptions
        self._days: dict[date, list[tuple[time, time]]] = {}

    def day(self, d: date) -> list[tuple[time, time]]:
        if d not in self._days:
            kind = self.exceptions.get(d)
            working = kind in ("workday", "short") or (kind is None and RU.is_working_day(d))
            spans = list(self.hours) if working else []
            if kind == "short":  # the day ends one hour earlier
                a, b = spans[-1]
                end = (datetime.combine(d, b) - timedelta(hours=1)).time()
                spans[-1] = (a, end)
            self._days[d] = spans
        return self._days[d]

    def working(self, t: datetime) -> bool:
        """Is the minute starting at t a working minute?"""
        if self.hours is None:
            return True
        t = t.astimezone(TZ)
        return any(a <= t.time() < b for a, b in self.day(t.date()))

    def between(self, a: datetime, b: datetime) -> int:
        n, cur = 0, a
        while cur < b:
            n += self.working(cur)
            cur += MINUTE
        return n


CITY_HOURS = [("09:00", "13:00"), ("14:00", "18:00")]


def ref_add(ref: Reference, start: datetime, minutes: int) -> datetime:
    """add_minutes ends at the end of the last working minute, not at the start of the next one."""
    if minutes == 0:
        return start
    cur, left = start, minutes
    while True:
        if ref.working(cur):
            left -= 1
            if left == 0:
                return cur + MINUTE
        cur += MINUTE


# --- strategies -------------------------------------------------------------------------------------
SPECIAL_DAYS = sorted(SEEDED_SHORT | {
    date(2024, 12, 31), date(2025, 12, 30), date(2025, 12, 31), date(2026, 12, 30), date(2026, 12, 31),
    date(2027, 12, 30), date(2027, 12, 31), date(2025, 10, 31), date(2025, 11, 1), date(2025, 11, 3),
    date(2026, 1, 8), date(2026, 1, 9), date(2026, 1, 11), date(2027, 2, 19), date(2027, 2, 22),
    date(2025, 5, 7), date(2026, 3, 6), date(2026, 5, 7), date(2027, 11, 5),
})

random_moment = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31, 23, 59)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=TZ))
near_special = st.builds(
    lambda d, minute: datetime.combine(d, time(0), TZ) + timedelta(minutes=minute),
    st.sampled_from(SPECIAL_DAYS), st.integers(min_value=-24 * 60, max_value=2 * 24 * 60 - 1))
on_boundary = st.builds(
    lambda d, hm, delta: datetime.combine(d, time.fromisoformat(hm), TZ) + timedelta(minutes=delta),
    st.sampled_from(SPECIAL_DAYS), st.sampled_from(["09:00", "13:00", "14:00", "17:00", "18:00"]),
    st.integers(min_value=-2, max_value=2))
starts = st.one_of(random_moment, near_special, on_boundary)
minutes = st.one_of(st.integers(min_value=0, max_value=3 * 480), st.sampled_from([0, 1, 59, 60, 61, 240, 420, 480]))


@pytest.fixture
def city():
    sla.invalidate_calendar_cache()
    return sla.city_calendar()


@pytest.fixture(scope="module")
def city_ref():
    return Reference(CITY_HOURS, {d: "short" for d in SEEDED_SHORT})


# --- the seeded calendar ----------------------------------------------------------------------------
def test_migration_seeds_the_short_pre_holiday_days_with_their_decree():
    rows = db.session.scalars(db.select(CalendarDay).order_by(CalendarDay.date)).all()
    assert {r.date for r in rows if r.kind == "short"} == SEEDED_SHORT
    assert all(r.note and r.source for r in rows)
    by_date = {r.date: r for r in rows}
    assert "№ 1335" in by_date[date(2025, 3, 7)].source
    assert "№ 1466" in by_date[date(2026, 4, 30)].source
    # the seeded days are working days in `holidays`: the table only shortens them
    assert all(RU.is_working_day(d) for d in SEEDED_SHORT)


def test_city_calendar_loads_the_exceptions(city):
    assert city.exceptions[date(2026, 11, 3)] == "short"
    assert city.is_working_day(date(2025, 11, 1))  # the working Saturday
    assert not city.is_working_day(date(2025, 12, 31)) and not city.is_working_day(date(2026, 1, 8))


# --- properties ---------------------------------------------------------------------------------------
@PROPS
@given(start=starts, m=minutes)
def test_add_minutes_matches_the_minute_by_minute_reference(city, city_ref, start, m):
    assert city.add_minutes(start, m) == ref_add(city_ref, start, m)


@PROPS
@given(start=starts, m=minutes)
def test_round_trip(city, start, m):
    assert city.minutes_between(start, city.add_minutes(start, m)) == m


@PROPS
@given(a=starts, span=st.integers(min_value=-5 * 24 * 60, max_value=5 * 24 * 60))
def test_minutes_between_matches_the_reference(city, city_ref, a, span):
    b = a + timedelta(minutes=span)
    expected = city_ref.between(a, b) if b >= a else -city_ref.between(b, a)
    assert city.minutes_between(a, b) == expected


EIGHT_TO_FIVE = sla.WorkCalendar(TZ, sla.parse_hours("08:00-17:00"),
                                 MappingProxyType({d: "short" for d in SEEDED_SHORT}))
EIGHT_TO_FIVE_REF = Reference([("08:00", "17:00")], {d: "short" for d in SEEDED_SHORT})


@settings(max_examples=100, deadline=None)
@given(start=starts, m=minutes)
def test_eight_to_five_matches_the_reference(start, m):
    end = EIGHT_TO_FIVE.add_minutes(start, m)
    assert end == ref_add(EIGHT_TO_FIVE_REF, start, m)
    assert EIGHT_TO_FIVE.minutes_between(start, end) == m


# exceptions of every kind, including a regional day off and a working Sunday
CUSTOM_EXC = {date(2026, 6, 10): "holiday", date(2026, 6, 14): "workday", date(2026, 6, 11): "short",
              date(2026, 12, 30): "short", date(2027, 1, 9): "workday", date(2027, 1, 11): "holiday"}
CUSTOM = sla.WorkCalendar(TZ, sla.parse_hours("09:00-13:00,14:00-18:00"), MappingProxyType(CUSTOM_EXC))
CUSTOM_REF = Reference(CITY_HOURS, CUSTOM_EXC)
custom_starts = st.builds(lambda d, minute: datetime.combine(d, time(0), TZ) + timedelta(minutes=minute),
                          st.sampled_from(sorted(CUSTOM_EXC)), st.integers(min_value=-2 * 24 * 60, max_value=24 * 60))


@settings(max_examples=100, deadline=None)
@given(start=custom_starts, m=minutes)
def test_holiday_workday_and_short_exceptions_match_the_reference(start, m):
    end = CUSTOM.add_minutes(start, m)
    assert end == ref_add(CUSTOM_REF, start, m)
    assert CUSTOM.minutes_between(start, end) == m


# --- known values ------------------------------------------------------------------------------------
@pytest.mark.parametrize("start, m, expected", [
    # STACK-NOTES section 6 (9–18 without a break), here with the 13–14 lunch break
    ("2025-12-26 17:00", 180, "2025-12-29 11:00"),
    ("2025-12-30 16:00", 240, "2026-01-12 11:00"),  # 30.12.2025 is a full day: 31.12 is a transferred day off
    ("2025-10-31 17:00", 120, "2025-11-01 10:00"),  # the working Saturday
    ("2026-03-06 20:00", 60, "2026-03-10 10:00"),
    ("2026-05-08 12:00", 480, "2026-05-12 13:00"),  # 08.05.2026 is short: 12–13, 14–17, then 4 h on Tuesday
    ("2026-12-30 17:00", 90, "2027-01-11 09:30"),
    ("2026-02-02 09:30", 60, "2026-02-02 10:30"),
    ("2026-02-02 12:30", 60, "2026-02-02 14:30"),  # across lunch
])
def test_known_values(city, start, m, expected):
    assert city.add_minutes(at(start), m) == at(expected)
    assert city.minutes_between(at(start), at(expected)) == m


def test_utc_input_gives_utc_output(city):
    start = datetime(2026, 2, 2, 0, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Белогорск
    end = city.add_minutes(start, 60)
    assert end.tzinfo == ZoneInfo("UTC") and end == at("2026-02-02 10:30")


def test_a_short_day_ends_at_five(city):
    assert city.intervals_on(date(2026, 11, 3))[-1][1] == at("2026-11-03 17:00")
    assert city.add_minutes(at("2026-11-03 16:30"), 30) == at("2026-11-03 17:00")
    assert city.add_minutes(at("2026-11-03 16:30"), 31) == at("2026-11-05 09:01")
    assert city.minutes_between(at("2026-11-03 09:00"), at("2026-11-03 23:00")) == 7 * 60


def test_short_day_with_a_short_last_interval_loses_the_hour_across_the_break():
    cal = sla.WorkCalendar(TZ, sla.parse_hours("09:00-13:00,14:00-14:30"),
                           MappingProxyType({date(2026, 11, 3): "short"}))
    assert cal.intervals_on(date(2026, 11, 3)) == [(at("2026-11-03 09:00"), at("2026-11-03 12:30"))]


def test_round_the_clock_institution():
    cal = sla.WorkCalendar(TZ, sla.parse_hours("24x7"), MappingProxyType({date(2026, 11, 3): "short"}))
    assert cal.add_minutes(at("2026-12-31 23:30"), 90) == at("2027-01-01 01:00")
    assert cal.minutes_between(at("2026-12-30 17:00"), at("2027-01-12 10:00")) == 12 * 1440 + 17 * 60


# --- per-institution hours in deadlines ---------------------------------------------------------------
def test_deadlines_use_the_ticket_institutions_hours():
    start = at("2026-11-20 16:00").astimezone(ZoneInfo("UTC"))  # Friday
    policy = make_policy(first=60, resolution=240)
    city_t = make_ticket(category=make_category(policy=policy), created_at=start)
    assert city_t.resolution_due_at == at("2026-11-23 11:00")

    shop = make_institution()
    shop.business_hours = "08:00-17:00"
    t = make_ticket(institution=shop, category=make_category(policy=policy), created_at=start)
    assert t.first_response_due_at == at("2026-11-20 17:00")
    assert t.resolution_due_at == at("2026-11-23 11:00")  # 1 h on Friday, 3 h from 08:00 on Monday

    duty = make_institution()
    duty.business_hours = "24x7"
    t = make_ticket(institution=duty, category=make_category(policy=policy), created_at=start)
    assert t.resolution_due_at == at("2026-11-20 20:00")


def test_calendar_for_falls_back_to_the_city():
    inst = make_institution()
    assert sla.calendar_for(inst).hours == sla.parse_hours("09:00-13:00,14:00-18:00")
    assert sla.calendar_for(None).hours == sla.city_calendar().hours
    inst.business_hours = "24x7"
    assert sla.calendar_for(inst).round_the_clock


@pytest.mark.parametrize("spec, words", [
    ("", "empty"), ("9-18", "HH:MM-HH:MM"), ("09:00-13:00;14:00-18:00", "HH:MM-HH:MM"),
    ("18:00-09:00", "ends before"), ("25:00-26:00", "bad time"), ("09:00-13:00,12:00-18:00", "overlap"),
])
def test_parse_hours_rejects_bad_specs(spec, words):
    with pytest.raises(ValueError, match=words):
        sla.parse_hours(spec)


def test_validate_hours_normalises():
    assert sla.validate_hours(" 08:00-17:00 ") == "08:00-17:00"
    assert sla.validate_hours("") is None and sla.validate_hours("24x7") == "24x7"


# --- the calendar service -----------------------------------------------------------------------------
def test_set_and_remove_calendar_day_change_the_arithmetic_at_once(city):
    d = date(2026, 12, 29)  # Tuesday
    assert sla.city_calendar().is_working_day(d)
    calendar_service.set_calendar_day(d, "holiday", "Региональный выходной", "Закон Амурской области")
    assert not sla.city_calendar().is_working_day(d)
    calendar_service.set_calendar_day("2026-12-29", "short", "Предпраздничный день")
    assert db.session.scalar(db.select(CalendarDay.kind).where(CalendarDay.date == d)) == "short"
    assert sla.city_calendar().intervals_on(d)[-1][1] == at("2026-12-29 17:00")
    calendar_service.remove_calendar_day(d)
    assert sla.city_calendar().is_working_day(d) and d not in sla.city_calendar().exceptions
    sla.invalidate_calendar_cache()


def test_a_workday_exception_works_on_a_sunday():
    calendar_service.set_calendar_day(date(2026, 12, 27), "workday", "Рабочее воскресенье")
    assert sla.city_calendar().add_minutes(at("2026-12-26 10:00"), 60) == at("2026-12-27 10:00")
    sla.invalidate_calendar_cache()


@pytest.mark.parametrize("args, field", [
    (("2026-02-30", "holiday", ""), "date"), (("2026-12-29", "weekend", ""), "kind"),
    (("2026-12-29", "holiday", "x" * 201), "note"),
])
def test_set_calendar_day_validates(args, field):
    with pytest.raises(DomainError) as exc:
        calendar_service.set_calendar_day(*args)
    assert exc.value.field == field


def test_remove_a_missing_day_is_not_found():
    with pytest.raises(NotFound):
        calendar_service.remove_calendar_day(date(2026, 12, 29))


def test_import_year_is_all_or_nothing():
    rows = [(date(2028, 1, 10), "holiday", "Перенос"), ("2028-02-19", "workday", "Рабочая суббота"),
            ("2028-02-22", "short", "Предпраздничный день")]
    assert calendar_service.import_year(rows, source="Постановление (проект)") == 3
    assert sla.city_calendar().exceptions[date(2028, 2, 19)] == "workday"
    with pytest.raises(DomainError) as exc:
        calendar_service.import_year([("2028-03-07", "short", ""), ("2028-03-07", "holiday", ""), ("x", "y")])
    assert "строка 2" in exc.value.message and "строка 3" in exc.value.message
    assert db.session.scalar(db.select(CalendarDay).where(CalendarDay.date == date(2028, 3, 7))) is None
    sla.invalidate_calendar_cache()


def test_exceptions_are_cached_not_queried_per_computation(app):
    from sqlalchemy import event

    sla.invalidate_calendar_cache()
    sla.city_calendar()
    queries = []
    listener = lambda *a, **k: queries.append(1)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for _ in range(1000):
            sla.city_calendar().add_minutes(at("2026-12-30 17:00"), 90)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert queries == []


# --- the CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    sla.invalidate_calendar_cache()
    return lambda *args: runner.invoke(args=["sla", *args])


def test_cli_add_prints_the_moment(cli):
    r = cli("add", "2026-12-30 17:00", "90")
    assert r.exit_code == 0 and r.output.strip() == "2027-01-11 09:30"
    r = cli("add", "2026-11-03 16:30", "31")
    assert r.exit_code == 0 and r.output.strip() == "2026-11-05 09:01"


def test_cli_between_prints_working_minutes(cli):
    r = cli("between", "2026-12-30 17:00", "2027-01-12 10:00")
    assert r.exit_code == 0 and r.output.strip() == "600"


def test_cli_uses_the_institution_hours(cli):
    inst = make_institution()
    inst.business_hours = "24x7"
    db.session.flush()
    r = cli("add", "2026-12-31 23:30", "90", "--institution", str(inst.id))
    assert r.exit_code == 0 and r.output.strip() == "2027-01-01 01:00"


@pytest.mark.parametrize("args, words", [
    (("add", "30.12.2026 17:00", "90"), "ГГГГ-ММ-ДД ЧЧ:ММ"),
    (("add", "2026-12-30 17:00", "полтора"), "целое число"),
    (("add", "--", "2026-12-30 17:00", "-5"), "отрицательным"),
    (("add", "2026-12-30 17:00", "90", "--institution", "999999"), "не найдено"),
    (("between", "2026-12-30 17:00", "завтра"), "ГГГГ-ММ-ДД ЧЧ:ММ"),
])
def test_cli_refuses_bad_input_without_a_traceback(cli, args, words):
    r = cli(*args)
    assert r.exit_code != 0 and words in r.output
    assert "Traceback" not in r.output and not isinstance(r.exception, (ValueError, TypeError))
