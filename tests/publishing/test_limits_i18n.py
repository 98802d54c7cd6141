"""The cross-posting plan in the interface language: under the English interface the compose page's preview (and
the other /posts pages) show no Russian except what the user typed; under the Russian one the same sentences are
Russian; with no app context at all limits.py speaks the Russian source (its unit tests call it bare)."""
from __future__ import annotations

import re
import threading
from types import SimpleNamespace

import pytest
from flask import render_template

from app.blueprints.publishing.routes import describe
from app.services.publishing import limits, posts
from app.services.publishing.limits import Photo, plan_for
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, file, png_bytes

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world

CYRILLIC = re.compile(r"[\u0400-\u04FF]+")
USER_TEXT = re.compile(r'<pre class="part-text">.*?</pre>', re.DOTALL)  # the post's text, as the author typed it
LINK = "https://school5.example.ru/news/1"


def html(resp) -> str:
    return resp.get_data(as_text=True)


def cyrillic(page: str) -> list[str]:
    """The Cyrillic words left on the page once the user's own text (the parts' texts) is taken out."""
    return CYRILLIC.findall(USER_TEXT.sub("", page))


def cyrillic_on_page(app, page: str, *own: str) -> list[str]:
    """The Cyrillic words of a whole page but the user's own texts and the city's name (configuration, CITY_NAME)."""
    for text in (*own, app.config["CITY_NAME"]):
        page = page.replace(text, "")
    return CYRILLIC.findall(page)


def plain(page: str) -> str:
    return page.replace("\u00a0", " ")


def post_text(length: int) -> str:
    """A Russian post of exactly `length` characters (UTF-16 units) with a link in it, no whitespace at its ends."""
    if length == 0:
        return ""
    text = (f"{LINK} " + "Приглашаем на день открытых дверей. " * (length // 30 + 2))[:length]
    return text[:-1] + "ы" if text[-1].isspace() else text


def latin_names(world) -> None:
    """The participants' and accounts' own names in Latin letters: user data is not the interface."""
    for key, account in world.acc.items():
        account.title, account.label = f"Account {key}", None
    world.school.short_name, world.school.name = "School 5", "School No. 5"
    world.museum.short_name, world.museum.name = "Museum", "The Museum"
    world.edu.name, world.cul.name = "Education", "Culture"
    for user in vars(world.users).values():
        user.full_name = f"Staff {user.role}"


def preview_page(client, world, text: str, photos: int = 2, link_preview: bool = True) -> str:
    acc = world.acc
    data = {"text": text, "photo_sizes": ",".join(["2048"] * photos),
            "accounts": [acc["s_telegram"].id, acc["s_vk"].id, acc["s_ok"].id, acc["s_max"].id]}
    if link_preview:
        data["link_preview"] = "y"
    resp = client.post("/posts/preview", data=data)
    assert resp.status_code == 200
    return html(resp)


# --- the example: 1,500 characters and two photos to the four networks ---------------------------------------
def test_the_preview_of_a_long_post_with_two_photos_is_english_under_the_english_interface(world, login, in_english):
    latin_names(world)
    client = login(world.users.smm)
    text = post_text(1500)
    page = preview_page(client, world, text)
    assert cyrillic(page) == [], cyrillic(page)
    words = plain(page)
    for expected in ("Telegram", "VK", "Odnoklassniki", "MAX",
                     "an album of 2 photos without a caption + a separate message with the text",
                     "The text is longer than 1 024 characters: it will go as a separate message after the photos.",
                     "a post on the community wall, 2 photos", "a topic in the group, 2 photos",
                     "a message to the channel, 2 photos", "1500 characters",
                     "Telegram itself will show the card of the first link under the text",
                     f"The first link ({LINK}) will go as an attachment of wall.post",
                     f"The first link ({LINK}) will go to mediatopic.post", "MAX itself will show a preview"):
        assert expected in words, expected
    assert text[:200] in page  # the user's text is shown as typed, in Russian


def test_the_same_preview_is_russian_under_the_russian_interface(world, login):
    client = login(world.users.smm)
    words = plain(preview_page(client, world, post_text(1500)))
    for expected in ("ВКонтакте", "Одноклассники",
                     "альбом из 2 фото без подписи + отдельное сообщение с текстом",
                     "Текст длиннее 1 024 символов: уйдёт отдельным сообщением после фото.",
                     "запись на стене сообщества, фото: 2", "тема в группе, фото: 2",
                     "сообщение в канал, фото: 2", "1500 симв.",
                     "Telegram сам покажет карточку первой ссылки под текстом",
                     f"Первая ссылка ({LINK}) уйдёт вложением wall.post", "MAX сам покажет превью первой ссылки."):
        assert expected in words, expected
    assert "Odnoklassniki" not in words and "photos" not in words


def test_refusals_and_link_preview_off_in_english(world, login, in_english):
    latin_names(world)
    client = login(world.users.smm)
    page = plain(preview_page(client, world, "я" * 16385 + f" {LINK}", photos=0, link_preview=False))
    assert cyrillic(page) == []
    assert ("Will not go: The text is longer than 16 384 characters (16 419), and VK does not split a post into "
            "parts: shorten the text or do not choose this account.") in page
    assert "and Odnoklassniki does not split a post" in page
    assert "Link previews are off (link_preview_options.is_disabled = true)." in page
    assert "it will go as 5 messages in a row" in page and "MAX will get 5 messages in a row" in page
    assert "Link previews are off (disable_link_preview = true)." in page
    empty = preview_page(client, world, "  ", photos=0)
    assert cyrillic(empty) == [] and "The post is empty: add text or at least one photo." in empty


# --- the sweep: every plan the preview can show, rendered in English ---------------------------------------------
LIMITS = (limits.TELEGRAM_CAPTION_LIMIT, limits.TELEGRAM_TEXT_LIMIT, limits.OK_TEXT_LIMIT, limits.MAX_TEXT_LIMIT,
          limits.VK_TEXT_LIMIT)
LENGTHS = sorted({0, 1, *(limit + delta for limit in LIMITS for delta in (-1, 0, 1)),
                  2 * limits.TELEGRAM_TEXT_LIMIT + 1})  # 0: photos only (or the empty post); the last: three messages
WRONG_PLURALS = re.compile(r"(?<![\d\u00a0])(?<!\d )\b1 (photos|messages|characters|are chosen)"  # «1 photos»
                           r"|\b(?!1\b)\d+ (photo|message|character|is chosen)\b")       # «2 photo», «11 is chosen»


def render_preview(text: str, photos, link_preview: bool) -> str:
    plans = limits.plan_all(text, photos, limits.NETWORKS, link_preview)
    accounts = {network: [SimpleNamespace(title=f"Account {network}")] for network in plans}
    return render_template("publishing/_preview.html", preview=posts.Preview(plans, accounts),
                           names=limits.network_names(), describe=describe)


@pytest.mark.parametrize("link_preview", [True, False], ids=["links-on", "links-off"])
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("photos", [0, 1, 2, 10, 11])
def test_every_plan_renders_in_english_with_no_russian_outside_the_user_s_text(app, in_english, photos, length,
                                                                                link_preview):
    text = post_text(length)
    with app.test_request_context("/posts/preview", method="POST"):
        page = render_preview(text, photos, link_preview)
    assert 'class="network-preview' in page
    assert cyrillic(page) == [], cyrillic(page)
    assert not WRONG_PLURALS.search(plain(page)), WRONG_PLURALS.search(plain(page))
    if text and photos <= limits.COMPOSE_PHOTOS_MAX:
        assert text[:300] in page  # the user's own words, as typed


@pytest.mark.parametrize("photos", [[Photo(size=11 * 1024 * 1024), Photo(size=1000)], [Photo(size=51 * 1024 * 1024)]],
                         ids=["over-10-mb", "over-50-mb"])
def test_photo_size_refusals_render_in_english(app, in_english, photos):
    with app.test_request_context("/posts/preview", method="POST"):
        page = render_preview(post_text(100), photos, True)
    assert cyrillic(page) == []
    assert "Photo no. 1 weighs 11.0 MB, and Telegram accepts photos of up to 10 MB" in page or \
        "Photo no. 1 weighs 51.0 MB, and MAX accepts photos of up to 50 MB" in page


# --- plural forms in both languages ------------------------------------------------------------------------------
def test_plural_forms_in_english(app, in_english):
    assert plain(plan_for("telegram", "Слово. " * 12000, 0).warnings[0]).startswith(
        "The text is longer than 4 096 characters: it will go as 21 messages in a row")
    one = plan_for("telegram", "ж" * 1025, 1).warnings[0]
    assert one.endswith("a separate message after the photo.")
    assert plan_for("telegram", "ж" * 1025, 3).warnings[0].endswith("after the photos.")
    assert plan_for("vk", "Текст", 11).refused == ("A post may carry at most 10 photos, and 11 are chosen: remove the "
                                                   "extra ones.")
    assert plan_for("ok", "Текст", 0).link_preview == "The text has no links."
    with app.test_request_context("/"):
        assert describe("vk", limits.Part("wall.post", "", 1), 0) == "a post on the community wall, 1 photo"
        assert describe("max", limits.Part("POST /messages", "", 1), 0) == "a message to the channel, 1 photo"
        assert describe("ok", limits.Part("mediatopic.post", "", 3), 0) == "a topic in the group, 3 photos"
    assert limits.network_names() == {"telegram": "Telegram", "vk": "VK", "ok": "Odnoklassniki", "max": "MAX"}


@pytest.mark.parametrize(("count", "form"), [(2, "сообщениями"), (5, "сообщениями"), (11, "сообщениями"),
                                              (21, "сообщением"), (22, "сообщениями")])
def test_russian_plural_forms_under_the_russian_interface(count, form):
    text = "\n\n".join(["ж" * 4000] * count)
    warning = plain(plan_for("telegram", text, 0).warnings[0])
    assert f"уйдёт {count} {form} подряд" in warning
    assert limits.network_names()["vk"] == "ВКонтакте"


def test_without_an_app_context_the_russian_source_is_used_even_if_the_app_speaks_english(app, in_english):
    """A script or a bare unit test: no Flask context at all (a new thread has none), the Russian source."""
    assert plan_for("ok", "Текст", 0).link_preview == "The text has no links."  # here: the app's English
    out = {}

    def bare():
        from flask import has_app_context
        out["context"] = has_app_context()
        out["plan"] = plan_for("telegram", "Слово. " * 12000, 0)
        out["names"] = limits.network_names()

    worker = threading.Thread(target=bare)
    worker.start()
    worker.join()
    assert out["context"] is False
    assert "21 сообщением подряд" in out["plan"].warnings[0]
    assert out["names"]["ok"] == "Одноклассники"


# --- the other /posts pages in English -----------------------------------------------------------------------------
def test_the_publishing_pages_in_english_show_no_russian_but_the_user_s_own(app, world, login, in_english):
    latin_names(world)
    world.school.posts_need_approval = True
    client = login(world.users.smm)
    text = "Концерт в пятницу " + LINK
    resp = client.post("/posts/new", data={"text": text, "link_preview": "y", "go": "now",
                                           "accounts": [world.acc["s_telegram"].id, world.acc["s_vk"].id]})
    assert resp.status_code == 303, html(resp)[:2000]
    post_url = resp.headers["Location"]
    pages = {"smm " + post_url: html(client.get(post_url))}  # with the flash «sent for approval»
    pages["smm /posts/new"] = html(client.get("/posts/new"))
    press = login(world.users.press)
    for url in ("/posts", "/posts?tab=mine", "/posts?tab=approval", "/posts/new", post_url, post_url + "/status",
                "/posts/calendar", "/posts/calendar?view=month", f"/admin/participants/{world.school.id}"):
        resp = press.get(url)
        assert resp.status_code == 200, url
        pages[url] = html(resp)
    for url, page in pages.items():
        left = cyrillic_on_page(app, page, text, "Концерт в пятницу")
        assert left == [], (url, left)
    assert "Awaiting approval" in pages["/posts?tab=approval"] and "Approve" in pages[post_url]
    assert "The post was sent to the press service for approval" in pages["smm " + post_url]
    form = pages[f"/admin/participants/{world.school.id}"]  # the participant's approval checkbox
    assert "Posts are published after the press service approves them" in form


def test_the_post_page_shows_the_plan_s_warnings_in_english(app, world, login, in_english):
    latin_names(world)
    client = login(world.users.smm)
    text = post_text(1500)
    resp = client.post("/posts/new", data={"text": text, "link_preview": "y", "go": "now",
                                           "accounts": [world.acc["s_telegram"].id, world.acc["s_max"].id],
                                           "photos": [file(png_bytes(), "a.png"), file(JPEG, "b.jpg")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 303, html(resp)[:2000]
    for url in (resp.headers["Location"], resp.headers["Location"] + "/edit"):
        page = client.get(url)
        assert page.status_code == 200, url
        left = cyrillic_on_page(app, html(page), text)
        assert left == [], (url, left)
    detail = plain(html(client.get(resp.headers["Location"])))
    assert "Telegram: The text is longer than 1 024 characters: it will go as a separate message after the photos." \
        in detail
