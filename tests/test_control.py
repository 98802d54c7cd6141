"""Control orders (поручения): the rules in app/services/control.py."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.schedule import PERIODIC
from app.models import (
    ControlOrder,
    ControlOrderEvent,
    HotSpot,
    HotSpotTicket,
    Notification,
    TicketEvent,
    User,
    utcnow,
)
from app.services import access, control, timeline
from app.services.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from tests.factories import make_institution, make_ticket, make_user
from tests.support import wipe_tables


def _issue(head, inst, ticket=None, hot_spot=None, days=5, **kw):
    return control.issue(head, instruction=kw.pop("instruction", "Устранить до конца недели"),
                         institution_id=inst.id, due=kw.pop("due", utcnow() + timedelta(days=days)),
                         ticket=ticket, hot_spot=hot_spot, **kw)


def _hot_spot(tickets, inst=None):
    now = utcnow()
    spot = HotSpot(key=f"addr:{tickets[0].id}", kind="address", label="ул. Ленина, 12: освещение",
                   institution_id=inst.id if inst else None, ticket_count=len(tickets), open_count=len(tickets),
                   first_seen_at=now, last_seen_at=now)
    db.session.add(spot)
    db.session.flush()
    for t in tickets:
        db.session.add(HotSpotTicket(hot_spot_id=spot.id, ticket_id=t.id))
    db.session.flush()
    db.session.expire(spot)
    return spot


def control_events(ticket):
    return db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind == "control").order_by(TicketEvent.id)).all()


# --- issuing -------------------------------------------------------------------------------------------
def test_issue_validates_every_field_with_russian_messages():
    head = make_user("head")
    ticket = make_ticket()
    inactive = make_institution()
    inactive.is_active = False
    with pytest.raises(control.IssueInvalid) as e:
        control.issue(head, instruction="  ", institution_id=None, due=None)
    errors = e.value.errors
    assert errors == {"instruction": "Напишите текст поручения", "institution_id": "Выберите учреждение-исполнителя",
                      "due": "Укажите срок исполнения",
                      "target": "Поручение выдаётся по одному обращению или по одной горячей точке"}
    assert isinstance(e.value, ValidationFailed) and e.value.status_code == 422

    cases = [
        ({"instruction": "x" * 4001}, "instruction", "Текст поручения — не больше 4000 символов"),
        ({"institution_id": 987654}, "institution_id", "Учреждение не найдено или не работает"),
        ({"institution_id": inactive.id}, "institution_id", "Учреждение не найдено или не работает"),
        ({"due": utcnow() - timedelta(minutes=1)}, "due", "Срок уже прошёл: укажите срок в будущем"),
        ({"due": utcnow() + timedelta(days=400)}, "due", "Срок — не дальше чем через год"),
        ({"due": "31.02.2027"}, "due", "Укажите срок датой: ДД.ММ.ГГГГ, можно со временем ЧЧ:ММ"),
        ({"due": date(2020, 1, 1)}, "due", "Срок уже прошёл: укажите срок в будущем"),
    ]
    good = {"instruction": "Проверить", "institution_id": make_institution().id, "due": utcnow() + timedelta(days=3),
            "ticket": ticket}
    for change, field, message in cases:
        with pytest.raises(control.IssueInvalid) as e:
            control.issue(head, **{**good, **change})
        assert e.value.errors == {field: message}, change
    with pytest.raises(control.IssueInvalid) as e:
        control.issue(head, **good, hot_spot=_hot_spot([ticket]))
    assert set(e.value.errors) == {"target"}
    assert db.session.scalar(select(func.count(ControlOrder.id))) == 0


@pytest.mark.parametrize("role", ["moderator", "executor", "analyst"])
def test_only_head_and_admin_issue(role):
    inst = make_institution()
    with pytest.raises(NotAllowed):
        _issue(make_user(role), inst, ticket=make_ticket())
    assert _issue(make_user("admin"), inst, ticket=make_ticket()).state == "issued"


def test_a_date_deadline_is_the_end_of_that_working_day_in_city_time(app):
    head, inst = make_user("head"), make_institution()
    tz = ZoneInfo(app.config["CITY_TZ"])
    d = utcnow().astimezone(tz).date() + timedelta(days=10)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    order = _issue(head, inst, ticket=make_ticket(), due=d.strftime("%d.%m.%Y"))
    local = order.due_at.astimezone(tz)
    assert local.date() == d and local.hour == 18 and local.minute == 0
    naive = datetime.combine(d, datetime.min.time()).replace(hour=11)
    assert control.due_moment(naive).astimezone(tz).hour == 11
    assert control.due_moment(naive).tzinfo is not None and control.due_moment(naive).utcoffset() == timedelta(0)


def test_issue_writes_events_badge_and_notifies_the_institution():
    head, inst = make_user("head"), make_institution()
    ex1, ex2 = make_user("executor", institution=inst), make_user("executor", institution=inst)
    other = make_user("executor")
    ticket = make_ticket(institution=inst)
    assert ticket.on_control is False
    order = _issue(head, inst, ticket=ticket)
    assert ticket.on_control is True
    assert [e.kind for e in order.events] == ["issued"]
    (ev,) = control_events(ticket)
    assert ev.payload["step"] == "issued" and ev.payload["order_id"] == order.id and ev.actor_user_id == head.id
    notes = db.session.scalars(select(Notification).where(Notification.control_order_id == order.id)).all()
    assert {n.user_id for n in notes} == {ex1.id, ex2.id} and other.id not in {n.user_id for n in notes}
    assert all(n.kind == "control_issued" and ticket.number in n.text for n in notes)
    assert order.topic.startswith(ticket.number)


# --- the life cycle ------------------------------------------------------------------------------------
def test_whole_life_cycle_with_events_on_the_ticket_timeline():
    head, inst = make_user("head"), make_institution()
    executor = make_user("executor", institution=inst)
    ticket = make_ticket(institution=inst)
    order = _issue(head, inst, ticket=ticket)
    assert control.allowed_actions(executor, order) == ["accept"]
    assert control.allowed_actions(head, order) == ["cancel"]

    with pytest.raises(InvalidTransition):
        control.act(order, "report", executor, text="Сделано")
    with pytest.raises(NotAllowed):
        control.act(order, "accept", head)
    control.act(order, "accept", executor)
    assert order.state == "in_progress"
    with pytest.raises(ValidationFailed) as e:
        control.act(order, "report", executor, text="  ")
    assert e.value.field == "text" and e.value.message == "Напишите, что сделано по поручению"
    control.act(order, "report", executor, text="Фонарь заменён")
    assert order.state == "reported" and order.report == "Фонарь заменён" and order.reported_at
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == head.id, Notification.kind == "control_reported")) == 1
    with pytest.raises(ValidationFailed):
        control.act(order, "return", head)
    control.act(order, "return", head, text="Нет фотографии")
    assert order.state == "in_progress" and ticket.on_control
    control.act(order, "report", executor, text="Фото приложено")
    with pytest.raises(NotAllowed):
        control.act(order, "approve", executor)
    control.act(order, "approve", head)
    assert order.state == "done" and order.done_at is not None
    assert ticket.on_control is False
    assert control.allowed_actions(head, order) == [] and control.allowed_actions(executor, order) == []

    steps = [e.payload["step"] for e in control_events(ticket)]
    assert steps == ["issued", "accept", "report", "return", "report", "approve"]
    assert [e.kind for e in db.session.scalars(select(ControlOrderEvent).where(
        ControlOrderEvent.order_id == order.id).order_by(ControlOrderEvent.id))] == steps
    titles = [e.title for e in timeline.build(ticket) if e.title.startswith("Поручение") or "поручения" in e.title]
    assert f"Поручение № {order.id} возвращено на доработку" in titles
    assert f"Поручение № {order.id} исполнено: доклад принят" in titles
    bodies = [e.body for e in timeline.build(ticket)]
    assert "Причина: Нет фотографии" in bodies and "Фонарь заменён" in bodies


def test_moderator_acts_on_behalf_of_the_institution_and_cancel_needs_a_reason():
    head, inst = make_user("head"), make_institution()
    order = _issue(head, inst, ticket=make_ticket())
    moderator = make_user("moderator")
    assert control.allowed_actions(moderator, order) == ["accept"]
    control.act(order, "accept", moderator)
    with pytest.raises(ValidationFailed):
        control.act(order, "cancel", head, text="")
    control.act(order, "cancel", head, text="Вопрос решён иначе")
    assert order.state == "cancelled" and order.ticket.on_control is False
    with pytest.raises(InvalidTransition):
        control.act(order, "accept", moderator)


def test_executor_of_another_institution_cannot_see_or_act():
    head, inst = make_user("head"), make_institution()
    stranger = make_user("executor")
    order = _issue(head, inst, ticket=make_ticket())
    assert not access.can_view_order(stranger, order)
    from app.services.errors import NotFound

    with pytest.raises(NotFound):
        control.get(stranger, order.id)
    with pytest.raises(NotAllowed):
        control.act(order, "accept", stranger)
    assert control.list_orders(stranger).rows == []
    assert control.counts_by_state(stranger)["open"] == 0


def test_a_stale_form_gets_a_conflict():
    head, inst = make_user("head"), make_institution()
    executor = make_user("executor", institution=inst)
    order = _issue(head, inst, ticket=make_ticket())
    old = control.stamp(order)
    control.act(order, "accept", executor, expected_stamp=old, now=utcnow() + timedelta(seconds=1))
    with pytest.raises(Conflict):
        control.act(order, "cancel", head, text="причина", expected_stamp=old)


def test_on_control_follows_open_orders():
    head, inst = make_user("head"), make_institution()
    ticket = make_ticket()
    a = _issue(head, inst, ticket=ticket)
    b = _issue(head, inst, ticket=ticket)
    control.act(a, "cancel", head, text="дубль")
    assert ticket.on_control is True  # b is still open
    control.act(b, "accept", make_user("admin"))
    control.act(b, "report", make_user("moderator"), text="готово")
    control.act(b, "approve", head)
    assert ticket.on_control is False


def test_hot_spot_orders_write_to_every_ticket_of_the_spot():
    head, inst = make_user("head"), make_institution()
    tickets = [make_ticket(), make_ticket(), make_ticket()]
    lone = make_ticket()
    spot = _hot_spot(tickets, inst)
    order = _issue(head, inst, hot_spot=spot)
    assert order.ticket_id is None and order.hot_spot_id == spot.id and order.topic == spot.label
    for t in tickets:
        assert t.on_control is True
        assert [e.payload["step"] for e in control_events(t)] == ["issued"]
        assert order in control.orders_for_ticket(head, t)
    assert lone.on_control is False and control_events(lone) == []
    control.act(order, "cancel", head, text="снято")
    for t in tickets:
        assert t.on_control is False
        assert [e.payload["step"] for e in control_events(t)] == ["issued", "cancel"]
    assert control.orders_for_hot_spot(head, spot) == [order]


# --- lists and counts ----------------------------------------------------------------------------------
def test_counts_and_lists_by_state_institution_lateness():
    head, a, b = make_user("head"), make_institution(), make_institution()
    now = utcnow()
    o1 = _issue(head, a, ticket=make_ticket(), days=1)
    o2 = _issue(head, b, ticket=make_ticket(), days=2)
    o3 = _issue(head, a, ticket=make_ticket(), days=3)
    control.act(o3, "cancel", head, text="не нужно")
    o1.due_at = now - timedelta(hours=1)  # late
    db.session.flush()
    counts = control.counts_by_state(head, now)
    assert counts["issued"] == 2 and counts["cancelled"] == 1 and counts["open"] == 2 and counts["late"] == 1
    assert counts["done"] == 0
    assert [o.id for o in control.list_orders(head, now=now).rows] == [o1.id, o2.id, o3.id]
    assert [o.id for o in control.list_orders(head, state="open", now=now).rows] == [o1.id, o2.id]
    assert [o.id for o in control.list_orders(head, institution_id=a.id, now=now).rows] == [o1.id, o3.id]
    assert [o.id for o in control.list_orders(head, late=True, now=now).rows] == [o1.id]
    assert [o.id for o in control.list_orders(head, late=False, state="open", now=now).rows] == [o2.id]
    page = control.list_orders(head, limit=2, now=now)
    assert [o.id for o in page.rows] == [o1.id, o2.id] and page.next_cursor
    assert [o.id for o in control.list_orders(head, limit=2, cursor=page.next_cursor, now=now).rows] == [o3.id]
    with pytest.raises(ValidationFailed):
        control.list_orders(head, state="bogus")
    with pytest.raises(ValidationFailed):
        control.list_orders(head, cursor="!!!")
    executor = make_user("executor", institution=b)
    assert [o.id for o in control.list_orders(executor).rows] == [o2.id]
    assert control.is_late(o1, now) and not control.is_late(o2, now)
    for role in ("moderator", "analyst", "admin"):
        assert control.counts_by_state(make_user(role), now)["open"] == 2


# --- escalation ----------------------------------------------------------------------------------------
def test_sweep_late_escalates_each_late_open_order_once():
    head, other_head, inst = make_user("head"), make_user("head"), make_institution()
    executor = make_user("executor", institution=inst)
    now = utcnow()
    late = _issue(head, inst, ticket=make_ticket())
    on_time = _issue(head, inst, ticket=make_ticket())
    closed_late = _issue(head, inst, ticket=make_ticket())
    control.act(closed_late, "cancel", head, text="снято")
    late.due_at = closed_late.due_at = now - timedelta(hours=2)
    db.session.flush()
    before = db.session.scalar(select(func.count(Notification.id)))
    assert control.sweep_late(now) == [late.id]
    for _ in range(3):
        assert control.sweep_late(now + timedelta(minutes=5)) == []
    db.session.expire_all()
    assert late.escalated_at is not None and on_time.escalated_at is None and closed_late.escalated_at is None
    assert [e.kind for e in late.events][-1] == "late"
    assert [e.payload["step"] for e in control_events(late.ticket)][-1] == "late"
    assert "Поручение № %d просрочено" % late.id in [e.title.split(" (")[0] for e in timeline.build(late.ticket)]
    notes = db.session.scalars(select(Notification).where(Notification.kind == "control_late")).all()
    assert {n.user_id for n in notes} == {head.id, other_head.id, executor.id} and len(notes) == 3
    assert db.session.scalar(select(func.count(Notification.id))) == before + 3


def test_the_periodic_job_is_registered_every_five_minutes():
    assert any(p.path == "app.jobs.control.sweep_late" and p.every == 300 for p in PERIODIC)
    from app.jobs.control import sweep_late

    assert sweep_late() == {"escalated": 0}


@pytest.mark.no_db_rollback
def test_two_sessions_at_once_escalate_once(app):
    """Two transactions run the sweep at the same moment on PostgreSQL: each order is escalated once."""
    try:
        head, inst = make_user("head"), make_institution()
        make_user("executor", institution=inst)
        orders = [_issue(head, inst, ticket=make_ticket()) for _ in range(5)]
        for o in orders:
            o.due_at = utcnow() - timedelta(minutes=10)
        db.session.commit()
        barrier = threading.Barrier(2)
        results: list[list[int]] = []
        errors: list[BaseException] = []

        def worker():
            try:
                with app.app_context():
                    barrier.wait()
                    results.append(control.sweep_late())
                    db.session.commit()
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert sorted(i for r in results for i in r) == sorted(o.id for o in orders)
        assert db.session.scalar(select(func.count(ControlOrderEvent.id)).where(ControlOrderEvent.kind == "late")) == 5
        assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "control_late")) == 10
    finally:
        db.session.rollback()
        wipe_tables()


def test_describe_due_in_words():
    head, inst = make_user("head"), make_institution()
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    order = _issue(head, inst, ticket=make_ticket(), now=now, due=now + timedelta(days=3, hours=2))
    assert control.describe_due(order, now) == ("осталось 3 дня", "ok")
    assert control.describe_due(order, now + timedelta(days=3)) == ("осталось 2 ч", "soon")
    assert control.describe_due(order, now + timedelta(days=5)) == ("просрочено на 1 день", "late")


def test_demo_seed_adds_orders_in_several_states_once():
    from app.demo import seed

    seed.run(tickets=60, days=30, echo=lambda *a, **k: None)
    orders = db.session.scalars(select(ControlOrder)).all()
    states = {o.state for o in orders}
    assert {"issued", "in_progress", "reported", "done", "cancelled"} <= states
    assert all(o.issued_by.username == "head" for o in orders)
    for o in orders:
        assert o.ticket.on_control == (o.state in ("issued", "in_progress", "reported")) or o.ticket.on_control
        assert control_events(o.ticket)[0].payload["step"] == "issued"
    executor = db.session.scalar(select(User).where(User.username == "executor"))
    assert control.list_orders(executor, state="open").rows
    again = seed.run(tickets=60, days=30, echo=lambda *a, **k: None)
    assert again.created["control_orders"] == 0
    assert db.session.scalar(select(func.count(ControlOrder.id))) == len(orders)
