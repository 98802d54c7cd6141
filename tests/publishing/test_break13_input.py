"""Breaking cross-posting (issue 13) with junk input: moments at the edge of the calendar, keys the CLI cannot use,
characters PostgreSQL cannot store, photos that are not photos, more photos than allowed, texts beyond the app's
limit. Never a 500 or a traceback, never a silent drop: a Russian sentence."""
from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import func, select

from app.blueprints.publishing import routes
from app.extensions import db
from app.models import Publication
from app.services.errors import ValidationFailed
from app.services.publishing import posts
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, file, png_bytes

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world


def html(resp) -> str:
    return resp.get_data(as_text=True)


def count() -> int:
    return db.session.scalar(select(func.count(Publication.id)))


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["posts", "publish", *args])


# --- moments --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["0001-01-01 00:00", "0001-01-01T08:30", "01.01.0001 00:00"])
def test_a_moment_before_the_calendar_starts_is_a_sentence(world, raw):
    # Yakutsk is ahead of UTC (+8:38:58 local mean time before 1919): the first hours of year 1 in city time are
    # before datetime.min in UTC (an OverflowError, a 500 on the compose page).
    with pytest.raises(ValidationFailed) as caught:
        posts.parse_city_time(raw)
    assert caught.value.field == "at" and "ремя публикации" in caught.value.message


def test_the_compose_page_and_the_cli_answer_a_moment_in_year_one_with_a_sentence(app, world, login):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "Концерт", "at": "0001-01-01T00:00", "go": "schedule",
                                           "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 422 and "ремя публикации" in html(resp)
    result = cli(app, "--text", "Концерт", "--accounts", "all", "--key", "dawn", "--at", "0001-01-01 00:00",
                 "--as", world.users.smm.username)
    assert result.exit_code == 1 and "ремя публикации" in result.output and result.exception.__class__ is SystemExit
    assert count() == 0


@pytest.mark.parametrize("raw", ["9999-12-31 23:59", "2026-13-01 10:00", "2026-02-30 10:00", "завтра", "10000-01-01 00:00"])
def test_far_or_impossible_moments_are_sentences(world, login, raw):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "Концерт", "at": raw, "go": "schedule",
                                           "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 422 and ("ремя публикации" in html(resp) or "не дальше чем на год" in html(resp))
    assert count() == 0


# --- the CLI's key and text -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["", "   "])
def test_a_blank_key_is_refused_by_the_cli_instead_of_publishing_every_run(app, world, key):
    # --key is what makes a repeated run publish nothing new: a blank one would publish on every run.
    for _ in range(2):
        result = cli(app, "--text", "Из скрипта", "--accounts", "all", "--key", key, "--as", world.users.smm.username)
        assert result.exit_code != 0 and "ключ" in result.output.lower()
    assert count() == 0 and world.calls.release == []


def test_a_key_longer_than_its_column_is_a_sentence(app, world):
    result = cli(app, "--text", "x", "--accounts", "all", "--key", "k" * 121, "--as", world.users.smm.username)
    assert result.exit_code == 1 and "Ключ длиннее 120 символов" in result.output and count() == 0


@pytest.mark.parametrize("text", ["до\udcffпосле", "a\ud83d", "\x00скрытый"])
def test_characters_postgresql_cannot_store_are_a_sentence_not_a_traceback(app, world, text):
    # A command line in a non-UTF-8 locale gives Python lone surrogates (surrogateescape); NUL cannot be stored.
    result = cli(app, "--text", text, "--accounts", "all", "--key", "bad-chars", "--as", world.users.smm.username)
    assert result.exit_code == 1 and "символ" in result.output, (result.output, result.exception)
    assert count() == 0


def test_a_key_with_a_lone_surrogate_is_a_sentence(app, world):
    result = cli(app, "--text", "x", "--accounts", "all", "--key", "k\udcff", "--as", world.users.smm.username)
    assert result.exit_code == 1 and "символ" in result.output, (result.output, result.exception)


# --- photos -----------------------------------------------------------------------------------------------------
def test_twenty_photos_are_refused_with_the_number_chosen(world, login):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id],
                                           "photos": [file(JPEG, f"{i}.jpg") for i in range(20)]},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert re.findall(r"выбрано \d+", html(resp)) == ["выбрано 20"]  # not «11»: the author chose twenty
    assert count() == 0


@pytest.mark.parametrize("content,name", [
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "cat.jpg"),
    (b"<!doctype html><script>alert(1)</script>", "cat.jpg"),
    (b"%PDF-1.4 ...", "cat.png"),
    (b"", "empty.jpg"),
    (b"PK\x03\x04" + b"\x00" * 50, "cat.gif"),
])
def test_a_file_that_is_not_a_photo_is_refused_by_name(world, login, content, name):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id],
                                           "photos": [file(JPEG, "ok.jpg"), file(content, name)]},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and f"«{name}»" in html(resp) and count() == 0
    assert not list(world.uploads.rglob("*.*"))  # the good photo was not stored either


def test_a_polyglot_and_a_renamed_photo_are_served_as_what_their_bytes_are(world, login):
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<script>alert(1)</script>"
    webp = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id],
                                           "photos": [file(gif, "a.jpg"), file(webp, "b.png"),
                                                      file(png_bytes(), "c.gif")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 303, html(resp)[:500]
    pub = db.session.scalar(select(Publication))
    assert [p.content_type for p in pub.photos] == ["image/gif", "image/webp", "image/png"]
    assert all(p.path.rsplit(".", 1)[1] in ("gif", "webp", "png") for p in pub.photos)
    for photo in pub.photos:
        served = client.get(f"/posts/photos/{photo.id}")
        assert served.status_code == 200 and served.mimetype == photo.content_type
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in served.headers["Content-Security-Policy"]
    # the bytes on disk changed behind the app's back (a file swapped in the storage): not served as a photo
    (world.uploads / pub.photos[0].path).write_bytes(b"<html><script>alert(1)</script>")
    assert client.get(f"/posts/photos/{pub.photos[0].id}").status_code == 404


def test_a_request_over_the_compose_limit_says_the_compose_limit(world, login, monkeypatch):
    monkeypatch.setattr(routes, "UPLOAD_LIMIT", 1024 * 1024)
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id],
                                           "photos": [file(JPEG + b"\x00" * (2 * 1024 * 1024), "big.jpg")]},
                       content_type="multipart/form-data")
    page = html(resp)
    assert resp.status_code == 413 and "1 МБ" in page
    assert "25 МБ" not in page  # the residents' form's limit is not this form's


# --- text -------------------------------------------------------------------------------------------------------
def test_the_preview_of_a_text_over_the_app_s_limit_says_so_instead_of_counting_a_cut_text(world, login):
    client = login(world.users.smm)
    page = html(client.post("/posts/preview", data={"text": "я" * 60_000, "accounts": [world.acc["s_telegram"].id,
                                                                                       world.acc["s_vk"].id]}))
    assert "не больше 50" in page  # the same sentence «Опубликовать» would give
    assert "(50 000)" not in page and "50\u00a0000)" not in page  # never the length of a silently cut text


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\u00a0\u2003"])
def test_an_empty_or_blank_post_is_a_sentence(world, login, text):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": text, "go": "now", "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 422 and "Пост пуст" in html(resp) and count() == 0


def test_a_text_with_nul_is_refused_by_the_page_with_a_sentence(world, login):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "a\x00b", "go": "now", "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 400 and "нулевой символ" in html(resp) and count() == 0


def test_rtl_overrides_emoji_and_markup_are_kept_and_escaped_everywhere(world, login):
    text = ("\u202eевитпецсоп\u202c <script>alert(1)</script> &amp; <a href=\"javascript:alert(1)\">x</a> "
            "javascript:alert(2) 👨‍👩‍👧 " + "😀" * 10)
    client = login(world.users.smm)
    preview = html(client.post("/posts/preview", data={"text": text, "accounts": [world.acc["s_telegram"].id]}))
    resp = client.post("/posts/new", data={"text": text, "go": "now", "accounts": [world.acc["s_telegram"].id]})
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication))
    assert pub.text == text.strip()
    from datetime import date
    today = posts.to_city(posts.utcnow()).date()
    pages = [preview, html(client.get(f"/posts/{pub.id}")), html(client.get("/posts")),
             html(client.get("/posts/calendar", query_string={"date": today.isoformat()})),
             html(client.get(f"/posts/{pub.id}/edit"))]
    assert date.today()
    for page in pages:
        body = page.split("</head>", 1)[-1]
        assert "<script>alert" not in body and 'href="javascript' not in body
        assert "&lt;script&gt;" in body or "&lt;script" in body


def test_a_photo_whose_file_name_is_not_utf8_is_published_with_the_name_shown_as_far_as_it_can_be(app, world,
                                                                                                   tmp_path):
    # A file named in CP1251 on a Linux disk («афиша.jpg»): Python gives its name with lone surrogates.
    raw = os.path.join(os.fsencode(tmp_path), "\u0430\u0444\u0438\u0448\u0430".encode("cp1251") + b".jpg")
    with open(raw, "wb") as fh:
        fh.write(png_bytes())
    result = cli(app, "--text", "Афиша", "--photo", os.fsdecode(raw), "--accounts", str(world.acc["s_vk"].id),
                 "--key", "cp1251", "--as", world.users.smm.username)
    assert result.exit_code == 0, (result.output, result.exception)
    pub = db.session.scalar(select(Publication))
    assert pub.photos[0].original_name == "?????.jpg" and pub.photos[0].content_type == "image/png"


def test_a_webp_photo_is_refused_beforehand_for_vk_and_ok_which_take_jpg_png_gif(world, login):
    # VK's and OK's photo uploads take JPG, PNG and GIF (their modules say so); a WebP would be retried for 40
    # minutes and then fail: the plan says it before publishing instead.
    from app.services.publishing import limits
    webp = [limits.Photo(size=100, content_type="image/webp")]
    for network in ("vk", "ok"):
        assert "WebP" in (limits.plan_for(network, "Афиша", webp).refused or "")
    for network in ("telegram", "max"):
        assert limits.plan_for(network, "Афиша", webp).refused is None
    client = login(world.users.smm)
    webp_bytes = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
    resp = client.post("/posts/new", data={"text": "Афиша", "go": "now",
                                           "accounts": [world.acc["s_vk"].id, world.acc["s_telegram"].id],
                                           "photos": [file(webp_bytes, "a.webp")]}, content_type="multipart/form-data")
    assert resp.status_code == 303
    page = html(client.get(resp.headers["Location"]))
    assert "WebP" in page  # the post page says why VK will not get it


def test_the_preview_of_twenty_photos_says_twenty(world, login):
    client = login(world.users.smm)
    page = html(client.post("/posts/preview", data={"text": "x", "photo_sizes": ",".join(["1000"] * 20),
                                                    "accounts": [world.acc["s_telegram"].id]}))
    assert re.findall(r"выбрано \d+", page) == ["выбрано 20"]


def test_a_typed_time_with_the_publish_now_button_is_asked_about_not_dropped(world, login):
    # «Опубликовать» is the form's first button: Enter in any field presses it. A time the author typed (or the edit
    # page filled in for a scheduled post) must not be dropped silently by publishing at once.
    from datetime import datetime, timedelta, timezone
    at = (datetime.now(timezone.utc) + timedelta(days=2)).astimezone(posts.city_tz()).strftime("%Y-%m-%dT%H:%M")
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "К пятнице", "go": "now", "at": at,
                                           "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 422 and "Запланировать" in html(resp) and count() == 0
    resp = client.post("/posts/new", data={"text": "К пятнице", "go": "schedule", "at": at,
                                           "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication))
    scheduled = pub.scheduled_at
    resp = client.post(f"/posts/{pub.id}/edit", data={"text": "К пятнице, с фото", "go": "now", "at": at,
                                                      "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 422 and "Запланировать" in html(resp)
    db.session.expire_all()
    pub = db.session.get(Publication, pub.id)
    assert pub.text == "К пятнице" and pub.scheduled_at == scheduled and world.calls.release == [pub.id]
    resp = client.post(f"/posts/{pub.id}/edit", data={"text": "Сейчас", "go": "now", "at": "",
                                                      "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 303  # the time cleared: now, as asked
