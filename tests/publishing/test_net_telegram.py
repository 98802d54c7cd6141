"""Publishing to Telegram channels (app/services/publishing/networks/telegram.py) against the fake Bot API, through
python-telegram-bot itself: what each channel receives is exactly what limits planned, rights, errors in words,
429s, a lost answer, edits, deletions and the per-channel pace. The pacers sleep on a fake clock: nothing waits."""
from __future__ import annotations

import re

import pytest

from app.fakes.telegram import FakeTelegram
from app.services.publishing.limits import plan_for
from app.services.publishing.networks import PublishError, Sent, module
from app.services.publishing.networks import telegram as tg_net
from tests.publishing.tg_max_support import FakeClock, channel, dead_url, pacing_on, photo_files

TOKEN = "7012345678:AAH4-publish-token"
PUBLIC, PRIVATE, NO_RIGHT, NOT_ADMIN, UNKNOWN = (-1002000000001, -1002000000002, -1002000000003, -1002000000004,
                                                 -1002000009999)
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def pacing(clock):
    return pacing_on(clock)


@pytest.fixture
def tg(clock):
    with FakeTelegram(token=TOKEN) as fake:
        fake.clock = clock
        fake.add_channel(PUBLIC, "Школа № 3", "school3")
        fake.add_channel(PRIVATE, "Библиотека", None)
        fake.add_channel(NO_RIGHT, "Музей", "museum_ch", can_post=False)
        fake.add_channel(NOT_ADMIN, "Дом культуры", "dk_ch", bot_status="left")
        yield fake


@pytest.fixture
def config(tg):
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_BOT_USERNAME": "city_bot",
            "HTTP_TIMEOUT": 5}


def public():
    return channel("telegram", PUBLIC, "school3", "Школа № 3")


def publish(plan, photos, config, pacing, ch=None, uploaded=None) -> list[Sent]:
    """Every part of the plan, in order, as the outbox calls them."""
    ch = ch or public()
    return [tg_net.send_part(ch, plan, k, photos, config, guid="g-1", uploaded=uploaded, pacing=pacing)
            for k in range(len(plan.parts))]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_module_is_found_by_network():
    assert module("telegram") is tg_net


# --- what the channel receives --------------------------------------------------------------------------------
@pytest.mark.parametrize("preview", [True, False])
def test_text_only_with_the_link_preview_switch(tg, config, pacing, preview):
    text = "Субботник в парке в субботу. Подробности: https://school3.example/news"
    plan = plan_for("telegram", text, 0, preview)
    [sent] = publish(plan, [], config, pacing)
    [got] = tg.received(PUBLIC)
    assert got["method"] == "sendMessage" and got["text"] == text
    assert got["link_preview_options"] == {"is_disabled": not preview}
    assert sent.external_id == str(got["message_id"]) and sent.ids == [sent.external_id]
    assert sent.permalink == f"https://t.me/school3/{got['message_id']}"


def test_one_photo_goes_with_its_caption(tg, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 1)
    plan = plan_for("telegram", "Новая спортплощадка", 1)
    uploaded: dict = {}
    [sent] = publish(plan, photos, config, pacing, uploaded=uploaded)
    [got] = tg.received(PUBLIC)
    assert got["method"] == "sendPhoto" and got["caption"] == "Новая спортплощадка"
    assert got["photo"] == photos[0].read()
    assert sent.ids == [str(got["message_id"])]
    assert uploaded == {"telegram_file_ids": [got["file_id"]]}


def test_an_album_of_two_carries_the_caption_on_the_first(tg, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 2)
    [sent] = publish(plan_for("telegram", "Выставка рисунков", 2), photos, config, pacing)
    got = tg.received(PUBLIC)
    assert [g["method"] for g in got] == ["sendMediaGroup"] * 2
    assert [g["caption"] for g in got] == ["Выставка рисунков", ""]
    assert [g["photo"] for g in got] == [p.read() for p in photos]
    assert len({g["media_group_id"] for g in got}) == 1
    assert sent.ids == [str(g["message_id"]) for g in got] and sent.external_id == sent.ids[0]


@pytest.mark.parametrize("length", [3000, 9000])
def test_an_album_of_ten_with_a_long_caption_then_the_text_uncut(tg, config, pacing, tmp_path, length):
    """Over 1,024 characters the album goes without a caption and the text follows as its own message(s): the
    channel gets exactly the planned parts and every character of the text."""
    sentence = "Уважаемые жители! Приглашаем всех на открытие нового сквера у школы № 3. "
    text = (sentence * (length // len(sentence) + 1))[:length].strip()
    photos = photo_files(tmp_path, 10)
    plan = plan_for("telegram", text, 10)
    assert [p.method for p in plan.parts][0] == "sendMediaGroup" and len(plan.parts) == (2 if length < 4096 else 4)
    sent = publish(plan, photos, config, pacing)
    got = tg.received(PUBLIC)
    album, texts = got[:10], got[10:]
    assert [g["caption"] for g in album] == [""] * 10
    assert [g["photo"] for g in album] == [p.read() for p in photos]
    assert [g["text"] for g in texts] == [p.text for p in plan.parts[1:]]
    assert _squash("".join(g["text"] for g in texts)) == _squash(text)  # nothing cut
    assert [len(s.ids) for s in sent] == [10] + [1] * (len(plan.parts) - 1)


def test_a_caption_of_exactly_1024_stays_a_caption(tg, config, pacing, tmp_path):
    text = "ё" * 1024
    [sent] = publish(plan_for("telegram", text, 2), photo_files(tmp_path, 2), config, pacing)
    assert tg.received(PUBLIC)[0]["caption"] == text and len(sent.ids) == 2


def test_the_fake_refuses_what_telegram_refuses(tg, config, pacing, tmp_path):
    """A hand-made part past the limits: Telegram's own error comes back as a sentence, nothing is posted."""
    plan = plan_for("telegram", "x", 1)
    plan.parts[0].text = "я" * 1025
    with pytest.raises(PublishError) as err:
        publish(plan, photo_files(tmp_path, 1), config, pacing)
    assert "caption is too long" in err.value.message and "Школа № 3" in err.value.message
    assert err.value.final and not err.value.uncertain and tg.received(PUBLIC) == []


def test_a_private_channel_links_by_its_internal_id(tg, config, pacing):
    ch = channel("telegram", PRIVATE, "", "Библиотека")
    [sent] = publish(plan_for("telegram", "Новые книги"), [], config, pacing, ch=ch)
    assert sent.permalink == f"https://t.me/c/2000000002/{sent.external_id}"


def test_file_ids_are_reused_instead_of_uploading_again(tg, config, pacing, tmp_path):
    """After an album, `uploaded` holds Telegram's file ids: a later send of the same photos (another channel of
    the same post) passes the ids, no bytes."""
    photos = photo_files(tmp_path, 3)
    uploaded: dict = {}
    publish(plan_for("telegram", "Фото", 3), photos, config, pacing, uploaded=uploaded)
    ids = uploaded["telegram_file_ids"]
    assert len(ids) == 3
    other = channel("telegram", PRIVATE, "", "Библиотека")
    publish(plan_for("telegram", "Фото", 3), photos, config, pacing, ch=other, uploaded=uploaded)
    media = [c for c in tg.calls if c["method"] == "sendMediaGroup"][-1]["params"]["media"]
    assert [m["media"] for m in media] == ids
    assert [g["photo"] for g in tg.received(PRIVATE)] == [p.read() for p in photos]


def test_unknown_file_ids_fall_back_to_the_bytes(tg, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 2)
    uploaded = {"telegram_file_ids": ["AgACgone1", "AgACgone2"]}
    publish(plan_for("telegram", "Фото", 2), photos, config, pacing, uploaded=uploaded)
    assert [g["photo"] for g in tg.received(PUBLIC)] == [p.read() for p in photos]
    assert uploaded["telegram_file_ids"] != ["AgACgone1", "AgACgone2"]


# --- rights ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chat, title, ok, words", [
    (PUBLIC, "Школа № 3", True, "с правом публиковать"),
    (NO_RIGHT, "Музей", False, "без права публиковать"),
    (NOT_ADMIN, "Дом культуры", False, "добавьте бота @open_municipality_bot администратором"),
    (UNKNOWN, "Пропавший канал", False, "администратор"),
])
def test_rights_are_read_from_get_chat_member(tg, config, pacing, chat, title, ok, words):
    rights = tg_net.check_rights(channel("telegram", chat, "", title), config, pacing=pacing)
    assert (rights.can_post, rights.can_post_photos) == (ok, ok)
    assert title in rights.reason and words in rights.reason


def test_rights_when_telegram_forbids_or_the_token_is_bad(tg, config, pacing):
    tg.trouble(PUBLIC, "no_rights")
    rights = tg_net.check_rights(public(), config, pacing=pacing)
    assert not rights.can_post and "Школа № 3" in rights.reason and "администратором" in rights.reason
    bad = dict(config, TELEGRAM_BOT_TOKEN="7012345678:wrong")
    rights = tg_net.check_rights(public(), bad, pacing=pacing)
    assert not rights.can_post and "TELEGRAM_BOT_TOKEN" in rights.reason
    rights = tg_net.check_rights(public(), dict(config, TELEGRAM_BOT_TOKEN=""), pacing=pacing)
    assert not rights.can_post and "не настроен" in rights.reason


def test_rights_raise_when_the_answer_is_unknown(tg, config, pacing):
    tg.trouble(PUBLIC, "5xx")
    with pytest.raises(PublishError) as err:
        tg_net.check_rights(public(), config, pacing=pacing)
    assert err.value.kind == "unavailable" and not err.value.uncertain


@pytest.mark.parametrize("photos", [0, 1])
def test_posting_where_the_bot_may_not(tg, config, pacing, tmp_path, photos):
    cases = [(NO_RIGHT, "Музей", "no_rights"), (NOT_ADMIN, "Дом культуры", "no_rights")]
    if photos:  # the fake answers sendMessage to a chat it does not know (residents' groups): photos only here
        cases.append((UNKNOWN, "Пропавший канал", "not_found"))
    for chat, title, kind in cases:
        with pytest.raises(PublishError) as err:
            publish(plan_for("telegram", "Текст", photos), photo_files(tmp_path, photos), config, pacing,
                    ch=channel("telegram", chat, "", title))
        assert err.value.kind == kind and title in err.value.message and err.value.final


# --- 429, lost answers, every error in words ------------------------------------------------------------------
def test_a_short_429_is_waited_out(tg, config, pacing, clock):
    tg.rate_limit(PUBLIC, retry_after=7)
    [sent] = publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert len(tg.received(PUBLIC)) == 1 and sent.external_id
    assert sum(clock.slept) >= 7


def test_a_long_retry_after_goes_to_the_outbox(tg, config, pacing, clock):
    tg.rate_limit(PUBLIC, retry_after=300)
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert err.value.kind == "rate_limited" and err.value.retry_after == 300 and not err.value.uncertain
    assert "Школа № 3" in err.value.message and tg.received(PUBLIC) == [] and sum(clock.slept) < 60


def test_429_again_and_again_gives_up_after_the_retries(tg, config, pacing):
    tg.rate_limit(PUBLIC, retry_after=2, times=None)
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert err.value.kind == "rate_limited" and tg.received(PUBLIC) == []
    assert len([c for c in tg.calls if c["method"] == "sendMessage"]) == tg_net.RETRIES + 1


@pytest.mark.parametrize("method, photos", [("sendMessage", 0), ("sendPhoto", 1), ("sendMediaGroup", 3)])
def test_a_dropped_connection_after_acceptance_is_uncertain(tg, config, pacing, tmp_path, method, photos):
    """Telegram posted, the answer never came: the fate is unknown to us — uncertain, never «not sent»."""
    tg.drop(method, chat_id=PUBLIC)
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст", photos), photo_files(tmp_path, photos), config, pacing)
    assert err.value.uncertain and err.value.kind == "unavailable"
    assert "Школа № 3" in err.value.message and "отправить ещё раз" in err.value.message
    assert len(tg.received(PUBLIC)) == max(photos, 1)  # it did go out


def test_no_answer_in_time_after_sending_is_uncertain(tg, config, pacing):
    """Telegram took the message and never answered: the read timeout (PTB's TimedOut) leaves its fate unknown."""
    tg.drop("sendMessage", chat_id=PUBLIC, hang=True)
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], dict(config, HTTP_TIMEOUT=0.3), pacing)
    assert err.value.uncertain and "не ответил вовремя" in err.value.message and len(tg.received(PUBLIC)) == 1


def test_no_answer_in_time_to_a_deletion_is_not_uncertain(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Текст")
    tg.drop("deleteMessage", hang=True)
    with pytest.raises(PublishError) as err:
        tg_net.delete(public(), parts, dict(config, HTTP_TIMEOUT=0.3), pacing=pacing)
    assert not err.value.uncertain and err.value.kind == "unavailable"


def test_a_refused_connection_is_not_uncertain(pacing):
    config = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": dead_url() + "/bot", "HTTP_TIMEOUT": 2}
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert err.value.kind == "unavailable" and not err.value.uncertain and "Школа № 3" in err.value.message


@pytest.mark.parametrize("code, description, kind, uncertain", [
    (403, "Forbidden: bot was kicked from the channel chat", "no_rights", False),
    (400, "Bad Request: chat not found", "not_found", False),
    (400, "Bad Request: need administrator rights in the channel chat", "no_rights", False),
    (400, "Bad Request: PHOTO_INVALID_DIMENSIONS", "not_found", False),
    (401, "Unauthorized", "bad_token", False),
    (404, "Not Found", "bad_token", False),
    (409, "Conflict: terminated by other getUpdates request", "unavailable", True),
    (429, "Too Many Requests: retry after 4000", "rate_limited", False),
    (500, "Internal Server Error", "unavailable", True),
    (502, "Bad Gateway", "unavailable", True),
])
@pytest.mark.parametrize("photos", [0, 1, 2])
def test_every_error_is_a_sentence_naming_the_account(tg, config, pacing, tmp_path, code, description, kind,
                                                      uncertain, photos):
    plan = plan_for("telegram", "Текст", photos)
    method = plan.parts[0].method
    parameters = {"retry_after": 4000} if code == 429 else None
    tg.fail(code, description, chat_id=PUBLIC, method=method, parameters=parameters)
    with pytest.raises(PublishError) as err:
        publish(plan, photo_files(tmp_path, photos), config, pacing)
    assert err.value.kind == kind and err.value.uncertain is uncertain
    assert "Школа № 3" in err.value.message and CYRILLIC.search(err.value.message)
    assert tg.received(PUBLIC) == []


def test_garbage_after_sending_is_uncertain(tg, config, pacing):
    tg.fail(-1, "garbage", chat_id=PUBLIC)  # an HTML page with HTTP 200 (the fake's garbled answer)
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert err.value.uncertain and "Школа № 3" in err.value.message


def test_a_missing_photo_file_is_said_not_raised(tg, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 2)
    (tmp_path / "photo2.png").unlink()
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Фото", 2), photos, config, pacing)
    assert err.value.kind == "unavailable" and not err.value.uncertain and "хранилища" in err.value.message
    assert tg.received(PUBLIC) == []


def test_a_part_outside_the_plan_is_refused(config, pacing):
    plan = plan_for("telegram", "Текст")
    with pytest.raises(PublishError) as err:
        tg_net.send_part(public(), plan, 3, [], config, pacing=pacing)
    assert err.value.final and "Школа № 3" in err.value.message


# --- edit and delete ------------------------------------------------------------------------------------------
def _published(tg, config, pacing, tmp_path, text, photos=0, ch=None):
    files = photo_files(tmp_path, photos)
    plan = plan_for("telegram", text, photos)
    sent = publish(plan, files, config, pacing, ch=ch)
    return [s.ids for s in sent]


def test_edit_a_text_post(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Старый текст")
    tg_net.edit(public(), parts, plan_for("telegram", "Новый текст", 0, False), config, pacing=pacing)
    [got] = tg.received(PUBLIC)
    assert got["text"] == "Новый текст" and got["edits"] == ["Старый текст"]
    assert got["link_preview_options"] == {"is_disabled": True}


def test_edit_an_album_caption(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Подпись", photos=3)
    tg_net.edit(public(), parts, plan_for("telegram", "Новая подпись", 3), config, pacing=pacing)
    got = tg.received(PUBLIC)
    assert [g["caption"] for g in got] == ["Новая подпись", "", ""]


def test_edit_a_split_post_edits_the_text_messages(tg, config, pacing, tmp_path):
    long_text = "Слово " * 400
    parts = _published(tg, config, pacing, tmp_path, long_text, photos=2)
    new_text = "Другое " * 400
    tg_net.edit(public(), parts, plan_for("telegram", new_text, 2), config, pacing=pacing)
    got = tg.received(PUBLIC)
    assert [g["caption"] for g in got[:2]] == ["", ""] and got[2]["text"] == new_text.strip()
    assert not [c for c in tg.calls if c["method"] == "editMessageCaption"]


def test_edit_with_the_same_text_is_fine(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Текст", photos=1)
    tg_net.edit(public(), parts, plan_for("telegram", "Текст", 1), config, pacing=pacing)
    assert tg.received(PUBLIC)[0]["caption"] == "Текст"


@pytest.mark.parametrize("old, new", [
    (("Короткий", 1), ("Длинный " * 200, 1)),  # a caption becomes a photo + a text message
    (("Текст", 2), ("Текст", 3)),  # another number of photos
    (("Слово " * 1000, 0), ("Коротко", 0)),  # two messages become one
])
def test_edit_of_another_shape_is_refused(tg, config, pacing, tmp_path, old, new):
    parts = _published(tg, config, pacing, tmp_path, old[0], photos=old[1])
    with pytest.raises(PublishError) as err:
        tg_net.edit(public(), parts, plan_for("telegram", new[0], new[1]), config, pacing=pacing)
    assert err.value.kind == "no_rights" and "удалите его и опубликуйте заново" in err.value.message
    assert "Школа № 3" in err.value.message
    assert not [c for c in tg.calls if c["method"].startswith("edit")]


def test_edit_of_a_post_deleted_in_the_channel(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Текст")
    tg_net.delete(public(), parts, config, pacing=pacing)
    with pytest.raises(PublishError) as err:
        tg_net.edit(public(), parts, plan_for("telegram", "Другой"), config, pacing=pacing)
    assert err.value.kind == "not_found" and "Школа № 3" in err.value.message


def test_delete_every_message_of_the_copy_and_again(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Слово " * 400, photos=4)
    assert [len(p) for p in parts] == [4, 1]
    tg_net.delete(public(), parts, config, pacing=pacing)
    assert tg.received(PUBLIC) == [] and len(tg.received(PUBLIC, deleted=True)) == 5
    tg_net.delete(public(), parts, config, pacing=pacing)  # already gone: nothing to say


def test_delete_after_48_hours_is_refused_in_words(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Текст", photos=2)
    tg.backdate(PUBLIC, hours=49)
    with pytest.raises(PublishError) as err:
        tg_net.delete(public(), parts, config, pacing=pacing)
    assert err.value.kind == "no_rights" and "48 часов" in err.value.message and "Школа № 3" in err.value.message
    assert len(tg.received(PUBLIC)) == 2


def test_delete_where_the_bot_lost_its_rights(tg, config, pacing, tmp_path):
    parts = _published(tg, config, pacing, tmp_path, "Текст")
    tg.chats[PUBLIC]["bot_status"] = "left"
    with pytest.raises(PublishError) as err:
        tg_net.delete(public(), parts, config, pacing=pacing)
    assert err.value.kind == "no_rights" and "администратором" in err.value.message


# --- pace -----------------------------------------------------------------------------------------------------
def test_one_message_a_second_per_channel(tg, config, pacing, clock, tmp_path):
    """Five messages to one channel and five to another: in each channel at most one call a second (on the
    injected clock); an album of three holds its channel for three seconds."""
    other = channel("telegram", PRIVATE, "", "Библиотека")
    text_plan = plan_for("telegram", "Текст")
    for _ in range(5):
        publish(text_plan, [], config, pacing)
        publish(text_plan, [], config, pacing, ch=other)
    for chat in (PUBLIC, PRIVATE):
        times = [c["at"] for c in tg.calls if c["params"].get("chat_id") == chat]
        assert len(times) == 5
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert clock.now - 1_795_000_000.0 < 6  # the two channels do not wait for each other
    publish(plan_for("telegram", "Фото", 3), photo_files(tmp_path, 3), config, pacing)
    publish(text_plan, [], config, pacing)
    album_at, text_at = [c["at"] for c in tg.calls if c["params"].get("chat_id") == PUBLIC][-2:]
    assert text_at - album_at >= 3.0 - 1e-9


@pytest.mark.parametrize("code, description, kind", [
    (403, "Forbidden: bot is not a member of the channel chat", "no_rights"),
    (400, "Bad Request: message can't be edited", "no_rights"),
    (400, "Bad Request: chat not found", "not_found"),
    (401, "Unauthorized", "bad_token"),
    (429, "Too Many Requests: retry after 900", "rate_limited"),
    (502, "Bad Gateway", "unavailable"),
    (-1, "garbage", "garbage"),
])
@pytest.mark.parametrize("action", ["edit", "delete", "rights"])
def test_edit_delete_and_rights_errors_are_sentences_never_uncertain(tg, config, pacing, tmp_path, code,
                                                                     description, kind, action):
    parts = _published(tg, config, pacing, tmp_path, "Текст")
    method = {"edit": "editMessageText", "delete": "deleteMessage", "rights": "getChatMember"}[action]
    tg.fail(code, description, method=method, parameters={"retry_after": 900} if code == 429 else None)
    try:
        if action == "edit":
            tg_net.edit(public(), parts, plan_for("telegram", "Другой"), config, pacing=pacing)
        elif action == "delete":
            tg_net.delete(public(), parts, config, pacing=pacing)
        else:
            rights = tg_net.check_rights(public(), config, pacing=pacing)
            assert kind in ("no_rights", "not_found", "bad_token") and not rights.can_post
            assert "Школа № 3" in rights.reason
            return
    except PublishError as exc:
        assert exc.kind == kind and not exc.uncertain and "Школа № 3" in exc.message and CYRILLIC.search(exc.message)
    else:
        pytest.fail("no PublishError")


def test_the_module_never_touches_the_database():
    source = open(tg_net.__file__, encoding="utf-8").read()
    assert "app.models" not in source and "app.extensions" not in source and "db.session" not in source


@pytest.mark.parametrize("result", ["junk", {"message_id": "x"}, [], None, {"chat": 5}])
def test_an_odd_answer_after_sending_is_an_uncertain_sentence(tg, config, pacing, monkeypatch, result):
    """Telegram says ok with a result nobody can read: a PublishError (uncertain: it may have posted), never
    another exception."""
    monkeypatch.setattr(tg, "_send_message", lambda params: (200, {"ok": True, "result": result}))
    with pytest.raises(PublishError) as err:
        publish(plan_for("telegram", "Текст"), [], config, pacing)
    assert err.value.uncertain and "Школа № 3" in err.value.message
