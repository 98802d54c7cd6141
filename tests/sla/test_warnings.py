"""«Скоро срок» in working time (issue 10, item 8): the warning moment is a share of the WORKING time to the
deadline on the ticket's calendar (app/services/sla.py), and staff pushes wait for the recipient institution's
working hours (round-the-clock institutions get them at once; STAFF_PUSH_WORKING_HOURS_ONLY turns it off)."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Institution, Notification, Reply, SlaMark, Ticket
from app.services import replies, sla
from app.services.sla import escalation
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user
from tests.helpers import committed

YAKT = ZoneInfo("Asia/Yakutsk")
MINUTE = timedelta(minutes=1)
STAFF_CHAT = 55508888


def at(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=YAKT)


def warnings_recorded():
    return db.session.scalar(db.select(db.func.count(SlaMark.id)).where(SlaMark.kind == "resolution_warning"))


@pytest.fixture
def hold(app):
    app.config["STAFF_PUSH_WORKING_HOURS_ONLY"] = True
    yield
    app.config["STAFF_PUSH_WORKING_HOURS_ONLY"] = False


def friday_ticket(inst):
    """Registered Friday 04.12.2026 17:00 city time, 9 working hours to answer (the city's 9–18 with lunch)."""
    cat = make_category(institution=inst, policy=make_policy(first=60, resolution=9 * 60, business_hours=True))
    t = make_ticket("Не вывозят мусор во дворе ул. Лесная, 7", institution=inst, category=cat,
                    created_at=at("2026-12-04 17:00"), status="assigned")
    t.first_responded_at = at("2026-12-04 17:10")
    db.session.commit()
    return t


def test_a_friday_evening_ticket_warns_on_monday_afternoon_not_sunday_night(tg_config, fake_tg, hold, clock):
    inst = make_institution()
    executor = make_user("executor", institution=inst)
    executor.telegram_chat_id = str(STAFF_CHAT)
    t = friday_ticket(inst)
    assert t.resolution_due_at == at("2026-12-07 18:00")  # Monday 18:00 (right before, and still)
    # 75 % of 9 working hours = 6 h 45 min: Friday 17–18, Monday 9–13, 14:00 + 1 h 45 min
    assert t.resolution_warn_at == at("2026-12-07 15:45")

    assert committed(escalation.sweep(clock(at("2026-12-06 23:45")))).warnings == 0  # the old, calendar-share moment
    assert committed(escalation.sweep(clock(at("2026-12-07 15:44")))).warnings == 0
    assert warnings_recorded() == 0 and fake_tg.sent == []
    assert committed(escalation.sweep(clock(at("2026-12-07 15:45")))).warnings == 1
    [sent] = fake_tg.messages_to(STAFF_CHAT)  # in working hours: pushed at once
    assert t.number in sent["text"] and "Скоро срок решения" in sent["text"]
    note = db.session.scalar(db.select(Notification).where(Notification.user_id == executor.id))
    assert note.created_at == at("2026-12-07 15:45") and note.sent_at == at("2026-12-07 15:45")


def test_the_warning_follows_a_moved_deadline(app):
    t = friday_ticket(make_institution())
    t.priority = "urgent"
    sla.apply_priority(t)  # 4.5 working hours from Friday 17:00: Monday 12:30; warning at 75 %
    db.session.commit()
    assert t.resolution_due_at == at("2026-12-07 12:30")
    assert t.resolution_warn_at == sla.warning_moment(t, t.resolution_due_at) == at("2026-12-07 11:22")


def _night_warning(inst, created):
    """A round-the-clock policy (calendar time): 10 h to answer, so the warning (75 %) comes at 7.5 h."""
    cat = make_category(institution=inst, policy=make_policy(first=60, resolution=600, business_hours=False))
    t = make_ticket(institution=inst, category=cat, created_at=created, status="assigned")
    t.first_responded_at = created + timedelta(minutes=5)
    return t


def test_pushes_at_night_wait_for_the_institutions_hours_round_the_clock_ones_go_at_once(
        tg_config, fake_tg, hold, clock):
    office = make_institution(name="Управление ЖКХ")
    dispatch = make_institution(name="ЕДДС")
    dispatch.business_hours = sla.ROUND_THE_CLOCK
    office_exec, dispatch_exec = make_user("executor", institution=office), make_user("executor", institution=dispatch)
    office_exec.telegram_chat_id, dispatch_exec.telegram_chat_id = "7001", "7002"
    _night_warning(office, at("2026-12-05 20:00"))  # Saturday 20:00 → warning Sunday 03:30
    _night_warning(dispatch, at("2026-12-05 20:00"))
    db.session.commit()

    assert committed(escalation.sweep(clock(at("2026-12-06 03:30")))).warnings == 2
    assert len(fake_tg.messages_to("7002")) == 1  # the dispatch works round the clock
    assert fake_tg.messages_to("7001") == []
    held = db.session.scalar(db.select(Reply).where(Reply.address["chat_id"].as_string() == "7001"))
    assert held.state == "pending" and held.next_attempt_at == at("2026-12-07 09:00")  # Monday, the office opens

    for moment in ("2026-12-06 12:00", "2026-12-07 08:59"):
        for rid in replies.stale_pending(now=clock(at(moment))):
            replies.deliver(rid, now=at(moment))
    assert fake_tg.messages_to("7001") == []
    for rid in replies.stale_pending(now=clock(at("2026-12-07 09:00"))):
        replies.deliver(rid, now=at("2026-12-07 09:00"))
    assert len(fake_tg.messages_to("7001")) == 1 and len(fake_tg.messages_to("7002")) == 1
    # the in-app notifications were there all along, at the moment of the warning
    assert {n.created_at for n in db.session.scalars(db.select(Notification))} == {at("2026-12-06 03:30")}


def test_holding_can_be_turned_off(tg_config, fake_tg, clock):
    office = make_institution()
    make_user("executor", institution=office).telegram_chat_id = "7001"
    _night_warning(office, at("2026-12-05 20:00"))
    db.session.commit()
    assert committed(escalation.sweep(clock(at("2026-12-06 03:30")))).warnings == 1
    assert len(fake_tg.messages_to("7001")) == 1  # STAFF_PUSH_WORKING_HOURS_ONLY off (as in TestConfig): at once


# --- the kind: any start, any target, any hours -------------------------------------------------------
HOURS = ["09:00-13:00,14:00-18:00", "08:00-17:00", "08:30-12:30,13:30-17:30", "20:00-23:59"]
PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPS
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 11, 30)).map(
           lambda d: d.replace(second=0, microsecond=0, tzinfo=YAKT)),
       target=st.integers(min_value=15, max_value=30 * 9 * 60),
       hours=st.sampled_from(HOURS), percent=st.integers(min_value=1, max_value=99))
def test_the_warning_is_in_working_hours_and_before_the_deadline(app, start, target, hours, percent):
    inst = Institution(name="x", short_name="x", business_hours=hours)
    policy = make_policy(first=60, resolution=target, business_hours=True)
    policy.warning_percent = percent
    t = Ticket(created_at=start, institution=inst, category=make_category(policy=policy), regime="local")
    cal = sla.calendar_for(inst)
    due = cal.add_minutes(start, target)
    warn = sla.warning_moment(t, due)
    assert start < warn <= due
    assert cal.minutes_between(warn - MINUTE, warn) == 1  # the minute before the warning is working time
    assert cal.minutes_between(start, warn) == max(1, target * percent // 100)  # the share, in working time
    db.session.rollback()


def test_tickets_without_stored_warning_moments_get_them_from_the_sweep(tg_config, fake_tg, clock):
    """Rows from before the moments were stored (or bulk-inserted, like the demo seed): the sweep fills them in
    without touching the ticket's version or updated_at, and then warns at the working-time moment."""
    t = friday_ticket(make_institution())
    db.session.execute(db.update(Ticket).where(Ticket.id == t.id).values(resolution_warn_at=None,
                                                                         first_response_warn_at=None))
    db.session.commit()
    db.session.refresh(t)
    version, updated = t.version, t.updated_at
    assert committed(escalation.sweep(clock(at("2026-12-06 23:45")))).warnings == 0  # not the calendar share any more
    db.session.refresh(t)
    assert t.resolution_warn_at == at("2026-12-07 15:45") and t.version == version and t.updated_at == updated
    assert committed(escalation.sweep(clock(at("2026-12-07 15:45")))).warnings == 1
