"""The staff side of the participants (issue 12, item 1): the press and smm roles and what they may see,
participants' cards (validation, logo types, the «receives appeals» flag and routing), users of participants."""
from __future__ import annotations

import io
import os

import pytest

from app.extensions import db
from app.models import Category, Institution, Message, User
from app.services import admin as admin_service
from app.services import tickets
from app.services.errors import ValidationFailed
from app.services.intake import triage
from tests.factories import (
    make_account,
    make_category,
    make_direction,
    make_institution,
    make_resident,
    make_ticket,
    make_user,
)
from tests.helpers import body, count

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture
def upload_dir(app, tmp_path):
    saved = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["UPLOAD_DIR"] = saved


# --- roles: press and smm see no tickets ----------------------------------------------------------------------
@pytest.mark.parametrize("role", ["press", "smm"])
def test_press_and_smm_never_see_a_residents_ticket(client, login, role):
    inst = make_institution()
    ticket = make_ticket("Утечка на Садовой, 7, звоните Ивановой", institution=inst)
    user = make_user(role, institution=inst)
    c = login(user)
    for url in ("/queue", "/queue/noise", "/board", "/my", "/control", f"/tickets/{ticket.number}",
                f"/tickets/lookup?number={ticket.number}", "/queue/export"):
        resp = c.get(url, follow_redirects=True)
        assert resp.status_code in (403, 404), (url, resp.status_code)
        assert "Садовой" not in body(resp), url
    resp = c.post(f"/tickets/{ticket.number}/status", data={"status": "resolved"})
    assert resp.status_code in (400, 403, 404)
    home = c.get("/")
    assert home.status_code == 302
    nav = body(c.get(home.headers["Location"]))
    assert "Участники" in nav and "Очередь" not in nav and "№ обращения" not in nav


def test_each_new_role_lands_on_its_page(client, login):
    inst = make_institution()
    assert login(make_user("press")).get("/").headers["Location"].endswith("/admin/participants")
    assert login(make_user("smm", institution=inst)).get("/").headers["Location"].endswith(
        f"/admin/participants/{inst.id}/accounts")


def test_smm_manages_only_its_own_participant(client, login):
    a, b = make_institution(name="Школа № 1"), make_institution(name="Школа № 2")
    acc_b = make_account(b, network="vk")
    c = login(make_user("smm", institution=a))
    assert c.get(f"/admin/participants/{a.id}/accounts").status_code == 200
    assert c.get(f"/admin/participants/{b.id}/accounts").status_code == 404
    assert c.get(f"/admin/participants/{b.id}/accounts/{acc_b.id}").status_code == 404
    assert c.get(f"/admin/participants/{a.id}/accounts/{acc_b.id}").status_code == 404  # B's account under A
    assert c.post(f"/admin/participants/{b.id}/accounts/{acc_b.id}/active", data={"active": "0"}).status_code == 404
    assert c.get(f"/admin/participants/{a.id}").status_code == 403  # the card is the press service's
    assert c.get("/admin/participants/new").status_code == 403
    assert c.get("/admin/participants").headers["Location"].endswith(f"/admin/participants/{a.id}/accounts")
    db.session.refresh(acc_b)
    assert acc_b.is_active


def test_press_manages_every_participant_but_not_the_admin_pages(client, login):
    a, b = make_institution(), make_institution()
    c = login(make_user("press"))
    assert c.get(f"/admin/participants/{a.id}").status_code == 200
    assert c.get(f"/admin/participants/{b.id}/accounts").status_code == 200
    assert c.get("/admin/users").status_code == 403
    assert c.get("/admin/users/import").status_code == 403


def test_admin_creates_press_and_smm_users_smm_needs_a_participant(client, login):
    inst = make_institution()
    c = login(make_user("admin"))
    resp = c.post("/admin/users", data={"username": "smm-nobody", "role": "smm", "password": "long-enough-1"})
    assert resp.status_code == 422 and "SMM-специалисту нужен участник" in body(resp)
    resp = c.post("/admin/users", data={"username": "smm-school", "role": "smm", "password": "long-enough-1",
                                        "institution_id": str(inst.id)})
    assert resp.status_code == 303
    resp = c.post("/admin/users", data={"username": "press1", "role": "press", "password": "long-enough-1"})
    assert resp.status_code == 303
    users = {u.username: u for u in db.session.scalars(db.select(User))}
    assert users["smm-school"].institution_id == inst.id and users["press1"].institution_id is None


# --- the participant's card -----------------------------------------------------------------------------------
def card(direction, **extra):
    data = {"name": "Муниципальное бюджетное общеобразовательное учреждение «Школа № 5»", "short_name": "Школа № 5",
            "direction_id": str(direction.id), "address": "ул. Ленина, 1", "site": "https://school5.ru",
            "smm_name": "Петрова А. А.", "smm_contacts": "+7 914 000-00-00", "receives_appeals": "y",
            "public_feedback": "y", "slug": ""}
    data.update(extra)
    return data


def test_create_and_edit_a_participant(client, login):
    d = make_direction("Образование")
    c = login(make_user("press"))
    resp = c.post("/admin/participants/new", data=card(d))
    assert resp.status_code == 303
    inst = db.session.scalar(db.select(Institution).where(Institution.short_name == "Школа № 5"))
    assert inst.site == "https://school5.ru" and inst.receives_appeals and inst.slug == "shkola-5"
    resp = c.post(f"/admin/participants/{inst.id}", data=card(d, slug="school-5", receives_appeals="",
                                                               public_feedback=""))
    assert resp.status_code == 303
    db.session.refresh(inst)
    assert inst.slug == "school-5" and not inst.receives_appeals and not inst.public_feedback
    listing = body(c.get("/admin/participants", query_string={"q": "школа № 5", "receives": "0"}))
    assert "Школа № 5" in listing
    assert "Школа № 5" not in body(c.get("/admin/participants", query_string={"receives": "1"}))


@pytest.mark.parametrize("extra, message", [
    ({"name": "Ш" * 301}, "Официальное название»: не больше 300"),
    ({"short_name": "Ш" * 121}, "Краткое название»: не больше 120"),
    ({"address": "у" * 301}, "Адрес»: не больше 300"),
    ({"smm_name": "П" * 201}, "не больше 200"),
    ({"smm_contacts": "+" * 301}, "не больше 300"),
    ({"site": "javascript:alert(1)"}, "http:// или https://"),
    ({"site": "https://" + "a" * 300 + ".ru"}, "Сайт: не больше 300"),
    ({"slug": "Школа 5"}, "от 2 до 80 латинских букв"),
    ({"slug": "a" * 81}, "от 2 до 80 латинских букв"),
    ({"slug": "a/b"}, "от 2 до 80 латинских букв"),
    ({"slug": "x"}, "от 2 до 80 латинских букв"),
    ({"direction_id": ""}, "Выберите направление"),
    ({"name": ""}, "Заполните поле"),
])
def test_bad_values_get_a_clear_message_and_nothing_is_saved(client, login, extra, message):
    d = make_direction()
    c = login(make_user("admin"))
    before = count(Institution)
    resp = c.post("/admin/participants/new", data=card(d, **extra))
    assert resp.status_code == 422 and message in body(resp)
    assert count(Institution) == before


def test_the_demo_participants_slugs_can_be_kept_when_their_card_is_edited(client, login):
    """The seeded participants have slugs like «school3_blg»: saving their card unchanged must work."""
    inst = make_institution(name="Школа № 3")
    inst.slug = "school3_blg"
    c = login(make_user("press"))
    data = card(inst.direction, name=inst.name, short_name=inst.short_name, slug="school3_blg")
    assert c.post(f"/admin/participants/{inst.id}", data=data).status_code == 303
    assert inst.slug == "school3_blg"


def test_a_taken_slug_is_named(client, login):
    d = make_direction()
    other = make_institution(name="Библиотека")
    other.slug = "library"
    c = login(make_user("admin"))
    resp = c.post("/admin/participants/new", data=card(d, slug="library"))
    assert resp.status_code == 422 and "Адрес страницы «library» уже занят" in body(resp)


def post_logo(c, inst, content, name):
    data = card(inst.direction, name=inst.name, short_name=inst.short_name, slug=inst.slug)
    data["logo"] = (io.BytesIO(content), name)
    return c.post(f"/admin/participants/{inst.id}", data=data, content_type="multipart/form-data")


def test_logo_is_checked_by_its_bytes_never_by_its_name(client, login, upload_dir):
    inst = make_institution()
    c = login(make_user("press"))
    assert post_logo(c, inst, PNG, "logo.svg").status_code == 303  # a PNG named .svg is a PNG
    db.session.refresh(inst)
    assert inst.logo_type == "image/png" and inst.logo_path.startswith("participants/")
    assert inst.logo_path.endswith(".png") and (upload_dir / inst.logo_path).read_bytes() == PNG
    served = c.get(f"/admin/participants/{inst.id}/logo")
    assert served.mimetype == "image/png" and served.headers["X-Content-Type-Options"] == "nosniff"
    for content, name in ((SVG, "logo.svg"), (SVG, "logo.png"), (HTML, "logo.png"), (b"", "empty.png")):
        resp = post_logo(c, inst, content, name)
        assert resp.status_code == 422 and "только изображение PNG, JPEG или WebP" in body(resp), name
    db.session.refresh(inst)
    assert inst.logo_type == "image/png"  # the good logo stays
    assert sorted(os.listdir(upload_dir / "participants")) == [os.path.basename(inst.logo_path)]


def test_a_logo_over_the_limit_is_refused(app, client, login, upload_dir):
    inst = make_institution()
    c = login(make_user("press"))
    big = PNG + b"\x00" * app.config["PARTICIPANT_LOGO_MAX_BYTES"]
    resp = post_logo(c, inst, big, "logo.png")
    assert resp.status_code == 422 and "Логотип слишком большой" in body(resp)
    db.session.refresh(inst)
    assert inst.logo_path is None


# --- «receives appeals»: routing and assignment never send a ticket to a participant that only publishes --------
def test_a_participant_that_does_not_receive_appeals_is_never_given_a_ticket(client, login):
    shop = make_institution(name="Магазин «Уют»")
    shop.receives_appeals = False
    school = make_institution(name="Школа № 9")
    cat = make_category("Торговля", institution=shop)
    # triage: the resident's deep link, the account, the category's default — each skipped for the shop
    resident = make_resident("telegram")
    resident.preferred_institution_id = shop.id
    m = Message(network="telegram", external_id="x1", kind="direct", text="Продают просрочку", resident=resident,
                account=make_account(shop, network="telegram"))
    cat.keywords = "просроч"
    db.session.flush()
    d = triage._route(m, "Продают просрочку")
    assert d.category == cat and d.institution is None
    # creation with the category's default
    t = tickets.create_ticket(network="web", summary="Просрочка", category=cat)
    assert t.institution is None
    # the staff's assignment: refused in the service, absent from the choices
    mod = make_user("moderator")
    with pytest.raises(ValidationFailed, match="не получает обращения"):
        tickets.assign(t, shop, mod)
    tickets.assign(t, school, mod)
    assert t.institution == school
    with pytest.raises(ValidationFailed, match="не получает обращения"):
        admin_service.update_category_rules(make_user("admin"), cat, "просроч", shop.id)
    c = login(mod)
    page = body(c.get(f"/tickets/{t.number}"))
    form = page[page.find('name="institution_id"'):]
    form = form[:form.find("</select>")]
    assert "Школа № 9" in form and "Уют" not in form
    assert db.session.get(Category, cat.id).default_institution_id == shop.id
