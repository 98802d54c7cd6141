"""Who owns a channel (security): the city's bot administering a Telegram or MAX channel proves nothing about whose
channel it is, so an account a participant's SM-specialist adds waits for the press service's confirmation before
the app publishes to it. Press and admin additions are confirmed at once; existing accounts by the migration."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, Notification
from app.services.accounts import platforms, registry
from app.services.errors import NotAllowed
from app.services.publishing import outbox
from tests.factories import make_institution, make_user
from tests.helpers import body
from tests.publishing.engine_support import (  # noqa: F401
    NOW,
    delivery_of,
    fakenet,
    make_account,
    make_publication,
    outbox_jobs,
    pub_clock,
)

CITY = platforms.Resolved(network="telegram", external_id="-1001234500077", handle="belogorsk_city",
                          url="https://t.me/belogorsk_city", title="Администрация Белогорска", followers=9000,
                          avatar_url=None)
SENTENCE = ("Telegram «Администрация Белогорска»: аккаунт добавлен SM-специалистом и ещё не подтверждён "
            "пресс-службой — публикация начнётся после подтверждения.")


@pytest.fixture
def platform(monkeypatch):
    monkeypatch.setattr(platforms, "resolve", lambda text, config, network=None: CITY)
    return CITY


@pytest.fixture
def school():
    return make_institution(name="Школа № 7")


@pytest.fixture
def smm(school):
    return make_user("smm", institution=school)


@pytest.fixture
def press():
    return make_user("press")


def _add_over_http(login, user, inst):
    c = login(user)
    resp = c.post(f"/admin/participants/{inst.id}/accounts",
                  data={"address": "@belogorsk_city", "network": "telegram", "external_id": CITY.external_id})
    assert resp.status_code == 303, body(resp)
    return db.session.scalar(select(Account).where(Account.handle == "belogorsk_city")
                             .execution_options(populate_existing=True))


def test_an_smm_added_channel_waits_and_every_active_press_user_is_told(login, platform, school, smm, press):
    retired = make_user("press")
    retired.is_active_user = False
    account = _add_over_http(login, smm, school)

    assert account.confirmed_at is None and account.confirmed_by_id is None
    notes = list(db.session.scalars(select(Notification).where(Notification.kind == "account_added")))
    assert [n.user_id for n in notes] == [press.id]
    assert "Школа № 7" in notes[0].text and "Telegram" in notes[0].text
    assert "https://t.me/belogorsk_city" in notes[0].text

    c = login(smm)
    for url in (f"/admin/participants/{school.id}/accounts", f"/admin/participants/{school.id}/accounts/{account.id}"):
        page = body(c.get(url))
        assert "ждёт подтверждения пресс-службой" in page
        assert "Подтвердить аккаунт" not in page  # the smm cannot vouch for itself


def test_a_post_to_it_is_refused_beforehand_and_goes_after_the_press_service_confirms(
        login, platform, school, smm, press, fakenet, outbox_jobs, pub_clock):  # noqa: F811
    own = make_account(school, "telegram")  # confirmed (made outside the staff pages, like existing accounts)
    city = registry.add(smm, school, "@belogorsk_city", CITY.external_id, {})
    db.session.commit()

    pub = make_publication(smm, [own, city])
    outbox.release(pub, now=NOW)
    db.session.commit()
    outbox.publish_due(pub.id, now=NOW)
    assert delivery_of(pub, city).state == "refused" and delivery_of(pub, city).last_error == SENTENCE
    assert delivery_of(pub, own).state == "published"
    assert fakenet.sends_to(city) == [] and len(fakenet.sends_to(own)) == 1
    outbox.deliver(delivery_of(pub, city).id, now=NOW)  # not even a stray job sends it
    assert fakenet.sends_to(city) == []

    c = login(press)
    page = body(c.get(f"/admin/participants/{school.id}/accounts/{city.id}"))
    assert "Подтвердить аккаунт" in page
    resp = c.post(f"/admin/participants/{school.id}/accounts/{city.id}/confirm")
    assert resp.status_code == 303
    city = db.session.get(Account, city.id, populate_existing=True)
    assert city.confirmed_at is not None and city.confirmed_by_id == press.id
    assert "ждёт подтверждения" not in body(c.get(f"/admin/participants/{school.id}/accounts/{city.id}"))

    again = make_publication(smm, [own, city])
    outbox.release(again, now=NOW)
    db.session.commit()
    outbox.publish_due(again.id, now=NOW)
    assert delivery_of(again, city).state == "published" and len(fakenet.sends_to(city)) == 1


def test_the_compose_page_shows_the_waiting_account_disabled_with_the_reason(login, platform, school, smm):
    registry.add(smm, school, "@belogorsk_city", CITY.external_id, {})
    make_account(school, "vk")
    page = body(login(smm).get("/posts/new"))
    assert "Администрация Белогорска" in page
    assert ("аккаунт добавлен SM-специалистом и ещё не подтверждён пресс-службой — публикация начнётся после "
            "подтверждения.") in page
    city = db.session.scalar(select(Account).where(Account.handle == "belogorsk_city"))
    assert f'value="{city.id}"' not in page  # no checkbox that would send it


@pytest.mark.parametrize("role", ["press", "admin"])
def test_press_and_admin_additions_are_confirmed_at_once(login, platform, school, role):
    user = make_user(role)
    make_user("press")
    account = _add_over_http(login, user, school)
    assert account.confirmed_at is not None and account.confirmed_by_id == user.id
    assert db.session.scalar(select(Notification).where(Notification.kind == "account_added")) is None
    other = registry.add_other(user, school, "Дзен", "https://dzen.ru/school7")
    assert other.confirmed_at is not None


def test_an_smm_link_to_another_network_waits_too(school, smm, press):
    other = registry.add_other(smm, school, "Дзен", "https://dzen.ru/school7")
    assert other.confirmed_at is None
    assert db.session.scalar(select(Notification).where(Notification.kind == "account_added",
                                                        Notification.user_id == press.id)) is not None


def test_the_smm_cannot_confirm_and_another_participants_smm_sees_nothing(login, platform, school, smm, press):
    account = registry.add(smm, school, "@belogorsk_city", CITY.external_id, {})
    with pytest.raises(NotAllowed):
        registry.confirm(smm, account)
    c = login(smm)
    assert c.post(f"/admin/participants/{school.id}/accounts/{account.id}/confirm").status_code == 403

    stranger = make_user("smm", institution=make_institution(name="Библиотека № 2"))
    c = login(stranger)
    assert c.get(f"/admin/participants/{school.id}/accounts/{account.id}").status_code == 404
    assert c.get(f"/admin/participants/{school.id}/accounts").status_code == 404
    assert c.post(f"/admin/participants/{school.id}/accounts/{account.id}/confirm").status_code == 404
    assert db.session.get(Account, account.id, populate_existing=True).confirmed_at is None


def test_confirming_is_idempotent_and_an_account_of_another_participant_is_missing(login, platform, school, smm,
                                                                                  press):
    account = registry.add(smm, school, "@belogorsk_city", CITY.external_id, {})
    assert registry.confirm(press, account) is True
    first = (account.confirmed_at, account.confirmed_by_id)
    assert registry.confirm(make_user("admin"), account) is False
    assert (account.confirmed_at, account.confirmed_by_id) == first
    c = login(press)
    elsewhere = make_institution(name="Музей")
    assert c.post(f"/admin/participants/{elsewhere.id}/accounts/{account.id}/confirm").status_code == 404
    assert c.post(f"/admin/participants/{school.id}/accounts/{2**40}/confirm").status_code == 404
    assert c.post(f"/admin/participants/{school.id}/accounts/{account.id}/confirm").status_code == 303


def test_an_unconfirmed_account_is_not_shown_on_the_public_pages_until_confirmed(app, login, school, smm, press,
                                                                                 platform):
    """An smm could attach another organisation's channel to its school: the public page, the QR codes and the
    rating count it only once the press service confirmed it."""
    account = _add_over_http(login, smm, school)
    assert account.confirmed_at is None
    client = app.test_client()  # a resident: no staff session
    page = body(client.get(f"/participants/{school.slug}"))
    assert "Администрация Белогорска" not in page and "belogorsk_city" not in page
    assert client.get(f"/participants/{school.slug}/qr/account-{account.id}.svg").status_code == 404
    registry.confirm(press, account)
    db.session.commit()
    page = body(client.get(f"/participants/{school.slug}"))
    assert "Администрация Белогорска" in page
