"""What the queue's speed work (issue 16) must not change for a user: the drop-down lists built once per data
version follow every change of the reference data, whoever makes it; the SLA badge shows the same states; a poll
that finds nothing new is a 304, a poll after a new ticket shows it; one user's ETag is never another's."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import utcnow
from app.services import refdata
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user
from tests.helpers import body


def options(page: str, select_id: str) -> list[str]:
    """The option labels of the <select id=…> on the page."""
    m = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert m, select_id
    return [re.sub(r"<[^>]+>", "", o) for o in re.findall(r"<option[^>]*>.*?</option>", m.group(1))]


def selected(page: str, select_id: str) -> list[str]:
    m = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    return re.findall(r'<option selected value="([^"]*)"', m.group(1))


def test_filter_lists_follow_a_rename_and_a_new_rubric_made_by_another_process(login):
    inst = make_institution(name="Управление благоустройства")
    cat = make_category("Дороги и тротуары")
    client = login(make_user("moderator"))
    page = body(client.get("/queue"))
    assert "Управление благоустройства" in options(page, "institution")
    assert "Управление благоустройства" in options(page, "bulk-institution")
    assert "Дороги и тротуары" in options(page, "category")
    body(client.get("/queue"))  # the lists now come from this process's memo

    # another web process, the CLI or plain SQL: nothing in this process hears of it, only the data version moves
    db.session.execute(text("UPDATE institutions SET short_name = 'Благоустройство города' WHERE id = :i"),
                       {"i": inst.id})
    db.session.execute(text(
        "INSERT INTO categories (code, name, direction_id, sla_policy_id, keywords, is_active) "
        "SELECT 'cat-raw-new', 'Бездомные животные', direction_id, sla_policy_id, keywords, is_active "
        "FROM categories WHERE id = :c"), {"c": cat.id})
    db.session.commit()

    page = body(client.get("/queue"))
    assert "Благоустройство города" in options(page, "institution")
    assert "Управление благоустройства" not in options(page, "institution")
    assert "Благоустройство города" in options(page, "bulk-institution")
    assert "Бездомные животные" in options(page, "category")
    assert "Бездомные животные" in options(page, "bulk-category")
    # and the new values are valid filters (validation uses the same lists)
    new_id = db.session.scalar(text("SELECT id FROM categories WHERE code = 'cat-raw-new'"))
    filtered = body(client.get(f"/queue?category={new_id}"))
    assert selected(filtered, "category") == [str(new_id)] and 'class="error"' not in filtered


def test_a_removed_institution_leaves_the_lists(login):
    inst_id = make_institution(name="Упразднённое учреждение").id
    client = login(make_user("moderator"))
    assert "Упразднённое учреждение" in options(body(client.get("/queue")), "institution")
    db.session.execute(text("DELETE FROM institutions WHERE id = :i"), {"i": inst_id})
    db.session.commit()
    db.session.expunge_all()
    page = body(client.get(f"/queue?institution={inst_id}"))
    assert "Упразднённое учреждение" not in options(page, "institution")
    assert 'class="error"' in page  # no longer a valid choice


def test_rows_follow_a_rename_and_a_policy_change_made_by_another_process(login):
    """The rows are plain values read with the page (not ORM objects of this process): a change made elsewhere
    (plain SQL) to the institution, the rubric or its policy shows on the next page."""
    policy = make_policy(business_hours=False)
    inst = make_institution(name="Управление дорог")
    t = make_ticket("Яма у остановки", institution=inst, category=make_category("Дороги", policy=policy),
                    created_at=utcnow() - timedelta(hours=1))
    t.resolution_due_at = utcnow() + timedelta(days=3, hours=2)
    db.session.commit()
    client = login(make_user("moderator"))

    def row() -> str:
        return re.search(rf'<tr id="row-{t.id}".*?</tr>', body(client.get("/queue")), re.S).group(0)

    first = row()
    assert "Управление дорог" in first and ">Дороги" in first and 'title="осталось 3 дня"' in first
    assert row() == first
    db.session.execute(text("UPDATE institutions SET short_name = 'Дорожное управление' WHERE id = :i"),
                       {"i": inst.id})
    db.session.execute(text("UPDATE categories SET name = 'Дороги и мосты' WHERE id = :c"), {"c": t.category_id})
    db.session.execute(text("UPDATE sla_policies SET business_hours = true WHERE id = :p"), {"p": policy.id})
    db.session.commit()
    after = row()
    assert "Дорожное управление" in after and "Управление дорог" not in after and "Дороги и мосты" in after
    assert "рабоч" in after  # the countdown now counts the policy's working time


def test_every_change_to_the_reference_tables_moves_the_version(app):
    with app.test_request_context():
        before = refdata.version()
    for stmt in ("UPDATE directions SET name = name", "UPDATE institutions SET short_name = short_name",
                 "UPDATE categories SET name = name"):
        make_category()  # at least one row in each table
        db.session.execute(text(stmt))
        with app.test_request_context():
            now = refdata.version()
        assert now > before, stmt
        before = now


def test_the_kept_filter_fields_show_each_requests_own_values_and_errors(login):
    """The filter fields' HTML is kept by (data version, language, values, errors): each page shows its own."""
    client = login(make_user("moderator"))

    def search_box(query: str) -> str:
        page = body(client.get("/queue" + query))
        return re.search(r'<div class="field[^"]*">\s*<label for="f-q">.*?</div>', page, re.S).group(0)

    assert 'value="яма"' in search_box("?q=яма")
    plain = search_box("")
    assert 'value=""' in plain and "яма" not in plain
    assert 'value="яма"' in search_box("?q=яма")  # kept, and still this request's
    hostile = search_box("?q=%3Cscript%3E")
    assert "&lt;script&gt;" in hostile and "<script>" not in hostile
    too_long = search_box("?q=" + "я" * 201)
    assert 'class="error"' in too_long and 'aria-invalid="true"' in too_long
    assert 'class="error"' in search_box("?q=" + "я" * 201)
    assert 'class="error"' not in search_box("?q=" + "я" * 200)
    assert selected(body(client.get("/queue?status=all")), "status") == ["all"]
    assert selected(body(client.get("/queue")), "status") == ["open"]


def test_the_filter_form_keeps_what_was_chosen(login):
    inst = make_institution(name="Школа № 5")
    client = login(make_user("moderator"))
    page = body(client.get(f"/queue?institution={inst.id}&status=all&sort=due&sla=soon&network=vk"))
    assert selected(page, "institution") == [str(inst.id)]
    assert selected(page, "status") == ["all"] and selected(page, "sort") == ["due"]
    assert selected(page, "sla") == ["soon"] and selected(page, "network") == ["vk"]
    plain = body(client.get("/queue"))
    assert selected(plain, "institution") == [""] and selected(plain, "status") == ["open"]


# --- the SLA badge ----------------------------------------------------------------------------------------------
BADGES = {  # state: (how the ticket stands, the badge's class, its words or title)
    "ok": (dict(due=timedelta(days=3, hours=2)), "sla-ok", r'title="осталось 3 дня"'),
    "soon": (dict(due=timedelta(minutes=30)), "sla-soon", r'title="осталось (1?[0-9]|2[0-9]|30) мин">скоро срок · '),
    "overdue": (dict(due=-timedelta(days=2, hours=1)), "sla-overdue", r'title="просрочено на 2 дня">просрочено · '),
    "paused": (dict(due=timedelta(days=1), status="waiting_resident", paused=timedelta(hours=1)), "sla-paused",
               r'title="Ждём жителя: срок остановлен">⏸ на паузе'),
    "closed": (dict(due=timedelta(days=1), status="closed"), "due muted", r'<span class="due muted">—</span>'),
}


@pytest.mark.parametrize("state", list(BADGES))
def test_the_sla_badge_shows_each_state(login, state):
    how, css, words = BADGES[state]
    now = utcnow()
    t = make_ticket(f"Обращение в состоянии {state}", category=make_category(policy=make_policy(business_hours=False)),
                    created_at=now - timedelta(hours=1))
    t.resolution_due_at = now + how["due"]
    if "status" in how:
        t.status = how["status"]
    if "paused" in how:
        t.sla_paused_at = now - how["paused"]
    client = login(make_user("moderator"))
    page = body(client.get("/queue?status=all"))
    row = re.search(rf'<tr id="row-{t.id}".*?</tr>', page, re.S).group(0)
    assert css in row and re.search(words, row), row
    assert ("late" in row.split(">")[0]) == (state == "overdue")  # the row is marked late exactly when overdue


def test_the_badge_speaks_the_interface_language(login, in_english):
    t = make_ticket("Late one", category=make_category(policy=make_policy(business_hours=False)),
                    created_at=utcnow() - timedelta(days=4))
    t.resolution_due_at = utcnow() - timedelta(days=2, hours=1)
    client = login(make_user("moderator"))
    row = re.search(rf'<tr id="row-{t.id}".*?</tr>', body(client.get("/queue")), re.S).group(0)
    assert "overdue by 2 days" in row and "просрочено" not in row, row


def test_the_countdowns_words_are_kept_per_language(app, login):
    """The countdown's words are kept per language: the same time left reads in Russian, then in English."""
    from tests.test_i18n import english_interface
    t = make_ticket("Фонарь не горит", category=make_category(policy=make_policy(business_hours=False)),
                    created_at=utcnow() - timedelta(hours=1))
    t.resolution_due_at = utcnow() + timedelta(days=3, hours=2)
    client = login(make_user("moderator"))

    def row() -> str:
        return re.search(rf'<tr id="row-{t.id}".*?</tr>', body(client.get("/queue")), re.S).group(0)

    assert 'title="осталось 3 дня"' in row() and 'title="осталось 3 дня"' in row()
    with english_interface(app):
        english = row()
    assert "осталось" not in english and "3 days" in english, english
    assert 'title="осталось 3 дня"' in row()


# --- polls: ETag / 304 ------------------------------------------------------------------------------------------
def test_an_unchanged_poll_is_a_304_and_a_new_ticket_comes_through(login):
    first = make_ticket("Первое")
    client = login(make_user("moderator"))
    url = f"/queue/arrivals?after={first.id}"
    resp = client.get(url, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and resp.headers["ETag"]
    assert resp.headers["Cache-Control"] == "private, no-cache"  # kept by this browser only, asked again each time
    assert "Cookie" in resp.headers["Vary"]
    tag = resp.headers["ETag"]

    again = client.get(url, headers={"HX-Request": "true", "If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b""

    second = make_ticket("Второе, пришло позже")
    db.session.commit()
    news = client.get(url, headers={"HX-Request": "true", "If-None-Match": tag})
    assert news.status_code == 200 and second.number in body(news)
    assert news.headers["Cache-Control"] == "no-store"  # residents' words: never kept
    assert f"after={second.id}" in body(news)


def test_a_new_ticket_the_filters_hide_keeps_the_poll_unchanged(login):
    inst, other = make_institution(), make_institution()
    first = make_ticket("Первое", institution=inst)
    client = login(make_user("moderator"))
    url = f"/queue/arrivals?after={first.id}&institution={inst.id}"
    tag = client.get(url).headers["ETag"]
    make_ticket("Другому учреждению", institution=other)
    db.session.commit()
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    mine = make_ticket("Этому учреждению", institution=inst)
    db.session.commit()
    resp = client.get(url, headers={"If-None-Match": tag})
    assert resp.status_code == 200 and mine.number in body(resp)


def test_one_users_etag_is_not_anothers(app, login):
    first = make_ticket("Первое")
    url = f"/queue/arrivals?after={first.id}"
    one = login(make_user("moderator")).get(url).headers["ETag"]
    other_client = app.test_client()
    with other_client.session_transaction() as s:
        s["_user_id"] = make_user("admin").get_id()
        s["_fresh"] = True
    db.session.commit()
    resp = other_client.get(url, headers={"If-None-Match": one})
    assert resp.status_code == 200 and resp.headers["ETag"] != one


def test_the_etag_changes_with_the_filters_and_the_language(login, app):
    first = make_ticket("Первое")
    client = login(make_user("moderator"))
    a = client.get(f"/queue/arrivals?after={first.id}").headers["ETag"]
    b = client.get(f"/queue/arrivals?after={first.id}&network=vk").headers["ETag"]
    assert a != b
    from tests.test_i18n import english_interface
    with english_interface(app):
        assert client.get(f"/queue/arrivals?after={first.id}", headers={"If-None-Match": a}).status_code == 200


def test_the_boards_poll_is_a_304_until_the_figures_change(login):
    make_ticket("Для доски")
    client = login(make_user("head"))
    url = "/board/figures?period=month"
    resp = client.get(url, headers={"HX-Request": "true"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "private, no-cache"
    tag = resp.headers["ETag"]
    assert client.get(url, headers={"HX-Request": "true", "If-None-Match": tag}).status_code == 304
    make_ticket("Ещё одно")
    db.session.commit()
    fresh = client.get(url + "&fresh=1", headers={"HX-Request": "true", "If-None-Match": tag})
    assert fresh.status_code == 200


def test_row_links_are_exactly_the_ticket_pages(app, login):
    from flask import url_for

    from app.urls import ticket_url
    with app.test_request_context("/queue"):
        for number in ("БЛГ-2026-000001", "A B/C?d#e&f", "x%y", "ok-1"):
            assert ticket_url(number) == url_for("tickets.detail", number=number), number
    t = make_ticket("Ссылка из строки")
    page = body(login(make_user("moderator")).get("/queue"))
    with app.test_request_context("/queue"):
        assert f'href="{url_for("tickets.detail", number=t.number)}"' in page
