"""SLA escalation: warnings and breaches recorded once (two sweeps, two workers), notifications, the page."""
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from app import jobs
from app.extensions import db
from app.models import Notification, SlaMark, Ticket, TicketEvent, utcnow
from app.services import sla
from app.services.sla import escalation
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user
from tests.support import wipe_tables

ROOT = Path(__file__).resolve().parents[2]


def _ticket(inst, *, created_ago: timedelta, first: int = 60, resolution: int = 600, status="assigned"):
    """A ticket on a 24×7 policy (wall-clock deadlines) created `created_ago` before now."""
    cat = make_category(institution=inst, policy=make_policy(first=first, resolution=resolution,
                                                             business_hours=False))
    t = make_ticket(institution=inst, category=cat, created_at=utcnow() - created_ago, status=status)
    return t


def _marks(ticket=None):
    q = db.select(SlaMark.kind).order_by(SlaMark.kind)
    if ticket is not None:
        q = q.where(SlaMark.ticket_id == ticket.id)
    return list(db.session.scalars(q))


def _events(ticket, kind):
    return db.session.scalar(db.select(db.func.count(TicketEvent.id)).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind))


def _notes(user):
    return list(db.session.scalars(db.select(Notification).where(Notification.user_id == user.id)))


def test_warning_is_recorded_once_and_notifies_the_institutions_executors_only():
    inst, other = make_institution(), make_institution()
    ex1, ex2 = make_user("executor", institution=inst), make_user("executor", institution=inst)
    stranger = make_user("executor", institution=other)
    gone = make_user("executor", institution=inst)
    gone.is_active_user = False
    moderator = make_user("moderator")
    # first response answered; resolution 600 min, 500 min gone: past 75 %, before the deadline
    t = _ticket(inst, created_ago=timedelta(minutes=500))
    t.first_responded_at = t.created_at + timedelta(minutes=5)
    db.session.flush()

    res = escalation.sweep()
    assert (res.warnings, res.breaches) == (1, 0)
    assert _marks(t) == ["resolution_warning"]
    assert _events(t, "sla_warning") == 1
    ev = db.session.scalar(db.select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                        TicketEvent.kind == "sla_warning"))
    assert ev.payload["clock"] == "resolution"
    assert ev.payload["deadline"] == t.resolution_due_at.isoformat()
    assert len(_notes(ex1)) == len(_notes(ex2)) == 1
    assert t.number in _notes(ex1)[0].text and "Скоро срок решения" in _notes(ex1)[0].text
    assert _notes(stranger) == [] and _notes(gone) == [] and _notes(moderator) == []

    again = escalation.sweep()
    assert (again.warnings, again.breaches) == (0, 0)
    assert _marks(t) == ["resolution_warning"] and _events(t, "sla_warning") == 1
    assert len(_notes(ex1)) == 1


def test_breach_notifies_moderators_and_makes_a_problem_ticket():
    inst = make_institution()
    executor = make_user("executor", institution=inst)
    mods = [make_user("moderator"), make_user("moderator")]
    t = _ticket(inst, created_ago=timedelta(minutes=700))  # both deadlines passed, no first response
    calm = _ticket(inst, created_ago=timedelta(minutes=10))  # under the threshold: nothing

    res = escalation.sweep()
    assert (res.warnings, res.breaches) == (0, 2)  # a sweep that first sees it late records the breach only
    assert _marks(t) == ["first_response_breach", "resolution_breach"]
    assert _marks(calm) == []
    assert _events(t, "sla_breach") == 2
    for m in mods:
        assert sorted(n.kind for n in _notes(m)) == ["first_response_breach", "resolution_breach"]
    assert _notes(executor) == []
    from app.services import timeline

    titles = [e.title for e in timeline.build(t)]
    assert any(x.startswith("Просрочен срок решения (срок: ") for x in titles)
    assert any(x.startswith("Просрочен срок первого ответа") for x in titles)
    problems = db.session.scalars(escalation.problem_tickets(db.select(Ticket))).all()
    assert problems == [t]

    assert escalation.sweep().breaches == 0
    assert len(_notes(mods[0])) == 2


def test_first_response_clock_warns_then_breaches_until_answered():
    inst = make_institution()
    t = _ticket(inst, created_ago=timedelta(minutes=50), first=60, resolution=6000)
    now = utcnow()
    assert escalation.sweep(now=now).warnings == 1
    assert _marks(t) == ["first_response_warning"]
    assert escalation.sweep(now=now + timedelta(minutes=15)).breaches == 1
    assert _marks(t) == ["first_response_breach", "first_response_warning"]

    answered = _ticket(inst, created_ago=timedelta(minutes=70), first=60, resolution=6000)
    answered.first_responded_at = answered.created_at + timedelta(minutes=30)
    db.session.flush()
    escalation.sweep(now=now)
    assert _marks(answered) == []


def test_paused_ticket_is_not_escalated_and_a_moved_deadline_warns_again():
    inst = make_institution()
    t = _ticket(inst, created_ago=timedelta(minutes=500), status="in_progress")
    t.first_responded_at = t.created_at
    db.session.flush()
    now = utcnow()
    assert escalation.sweep(now=now).warnings == 1
    first_deadline = t.resolution_due_at

    sla.pause(t, now)
    t.status = "waiting_resident"
    db.session.flush()
    later = now + timedelta(hours=5)  # long past the old deadline, but the clock is stopped
    assert escalation.sweep(now=later) == escalation.SweepResult(0, 0)

    sla.resume(t, later)
    t.status = "in_progress"
    db.session.flush()
    assert t.resolution_due_at > first_deadline
    assert escalation.sweep(now=later).warnings == 1  # the moved deadline is a new fact
    deadlines = db.session.scalars(db.select(SlaMark.deadline_at).where(SlaMark.ticket_id == t.id)
                                   .order_by(SlaMark.deadline_at)).all()
    assert deadlines == [first_deadline, t.resolution_due_at]
    assert _events(t, "sla_warning") == 2


def test_closed_tickets_are_left_alone():
    inst = make_institution()
    _ticket(inst, created_ago=timedelta(minutes=700), status="resolved")
    _ticket(inst, created_ago=timedelta(minutes=700), status="rejected")
    assert escalation.sweep() == escalation.SweepResult(0, 0)


def test_small_batches_cover_everything():
    inst = make_institution()
    ts = [_ticket(inst, created_ago=timedelta(minutes=700)) for _ in range(5)]
    assert escalation.sweep(batch=3).breaches == 10
    assert all(len(_marks(t)) == 2 for t in ts)


def test_the_sweep_is_scheduled():
    from app.jobs.schedule import PERIODIC

    assert any(p.path == "app.jobs.escalation.sweep" and p.queue == "default" for p in PERIODIC)


@pytest.mark.no_db_rollback
def test_two_workers_at_once_record_each_fact_once(app, redis_url):
    """Real Redis and PostgreSQL: the job enqueued twice, two worker.py processes running at the same time."""
    try:
        inst = make_institution()
        make_user("executor", institution=inst)
        make_user("moderator")
        _breached = [_ticket(inst, created_ago=timedelta(minutes=700)) for _ in range(30)]
        warned = [_ticket(inst, created_ago=timedelta(minutes=500)) for _ in range(30)]
        for t in warned:
            t.first_responded_at = t.created_at
        db.session.commit()

        app.config["REDIS_URL"] = redis_url
        jobs.enqueue("app.jobs.escalation.sweep", queue="default", job_id="esc-1")
        jobs.enqueue("app.jobs.escalation.sweep", queue="default", job_id="esc-2")
        env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url,
               "SECRET_KEY": secrets.token_urlsafe(48)}  # the suite's own key is public: refused
        procs = [subprocess.Popen([sys.executable, "worker.py", "--burst", "default"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        db.session.expire_all()
        assert jobs.get_queue("default").count == 0
        from rq.registry import FailedJobRegistry

        assert FailedJobRegistry("default", connection=jobs.redis_connection()).count == 0
        from rq.job import Job
        from rq.serializers import JSONSerializer

        done = [Job.fetch(j, connection=jobs.redis_connection(), serializer=JSONSerializer).return_value()
                for j in ("esc-1", "esc-2")]
        assert sum(r["warnings"] for r in done) == 30 and sum(r["breaches"] for r in done) == 60
        kinds = db.session.execute(db.select(SlaMark.kind, db.func.count()).group_by(SlaMark.kind)).all()
        assert dict(kinds) == {"first_response_breach": 30, "resolution_breach": 30, "resolution_warning": 30}
        dup = db.session.execute(db.select(SlaMark.ticket_id, SlaMark.kind).group_by(SlaMark.ticket_id, SlaMark.kind)
                                 .having(db.func.count() > 1)).all()
        assert dup == []
        assert db.session.scalar(db.select(db.func.count(TicketEvent.id))
                                 .where(TicketEvent.kind.in_(("sla_warning", "sla_breach")))) == 90
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 90  # one executor, one moderator
    finally:
        app.config["REDIS_URL"] = None
        db.session.rollback()
        wipe_tables()


def _note(user, text, read=False, ticket=None):
    n = Notification(user_id=user.id, ticket_id=ticket.id if ticket else None, kind="resolution_warning",
                     text=text, read_at=utcnow() if read else None)
    db.session.add(n)
    db.session.flush()
    return n


def test_notifications_page_shows_own_and_marks_them_read(login):
    inst = make_institution()
    me = make_user("executor", institution=inst)
    other = make_user("moderator")
    t = _ticket(inst, created_ago=timedelta(minutes=1))
    _note(me, "Обращение А: скоро срок решения", ticket=t)
    _note(me, "Старое уведомление", read=True)
    _note(other, "Чужое уведомление")
    client = login(me)

    page = client.get("/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Обращение А: скоро срок решения" in html and "Старое уведомление" in html
    assert "Чужое уведомление" not in html
    assert html.count('class="note unread"') == 1
    assert "Отметить прочитанными" in html

    assert 'name="csrf_token"' in html  # the form carries the token (CSRF is off in tests)

    resp = client.post("/notifications/read", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "Старое уведомление" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert all(n.read_at is not None for n in _notes(me))
    assert all(n.read_at is None for n in _notes(other))


def test_notifications_page_needs_login(client):
    assert client.get("/notifications").status_code == 302


def test_old_lateness_is_recorded_but_not_pushed_to_people():
    """The first sweep after deployment must not flood moderators with every old breach."""
    make_user("moderator")
    old = make_ticket("Старая яма", created_at=utcnow() - timedelta(days=60))
    db.session.commit()
    escalation.sweep()
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(SlaMark.id)).where(SlaMark.ticket_id == old.id)) >= 1
    assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0


def test_top_bar_shows_the_unread_count(login):
    user = make_user("moderator")
    t = make_ticket("Яма")
    db.session.add_all([Notification(user_id=user.id, ticket_id=t.id, kind="resolution_breach", text="x"),
                        Notification(user_id=user.id, ticket_id=t.id, kind="resolution_breach", text="y")])
    page = login(user).get("/queue").get_data(as_text=True)
    assert '<b class="count">2</b>' in page
