"""The executor's /my: countdowns, inline actions over HTMX, this month's SLA summary."""
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Ticket, TicketEvent, utcnow
from tests.factories import make_institution, make_ticket, make_user
from tests.helpers import body

HX = {"HX-Request": "true"}


def row_of(html, ticket):
    m = re.search(rf'<tr id="row-{ticket.id}".*?</tr>', html, re.S)
    assert m, ticket.number
    return m.group(0)


def make(inst, status="in_progress", due=None, **kw):
    t = make_ticket(institution=inst, **kw)
    t.status = status
    if due is not None:
        t.resolution_due_at = due
    return t


def test_executor_sees_countdowns_nearest_deadline_first(login):
    inst = make_institution()
    now = utcnow()
    late = make(inst, due=now - timedelta(days=2, hours=3))
    paused = make(inst, status="waiting_resident", due=now + timedelta(days=3))
    paused.sla_paused_at = now - timedelta(hours=1)
    far = make(inst, status="assigned", due=now + timedelta(days=30))
    html = body(login(make_user("executor", institution=inst)).get("/my"))
    assert "просрочено на 2 дня" in row_of(html, late)
    assert "на паузе: ждём жителя" in row_of(html, paused)
    assert re.search(r"осталось \d+ рабоч(ий день|их дня|их дней)<", row_of(html, far))
    assert html.index(late.number) < html.index(paused.number) < html.index(far.number)


def test_inline_accept_rerenders_the_row(login):
    inst = make_institution()
    t = make(inst, status="assigned")
    client = login(make_user("executor", institution=inst))
    row = row_of(body(client.get("/my")), t)
    assert "Принять в работу" in row and "Решено" in row and "Вернуть модератору" in row
    assert 'hx-post="/my/' in row and 'hx-target="#row-' in row
    resp = client.post(f"/my/{t.number}/status", data={"status": "in_progress", "version": t.version}, headers=HX)
    assert resp.status_code == 200
    html = body(resp)
    assert f'id="row-{t.id}"' in html and "<html" not in html
    assert "Статус изменён: В работе" in html and "Запросить уточнение" in html
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "in_progress"


def test_resolution_and_return_need_a_comment(login):
    inst = make_institution()
    t = make(inst)
    client = login(make_user("executor", institution=inst))
    for status in ("resolved", "new"):
        resp = client.post(f"/my/{t.number}/status", data={"status": status, "version": t.version}, headers=HX)
        assert resp.status_code == 422 and 'role="alert"' in body(resp) and f'id="row-{t.id}"' in body(resp)
        assert "<details class=\"inline-form\" open>" in body(resp)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "in_progress"
    resp = client.post(f"/my/{t.number}/status", headers=HX,
                       data={"status": "resolved", "version": t.version, "comment": "Фонарь заменён"})
    assert resp.status_code == 200 and "Решено" in body(resp)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "resolved"
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "status")
                              .order_by(TicketEvent.id.desc()))
    assert event.payload["comment"] == "Фонарь заменён"


def test_stale_version_and_moderator_only_actions_are_refused_in_the_row(login):
    inst = make_institution()
    t = make(inst)
    client = login(make_user("executor", institution=inst))
    stale = client.post(f"/my/{t.number}/status", data={"status": "waiting_resident", "version": 999}, headers=HX)
    assert stale.status_code == 422 and 'role="alert"' in body(stale)
    closing = client.post(f"/my/{t.number}/status", data={"status": "closed", "version": t.version}, headers=HX)
    assert closing.status_code == 422
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "in_progress"


def test_without_javascript_the_action_redirects_back(login):
    inst = make_institution()
    t = make(inst, status="assigned")
    client = login(make_user("executor", institution=inst))
    resp = client.post(f"/my/{t.number}/status", data={"status": "in_progress", "version": t.version})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/my")


def test_executor_cannot_act_on_another_institutions_ticket(login):
    mine, other = make_institution(), make_institution()
    foreign = make(other, status="assigned")
    client = login(make_user("executor", institution=mine))
    assert foreign.number not in body(client.get("/my"))
    resp = client.post(f"/my/{foreign.number}/status", data={"status": "in_progress", "version": foreign.version},
                       headers=HX)
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(Ticket, foreign.id).status == "assigned"


def test_moderators_have_no_workspace(login):
    t = make(make_institution())
    client = login(make_user("moderator"))
    assert client.get("/my").status_code == 403
    assert client.post(f"/my/{t.number}/status", data={"status": "in_progress", "version": 1}).status_code == 403


def test_summary_matches_the_counts(login, monkeypatch):
    """The month is the city's: on the first hours of a city month (UTC evening of the month's last day) tickets
    resolved an hour ago belong to the previous month, so the page's clock is pinned to the middle of a month."""
    from app.blueprints.workspace import routes as workspace_routes
    from app.services.workspace import month_start

    inst, other = make_institution(), make_institution()
    now = month_start(utcnow()) + timedelta(days=14, hours=5)
    monkeypatch.setattr(workspace_routes, "utcnow", lambda: now)
    for i, late in enumerate([False, False, True]):  # resolved this month: two on time, one late
        t = make(inst, status="resolved", due=now - timedelta(minutes=30))
        t.resolved_at = now - timedelta(minutes=60 if not late else 10 - i)
    closed = make(inst, status="closed", due=now - timedelta(minutes=30))
    closed.resolved_at = now - timedelta(minutes=40)  # resolved on time, closed since: counts
    old = make(inst, status="closed", due=now - timedelta(days=70))
    old.resolved_at = now - timedelta(days=60)  # an earlier month: does not count
    make(inst, due=now - timedelta(hours=2))  # open and overdue
    make(inst, due=now + timedelta(days=5))  # open, in time
    make(other, due=now - timedelta(hours=2))  # someone else's
    client = login(make_user("executor", institution=inst))
    html = body(client.get("/my"))

    db.session.expire_all()
    rows = list(db.session.scalars(select(Ticket).where(Ticket.institution_id == inst.id)))
    since = month_start(now)
    resolved = [t for t in rows if t.resolved_at and t.resolved_at >= since]
    on_time = [t for t in resolved if t.resolved_at <= t.resolution_due_at]
    overdue = [t for t in rows if t.is_overdue(now)]
    assert (len(resolved), len(on_time), len(overdue)) == (4, 3, 1)
    assert re.search(r'id="sum-resolved">\s*4<', html)
    assert re.search(r'id="sum-percent">\s*75 %', html) and "3 из 4" in html
    assert re.search(r'id="sum-overdue">\s*1<', html)


@pytest.mark.parametrize("number", ["БЛГ-2026-000042", "IMP 7/2025", "a?b#c%d", "x&y=z;@!", "ё ъ"])
def test_row_links_are_the_addresses_url_for_gives(app, number):
    """The rows build their links from a pattern made once a request: the same addresses as url_for, whatever the
    ticket number holds."""
    from flask import url_for

    from app.urls import path_pattern

    with app.test_request_context("/my"):
        for endpoint in ("tickets.detail", "workspace.act"):
            assert path_pattern(endpoint, "number")(number) == url_for(endpoint, number=number)


def test_each_row_links_its_ticket_and_posts_to_its_own_actions(login):
    inst = make_institution()
    tickets = [make(inst, due=utcnow() + timedelta(days=i + 1)) for i in range(3)]
    html = body(login(make_user("executor", institution=inst)).get("/my"))
    for t in tickets:
        row = row_of(html, t)
        assert f'href="/tickets/{quote(t.number)}"' in row and f'action="/my/{quote(t.number)}/status"' in row


def _overdue_by_hand(inst, now):
    db.session.expire_all()
    return sum(t.is_overdue(now) for t in db.session.scalars(select(Ticket).where(Ticket.institution_id == inst.id)))


def _shown_overdue(client):
    m = re.search(r'id="sum-overdue">\s*(\d+)<', body(client.get("/my")))
    assert m
    return int(m.group(1))


def test_overdue_count_follows_every_change_at_once(login):
    """The overdue count is kept by a trigger on tickets (migration 0033): the page shows the new count right after
    each kind of change — a status change, a reassignment, a deadline moved, a pause, a merge, a delete, an
    insert, TRUNCATE — always equal to a count of the tickets by Ticket.is_overdue."""
    from app.services.workspace import kept

    inst, other = make_institution(), make_institution()
    now = utcnow()
    a = make(inst, due=now - timedelta(hours=2))
    b = make(inst, status="new", due=now - timedelta(days=3))
    c = make(inst, due=now + timedelta(days=5))
    d = make(inst, status="waiting_resident", due=now - timedelta(hours=1))
    d.sla_paused_at = now - timedelta(minutes=30)  # paused after its deadline: late
    e = make(inst, status="assigned", due=now - timedelta(seconds=30))
    make(other, due=now - timedelta(hours=2))
    client = login(make_user("executor", institution=inst))
    if not kept():
        pytest.skip("the counts are kept on PostgreSQL only")

    def check(expected):
        db.session.commit()
        assert _shown_overdue(client) == _overdue_by_hand(inst, utcnow()) == expected

    check(4)
    a.status = "resolved"
    check(3)
    b.institution_id = other.id
    check(2)
    c.resolution_due_at = utcnow() - timedelta(hours=1)
    check(3)
    c.status, c.sla_paused_at = "waiting_resident", utcnow() - timedelta(hours=2)  # paused before its deadline
    check(2)
    e.status = "merged"
    check(1)
    d.status = "in_progress"  # resumed: its deadline is past
    check(1)
    d.resolution_due_at = utcnow() + timedelta(days=2)  # the pause moved the deadline
    check(0)
    make(inst, status="new", due=utcnow() - timedelta(minutes=5))
    check(1)
    f = make(inst, status="new", due=utcnow() - timedelta(days=40))
    check(2)
    db.session.execute(Message.__table__.update().where(Message.ticket_id == f.id).values(ticket_id=None))
    db.session.execute(TicketEvent.__table__.delete().where(TicketEvent.ticket_id == f.id))
    db.session.execute(Ticket.__table__.delete().where(Ticket.id == f.id))
    check(1)
    db.session.execute(db.text("TRUNCATE tickets CASCADE"))
    check(0)
    make(inst, status="assigned", due=utcnow() - timedelta(days=2))
    check(1)


def test_compaction_and_rebuild_keep_the_counts(login):
    """Many changes leave many signed rows; folding them (a reader does past a few hundred) or rebuilding them
    from the tickets changes no count, now or later."""
    from app.models import WorkspaceLateCount
    from app.services import workspace

    inst = make_institution()
    now = utcnow()
    made = [make(inst, status="new", due=now + timedelta(hours=h)) for h in (-100, -30, -2, 0, 1, 30)]
    for _ in range(4):  # each round a signed row for every ticket (resolved, then open again)
        for t in made:
            t.status = "resolved" if t.status == "new" else "new"
        db.session.flush()
    client = login(make_user("executor", institution=inst))
    if not workspace.kept():
        pytest.skip("the counts are kept on PostgreSQL only")
    rows = lambda: db.session.scalar(select(db.func.count()).select_from(WorkspaceLateCount)  # noqa: E731
                                     .where(WorkspaceLateCount.institution_id == inst.id))
    moments = [now, now + timedelta(minutes=90), now + timedelta(days=2)]
    before = [workspace.summary(inst.id, m)["overdue"] for m in moments]
    assert before == [_overdue_by_hand(inst, m) for m in moments] == [3, 5, 6]
    many = rows()
    workspace.compact(inst.id, db.session.connection())
    assert rows() < many
    assert [workspace.summary(inst.id, m)["overdue"] for m in moments] == before
    workspace.rebuild(db.session.connection())
    assert [workspace.summary(inst.id, m)["overdue"] for m in moments] == before
    db.session.commit()
    assert _shown_overdue(client) == _overdue_by_hand(inst, utcnow()) == 4  # the ticket due at `now` is late
    # a moment long past (its hours may have been folded) is counted live
    past = now - timedelta(days=4)
    assert workspace.summary(inst.id, past)["overdue"] == _overdue_by_hand(inst, past) == 1
