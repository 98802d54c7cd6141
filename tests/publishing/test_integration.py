"""Cross-posting end to end (issue 13): the compose service or the page → the outbox → the real network modules →
the four platform fakes over HTTP → the content accounting → residents' comments through the real webhooks.

Nothing here replaces a part of the path: posts.create / POST /posts/new, outbox, jobs (in-process: TestConfig has
no Redis), networks/*.py, app/fakes/*.py. Only the pacers sleep on a fake clock (nothing waits) and, where a test
says so, the outbox's clock is moved."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.fakes import telegram as tg_updates
from app.fakes import vk as vk_updates
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.telegram import FakeTelegram
from app.fakes.vk import FakeVk
from app.jobs import publishing as jobs
from app.models import Account, Delivery, Institution, Message, Post, Publication, utcnow
from app.services.accounts import registry
from app.services.accounts.platforms import Pacing
from app.services.publishing import outbox, posts
from app.services.secretbox import decrypt
from tests.factories import make_direction, make_user
from tests.publishing.tg_max_support import FakeClock, png
from tests.support import wipe_tables

TG_TOKEN = "7012345678:AAH4-city-bot"
TG_SECRET = "tg-hook-secret-integ"
VK_CITY = "vk1.a.city-community-token"
VK_COMMUNITY = "vk1.a.school3-community"
VK_USER = "vk1.a.school3-admin-user"
VK_SECRET = "vk-callback-secret-integ"
OK_CITY = "tkn1-city-rest"
OK_GROUP = "tkn1-school3-admin"
MAX_TOKEN = "max-city-bot"

TG_CHANNEL, TG_GROUP = -1002000000301, -1002000000302  # the channel and its linked discussion group
TG_NOT_ADMIN = -1002000000399
VK_GID = 3100301
OK_GID = "70000000301301"
MAX_CHAT = -70301

LONG = ("Дорогие родители и ученики! " + "В субботу в школе № 3 пройдёт день открытых дверей. " * 40).strip()[:1500]


@pytest.fixture
def fakes(app, tmp_path, monkeypatch):
    """The four fakes on free ports, the app pointed at them, the pacers on a fake clock, UPLOAD_DIR in tmp."""
    with FakeTelegram(token=TG_TOKEN) as tg, FakeVk(token=VK_CITY) as vk, \
            FakeOk(token=OK_CITY, application_key="CBAFAKE", application_secret_key="s3cr3t") as ok, \
            FakeMax(token=MAX_TOKEN) as mx:
        tg.add_channel(TG_CHANNEL, "Школа № 3", "school3_integ")
        tg.add_channel(TG_NOT_ADMIN, "Школа № 3 — родителям", "school3_parents", bot_status="left")
        vk.add_group(VK_GID, "Школа № 3", screen_name="school3_integ")
        vk.add_token(VK_COMMUNITY, group_id=VK_GID, permissions=("messages", "manage", "wall"))
        vk.add_token(VK_USER, kind="user", mask=8192 + 4 + 65536, admin_of=(VK_GID,))
        ok.add_group(OK_GID, "Школа № 3", "school3integ")
        ok.tokens.add(OK_GROUP)
        ok.add_admin(OK_GID, OK_GROUP)
        mx.add_chat(MAX_CHAT, "Школа № 3", "school3_integ")
        config = {"TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_API_URL": tg.base_url,
                  "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
                  "VK_ACCESS_TOKEN": VK_CITY, "VK_SERVICE_TOKEN": None, "VK_API_URL": vk.base_url,
                  "VK_SECRET": VK_SECRET, "VK_CONFIRMATION": "c0nf1rm", "VK_GROUP_ID": None,
                  "OK_REST_ACCESS_TOKEN": OK_CITY, "OK_APPLICATION_KEY": "CBAFAKE",
                  "OK_APPLICATION_SECRET_KEY": "s3cr3t", "OK_API_URL": ok.base_url,
                  "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": mx.base_url, "HTTP_TIMEOUT": 3,
                  "UPLOAD_DIR": str(tmp_path)}
        saved = {k: app.config.get(k) for k in config}
        app.config.update(config)
        clock = FakeClock()
        monkeypatch.setattr(outbox, "PACING", Pacing(clock=clock, sleep=clock.sleep))
        try:
            yield SimpleNamespace(tg=tg, vk=vk, ok=ok, max=mx, clock=clock)
        finally:
            app.config.update(saved)


def _school(slug: str = "school3-integ"):
    inst = Institution(direction=make_direction(), name="Средняя школа № 3", short_name="Школа № 3", slug=slug)
    db.session.add(inst)
    db.session.flush()
    acc = {
        "telegram": Account(institution=inst, network="telegram", handle="school3_integ",
                            external_id=str(TG_CHANNEL), title="Школа № 3", url="https://t.me/school3_integ",
                            posts_source="seen", posts=0, connected_at=utcnow() - timedelta(days=30)),
        "vk": Account(institution=inst, network="vk", handle="school3_integ", external_id=str(VK_GID),
                      title="Школа № 3", url="https://vk.com/school3_integ"),
        "ok": Account(institution=inst, network="ok", handle="school3integ", external_id=OK_GID, title="Школа № 3",
                      url="https://ok.ru/school3integ"),
        "max": Account(institution=inst, network="max", handle="school3_integ", external_id=str(MAX_CHAT),
                       title="Школа № 3", url="https://max.ru/school3_integ", posts_source="seen", posts=0,
                       connected_at=utcnow() - timedelta(days=30)),
    }
    db.session.add_all(acc.values())
    db.session.flush()
    # the participant's own keys, as the accounts page saves them: checked with the platform, stored encrypted
    admin = make_user("admin")
    registry.save_credentials(admin, inst, acc["vk"], current_app.config, token=VK_COMMUNITY, user_token=VK_USER)
    registry.save_credentials(admin, inst, acc["ok"], current_app.config, token=OK_GROUP)
    assert decrypt(acc["vk"].user_token_enc) == VK_USER and VK_USER not in acc["vk"].user_token_enc
    return inst, acc


@pytest.fixture
def school(fakes):
    inst, acc = _school()
    smm = make_user("smm", institution=inst)
    db.session.commit()
    return SimpleNamespace(inst=inst, acc=acc, smm=smm)


def photos(n: int = 2) -> list[posts.Upload]:
    return [posts.Upload(f"фото {k + 1}.png", png(k + 1)) for k in range(n)]


def deliveries(pub: Publication) -> dict[str, Delivery]:
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.publication_id == pub.id)).all()
    return {d.network: d for d in rows}


def fresh(pub: Publication) -> Publication:
    db.session.expire_all()
    return db.session.get(Publication, pub.id)


def create(school, text=LONG, n_photos=2, networks=("telegram", "vk", "ok", "max"), **kw) -> Publication:
    made = posts.create(school.smm, text=text, photos=photos(n_photos),
                        account_ids=[school.acc[n].id for n in networks], **kw)
    db.session.commit()  # the publication's job runs in-process right after the commit
    return made.publication


def assert_received_as_planned(fakes, pub: Publication, text: str = LONG):
    # Telegram: a caption over 1,024 — the album of 2 photos without a caption, then the text alone
    tg = fakes.tg.received(TG_CHANNEL)
    assert [m["method"] for m in tg] == ["sendMediaGroup", "sendMediaGroup", "sendMessage"]
    assert tg[0]["media_group_id"] and tg[0]["media_group_id"] == tg[1]["media_group_id"]
    assert [m["photo"] for m in tg[:2]] == [png(1), png(2)] and not tg[0]["caption"]
    assert tg[2]["text"] == text
    # VK: one wall post with both photos, from the community, our guid
    [wall] = fakes.vk.wall(VK_GID)
    assert wall["text"] == text and len(wall["attachments"]) == 2 and wall["from_group"] == "1"
    assert wall["guid"] == outbox.guid_for(pub.id, pub.deliveries[0].account_id) or wall["guid"].startswith("om-pub")
    # OK: one topic with the text and the photos
    [topic] = fakes.ok.topics_of(OK_GID)
    assert topic["text"] == text and len(topic["photos"]) == 2
    # MAX: one message with the two images
    [msg] = fakes.max.received(MAX_CHAT)
    assert msg["text"] == text and len(msg["attachments"]) == 2


def assert_published(pub: Publication, school):
    rows = deliveries(pub)
    assert {n: d.state for n, d in rows.items()} == dict.fromkeys(("telegram", "vk", "ok", "max"), "published"), \
        {n: (d.state, d.last_error) for n, d in rows.items()}
    for d in rows.values():
        assert d.permalink and d.permalink.startswith("https://") and d.post_id is not None
        post = db.session.get(Post, d.post_id)
        assert post.source == "app" and post.account_id == d.account_id and post.text == pub.text
    assert rows["vk"].permalink == f"https://vk.com/wall-{VK_GID}_{fakes_vk_id(rows['vk'])}"
    assert fresh(pub).state == "done" and fresh(pub).published_at is not None


def fakes_vk_id(delivery: Delivery) -> str:
    return delivery.external_id


# --- the whole path --------------------------------------------------------------------------------------------
def test_a_post_with_two_photos_and_a_long_text_reaches_the_four_networks(fakes, school, client):
    pub = create(school)
    assert_received_as_planned(fakes, pub)
    assert_published(pub, school)
    page = client.get(f"/participants/{school.inst.slug}").get_data(as_text=True)
    # Telegram and MAX give no post total: the copies count as seen; VK and OK's totals come from collection
    assert page.count("посты: 1") == 2, "the Telegram and MAX accounts count the published copy"
    assert page.count(LONG[:60]) == 4, "the latest posts list each network's copy"
    figure = re.search(r'fig-value">(\d+)</span> <span class="fig-label">публикаций в этом месяце', page)
    assert figure and int(figure.group(1)) == 4


def test_the_compose_page_publishes_to_the_fakes(fakes, school, login):
    import io

    client = login(school.smm)
    client.get("/posts/new")
    data = {"text": LONG, "accounts": [str(a.id) for a in school.acc.values()], "link_preview": "y",
            "photos": [(io.BytesIO(png(1)), "a.png"), (io.BytesIO(png(2)), "b.png")], "action": "publish"}
    resp = client.post("/posts/new", data=data, content_type="multipart/form-data")
    assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:2000]
    pub = db.session.scalar(select(Publication).order_by(Publication.id.desc()))
    assert_received_as_planned(fakes, pub)
    assert_published(pub, school)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert page.count("опубликовано") >= 4


def test_residents_comments_under_the_published_post_link_the_ticket_to_it(fakes, school, client):
    pub = create(school)
    rows = deliveries(pub)
    vk_post = int(rows["vk"].external_id)
    hook = vk_updates.wall_reply_new(VK_GID, 2000777, "Во сколько начало в субботу?", post_id=vk_post,
                                     comment_id=55, secret=VK_SECRET)
    assert client.post("/hooks/vk", json=hook).status_code == 200
    tg_post = int(rows["telegram"].external_id)
    update = tg_updates.comment(TG_GROUP, TG_CHANNEL, 777001, "А можно прийти с младшим братом?", message_id=901,
                                post_id=tg_post, forward_id=4001, channel_username="school3_integ")
    resp = client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert resp.status_code == 200
    db.session.expire_all()
    by_text = {m.text: m for m in db.session.scalars(select(Message))}
    vk_msg, tg_msg = by_text["Во сколько начало в субботу?"], by_text["А можно прийти с младшим братом?"]
    assert vk_msg.post_id == rows["vk"].post_id and vk_msg.ticket_id is not None
    assert tg_msg.post_id == rows["telegram"].post_id and tg_msg.ticket_id is not None
    assert db.session.scalar(select(func.count(Post.id)).where(Post.account_id.in_(
        [a.id for a in school.acc.values()]))) == 4  # the comments found the app's rows, made no new ones


# --- automation ------------------------------------------------------------------------------------------------
def test_flask_posts_publish_twice_with_one_key_posts_once_on_each_fake(app, fakes, school, tmp_path):
    photo = tmp_path / "афиша.png"
    photo.write_bytes(png(1))
    args = ["posts", "publish", "--text", LONG, "--photo", str(photo), "--photo", str(photo), "--accounts",
            ",".join(str(a.id) for a in school.acc.values()), "--key", "nightly-7", "--as", school.smm.username]
    runner = app.test_cli_runner()
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=args)
    assert second.exit_code == 0 and "ничего нового не опубликовано" in second.output, second.output
    pub = db.session.scalar(select(Publication).where(Publication.key == "nightly-7"))
    assert db.session.scalar(select(func.count(Publication.id))) == 1
    assert len(fakes.tg.received(TG_CHANNEL)) == 3 and len(fakes.vk.wall(VK_GID)) == 1
    assert len(fakes.ok.topics_of(OK_GID)) == 1 and len(fakes.max.received(MAX_CHAT)) == 1
    assert_published(pub, school)


# --- troubles --------------------------------------------------------------------------------------------------
@pytest.fixture
def clock_at(monkeypatch):
    """The outbox's clock (the in-process jobs read it): clock_at(moment)."""
    def set_to(moment):
        monkeypatch.setattr(outbox, "utcnow", lambda: moment)
        return moment
    return set_to


def test_a_429_with_a_long_retry_after_waits_then_the_sweep_publishes(fakes, school, clock_at):
    now = clock_at(utcnow())
    fakes.tg.fail(429, "Too Many Requests: retry after 900", chat_id=TG_CHANNEL, method="sendMediaGroup",
                  parameters={"retry_after": 900})
    pub = create(school)
    rows = deliveries(pub)
    tg = rows["telegram"]
    assert tg.state == "scheduled" and tg.next_attempt_at >= now + timedelta(seconds=900), (tg.state, tg.last_error)
    assert {rows[n].state for n in ("vk", "ok", "max")} == {"published"}  # the others did not wait
    assert fresh(pub).state == "publishing" and fakes.tg.received(TG_CHANNEL) == []
    clock_at(now + timedelta(seconds=600))
    jobs.sweep()
    assert deliveries(pub)["telegram"].state == "scheduled"  # not yet due
    clock_at(now + timedelta(seconds=901))
    assert jobs.sweep() == 1
    assert_published(pub, school)
    assert len(fakes.tg.received(TG_CHANNEL)) == 3


def test_a_channel_where_the_bot_is_not_admin_fails_in_words_and_the_others_go(fakes, school):
    parents = Account(institution=school.inst, network="telegram", handle="school3_parents",
                      external_id=str(TG_NOT_ADMIN), title="Школа № 3 — родителям", url="https://t.me/school3_parents")
    db.session.add(parents)
    db.session.commit()
    made = posts.create(school.smm, text="Собрание в четверг в 18:00", photos=(),
                        account_ids=[parents.id, *[a.id for a in school.acc.values()]])
    db.session.commit()
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.publication_id == made.publication.id)).all()
    bad = next(d for d in rows if d.account_id == parents.id)
    assert bad.state in ("failed", "refused") and "Школа № 3 — родителям" in bad.last_error
    assert "администратор" in bad.last_error.lower() and re.search("[а-я]", bad.last_error)
    assert {d.state for d in rows if d.account_id != parents.id} == {"published"}
    assert fresh(made.publication).state == "done"
    assert fakes.tg.received(TG_NOT_ADMIN) == [] and len(fakes.tg.received(TG_CHANNEL)) == 1
    db.session.refresh(parents)
    assert parents.publish_ok is False  # the next posts are refused beforehand


def test_a_dropped_answer_after_telegram_accepted_is_unconfirmed_then_resent_from_the_page(fakes, school, login):
    fakes.tg.drop("sendMessage", chat_id=TG_CHANNEL)
    pub = create(school, text="Собрание в четверг в 18:00", n_photos=0)
    tg = deliveries(pub)["telegram"]
    assert tg.state == "unconfirmed" and "Не подтверждено" in tg.last_error, (tg.state, tg.last_error)
    assert len(fakes.tg.received(TG_CHANNEL)) == 1  # it did go out: the author decides
    client = login(school.smm)
    page = client.get(f"/posts/{pub.id}").get_data(as_text=True)
    assert "не подтверждено" in page.lower() and "тправить ещё раз" in page
    resp = client.post(f"/posts/{pub.id}/deliveries/{tg.id}/resend")
    assert resp.status_code in (200, 302, 303)
    tg = deliveries(pub)["telegram"]
    assert tg.state == "published" and tg.permalink
    assert fresh(pub).state == "done"
    assert len(fakes.tg.received(TG_CHANNEL)) == 2  # the author chose to send again


def test_vk_dropped_after_accepting_is_retried_with_the_same_guid_one_post(fakes, school, clock_at):
    now = clock_at(utcnow())
    fakes.vk.drop_after("wall.post")
    pub = create(school)
    vk = deliveries(pub)["vk"]
    assert vk.state == "scheduled" and len(fakes.vk.wall(VK_GID)) == 1, (vk.state, vk.last_error)
    clock_at(now + timedelta(minutes=5))
    jobs.sweep()
    vk = deliveries(pub)["vk"]
    assert vk.state == "published"
    [wall] = fakes.vk.wall(VK_GID)
    assert str(wall["id"]) == vk.external_id and wall["guid"] == vk.guid
    assert len(fakes.vk.calls_of("wall.post")) + sum(
        "wall.post" in str(c.get("params", {}).get("code", "")) for c in fakes.vk.calls_of("execute")) >= 2
    assert_published(pub, school)


# --- after publishing ------------------------------------------------------------------------------------------
def test_an_edit_reaches_every_copy_and_ok_says_where_it_cannot(fakes, school, login):
    pub = create(school)
    client = login(school.smm)
    new = LONG.replace("день открытых дверей", "день открытых дверей (перенесён на воскресенье)", 1)
    resp = client.post(f"/posts/{pub.id}/text", data={"text": new})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:1500]
    page = resp.get_data(as_text=True)
    tg = fakes.tg.received(TG_CHANNEL)
    assert tg[2]["text"] == new and tg[2]["edits"]
    assert fakes.vk.wall(VK_GID)[0]["text"] == new
    assert fakes.max.received(MAX_CHAT)[0]["text"] == new
    assert fakes.ok.topics_of(OK_GID)[0]["text"] == LONG  # OK gives no edit of a topic with photos
    rows = deliveries(pub)
    assert all(rows[n].change_error is None for n in ("telegram", "vk", "max"))
    assert "Одноклассники" in rows["ok"].change_error and page.count(rows["ok"].change_error) == 1  # said once
    for n in ("telegram", "vk", "max"):
        assert db.session.get(Post, rows[n].post_id).text == new


def test_delete_removes_every_copy(fakes, school, login):
    pub = create(school)
    client = login(school.smm)
    resp = client.post(f"/posts/{pub.id}/delete", data={"confirm": "yes"})
    assert resp.status_code == 200
    assert fakes.tg.received(TG_CHANNEL) == [] and fakes.vk.wall(VK_GID) == []
    assert fakes.ok.topics_of(OK_GID) == [] and fakes.max.received(MAX_CHAT) == []
    assert {d.state for d in deliveries(pub).values()} == {"deleted"}
    assert fresh(pub).state == "deleted"
    # the participant's public page no longer lists or counts the deleted post (its rows are kept, marked)
    page = client.get(f"/participants/{school.inst.slug}").get_data(as_text=True)
    assert LONG[:60] not in page and page.count("посты: 0 — учтены") == 2  # Telegram and MAX count seen posts
    figure = re.search(r'fig-value">(\d+)</span> <span class="fig-label">публикаций в этом месяце', page)
    assert figure is None or int(figure.group(1)) == 0
    assert all(d.post is not None and d.post.deleted_at is not None for d in deliveries(pub).values())


# --- two schedulers ----------------------------------------------------------------------------------------------
@pytest.mark.no_db_rollback
def test_a_scheduled_post_goes_once_when_two_schedulers_sweep_at_once(app, fakes, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLISH_THREADS", 2)
    try:
        inst, acc = _school("school3-twice")
        smm = make_user("smm", institution=inst)
        db.session.commit()
        at = utcnow() + timedelta(minutes=5)
        made = posts.create(smm, text=LONG, photos=photos(2), account_ids=[a.id for a in acc.values()], at=at)
        db.session.commit()
        pid = made.publication.id
        monkeypatch.setattr(outbox, "utcnow", lambda: at + timedelta(seconds=1))
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def scheduler():
            try:
                with app.app_context():
                    barrier.wait()
                    jobs.sweep()
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 — reported below
                errors.append(exc)

        runs = [threading.Thread(target=scheduler) for _ in range(2)]
        for t in runs:
            t.start()
        for t in runs:
            t.join(60)
        assert not errors, errors
        assert len(fakes.tg.received(TG_CHANNEL)) == 3 and len(fakes.vk.wall(VK_GID)) == 1
        assert len(fakes.ok.topics_of(OK_GID)) == 1 and len(fakes.max.received(MAX_CHAT)) == 1
        db.session.expire_all()
        states = db.session.scalars(select(Delivery.state).where(Delivery.publication_id == pid)).all()
        assert sorted(states) == ["published"] * 4
        assert db.session.get(Publication, pid).state == "done"
        assert db.session.scalar(select(func.count(Post.id)).where(Post.source == "app")) == 4
    finally:
        db.session.rollback()
        wipe_tables()


def test_a_comment_under_the_telegram_text_message_of_a_split_post_links_to_the_same_post(fakes, school, client):
    """A caption over 1,024: the album, then the text as a message of its own — residents comment under either."""
    pub = create(school)
    tg = deliveries(pub)["telegram"]
    text_message = int(tg.parts[1][0])
    update = tg_updates.comment(TG_GROUP, TG_CHANNEL, 777002, "Парковка у школы будет открыта?", message_id=902,
                                post_id=text_message, forward_id=4002, channel_username="school3_integ")
    resp = client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert resp.status_code == 200
    db.session.expire_all()
    msg = db.session.scalar(select(Message).where(Message.text == "Парковка у школы будет открыта?"))
    assert msg.post_id == tg.post_id
    assert db.session.scalar(select(func.count(Post.id)).where(Post.account_id == tg.account_id)) == 1


def test_rights_are_asked_of_each_fake_and_a_missing_right_is_said(fakes, school, login):
    parents = Account(institution=school.inst, network="telegram", handle="school3_parents",
                      external_id=str(TG_NOT_ADMIN), title="Школа № 3 — родителям", url="https://t.me/school3_parents")
    db.session.add(parents)
    client = login(school.smm)
    for account in school.acc.values():
        resp = client.post(f"/posts/accounts/{account.id}/rights")
        assert resp.status_code == 200
        db.session.refresh(account)
        assert account.publish_ok is True and account.publish_photos_ok is True, (account.network,
                                                                                    account.publish_reason)
    resp = client.post(f"/posts/accounts/{parents.id}/rights")
    db.session.refresh(parents)
    assert parents.publish_ok is False and "Школа № 3 — родителям" in parents.publish_reason
    assert parents.publish_reason in resp.get_data(as_text=True)


def test_a_text_topic_in_ok_is_edited_too(fakes, school, login):
    pub = create(school, text="Собрание в четверг в 18:00", n_photos=0)
    client = login(school.smm)
    assert client.post(f"/posts/{pub.id}/text", data={"text": "Собрание в пятницу в 18:00"}).status_code == 200
    assert fakes.ok.topics_of(OK_GID)[0]["text"] == "Собрание в пятницу в 18:00"
    assert fakes.tg.received(TG_CHANNEL)[0]["text"] == "Собрание в пятницу в 18:00"
    assert {d.change_error for d in deliveries(pub).values()} == {None}


# --- approval, changes before publishing, a 429 mid-post, a crash --------------------------------------------------
def test_a_post_waiting_for_approval_goes_to_the_fakes_once_the_press_service_approves(fakes, school, login):
    school.inst.posts_need_approval = True
    press = make_user("press")
    db.session.commit()
    pub = create(school)
    assert fresh(pub).state == "awaiting_approval" and fakes.vk.wall(VK_GID) == []
    resp = login(press).post(f"/posts/{pub.id}/approve")
    assert resp.status_code == 303
    assert_received_as_planned(fakes, pub)
    assert_published(pub, school)


def test_a_scheduled_post_edited_on_the_page_goes_once_with_the_new_text(fakes, school, login, clock_at):
    at = utcnow() + timedelta(hours=2)
    pub = create(school, text="Черновик объявления", n_photos=0, at=at)
    client = login(school.smm)
    city = posts.to_city(at).strftime("%Y-%m-%d %H:%M")
    resp = client.post(f"/posts/{pub.id}/edit", data={
        "text": "Собрание в пятницу в 18:00", "accounts": [str(a.id) for a in school.acc.values()],
        "link_preview": "y", "at": city})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]
    clock_at(at + timedelta(minutes=1))
    assert jobs.sweep() == 1
    for got in ([m["text"] for m in fakes.tg.received(TG_CHANNEL)], [p["text"] for p in fakes.vk.wall(VK_GID)],
                [t["text"] for t in fakes.ok.topics_of(OK_GID)], [m["text"] for m in fakes.max.received(MAX_CHAT)]):
        assert got == ["Собрание в пятницу в 18:00"]
    assert {d.state for d in deliveries(pub).values()} == {"published"}
    assert jobs.sweep() == 0


def test_a_cancelled_scheduled_post_never_goes(fakes, school, login, clock_at):
    at = utcnow() + timedelta(hours=2)
    pub = create(school, at=at)
    assert login(school.smm).post(f"/posts/{pub.id}/cancel").status_code == 303
    clock_at(at + timedelta(minutes=1))
    assert jobs.sweep() == 0
    assert fakes.tg.received(TG_CHANNEL) == [] and fakes.vk.wall(VK_GID) == [] and fakes.vk.uploads == []
    assert {d.state for d in deliveries(pub).values()} == {"cancelled"}


def test_a_429_on_the_text_after_the_album_sends_only_the_text_later(fakes, school, clock_at):
    now = clock_at(utcnow())
    fakes.tg.fail(429, "Too Many Requests: retry after 120", chat_id=TG_CHANNEL, method="sendMessage",
                  parameters={"retry_after": 120})
    pub = create(school)
    tg = deliveries(pub)["telegram"]
    assert tg.state == "scheduled" and len(tg.parts) == 1 and len(fakes.tg.received(TG_CHANNEL)) == 2
    clock_at(now + timedelta(seconds=121))
    jobs.sweep()
    assert [m["method"] for m in fakes.tg.received(TG_CHANNEL)] == ["sendMediaGroup", "sendMediaGroup",
                                                                    "sendMessage"]
    assert_published(pub, school)


class WorkerDied(BaseException):
    """A worker killed after the platform accepted and before our commit: nothing after the call runs."""


def test_a_worker_killed_after_the_platforms_acceptance(app, fakes, school, clock_at, monkeypatch):
    """Telegram, OK, MAX: «не подтверждено» (the author decides); VK: retried with the same guid — one post."""
    now = clock_at(utcnow())
    enqueue = outbox.enqueue_after_commit
    monkeypatch.setattr(outbox, "enqueue_after_commit", lambda *a, **k: None)  # the test runs the worker
    pub = create(school, text="Собрание в четверг в 18:00", n_photos=0)
    real = outbox._record_part

    def die(delivery, sent, k):
        raise WorkerDied()
    monkeypatch.setattr(outbox, "_record_part", die)
    for delivery in deliveries(pub).values():
        with app.app_context():  # the worker's own session
            with pytest.raises(WorkerDied):
                outbox.deliver(delivery.id)
            db.session.rollback()
    rows = deliveries(pub)
    assert {d.state for d in rows.values()} == {"sending"}
    assert len(fakes.vk.wall(VK_GID)) == 1 and len(fakes.tg.received(TG_CHANNEL)) == 1
    monkeypatch.setattr(outbox, "_record_part", real)
    monkeypatch.setattr(outbox, "enqueue_after_commit", enqueue)
    clock_at(now + timedelta(minutes=11))
    jobs.sweep()
    rows = deliveries(pub)
    assert {n: d.state for n, d in rows.items()} == {"telegram": "unconfirmed", "ok": "unconfirmed",
                                                     "max": "unconfirmed", "vk": "published"}
    assert "Не подтверждено" in rows["telegram"].last_error and "Отправить ещё раз" in rows["telegram"].last_error
    assert [str(p["id"]) for p in fakes.vk.wall(VK_GID)] == [rows["vk"].external_id]
    assert len(fakes.tg.received(TG_CHANNEL)) == 1 and len(fakes.ok.topics_of(OK_GID)) == 1
    assert fresh(pub).state == "done"


def test_vk_telling_of_the_published_post_updates_the_apps_row(fakes, school, client):
    """VK's wall_post_new for a post the app made (the Callback API tells of every wall post) is the same row."""
    pub = create(school, text="Собрание в четверг в 18:00", n_photos=0)
    vk = deliveries(pub)["vk"]
    hook = vk_updates.wall_post_new(VK_GID, "Собрание в четверг в 18:00", post_id=int(vk.external_id), views=40,
                                    secret=VK_SECRET)
    assert client.post("/hooks/vk", json=hook).status_code == 200
    db.session.expire_all()
    [post] = db.session.scalars(select(Post).where(Post.account_id == vk.account_id)).all()
    assert post.id == vk.post_id and post.source == "app" and post.views == 40


def test_comments_under_the_ok_topic_are_polled_into_a_ticket_linked_to_the_post(fakes, school):
    """OK pushes no comments: the periodic job polls those under the OK topics the app published lately."""
    from app.jobs import intake as intake_jobs

    pub = create(school)
    ok = deliveries(pub)["ok"]
    fakes.ok.add_comment(ok.external_id, 5550001, "А родителям можно прийти без записи?", comment_id="C1",
                         author_name="Анна Смирнова")
    fakes.ok.add_comment(ok.external_id, OK_GID, "Да, конечно", comment_id="C2")  # the group's own answer
    assert intake_jobs.ok_comments() == 1
    assert intake_jobs.ok_comments() == 0  # polled again: nothing new
    db.session.expire_all()
    msg = db.session.scalar(select(Message).where(Message.network == "ok"))
    assert msg.text == "А родителям можно прийти без записи?" and msg.post_id == ok.post_id
    assert msg.ticket_id is not None
