"""Addresses from residents' words (app/services/addresses.py) and the admin's street list (issue 15, item 6)."""
from __future__ import annotations

import io

from app.extensions import db
from app.models import Street
from app.services import addresses
from bench.addresses_eval import demo_streets, ours, score
from tests.data.address_phrases import HELD_OUT, PHRASES
from tests.factories import make_user


def test_labelled_phrases_precision_and_recall():
    assert len(PHRASES) >= 60
    streets = demo_streets()
    for phrases in (PHRASES, HELD_OUT):
        s = score(ours(streets, phrases))
        assert s["street"][0] >= 0.95 and s["street"][1] >= 0.9, s
        assert s["street+house"][0] >= 0.9 and s["street+house"][1] >= 0.85, s


def test_named_examples_and_normal_form():
    streets = demo_streets()
    a = addresses.extract("на кирова возле 3 дома", streets)
    assert (a.street, a.house, a.text) == ("ул. Кирова", "3", "ул. Кирова, 3")
    assert addresses.extract("Ленена 15", streets).text == "ул. Ленина, 15"
    assert addresses.extract("во дворе Кирова 10/2", streets).house == "10/2"
    assert addresses.extract("Маяковского 22 корпус 2", streets).text == "ул. Маяковского, 22 корп. 2"
    assert addresses.extract("в северной части города", streets) is None
    assert addresses.extract("", streets) is None and addresses.extract("<script>" * 2000, streets) is None


def test_parse_name():
    assert addresses.parse_name("улица Ленина") == ("ул.", "ленина", "ул. Ленина")
    assert addresses.parse_name("Никольское шоссе") == ("ш.", "никольское", "Никольское шоссе")
    assert addresses.parse_name("Садовая")[2] == "ул. Садовая"


def test_intake_sets_address_on_ticket(app):
    from tests.factories import make_ticket
    addresses.seed([("ул. Кирова", "Центр")])
    t = make_ticket("у нас на кирова 10/2 яма во дворе")
    addresses.apply_to(t, t.summary)
    assert t.address == "ул. Кирова, 10/2" and t.house == "10/2"
    assert db.session.get(Street, t.street_id).name == "ул. Кирова"


def test_admin_streets_page_add_import_delete(client, login):
    admin = make_user("admin")
    login(admin)
    assert client.get("/admin/streets").status_code == 200
    resp = client.post("/admin/streets", data={"name": "улица <b>Тестовая</b>", "district": "Центр"})
    assert resp.status_code == 302
    page = client.get("/admin/streets").get_data(as_text=True)
    assert "&lt;b&gt;" in page and "<b>Тестовая" not in page
    assert client.post("/admin/streets", data={"name": "ул. <b>Тестовая</b>"}).status_code == 422  # a repeat
    csv = "name;district\nул. Новая;Северный\n;\n" + "x" * 300 + ";Центр\nул. Новая;Центр\n"
    resp = client.post("/admin/streets/import", data={"file": (io.BytesIO(csv.encode()), "s.csv")},
                       content_type="multipart/form-data")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "ул. Новая" in body and ">4<" in body and ">5<" in body
    new = db.session.scalar(db.select(Street).where(Street.core == "новая"))
    assert new is not None and new.district == "Северный"
    assert client.post(f"/admin/streets/{new.id}/delete").status_code == 302
    assert client.post("/admin/streets/2147483648/delete").status_code == 404
    assert client.post("/admin/streets/import", data={}).status_code == 422


def test_streets_admin_only(client, login):
    login(make_user("moderator"))
    assert client.get("/admin/streets").status_code == 403
    assert client.post("/admin/streets", data={"name": "ул. Х"}).status_code == 403
