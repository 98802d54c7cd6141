"""The residents' web form and the public status page: a submission becomes a ticket through intake,
photos are checked by their bytes and stored under UPLOAD_DIR, errors store nothing, one address is
limited, and the status page shows public replies only."""
from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from app.extensions import db
from app.models import Message, Reply, Resident, Ticket, utcnow
from app.services import intake, tickets, verdict
from tests.factories import make_ticket, make_user
from tests.helpers import body, count

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 200 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
TEXT = "Во дворе дома на ул. Ленина, 12 третий день не горит фонарь"


@pytest.fixture
def uploads(app, tmp_path):
    old = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    yield tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = old


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def form(**overrides) -> dict:
    data = {"submission_id": str(uuid.uuid4()), "text": TEXT, "address": "ул. Ленина, 12", "name": "Ольга Иванова",
            "phone": "8 (914) 123-45-67", "email": "Ivanova@Mail.ru", "consent": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, ip="203.0.113.7", **kw):
    return client.post("/appeal", data=data, content_type="multipart/form-data",
                       environ_base={"REMOTE_ADDR": ip}, **kw)


def test_form_page_has_the_fields_the_consent_and_the_policy(client):
    page = body(client.get("/appeal"))
    assert "Сообщить о проблеме" in page and 'enctype="multipart/form-data"' in page
    assert "Согласен на обработку персональных данных (152-ФЗ)" in page and 'href="#policy"' in page
    assert 'id="policy"' in page and "152-ФЗ" in page
    assert re.search(r'name="submission_id" type="hidden" value="[0-9a-f-]{36}"', page)
    assert 'name="photos"' in page and "multiple" in page and "image/heic" in page
    assert "Выйти" not in page  # no staff navigation for residents


def test_submission_makes_a_ticket_with_text_address_and_photos(client, uploads, login):
    data = form(photos=[(io.BytesIO(JPEG), "IMG_0001.JPG"), (io.BytesIO(PNG), "../../etc/двор.png"),
                        (io.BytesIO(HEIC), "фонарь.heic")])
    resp = post(client, data)
    assert resp.status_code == 303 and f"/appeal/done/{data['submission_id']}" in resp.headers["Location"]

    message = db.session.scalar(db.select(Message))
    assert message.network == "web" and message.kind == "form" and message.text == TEXT
    assert message.raw == {"address": "ул. Ленина, 12", "ip": "203.0.113.7"}
    assert message.external_id == data["submission_id"]
    ticket = message.ticket
    assert ticket is not None and ticket.network == "web" and ticket.address == "ул. Ленина, 12"
    assert ticket.summary == TEXT

    photos = message.attachments
    assert [(a["kind"], a["mime"], a["name"]) for a in photos] == [
        ("photo", "image/jpeg", "IMG_0001.JPG"), ("photo", "image/png", "двор.png"),
        ("photo", "image/heic", "фонарь.heic")]
    now = utcnow()
    for a, content, ext in zip(photos, (JPEG, PNG, HEIC), ("jpg", "png", "heic"), strict=True):
        assert re.fullmatch(rf"\d{{4}}/\d{{2}}/[0-9a-f]{{32}}\.{ext}", a["file_id"])
        assert a["file_id"].startswith(f"{now:%Y}/")
        assert (uploads / a["file_id"]).read_bytes() == content and a["size"] == len(content)
    on_disk = stored_files(uploads)
    assert len(on_disk) == 3 and not any("IMG_0001" in p.name or "двор" in p.name for p in on_disk)

    resident = ticket.resident
    assert resident.network == "web" and resident.external_id == "email:ivanova@mail.ru"
    assert resident.display_name == "Ольга Иванова" and resident.phone == "+79141234567"
    assert resident.email == "ivanova@mail.ru" and resident.consent_at is not None
    ack = db.session.scalar(db.select(Reply).where(Reply.ticket_id == ticket.id))
    assert ack.kind == "ack" and ack.state == "sent" and ack.external_id == "status-page"

    done = client.get(resp.headers["Location"])
    page = body(done)
    assert done.status_code == 200 and ticket.number in page
    # the resident's own link: with the verdict token, so the page can ask «Проблема решена?» later
    assert f'href="/status/{quote(ticket.number)}?v={verdict.token(ticket)}"' in page and "hx-get" not in page
    assert f"http://localhost/status/{ticket.number}?v={verdict.token(ticket)}</a>" in page

    queue = body(login(make_user("moderator")).get("/queue"))
    assert ticket.number in queue and TEXT[:40] in queue and "ул. Ленина, 12" in queue


def test_anonymous_submission_without_contacts(client, uploads):
    resp = post(client, form(name="", phone="", email="", address=""))
    assert resp.status_code == 303
    message = db.session.scalar(db.select(Message))
    assert message.resident.external_id.startswith("anon:") and message.resident.phone is None
    assert message.raw["address"] is None and message.ticket.address is None and message.attachments == []


def test_missing_consent_is_422_and_nothing_is_stored(client, uploads):
    resp = post(client, form(consent=None, photos=[(io.BytesIO(JPEG), "a.jpg")]))
    assert resp.status_code == 422
    page = body(resp)
    assert "Без согласия на обработку персональных данных мы не можем принять обращение" in page
    assert TEXT in page  # what the resident typed is kept in the form
    assert count(Message) == 0 and count(Ticket) == 0 and count(Resident) == 0
    assert stored_files(uploads) == []


def test_each_field_gets_its_own_russian_message(client, uploads):
    resp = post(client, form(text="   ", phone="12-34", email="ivanova@", address="д" * 301))
    assert resp.status_code == 422
    page = body(resp)
    for msg in ("Опишите, что случилось", "Укажите телефон полностью", "Проверьте адрес электронной почты",
                "Адрес слишком длинный"):
        assert msg in page
    assert page.count('class="error"') >= 4 and 'aria-invalid="true"' in page
    long = post(client, form(text="я" * 10_001))
    assert long.status_code == 422 and "Не больше 10 000 знаков" in body(long)
    assert count(Message) == 0


def test_a_non_image_named_jpg_is_refused(client, uploads):
    fake = b"MZ\x90\x00" + b"\x00" * 300  # an executable dressed as a photo
    resp = post(client, form(photos=[(io.BytesIO(JPEG), "ok.jpg"), (io.BytesIO(fake), "photo.jpg")]))
    assert resp.status_code == 422
    assert "«photo.jpg» не похож на фотографию" in body(resp)
    assert count(Message) == 0 and stored_files(uploads) == []
    html = post(client, form(photos=[(io.BytesIO(b"<html><script>alert(1)</script>"), "x.png")]))
    assert html.status_code == 422 and count(Message) == 0


def test_six_photos_are_refused(client, uploads):
    resp = post(client, form(photos=[(io.BytesIO(JPEG), f"{i}.jpg") for i in range(6)]))
    assert resp.status_code == 422 and "не больше 5 фотографий" in body(resp)
    assert count(Message) == 0 and stored_files(uploads) == []


def test_a_photo_over_10_mb_is_refused(client, uploads):
    big = JPEG + b"\x00" * (10 * 1024 * 1024)
    resp = post(client, form(photos=[(io.BytesIO(big), "big.jpg")]))
    assert resp.status_code == 422 and "«big.jpg» больше 10 МБ" in body(resp)
    assert count(Message) == 0 and stored_files(uploads) == []


def test_photos_over_25_mb_together_are_refused_and_a_huge_body_is_413(client, uploads):
    eight = JPEG + b"\x00" * (8 * 1024 * 1024 + 512 * 1024)
    resp = post(client, form(photos=[(io.BytesIO(eight), f"{i}.jpg") for i in range(3)]))
    assert resp.status_code == 422 and "Все фотографии вместе — не больше 25 МБ" in body(resp)
    nine = JPEG + b"\x00" * (9 * 1024 * 1024)
    huge = post(client, form(photos=[(io.BytesIO(nine), f"{i}.jpg") for i in range(3)]))
    assert huge.status_code == 413 and "не больше 25 МБ" in body(huge)
    assert count(Message) == 0 and stored_files(uploads) == []


def test_line_breaks_count_once_towards_the_limit(client, uploads):
    text = ("я" * 99 + "\r\n") * 100  # 10 000 characters as the browser counts them
    assert post(client, form(text=text)).status_code == 303
    assert "\r" not in db.session.scalar(db.select(Message.text))


def test_a_double_click_is_one_message_and_one_ticket(client, uploads):
    data = form()
    first = post(client, dict(data, photos=[(io.BytesIO(JPEG), "a.jpg")]))
    second = post(client, dict(data, photos=[(io.BytesIO(JPEG), "a.jpg")]))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Message) == 1 and count(Ticket) == 1 and len(stored_files(uploads)) == 1


def test_the_sixth_submission_from_one_address_within_an_hour_is_429(client, uploads):
    for i in range(5):
        assert post(client, form(text=f"Яма на дороге у дома {i + 1}")).status_code == 303
    sixth = post(client, form(text="Яма на дороге у дома 6"))
    assert sixth.status_code == 429
    assert "С вашего адреса уже отправлено много обращений" in body(sixth)
    assert count(Message) == 5
    assert post(client, form(), ip="198.51.100.1").status_code == 303  # another address is not affected


def test_twenty_a_day_from_one_address_is_the_limit(client, uploads):
    now = utcnow()
    for i in range(20):
        db.session.add(Message(network="web", external_id=str(uuid.uuid4()), kind="form", text=f"т{i}",
                               raw={"address": None, "ip": "203.0.113.9"}, received_at=now - timedelta(hours=3),
                               triaged_at=now))
    db.session.commit()
    assert post(client, form(), ip="203.0.113.9").status_code == 429
    db.session.execute(db.update(Message).values(received_at=now - timedelta(hours=25)))
    db.session.commit()
    assert post(client, form(), ip="203.0.113.9").status_code == 303


def test_the_receipt_polls_until_the_worker_has_made_the_ticket(app, client, uploads):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # the triage job is not run in-process
    try:
        resp = post(client, form())
    finally:
        app.config["REDIS_URL"] = None
    assert resp.status_code == 303 and count(Ticket) == 0
    page = body(client.get(resp.headers["Location"]))
    assert "номер появится через минуту" in page and "hx-get=" in page and 'hx-trigger="every 3s"' in page
    poll_url = re.search(r'hx-get="([^"]+)"', page).group(1)
    assert "номер появится через минуту" in body(client.get(poll_url, headers={"HX-Request": "true"}))

    assert intake.triage_pending() == 1
    db.session.commit()
    ticket = db.session.scalar(db.select(Ticket))
    fragment = body(client.get(poll_url, headers={"HX-Request": "true"}))
    assert ticket.number in fragment and "hx-get" not in fragment and f"/status/{quote(ticket.number)}" in fragment


def test_receipt_of_an_unknown_submission_is_404(client):
    assert client.get(f"/appeal/done/{uuid.uuid4()}").status_code == 404


def test_status_page_shows_sent_replies_and_nothing_private(client, uploads):
    assert post(client, form(text="Нет воды в доме на ул. Кирова, 45, кв. 7")).status_code == 303
    ticket = db.session.scalar(db.select(Ticket))
    staff = make_user("moderator")
    tickets.add_note(ticket, staff, "Внутренняя заметка: житель скандальный")
    reply = tickets.public_reply(ticket, staff, "Аварийная бригада выехала, воду дадут к 18:00")
    db.session.commit()
    db.session.refresh(reply)
    assert reply.state == "sent" and reply.external_id == "status-page"

    resp = client.get(f"/status/{ticket.number}", query_string={"v": verdict.token(ticket)})  # the personal link
    page = body(resp)
    assert resp.status_code == 200 and ticket.number in page and "Новое" in page
    assert "Аварийная бригада выехала, воду дадут к 18:00" in page
    for private in ("Внутренняя заметка", "скандальный", "Ольга", "Иванова", "914", "ivanova@mail.ru",
                    "Кирова, 45", "кв. 7", "203.0.113.7"):
        assert private not in page, private
    assert "зарегистрировано" not in page  # the automatic acknowledgement is not a public reply
    assert "Выйти" not in page


def test_status_page_names_the_institution_and_hides_replies_sent_to_private_chats(client):
    from tests.factories import make_institution

    inst = make_institution(name="МУП «Водоканал» г. Белогорск")
    ticket = make_ticket(network="telegram", institution=inst)
    db.session.add(Reply(ticket=ticket, network="telegram", kind="staff", text="Личный ответ в чате", state="sent",
                         sent_at=utcnow()))
    db.session.add(Reply(ticket=ticket, network="telegram", kind="staff", text="Ещё не отправлен", state="pending"))
    db.session.commit()
    page = body(client.get(f"/status/{ticket.number.lower()}", query_string={"v": verdict.token(ticket)}))
    assert inst.short_name in page or "Водоканал" in page
    assert "Личный ответ в чате" not in page and "Ответ направлен жителю" in page
    assert "Ещё не отправлен" not in page


def test_status_page_without_the_personal_link_shows_the_status_and_dates_only(client, uploads):
    """Numbers are sequential (БЛГ-2026-002014, …002015): a guessed number must not give away the staff's answer."""
    from tests.factories import make_institution

    assert post(client, form(text="Нет воды в доме на ул. Кирова, 45, кв. 7")).status_code == 303
    ticket = db.session.scalar(db.select(Ticket))
    ticket.institution = make_institution(name="МУП «Водоканал» г. Белогорск")
    tickets.public_reply(ticket, make_user("moderator"), "Аварийная бригада выехала, воду дадут к 18:00")
    db.session.commit()
    assert ticket.number.startswith("БЛГ-")
    for link in (f"/status/{ticket.number}", f"/status/{ticket.number}?v=forged.token",
                 f"/status/{ticket.number}?v="):
        resp = client.get(link)
        page = body(resp)
        assert resp.status_code == 200 and ticket.number in page and str(ticket.status_label) in page, link
        assert "Поступило" in page and "Обновлено" in page, link
        assert "Аварийная бригада" not in page and "Водоканал" not in page, link
        assert "по личной ссылке" in page, link
    own = body(client.get(f"/status/{ticket.number}", query_string={"v": verdict.token(ticket)}))
    assert "Аварийная бригада выехала, воду дадут к 18:00" in own and "Водоканал" in own


def test_unknown_status_number_is_404_and_the_lookup_form_finds_a_ticket(client):
    ticket = make_ticket()
    db.session.commit()
    missing = client.get("/status/БЛГ-1999-000001")
    assert missing.status_code == 404 and "Страница не найдена" in body(missing)
    assert client.get("/status").status_code == 200
    found = client.get("/status", query_string={"number": f"  {ticket.number.lower()} "})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/status/{quote(ticket.number)}")
    unknown = client.get("/status", query_string={"number": "БЛГ-1999-000001"})
    assert unknown.status_code == 404 and "Обращение с таким номером не найдено" in body(unknown)
    empty = client.get("/status", query_string={"number": ""})
    assert empty.status_code == 422 and "Введите номер обращения" in body(empty)


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_the_form_needs_its_csrf_token(app, csrf_on, uploads):
    client = app.test_client()
    data = form()
    no_token = post(client, data)
    assert no_token.status_code == 400 and count(Message) == 0 and "Форма устарела" in body(no_token)
    page = body(client.get("/appeal"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = post(client, dict(data, csrf_token=token))
    assert ok.status_code == 303 and count(Message) == 1


def test_staff_open_the_residents_photo_from_the_ticket_page(client, uploads, login):
    post(client, form(photos=[(io.BytesIO(JPEG), "яма.jpg")]))
    ticket = db.session.scalar(db.select(Ticket))
    staff = login(make_user("moderator"))
    page = body(staff.get(f"/tickets/{ticket.number}"))
    assert "📎 фото: яма.jpg" in page
    link = f"/tickets/{quote(ticket.number)}/files/{ticket.messages[0].id}/0"
    assert link in page
    resp = staff.get(link)
    assert resp.status_code == 200 and resp.data == JPEG
    assert staff.get(link[:-1] + "5").status_code == 404
    outsider = login(make_user("executor"))
    assert outsider.get(link).status_code == 404


def _hidden(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


def test_inside_the_city_sites_frame_the_form_posts_without_the_session_and_stays_embedded(app, uploads):
    """`/appeal?embed=1` in a cross-site iframe: the browser sends no session cookie (SameSite=Lax), so the form
    carries a token signed for its own submission; the receipt has no app header either."""
    app.config["WTF_CSRF_ENABLED"] = True  # as in production
    try:
        page = body(app.test_client().get("/appeal?embed=1"))
        assert 'action="/appeal?embed=1"' in page and "topbar" not in page
        submission, token = _hidden(page, "submission_id"), _hidden(page, "frame_token")
        frame = app.test_client(use_cookies=False)  # what the browser sends from inside another site's frame
        post_in_frame = lambda data: frame.post("/appeal?embed=1", data=data, content_type="multipart/form-data",  # noqa: E731
                                                environ_base={"REMOTE_ADDR": "203.0.113.9"})
        for bad in ("", "forged", token + "x"):
            refused = post_in_frame(form(submission_id=submission, frame_token=bad))
            assert refused.status_code == 400 and "Форма устарела" in body(refused) and count(Message) == 0
        other = post_in_frame(form(submission_id=str(uuid.uuid4()), frame_token=token))  # another form's token
        assert other.status_code == 400 and count(Message) == 0
        resp = post_in_frame(form(submission_id=submission, frame_token=token))
        assert resp.status_code == 303 and resp.headers["Location"].endswith("?embed=1") and count(Message) == 1
        receipt = frame.get(resp.headers["Location"])
        assert receipt.status_code == 200 and "topbar" not in body(receipt)
        assert 'href="/appeal?embed=1"' in body(receipt)  # «Написать ещё одно обращение» stays in the frame
        outside = app.test_client(use_cookies=False).post("/appeal", data=form(), content_type="multipart/form-data")
        assert outside.status_code == 400 and count(Message) == 1  # outside a frame the session's CSRF still rules
        plain = body(app.test_client().get("/appeal"))
        assert 'action="/appeal"' in plain and "embed=1" not in plain
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
