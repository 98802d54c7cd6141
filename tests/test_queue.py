"""The moderator queue: filters, keyset pages, HTMX fragments, live arrivals, bulk actions."""
import re
from datetime import timedelta

from app.extensions import db
from app.models import Ticket, TicketEvent, utcnow
from tests.factories import make_category, make_institution, make_ticket, make_user
from tests.helpers import body


def test_filters_narrow_the_list(login):
    inst, other = make_institution(), make_institution()
    cat = make_category("Уличное освещение")
    lamp = make_ticket("Не горит фонарь на Кирова", institution=inst, category=cat, network="telegram")
    pit = make_ticket("Яма на Партизанской", institution=other, network="vk")
    client = login(make_user("moderator"))
    cases = {
        f"/queue?institution={inst.id}": (lamp, pit),
        f"/queue?category={cat.id}": (lamp, pit),
        "/queue?network=vk": (pit, lamp),
        "/queue?q=яма": (pit, lamp),
        f"/queue?q={lamp.number}": (lamp, pit),
        f"/queue?direction={other.direction_id}": (pit, lamp),
    }
    for url, (shown, hidden) in cases.items():
        text = body(client.get(url))
        assert shown.number in text and hidden.number not in text, url


def test_status_and_overdue_filters(login):
    mod = make_user("moderator")
    late = make_ticket("Просроченное", created_at=utcnow() - timedelta(days=20))
    fresh = make_ticket("Свежее")
    done = make_ticket("Закрытое", status="closed")
    client = login(mod)
    default = body(client.get("/queue"))
    assert late.number in default and fresh.number in default and done.number not in default
    overdue = body(client.get("/queue?overdue=y"))
    assert late.number in overdue and fresh.number not in overdue
    closed = body(client.get("/queue?status=closed"))
    assert done.number in closed and fresh.number not in closed


def test_bad_filter_values_get_a_message_and_the_default_view(login):
    t = make_ticket()
    client = login(make_user("moderator"))
    for url in ("/queue?status=nonsense", "/queue?institution=abc", "/queue?institution=999999",
                "/queue?sort=drop+table", "/queue?cursor=%%%garbage", "/queue?q=" + "я" * 500):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert t.number in body(resp), url
    assert "error" in body(client.get("/queue?institution=abc"))
    assert 'class="error"' not in body(client.get("/queue"))  # the default view has nothing to complain about


def test_keyset_pages_cover_every_ticket_once(app, login):
    made = [make_ticket(f"Обращение {i}", created_at=utcnow() - timedelta(minutes=i)) for i in range(7)]
    client = login(make_user("moderator"))
    app.config["QUEUE_PAGE_SIZE"] = 3
    try:
        seen, url = [], "/queue?sort=new"
        import re
        for _ in range(5):
            text = body(client.get(url))
            for n in re.findall(r"БЛГ-\d{4}-\d{6}", text):
                if n not in seen:
                    seen.append(n)
            nxt = re.search(r'class="next" href="([^"]+)"', text)
            if not nxt:
                break
            url = nxt.group(1).replace("&amp;", "&")
    finally:
        app.config["QUEUE_PAGE_SIZE"] = 50
    assert seen == [t.number for t in made]  # newest first, no gaps, no repeats


def test_htmx_request_gets_only_the_fragment(login):
    make_ticket()
    client = login(make_user("moderator"))
    full = client.get("/queue")
    part = client.get("/queue", headers={"HX-Request": "true"})
    assert "<html" in body(full) and "<html" not in body(part)
    assert 'id="rows"' in body(part)
    assert "HX-Request" in part.headers["Vary"]
    boosted = client.get("/queue", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in body(boosted)


def test_new_arrivals_come_to_the_open_queue(login):
    first = make_ticket("Первое")
    client = login(make_user("moderator"))
    assert "afterbegin:#rows" not in body(client.get(f"/queue/arrivals?after={first.id}"))
    second = make_ticket("Второе, пришло позже")
    db.session.commit()
    text = body(client.get(f"/queue/arrivals?after={first.id}"))
    assert second.number in text and first.number not in text
    assert f"after={second.id}" in text  # the poller moves on


def test_bulk_assign_changes_rows_and_records_events(login):
    inst = make_institution(name="АО «Горэлектросеть»")
    a, b = make_ticket("Фонарь"), make_ticket("Ещё фонарь")
    client = login(make_user("moderator"))
    resp = client.post("/queue/bulk", data={"action": "assign", "institution_id": inst.id, "ids": [a.id, b.id]},
                       headers={"HX-Request": "true"})
    text = body(resp)
    assert resp.status_code == 200 and "Изменено: 2" in text
    assert 'hx-swap-oob="true"' in text and "Горэлектросеть" in text
    db.session.expire_all()
    for t in (a, b):
        t = db.session.get(Ticket, t.id)
        assert t.status == "assigned" and t.institution_id == inst.id
        kinds = db.session.scalars(db.select(TicketEvent.kind).where(TicketEvent.ticket_id == t.id)).all()
        assert "assigned" in kinds


def test_bulk_reject_needs_reason_and_skips_what_cannot_change(login):
    a = make_ticket("Спасибо!")
    closed = make_ticket("Старое", status="closed")
    client = login(make_user("moderator"))
    resp = client.post("/queue/bulk", data={"action": "reject", "ids": [a.id]})
    assert resp.status_code == 422 and "причину" in body(resp)
    resp = client.post("/queue/bulk", data={"action": "reject", "reason": "thanks", "ids": [a.id, closed.id]})
    text = body(resp)
    assert "Изменено: 1" in text and "пропущено: 1" in text and closed.number in text
    db.session.expire_all()
    assert db.session.get(Ticket, a.id).status == "rejected"
    assert db.session.get(Ticket, closed.id).status == "closed"


def test_bulk_merge_into_unknown_number_is_explained(login):
    a = make_ticket()
    client = login(make_user("moderator"))
    resp = client.post("/queue/bulk", data={"action": "merge", "merge_into": "БЛГ-1999-000001", "ids": [a.id]})
    assert resp.status_code == 422 and "не найдено" in body(resp)


def test_bulk_without_selection_says_so(login):
    client = login(make_user("moderator"))
    resp = client.post("/queue/bulk", data={"action": "category", "category_id": make_category().id})
    assert resp.status_code == 422 and "Отметьте" in body(resp)


def _sla_tickets():
    now = utcnow()
    late = make_ticket("Просроченное по сроку")
    late.status, late.resolution_due_at = "in_progress", now - timedelta(hours=3)
    soon = make_ticket("Срок вот-вот")
    soon.status, soon.resolution_due_at = "in_progress", now + timedelta(minutes=1)
    paused = make_ticket("Ждём жителя")
    paused.status, paused.sla_paused_at, paused.resolution_due_at = ("waiting_resident", now,
                                                                      now + timedelta(days=3))
    far = make_ticket("Срок далеко")
    far.status, far.resolution_due_at = "assigned", now + timedelta(days=30)
    return late, soon, paused, far


def test_sla_filter_values(login):
    late, soon, paused, far = _sla_tickets()
    client = login(make_user("moderator"))
    cases = {"overdue": {late}, "soon": {soon}, "paused": {paused}, "": {late, soon, paused, far}}
    for value, shown in cases.items():
        text = body(client.get(f"/queue?sla={value}"))
        for t in (late, soon, paused, far):
            assert (t.number in text) == (t in shown), (value, t.summary)
    old = body(client.get("/queue?overdue=y"))  # the old URL still works, and the select says so
    assert late.number in old and soon.number not in old
    assert '<option selected value="overdue">' in old


def test_queue_rows_show_sla_badges(login):
    late, soon, paused, far = _sla_tickets()
    text = body(login(make_user("moderator")).get("/queue"))

    def row(t):
        return re.search(rf'<tr id="row-{t.id}".*?</tr>', text, re.S).group(0)
    assert "sla-overdue" in row(late) and "просрочено" in row(late)
    assert "sla-soon" in row(soon) and "скоро срок" in row(soon)
    assert "sla-paused" in row(paused) and "на паузе" in row(paused)
    assert "sla-ok" in row(far) and "просрочено" not in row(far) and "скоро срок" not in row(far)


def test_bad_sla_value_gets_a_message_and_the_default_view(login):
    late, soon, paused, far = _sla_tickets()
    client = login(make_user("moderator"))
    for url in ("/queue?sla=nonsense", "/queue?sla=" + "x" * 300, "/queue?sla=soon%27+or+1%3D1"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert far.number in body(resp) and late.number in body(resp), url
    assert 'class="error"' in body(client.get("/queue?sla=nonsense"))
