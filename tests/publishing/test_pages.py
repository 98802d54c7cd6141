"""The /posts pages (issue 13): compose with photos, the per-network preview, the post page with each account's
state, approval, the calendar in city time, and another participant's posts answering 404."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.models import Notification, Publication
from app.services.publishing import posts
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, file, png_bytes

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world
YAKUTSK = ZoneInfo("Asia/Yakutsk")


def html(resp) -> str:
    return resp.get_data(as_text=True)


def test_nav_and_compose_page_show_only_the_smm_s_accounts(world, login):
    client = login(world.users.smm)
    page = html(client.get("/queue"))  # any page: the nav
    assert "/posts" in html(client.get("/posts"))
    page = html(client.get("/posts/new"))
    assert 'type="datetime-local"' in page and 'multiple' in page and 'hx-post="/posts/preview"' in page
    assert "Школа № 5 telegram" in page and "Музей" not in page and "Дзен" not in page
    assert "<script>" not in page.split("</head>", 1)[1]  # no inline script
    assert login(world.users.executor).get("/posts/new").status_code == 403


def test_preview_shows_the_telegram_split_for_a_long_caption_with_two_photos(world, login):
    client = login(world.users.smm)
    acc = world.acc
    resp = client.post("/posts/preview", data={"text": "Слово " * 250, "photo_sizes": "2048,4096",
                                                "link_preview": "y",
                                                "accounts": [acc["s_telegram"].id, acc["s_vk"].id, acc["m_ok"].id]})
    page = html(resp)
    assert resp.status_code == 200
    assert "Telegram" in page and "ВКонтакте" in page and "Одноклассники" not in page  # not the museum's
    assert "альбом из 2 фото без подписи + отдельное сообщение с текстом" in page
    assert "уйдёт отдельным сообщением после фото" in page
    assert "sendMediaGroup" not in page  # methods in words
    long = html(client.post("/posts/preview", data={"text": "я" * 5000, "accounts": [acc["s_ok"].id]}))
    assert 'class="error refused"' in long and "Одноклассники" in long


def test_compose_publishes_with_photos_and_the_post_page_shows_each_account(world, login):
    client = login(world.users.smm)
    acc = world.acc
    resp = client.post("/posts/new", data={"text": "Концерт в пятницу", "link_preview": "y", "go": "now",
                                           "accounts": [acc["s_telegram"].id, acc["s_vk"].id],
                                           "photos": [file(png_bytes(), "a.jpg"), file(JPEG, "b.jpg")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 303, html(resp)[:2000]
    pub = db.session.scalar(select(Publication).where(Publication.author_id == world.users.smm.id))
    assert [p.content_type for p in pub.photos] == ["image/png", "image/jpeg"] and world.calls.release == [pub.id]
    page = html(client.get(resp.headers["Location"]))
    assert page.count("запланировано") >= 2 and 'hx-trigger="every 2s"' in page
    photo = client.get(f"/posts/photos/{pub.photos[0].id}")
    assert photo.status_code == 200 and photo.mimetype == "image/png"
    pub.deliveries[0].state, pub.deliveries[0].permalink = "published", "https://t.me/s_telegram/5"
    pub.deliveries[1].state = "unconfirmed"
    db.session.commit()
    part = html(client.get(f"/posts/{pub.id}/status"))
    assert "опубликовано" in part and "https://t.me/s_telegram/5" in part and "не подтверждено" in part
    assert "every 2s" not in part  # nothing scheduled or sending: the polling stops
    resp = client.post(f"/posts/{pub.id}/deliveries/{pub.deliveries[1].id}/resend")
    assert resp.status_code == 303 and world.calls.resend == [pub.deliveries[1].id]
    # another participant's smm: the post, its status, its photo and its actions are «not found»
    other = login(world.users.smm2)
    for url in (f"/posts/{pub.id}", f"/posts/{pub.id}/status", f"/posts/photos/{pub.photos[0].id}",
                f"/posts/{pub.id}/edit"):
        assert other.get(url).status_code == 404, url
    for url in (f"/posts/{pub.id}/cancel", f"/posts/{pub.id}/text", f"/posts/{pub.id}/delete",
                f"/posts/{pub.id}/deliveries/{pub.deliveries[1].id}/resend"):
        assert other.post(url, data={"text": "x"}).status_code == 404, url


def test_compose_errors_are_russian_and_nothing_is_made(world, login):
    client = login(world.users.smm)
    acc = world.acc
    resp = client.post("/posts/new", data={"text": "x", "accounts": [acc["m_vk"].id], "go": "now"})
    assert resp.status_code == 422 and "недоступен для публикации" in html(resp)
    resp = client.post("/posts/new", data={"text": "x", "accounts": [acc["s_vk"].id],
                                           "photos": [file(b"<html>hi</html>", "page.jpg")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "«page.jpg» — не фото" in html(resp)
    resp = client.post("/posts/new", data={"text": "x", "accounts": [acc["s_vk"].id], "go": "schedule", "at": ""})
    assert resp.status_code == 422 and "Укажите, когда опубликовать" in html(resp)
    resp = client.post("/posts/new", data={"text": "x", "accounts": [acc["s_vk"].id], "at": "2020-01-01T10:00"})
    assert resp.status_code == 422 and "уже прошло" in html(resp)
    assert db.session.scalar(select(db.func.count(Publication.id))) == 0


def test_schedule_edit_and_cancel_from_the_page(world, login):
    client = login(world.users.smm)
    acc = world.acc
    at = (datetime.now(timezone.utc) + timedelta(days=2)).astimezone(YAKUTSK).strftime("%Y-%m-%dT%H:%M")
    resp = client.post("/posts/new", data={"text": "Запланированный", "accounts": [acc["s_vk"].id], "at": at,
                                           "go": "schedule"})
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication).where(Publication.text == "Запланированный"))
    assert posts.to_city(pub.scheduled_at).strftime("%Y-%m-%dT%H:%M") == at
    page = html(client.get(f"/posts/{pub.id}/edit"))
    assert f'value="{at}"' in page and "Запланированный" in page
    resp = client.post(f"/posts/{pub.id}/edit", data={"text": "Правленый", "accounts": [acc["s_ok"].id], "at": at})
    assert resp.status_code == 303
    db.session.refresh(pub)
    assert pub.text == "Правленый" and [d.account_id for d in pub.deliveries] == [acc["s_ok"].id]
    assert client.post(f"/posts/{pub.id}/cancel").status_code == 303
    db.session.refresh(pub)
    assert pub.state == "cancelled"


def test_approval_from_the_pages(world, login):
    world.school.posts_need_approval = True
    acc, u = world.acc, world.users
    smm = login(u.smm)
    smm.post("/posts/new", data={"text": "Проверьте", "accounts": [acc["s_vk"].id], "go": "now"})
    pub = db.session.scalar(select(Publication).where(Publication.text == "Проверьте"))
    assert pub.state == "awaiting_approval"
    assert "ожидает согласования" in html(smm.get(f"/posts/{pub.id}"))
    assert smm.post(f"/posts/{pub.id}/approve").status_code == 403
    press = login(u.press)
    listing = html(press.get("/posts?tab=approval"))
    assert "Ждут согласования (1)" in listing and "Проверьте" in listing
    assert "Открыть пост" in html(press.get("/notifications"))
    resp = press.post(f"/posts/{pub.id}/reject", data={"reason": ""})
    assert resp.status_code == 422 and "Напишите причину" in html(resp)
    assert press.post(f"/posts/{pub.id}/reject", data={"reason": "Нет даты"}).status_code == 303
    note = db.session.scalar(select(Notification).where(Notification.user_id == u.smm.id))
    assert "Нет даты" in note.text
    assert "Нет даты" in html(login(u.smm).get(f"/posts/{pub.id}"))
    db.session.refresh(pub)
    pub.state = "awaiting_approval"
    db.session.commit()
    assert login(u.press).post(f"/posts/{pub.id}/approve").status_code == 303
    assert world.calls.release == [pub.id]


def test_published_post_edit_and_delete_show_per_account_results(world, login):
    acc, u = world.acc, world.users
    pub = posts.create(u.smm, text="Было", account_ids=[acc["s_vk"].id, acc["s_ok"].id]).publication
    pub.state = "done"
    for d in pub.deliveries:
        d.state = "published"
    client = login(u.smm)
    page = html(client.post(f"/posts/{pub.id}/text", data={"text": "Стало"}))
    assert "Одноклассники не дают править пост" in page and "изменение применено" in page
    page = html(client.post(f"/posts/{pub.id}/delete"))
    assert "Отметьте «Да, удалить везде»" in page and world.calls.delete == []
    page = html(client.post(f"/posts/{pub.id}/delete", data={"confirm": "yes"}))
    assert "удалено" in page and world.calls.delete == [pub.id]


def test_calendar_week_and_month_in_city_time(world, login):
    acc, u = world.acc, world.users
    now = datetime.now(timezone.utc)
    day = (now + timedelta(days=3)).astimezone(YAKUTSK).date()
    late = datetime.combine(day, datetime.min.time(), YAKUTSK).replace(hour=0, minute=30)  # the UTC eve
    pub = posts.create(u.smm, text="Полночный пост", account_ids=[acc["s_vk"].id],
                       at=late.astimezone(timezone.utc)).publication
    db.session.commit()
    client = login(u.smm)
    for view in ("week", "month"):
        page = html(client.get("/posts/calendar", query_string={"view": view, "date": day.isoformat()}))
        cell = re.search(rf'data-day="{day.isoformat()}">(.*?)</section>', page, re.S).group(1)
        assert "Полночный пост" in cell and "00:30" in cell
        eve = re.search(rf'data-day="{(day - timedelta(days=1)).isoformat()}">(.*?)</section>', page, re.S)
        assert eve is None or "Полночный пост" not in eve.group(1)
        assert 'rel="prev"' in page and 'rel="next"' in page
    assert "Полночный пост" not in html(login(u.smm2).get("/posts/calendar", query_string={"date": day.isoformat()}))
    press = login(u.press)
    assert "Полночный пост" in html(press.get("/posts/calendar", query_string={"date": day.isoformat(),
                                                                               "participant": "p-school-5"}))
    assert "Полночный пост" not in html(press.get("/posts/calendar", query_string={"date": day.isoformat(),
                                                                                   "participant": "p-museum"}))
    assert pub.id


def test_participant_form_has_the_approval_setting(world, login):
    client = login(world.users.press)
    page = html(client.get(f"/admin/participants/{world.school.id}"))
    assert "после согласования пресс-службой" in page


def test_pages_in_english(world, login, in_english):
    client = login(world.users.smm)
    page = html(client.get("/posts/new"))
    assert "Where to publish" in page and "Publish" in page and "Куда публикуем" not in page
    resp = client.post("/posts/preview", data={"text": "Слово " * 250, "photo_sizes": "1,2",
                                               "accounts": [world.acc["s_telegram"].id]})
    assert "an album of 2 photos without a caption + a separate message with the text" in html(resp)


def test_ten_photos_fit_the_compose_form_with_csrf_on(app, world, login):
    """Larger than MAX_CONTENT_LENGTH (27 MB, residents' five photos): the compose form takes 3 × 9.5 MB."""
    from app.models import PublicationPhoto

    big = png_bytes() + b"\0" * (9 * 1024 * 1024 + 512 * 1024)
    client = login(world.users.smm)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = html(client.get("/posts/new"))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        resp = client.post("/posts/new", content_type="multipart/form-data",
                           data={"csrf_token": token, "text": "Большие фото", "go": "now",
                                 "accounts": [world.acc["s_vk"].id],
                                 "photos": [file(big, f"{n}.png") for n in range(3)]})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert resp.status_code == 303, html(resp)[:500]
    assert db.session.scalar(select(db.func.count(PublicationPhoto.id))) == 3


def test_press_chooses_any_account_or_a_whole_direction(world, login):
    client = login(world.users.press)
    page = html(client.get("/posts/new"))
    assert f'data-check-all=".dir-{world.cul.id}"' in page and "выбрать все: П-Культура" in page
    assert "Школа № 5 telegram" in page and "Музей telegram" in page
    ids = [world.acc[f"m_{n}"].id for n in ("telegram", "vk", "ok", "max")]
    resp = client.post("/posts/new", data={"text": "Ночь музеев", "accounts": ids, "go": "now"})
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication).where(Publication.text == "Ночь музеев"))
    assert pub.institution_id == world.museum.id and len(pub.deliveries) == 4
    assert "Ночь музеев" in html(login(world.users.smm2).get("/posts"))
    assert "Ночь музеев" not in html(login(world.users.smm).get("/posts"))


def test_check_rights_from_the_compose_page(world, login):
    client = login(world.users.smm)
    assert "проверить права" in html(client.get("/posts/new"))
    resp = client.post(f"/posts/accounts/{world.acc['s_vk'].id}/rights", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "у ключа нет права wall" in html(resp)
    resp = client.post(f"/posts/accounts/{world.acc['s_telegram'].id}/rights")
    assert "может публиковать" in html(resp)
    assert "у ключа нет права wall" in html(client.get("/posts/new"))  # stored on the account
    assert client.post(f"/posts/accounts/{world.acc['m_vk'].id}/rights").status_code == 404
    assert world.calls.rights == [world.acc["s_vk"].id, world.acc["s_telegram"].id]


def test_a_double_click_on_publish_makes_one_post(world, login):
    client = login(world.users.smm)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]{32})"', html(client.get("/posts/new"))).group(1)
    data = {"text": "Один раз", "accounts": [world.acc["s_vk"].id], "go": "now", "form_key": key}
    first, second = client.post("/posts/new", data=data), client.post("/posts/new", data=data)
    assert first.status_code == second.status_code == 303 and first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(db.func.count(Publication.id))) == 1 and len(world.calls.release) == 1
