"""Finding an account on its platform and checking its token, against the local fakes (real JSON shapes, PTB for
Telegram): each network's resolve (ok, private, deleted, unknown, wrong type, wrong network) and check_token."""
from __future__ import annotations

import pytest

from app.services.accounts.platforms import PlatformError, check_token, parse_address, resolve
from tests.accounts.conftest import VK_TOKEN


def _fails(kind: str, *args, **kwargs) -> PlatformError:
    with pytest.raises(PlatformError) as err:
        resolve(*args, **kwargs)
    assert err.value.kind == kind, err.value.message
    assert err.value.message and err.value.message.endswith(".")  # a sentence, in Russian
    return err.value


@pytest.mark.parametrize("text, expected", [
    ("https://t.me/school_3", ("telegram", "school_3")),
    ("@school_3", ("telegram", "school_3")),
    ("t.me/s/school_3", ("telegram", "school_3")),
    ("https://vk.com/club123", ("vk", "club123")),
    ("vk.com/public123", ("vk", "public123")),
    ("https://m.vk.com/school3", ("vk", "school3")),
    ("https://ok.ru/group/70000001234567", ("ok", "group/70000001234567")),
    ("ok.ru/school3", ("ok", "school3")),
    ("https://max.ru/school3", ("max", "school3")),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["https://example.org/school", "", "школа 3", "https://instagram.com/x",
                                  "javascript:alert(1)", "https://vk.com/", "ftp://vk.com/club1", "@ab"])
def test_parse_address_wrong_network(text):
    with pytest.raises(PlatformError) as err:
        parse_address(text)
    assert err.value.kind == "wrong_network"


def test_parse_address_network_must_match():
    with pytest.raises(PlatformError) as err:
        parse_address("https://vk.com/school3", "telegram")
    assert err.value.kind == "wrong_network" and "ВКонтакте" in err.value.message


# --- VK ------------------------------------------------------------------------------------------------------
def test_vk_resolve(nets, pace):
    nets.vk.add_group(123, "МБОУ СОШ № 3", screen_name="school3", members=1534)
    found = resolve("https://vk.com/school3", nets.config, pacing=pace)
    assert (found.network, found.external_id, found.handle, found.title, found.followers) == \
        ("vk", "123", "school3", "МБОУ СОШ № 3", 1534)
    assert found.url == "https://vk.com/school3" and found.avatar_url
    assert resolve("vk.com/club123", nets.config, pacing=pace).external_id == "123"


def test_vk_resolve_old_response_shape(nets, pace):
    nets.vk.old_shape = True  # groups.getById before 5.194: a bare list
    nets.vk.add_group(124, "Детская библиотека", screen_name="lib")
    assert resolve("vk.com/lib", nets.config, pacing=pace).title == "Детская библиотека"


def test_vk_resolve_private_deleted_unknown(nets, pace):
    nets.vk.add_group(125, "Закрытый клуб", screen_name="closed", is_closed=1)
    nets.vk.add_group(126, "DELETED", screen_name="gone", deactivated="deleted")
    assert "закрытое" in _fails("private", "vk.com/closed", nets.config, pacing=pace).message
    assert "удалено" in _fails("not_found", "vk.com/gone", nets.config, pacing=pace).message
    _fails("not_found", "vk.com/nobody_here", nets.config, pacing=pace)


def test_vk_bad_token(nets, pace):
    nets.config["VK_ACCESS_TOKEN"] = "revoked"
    nets.vk.add_group(127, "Школа", screen_name="s127")
    _fails("bad_token", "vk.com/s127", nets.config, pacing=pace)


def test_vk_check_token(nets, pace):
    nets.vk.add_group(123, "Школа", screen_name="school3")
    nets.vk.add_token("vk1.a.school3", group_id=123, permissions=("messages", "wall", "manage"))
    text = check_token("vk", "123", "vk1.a.school3", nets.config, pacing=pace)
    assert "сообщения" in text and "стена" in text
    with pytest.raises(PlatformError) as err:  # a token of another community
        check_token("vk", "999", "vk1.a.school3", nets.config, pacing=pace)
    assert err.value.kind == "bad_token"
    with pytest.raises(PlatformError) as err:
        check_token("vk", "123", "vk1.a.not-a-token", nets.config, pacing=pace)
    assert err.value.kind == "bad_token"
    nets.vk.add_token("vk1.a.no-messages", group_id=123, permissions=("wall",))
    assert "нет доступа к сообщениям" in check_token("vk", "123", "vk1.a.no-messages", nets.config, pacing=pace)
    nets.vk.add_token("vk1.a.user", kind="user", mask=8192 + 4 + 65536)
    assert "стена" in check_token("vk", "123", "vk1.a.user", nets.config, kind="user", pacing=pace)
    assert VK_TOKEN  # the city's token stays the default for reads


def test_vk_rate_limit_is_waited_out(nets, pace):
    nets.vk.add_group(128, "Школа", screen_name="s128")
    nets.vk.fail(6, times=2, method="groups.getById")
    assert resolve("vk.com/s128", nets.config, pacing=pace).external_id == "128"
    assert pace.clock_.slept  # waited (on the injected clock), then got through


# --- Telegram --------------------------------------------------------------------------------------------
def test_telegram_resolve(nets, pace):
    nets.telegram.add_channel(-1001234567890, "Гимназия № 1", "gymnasium1", members=2210)
    found = resolve("https://t.me/gymnasium1", nets.config, pacing=pace)
    assert (found.network, found.external_id, found.handle, found.title, found.followers) == \
        ("telegram", "-1001234567890", "gymnasium1", "Гимназия № 1", 2210)
    assert [c["method"] for c in nets.telegram.calls] == ["getChat", "getChatMemberCount"]


def test_telegram_resolve_errors(nets, pace):
    nets.telegram.add_channel(555001, "Иван Петров", "ivan_petrov", type_="private")
    nets.telegram.add_channel(-1009, "Тайный канал", "secret_chan")
    nets.telegram.trouble(-1009, "no_rights")
    assert "не канал" in _fails("wrong_network", "@ivan_petrov", nets.config, pacing=pace).message
    _fails("not_found", "@nobody_here", nets.config, pacing=pace)
    _fails("no_rights", "@secret_chan", nets.config, pacing=pace)
    _fails("private", "https://t.me/+AbCdEf123", nets.config, pacing=pace)


def test_telegram_check_token(nets, pace):
    nets.telegram.add_channel(-1001, "Канал", "chan_a")
    nets.telegram.add_channel(-1002, "Канал Б", "chan_b", bot_status="left")
    assert "администратор" in check_token("telegram", "-1001", None, nets.config, pacing=pace)
    assert "не администратор" in check_token("telegram", "-1002", None, nets.config, pacing=pace)


# --- OK --------------------------------------------------------------------------------------------------
def test_ok_resolve_signed(nets, pace):
    nets.ok.add_group(70000001234567, "Дом культуры", "dk_belogorsk", members=812)
    for address in ("https://ok.ru/dk_belogorsk", "ok.ru/group/70000001234567"):
        found = resolve(address, nets.config, pacing=pace)
        assert (found.network, found.external_id, found.title, found.followers) == \
            ("ok", "70000001234567", "Дом культуры", 812)
    nets.config["OK_APPLICATION_SECRET_KEY"] = "wrong"  # the fake checks the signature
    _fails("bad_token", "ok.ru/dk_belogorsk", nets.config, pacing=pace)


def test_ok_resolve_errors(nets, pace):
    nets.ok.add_group(70000001234568, "Клуб", "closed_club", private=True)
    _fails("private", "ok.ru/closed_club", nets.config, pacing=pace)
    _fails("not_found", "ok.ru/nobody_here", nets.config, pacing=pace)
    _fails("wrong_network", "https://ok.ru/profile/576000111", nets.config, pacing=pace)


def test_ok_check_token(nets, pace):
    nets.ok.add_group(70000001234567, "Дом культуры", "dk")
    assert "действителен" in check_token("ok", "70000001234567", "tkn1-ok-rest", nets.config, pacing=pace)
    with pytest.raises(PlatformError) as err:
        check_token("ok", "70000001234567", "expired", nets.config, pacing=pace)
    assert err.value.kind == "bad_token"


# --- MAX -------------------------------------------------------------------------------------------------
def test_max_resolve(nets, pace):
    nets.max.add_chat(-70123, "Администрация", "adm_belogorsk", members=640)
    found = resolve("https://max.ru/adm_belogorsk", nets.config, pacing=pace)
    assert (found.network, found.external_id, found.handle, found.title, found.followers) == \
        ("max", "-70123", "adm_belogorsk", "Администрация", 640)
    call = nets.max.calls[-1]
    assert call["path"] == "/chats/adm_belogorsk"


def test_max_resolve_errors(nets, pace):
    nets.max.add_chat(501, "Диалог", "a_dialog", type_="dialog")
    nets.max.add_chat(-502, "Закрытый", "closed_max")
    nets.max.trouble(-502, "no_rights")
    _fails("wrong_network", "max.ru/a_dialog", nets.config, pacing=pace)
    _fails("not_found", "max.ru/nobody_here", nets.config, pacing=pace)
    _fails("no_rights", "max.ru/closed_max", nets.config, pacing=pace)
    nets.config["MAX_BOT_TOKEN"] = "wrong"
    _fails("bad_token", "max.ru/closed_max", nets.config, pacing=pace)


def test_max_check_token(nets, pace):
    nets.max.add_chat(-70123, "Администрация", "adm", bot_admin=False)
    assert "не администратор" in check_token("max", "-70123", None, nets.config, pacing=pace)


def test_other_network_has_no_token(nets, pace):
    with pytest.raises(PlatformError) as err:
        check_token("other", "1", "x", nets.config, pacing=pace)
    assert err.value.kind == "wrong_network"


def test_the_window_is_shared_between_processes_through_redis(redis_url):
    """Two processes' pacers on one token (here two Pacing objects on one Redis) keep to one limit together."""
    import redis

    from app.services.accounts.platforms import Pacing
    from tests.accounts.conftest import FakeClock

    clock = FakeClock()
    conn = redis.Redis.from_url(redis_url)
    first, second = Pacing(clock=clock, sleep=clock.sleep), Pacing(clock=clock, sleep=clock.sleep)
    first.share(conn, clock=clock)
    second.share(conn, clock=clock)
    a, b = first.for_token("vk", "tok", 20.0), second.for_token("vk", "tok", 20.0)
    assert a.per_second == 17  # 85 % of 20
    taken = [a.reserve() == 0 for _ in range(10)] + [b.reserve() == 0 for _ in range(10)]
    assert taken.count(True) == 17 and b.reserve() > 0  # the second process waits for the first one's calls
    clock.now += 1.0
    assert b.reserve() == 0
    other = second.for_token("vk", "another token", 20.0)
    assert other.reserve() == 0
