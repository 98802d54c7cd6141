"""The participants' posts through the webhooks (issue 12, item 3): stored as posts once, never as appeals; edits
update the row; posts of accounts we do not know are left out; a post the app published comes back and is matched
by its platform id; residents' comments are linked to their post and the ticket page names it; a participant's VK
community is checked against its own secret and answered with its own token (PostgreSQL)."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from app.channels.base import IncomingPost
from app.channels.telegram_cli import telegram_cli
from app.extensions import db
from app.fakes import max as fmax
from app.fakes import ok as fok
from app.fakes import telegram as ftg
from app.fakes import vk as fvk
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.models import Account, Message, Post, RefusedRequest, Reply, Ticket
from app.services import refusals
from app.services.accounts import credentials
from app.services.accounts import posts as account_posts
from app.services.secretbox import encrypt
from app.services.timeline import post_preview
from tests.factories import make_account, make_institution, make_user
from tests.helpers import body, count, hook
from tests.support import wipe_tables
from tests.vk_support import GROUP as CITY_GROUP
from tests.vk_support import SECRET as CITY_SECRET
from tests.vk_support import TOKEN as CITY_TOKEN

CHANNEL = -1001234567890  # a participant's Telegram channel (Account.external_id)
DISCUSSION = -1001876543210  # its linked discussion group
MAX_CHANNEL = -72000111222  # a participant's MAX channel
PARTICIPANT_GROUP = 219000555  # a participant's VK community with its own callback secret, code and token
PARTICIPANT_SECRET = "school-3-callback-secret-91"
PARTICIPANT_CODE = "a1b2c3d4"
PARTICIPANT_TOKEN = "vk1.a.school-3-community-token"
MAX_TOKEN, MAX_SECRET = "max-posts-token-3f9a", "max-posts-secret-5b1c"


def now_s() -> int:
    return int(time.time())


def posts_of(account: Account) -> list[Post]:
    db.session.expire_all()
    return db.session.scalars(db.select(Post).where(Post.account_id == account.id).order_by(Post.id)).all()


@pytest.fixture
def participant(app):
    return make_institution(name="МБОУ СОШ № 3 г. Белогорск")


@pytest.fixture
def tg_channel(tg_config, participant):
    acc = make_account(participant, network="telegram")
    acc.external_id, acc.handle, acc.posts_source = str(CHANNEL), "@school3_blg", "seen"
    acc.connected_at = datetime.now(timezone.utc) - timedelta(days=30)
    db.session.commit()
    return acc


@pytest.fixture
def city_vk(vk_config, participant):
    """The city's own community (global VK_GROUP_ID / VK_SECRET / VK_CONFIRMATION) as an account."""
    acc = make_account(make_institution(name="Администрация г. Белогорск"), network="vk")
    acc.external_id = str(CITY_GROUP)
    db.session.commit()
    return acc


@pytest.fixture
def school_vk(vk_config, fake_vk, participant):
    """A participant's community with its own Callback secret, confirmation code and community token."""
    acc = make_account(participant, network="vk")
    acc.external_id = str(PARTICIPANT_GROUP)
    acc.secret_enc, acc.token_enc = encrypt(PARTICIPANT_SECRET), encrypt(PARTICIPANT_TOKEN)
    acc.confirmation_code = PARTICIPANT_CODE
    fake_vk.add_token(PARTICIPANT_TOKEN)
    db.session.commit()
    return acc


@pytest.fixture
def max_channel(app, participant):
    keys = ("MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET", "MAX_API_URL", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    with FakeMax(token=MAX_TOKEN) as fake:
        app.config.update(MAX_BOT_TOKEN=MAX_TOKEN, MAX_WEBHOOK_SECRET=MAX_SECRET, MAX_API_URL=fake.base_url,
                          HTTP_TIMEOUT=5)
        acc = make_account(participant, network="max")
        acc.external_id, acc.posts_source = str(MAX_CHANNEL), "seen"
        acc.connected_at = datetime.now(timezone.utc) - timedelta(days=1)
        db.session.commit()
        yield acc
    app.config.update(saved)


def vk_hook(client, payload: dict, secret: str | None = CITY_SECRET):
    return client.post("/hooks/vk", json={**payload, **({"secret": secret} if secret is not None else {})})


def max_hook(client, payload: dict):
    return client.post("/hooks/max", json=payload, headers=fmax.headers(MAX_SECRET))


# --- the sweep: every network that carries posts ------------------------------------------------------------
def _post_payload(network: str, text: str, post_id: int, unknown: bool = False) -> dict:
    if network == "telegram":
        return ftg.channel_post(CHANNEL if not unknown else -1009999999999, text, post_id=post_id,
                                username="school3_blg" if not unknown else "someone_else")
    if network == "vk":
        return fvk.wall_post_new(CITY_GROUP, text, post_id=post_id)
    return fmax.channel_post(MAX_CHANNEL if not unknown else -72000999999, text, mid=f"mid.{post_id:016x}")


def _deliver(client, network: str, payload: dict):
    return {"telegram": hook, "vk": vk_hook, "max": max_hook}[network](client, payload)


@pytest.fixture
def network_account(request, tg_channel, city_vk, max_channel):
    return request.param, {"telegram": tg_channel, "vk": city_vk, "max": max_channel}[request.param]


@pytest.mark.parametrize("network_account", ["telegram", "vk", "max"], indirect=True)
def test_a_post_is_stored_once_however_often_the_platform_delivers_it(client, network_account):
    network, account = network_account
    payload = _post_payload(network, "Итоги недели: ремонт спортзала завершён", 512)
    for _ in range(3):  # the platform retries until it gets a 2xx
        resp = _deliver(client, network, payload)
        assert resp.status_code == 200 and (network != "vk" or body(resp) == "ok")
    rows = posts_of(account)
    assert len(rows) == 1 and rows[0].text == "Итоги недели: ремонт спортзала завершён"
    assert rows[0].source == "network" and rows[0].published_at is not None and rows[0].permalink
    assert count(Message) == 0 and count(Ticket) == 0  # a publication is never a resident's appeal


@pytest.mark.parametrize("network_account", ["telegram", "max"], indirect=True)
def test_a_post_of_an_account_we_do_not_know_is_left_out(client, network_account, caplog):
    network, account = network_account
    with caplog.at_level(logging.INFO, logger="app.services.accounts.posts"):
        resp = _deliver(client, network, _post_payload(network, "Чужой пост", 77, unknown=True))
    assert resp.status_code == 200
    assert count(Post) == 0 and count(Message) == 0 and count(Ticket) == 0
    assert "not of an account of ours" in caplog.text


def test_a_vk_post_of_the_citys_group_without_an_account_is_left_out(client, vk_config):
    assert body(vk_hook(client, fvk.wall_post_new(CITY_GROUP, "Пост", post_id=3))) == "ok"
    assert count(Post) == 0 and count(Message) == 0


# --- Telegram --------------------------------------------------------------------------------------------
def test_telegram_channel_post_and_its_edit(client, tg_channel):
    published = now_s() - 600
    hook(client, ftg.channel_post(CHANNEL, "Субботник в школе 12 апреля", post_id=512, username="school3_blg",
                                  date=published))
    edit = ftg.edited_channel_post(CHANNEL, "Субботник в школе перенесён на 19 апреля", post_id=512,
                                   username="school3_blg", date=published, edit_date=published + 300)
    assert hook(client, edit).status_code == 200
    assert hook(client, edit).status_code == 200  # the edit re-delivered
    [post] = posts_of(tg_channel)
    assert post.text == "Субботник в школе перенесён на 19 апреля"
    assert post.edited_at == datetime.fromtimestamp(published + 300, tz=timezone.utc)
    assert post.published_at == datetime.fromtimestamp(published, tz=timezone.utc)
    assert post.permalink == "https://t.me/school3_blg/512"
    assert post.views is None  # the Bot API gives no views
    # The original delivered again after its edit does not bring the old text back
    hook(client, ftg.channel_post(CHANNEL, "Субботник в школе 12 апреля", post_id=512, username="school3_blg",
                                  date=published))
    assert posts_of(tg_channel)[0].text == "Субботник в школе перенесён на 19 апреля"


def test_telegram_album_is_one_post_with_its_photos(client, tg_channel):
    items = [ftg.channel_post(CHANNEL, "Фото с линейки" if i == 0 else None, post_id=600 + i,
                              username="school3_blg", media_group_id="13579", photo=ftg.photo_sizes(f"AgAC{i}"))
             for i in range(3)]
    for update in (items[2], items[0], items[1], items[0]):  # any order, with a repeat
        assert hook(client, update).status_code == 200
    [post] = posts_of(tg_channel)
    assert post.external_id == "album:13579" and post.media_count == 3 and post.text == "Фото с линейки"
    assert post.permalink == "https://t.me/school3_blg/600"


def test_telegram_post_found_by_the_channels_username_teaches_the_account_its_id(client, tg_config, participant):
    acc = make_account(participant, network="telegram")
    acc.handle = "@school3_blg"
    db.session.commit()
    hook(client, ftg.channel_post(CHANNEL, "Расписание кружков", post_id=9, username="school3_blg"))
    assert [p.text for p in posts_of(acc)] == ["Расписание кружков"]
    assert db.session.get(Account, acc.id).external_id == str(CHANNEL)


def test_seen_posts_count_new_posts_once(client, tg_channel):
    before = tg_channel.posts
    hook(client, ftg.channel_post(CHANNEL, "Первый", post_id=1, username="school3_blg"))
    hook(client, ftg.channel_post(CHANNEL, "Первый", post_id=1, username="school3_blg"))  # again
    hook(client, ftg.edited_channel_post(CHANNEL, "Первый, исправлен", post_id=1, username="school3_blg"))
    hook(client, ftg.channel_post(CHANNEL, "Второй", post_id=2, username="school3_blg"))
    old = now_s() - 60 * 86400  # before the account was connected: not counted as seen since
    hook(client, ftg.edited_channel_post(CHANNEL, "Старый пост", post_id=0, username="school3_blg", date=old))
    db.session.expire_all()
    assert db.session.get(Account, tg_channel.id).posts == before + 2
    assert account_posts.seen_count(tg_channel.id) == before + 2


def test_a_post_published_through_the_app_comes_back_and_is_matched(client, tg_channel):
    sent_at = datetime.now(timezone.utc).replace(microsecond=0)
    pid, created = account_posts.upsert_post(tg_channel.id, "700", published_at=sent_at,
                                             text="Анонс: день открытых дверей", source="app")
    db.session.commit()
    assert created
    hook(client, ftg.channel_post(CHANNEL, "Анонс: день открытых дверей", post_id=700, username="school3_blg",
                                  date=int(sent_at.timestamp())))
    [post] = posts_of(tg_channel)
    assert post.id == pid and post.source == "app" and post.permalink == "https://t.me/school3_blg/700"


# --- VK --------------------------------------------------------------------------------------------------
def test_vk_wall_post_with_metrics_media_and_link(client, city_vk):
    payload = fvk.wall_post_new(CITY_GROUP, "Благоустройство сквера: итоги", post_id=3071, views=1520, likes=87,
                                comments=12, reposts=5, attachments=[fvk.photo(), fvk.photo(photo_id=2), fvk.doc()])
    assert body(vk_hook(client, payload)) == "ok"
    [post] = posts_of(city_vk)
    assert (post.external_id, post.permalink) == ("3071", f"https://vk.com/wall-{CITY_GROUP}_3071")
    assert (post.views, post.reactions, post.comments, post.reposts, post.media_count) == (1520, 87, 12, 5, 3)
    assert post.metrics_at is not None


def test_vk_suggested_posts_residents_wall_posts_and_reposts_elsewhere_are_not_the_communitys(client, city_vk):
    for payload in (fvk.wall_post_new(CITY_GROUP, "Предлагаю новость", post_id=5, post_type="suggest"),
                    fvk.wall_post_new(CITY_GROUP, "Пишу на стену", post_id=6, from_id=1234567),
                    fvk.wall_repost(CITY_GROUP, 7654321, post_id=3071)):
        assert body(vk_hook(client, payload)) == "ok"
    assert count(Post) == 0 and count(Message) == 0


def test_vk_repost_by_the_community_is_its_post(client, city_vk):
    original = fvk.wall_post(CITY_GROUP + 1, "Новость района", post_id=44, attachments=[fvk.photo()])
    vk_hook(client, fvk.wall_post_new(CITY_GROUP, "", post_id=3072, copy_history=[original]))
    [post] = posts_of(city_vk)
    assert post.text == "Новость района" and post.media_count == 1


# --- MAX -------------------------------------------------------------------------------------------------
def test_max_channel_post_and_its_edit(client, max_channel):
    mid = "mid.0000a1b2c3d4e5f6"
    before = max_channel.posts
    max_hook(client, fmax.channel_post(MAX_CHANNEL, "Запись в первый класс открыта", mid=mid,
                                       attachments=[fmax.image()]))
    max_hook(client, fmax.edited_channel_post(MAX_CHANNEL, "Запись в первый класс открыта до 30 июня", mid=mid,
                                              attachments=[fmax.image()]))
    [post] = posts_of(max_channel)
    assert post.text == "Запись в первый класс открыта до 30 июня" and post.edited_at is not None
    assert post.media_count == 1 and post.permalink == f"https://max.ru/c/{MAX_CHANNEL}/{mid}"
    assert db.session.get(Account, max_channel.id).posts == before + 1
    assert count(Message) == 0


# --- comments linked to their post ------------------------------------------------------------------------
def test_telegram_comment_is_linked_to_its_post_and_the_ticket_page_names_it(client, login, tg_channel):
    text = ("Ремонт спортзала завершён: в понедельник занятия физкультурой пройдут в обновлённом зале, "
            "спасибо родителям за помощь")
    hook(client, ftg.channel_post(CHANNEL, text, post_id=15, username="school3_blg"))
    update = ftg.comment(DISCUSSION, CHANNEL, 5123456789, "А когда починят душевые в раздевалке?", post_id=15,
                         channel_username="school3_blg")
    update["message"]["reply_to_message"]["text"] = text
    assert hook(client, update).status_code == 200
    [message] = db.session.scalars(db.select(Message)).all()
    [post] = posts_of(tg_channel)
    assert message.post_id == post.id and message.ticket_id is not None
    page = body(login(make_user("moderator")).get(f"/tickets/{db.session.get(Ticket, message.ticket_id).number}"))
    assert "комментарий к публикации" in page
    assert '<a href="https://t.me/school3_blg/15" rel="noopener" target="_blank">«Ремонт спортзала завершён:' in page
    assert "спасибо родителям" not in page  # the first ~80 characters only


def test_telegram_comment_under_a_post_not_seen_yet_stores_the_post_from_its_copy(client, tg_channel):
    posted = now_s() - 3600
    update = ftg.comment(DISCUSSION, CHANNEL, 5123456789, "Когда откроют стадион?", post_id=33,
                         channel_username="school3_blg", date=posted)
    update["message"]["reply_to_message"]["text"] = "Стадион закрыт на ремонт"
    hook(client, update)
    [post] = posts_of(tg_channel)
    assert post.text == "Стадион закрыт на ремонт" and post.external_id == "33"
    assert post.published_at == datetime.fromtimestamp(posted, tz=timezone.utc)
    assert db.session.scalar(db.select(Message.post_id)) == post.id


def test_vk_wall_comment_is_linked_and_the_post_fills_in_later(client, login, city_vk):
    comment = fvk.wall_reply_new(CITY_GROUP, 1234567, "Почему не убрали листья во дворе?", post_id=3090)
    assert body(vk_hook(client, comment)) == "ok"
    [post] = posts_of(city_vk)
    message = db.session.scalar(db.select(Message))
    assert message.post_id == post.id and post.text == "" and post.permalink == f"https://vk.com/wall-{CITY_GROUP}_3090"
    page = body(login(make_user("moderator")).get(f"/tickets/{db.session.get(Ticket, message.ticket_id).number}"))
    assert "комментарий к публикации" in page and f"https://vk.com/wall-{CITY_GROUP}_3090" in page
    # The post itself arrives (or collection finds it): the same row gets its text and its own date
    published = now_s() - 86400
    vk_hook(client, fvk.wall_post_new(CITY_GROUP, "Уборка дворов: график на октябрь", post_id=3090, date=published))
    [post] = posts_of(city_vk)
    assert post.text == "Уборка дворов: график на октябрь"
    assert post.published_at == datetime.fromtimestamp(published, tz=timezone.utc)
    page = body(login(make_user("moderator")).get(f"/tickets/{db.session.get(Ticket, message.ticket_id).number}"))
    assert "«Уборка дворов: график на октябрь»" in page


def test_a_comment_of_a_community_we_do_not_know_links_no_post(client, vk_config):
    vk_hook(client, fvk.wall_reply_new(CITY_GROUP, 1234567, "Когда починят дорогу?", post_id=5))
    assert count(Post) == 0 and db.session.scalar(db.select(Message.post_id)) is None


def test_post_preview_cuts_at_a_word():
    assert post_preview("Коротко") == "Коротко"
    long = "слово " * 40
    cut = post_preview(long)
    assert len(cut) <= 80 and cut.endswith("…") and "  " not in cut


# --- per-account VK credentials ---------------------------------------------------------------------------
def refused() -> int:
    return refusals.by_network().get("vk", 0)


def test_a_participants_community_is_confirmed_with_its_own_code(client, city_vk, school_vk):
    resp = client.post("/hooks/vk", json=fvk.confirmation(PARTICIPANT_GROUP))
    assert resp.status_code == 200 and body(resp) == PARTICIPANT_CODE
    resp = client.post("/hooks/vk", json=fvk.confirmation(CITY_GROUP))
    assert body(resp) == "5e8b2f1c"  # the city's own community: the global VK_CONFIRMATION


def test_a_participants_community_is_checked_against_its_own_secret(client, city_vk, school_vk):
    message = fvk.message_new(PARTICIPANT_GROUP, 1234567, "Во дворе школы не горят фонари")
    resp = vk_hook(client, message, secret=PARTICIPANT_SECRET)
    assert resp.status_code == 200 and body(resp) == "ok"
    stored = db.session.scalar(db.select(Message))
    assert stored is not None and stored.account_id == school_vk.id
    # The city's secret is not that community's, nor is another's: refused, nothing stored, counted
    for wrong in (CITY_SECRET, "guess", None):
        before = refused()
        resp = vk_hook(client, fvk.message_new(PARTICIPANT_GROUP, 1234567, "Ещё", conversation_message_id=2),
                       secret=wrong)
        assert resp.status_code == 403 and refused() == before + 1
    assert count(Message) == 1 and count(RefusedRequest) >= 1
    # and the participant's secret does not open the city's community
    resp = vk_hook(client, fvk.message_new(CITY_GROUP, 1234567, "Ещё", conversation_message_id=3),
                   secret=PARTICIPANT_SECRET)
    assert resp.status_code == 403 and count(Message) == 1


def test_a_wrong_secret_stores_no_post_either(client, school_vk):
    resp = vk_hook(client, fvk.wall_post_new(PARTICIPANT_GROUP, "Пост", post_id=1), secret="guess")
    assert resp.status_code == 403 and count(Post) == 0


def test_an_unknown_community_is_refused(client, city_vk, school_vk):
    before = refused()
    resp = vk_hook(client, fvk.message_new(219000999, 1234567, "Привет"), secret=PARTICIPANT_SECRET)
    assert resp.status_code == 403 and refused() == before + 1 and count(Message) == 0


def test_a_registered_community_without_its_own_secret_uses_the_citys(client, vk_config, participant):
    acc = make_account(participant, network="vk")
    acc.external_id = "219000777"
    db.session.commit()
    assert body(vk_hook(client, fvk.message_new(219000777, 1234567, "Яма у школы"), secret=CITY_SECRET)) == "ok"
    assert db.session.scalar(db.select(Message.account_id)) == acc.id
    resp = client.post("/hooks/vk", json=fvk.confirmation(219000777))
    assert resp.status_code == 503  # no code of its own: never another community's


def test_a_secret_no_key_opens_refuses_the_community(client, app, school_vk):
    school_vk.secret_enc = "gAAAAA-not-a-fernet-token"
    db.session.commit()
    resp = vk_hook(client, fvk.message_new(PARTICIPANT_GROUP, 1234567, "Текст"), secret=PARTICIPANT_SECRET)
    assert resp.status_code == 403 and count(Message) == 0


def test_residents_of_a_participants_community_are_answered_with_its_token(client, fake_vk, city_vk, school_vk):
    vk_hook(client, fvk.message_new(PARTICIPANT_GROUP, 1234567, "Во дворе школы не горят фонари"),
            secret=PARTICIPANT_SECRET)
    vk_hook(client, fvk.message_new(CITY_GROUP, 7654321, "На Кирова открыт люк"))
    db.session.commit()  # the acknowledgements are delivered after commit (inline in tests)
    sends = fake_vk.calls_of("messages.send")
    tokens = {c["params"]["peer_id"]: c["token"] for c in sends}
    assert tokens.get("1234567") == PARTICIPANT_TOKEN
    assert tokens.get("7654321") == CITY_TOKEN


# --- OK: a group's own token -------------------------------------------------------------------------------
OK_CITY_TOKEN, OK_GROUP_TOKEN = "tkn1-city", "tkn1-school-3-group"
OK_SECRET, OK_GROUP = "ok-posts-secret", "70000005550001"


@pytest.fixture
def ok_group(app, participant):
    keys = ("OK_ACCESS_TOKEN", "OK_WEBHOOK_SECRET", "OK_API_URL", "OK_GROUP_ID", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    with FakeOk(token=OK_CITY_TOKEN) as fake:
        fake.tokens.add(OK_GROUP_TOKEN)
        app.config.update(OK_ACCESS_TOKEN=OK_CITY_TOKEN, OK_WEBHOOK_SECRET=OK_SECRET, OK_API_URL=fake.base_url,
                          OK_GROUP_ID=None, HTTP_TIMEOUT=5)
        acc = make_account(participant, network="ok")
        acc.external_id, acc.token_enc = OK_GROUP, encrypt(OK_GROUP_TOKEN)
        db.session.commit()
        yield fake, acc
    app.config.update(saved)


def test_residents_of_an_ok_group_are_answered_with_its_token(client, app, ok_group):
    fake, acc = ok_group
    resp = client.post(fok.hook_path(OK_SECRET, OK_GROUP),
                       json=fok.message_created(fok.chat_id(1), 575000111, "Не работает светофор у школы"))
    assert resp.status_code == 200
    db.session.commit()  # the acknowledgement is delivered after commit (inline in tests)
    sends = [c for c in fake.calls if c["path"].startswith("/graph/me/messages")]
    assert sends and {c["params"]["access_token"] for c in sends} == {OK_GROUP_TOKEN}
    assert credentials.ok_group_config(OK_GROUP, app.config)["OK_REST_ACCESS_TOKEN"] == OK_GROUP_TOKEN
    assert credentials.ok_group_config("70000000000000", app.config) is app.config


def test_a_reply_whose_community_token_no_key_opens_fails_with_the_reason(client, fake_vk, school_vk):
    school_vk.token_enc = "gAAAAA-not-a-fernet-token"
    db.session.commit()
    vk_hook(client, fvk.message_new(PARTICIPANT_GROUP, 1234567, "Во дворе школы не горят фонари"),
            secret=PARTICIPANT_SECRET)
    [reply] = db.session.scalars(db.select(Reply)).all()
    assert reply.state == "failed" and "ACCOUNT_SECRETS_KEY" in reply.last_error
    assert fake_vk.calls_of("messages.send") == []  # never another community's token


# --- bad input ---------------------------------------------------------------------------------------------
def test_a_posts_link_to_another_host_is_dropped_and_junk_never_brings_a_500(client, tg_channel, max_channel,
                                                                           city_vk):
    max_hook(client, fmax.channel_post(MAX_CHANNEL, "Пост", mid="mid.01", url="https://evil.example/phish"))
    [post] = posts_of(max_channel)
    assert post.permalink is None and post.text == "Пост"
    for junk in ({"channel_post": {"message_id": 5}}, {"channel_post": "text"},
                 {"channel_post": {"message_id": "x", "chat": {"id": CHANNEL, "type": "channel"}, "date": 1}},
                 {"edited_channel_post": {"message_id": 6, "chat": {"id": CHANNEL, "type": "channel"},
                                          "date": 1e20, "text": "a\u0000b", "media_group_id": True}}):
        resp = hook(client, {"update_id": ftg.next_update_id(), **junk})
        assert resp.status_code in (200, 400)
    resp = client.post("/hooks/vk", json={**fvk.wall_post_new(CITY_GROUP, "x", post_id=1), "object": {"id": "z"},
                                          "secret": CITY_SECRET})
    assert resp.status_code == 400
    resp = max_hook(client, {"update_type": "message_created", "message": {
        "recipient": {"chat_id": MAX_CHANNEL, "chat_type": "channel"}, "body": {"mid": 5}}})
    assert resp.status_code == 400
    db.session.expire_all()
    edited = db.session.scalar(db.select(Post).where(Post.account_id == tg_channel.id, Post.external_id == "6"))
    assert edited is not None and edited.text == "ab"  # cleaned; a date that is no date is the received time


@pytest.mark.no_db_rollback
def test_two_deliveries_at_once_make_one_post_and_count_it_once(app):
    """Telegram and a retry (or the app's own record and the webhook) write the same post in two transactions at
    the same moment on PostgreSQL: one row, counted once."""
    try:
        acc = make_account(make_institution(name="Канал для гонки"), network="telegram")
        acc.external_id, acc.posts_source = str(CHANNEL), "seen"
        acc.connected_at = datetime.now(timezone.utc) - timedelta(days=1)
        db.session.commit()
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def worker(n: int):
            try:
                with app.app_context():
                    barrier.wait()
                    post = IncomingPost(network="telegram", external_id="900", account_ref=str(CHANNEL),
                                        published_at=datetime.now(timezone.utc), text=f"Пост {n}", media_count=0)
                    account_posts.store([post])
                    db.session.commit()
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        db.session.expire_all()
        assert db.session.scalar(db.select(db.func.count(Post.id))) == 1
        assert db.session.get(Account, acc.id).posts == 1
    finally:
        db.session.rollback()
        wipe_tables()


def test_telegram_post_found_by_the_channels_address(client, tg_config, participant):
    acc = make_account(participant, network="telegram")
    acc.url = "https://t.me/School3_BLG/"
    db.session.commit()
    hook(client, ftg.channel_post(CHANNEL, "Кружки", post_id=10, username="school3_blg"))
    assert [p.text for p in posts_of(acc)] == ["Кружки"]


def test_polling_stores_channel_posts_as_the_webhook_does(app, tg_channel, fake_tg, tmp_path):
    fake_tg.push(ftg.channel_post(CHANNEL, "Пост, полученный опросом", post_id=44, username="school3_blg"))
    result = app.test_cli_runner().invoke(telegram_cli, ["poll", "--once", "--state-file", str(tmp_path / "o.json")])
    assert result.exit_code == 0, result.output
    assert [p.text for p in posts_of(tg_channel)] == ["Пост, полученный опросом"] and count(Message) == 0
