"""A participant's accounts (issue 12, item 1): adding one by its address with a confirm step, plain links to
other networks, and each account's credentials — checked when saved, encrypted at rest, never shown again.

The platform's answers here come from a stand-in for services/accounts/platforms (its contract: Resolved,
PlatformError with .kind and a Russian .message); tests/test_participant_accounts_fakes.py runs the same
paths against the local fakes of the platforms' APIs."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Account
from app.services import secretbox
from app.services.accounts import platforms, registry
from tests.factories import make_account, make_institution, make_user
from tests.helpers import body, count

CLUB = platforms.Resolved(network="vk", external_id="218000777", handle="club218000777",
                          url="https://vk.com/club218000777", title="Школа № 5 Белогорска", followers=1234,
                          avatar_url=None)
TOKEN = "vk1.a.Zq9-community-token-that-must-never-show"
SECRET = "callback-secret-Qw7"


class Platform:
    """Answers like platforms.resolve / check_token: a Resolved, or a PlatformError of the kind set."""

    def __init__(self):
        self.found, self.error, self.calls, self.tokens = CLUB, None, [], []

    def resolve(self, text, config, *, network=None):
        self.calls.append(text)
        if self.error:
            raise self.error
        return self.found

    def check_token(self, network, external_id, token, config, *, kind="community"):
        self.tokens.append((network, external_id, token, kind))
        if self.error:
            raise self.error
        return "управление сообществом, сообщения, стена" if kind == "community" else "фотографии, стена"


@pytest.fixture
def platform(monkeypatch):
    p = Platform()
    monkeypatch.setattr(platforms, "resolve", p.resolve)
    monkeypatch.setattr(platforms, "check_token", p.check_token)
    return p


@pytest.fixture
def school():
    return make_institution(name="Школа № 5")


def test_an_account_is_added_only_after_its_title_is_confirmed(client, login, school, platform):
    c = login(make_user("smm", institution=school))
    resp = c.post(f"/admin/participants/{school.id}/accounts/resolve", data={"address": "https://vk.com/club218000777"})
    page = body(resp)
    assert resp.status_code == 200 and "Это тот аккаунт?" in page and "Школа № 5 Белогорска" in page
    assert count(Account) == 0  # nothing saved before the confirmation
    resp = c.post(f"/admin/participants/{school.id}/accounts",
                  data={"address": "https://vk.com/club218000777", "network": "vk", "external_id": "218000777"})
    assert resp.status_code == 303
    acc = db.session.scalar(db.select(Account))
    assert (acc.network, acc.handle, acc.external_id, acc.institution_id) == ("vk", "club218000777", "218000777",
                                                                              school.id)
    assert acc.title == "Школа № 5 Белогорска" and acc.followers == 1234
    assert platform.calls == ["https://vk.com/club218000777"] * 2  # resolved again: the hidden fields are not trusted
    listing = body(c.get(f"/admin/participants/{school.id}/accounts"))
    assert "Школа № 5 Белогорска" in listing and "1\u202f234" in listing  # thousands apart, as on the board


def test_subscribers_are_shown_with_thousands_apart_on_the_staff_pages(client, login, school, vk_club, platform):
    """«подписчиков: 7887» read as a code: the confirmation, the list and the account's page say «7 887»."""
    vk_club.followers = 7887
    db.session.commit()
    platform.found = platforms.Resolved(network="vk", external_id="218000999", handle="club218000999",
                                        url="https://vk.com/club218000999", title="Спортшкола", followers=12345,
                                        avatar_url=None)
    c = login(make_user("press"))
    confirm = body(c.post(f"/admin/participants/{school.id}/accounts/resolve",
                          data={"address": "https://vk.com/club218000999"}))
    listing = body(c.get(f"/admin/participants/{school.id}/accounts"))
    page = body(c.get(f"/admin/participants/{school.id}/accounts/{vk_club.id}"))
    assert "7\u202f887" in listing and "подписчиков: 7\u202f887" in page
    assert "7887" not in listing and "7887" not in page
    assert "Это тот аккаунт?" in confirm and "подписчиков: 12\u202f345" in confirm


def test_a_confirmation_for_another_account_saves_nothing(client, login, school, platform):
    c = login(make_user("press"))
    resp = c.post(f"/admin/participants/{school.id}/accounts",
                  data={"address": "https://vk.com/club218000777", "network": "vk", "external_id": "1"})
    assert resp.status_code == 422 and "изменился" in body(resp) and count(Account) == 0


@pytest.mark.parametrize("kind, message", [
    ("wrong_network", "Это ссылка не на сообщество ВКонтакте"),
    ("not_found", "Сообщество не найдено: проверьте адрес"),
    ("private", "Сообщество закрытое"),
    ("garbage", "ВКонтакте ответил непонятно"),
    ("unavailable", "ВКонтакте сейчас недоступен"),
    ("rate_limited", "Слишком много запросов"),
])
def test_a_platform_error_is_its_russian_message_and_nothing_is_saved(client, login, school, platform, kind,
                                                                        message):
    platform.error = platforms.PlatformError(message, kind)
    c = login(make_user("press"))
    for url, data in ((f"/admin/participants/{school.id}/accounts/resolve", {"address": "vk.com/whatever"}),
                      (f"/admin/participants/{school.id}/accounts",
                       {"address": "vk.com/whatever", "network": "vk", "external_id": "218000777"})):
        resp = c.post(url, data=data)
        assert resp.status_code == 422 and message in body(resp), (kind, url)
    assert count(Account) == 0


def test_a_platform_error_without_a_message_still_reads_clearly(client, login, school, platform):
    platform.error = platforms.PlatformError("", "private")
    resp = login(make_user("press")).post(f"/admin/participants/{school.id}/accounts/resolve",
                                          data={"address": "vk.com/closed"})
    assert resp.status_code == 422 and "Аккаунт закрыт" in body(resp)


def test_an_account_added_twice_is_named(client, login, school, platform):
    other = make_institution(name="Гимназия № 2")
    acc = make_account(other, network="vk")
    acc.handle, acc.external_id = "club218000777", "218000777"
    c = login(make_user("press"))
    resp = c.post(f"/admin/participants/{school.id}/accounts/resolve", data={"address": "vk.com/club218000777"})
    assert resp.status_code == 422 and "Этот аккаунт уже добавлен: участник «Гимназия № 2»" in body(resp)
    assert count(Account) == 1


def test_empty_and_overlong_addresses(client, login, school, platform):
    c = login(make_user("press"))
    assert "Вставьте адрес" in body(c.post(f"/admin/participants/{school.id}/accounts/resolve", data={"address": " "}))
    resp = c.post(f"/admin/participants/{school.id}/accounts/resolve", data={"address": "x" * 400})
    assert resp.status_code == 422 and "Адрес слишком длинный" in body(resp) and platform.calls == []


def test_another_network_is_a_label_and_an_http_link(client, login, school, platform):
    c = login(make_user("smm", institution=school))
    url = f"/admin/participants/{school.id}/accounts/other"
    resp = c.post(url, data={"label": "Дзен", "url": "javascript:alert(1)"})
    assert resp.status_code == 422 and "http:// или https://" in body(resp)
    assert c.post(url, data={"label": "", "url": "https://dzen.ru/school5"}).status_code == 422
    assert c.post(url, data={"label": "Д" * 61, "url": "https://dzen.ru/school5"}).status_code == 422
    assert c.post(url, data={"label": "Дзен", "url": "https://dzen.ru/school5"}).status_code == 303
    resp = c.post(url, data={"label": "Дзен", "url": "https://dzen.ru/school5/"})
    assert resp.status_code == 422 and "уже добавлена" in body(resp)
    acc = db.session.scalar(db.select(Account))
    assert (acc.network, acc.label, acc.url) == ("other", "Дзен", "https://dzen.ru/school5") and platform.calls == []


def test_an_account_is_switched_off_and_on(client, login, school):
    acc = make_account(school, network="telegram")
    c = login(make_user("smm", institution=school))
    url = f"/admin/participants/{school.id}/accounts/{acc.id}/active"
    assert c.post(url, data={"active": "0"}).status_code == 303
    db.session.refresh(acc)
    assert not acc.is_active
    assert c.post(url, data={"active": "1"}).status_code == 303
    db.session.refresh(acc)
    assert acc.is_active
    assert c.post(url, data={"active": "maybe"}).status_code == 422


# --- credentials ------------------------------------------------------------------------------------------------
@pytest.fixture
def vk_club(school):
    acc = make_account(school, network="vk")
    acc.handle, acc.external_id, acc.title = "club218000777", "218000777", "Школа № 5 Белогорска"
    db.session.flush()
    return acc


def test_a_token_is_checked_encrypted_at_rest_and_never_shown_again(client, login, school, vk_club, platform):
    c = login(make_user("smm", institution=school))
    url = f"/admin/participants/{school.id}/accounts/{vk_club.id}"
    resp = c.post(url + "/credentials", data={"token": TOKEN, "secret": SECRET, "confirmation_code": "5e8b2f1c",
                                              "user_token": ""}, follow_redirects=True)
    page = body(resp)
    assert resp.status_code == 200 and "управление сообществом, сообщения, стена" in page
    assert TOKEN not in page and SECRET not in page and "задан" in page and "проверен" in page
    assert platform.tokens == [("vk", "218000777", TOKEN, "community")]
    raw = db.session.execute(db.text("SELECT token_enc, secret_enc, confirmation_code, token_rights "
                                     "FROM accounts WHERE id = :id"), {"id": vk_club.id}).one()
    assert TOKEN not in raw.token_enc and SECRET not in raw.secret_enc
    assert secretbox.decrypt(raw.token_enc) == TOKEN and secretbox.decrypt(raw.secret_enc) == SECRET
    assert raw.confirmation_code == "5e8b2f1c" and raw.token_rights.startswith("управление сообществом")
    assert TOKEN not in body(c.get(url)) and SECRET not in body(c.get(url))
    # an empty field keeps what is stored; the user token is checked as a user's
    assert c.post(url + "/credentials", data={"user_token": "vk1.a.user"}).status_code == 303
    db.session.refresh(vk_club)
    assert secretbox.decrypt(vk_club.token_enc) == TOKEN and secretbox.decrypt(vk_club.user_token_enc) == "vk1.a.user"
    assert platform.tokens[-1][3] == "user"
    # cleared on request
    assert c.post(url + "/clear", data={"which": "token"}).status_code == 303
    db.session.refresh(vk_club)
    assert vk_club.token_enc is None and vk_club.token_rights is None and vk_club.secret_enc is not None


@pytest.mark.parametrize("kind, message", [("bad_token", "Токен недействителен"),
                                           ("no_rights", "У токена нет права управлять сообществом")])
def test_a_refused_token_is_a_clear_message_and_nothing_is_saved(client, login, school, vk_club, platform, kind,
                                                                 message):
    platform.error = platforms.PlatformError(message, kind)
    c = login(make_user("press"))
    resp = c.post(f"/admin/participants/{school.id}/accounts/{vk_club.id}/credentials",
                  data={"token": TOKEN, "secret": SECRET, "confirmation_code": "abc"})
    page = body(resp)
    assert resp.status_code == 422 and message in page and TOKEN not in page and SECRET not in page
    db.session.refresh(vk_club)
    assert vk_club.token_enc is None and vk_club.secret_enc is None and vk_club.confirmation_code is None


def test_credentials_values_are_bounded(client, login, school, vk_club, platform):
    c = login(make_user("press"))
    url = f"/admin/participants/{school.id}/accounts/{vk_club.id}/credentials"
    assert "не больше 64" in body(c.post(url, data={"confirmation_code": "c" * 65}))
    assert "не больше 1000" in body(c.post(url, data={"token": "t" * 1001}))
    assert "Введите хотя бы одно значение" in body(c.post(url, data={}))
    assert platform.tokens == []


def test_telegram_and_max_accounts_ask_for_the_bot_instead_of_a_token(app, client, login, school, platform):
    app.config["TELEGRAM_BOT_USERNAME"], saved = "belogorsk_city_bot", app.config.get("TELEGRAM_BOT_USERNAME")
    try:
        acc = make_account(school, network="telegram")
        c = login(make_user("smm", institution=school))
        page = body(c.get(f"/admin/participants/{school.id}/accounts/{acc.id}"))
        assert "добавьте бота @belogorsk_city_bot администратором канала".lower() in page.lower()
        assert 'name="token"' not in page
        resp = c.post(f"/admin/participants/{school.id}/accounts/{acc.id}/credentials", data={"token": TOKEN})
        assert resp.status_code == 422 and "работает через бота" in body(resp)
        db.session.refresh(acc)
        assert acc.token_enc is None
    finally:
        app.config["TELEGRAM_BOT_USERNAME"] = saved


def test_an_ok_group_takes_only_its_token(client, login, school, platform):
    acc = make_account(school, network="ok")
    acc.external_id = "70000000000001"
    c = login(make_user("press"))
    url = f"/admin/participants/{school.id}/accounts/{acc.id}/credentials"
    assert "нужен только токен группы" in body(c.post(url, data={"token": "tkn-ok", "secret": "x"}))
    assert c.post(url, data={"token": "tkn-ok"}).status_code == 303
    db.session.refresh(acc)
    assert secretbox.decrypt(acc.token_enc) == "tkn-ok" and platform.tokens == [("ok", "70000000000001", "tkn-ok",
                                                                                   "community")]


def test_registry_refuses_another_participants_account(school, vk_club):
    other = make_institution()
    with pytest.raises(Exception) as exc:
        registry.get(make_user("smm", institution=other), school, vk_club.id)
    assert getattr(exc.value, "status_code", None) == 404


def test_a_huge_follower_count_is_bounded_not_a_500(client, login, school, platform):
    platform.found = platforms.Resolved(network="vk", external_id="218000777", handle="club218000777",
                                        url="https://vk.com/club218000777", title="Школа", followers=10**12)
    c = login(make_user("press"))
    resp = c.post(f"/admin/participants/{school.id}/accounts",
                  data={"address": "vk.com/club218000777", "external_id": "218000777"})
    assert resp.status_code == 303
    assert db.session.scalar(db.select(Account.followers)) == 2**31 - 1
