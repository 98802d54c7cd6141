"""The ticket page: timeline, actions through HTMX, conflicts, bad input, unknown numbers."""
import re
from datetime import timedelta
from urllib.parse import unquote

from sqlalchemy import text

from app.extensions import db
from app.models import HotSpot, HotSpotTicket, RepeatSuggestion, Reply, Ticket, VerdictAnswer, utcnow
from app.services import control
from tests.factories import make_category, make_institution, make_resident, make_ticket, make_user
from tests.helpers import body

HX = {"HX-Request": "true"}


def test_ticket_page_shows_message_and_timeline(login):
    t = make_ticket("Во дворе по ул. Кирова, 45 не горят фонари")
    resp = login(make_user("moderator")).get(f"/tickets/{t.number}")
    text = body(resp)
    assert resp.status_code == 200 and "не горят фонари" in text and "Обращение зарегистрировано" in text


def test_unknown_number_is_a_404_page(login):
    resp = login(make_user("moderator")).get("/tickets/БЛГ-2026-999999")
    assert resp.status_code == 404 and "не найден" in body(resp).lower()


def test_assign_through_htmx_returns_the_updated_panel(login):
    inst = make_institution(name="МУП «Водоканал»")
    t = make_ticket()
    client = login(make_user("moderator"))
    resp = client.post(f"/tickets/{t.number}/assign", data={"version": t.version, "institution_id": inst.id},
                       headers=HX)
    text = body(resp)
    assert resp.status_code == 200 and "<html" not in text
    assert "Передано исполнителю" in text and "Водоканал" in text
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).institution_id == inst.id


def test_without_htmx_an_action_redirects_back_to_the_ticket(login):
    t = make_ticket()
    client = login(make_user("moderator"))
    resp = client.post(f"/tickets/{t.number}/note", data={"text": "Позвонить в УК"})
    assert resp.status_code == 302 and unquote(resp.headers["Location"]).endswith(f"/tickets/{t.number}")
    assert "Позвонить в УК" in body(client.get(f"/tickets/{t.number}"))


def test_second_editor_with_stale_version_gets_conflict_message(login):
    inst = make_institution()
    t = make_ticket()
    db.session.flush()
    old_version = t.version
    client = login(make_user("moderator"))
    first = client.post(f"/tickets/{t.number}/assign", data={"version": old_version, "institution_id": inst.id},
                        headers=HX)
    assert first.status_code == 200
    second = client.post(f"/tickets/{t.number}/status",
                         data={"version": old_version, "status": "rejected", "reason": "spam"}, headers=HX)
    assert second.status_code == 422 and "другой сотрудник" in body(second)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "assigned"


def test_bad_status_input_is_explained_and_changes_nothing(login):
    t = make_ticket()
    client = login(make_user("moderator"))
    for data, words in (({"version": t.version, "status": "closed"}, "Нельзя перевести"),
                        ({"version": t.version, "status": "rejected"}, "причину"),
                        ({"version": t.version, "status": "bogus"}, "Неизвестный статус"),
                        ({"version": "x", "status": "in_progress"}, "")):
        resp = client.post(f"/tickets/{t.number}/status", data=data, headers=HX)
        assert resp.status_code == 422, data
        assert words in body(resp)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "new"


def test_public_reply_without_an_address_is_kept_and_says_why(login):
    inst = make_institution()
    t = make_ticket(institution=inst, status="assigned")  # no network address to answer to
    client = login(make_user("executor", institution=inst))
    resp = client.post(f"/tickets/{t.number}/reply", data={"text": "Бригада выедет завтра"}, headers=HX)
    text = body(resp)
    assert resp.status_code == 200 and "Бригада выедет завтра" in text
    assert "не доставлен" in text and "не оставил адреса" in text
    reply = db.session.scalar(db.select(Reply).where(Reply.ticket_id == t.id))
    assert reply.state == "failed" and reply.network == t.network
    empty = client.post(f"/tickets/{t.number}/reply", data={"text": "  "}, headers=HX)
    assert empty.status_code == 422 and "пуст" in body(empty)


def test_category_and_merge_from_ticket_page(login):
    cat = make_category("Дороги и ямы")
    main, dup = make_ticket("Яма"), make_ticket("Та же яма")
    client = login(make_user("moderator"))
    assert client.post(f"/tickets/{dup.number}/category", data={"version": dup.version, "category_id": cat.id},
                       headers=HX).status_code == 200
    db.session.expire_all()
    dup = db.session.get(Ticket, dup.id)
    resp = client.post(f"/tickets/{dup.number}/merge", data={"version": dup.version, "merge_into": main.number},
                       headers=HX)
    assert resp.status_code == 200 and main.number in body(resp)
    main_page = body(client.get(f"/tickets/{main.number}"))
    assert "Та же яма" in main_page and f"из {dup.number}" in main_page  # the duplicate's words are kept
    bad = client.post(f"/tickets/{main.number}/merge", data={"version": main.version, "merge_into": "нет такого"},
                      headers=HX)
    assert bad.status_code == 422


def test_lookup_box_goes_to_the_ticket(login):
    t = make_ticket()
    resp = login(make_user("moderator")).get(f"/tickets/?number={t.number.lower()}")
    assert resp.status_code == 302 and unquote(resp.headers["Location"]).endswith(t.number)


def test_a_refused_form_shows_its_error_and_the_next_page_its_fields_clean_and_current(login):
    """The panel's fields are kept once rendered (app/kept_fields.py): a refused form still shows its own error,
    the next page does not, and the hidden version follows the ticket."""
    t = make_ticket()
    db.session.flush()
    old = t.version
    client = login(make_user("moderator"))
    page = body(client.get(f"/tickets/{t.number}"))
    assert 'id="text"' in page and 'aria-invalid' not in page \
        and f'name="version" required type="hidden" value="{old}"' in page
    refused = client.post(f"/tickets/{t.number}/note", data={"text": ""}, headers=HX)
    text = body(refused)
    assert refused.status_code == 422 and "Заметка пуста" in text and 'aria-invalid="true"' in text
    assert client.post(f"/tickets/{t.number}/priority", data={"priority": "urgent", "version": old},
                       headers=HX).status_code == 200
    db.session.expire_all()
    version = db.session.get(Ticket, t.id).version
    again = body(client.get(f"/tickets/{t.number}"))
    assert "Заметка пуста" not in again and "aria-invalid" not in again and version != old
    assert f'name="version" required type="hidden" value="{version}"' in again


def test_the_panels_lists_follow_a_rename_made_elsewhere(login):
    """The assign and rubric lists are kept per reference data version (app/kept_fields.py): a rename by another
    process (plain SQL here: nothing in this process hears of it) shows on the next page."""
    inst = make_institution(name="Управление благоустройства")
    cat = make_category("Дороги и тротуары")
    t = make_ticket()
    client = login(make_user("moderator"))
    for _ in range(2):  # the second page takes the lists' HTML as the first one kept it
        page = body(client.get(f"/tickets/{t.number}"))
        assert "Управление благоустройства" in page and "Дороги и тротуары" in page
    db.session.execute(text("UPDATE institutions SET short_name = 'Благоустройство города' WHERE id = :i"),
                       {"i": inst.id})
    db.session.execute(text("UPDATE categories SET name = 'Дороги' WHERE id = :c"), {"c": cat.id})
    db.session.commit()
    page = body(client.get(f"/tickets/{t.number}"))
    assert "Благоустройство города" in page and "Управление благоустройства" not in page
    assert f'<option value="{cat.id}">Дороги</option>' in page and "Дороги и тротуары" not in page


def test_what_the_page_did_not_have_yet_shows_on_the_next_page(login):
    """The ticket's statement says which of the page's lists have rows (tickets.PageFacts) and the empty ones are
    not read: a reply, another resident's answer, a head's order on a hot spot of the ticket and a repeat
    suggestion made since (not through this page) all show on the next one."""
    inst = make_institution(name="МУП «Водоканал»")
    t = make_ticket("Прорыв трубы на ул. Кирова, 3", institution=inst, status="assigned")
    other = make_ticket("Снова прорыв трубы на ул. Кирова, 3", institution=inst, status="assigned")
    client = login(make_user("moderator"))
    page = body(client.get(f"/tickets/{t.number}"))
    assert "Ответ жителю (" not in page and 'class="ticket-orders"' not in page and "возможный повтор" not in page

    executor = make_user("executor", institution=inst)
    db.session.add(Reply(ticket_id=t.id, author_id=executor.id, network=t.network, text="Бригада выехала",
                         state="sent"))
    neighbour = make_resident("telegram", name="Анна Соседова")
    db.session.add(VerdictAnswer(ticket_id=t.id, resident_id=neighbour.id, verdict="no", verdict_at=utcnow()))
    now = utcnow()
    spot = HotSpot(key=f"addr:{t.id}", kind="address", label="ул. Кирова, 3: водопровод", institution_id=inst.id,
                   ticket_count=1, open_count=1, first_seen_at=now, last_seen_at=now)
    db.session.add(spot)
    db.session.flush()
    db.session.add(HotSpotTicket(hot_spot_id=spot.id, ticket_id=t.id))
    control.issue(make_user("head"), instruction="Устранить", institution_id=inst.id,
                  due=now + timedelta(days=5), hot_spot=spot)
    db.session.add(RepeatSuggestion(ticket_id=other.id, other_id=t.id, score=91.0, reason="address",
                                    created_at=now))
    db.session.commit()

    page = body(client.get(f"/tickets/{t.number}"))
    assert "Бригада выехала" in page and "Ответ жителю (" in page
    assert "Анна Соседова: проблема не решена" in page
    assert 'class="ticket-orders"' in page and "по горячей точке" in page
    assert "возможный повтор" in page and other.number in page


def test_the_kept_csrf_input_carries_this_sessions_token(app, login):
    """The panel's CSRF inputs are made from the markup around the request's token (no form built): the token
    is the one this session's form posts are checked against."""
    t = make_ticket()
    client = login(make_user("moderator"))
    body(client.get(f"/tickets/{t.number}"))  # another request first: the markup is kept by then
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = body(client.get(f"/tickets/{t.number}"))
        tokens = set(re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', page))
        assert len(tokens) == 1
        blocked = client.post(f"/tickets/{t.number}/note", data={"text": "Без токена"}, headers=HX)
        assert blocked.status_code == 400
        ok = client.post(f"/tickets/{t.number}/note", data={"text": "С токеном", "csrf_token": tokens.pop()},
                         headers=HX)
        assert ok.status_code == 200 and "С токеном" in body(ok)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_the_heads_order_form_lists_institutions_as_they_are_now(login):
    """The head's «Дать поручение» list is kept per reference data version: a rename and a closed institution made
    by another process show on the next page."""
    kept = make_institution(name="Управление образования")
    closing = make_institution(name="Жилищная инспекция")
    t = make_ticket()
    client = login(make_user("head"))
    for _ in range(2):
        page = body(client.get(f"/tickets/{t.number}"))
        assert f'<option value="{kept.id}">Управление образования</option>' in page
        assert f'<option value="{closing.id}">Жилищная инспекция</option>' in page
    db.session.execute(text("UPDATE institutions SET short_name = 'Образование' WHERE id = :i"), {"i": kept.id})
    db.session.execute(text("UPDATE institutions SET is_active = false WHERE id = :i"), {"i": closing.id})
    db.session.commit()
    page = body(client.get(f"/tickets/{t.number}"))
    assert f'<option value="{kept.id}">Образование</option>' in page and "Управление образования" not in page
    assert "Жилищная инспекция" not in page
