"""The state machine: allowed transitions, reasons, events, SLA pause, optimistic version check."""
from datetime import datetime, timedelta, timezone

import pytest

from app.extensions import db
from app.services import tickets, workflow
from app.services.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from tests.factories import make_category, make_institution, make_ticket, make_user
from tests.helpers import events


def test_assign_then_work_then_resolve_records_each_step_with_actor():
    inst = make_institution()
    mod = make_user("moderator")
    ex = make_user("executor", institution=inst)
    t = make_ticket()
    tickets.assign(t, inst, mod)
    workflow.change_status(t, "in_progress", ex)
    tickets.change_status(t, "resolved", ex, comment="Фонарь заменён")
    db.session.flush()
    steps = [(e.payload.get("from"), e.payload.get("to"), e.actor_user_id) for e in events(t, "status")]
    assert steps == [("new", "assigned", mod.id), ("assigned", "in_progress", ex.id),
                     ("in_progress", "resolved", ex.id)]
    assert t.status == "resolved" and t.resolved_at is not None and t.first_responded_at is not None
    assert [e.kind for e in events(t)][:2] == ["created", "assigned"]


def test_forbidden_transition_is_refused_and_changes_nothing():
    t = make_ticket()
    mod = make_user("moderator")
    with pytest.raises(InvalidTransition) as exc:
        workflow.change_status(t, "closed", mod)
    assert "Новое" in exc.value.message and "Закрыто" in exc.value.message
    assert t.status == "new" and events(t, "status") == []


def test_rejection_needs_a_reason():
    t = make_ticket()
    mod = make_user("moderator")
    with pytest.raises(ValidationFailed):
        workflow.change_status(t, "rejected", mod)
    workflow.change_status(t, "rejected", mod, reason="thanks")
    assert t.status == "rejected" and t.reject_reason == "thanks"
    assert events(t, "status")[-1].payload["reason"] == "thanks"


def test_executor_may_not_reject_or_touch_other_institution():
    inst, other = make_institution(), make_institution()
    ex = make_user("executor", institution=inst)
    t = make_ticket(institution=inst, status="assigned")
    foreign = make_ticket(institution=other, status="assigned")
    assert "rejected" not in workflow.allowed_targets(ex, t)
    with pytest.raises(NotAllowed):
        workflow.change_status(t, "rejected", ex, reason="spam")
    assert workflow.allowed_targets(ex, foreign) == []
    with pytest.raises(NotAllowed):
        workflow.change_status(foreign, "in_progress", ex)


def test_stale_version_gets_a_conflict_not_an_overwrite():
    inst = make_institution()
    mod1, mod2 = make_user("moderator"), make_user("moderator")
    t = make_ticket()
    db.session.flush()
    seen = t.version  # both moderators opened the ticket at this version
    tickets.assign(t, inst, mod1, expected_version=seen)
    db.session.flush()
    assert t.version == seen + 1
    with pytest.raises(Conflict) as exc:
        workflow.change_status(t, "rejected", mod2, reason="spam", expected_version=seen)
    assert "другой сотрудник" in exc.value.message
    assert t.status == "assigned"


def test_waiting_for_resident_pauses_the_clock_and_moves_the_deadline():
    cat = make_category(policy=None)
    # Monday 2026-11-23 10:00 in Belogorsk (UTC+9) = 01:00 UTC
    start = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    t = make_ticket(category=cat, created_at=start)
    due = t.resolution_due_at
    mod = make_user("moderator")
    workflow.change_status(t, "in_progress", mod, now=start + timedelta(hours=1))
    workflow.change_status(t, "waiting_resident", mod, now=start + timedelta(hours=2))
    assert t.sla_paused_at is not None
    # resident answers the next working day, one full working day later
    workflow.change_status(t, "in_progress", mod, now=start + timedelta(days=1, hours=2))
    assert t.sla_paused_at is None
    assert t.resolution_due_at > due


def test_merge_links_duplicate_and_both_timelines_say_so():
    mod = make_user("moderator")
    main, dup = make_ticket("Нет воды на ул. Кирова"), make_ticket("Опять нет воды, Кирова 5")
    tickets.merge(dup, main, mod)
    db.session.flush()
    assert dup.status == "merged" and dup.duplicate_of_id == main.id
    assert events(main, "merged")[0].payload["source"] == dup.number
    with pytest.raises(ValidationFailed):
        tickets.merge(main, main, mod)


def test_reopen_after_resolution_clears_resolution_time():
    mod = make_user("moderator")
    t = make_ticket(institution=make_institution())
    workflow.change_status(t, "in_progress", mod)
    workflow.change_status(t, "resolved", mod)
    workflow.change_status(t, "in_progress", mod, comment="Житель: не решено")
    assert t.resolved_at is None and t.status == "in_progress"


def test_ticket_numbers_are_sequential_per_year_with_city_prefix():
    a, b = make_ticket(), make_ticket()
    pa, pb = a.number.rsplit("-", 1), b.number.rsplit("-", 1)
    assert pa[0] == pb[0] and pa[0].startswith("БЛГ-")
    assert int(pb[1]) == int(pa[1]) + 1


def test_overdue_is_the_same_in_python_and_sql():
    from app.models import Ticket, utcnow

    now = utcnow()
    mod = make_user("moderator")
    late = make_ticket("late", created_at=now - timedelta(days=30))
    paused_in_time = make_ticket("paused", created_at=now - timedelta(days=30))
    workflow.change_status(paused_in_time, "in_progress", mod, now=now - timedelta(days=30))
    workflow.change_status(paused_in_time, "waiting_resident", mod, now=now - timedelta(days=30))
    paused_late = make_ticket("paused late", created_at=now - timedelta(days=30))
    workflow.change_status(paused_late, "in_progress", mod, now=now - timedelta(days=29))
    workflow.change_status(paused_late, "waiting_resident", mod, now=now - timedelta(days=1))
    fresh = make_ticket("fresh")
    done = make_ticket("done", created_at=now - timedelta(days=30), status="closed")
    db.session.flush()
    expected = {late.id, paused_late.id}
    in_python = {t.id for t in (late, paused_in_time, paused_late, fresh, done) if t.is_overdue(now)}
    in_sql = set(db.session.scalars(db.select(Ticket.id).where(Ticket.is_overdue(now))))
    assert in_python == expected and in_sql == expected


def test_status_actions_are_offered_forward_first():
    inst = make_institution()
    mod = make_user("moderator")
    t = make_ticket(institution=inst)
    tickets.assign(t, inst, mod)
    assert workflow.allowed_targets(mod, t)[0] == "in_progress"
    assert workflow.allowed_targets(mod, t)[-1] == "rejected"
    with pytest.raises(ValidationFailed):
        tickets.assign(t, inst, mod)  # already there: said, not recorded twice
