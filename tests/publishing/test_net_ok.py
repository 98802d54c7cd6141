"""Publishing to Одноклассники (app/services/publishing/networks/ok.py) against the fake OK over real HTTP, signed
REST calls: text and photo topics, upload tokens kept for a retry, link previews, rights (GROUP_CONTENT, the key
owner's role, PHOTO_CONTENT), rate limits, a dropped connection, edit / delete and their refusals."""
from __future__ import annotations

import json

import pytest

from app.fakes.ok import FakeOk
from app.services.publishing.limits import plan_for
from app.services.publishing.networks import Channel, PublishError, module
from app.services.publishing.networks import ok as net
from tests.publishing.net_support import Silent, make_pacing, photo_files

GID = "70000001234567"
CITY = "tkn1-city-rest"
GROUP = "tkn1-school3-admin"
NAME = "Школа № 3"


@pytest.fixture
def ok():
    with FakeOk(token=CITY, application_key="CBAFAKE", application_secret_key="s3cr3t") as fake:
        fake.add_group(GID, NAME, "school3")
        fake.tokens.add(GROUP)
        fake.add_admin(GID, GROUP)
        yield fake


@pytest.fixture
def config(ok):
    return {"OK_API_URL": ok.base_url, "OK_APPLICATION_KEY": "CBAFAKE", "OK_APPLICATION_SECRET_KEY": "s3cr3t",
            "OK_REST_ACCESS_TOKEN": CITY, "HTTP_TIMEOUT": 5}


@pytest.fixture
def pace():
    return make_pacing()


def channel(token=GROUP, gid=GID, title=NAME) -> Channel:
    return Channel(account_id=8, network="ok", external_id=gid, handle="school3", title=title, token=token)


def send(config, pace, text="День открытых дверей в субботу", photos=(), link_preview=True, uploaded=None, ch=None):
    plan = plan_for("ok", text, len(photos), link_preview)
    return net.send_part(ch or channel(), plan, 0, list(photos), config, guid="ignored",
                         uploaded={} if uploaded is None else uploaded, pacing=pace)


def test_the_module_is_found_by_network():
    assert module("ok") is net


# --- text and photos ---------------------------------------------------------------------------------------------
def test_a_text_topic_goes_to_the_group_in_one_signed_call(ok, config, pace):
    sent = send(config, pace)
    [topic] = ok.topics_of(GID)
    assert topic["media"] == [{"type": "text", "text": "День открытых дверей в субботу"}]
    assert sent.external_id == topic["id"] and sent.ids == [topic["id"]]
    assert sent.permalink == f"https://ok.ru/group/{GID}/topic/{topic['id']}"
    assert ok.api_requests(GROUP) == 1
    call = ok.calls[-1]["params"]
    assert call["method"] == "mediatopic.post" and call["type"] == "GROUP_THEME" and call["gid"] == GID
    assert call["application_key"] == "CBAFAKE" and call["sig"]  # the fake checked the signature


def test_the_applications_token_is_used_when_the_account_has_none(ok, config, pace):
    ok.add_admin(GID, CITY)
    send(config, pace, ch=channel(token=None))
    assert len(ok.topics_of(GID)) == 1 and ok.api_requests(CITY) == 1


@pytest.mark.parametrize("count", [1, 5])
def test_photos_are_uploaded_in_one_post_and_attached_by_token(ok, config, pace, tmp_path, count):
    files = photo_files(tmp_path, count)
    uploaded: dict = {}
    send(config, pace, text="Фото с линейки", photos=files, uploaded=uploaded)
    [topic] = ok.topics_of(GID)
    assert topic["text"] == "Фото с линейки" and len(topic["photos"]) == count
    photo_item = next(m for m in topic["media"] if m["type"] == "photo")
    assert [p["id"] for p in photo_item["list"]] == uploaded["ok"] and len(uploaded["ok"]) == count
    assert [u["size"] for u in ok.uploads] == [f.size for f in files]
    assert [u["filename"] for u in ok.uploads] == [f"photo{n}.png" for n in range(1, count + 1)]
    assert ok.api_requests(GROUP) == 2  # photosV2.getUploadUrl + mediatopic.post; the upload is not an API call
    assert [c["params"].get("count") for c in ok.calls if c["params"].get("method") == "photosV2.getUploadUrl"] \
        == [str(count)]


def test_a_retry_posts_the_uploaded_photos_without_uploading_again(ok, config, pace, tmp_path):
    files = photo_files(tmp_path, 3)
    uploaded: dict = {}
    ok.fail_method("mediatopic.post", error_code=2)  # SERVICE: temporarily unavailable
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=files, uploaded=uploaded)
    assert err.value.kind == "unavailable" and not err.value.uncertain and len(uploaded["ok"]) == 3
    send(config, pace, photos=files, uploaded=uploaded)
    assert len(ok.topics_of(GID)) == 1 and len(ok.uploads) == 3
    assert sum(1 for c in ok.calls if c["params"].get("method") == "photosV2.getUploadUrl") == 1


def test_tokens_ok_refuses_are_dropped_so_the_next_try_uploads_anew(ok, config, pace, tmp_path):
    files = photo_files(tmp_path, 2)
    uploaded = {"ok": ["expired-token-1", "expired-token-2"]}
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=files, uploaded=uploaded)
    assert err.value.kind == "not_found" and "ok" not in uploaded
    send(config, pace, photos=files, uploaded=uploaded)
    assert len(ok.topics_of(GID)) == 1 and len(uploaded["ok"]) == 2


@pytest.mark.parametrize("preview", [True, False])
def test_the_link_goes_as_a_link_item_only_with_the_preview_on(ok, config, pace, preview):
    send(config, pace, text="Запись в кружки: https://school3.example.ru/kruzhki", link_preview=preview)
    [topic] = ok.topics_of(GID)
    assert (topic["link"] == "https://school3.example.ru/kruzhki") is preview
    assert topic["media"][0]["type"] == "text"
    assert json.loads(ok.calls[-1]["params"]["attachment"])["media"] == topic["media"]


# --- rights ----------------------------------------------------------------------------------------------------
def test_rights_of_an_admins_key(ok, config, pace):
    rights = net.check_rights(channel(), config, pace)
    assert rights.can_post and rights.can_post_photos and NAME in rights.reason


def test_rights_without_group_content_name_the_permission_and_whom_to_ask(ok, config, pace):
    ok.deny("GROUP_CONTENT")
    rights = net.check_rights(channel(), config, pace)
    assert not rights.can_post and not rights.can_post_photos
    assert "Приложению ОК не выдано право GROUP_CONTENT: запросите его у api-support@ok.ru" in rights.reason
    assert NAME in rights.reason
    with pytest.raises(PublishError) as err:  # and a post tried anyway says the same in words
        send(config, pace)
    assert err.value.kind == "no_rights" and "GROUP_CONTENT" in err.value.message and ok.topics_of(GID) == []


def test_group_content_refused_for_one_group_only(ok, config, pace):
    ok.add_group("70000009999999", "Библиотека")
    ok.deny("GROUP_CONTENT", "70000009999999")
    assert net.check_rights(channel(), config, pace).can_post
    assert not net.check_rights(channel(gid="70000009999999", title="Библиотека"), config, pace).can_post


@pytest.mark.parametrize("status, role, allowed", [
    ("ADMIN", (), True), ("MODERATOR", (), True), ("ACTIVE", ("EDITOR",), True), ("ACTIVE", (), False),
])
def test_rights_follow_the_key_owners_place_in_the_group(ok, config, pace, status, role, allowed):
    ok.add_admin(GID, GROUP, status=status, role=role)
    rights = net.check_rights(channel(), config, pace)
    assert rights.can_post is allowed
    if not allowed:
        assert "не администратор" in rights.reason and "ACTIVE" in rights.reason


def test_rights_without_photo_content_allow_text_only(ok, config, pace):
    ok.deny("PHOTO_CONTENT")
    rights = net.check_rights(channel(), config, pace)
    assert rights.can_post and not rights.can_post_photos and "PHOTO_CONTENT" in rights.reason


def test_rights_of_a_bad_key_or_no_key_or_no_id(ok, config, pace):
    bad = net.check_rights(channel(token="tkn1-expired"), config, pace)
    assert not bad.can_post and "ключ доступа группы истёк" in bad.reason and NAME in bad.reason
    none = net.check_rights(channel(token=None), {**config, "OK_REST_ACCESS_TOKEN": None}, pace)
    assert not none.can_post and "нет ключа" in none.reason
    noid = net.check_rights(channel(gid="school3"), config, pace)
    assert not noid.can_post and "числового id" in noid.reason


def test_a_rights_check_ok_cannot_answer_now_raises(ok, config, pace):
    ok.fail_method("users.getCurrentUser", error_code=8)
    with pytest.raises(PublishError) as err:
        net.check_rights(channel(), config, pace)
    assert err.value.kind == "rate_limited"


# --- rate limits and a dropped connection ------------------------------------------------------------------------
def test_a_429_is_waited_out_and_the_topic_goes_once(ok, config, pace):
    ok.fail_method("mediatopic.post", status=429, retry_after=2)
    send(config, pace)
    assert len(ok.topics_of(GID)) == 1 and 2.0 in pace.clock_.slept


@pytest.mark.parametrize("fault", [{"error_code": 8}, {"status": 429, "retry_after": 120}])
def test_a_long_rate_limit_is_surfaced(ok, config, pace, fault):
    ok.fail_method("mediatopic.post", **fault)
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == "rate_limited" and err.value.retry_after >= 60 and NAME in err.value.message
    assert ok.topics_of(GID) == [] and sum(pace.clock_.slept) < 60


def test_a_connection_dropped_after_mediatopic_post_is_uncertain(ok, config, pace):
    ok.drop_after("mediatopic.post")
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.uncertain and NAME in err.value.message and "отправить ещё раз" in err.value.message
    assert len(ok.topics_of(GID)) == 1  # OK accepted it: the outbox must not re-send blindly


def test_a_timeout_after_mediatopic_post_is_uncertain(config, pace):
    with Silent() as quiet:
        with pytest.raises(PublishError) as err:
            send({**config, "OK_API_URL": quiet.url, "HTTP_TIMEOUT": 0.3}, pace)
    assert err.value.uncertain and "не ответили вовремя" in err.value.message and NAME in err.value.message


def test_a_dropped_upload_slot_call_is_not_uncertain(ok, config, pace, tmp_path):
    ok.drop_after("photosV2.getUploadUrl")
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=photo_files(tmp_path, 1))
    assert not err.value.uncertain and ok.topics_of(GID) == []


@pytest.mark.parametrize("code, kind, words", [
    (10, "no_rights", "GROUP_CONTENT"),
    (100, "not_found", "проверьте аккаунт"),
    (102, "bad_token", "ключ доступа группы истёк"),
    (103, "bad_token", "ключ доступа недействителен"),
    (104, "bad_token", "OK_APPLICATION_SECRET_KEY"),
    (300, "not_found", "не найдены"),
    (455, "private", "группа закрыта"),
    (2, "unavailable", "повторим позже"),
])
def test_ok_errors_reach_staff_as_sentences_naming_the_account(ok, config, pace, code, kind, words):
    ok.fail_method("mediatopic.post", error_code=code)
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == kind and words in err.value.message
    assert f"Одноклассники «{NAME}»" in err.value.message and f"ошибка {code}" in err.value.message


# --- edit and delete ---------------------------------------------------------------------------------------------
def test_edit_of_a_text_topic(ok, config, pace):
    sent = send(config, pace, text="Было")
    net.edit(channel(), [{"external_id": sent.external_id, "ids": sent.ids}], plan_for("ok", "Стало"), config, pace)
    assert [t["text"] for t in ok.topics_of(GID)] == ["Стало"]


def test_edit_of_a_topic_with_photos_is_refused_in_words(ok, config, pace, tmp_path):
    sent = send(config, pace, photos=photo_files(tmp_path, 1))
    with pytest.raises(PublishError) as err:
        net.edit(channel(), [sent.external_id], plan_for("ok", "Новый текст", 1), config, pace)
    assert err.value.kind == "no_rights" and NAME in err.value.message
    assert "Одноклассники не позволяют изменить опубликованную тему: удалите и опубликуйте заново" in err.value.message


def test_edit_where_ok_has_no_such_method_says_it_cannot(ok, config, pace):
    sent = send(config, pace, text="Было")
    ok.fail_method("mediatopic.edit", error_code=3, message="METHOD : Method mediatopic.edit not found")
    with pytest.raises(PublishError) as err:
        net.edit(channel(), [sent.external_id], plan_for("ok", "Стало"), config, pace)
    assert "не позволяют изменить" in err.value.message and err.value.kind == "no_rights"


def test_edit_and_delete_take_the_outboxs_parts(ok, config, pace):
    """The outbox stores `parts` as one list of platform ids per part (Delivery.parts)."""
    sent = send(config, pace, text="Было")
    net.edit(channel(), [list(sent.ids)], plan_for("ok", "Стало"), config, pace)
    assert [t["text"] for t in ok.topics_of(GID)] == ["Стало"]
    net.delete(channel(), [list(sent.ids)], config, pace)
    assert ok.topics_of(GID) == []


def test_delete_removes_the_topic_and_a_second_delete_says_it_is_gone(ok, config, pace):
    sent = send(config, pace)
    net.delete(channel(), [{"external_id": sent.external_id, "ids": sent.ids}], config, pace)
    assert ok.topics_of(GID) == []
    with pytest.raises(PublishError) as err:
        net.delete(channel(), [sent.external_id], config, pace)
    assert err.value.kind == "not_found" and NAME in err.value.message
    with pytest.raises(PublishError):
        net.delete(channel(), [], config, pace)


def test_delete_refused_by_ok_says_why(ok, config, pace):
    sent = send(config, pace)
    ok.fail_method("mediatopic.deleteTopic", error_code=10)
    with pytest.raises(PublishError) as err:
        net.delete(channel(), [sent.external_id], config, pace)
    assert err.value.kind == "no_rights" and len(ok.topics_of(GID)) == 1


def test_the_user_tokens_pace_holds_for_many_groups(ok, config, pace, tmp_path):
    files = photo_files(tmp_path, 5)
    for n in range(10):
        ok.add_group(f"7000000200{n:04d}", f"Школа {n}")
    for n in range(10):
        send(config, pace, photos=files, ch=channel(gid=f"7000000200{n:04d}", title=f"Школа {n}"))
    assert sum(len(ok.topics_of(f"7000000200{n:04d}")) for n in range(10)) == 10
    pacer = pace.for_token("ok", GROUP, 20.0)
    assert pacer.calls == 20 and pacer.busiest <= 20
