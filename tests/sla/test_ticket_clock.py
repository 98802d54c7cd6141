"""One ticket's clock, to the minute: registration, a pause, a reassignment, a holiday, a breach, a reopen.

City hours 09:00–13:00, 14:00–18:00 (Asia/Yakutsk, UTC+9) on the Russian production calendar; the policy is
the social-network regime: first response 60 working minutes, resolution 540 (9 working hours).
"""
from datetime import datetime, timedelta, timezone

from app.extensions import db
from app.models import SlaMark, TicketEvent
from app.services import tickets, workflow
from app.services.sla import escalation
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user

YKT = timezone(timedelta(hours=9))


def at(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=YKT).astimezone(timezone.utc)


def local(d: datetime) -> str:
    return d.astimezone(YKT).strftime("%Y-%m-%d %H:%M")


def test_one_ticket_through_pause_reassignment_holiday_breach_and_reopen():
    water, roads = make_institution(name="МУП «Водоканал»"), make_institution(name="МКУ «Дорожное хозяйство»")
    cat = make_category("Водоснабжение", institution=water, policy=make_policy(first=60, resolution=540))
    mod = make_user("moderator")
    ex = make_user("executor", institution=roads)

    # Wednesday 30 Dec 2026, 16:30: 90 minutes of the day are left; 31 Dec and 1–10 Jan are days off.
    t = make_ticket("Нет воды на ул. Кирова, 45", category=cat, created_at=at("2026-12-30 16:30"))
    assert local(t.first_response_due_at) == "2026-12-30 17:30"
    assert local(t.resolution_due_at) == "2027-01-11 17:30"  # 90 min on 30.12, 7.5 h on Monday 11.01 (lunch)

    # Reassignment keeps the clock: the resident does not wait less because we moved the ticket.
    tickets.assign(t, water, mod, now=at("2026-12-30 16:40"))
    tickets.assign(t, roads, mod, now=at("2026-12-30 16:50"))
    assert local(t.resolution_due_at) == "2027-01-11 17:30"

    # The executor asks the resident for details at 17:00 on 30.12; the resident answers on 11.01 at 10:00.
    workflow.change_status(t, "in_progress", ex, now=at("2026-12-30 16:55"))
    workflow.change_status(t, "waiting_resident", ex, now=at("2026-12-30 17:00"))
    workflow.change_status(t, "in_progress", None, now=at("2027-01-11 10:00"))
    # 60 working minutes were left on 30.12 (17:00–18:00) plus 450 on 11.01: 510 min from 11.01 10:00
    assert local(t.resolution_due_at) == "2027-01-12 10:30"
    moved = db.session.scalars(db.select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                             TicketEvent.kind == "deadline")).all()
    assert len(moved) == 1 and "паузы" in moved[0].payload["reason"]

    # Nobody resolves it: the sweep on 12.01 at 10:31 records the breach once.
    db.session.flush()
    escalation.sweep(now=at("2027-01-12 10:31"))
    escalation.sweep(now=at("2027-01-12 10:45"))
    breaches = db.session.scalars(db.select(SlaMark).where(SlaMark.ticket_id == t.id,
                                                           SlaMark.kind == "resolution_breach")).all()
    assert len(breaches) == 1 and local(breaches[0].deadline_at) == "2027-01-12 10:30"

    # Resolved, then reopened by the resident on Friday 15.01 at 17:00: a new full target of 9 working hours.
    tickets.change_status(t, "resolved", ex, comment="Заменили участок трубы", now=at("2027-01-12 15:00"))
    workflow.change_status(t, "in_progress", mod, comment="Житель: воды нет", now=at("2027-01-15 17:00"))
    assert local(t.resolution_due_at) == "2027-01-18 18:00"  # 1 h on Friday, 8 h on Monday
    reasons = [e.payload["reason"] for e in db.session.scalars(db.select(TicketEvent).where(
        TicketEvent.ticket_id == t.id, TicketEvent.kind == "deadline").order_by(TicketEvent.id))]
    assert len(reasons) == 2 and "повторно" in reasons[1]
