"""The executor's countdown in words: working time left, calendar lateness, pause, closed."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.models import CalendarDay
from app.services import sla
from app.services.sla import countdown
from tests.factories import make_category, make_institution, make_policy, make_ticket

TZ = ZoneInfo("Asia/Yakutsk")  # TestConfig's city; hours 09:00-13:00, 14:00-18:00


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context():
        sla.invalidate_calendar_cache()
        yield
        sla.invalidate_calendar_cache()


def ticket(due, created=None, status="in_progress", paused_at=None, category=None):
    t = make_ticket(institution=make_institution(), category=category)
    t.status = status
    t.created_at = created or due - timedelta(days=10)
    t.resolution_due_at = due
    t.sla_paused_at = paused_at
    return t


def say(t, now):
    c = countdown.describe(t, now)
    return c.text, c.state


def test_hours_and_minutes_of_working_time_left():
    now = local(2026, 11, 23, 10, 0)  # Monday
    t = ticket(local(2026, 11, 23, 14, 20), created=local(2026, 11, 23, 9, 0))  # 3 h before lunch + 20 min after
    assert say(t, now) == ("осталось 3 ч 20 мин рабочего времени", "ok")


def test_whole_working_days_left_with_russian_plurals():
    now = local(2026, 11, 23, 10, 0)
    assert say(ticket(local(2026, 11, 25, 11, 0)), now) == ("осталось 2 рабочих дня", "ok")  # 17 working h
    assert say(ticket(local(2026, 11, 24, 11, 0)), now)[0] == "осталось 1 рабочий день"
    assert say(ticket(local(2026, 12, 2, 11, 0), created=local(2026, 11, 1)), now)[0] == "осталось 7 рабочих дней"


def test_a_weekend_is_not_working_time():
    friday_evening = local(2026, 11, 20, 17, 0)
    t = ticket(local(2026, 11, 23, 10, 0), created=local(2026, 11, 20, 12, 0))  # 1 h on Friday + 1 h on Monday
    assert say(t, friday_evening) == ("осталось 2 ч рабочего времени", "ok")
    t.resolution_due_at = local(2026, 11, 23, 9, 50)
    assert say(t, friday_evening) == ("осталось 1 ч 50 мин рабочего времени", "soon")  # under 2 working hours


def test_a_public_holiday_and_a_calendar_exception_are_not_working_time():
    # Tuesday 3 November is a short pre-holiday day (ends 17:00, calendar_days); 4 November is a holiday
    before_unity_day = local(2026, 11, 3, 16, 0)
    t = ticket(local(2026, 11, 5, 10, 0), created=local(2026, 11, 3, 14, 0))
    assert say(t, before_unity_day) == ("осталось 2 ч рабочего времени", "ok")
    db.session.add(CalendarDay(date=local(2026, 11, 5).date(), kind="holiday", note="региональный выходной"))
    db.session.flush()
    sla.invalidate_calendar_cache()
    t.resolution_due_at = local(2026, 11, 6, 10, 0)  # Thursday off too: still two working hours
    assert say(t, before_unity_day) == ("осталось 2 ч рабочего времени", "ok")


def test_soon_when_less_than_a_quarter_of_the_span_is_left():
    now = local(2026, 11, 26, 13, 0)  # Thursday
    t = ticket(local(2026, 11, 26, 18, 0), created=local(2026, 11, 23, 9, 0))  # 4 h of 4 days left
    assert say(t, now) == ("осталось 4 ч рабочего времени", "soon")


def test_lateness_is_in_calendar_time():
    now = local(2026, 11, 23, 10, 0)
    assert say(ticket(now - timedelta(minutes=45)), now) == ("просрочено на 45 мин", "overdue")
    assert say(ticket(now - timedelta(hours=3, minutes=5)), now) == ("просрочено на 3 ч 5 мин", "overdue")
    assert say(ticket(now - timedelta(days=2, hours=3)), now) == ("просрочено на 2 дня", "overdue")
    assert say(ticket(now - timedelta(days=5)), now) == ("просрочено на 5 дней", "overdue")
    assert say(ticket(now - timedelta(days=21)), now) == ("просрочено на 21 день", "overdue")


def test_waiting_for_the_resident_is_a_pause_unless_already_late():
    now = local(2026, 11, 23, 10, 0)
    paused = ticket(now + timedelta(days=1), status="waiting_resident", paused_at=now - timedelta(hours=1))
    assert say(paused, now) == ("на паузе: ждём жителя", "paused")
    late = ticket(now - timedelta(days=3), status="waiting_resident", paused_at=now - timedelta(days=2))
    assert say(late, now) == ("просрочено на 1 день; на паузе: ждём жителя", "overdue")


def test_closed_and_resolved_tickets_have_no_countdown():
    now = local(2026, 11, 23, 10, 0)
    for status in ("resolved", "closed", "rejected"):
        assert say(ticket(now - timedelta(days=3), status=status), now)[1] == "closed"


def test_round_the_clock_policy_counts_every_hour():
    night = local(2026, 11, 21, 1, 0)  # Saturday night
    cat = make_category(policy=make_policy(business_hours=False))
    t = ticket(local(2026, 11, 21, 6, 30), created=local(2026, 11, 21, 0, 0), category=cat)
    assert say(t, night) == ("осталось 5 ч 30 мин", "ok")


def test_due_outside_working_hours_with_no_working_time_left():
    evening = local(2026, 11, 23, 19, 0)
    t = ticket(local(2026, 11, 23, 22, 0))
    assert say(t, evening) == ("срок — в начале следующего рабочего дня", "soon")


@pytest.mark.parametrize("language", ["ru", "en"])
def test_plural_forms_says_what_plural_ru_of_the_translated_forms_says(app, language, monkeypatch):
    from flask_babel import refresh

    from app.formatting import plural_forms, plural_ru
    monkeypatch.setitem(app.config, "LANGUAGE", language)
    with app.test_request_context():
        refresh()
        for forms in (countdown.DAYS, countdown.WORKING_DAYS):
            for n in list(range(0, 130)) + [1001, 1011, 1021, 1112]:
                assert plural_forms(n, forms) == plural_ru(n, *(str(f) for f in forms)), (language, n)
        assert plural_forms(21, countdown.DAYS) == ("день" if language == "ru" else "days")
