"""A moderator marks a ticket urgent (or back to normal) on the ticket page; the deadlines follow."""
from datetime import datetime, timedelta, timezone

from app.extensions import db
from app.models import TicketEvent
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user

MONDAY_10 = datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc)  # Monday 10:00 in Belogorsk, a working day


def _ticket():
    cat = make_category("Дороги", policy=make_policy(first=120, resolution=24 * 60, business_hours=False))
    t = make_ticket("Яма на Ленина", category=cat, institution=make_institution(), created_at=MONDAY_10)
    t.status = "assigned"
    db.session.flush()
    return t


def test_urgent_halves_the_deadlines_and_back(login):
    t = _ticket()
    assert t.resolution_due_at == MONDAY_10 + timedelta(hours=24)
    client = login(make_user("moderator"))
    resp = client.post(f"/tickets/{t.number}/priority", data={"priority": "urgent", "version": t.version},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "Приоритет изменён" in resp.get_data(as_text=True)
    db.session.refresh(t)
    assert t.priority == "urgent"
    assert t.resolution_due_at == MONDAY_10 + timedelta(hours=12)
    assert t.first_response_due_at == MONDAY_10 + timedelta(hours=1)
    kinds = [e.kind for e in db.session.query(TicketEvent).filter_by(ticket_id=t.id).order_by(TicketEvent.id)]
    assert kinds[-3:] == ["priority", "deadline", "deadline"]
    html = client.get(f"/tickets/{t.number}").get_data(as_text=True)
    assert "Приоритет: Срочный (был: Обычный)" in html and "Срочное обращение: срок вдвое короче" in html
    client.post(f"/tickets/{t.number}/priority", data={"priority": "normal", "version": t.version})
    db.session.refresh(t)
    assert t.priority == "normal" and t.resolution_due_at == MONDAY_10 + timedelta(hours=24)


def test_only_moderators_change_priority_and_bad_values_are_refused(login):
    t = _ticket()
    executor = make_user("executor", institution=t.institution)
    resp = login(executor).post(f"/tickets/{t.number}/priority", data={"priority": "urgent", "version": t.version})
    assert resp.status_code == 422 and "только модератору" in resp.get_data(as_text=True)
    client = login(make_user("moderator"))
    resp = client.post(f"/tickets/{t.number}/priority", data={"priority": "panic", "version": t.version})
    assert resp.status_code == 422
    resp = client.post(f"/tickets/{t.number}/priority", data={"priority": "urgent", "version": t.version - 1})
    assert resp.status_code == 422 and "другой сотрудник" in resp.get_data(as_text=True)
    db.session.refresh(t)
    assert t.priority == "normal"
