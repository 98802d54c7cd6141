"""Control orders in the UI: /control, /control/<id>, issuing from a ticket, the executor's workspace."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import ControlOrder, HotSpot, HotSpotTicket, utcnow
from app.services import control
from tests.factories import make_institution, make_ticket, make_user
from tests.helpers import body

HX = {"HX-Request": "true"}


def _issue(head, inst, ticket, days=5):
    return control.issue(head, instruction="Заменить фонарь во дворе", institution_id=inst.id,
                         due=utcnow() + timedelta(days=days), ticket=ticket)


def _due_text(days=7):
    return (utcnow() + timedelta(days=days)).strftime("%Y-%m-%d")


# --- issuing from the ticket page --------------------------------------------------------------------
def test_head_sees_the_issue_form_on_the_ticket_and_issues_an_order(login):
    head, inst = make_user("head"), make_institution()
    ticket = make_ticket(institution=inst)
    client = login(head)
    html = body(client.get(f"/tickets/{ticket.number}"))
    assert 'id="issue-order"' in html and "Дать поручение" in html
    assert f'name="ticket_id" value="{ticket.id}"' in html
    assert re.search(rf'<option value="{inst.id}" selected>', html)  # the ticket's institution by default
    assert "На контроле" not in html

    resp = client.post("/control/new", headers=HX, data={"ticket_id": ticket.id, "institution_id": inst.id,
                                                         "instruction": "Заменить фонарь", "due": _due_text()})
    assert resp.status_code == 200, body(resp)
    html = body(resp)
    order = db.session.scalar(select(ControlOrder))
    assert f"/control/{order.id}" in html and "Поручение выдано" in html
    assert 'id="t-on-control" hx-swap-oob="true"' in html and "На контроле" in html
    assert 'id="ticket-orders" hx-swap-oob="true"' in html
    page = body(client.get(f"/tickets/{ticket.number}"))
    assert "На контроле" in page and f"/control/{order.id}" in page and "Выдано" in page
    assert f"Поручение главы № {order.id} выдано" in page  # the timeline


def test_issue_errors_are_shown_by_field_with_422(login):
    head = make_user("head")
    ticket = make_ticket()
    client = login(head)
    cases = [
        ({}, ["Напишите текст поручения", "Выберите учреждение-исполнителя", "Укажите срок исполнения"]),
        ({"instruction": "x" * 4001, "institution_id": "abc", "due": "вчера"},
         ["Учреждение не найдено или не работает"]),
        ({"instruction": "x" * 4001, "institution_id": make_institution().id, "due": "вчера"},
         ["Текст поручения — не больше 4000 символов", "Укажите срок датой"]),
        ({"instruction": "Сделать", "institution_id": "99999999", "due": "01.01.2020"},
         ["Учреждение не найдено или не работает", "Срок уже прошёл"]),
        ({"instruction": "Сделать", "institution_id": make_institution().id,
          "due": (utcnow() + timedelta(days=500)).strftime("%d.%m.%Y")}, ["Срок — не дальше чем через год"]),
        ({"instruction": "Сделать", "institution_id": "-5", "due": "2027-13-45"}, ["Учреждение не найдено"]),
    ]
    for data, messages in cases:
        resp = client.post("/control/new", headers=HX, data={"ticket_id": ticket.id, **data})
        assert resp.status_code == 422, (data, body(resp))
        html = body(resp)
        assert 'id="issue-order"' in html
        for m in messages:
            assert m in html, (data, m)
    # without JavaScript: a page with the form and its errors
    resp = client.post("/control/new", data={"ticket_id": ticket.id})
    assert resp.status_code == 422 and "Напишите текст поручения" in body(resp) and "<html" in body(resp)
    assert db.session.scalar(select(ControlOrder)) is None
    # no target at all; unknown ticket or hot spot
    resp = client.post("/control/new", headers=HX, data={"instruction": "x", "institution_id": ticket.id})
    assert resp.status_code == 422 and "по одному обращению или по одной горячей точке" in body(resp)
    assert client.post("/control/new", headers=HX, data={"ticket_id": "999999"}).status_code == 404
    assert client.post("/control/new", headers=HX, data={"hot_spot_id": "x1"}).status_code == 404


def test_who_may_issue(login):
    ticket = make_ticket()
    inst = make_institution()
    for role in ("moderator", "analyst"):
        client = login(make_user(role))
        assert "Дать поручение" not in body(client.get(f"/tickets/{ticket.number}"))
        resp = client.post("/control/new", data={"ticket_id": ticket.id, "institution_id": inst.id,
                                                 "instruction": "x", "due": _due_text()})
        assert resp.status_code == 403
    client = login(make_user("admin"))
    assert "Дать поручение" in body(client.get(f"/tickets/{ticket.number}"))
    resp = client.post("/control/new", data={"ticket_id": ticket.id, "institution_id": inst.id,
                                             "instruction": "x", "due": _due_text()})
    order = db.session.scalar(select(ControlOrder))
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/control/{order.id}")


def test_issue_from_a_hot_spot(login):
    head, inst = make_user("head"), make_institution()
    tickets = [make_ticket(), make_ticket()]
    now = utcnow()
    spot = HotSpot(key="addr:test", kind="address", label="ул. Ленина, 12", institution_id=inst.id,
                   first_seen_at=now, last_seen_at=now)
    db.session.add(spot)
    db.session.flush()
    db.session.add_all([HotSpotTicket(hot_spot_id=spot.id, ticket_id=t.id) for t in tickets])
    client = login(head)
    resp = client.post("/control/new", headers=HX, data={"hot_spot_id": spot.id, "institution_id": inst.id,
                                                         "instruction": "Разобраться", "due": _due_text()})
    assert resp.status_code == 200 and "hx-swap-oob" not in body(resp)
    order = db.session.scalar(select(ControlOrder))
    assert order.hot_spot_id == spot.id
    html = body(client.get(f"/control/{order.id}"))
    assert "ул. Ленина, 12" in html
    for t in tickets:
        db.session.refresh(t)
        assert t.on_control
        assert f"Поручение главы № {order.id} выдано" in body(client.get(f"/tickets/{t.number}"))
    # the partial renders on a hot spot page with only `hot_spot`
    from flask import render_template

    with client.application.test_request_context():
        from flask_login import login_user

        login_user(head)
        html = render_template("control/_issue_form.html", hot_spot=spot)
    assert f'name="hot_spot_id" value="{spot.id}"' in html and "ticket_id" not in html


# --- the list ---------------------------------------------------------------------------------------------
def test_list_filters_fragment_and_bad_values(login):
    head, a, b = make_user("head"), make_institution(), make_institution()
    o1 = _issue(head, a, make_ticket(), days=1)
    o2 = _issue(head, b, make_ticket(), days=2)
    o3 = _issue(head, a, make_ticket(), days=3)
    control.act(o3, "cancel", head, text="не нужно")
    o1.due_at = utcnow() - timedelta(hours=3)
    client = login(head)
    html = body(client.get("/control"))
    assert "<html" in html and "Поручения главы" in html
    assert f"/control/{o1.id}" in html and f"/control/{o2.id}" in html and f"/control/{o3.id}" not in html
    assert "просрочено на 3 ч" in html
    assert re.search(r'id="count-late">1<', html) and re.search(r'id="count-issued">2<', html)

    resp = client.get(f"/control?state=cancelled&institution={a.id}", headers=HX)
    frag = body(resp)
    assert "<html" not in frag and "HX-Request" in resp.headers["Vary"]
    assert f"/control/{o3.id}" in frag and f"/control/{o1.id}" not in frag
    frag = body(client.get("/control?late=1", headers=HX))
    assert f"/control/{o1.id}" in frag and f"/control/{o2.id}" not in frag
    frag = body(client.get("/control?state=all", headers=HX))
    assert all(f"/control/{o.id}" in frag for o in (o1, o2, o3))

    for bad in ("state=zzz", "institution=abc", "institution=99999999", "late=maybe", "cursor=%%%",
                "state=<script>", "institution=-1"):
        resp = client.get(f"/control?{bad}", headers=HX)
        assert resp.status_code == 200, bad
        frag = body(resp)
        assert "flash error" in frag and "<script>" not in frag, bad
        assert f"/control/{o1.id}" in frag and f"/control/{o3.id}" not in frag, bad  # the default view


def test_navigation_link_for_roles_that_see_orders(login):
    for role in ("head", "admin", "moderator", "analyst", "executor"):
        client = login(make_user(role))
        assert 'href="/control"' in body(client.get("/notifications")), role
        assert client.get("/control").status_code == 200


# --- one order -------------------------------------------------------------------------------------------
def test_order_page_and_actions_through_the_cycle(login):
    head, inst = make_user("head"), make_institution()
    executor = make_user("executor", institution=inst)
    ticket = make_ticket(institution=inst)
    order = _issue(head, inst, ticket)
    oid = order.id
    client = login(executor)
    html = body(client.get(f"/control/{oid}"))
    assert ticket.number in html and "Заменить фонарь во дворе" in html and inst.name in html
    assert "Принять к исполнению" in html and "Принять доклад" not in html and "Выдано" in html
    stamp = re.search(r'name="stamp" value="(\d+)"', html).group(1)

    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "accept", "stamp": stamp})
    assert resp.status_code == 200 and "Поручение принято к исполнению" in body(resp)
    assert "Исполняется" in body(resp)
    # the same stale form again: a conflict, shown in place
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "accept", "stamp": stamp})
    assert resp.status_code == 409 and "уже изменил другой сотрудник" in body(resp)
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "report", "text": ""})
    assert resp.status_code == 422 and "Напишите, что сделано по поручению" in body(resp)
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "approve"})
    assert resp.status_code == 422 and "недоступно" in body(resp)  # not in this state
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "report", "text": "Заменён 12.11"})
    assert resp.status_code == 200 and "Доложено об исполнении" in body(resp)
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "approve"})
    assert resp.status_code == 403 and "нет права" in body(resp)  # the head's step

    client = login(head)
    html = body(client.get(f"/control/{oid}"))
    assert "Принять доклад" in html and "Вернуть на доработку" in html and "Заменён 12.11" in html
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "return", "text": ""})
    assert resp.status_code == 422 and "Укажите, почему поручение возвращается" in body(resp)
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "bogus"})
    assert resp.status_code == 422 and "Выберите действие" in body(resp)
    resp = client.post(f"/control/{oid}/act", headers=HX, data={"action": "approve"})
    assert resp.status_code == 200 and "Исполнено" in body(resp)
    # without JavaScript: a redirect back to the order
    resp = client.post(f"/control/{oid}/act", data={"action": "cancel", "text": "x"})
    assert resp.status_code == 422 and "<html" in body(resp)

    steps = [e.payload["step"] for e in db.session.get(ControlOrder, oid).ticket.events if e.kind == "control"]
    assert steps == ["issued", "accept", "report", "approve"]
    html = body(client.get(f"/tickets/{ticket.number}"))
    assert "На контроле" not in html
    assert f"Поручение № {oid} исполнено: доклад принят" in html


def test_executor_of_another_institution_gets_404_and_cannot_act(login):
    head, inst = make_user("head"), make_institution()
    order = _issue(head, inst, make_ticket(institution=inst))
    client = login(make_user("executor"))
    assert client.get(f"/control/{order.id}").status_code == 404
    assert client.get("/control/99999999").status_code == 404
    resp = client.post(f"/control/{order.id}/act", headers=HX, data={"action": "accept"})
    assert resp.status_code == 404
    db.session.refresh(order)
    assert order.state == "issued"
    assert f"/control/{order.id}" not in body(client.get("/control"))
    assert client.post("/control/new", data={"ticket_id": order.ticket_id}).status_code == 403


# --- the executor's workspace ----------------------------------------------------------------------------
def test_workspace_lists_the_institutions_open_orders_most_urgent_first(login):
    head, inst = make_user("head"), make_institution()
    executor = make_user("executor", institution=inst)
    later = _issue(head, inst, make_ticket(institution=inst), days=9)
    sooner = _issue(head, inst, make_ticket(institution=inst), days=2)
    done = _issue(head, inst, make_ticket(institution=inst), days=1)
    control.act(done, "cancel", head, text="снято")
    foreign = _issue(head, make_institution(), make_ticket(), days=1)
    client = login(executor)
    html = body(client.get("/my"))
    assert "Поручения" in html
    assert html.index(f'id="order-row-{sooner.id}"') < html.index(f'id="order-row-{later.id}"')
    assert f'id="order-row-{done.id}"' not in html and f'id="order-row-{foreign.id}"' not in html

    resp = client.post(f"/control/{sooner.id}/act/row", headers=HX, data={"action": "accept"})
    row = body(resp)
    assert resp.status_code == 200 and row.startswith(f'\n<tr id="order-row-{sooner.id}"') or \
        row.lstrip().startswith(f'<tr id="order-row-{sooner.id}"')
    assert "Исполняется" in row and "Доложить об исполнении" in row
    resp = client.post(f"/control/{sooner.id}/act/row", headers=HX, data={"action": "report", "text": " "})
    assert resp.status_code == 422 and "Напишите, что сделано" in body(resp) and "<details open" in body(resp)
    resp = client.post(f"/control/{sooner.id}/act/row", headers=HX,
                       data={"action": "report", "text": "Готово"})
    assert resp.status_code == 200 and "Доложено об исполнении" in body(resp)


def test_orders_export_has_the_lists_rows_and_filters(login):
    import io
    from datetime import timedelta

    from openpyxl import load_workbook

    from app.models import utcnow
    from app.services import control
    from tests.factories import make_institution, make_ticket, make_user

    head = make_user("head")
    a, b = make_institution(name="Водоканал"), make_institution(name="Горсвет")
    for inst, n in ((a, 3), (b, 2)):
        for i in range(n):
            control.issue(head, instruction=f"Поручение {inst.short_name} {i}", institution_id=inst.id,
                          due=utcnow() + timedelta(days=3), ticket=make_ticket(f"Т {i}", institution=inst))
    client = login(head)
    resp = client.get("/control/export.xlsx", query_string={"institution": a.id})
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    rows = list(wb["Поручения"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3 and {r[3] for r in rows} == {"Водоканал"}
    assert all(r[7] == "Выдано" and r[8] == "нет" for r in rows)
    params = " ".join(str(c) for r in wb["Параметры"].iter_rows(values_only=True) for c in r if c)
    assert "Учреждение: Водоканал" in params
    # a bad filter: the default view (open orders of every institution), and the file says so
    wb = load_workbook(io.BytesIO(client.get("/control/export.xlsx?state=nonsense").data))
    assert wb["Поручения"].max_row == 6
    assert "не применён" in " ".join(str(c) for r in wb["Параметры"].iter_rows(values_only=True) for c in r if c)
