"""The queue's and /my's rows are written by Python renderers (issue 16): whatever a resident, an address or a
reference list says is shown as text in every row, in the list, the HTMX fragment, the live arrivals and the
single-row answers — never as markup."""
import re

from app.extensions import db
from tests.factories import make_category, make_institution, make_ticket, make_user
from tests.helpers import body

HX = {"HX-Request": "true"}
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def row_of(html, ticket):
    m = re.search(rf'<tr id="row-{ticket.id}".*?</tr>', html, re.S)
    assert m, ticket.number
    return m.group(0)


def hostile(inst=None, status="in_progress"):
    inst = inst or make_institution(name="Учреждение " + XSS)
    inst.short_name = "Кратко " + XSS
    cat = make_category(name="Рубрика " + XSS)
    t = make_ticket("Текст " + XSS, institution=inst, category=cat, address="ул. " + XSS, status=status)
    db.session.flush()
    return inst, t


def assert_shown_as_text(row):
    assert "<script" not in row and "<img" not in row
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in row  # the address and the names, as text


def test_queue_rows_show_hostile_text_as_text(login):
    _, t = hostile()
    client = login(make_user("moderator"))
    for headers in ({}, HX):
        row = row_of(body(client.get("/queue", headers=headers)), t)
        assert_shown_as_text(row)
        assert "Кратко &lt;script&gt;" in row and "Рубрика &lt;script&gt;" in row and "ул. &lt;script&gt;" in row


def test_live_arrivals_rows_show_hostile_text_as_text(login):
    _, t = hostile(status="new")
    row = row_of(body(login(make_user("moderator")).get(f"/queue/arrivals?after={t.id - 1}", headers=HX)), t)
    assert_shown_as_text(row)
    assert ' class=" fresh"' in row or 'class="late fresh"' in row


def test_my_rows_show_hostile_text_as_text(login):
    inst, t = hostile()
    client = login(make_user("executor", institution=inst))
    for headers in ({}, HX):
        row = row_of(body(client.get("/my", headers=headers)), t)
        assert_shown_as_text(row)
        assert "Рубрика &lt;script&gt;" in row and "ул. &lt;script&gt;" in row
    answer = body(client.post(f"/my/{t.number}/status", data={"status": "in_progress", "version": "x"}, headers=HX))
    assert_shown_as_text(row_of(answer, t))
