"""Adding a participant's accounts through the staff pages against the local fakes of the four platforms
(issue 12, item 1): the title shown to confirm, nothing saved on a refusal, the platform's Russian reason on the
page; a community token checked with VK and stored encrypted; the city's bot checked on a Telegram channel."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Account
from app.services import secretbox
from tests.factories import make_institution, make_user
from tests.helpers import body, count


@pytest.fixture
def school():
    return make_institution(name="МБОУ СОШ № 3")


def resolve_page(c, inst, address):
    return c.post(f"/admin/participants/{inst.id}/accounts/resolve", data={"address": address})


def confirm(c, inst, address, external_id):
    return c.post(f"/admin/participants/{inst.id}/accounts", data={"address": address, "external_id": external_id})


@pytest.mark.parametrize("network, address, external_id, title, followers", [
    ("vk", "https://vk.com/school3", "123", "МБОУ СОШ № 3", 1534),
    ("telegram", "@gymnasium1", "-1001234567890", "Гимназия № 1", 2210),
    ("ok", "https://ok.ru/dk_belogorsk", "70000001234567", "Дом культуры", 812),
    ("max", "https://max.ru/adm_belogorsk", "-70123", "Администрация", 640),
])
def test_each_network_is_resolved_shown_and_saved_on_confirmation(client, login, nets, school, network, address,
                                                                  external_id, title, followers):
    nets.vk.add_group(123, "МБОУ СОШ № 3", screen_name="school3", members=1534)
    nets.telegram.add_channel(-1001234567890, "Гимназия № 1", "gymnasium1", members=2210)
    nets.ok.add_group(70000001234567, "Дом культуры", "dk_belogorsk", members=812)
    nets.max.add_chat(-70123, "Администрация", "adm_belogorsk", members=640)
    c = login(make_user("smm", institution=school))
    resp = resolve_page(c, school, address)
    assert resp.status_code == 200 and title in body(resp) and "Это тот аккаунт?" in body(resp)
    assert count(Account) == 0
    assert confirm(c, school, address, external_id).status_code == 303
    acc = db.session.scalar(db.select(Account))
    assert (acc.network, acc.external_id, acc.title, acc.followers, acc.institution_id) == \
        (network, external_id, title, followers, school.id)
    resp = resolve_page(c, school, address)  # the same account again
    assert resp.status_code == 422 and "Этот аккаунт уже добавлен" in body(resp)
    assert count(Account) == 1


def test_refusals_are_the_platforms_reason_and_save_nothing(client, login, nets, school):
    nets.vk.add_group(125, "Закрытый клуб", screen_name="closed", is_closed=1)
    nets.vk.add_group(126, "DELETED", screen_name="gone", deactivated="deleted")
    nets.telegram.add_channel(555001, "Иван Петров", "ivan_petrov", type_="private")
    nets.ok.add_group(70000001234568, "Клуб", "closed_club", private=True)
    c = login(make_user("press"))
    for address, words in (("vk.com/closed", "закрытое"), ("vk.com/gone", "удалено"),
                           ("@ivan_petrov", "не канал"), ("ok.ru/closed_club", ""),
                           ("https://example.org/school", ""), ("https://instagram.com/school3", ""),
                           ("vk.com/nobody_here", "")):
        for resp in (resolve_page(c, school, address), confirm(c, school, address, "125")):
            page = body(resp)
            assert resp.status_code == 422 and words in page and 'class="error"' in page, address
    assert count(Account) == 0


def test_a_failing_platform_is_a_message_never_a_500(client, login, nets, school):
    nets.vk.add_group(127, "Школа", screen_name="s127")
    nets.vk.trouble(127, "5xx", times=None)
    resp = resolve_page(login(make_user("press")), school, "vk.com/s127")
    assert resp.status_code == 422 and count(Account) == 0


def test_a_community_token_is_checked_with_vk_and_kept_encrypted(client, login, nets, school):
    nets.vk.add_group(123, "МБОУ СОШ № 3", screen_name="school3", members=10)
    nets.vk.add_token("vk1.a.school3-own", group_id=123, permissions=("messages", "wall", "manage"))
    c = login(make_user("smm", institution=school))
    assert confirm(c, school, "vk.com/school3", "123").status_code == 303
    acc = db.session.scalar(db.select(Account))
    url = f"/admin/participants/{school.id}/accounts/{acc.id}"
    resp = c.post(url + "/credentials", data={"token": "vk1.a.not-a-token"})
    assert resp.status_code == 422 and "vk1.a.not-a-token" not in body(resp)
    db.session.refresh(acc)
    assert acc.token_enc is None
    resp = c.post(url + "/credentials", data={"token": "vk1.a.school3-own", "secret": "cb-secret",
                                              "confirmation_code": "a1b2c3"}, follow_redirects=True)
    page = body(resp)
    assert "сообщения" in page and "vk1.a.school3-own" not in page and "cb-secret" not in page
    db.session.refresh(acc)
    assert "school3-own" not in acc.token_enc and secretbox.decrypt(acc.token_enc) == "vk1.a.school3-own"
    assert acc.token_checked_at is not None and "сообщения" in acc.token_rights


def test_the_city_bot_is_checked_on_a_telegram_channel(client, login, nets, school):
    nets.telegram.add_channel(-1002, "Канал Б", "chan_b", bot_status="left")
    c = login(make_user("smm", institution=school))
    assert confirm(c, school, "@chan_b", "-1002").status_code == 303
    acc = db.session.scalar(db.select(Account))
    resp = c.post(f"/admin/participants/{school.id}/accounts/{acc.id}/bot", follow_redirects=True)
    assert "не администратор" in body(resp)
    db.session.refresh(acc)
    assert acc.token_checked_at is not None and acc.token_enc is None


def test_update_figures_now_asks_the_platform_and_shows_its_reason_when_it_fails(client, login, nets, school):
    """«Обновить показатели» on the account's page: the same collection as the periodic job, for this account."""
    nets.vk.add_group(131, "МБОУ СОШ № 3", screen_name="school3x", members=1534)
    c = login(make_user("smm", institution=school))
    assert confirm(c, school, "https://vk.com/school3x", "131").status_code == 303
    account = db.session.scalar(db.select(Account).where(Account.external_id == "131"))
    page = body(c.get(f"/admin/participants/{school.id}/accounts/{account.id}"))
    assert "Обновить показатели" in page
    nets.vk.audience.set(131, 1600, 40)
    done = c.post(f"/admin/participants/{school.id}/accounts/{account.id}/collect", follow_redirects=True)
    assert done.status_code == 200 and "Показатели обновлены" in body(done)
    db.session.expire_all()
    assert db.session.get(Account, account.id).followers >= 1600
    nets.vk.trouble(131, "private", times=None)
    failed = c.post(f"/admin/participants/{school.id}/accounts/{account.id}/collect")
    assert failed.status_code == 422 and 'class="flash error"' in body(failed)
    db.session.expire_all()
    assert db.session.get(Account, account.id).collect_error
    other = make_institution(name="Другая школа")
    stranger = login(make_user("smm", institution=other))
    assert stranger.post(f"/admin/participants/{school.id}/accounts/{account.id}/collect").status_code == 404
