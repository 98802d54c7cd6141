"""Publishing to VK (app/services/publishing/networks/vk.py) against the fake VK over real HTTP: text and photo posts,
the community token's error 27, guid idempotency, reuse of uploaded photos, link previews, rights, rate limits,
a dropped connection, edit / delete, execute batching and the user token's pace."""
from __future__ import annotations

import pytest

from app.fakes.vk import FakeVk, _VkScript
from app.services.publishing.limits import plan_for
from app.services.publishing.networks import Channel, PublishError, module
from app.services.publishing.networks import vk as net
from tests.publishing.net_support import Silent, make_pacing, photo_files

GID = 3100123
CITY = "vk1.a.city-token"
COMMUNITY = "vk1.a.school3-community"
USER = "vk1.a.school3-admin-user"
NAME = "Школа № 3"


@pytest.fixture
def vk():
    with FakeVk(token=CITY) as fake:
        fake.add_group(GID, NAME)
        fake.add_token(COMMUNITY, group_id=GID, permissions=("messages", "manage", "wall"))
        fake.add_token(USER, kind="user", mask=8192 + 4 + 65536, admin_of=(GID,))
        yield fake


@pytest.fixture
def config(vk):
    return {"VK_API_URL": vk.base_url, "VK_ACCESS_TOKEN": CITY, "VK_SERVICE_TOKEN": None, "HTTP_TIMEOUT": 5}


@pytest.fixture
def pace():
    return make_pacing()


def channel(token=COMMUNITY, user_token=USER, gid=GID, title=NAME) -> Channel:
    return Channel(account_id=7, network="vk", external_id=str(gid), handle=f"club{gid}", title=title, token=token,
                   user_token=user_token)


def send(config, pace, text="Открыт набор в кружок робототехники", photos=(), link_preview=True, guid="pub1-acc7",
         uploaded=None, ch=None):
    plan = plan_for("vk", text, len(photos), link_preview)
    return net.send_part(ch or channel(), plan, 0, list(photos), config, guid=guid,
                         uploaded={} if uploaded is None else uploaded, pacing=pace)


def test_the_module_is_found_by_network():
    assert module("vk") is net


# --- text ------------------------------------------------------------------------------------------------------
def test_a_text_post_goes_with_the_community_token_from_the_community(vk, config, pace):
    sent = send(config, pace)
    [post] = vk.wall(GID)
    assert post["text"] == "Открыт набор в кружок робототехники" and post["from_group"] == "1"
    assert post["guid"] == "pub1-acc7" and post["token_kind"] == "community" and post["attachments"] == []
    assert sent.external_id == str(post["id"]) and sent.ids == [str(post["id"])]
    assert sent.permalink == f"https://vk.com/wall-{GID}_{post['id']}"
    assert vk.api_requests(COMMUNITY) == 1 and vk.api_requests(USER) == 0


def test_a_text_post_goes_with_the_user_token_when_that_is_all_there_is(vk, config, pace):
    send(config, pace, ch=channel(token=None))
    assert [p["token_kind"] for p in vk.wall(GID)] == ["user"]


def test_an_account_without_any_key_is_told_before_any_call(vk, config, pace):
    with pytest.raises(PublishError) as err:
        send(config, pace, ch=channel(token=None, user_token=None))
    assert err.value.kind == "bad_token" and NAME in err.value.message and "ключ" in err.value.message
    assert vk.api_requests() == 0


# --- photos ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 5])
def test_photos_go_upload_server_upload_save_and_post_in_two_api_calls(vk, config, pace, tmp_path, count):
    files = photo_files(tmp_path, count)
    uploaded: dict = {}
    sent = send(config, pace, text="Фото с олимпиады", photos=files, uploaded=uploaded)

    [post] = vk.wall(GID)
    assert post["token_kind"] == "user" and post["text"] == "Фото с олимпиады"
    assert post["attachments"] == uploaded["vk"] and len(uploaded["vk"]) == count
    assert all(a.startswith(f"photo-{GID}_") for a in uploaded["vk"])
    assert [u["size"] for u in vk.uploads] == [f.size for f in files]
    assert {u["content_type"] for u in vk.uploads} == {"image/png"}
    assert [u["filename"] for u in vk.uploads] == [f"photo{n}.png" for n in range(1, count + 1)]
    # getWallUploadServer + one execute (every saveWallPhoto and the wall.post): 2 requests whatever the count
    assert vk.api_requests(USER) == 2 and vk.api_requests(COMMUNITY) == 0
    assert vk.executes == [count + 1]
    assert sent.external_id == str(post["id"])


def test_a_photo_post_with_only_a_community_token_is_refused_before_any_call(vk, config, pace, tmp_path):
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=photo_files(tmp_path, 2), ch=channel(user_token=None))
    assert err.value.kind == "no_rights" and err.value.final
    assert NAME in err.value.message and "ошибка 27" in err.value.message
    assert "ключ пользователя-администратора" in err.value.message
    assert vk.api_requests() == 0 and vk.uploads == [] and vk.wall(GID) == []


def test_the_fake_answers_error_27_to_a_community_token_as_vk_does(vk, config, pace, tmp_path):
    ch = channel(user_token=COMMUNITY)  # a community token given where the user token belongs
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=photo_files(tmp_path, 1), ch=ch)
    assert err.value.kind == "no_rights" and "ошибка 27" in err.value.message
    assert [c["method"] for c in vk.calls] == ["photos.getWallUploadServer"] and vk.uploads == []


# --- idempotency and retries ---------------------------------------------------------------------------------
def test_the_same_guid_twice_makes_one_post(vk, config, pace, tmp_path):
    first = send(config, pace, guid="pub9-acc7")
    second = send(config, pace, guid="pub9-acc7")
    assert first.external_id == second.external_id and len(vk.wall(GID)) == 1

    files = photo_files(tmp_path, 2)
    a = send(config, pace, photos=files, guid="pub10-acc7")
    b = send(config, pace, photos=files, guid="pub10-acc7")  # a fresh `uploaded`: uploads again, posts nothing new
    assert a.external_id == b.external_id and len(vk.wall(GID)) == 2


def test_a_retry_posts_the_saved_photos_without_uploading_again(vk, config, pace, tmp_path):
    files = photo_files(tmp_path, 5)
    uploaded: dict = {}
    vk.fail(214, method="wall.post")  # the execute saves the photos, then wall.post is refused
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=files, uploaded=uploaded)
    assert err.value.kind == "no_rights" and "публикация запрещена" in err.value.message
    assert len(uploaded["vk"]) == 5 and len(vk.uploads) == 5 and vk.wall(GID) == []

    sent = send(config, pace, photos=files, uploaded=uploaded)
    [post] = vk.wall(GID)
    assert post["attachments"] == uploaded["vk"] and sent.external_id == str(post["id"])
    assert len(vk.uploads) == 5  # no second upload
    assert len(vk.calls_of("photos.getWallUploadServer")) == 1


# --- link preview ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preview", [True, False])
def test_the_link_goes_as_an_attachment_only_with_the_preview_on(vk, config, pace, tmp_path, preview):
    text = "Расписание на сайте https://school3.example.ru/raspisanie и в группе."
    send(config, pace, text=text, link_preview=preview, guid="t")
    send(config, pace, text=text, link_preview=preview, photos=photo_files(tmp_path, 1), guid="p")
    text_post, photo_post = vk.wall(GID)
    link = "https://school3.example.ru/raspisanie"
    assert (link in text_post["attachments"]) is preview and (link in photo_post["attachments"]) is preview
    assert photo_post["attachments"][0].startswith("photo-")


# --- rights ----------------------------------------------------------------------------------------------------
def test_rights_with_both_keys(vk, config, pace):
    rights = net.check_rights(channel(), config, pace)
    assert rights.can_post and rights.can_post_photos and NAME in rights.reason


def test_rights_with_a_community_key_only_say_text_only_and_why(vk, config, pace):
    rights = net.check_rights(channel(user_token=None), config, pace)
    assert rights.can_post and not rights.can_post_photos
    assert rights.reason.endswith("Ключ сообщества публикует только текст: для постов с фото добавьте ключ "
                                  "пользователя-администратора (ВКонтакте, ошибка 27).")


def test_rights_of_a_community_key_without_wall(vk, config, pace):
    vk.add_token("vk1.a.no-wall", group_id=GID, permissions=("messages", "manage"))
    rights = net.check_rights(channel(token="vk1.a.no-wall"), config, pace)
    assert not rights.can_post and not rights.can_post_photos
    assert "выдайте ключу право «стена»" in rights.reason and NAME in rights.reason


def test_rights_of_another_communitys_key(vk, config, pace):
    vk.add_group(999001, "Другая школа")
    vk.add_token("vk1.a.other", group_id=999001)
    rights = net.check_rights(channel(token="vk1.a.other"), config, pace)
    assert not rights.can_post and "другого сообщества" in rights.reason


def test_rights_of_a_revoked_key(vk, config, pace):
    rights = net.check_rights(channel(token="vk1.a.revoked"), config, pace)
    assert not rights.can_post and "недействителен" in rights.reason and "ошибка 5" in rights.reason


def test_rights_with_the_user_key_only(vk, config, pace):
    rights = net.check_rights(channel(token=None), config, pace)
    assert rights.can_post and rights.can_post_photos


@pytest.mark.parametrize("mask, admin_of, words", [
    (8192 + 65536, (GID,), "«фотографии»"),
    (4 + 65536, (GID,), "«стена»"),
    (8192 + 4, (), "не администратор"),
])
def test_rights_of_a_user_key_that_cannot_post_photos(vk, config, pace, mask, admin_of, words):
    vk.add_token("vk1.a.weak-user", kind="user", mask=mask, admin_of=admin_of)
    rights = net.check_rights(channel(user_token="vk1.a.weak-user"), config, pace)
    assert rights.can_post and not rights.can_post_photos and words in rights.reason
    alone = net.check_rights(channel(token=None, user_token="vk1.a.weak-user"), config, pace)
    assert not alone.can_post and words in alone.reason


def test_rights_of_an_editor_are_enough_and_of_a_moderator_not(vk, config, pace):
    vk.add_token("vk1.a.editor", kind="user", mask=8192 + 4, admin_of=(GID,), admin_level=2)
    vk.add_token("vk1.a.moderator", kind="user", mask=8192 + 4, admin_of=(GID,), admin_level=1)
    assert net.check_rights(channel(user_token="vk1.a.editor"), config, pace).can_post_photos
    assert not net.check_rights(channel(user_token="vk1.a.moderator"), config, pace).can_post_photos


def test_rights_without_keys_or_id(vk, config, pace):
    assert not net.check_rights(channel(token=None, user_token=None), config, pace).can_post
    bad = net.check_rights(channel(gid="school3"), config, pace)
    assert not bad.can_post and "числового id" in bad.reason
    assert vk.api_requests() == 0


def test_a_rights_check_vk_cannot_answer_now_raises(vk, config, pace):
    vk.fail(9, method="execute")  # flood control: 60 s
    with pytest.raises(PublishError) as err:
        net.check_rights(channel(), config, pace)
    assert err.value.kind == "rate_limited" and err.value.retry_after == 60


# --- rate limits ------------------------------------------------------------------------------------------------
def test_error_6_is_waited_out_and_the_post_goes_once(vk, config, pace):
    vk.fail(6, method="wall.post", times=2)
    sent = send(config, pace)
    assert len(vk.wall(GID)) == 1 and sent.external_id == str(vk.wall(GID)[0]["id"])
    assert len(vk.calls_of("wall.post")) == 3
    assert sum(pace.clock_.slept) >= 2.0  # VK's «wait a second», twice, on the injected clock


@pytest.mark.parametrize("code, wait", [(9, 60.0), (29, 3600.0)])
def test_a_long_rate_limit_is_surfaced_with_retry_after(vk, config, pace, code, wait):
    vk.fail(code, method="wall.post")
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == "rate_limited" and err.value.retry_after == wait and not err.value.final
    assert NAME in err.value.message and vk.wall(GID) == []
    assert sum(pace.clock_.slept) < wait  # not waited in the worker


def test_error_6_inside_the_execute_is_surfaced_as_a_rate_limit(vk, config, pace, tmp_path):
    vk.fail(6, method="wall.post", times=10)
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=photo_files(tmp_path, 1))
    assert err.value.kind == "rate_limited"


# --- a dropped connection ----------------------------------------------------------------------------------------
def test_a_connection_dropped_after_wall_post_is_uncertain_and_the_retry_is_safe(vk, config, pace):
    vk.drop_after("wall.post")
    with pytest.raises(PublishError) as err:
        send(config, pace, guid="pub5-acc7")
    assert err.value.uncertain and err.value.kind == "unavailable" and NAME in err.value.message
    assert len(vk.wall(GID)) == 1  # VK accepted it
    again = send(config, pace, guid="pub5-acc7")
    assert len(vk.wall(GID)) == 1 and again.external_id == str(vk.wall(GID)[0]["id"])


def test_a_connection_dropped_after_the_photo_execute_is_uncertain_and_the_retry_is_safe(vk, config, pace,
                                                                                          tmp_path):
    files = photo_files(tmp_path, 3)
    uploaded: dict = {}
    vk.drop_after("wall.post")
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=files, uploaded=uploaded, guid="pub6-acc7")
    assert err.value.uncertain and len(vk.wall(GID)) == 1
    again = send(config, pace, photos=files, uploaded=uploaded, guid="pub6-acc7")
    assert len(vk.wall(GID)) == 1 and again.external_id == str(vk.wall(GID)[0]["id"])


def test_a_refused_connection_is_not_uncertain(config, pace):
    with FakeVk() as gone:
        url = gone.base_url
    with pytest.raises(PublishError) as err:
        send({**config, "VK_API_URL": url}, pace)
    assert err.value.kind == "unavailable" and not err.value.uncertain


def test_a_timeout_after_wall_post_is_uncertain(config, pace):
    with Silent() as quiet:
        with pytest.raises(PublishError) as err:
            send({**config, "VK_API_URL": quiet.url + "/method", "HTTP_TIMEOUT": 0.3}, pace)
    assert err.value.uncertain and "не ответил вовремя" in err.value.message and NAME in err.value.message


def test_a_server_error_is_unavailable_not_uncertain(vk, config, pace):
    vk.trouble(GID, "5xx")
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == "unavailable" and not err.value.uncertain and vk.wall(GID) == []


def test_junk_after_wall_post_is_uncertain(vk, config, pace):
    vk.trouble(GID, "garbage")
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == "garbage" and err.value.uncertain


def test_a_photo_vk_would_not_save_is_uploaded_again_next_time(vk, config, pace, tmp_path):
    files = photo_files(tmp_path, 2)
    uploaded: dict = {}
    vk.fail(100, method="photos.saveWallPhoto")  # the first save inside the execute fails; wall.post then too
    with pytest.raises(PublishError) as err:
        send(config, pace, photos=files, uploaded=uploaded)
    assert err.value.kind == "unavailable" and "загрузим заново" in err.value.message and NAME in err.value.message
    assert "vk" not in uploaded and vk.wall(GID) == []
    send(config, pace, photos=files, uploaded=uploaded)
    assert len(vk.wall(GID)) == 1 and len(vk.uploads) == 4 and len(uploaded["vk"]) == 2


def test_the_fakes_vkscript_runs_what_the_module_sends(vk):
    """execute with var statements, concatenation and an API call inside an object literal, as VK runs it."""
    code = ('var g = API.groups.getById({"group_id": %d});\n'
            'var name = "Сообщество: " + g.groups[0].name + " #" + g.groups[0].id;\n'
            'return {"name": name, "missing": g.groups[5].id, "n": -1 + 3, "calls": [1, "a"]};' % GID)
    body = _VkScript(vk, USER, {}).run(code)
    assert body["response"] == {"name": f"Сообщество: {NAME} #{GID}", "missing": None, "n": 2, "calls": [1, "a"]}
    assert vk.executes[-1] == 1
    too_many = "var a = [" + ",".join(["API.groups.getById({})"] * 26) + "]; return a;"
    assert _VkScript(vk, COMMUNITY, {}).run(too_many)["error"]["error_code"] == 13
    assert _VkScript(vk, COMMUNITY, {}).run("var = ;")["error"]["error_code"] == 12


# --- errors in words ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, kind, words", [
    (5, "bad_token", "ключ доступа недействителен"),
    (7, "no_rights", "выдайте ключу право «стена»"),
    (15, "no_rights", "публикация запрещена"),
    (214, "no_rights", "публикация запрещена"),
    (27, "no_rights", "ключ пользователя-администратора"),
    (100, "not_found", "проверьте аккаунт"),
    (219, "not_found", "публикация удалена"),
    (1051, "bad_token", "ключ VK ID"),
    (10, "unavailable", "повторим позже"),
])
def test_vk_errors_reach_staff_as_sentences_naming_the_account(vk, config, pace, code, kind, words):
    vk.fail(code, method="wall.post")
    with pytest.raises(PublishError) as err:
        send(config, pace)
    assert err.value.kind == kind and words in err.value.message
    assert f"ВКонтакте «{NAME}»" in err.value.message and f"ошибка {code}" in err.value.message


# --- edit and delete ---------------------------------------------------------------------------------------------
def test_edit_changes_the_text_and_keeps_the_photos(vk, config, pace, tmp_path):
    uploaded: dict = {}
    sent = send(config, pace, text="Старый текст", photos=photo_files(tmp_path, 2), uploaded=uploaded)
    net.edit(channel(), [{"external_id": sent.external_id, "ids": sent.ids}], plan_for("vk", "Новый текст", 2),
             config, pace)
    [post] = vk.wall(GID)
    assert post["text"] == "Новый текст" and post["attachments"] == uploaded["vk"] and post["edited"]


def test_edit_of_a_text_post(vk, config, pace):
    sent = send(config, pace, text="Было")
    net.edit(channel(), [sent.external_id], plan_for("vk", "Стало https://example.ru/a"), config, pace)
    assert vk.wall(GID)[0]["text"] == "Стало https://example.ru/a"
    assert vk.wall(GID)[0]["attachments"] == ["https://example.ru/a"]


def test_delete_removes_the_post(vk, config, pace):
    sent = send(config, pace)
    net.delete(channel(), [{"external_id": sent.external_id, "ids": sent.ids}], config, pace)
    assert vk.wall(GID) == []


def test_edit_and_delete_take_the_outboxs_parts(vk, config, pace):
    """The outbox stores `parts` as one list of platform ids per part (Delivery.parts)."""
    sent = send(config, pace, text="Было")
    net.edit(channel(), [list(sent.ids)], plan_for("vk", "Стало"), config, pace)
    assert vk.wall(GID)[0]["text"] == "Стало"
    net.delete(channel(), [list(sent.ids)], config, pace)
    assert vk.wall(GID) == []


def test_edit_and_delete_of_a_post_that_is_gone_say_so(vk, config, pace):
    sent = send(config, pace)
    net.delete(channel(), [sent.external_id], config, pace)
    with pytest.raises(PublishError) as err:
        net.edit(channel(), [sent.external_id], plan_for("vk", "Новый"), config, pace)
    assert err.value.kind == "not_found" and NAME in err.value.message
    with pytest.raises(PublishError) as err:
        net.delete(channel(), [sent.external_id], config, pace)
    assert err.value.kind == "not_found"


def test_edit_and_delete_refused_by_vk_say_why(vk, config, pace):
    sent = send(config, pace)
    vk.fail(15, method="wall.edit")
    with pytest.raises(PublishError) as err:
        net.edit(channel(), [sent.external_id], plan_for("vk", "Новый"), config, pace)
    assert err.value.kind == "no_rights" and "публикация запрещена" in err.value.message
    vk.fail(219, method="wall.delete")
    with pytest.raises(PublishError) as err:
        net.delete(channel(), [sent.external_id], config, pace)
    assert "публикация удалена" in err.value.message
    with pytest.raises(PublishError) as err:
        net.delete(channel(), [], config, pace)
    assert err.value.kind == "not_found"


# --- batching and pace ---------------------------------------------------------------------------------------------
def test_25_communities_5_photos_one_user_token_two_requests_each_at_most_3_a_second(vk, config, pace, tmp_path):
    files = photo_files(tmp_path, 5)
    channels = []
    for n in range(25):
        gid = 4200000 + n
        vk.add_group(gid, f"Школа № {n + 10}")
        channels.append(channel(token=None, gid=gid, title=f"Школа № {n + 10}"))
    vk.add_token(USER, kind="user", mask=8192 + 4, admin_of=tuple(4200000 + n for n in range(25)))
    vk.clock = pace.clock_  # the fake stamps each request with the injected clock
    start = pace.clock_.now
    for ch in channels:
        send(config, pace, photos=files, ch=ch, guid=f"pub1-{ch.external_id}")
    assert all(len(vk.wall(ch.external_id)) == 1 for ch in channels)
    assert vk.api_requests(USER) == 50 and vk.executes == [6] * 25
    stamps = [c["at"] for c in vk.calls if c["token"] == USER]
    busiest = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert busiest <= 3  # never more than VK's 3 requests in any second of the (injected) clock
    assert pace.clock_.now - start >= 20  # 50 requests at the paced 2 a second


def test_prefetched_upload_servers_save_one_request_a_post(vk, config, pace, tmp_path):
    files = photo_files(tmp_path, 5)
    gids = [4300000 + n for n in range(25)]
    for gid in gids:
        vk.add_group(gid, f"Библиотека {gid}")
    vk.add_token(USER, kind="user", mask=8192 + 4, admin_of=tuple(gids))
    channels = [channel(token=None, gid=gid, title=f"Библиотека {gid}") for gid in gids]
    start = pace.clock_.now
    assert net.prefetch_upload_servers(channels, config, pace) == 25
    for ch in channels:
        send(config, pace, photos=files, ch=ch, guid=f"pub2-{ch.external_id}")
    assert all(len(vk.wall(gid)) == 1 for gid in gids)
    assert vk.api_requests(USER) == 26 and vk.calls_of("photos.getWallUploadServer") == []
    assert pace.clock_.now - start <= 20  # 26 requests at the paced 2 a second: about 13 s on the clock
