"""Issue 16's caches probed from the outside (tester): the kept top bar, ETag/304 polls, kept board/rating HTML,
the reference-data memo and the unread count must never show a user something wrong."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import Notification
from app.services import refdata
from tests.factories import make_category, make_institution, make_ticket, make_user
from tests.helpers import body
from tests.test_i18n import english_interface
from tests.test_queue_speed import options

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _cold(app):
    app.extensions["babel"].instance.domain_instance.cache.clear()
    refdata.forget()


def _top(page: str) -> str:
    return page.split('<div class="me">', 1)[0]


# --- 1. the kept top bar ----------------------------------------------------------------------------------------
def test_a_role_change_mid_session_changes_the_top_bar_at_once(login):
    inst = make_institution()
    user = make_user("moderator")
    client = login(user)
    top = _top(body(client.get("/account/password")))
    assert ">Очередь<" in top and ">Мои обращения<" not in top
    user.role, user.institution_id = "executor", inst.id
    db.session.commit()
    page = body(client.get("/account/password"))
    assert ">Очередь<" not in _top(page) and ">Мои обращения<" in _top(page) and ">Поручения<" in _top(page)
    assert "Исполнитель</span>" in page
    user.institution_id = None  # an executor without an institution: no orders link
    db.session.commit()
    assert ">Поручения<" not in _top(body(client.get("/account/password")))


def test_smm_with_and_without_an_institution_and_press_see_their_own_links(login):
    inst = make_institution()
    smm, press, head = make_user("smm", institution=inst), make_user("press"), make_user("head")
    for _ in range(2):
        top = _top(body(login(smm).get("/account/password")))
        assert ">Публикации<" in top and ">Рейтинг<" not in top and ">Очередь<" not in top
        top = _top(body(login(press).get("/account/password")))
        assert ">Публикации<" in top and ">Рейтинг<" in top and ">Участники<" in top
        top = _top(body(login(head).get("/account/password")))
        assert ">Проблемные вопросы<" in top and ">Очередь<" in top and ">Публикации<" not in top
    smm.institution_id = None
    db.session.commit()
    assert ">Публикации<" not in _top(body(login(smm).get("/account/password")))


def test_a_deactivated_users_poll_is_not_answered_from_the_browsers_copy(login):
    first = make_ticket("Первое")
    user = make_user("moderator")
    client = login(user)
    url = f"/queue/arrivals?after={first.id}"
    tag = client.get(url, headers=HX).headers["ETag"]
    user.is_active_user = False
    db.session.commit()
    resp = client.get(url, headers={**HX, "If-None-Match": tag})
    assert resp.status_code != 304 and resp.status_code in (302, 401, 403)


def test_english_top_bar_after_russian_for_another_role(app, login):
    login(make_user("admin")).get("/account/password")
    with english_interface(app):
        page = body(login(make_user("press")).get("/account/password"))
        assert ">Publications<" in _top(page) or "Публикации" not in _top(page)
        assert ">Очередь<" not in page and ">Рейтинг<" not in page


# --- 2. ETag / 304 ------------------------------------------------------------------------------------------------
def test_a_queue_poll_after_losing_the_queue_is_refused_not_304(login):
    first = make_ticket("Первое")
    user = make_user("moderator")
    client = login(user)
    url = f"/queue/arrivals?after={first.id}"
    tag = client.get(url, headers=HX).headers["ETag"]
    assert client.get(url, headers={**HX, "If-None-Match": tag}).status_code == 304
    user.role = "press"
    db.session.commit()
    assert client.get(url, headers={**HX, "If-None-Match": tag}).status_code in (302, 403, 404)


def test_a_board_poll_after_losing_the_board_is_refused_not_304(login):
    make_ticket("Для доски")
    user = make_user("head")
    client = login(user)
    url = "/board/figures?period=month"
    tag = client.get(url, headers=HX).headers["ETag"]
    assert client.get(url, headers={**HX, "If-None-Match": tag}).status_code == 304
    user.role = "press"
    db.session.commit()
    assert client.get(url, headers={**HX, "If-None-Match": tag}).status_code in (302, 403, 404)


def test_another_users_board_etag_is_never_a_304(app, login):
    make_ticket("Для доски")
    url = "/board/figures?period=month"
    tag = login(make_user("head")).get(url, headers=HX).headers["ETag"]
    other = app.test_client()
    with other.session_transaction() as s:
        s["_user_id"] = make_user("head").get_id()
        s["_fresh"] = True
    db.session.commit()
    resp = other.get(url, headers={**HX, "If-None-Match": tag})
    assert resp.status_code == 200 and resp.headers["ETag"] != tag


def test_an_executor_or_smm_never_polls_the_citys_arrivals(login):
    inst = make_institution()
    first = make_ticket("Первое", institution=inst)
    make_ticket("Чужое", institution=make_institution())
    for role in ("executor", "smm"):
        client = login(make_user(role, institution=inst))
        assert client.get(f"/queue/arrivals?after={first.id}", headers=HX).status_code in (302, 403, 404)


def test_rating_tables_follow_the_language(app, login):
    client = login(make_user("head"))
    ru = body(client.get("/rating"))
    with english_interface(app):
        en = body(client.get("/rating"))
    assert client.get("/rating").status_code == 200
    for word in ("Место", "Участник", "Отстающие"):
        if word in ru:
            assert word not in en, word


def test_a_ticket_reassigned_into_the_filter_comes_through_the_poll(login):
    inst, elsewhere = make_institution(), make_institution()
    first = make_ticket("Первое", institution=inst)
    client = login(make_user("moderator"))
    url = f"/queue/arrivals?after={first.id}&institution={inst.id}"
    tag = client.get(url, headers=HX).headers["ETag"]
    moved = make_ticket("Пока чужое", institution=elsewhere)
    db.session.commit()
    assert client.get(url, headers={**HX, "If-None-Match": tag}).status_code == 304
    moved.institution_id = inst.id
    db.session.commit()
    resp = client.get(url, headers={**HX, "If-None-Match": tag})
    assert resp.status_code == 200 and moved.number in body(resp)


# --- 3. kept board / rating HTML ----------------------------------------------------------------------------------
def test_executor_never_gets_the_citys_board_or_rating(login):
    inst = make_institution()
    make_ticket("Для доски", institution=inst)
    login(make_user("head")).get("/board?period=month")
    client = login(make_user("executor", institution=inst))
    assert client.get("/board?period=month").status_code in (302, 403, 404)
    assert client.get("/rating").status_code in (302, 403, 404)


def test_board_tables_in_english_then_russian(app, login):
    make_ticket("Для доски")
    client = login(make_user("head"))
    ru = body(client.get("/board?period=month"))
    with english_interface(app):
        en = body(client.get("/board?period=month"))
    ru2 = body(client.get("/board?period=month"))
    assert "Учреждения, решившие" in ru and "Учреждения, решившие" not in en and "Учреждения, решившие" in ru2


# --- 4. reference data memo ---------------------------------------------------------------------------------------
def test_a_rename_on_the_ticket_page_select(login):
    inst = make_institution(name="Старое имя учреждения")
    cat = make_category("Старая рубрика")
    ticket = make_ticket("Яма", institution=inst, category=cat)
    client = login(make_user("moderator"))
    page = body(client.get(f"/tickets/{ticket.number}"))
    assert "Старое имя учреждения" in page and "Старая рубрика" in page
    db.session.execute(text("UPDATE institutions SET short_name = 'Новое имя учреждения' WHERE id = :i"),
                       {"i": inst.id})
    db.session.execute(text("UPDATE categories SET name = 'Новая рубрика' WHERE id = :c"), {"c": cat.id})
    db.session.commit()
    page = body(client.get(f"/tickets/{ticket.number}"))
    selects = "".join(re.findall(r"<select[^>]*>.*?</select>", page, re.S))
    assert "Старое имя учреждения" not in selects and "Новое имя учреждения" in selects
    assert "Старая рубрика" not in selects and "Новая рубрика" in selects


def test_a_rolled_back_rename_never_shows_in_the_lists(app, login):
    """Found latent (no page did it yet): the version is read once per request; a list built after an uncommitted
    write in the same request was kept under the old version, and when that write rolled back the old version was
    current again, so every request of the process showed the rolled-back name. Now nothing built after a write in
    the transaction is kept (services/refdata.py)."""
    inst = make_institution(name="Настоящее имя")
    db.session.commit()
    with app.test_request_context("/queue"):
        refdata.version()  # read at the start of the request
        nested = db.session.begin_nested()
        db.session.execute(text("UPDATE institutions SET short_name = 'Имя, которое откатят' WHERE id = :i"),
                           {"i": inst.id})
        from app.blueprints.queue.forms import institution_choices
        assert "Имя, которое откатят" in dict(institution_choices("—")).values()
        nested.rollback()
    client = login(make_user("moderator"))
    names = options(body(client.get("/queue")), "institution")
    assert "Настоящее имя" in names and "Имя, которое откатят" not in names


# --- 5. unread count ----------------------------------------------------------------------------------------------
def test_the_count_after_marking_read_in_another_client(app, login):
    user = make_user("moderator")
    for _ in range(3):
        db.session.add(Notification(user_id=user.id, kind="resolution_breach", text="x"))
    client = login(user)
    assert '<b class="count">3<' in body(client.get("/queue"))
    other = app.test_client()
    with other.session_transaction() as s:
        s["_user_id"] = user.get_id()
        s["_fresh"] = True
    assert other.post("/notifications/read").status_code == 302
    assert '<b class="count">' not in body(client.get("/queue"))
