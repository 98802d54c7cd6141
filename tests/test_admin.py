"""Admin pages: networks on/off, keyword rules that triage uses, rejected requests; the noise pile."""
from app.channels.base import IncomingMessage
from app.extensions import db
from app.models import Category, IntakeRejection, Ticket
from app.services import intake
from tests.factories import make_category, make_institution, make_user
from tests.helpers import body


def test_only_admin_opens_admin_pages(login):
    for role in ("moderator", "executor", "head"):
        client = login(make_user(role))
        for url in ("/admin", "/admin/categories", "/admin/rejections"):
            assert client.get(url).status_code == 403, (role, url)


def test_networks_page_says_which_are_off(app, login):
    client = login(make_user("admin"))
    app.config["VK_ACCESS_TOKEN"] = None
    text = body(client.get("/admin"))
    assert "Веб-форма" in text and "ВКонтакте" in text
    assert "отключена: нет токена" in text


def test_keyword_rules_edited_in_the_ui_route_the_next_message(login):
    cat = make_category("Уличное освещение")
    inst = make_institution(name="АО «Горэлектросеть»")
    client = login(make_user("admin"))
    data = {f"c{cat.id}-keywords": "фонар, освещ  лампочк", f"c{cat.id}-default_institution_id": inst.id}
    resp = client.post(f"/admin/categories/{cat.id}", headers={"HX-Request": "true"}, data=data)
    assert resp.status_code == 200 and "Сохранено" in body(resp)
    db.session.expire_all()
    assert db.session.get(Category, cat.id).keywords == "фонар освещ лампочк"
    intake.accept([IncomingMessage(network="web", external_id="w1", kind="form", author_id="a1",
                                   text="Не горит фонарь у подъезда")])
    db.session.commit()
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.category_id == cat.id and ticket.institution_id == inst.id
    bad = client.post(f"/admin/categories/{cat.id}", data={f"c{cat.id}-default_institution_id": "abc"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422


def test_rejections_page_shows_the_raw_body(login):
    db.session.add(IntakeRejection(network="vk", reason="unknown event type", body='{"type": "strange"}'))
    text = body(login(make_user("admin")).get("/admin/rejections"))
    assert "unknown event type" in text and "strange" in text


def test_noise_pile_lists_set_aside_messages_and_promotes_one(login):
    intake.accept([IncomingMessage(network="web", external_id="w2", kind="form", author_id="a2", text="Спасибо!")])
    db.session.commit()
    client = login(make_user("moderator"))
    page = body(client.get("/queue/noise"))
    assert "Спасибо!" in page and "Благодарность" in page
    from app.models import Message
    m = db.session.scalar(db.select(Message))
    resp = client.post(f"/queue/noise/{m.id}/promote", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "Создано обращение" in body(resp)
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1
    assert login(make_user("executor")).get("/queue/noise").status_code == 403


def test_admin_edits_sla_presets_and_bad_numbers_are_refused(login):
    from app.models import SlaPolicy
    from tests.factories import make_policy

    p = make_policy(first=60, resolution=540)
    client = login(make_user("admin"))
    assert "Сроки рассмотрения" in body(client.get("/admin/sla"))
    bad = client.post(f"/admin/sla/{p.id}", headers={"HX-Request": "true"},
                      data={f"p{p.id}-first_response_minutes": 0, f"p{p.id}-resolution_minutes": 540,
                            f"p{p.id}-warning_percent": 75})
    assert bad.status_code == 422 and "больше нуля" in body(bad)
    ok = client.post(f"/admin/sla/{p.id}", headers={"HX-Request": "true"},
                     data={f"p{p.id}-first_response_minutes": 30, f"p{p.id}-resolution_minutes": 240,
                           f"p{p.id}-warning_percent": 80, f"p{p.id}-business_hours": "y"})
    assert ok.status_code == 200 and "Сохранено" in body(ok)
    db.session.expire_all()
    p = db.session.get(SlaPolicy, p.id)
    assert (p.first_response_minutes, p.resolution_minutes, p.warning_percent) == (30, 240, 80)


def test_admin_adds_a_calendar_day_and_imports_a_year(login):
    from datetime import date

    from app.models import CalendarDay
    from app.services import sla

    client = login(make_user("admin"))
    resp = client.post("/admin/calendar/day", data={"date": "2028-03-07", "kind": "short", "note": "Предпраздничный"})
    assert resp.status_code == 302
    assert "07.03.2028" in body(client.get("/admin/calendar?year=2028"))
    assert sla.calendar_exceptions().get(date(2028, 3, 7)) == "short"
    bad = client.post("/admin/calendar/import", data={"rows": "2028-13-40;short;x", "source": "ПП"})
    assert bad.status_code == 422 and "2028-13-40" in body(bad)
    rows = "2028-04-29;short;Предпраздничный\n2028-05-08;holiday;Перенос"
    ok = client.post("/admin/calendar/import", data={"rows": rows, "source": "ПП РФ"})
    assert ok.status_code == 200 and "Загружено дней: 2" in body(ok)
    assert db.session.scalar(db.select(db.func.count(CalendarDay.id)).where(CalendarDay.date >= date(2028, 1, 1))) == 3
    client.post("/admin/calendar/day/2028-03-07/delete")
    assert "07.03.2028" not in body(client.get("/admin/calendar?year=2028"))


def test_admin_sets_an_institutions_hours_and_bad_windows_are_refused(login):
    from app.models import Institution

    inst = make_institution(name="МАОУ «Школа № 3»")
    client = login(make_user("admin"))
    assert "Школа № 3" in body(client.get("/admin/institutions"))
    bad = client.post(f"/admin/institutions/{inst.id}/hours", data={f"i{inst.id}-business_hours": "17:00-08:00"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Часы работы" in body(bad)
    ok = client.post(f"/admin/institutions/{inst.id}/hours", data={f"i{inst.id}-business_hours": "08:00-17:00"},
                     headers={"HX-Request": "true"})
    assert ok.status_code == 200 and "Сохранено" in body(ok)
    db.session.expire_all()
    assert db.session.get(Institution, inst.id).business_hours == "08:00-17:00"


def test_without_javascript_the_category_and_sla_forms_answer_with_the_whole_list(login):
    """No HTMX: a saved form goes back to the list (303), a refused one shows every row again with its error."""
    from tests.factories import make_policy

    one, other = make_category("Уличное освещение"), make_category("Дороги")
    client = login(make_user("admin"))
    saved = client.post(f"/admin/categories/{one.id}", data={f"c{one.id}-keywords": "фонар"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/admin/categories")
    assert "Сохранено" in body(client.get("/admin/categories"))
    bad = client.post(f"/admin/categories/{one.id}", data={f"c{one.id}-default_institution_id": "abc"})
    assert bad.status_code == 422
    assert f'id="category-{one.id}"' in body(bad) and f'id="category-{other.id}"' in body(bad)

    p, q = make_policy(first=60, resolution=540), make_policy(first=30, resolution=240)
    db.session.commit()  # the refused save rolls back its own transaction only
    bad = client.post(f"/admin/sla/{p.id}", data={f"p{p.id}-first_response_minutes": 0,
                                                 f"p{p.id}-resolution_minutes": 540, f"p{p.id}-warning_percent": 75})
    assert bad.status_code == 422 and "больше нуля" in body(bad)
    assert f'id="policy-{p.id}"' in body(bad) and f'id="policy-{q.id}"' in body(bad)
