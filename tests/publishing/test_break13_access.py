"""Breaking cross-posting (issue 13) the way other staff and attackers would: roles without the section, another
participant's smm on every route, tampered account ids, an smm approving its own post, a forged form (CSRF), and
the approval a participant asked for bypassed by editing a published post."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Delivery, Publication
from app.services.errors import NotAllowed
from app.services.publishing import posts
from tests.factories import make_user
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, file

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world


def html(resp) -> str:
    return resp.get_data(as_text=True)


def publishing_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("publishing.")]


def fill(rule, pub, delivery, photo_id, account_id) -> str:
    values = {"publication_id": pub.id, "delivery_id": delivery.id, "photo_id": photo_id, "account_id": account_id}
    return re.sub(r"<(?:int:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def snapshot(pub):
    db.session.expire_all()
    fresh = db.session.get(Publication, pub.id)
    return (fresh.state, fresh.text, fresh.rejection_reason,
            sorted((d.id, d.state, d.account_id) for d in fresh.deliveries))


@pytest.fixture
def post_with_photo(world, login):
    client = login(world.users.smm)
    resp = client.post("/posts/new", data={"text": "Школьный пост", "go": "now",
                                           "accounts": [world.acc["s_vk"].id, world.acc["s_telegram"].id],
                                           "photos": [file(JPEG, "a.jpg")]}, content_type="multipart/form-data")
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication))
    pub.deliveries[0].state = "failed"
    db.session.commit()
    return pub


@pytest.mark.parametrize("role", ["moderator", "executor", "head", "analyst"])
def test_staff_outside_the_section_get_403_on_every_posts_route(app, world, login, post_with_photo, role):
    pub = post_with_photo
    user = make_user(role, institution=world.school if role == "executor" else None)
    client = login(user)
    before = snapshot(pub)
    for rule in publishing_rules(app):
        url = fill(rule, pub, pub.deliveries[0], pub.photos[0].id, world.acc["s_vk"].id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, data={"text": "взлом", "reason": "x", "confirm": "yes",
                                                         "go": "now", "accounts": [world.acc["s_vk"].id]})
            assert resp.status_code == 403, (role, method, url, resp.status_code)
    assert snapshot(pub) == before and db.session.scalar(select(func.count(Publication.id))) == 1


def test_another_participant_s_smm_gets_404_on_every_route_of_the_post_and_changes_nothing(app, world, login,
                                                                                            post_with_photo):
    pub = post_with_photo
    client = login(world.users.smm2)
    before = snapshot(pub)
    for rule in publishing_rules(app):
        if "publication_id" not in rule.rule and "photo_id" not in rule.rule and "account_id" not in rule.rule:
            continue
        url = fill(rule, pub, pub.deliveries[0], pub.photos[0].id, world.acc["s_vk"].id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, data={"text": "чужой", "reason": "x", "confirm": "yes",
                                                         "go": "now", "accounts": [world.acc["m_vk"].id]})
            assert resp.status_code in (403, 404), (method, url, resp.status_code)
            assert "Школьный пост" not in html(resp)
    assert snapshot(pub) == before and world.calls.rights == [] and world.calls.resend == []


def test_a_tampered_account_id_is_refused_on_compose_and_edit_and_nothing_is_sent(world, login, post_with_photo):
    client = login(world.users.smm)
    for extra in ([world.acc["m_vk"].id], [world.acc["s_off"].id], [world.acc["s_other"].id], ["-1"],
                  ["99999999999999999999"], [world.acc["s_vk"].id] * 3000 + [world.acc["m_ok"].id]):
        resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id, *extra]})
        assert resp.status_code == 422 and "недоступен для публикации" in html(resp)
    pub = post_with_photo
    pub.deliveries[0].state = "scheduled"
    db.session.commit()
    before = snapshot(pub)
    resp = client.post(f"/posts/{pub.id}/edit", data={"text": "x", "go": "now",
                                                      "accounts": [world.acc["m_telegram"].id]})
    assert resp.status_code == 422 and "недоступен для публикации" in html(resp) and snapshot(pub) == before
    assert db.session.scalar(select(func.count(Publication.id))) == 1


def test_an_smm_cannot_approve_or_reject_its_own_waiting_post(world, login):
    world.school.posts_need_approval = True
    pub = posts.create(world.users.smm, text="Сам себе", account_ids=[world.acc["s_vk"].id]).publication
    db.session.commit()
    client = login(world.users.smm)
    assert client.post(f"/posts/{pub.id}/approve").status_code == 403
    assert client.post(f"/posts/{pub.id}/reject", data={"reason": "x"}).status_code == 403
    assert client.get("/posts", query_string={"tab": "approval"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Publication, pub.id).state == "awaiting_approval" and world.calls.release == []
    with pytest.raises(NotAllowed):
        posts.approve(world.users.smm, pub)


def test_every_post_form_needs_the_csrf_token(app, world, login, post_with_photo):
    pub = post_with_photo
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        for user in (world.users.smm, world.users.press):
            client = login(user)
            before = snapshot(pub)
            for rule in publishing_rules(app):
                if "POST" not in rule.methods:
                    continue
                url = fill(rule, pub, pub.deliveries[0], pub.photos[0].id, world.acc["s_vk"].id)
                resp = client.post(url, data={"text": "подделка", "go": "now", "reason": "x", "confirm": "yes",
                                              "accounts": [world.acc["s_vk"].id]}, headers={"HX-Request": "true"})
                assert resp.status_code == 400 and "Форма устарела" in html(resp), (url, resp.status_code)
            assert snapshot(pub) == before
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalar(select(func.count(Publication.id))) == 1
    assert world.calls.rights == [] and world.calls.resend == [] and world.calls.cancel == []


def published(pub):
    pub.state = "done"
    for d in pub.deliveries:
        d.state = "published"
    db.session.commit()
    return pub


def test_editing_a_published_post_does_not_bypass_the_participant_s_approval(world, login):
    # The school asked that its posts wait for the press service. An approved, published post whose text its smm
    # then rewrites would reach every copy with no one's approval.
    world.school.posts_need_approval = True
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Безобидный анонс", account_ids=[acc["s_vk"].id, acc["s_telegram"].id]).publication
    db.session.commit()
    posts.approve(u.press, pub)
    published(pub)
    with pytest.raises(NotAllowed) as caught:
        posts.edit_published(u.smm, pub, "Совсем другой текст")
    assert "пресс-служб" in caught.value.message
    client = login(u.smm)
    resp = client.post(f"/posts/{pub.id}/text", data={"text": "Совсем другой текст"})
    assert resp.status_code in (403, 422) and "пресс-служб" in html(resp)
    assert "Изменить текст везде" not in html(client.get(f"/posts/{pub.id}"))
    db.session.expire_all()
    assert db.session.get(Publication, pub.id).text == "Безобидный анонс" and world.calls.edit == []
    # the press service may; and a participant that asks for no approval keeps its smm's right to edit
    posts.edit_published(u.press, db.session.get(Publication, pub.id), "Правка пресс-службы")
    assert world.calls.edit == [(pub.id, "Правка пресс-службы")]
    other = published(posts.create(u.smm2, text="Музей", account_ids=[acc["m_vk"].id]).publication)
    posts.edit_published(u.smm2, other, "Музей: новое время")
    assert world.calls.edit[-1] == (other.id, "Музей: новое время")


def test_the_delivery_of_another_post_cannot_be_resent_through_one_s_own_post(world, login):
    u, acc = world.users, world.acc
    mine = posts.create(u.smm, text="Мой", account_ids=[acc["s_vk"].id]).publication
    theirs = posts.create(u.smm2, text="Чужой", account_ids=[acc["m_vk"].id]).publication
    db.session.commit()
    theirs.deliveries[0].state = "failed"
    db.session.commit()
    client = login(u.smm)
    resp = client.post(f"/posts/{mine.id}/deliveries/{theirs.deliveries[0].id}/resend")
    assert resp.status_code == 404 and world.calls.resend == []
    assert db.session.get(Delivery, theirs.deliveries[0].id).state == "failed"


def test_markup_in_an_account_s_title_and_a_participant_s_name_is_escaped_on_every_page(world, login):
    evil = '<img src=x onerror=alert(1)>'
    world.acc["s_vk"].title = evil
    world.school.short_name = evil
    db.session.commit()
    client = login(world.users.press)
    resp = client.post("/posts/new", data={"text": "x", "go": "now", "accounts": [world.acc["s_vk"].id]})
    assert resp.status_code == 303
    pub = db.session.scalar(select(Publication))
    pub.deliveries[0].state, pub.deliveries[0].last_error = "failed", f"ВКонтакте «{evil}»: ошибка"
    db.session.commit()
    pages = [client.post("/posts/preview", data={"text": "x", "accounts": [world.acc["s_vk"].id]}),
             client.get("/posts/new"), client.get(f"/posts/{pub.id}"), client.get(f"/posts/{pub.id}/status"),
             client.get("/posts"), client.get("/posts/calendar", query_string={"participant": world.school.slug})]
    for resp in pages:
        assert resp.status_code == 200 and "<img src=x" not in html(resp), resp.request.path
