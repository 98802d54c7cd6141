"""Publishing to MAX channels (app/services/publishing/networks/max.py) against the fake MAX Bot API over httpx:
uploads then POST /messages, exactly what limits planned, rights from members/me, errors in words, 429s,
attachment.not.ready, a lost answer, edits, deletions and the per-chat pace. Nothing waits: the pacers sleep on a
fake clock."""
from __future__ import annotations

import re

import pytest

from app.fakes.max import FakeMax
from app.services.publishing.limits import plan_for
from app.services.publishing.networks import PublishError, Sent, module
from app.services.publishing.networks import max as max_net
from tests.publishing.tg_max_support import FakeClock, channel, dead_url, pacing_on, photo_files

TOKEN = "max-publish-token"
SCHOOL, LIBRARY, NO_WRITE, NOT_ADMIN, OUTSIDE, UNKNOWN = -70001, -70002, -70003, -70004, -70005, -70999
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def pacing(clock):
    return pacing_on(clock)


@pytest.fixture
def mx(clock):
    with FakeMax(token=TOKEN) as fake:
        fake.clock = clock
        fake.add_chat(SCHOOL, "Школа № 3", "school3")
        fake.add_chat(LIBRARY, "Библиотека", "library")
        fake.add_chat(NO_WRITE, "Музей", "museum", permissions=["read_all_messages"])
        fake.add_chat(NOT_ADMIN, "Дом культуры", "dk", bot_admin=False)
        fake.add_chat(OUTSIDE, "Стадион", "stadium", bot_member=False)
        yield fake


@pytest.fixture
def config(mx):
    return {"MAX_BOT_TOKEN": TOKEN, "MAX_API_URL": mx.base_url, "HTTP_TIMEOUT": 5}


def school():
    return channel("max", SCHOOL, "school3", "Школа № 3")


def publish(plan, photos, config, pacing, ch=None, uploaded=None) -> list[Sent]:
    ch = ch or school()
    return [max_net.send_part(ch, plan, k, photos, config, guid="g-1", uploaded=uploaded, pacing=pacing)
            for k in range(len(plan.parts))]


def calls(mx, method: str, path: str) -> list[dict]:
    return [c for c in mx.calls if c["method"] == method and c["path"] == path]


def test_the_module_is_found_by_network():
    assert module("max") is max_net


# --- what the channel receives --------------------------------------------------------------------------------
@pytest.mark.parametrize("preview", [True, False])
def test_text_only_with_the_link_preview_switch(mx, config, pacing, preview):
    text = "Субботник в парке. Подробности: https://school3.example/news"
    [sent] = publish(plan_for("max", text, 0, preview), [], config, pacing)
    [got] = mx.received(SCHOOL)
    assert got["text"] == text and got["photos"] == [] and got["attachments"] == []
    assert got["disable_link_preview"] == ("false" if preview else "true")
    assert sent.external_id == got["mid"] and sent.ids == [got["mid"]]
    assert sent.permalink == f"https://max.ru/c/{SCHOOL}/{got['mid']}"
    assert calls(mx, "POST", "/uploads") == []


def test_photos_are_uploaded_then_attached(mx, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 3)
    uploaded: dict = {}
    [sent] = publish(plan_for("max", "Выставка рисунков", 3), photos, config, pacing, uploaded=uploaded)
    [got] = mx.received(SCHOOL)
    assert got["text"] == "Выставка рисунков" and got["photos"] == [p.read() for p in photos]
    assert [a["type"] for a in got["attachments"]] == ["image"] * 3
    assert uploaded["max_tokens"] == [a["payload"]["token"] for a in got["attachments"]]
    assert len(calls(mx, "POST", "/uploads")) == 3 and [c["params"] for c in calls(mx, "POST", "/uploads")] == [
        {"type": "image"}] * 3
    assert sent.external_id == got["mid"]


def test_a_photo_only_post_has_no_text(mx, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 1)
    publish(plan_for("max", "", 1), photos, config, pacing)
    [got] = mx.received(SCHOOL)
    assert got["text"] == "" and "text" not in got["body"] and got["photos"] == [photos[0].read()]


def test_a_long_text_goes_in_several_messages_photos_in_the_first(mx, config, pacing, tmp_path):
    sentence = "Уважаемые жители! Приглашаем всех на открытие нового сквера у школы № 3. "
    text = (sentence * 130).strip()  # about 9,600 characters: three messages
    photos = photo_files(tmp_path, 2)
    plan = plan_for("max", text, 2)
    assert len(plan.parts) == 3
    sent = publish(plan, photos, config, pacing)
    got = mx.received(SCHOOL)
    assert [g["text"] for g in got] == [p.text for p in plan.parts]
    assert re.sub(r"\s+", "", "".join(g["text"] for g in got)) == re.sub(r"\s+", "", text)
    assert [len(g["photos"]) for g in got] == [2, 0, 0] and all(len(g["text"]) < 4000 for g in got)
    assert [s.external_id for s in sent] == [g["mid"] for g in got]


def test_uploaded_tokens_are_not_uploaded_again(mx, config, pacing, tmp_path):
    """A failed upload keeps the ones done before it; the retry uploads only the rest."""
    photos = photo_files(tmp_path, 3)
    uploaded: dict = {}
    mx.fail(503, on="POST /uploads", skip=1)  # the 2nd photo's upload fails
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Фото", 3), photos, config, pacing, uploaded=uploaded)
    assert err.value.kind == "unavailable" and not err.value.uncertain and mx.received(SCHOOL) == []
    assert len(uploaded["max_tokens"]) == 1
    publish(plan_for("max", "Фото", 3), photos, config, pacing, uploaded=uploaded)
    assert len(calls(mx, "POST", "/uploads")) == 4  # 1 + the failed one + 2
    [got] = mx.received(SCHOOL)
    assert got["photos"] == [p.read() for p in photos] and len(uploaded["max_tokens"]) == 3
    # another channel of the same post: the tokens are reused
    publish(plan_for("max", "Фото", 3), photos, config, pacing, ch=channel("max", LIBRARY, "library", "Библиотека"),
            uploaded=uploaded)
    assert len(calls(mx, "POST", "/uploads")) == 4 and mx.received(LIBRARY)[0]["photos"] == got["photos"]


def test_an_attachment_not_ready_is_waited_for(mx, config, pacing, clock, tmp_path):
    mx.not_ready(times=2)
    publish(plan_for("max", "Фото", 1), photo_files(tmp_path, 1), config, pacing)
    assert len(mx.received(SCHOOL)) == 1 and 1.0 in clock.slept and 2.0 in clock.slept


def test_an_attachment_never_ready_goes_back_to_the_outbox(mx, config, pacing, tmp_path):
    mx.not_ready(times=100)
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Фото", 1), photo_files(tmp_path, 1), config, pacing)
    assert err.value.kind == "unavailable" and not err.value.uncertain and "Школа № 3" in err.value.message
    assert mx.received(SCHOOL) == []
    assert len(calls(mx, "POST", "/messages")) == len(max_net.NOT_READY_WAITS) + 1


# --- rights ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chat, title, ok, words", [
    (SCHOOL, "Школа № 3", True, "может писать сообщения"),
    (NO_WRITE, "Музей", False, "без права писать"),
    (NOT_ADMIN, "Дом культуры", False, "не администратор"),
    (OUTSIDE, "Стадион", False, "добавьте бота в канал администратором"),
    (UNKNOWN, "Пропавший канал", False, "добавьте бота в канал администратором"),
])
def test_rights_are_read_from_members_me(mx, config, pacing, chat, title, ok, words):
    rights = max_net.check_rights(channel("max", chat, "", title), config, pacing=pacing)
    assert (rights.can_post, rights.can_post_photos) == (ok, ok)
    assert title in rights.reason and words in rights.reason


def test_rights_with_a_bad_or_missing_token(mx, config, pacing):
    rights = max_net.check_rights(school(), dict(config, MAX_BOT_TOKEN="wrong"), pacing=pacing)
    assert not rights.can_post and "MAX_BOT_TOKEN" in rights.reason and "Школа № 3" in rights.reason
    rights = max_net.check_rights(school(), dict(config, MAX_BOT_TOKEN=""), pacing=pacing)
    assert not rights.can_post and "не настроен" in rights.reason


def test_rights_raise_when_the_answer_is_unknown(mx, config, pacing):
    mx.trouble(SCHOOL, "5xx")
    with pytest.raises(PublishError) as err:
        max_net.check_rights(school(), config, pacing=pacing)
    assert err.value.kind == "unavailable"


@pytest.mark.parametrize("chat, title", [(NO_WRITE, "Музей"), (NOT_ADMIN, "Дом культуры"), (OUTSIDE, "Стадион")])
def test_posting_where_the_bot_may_not(mx, config, pacing, chat, title):
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст"), [], config, pacing, ch=channel("max", chat, "", title))
    assert err.value.kind == "no_rights" and title in err.value.message and err.value.final


# --- 429, lost answers, every error in words ------------------------------------------------------------------
def test_a_short_429_is_waited_out(mx, config, pacing, clock):
    mx.fail(429, chat_id=SCHOOL, retry_after=3)
    publish(plan_for("max", "Текст"), [], config, pacing)
    assert len(mx.received(SCHOOL)) == 1 and sum(clock.slept) >= 3


def test_a_long_retry_after_goes_to_the_outbox(mx, config, pacing, clock):
    mx.fail(429, chat_id=SCHOOL, retry_after=600)
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст"), [], config, pacing)
    assert err.value.kind == "rate_limited" and err.value.retry_after == 600 and not err.value.uncertain
    assert "Школа № 3" in err.value.message and mx.received(SCHOOL) == [] and sum(clock.slept) < 60


@pytest.mark.parametrize("photos", [0, 2])
def test_a_dropped_connection_after_acceptance_is_uncertain(mx, config, pacing, tmp_path, photos):
    mx.drop(chat_id=SCHOOL)
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст", photos), photo_files(tmp_path, photos), config, pacing)
    assert err.value.uncertain and err.value.kind == "unavailable" and "отправить ещё раз" in err.value.message
    assert len(mx.received(SCHOOL)) == 1  # it did go out


def test_a_dropped_upload_is_not_uncertain(mx, config, pacing, tmp_path):
    mx.drop(on="POST /uploads")
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст", 1), photo_files(tmp_path, 1), config, pacing)
    assert not err.value.uncertain and err.value.kind == "unavailable"


def test_no_answer_in_time_after_sending_is_uncertain(mx, config, pacing):
    mx.drop(chat_id=SCHOOL, hang=True)
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст"), [], dict(config, HTTP_TIMEOUT=0.3), pacing)
    assert err.value.uncertain and "не ответил вовремя" in err.value.message and len(mx.received(SCHOOL)) == 1


def test_a_refused_connection_is_not_uncertain(pacing):
    config = {"MAX_BOT_TOKEN": TOKEN, "MAX_API_URL": dead_url(), "HTTP_TIMEOUT": 2}
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст"), [], config, pacing)
    assert err.value.kind == "unavailable" and not err.value.uncertain and "Школа № 3" in err.value.message


@pytest.mark.parametrize("status, kind, uncertain", [
    (400, "not_found", False), (401, "bad_token", False), (403, "no_rights", False), (404, "not_found", False),
    (429, "rate_limited", False), (500, "unavailable", True), (503, "unavailable", True), (200, "garbage", True),
])
@pytest.mark.parametrize("photos", [0, 1])
def test_every_error_is_a_sentence_naming_the_account(mx, config, pacing, tmp_path, status, kind, uncertain,
                                                      photos):
    mx.fail(status, chat_id=SCHOOL, retry_after=4000 if status == 429 else None)
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст", photos), photo_files(tmp_path, photos), config, pacing)
    assert err.value.kind == kind and err.value.uncertain is uncertain
    assert "Школа № 3" in err.value.message and CYRILLIC.search(err.value.message)
    assert mx.received(SCHOOL) == []


def test_a_missing_photo_file_is_said_not_raised(mx, config, pacing, tmp_path):
    photos = photo_files(tmp_path, 1)
    (tmp_path / "photo1.png").unlink()
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Фото", 1), photos, config, pacing)
    assert err.value.kind == "unavailable" and "хранилища" in err.value.message and mx.received(SCHOOL) == []


# --- edit and delete ------------------------------------------------------------------------------------------
def _published(config, pacing, tmp_path, text, photos=0):
    sent = publish(plan_for("max", text, photos), photo_files(tmp_path, photos), config, pacing)
    return [s.ids for s in sent]


def test_edit_changes_the_text_and_keeps_the_photos(mx, config, pacing, tmp_path):
    parts = _published(config, pacing, tmp_path, "Старый текст", photos=2)
    max_net.edit(school(), parts, plan_for("max", "Новый текст", 2), config, pacing=pacing)
    [got] = mx.received(SCHOOL)
    assert got["text"] == "Новый текст" and got["edits"] == ["Старый текст"] and len(got["photos"]) == 2
    [put] = calls(mx, "PUT", "/messages")
    assert put["params"] == {"message_id": got["mid"]} and put["body"] == {"text": "Новый текст"}


def test_edit_of_another_number_of_messages_is_refused(mx, config, pacing, tmp_path):
    parts = _published(config, pacing, tmp_path, "Коротко")
    with pytest.raises(PublishError) as err:
        max_net.edit(school(), parts, plan_for("max", "Слово " * 1000), config, pacing=pacing)
    assert err.value.kind == "no_rights" and "удалите его и опубликуйте заново" in err.value.message
    assert calls(mx, "PUT", "/messages") == []


def test_edit_refused_by_max_and_of_a_deleted_message(mx, config, pacing, tmp_path):
    parts = _published(config, pacing, tmp_path, "Текст")
    mx.fail(403, on="PUT /messages")
    with pytest.raises(PublishError) as err:
        max_net.edit(school(), parts, plan_for("max", "Другой"), config, pacing=pacing)
    assert err.value.kind == "no_rights" and "Школа № 3" in err.value.message
    max_net.delete(school(), parts, config, pacing=pacing)
    with pytest.raises(PublishError) as err:
        max_net.edit(school(), parts, plan_for("max", "Другой"), config, pacing=pacing)
    assert err.value.kind == "not_found"


def test_delete_every_message_and_again(mx, config, pacing, tmp_path):
    parts = _published(config, pacing, tmp_path, "Слово " * 1000, photos=1)
    assert len(parts) == 2
    max_net.delete(school(), parts, config, pacing=pacing)
    assert mx.received(SCHOOL) == [] and len(mx.received(SCHOOL, deleted=True)) == 2
    max_net.delete(school(), parts, config, pacing=pacing)  # already gone


def test_delete_refused_by_max_is_said(mx, config, pacing, tmp_path):
    parts = _published(config, pacing, tmp_path, "Текст")
    mx.backdate(SCHOOL, hours=49)
    with pytest.raises(PublishError) as err:
        max_net.delete(school(), parts, config, pacing=pacing)
    assert err.value.kind == "no_rights" and "48 часов" in err.value.message and "Школа № 3" in err.value.message
    assert len(mx.received(SCHOOL)) == 1


# --- pace -----------------------------------------------------------------------------------------------------
def test_the_per_chat_pace(mx, config, pacing, clock):
    """MAX allows 2 messages a second per chat; paced at base.SAFETY that is one a second in each chat, and the
    chats do not wait for each other."""
    other = channel("max", LIBRARY, "library", "Библиотека")
    plan = plan_for("max", "Текст")
    start = clock.now
    for _ in range(6):
        publish(plan, [], config, pacing)
        publish(plan, [], config, pacing, ch=other)
    for chat in (SCHOOL, LIBRARY):
        times = [c["at"] for c in calls(mx, "POST", "/messages") if c["params"].get("chat_id") == str(chat)]
        assert len(times) == 6
        assert all(later - earlier >= 1.0 / max_net.CHAT_RATE for earlier, later in zip(times, times[1:], strict=False))
        assert all(times[i + 2] - times[i] >= 1.0 for i in range(len(times) - 2))  # never 3 within a second
    assert clock.now - start < 7


@pytest.mark.parametrize("status, kind", [
    (400, "not_found"), (401, "bad_token"), (403, "no_rights"), (404, "not_found"), (429, "rate_limited"),
    (500, "unavailable"), (503, "unavailable"),
])
@pytest.mark.parametrize("action", ["edit", "delete", "rights"])
def test_edit_delete_and_rights_errors_are_sentences_never_uncertain(mx, config, pacing, tmp_path, status, kind,
                                                                     action):
    parts = _published(config, pacing, tmp_path, "Текст")
    on = {"edit": "PUT /messages", "delete": "DELETE /messages", "rights": "GET /members/me"}[action]
    mx.fail(status, on=on, retry_after=900 if status == 429 else None)
    try:
        if action == "edit":
            max_net.edit(school(), parts, plan_for("max", "Другой"), config, pacing=pacing)
        elif action == "delete":
            if status == 404:
                max_net.delete(school(), parts, config, pacing=pacing)  # gone already: fine
                return
            max_net.delete(school(), parts, config, pacing=pacing)
        else:
            rights = max_net.check_rights(school(), config, pacing=pacing)
            assert kind in ("no_rights", "not_found", "bad_token") and not rights.can_post
            assert "Школа № 3" in rights.reason
            return
    except PublishError as exc:
        assert exc.kind == kind and not exc.uncertain and "Школа № 3" in exc.message and CYRILLIC.search(exc.message)
    else:
        pytest.fail("no PublishError")


def test_the_module_never_touches_the_database():
    source = open(max_net.__file__, encoding="utf-8").read()
    assert "app.models" not in source and "app.extensions" not in source and "db.session" not in source


@pytest.mark.parametrize("answer", [{"message": "x"}, {"message": {"body": "x"}}, {"message": {"body": {"mid": 5}}},
                                    [], "junk", {}])
def test_an_odd_answer_after_sending_is_an_uncertain_sentence(mx, config, pacing, monkeypatch, answer):
    monkeypatch.setattr(mx, "_send", lambda params, body: (200, answer, {}))
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Текст"), [], config, pacing)
    assert err.value.uncertain and err.value.kind == "garbage" and "Школа № 3" in err.value.message


@pytest.mark.parametrize("answer", [{"url": 5}, {"url": "ftp://x"}, {}])
def test_an_odd_upload_answer_is_said(mx, config, pacing, monkeypatch, tmp_path, answer):
    monkeypatch.setattr(mx, "_upload_url", lambda params: (200, answer, {}))
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Фото", 1), photo_files(tmp_path, 1), config, pacing)
    assert err.value.kind == "garbage" and not err.value.uncertain and mx.received(SCHOOL) == []


@pytest.mark.parametrize("answer", [{"photos": {}}, {"photos": {"a": {"token": 5}}}, {"token": ""}, {"photos": []}])
def test_an_upload_without_a_token_is_said(mx, config, pacing, monkeypatch, tmp_path, answer):
    monkeypatch.setattr(mx, "upload", lambda slot, ctype, raw: (200, answer, {}))
    uploaded: dict = {}
    with pytest.raises(PublishError) as err:
        publish(plan_for("max", "Фото", 1), photo_files(tmp_path, 1), config, pacing, uploaded=uploaded)
    assert err.value.kind == "garbage" and "токен" in err.value.message and uploaded.get("max_tokens") in (None, [])
