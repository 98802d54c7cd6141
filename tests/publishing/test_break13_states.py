"""Breaking cross-posting (issue 13) through its states: cancelling or deleting a post while a copy is being sent,
«отправить ещё раз» on a cancelled or deleted post, the same key with other photos, a participant switched off
after its post was scheduled. The post's state must never say something the platforms contradict."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Publication
from app.services.errors import DomainError, InvalidTransition, ValidationFailed
from app.services.publishing import outbox, posts
from tests.factories import make_institution, make_user
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, png_bytes
from tests.publishing.engine_support import NOW, delivery_of, make_account, make_publication

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world


def html(resp) -> str:
    return resp.get_data(as_text=True)


def reload(pub) -> Publication:
    db.session.expire_all()
    return db.session.get(Publication, pub.id)


# --- cancel / delete while a copy is on its way ----------------------------------------------------------------
def test_a_post_with_a_copy_being_sent_cannot_be_cancelled(world, login):
    # The worker claimed one copy (committed «sending») a moment before the author pressed «Отменить»: the copy
    # will reach the network; a post shown «отменён» would be a lie.
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Скоро", account_ids=[acc["s_vk"].id, acc["s_ok"].id]).publication
    db.session.commit()
    pub.deliveries[0].state = "sending"
    db.session.commit()
    with pytest.raises(InvalidTransition) as caught:
        posts.cancel(u.smm, pub)
    assert "отправляется" in caught.value.message
    db.session.rollback()
    client = login(u.smm)
    resp = client.post(f"/posts/{pub.id}/cancel")
    assert resp.status_code == 422 and "отправляется" in html(resp)
    pub = reload(pub)
    assert pub.state == "scheduled" and [d.state for d in pub.deliveries] == ["sending", "scheduled"]


def test_a_post_with_a_copy_already_published_cannot_be_cancelled_either(world):
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Скоро", account_ids=[acc["s_vk"].id, acc["s_ok"].id]).publication
    db.session.commit()
    pub.deliveries[0].state = "published"  # the post's own state not yet rolled up
    db.session.commit()
    with pytest.raises(InvalidTransition):
        posts.cancel(u.smm, pub)


def test_a_published_post_cannot_be_deleted_while_a_copy_is_being_sent(world, login):
    # The copy in flight would be published after «удалён везде» and stay on the network.
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Был", account_ids=[acc["s_vk"].id, acc["s_telegram"].id]).publication
    db.session.commit()
    pub.state = "publishing"
    pub.deliveries[0].state, pub.deliveries[1].state = "published", "sending"
    db.session.commit()
    with pytest.raises(InvalidTransition) as caught:
        posts.delete_published(u.smm, pub)
    assert "отправляется" in caught.value.message
    db.session.rollback()
    resp = login(u.smm).post(f"/posts/{pub.id}/delete", data={"confirm": "yes"})
    assert resp.status_code == 422 and "отправляется" in html(resp)
    assert reload(pub).state == "publishing" and world.calls.delete == []


# --- «отправить ещё раз» where the post is gone --------------------------------------------------------------------
@pytest.mark.parametrize("gone", ["cancelled", "deleted"])
def test_resend_of_a_copy_of_a_cancelled_or_deleted_post_is_refused(world, login, gone):
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Был", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    pub.state, pub.deliveries[0].state = gone, "failed"  # it failed while being sent, then the post went away
    db.session.commit()
    with pytest.raises(InvalidTransition):
        posts.resend(u.smm, pub.deliveries[0])
    resp = login(u.smm).post(f"/posts/{pub.id}/deliveries/{pub.deliveries[0].id}/resend")
    assert resp.status_code == 422 and world.calls.resend == []
    assert "отправить ещё раз" not in html(login(u.smm).get(f"/posts/{pub.id}"))


def test_cancel_twice_delete_twice_approve_twice_are_sentences(world, login):
    u, acc = world.users, world.acc
    world.school.posts_need_approval = True
    pub = posts.create(u.smm, text="Раз", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    press = login(u.press)
    assert press.post(f"/posts/{pub.id}/approve").status_code == 303
    second = press.post(f"/posts/{pub.id}/approve")
    assert second.status_code == 422 and "не ждёт согласования" in html(second)
    assert press.post(f"/posts/{pub.id}/reject", data={"reason": "поздно"}).status_code == 422
    assert press.post(f"/posts/{pub.id}/cancel").status_code == 303
    again = press.post(f"/posts/{pub.id}/cancel")
    assert again.status_code == 422 and "нельзя отменить" in html(again)
    for url in (f"/posts/{pub.id}/approve", f"/posts/{pub.id}/delete", f"/posts/{pub.id}/text"):
        resp = press.post(url, data={"confirm": "yes", "text": "x"})
        assert resp.status_code == 422, url
    assert reload(pub).state == "cancelled"


# --- the same key ------------------------------------------------------------------------------------------------
def test_the_same_key_with_other_photos_of_the_same_size_is_another_post(world):
    u, acc = world.users, world.acc
    a = posts.Upload("a.jpg", JPEG)
    b = posts.Upload("b.jpg", JPEG[:-3] + b"\x01\xff\xd9")  # the same size, other bytes
    assert len(a.content) == len(b.content)
    first = posts.create(u.smm, text="Афиша", photos=[a], account_ids=[acc["s_vk"].id], key="weekly")
    db.session.commit()
    again = posts.create(u.smm, text="Афиша", photos=[posts.Upload("a-copy.jpg", JPEG)], account_ids=[acc["s_vk"].id],
                         key="weekly")
    assert again.created is False and again.publication.id == first.publication.id  # the same post: nothing new
    with pytest.raises(ValidationFailed) as caught:
        posts.create(u.smm, text="Афиша", photos=[b], account_ids=[acc["s_vk"].id], key="weekly")
    assert "уже использован" in caught.value.message
    db.session.rollback()
    assert db.session.scalar(select(func.count(Publication.id))) == 1


def test_the_same_key_with_a_png_instead_of_a_jpeg_is_another_post(world):
    u, acc = world.users, world.acc
    posts.create(u.smm, text="", photos=[posts.Upload("a.png", png_bytes())], account_ids=[acc["s_vk"].id], key="k")
    db.session.commit()
    with pytest.raises(DomainError):
        posts.create(u.smm, text="", photos=[posts.Upload("a.png", png_bytes(3, 1))], account_ids=[acc["s_vk"].id],
                     key="k")


# --- the engine: a participant switched off after its post was scheduled ---------------------------------------
@pytest.fixture
def school_smm():
    return make_user("smm", institution=make_institution())


def test_a_participant_switched_off_after_scheduling_gets_no_post(school_smm, fakenet, outbox_jobs, pub_clock):
    # The participant left the programme (its row switched off, its accounts left as they were): the post planned
    # for tomorrow must not go to its accounts with the tokens it once gave us.
    tg = make_account(school_smm.institution, "telegram")
    pub = make_publication(school_smm, [tg])
    outbox.release(pub, now=NOW)
    db.session.commit()
    school_smm.institution.is_active = False
    db.session.commit()
    assert outbox.publish_due(pub.id, now=NOW) == {"failed": 1}
    row = delivery_of(pub, tg)
    assert "участник отключён" in row.last_error and fakenet.sends_to(tg) == []
    # released after the switch-off: refused beforehand, with the same sentence
    later = make_publication(school_smm, [tg])
    outbox.release(later, now=NOW)
    db.session.commit()
    assert delivery_of(later, tg).state == "refused" and "участник отключён" in delivery_of(later, tg).last_error


# --- rights that changed after the post was made ----------------------------------------------------------------
def test_resend_to_an_account_the_user_may_no_longer_publish_to_is_refused(world, login):
    # The smm moved to the museum: its old school post stays visible to it (its author), but «отправить ещё
    # раз» would publish to the school's account on behalf of someone no longer bound to it.
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Школьный", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    pub.state, pub.deliveries[0].state = "done", "failed"
    u.smm.institution_id = world.museum.id
    db.session.commit()
    with pytest.raises(DomainError) as caught:
        posts.resend(u.smm, pub.deliveries[0])
    assert "недоступен" in caught.value.message and world.calls.resend == []
    db.session.rollback()
    posts.resend(u.press, db.session.get(Publication, pub.id).deliveries[0])  # the press service still may
    assert len(world.calls.resend) == 1


def test_a_form_submitted_again_after_its_post_was_made_says_so_in_the_page_s_words(world, login):
    import re
    client = login(world.users.smm)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]{32})"', html(client.get("/posts/new"))).group(1)
    data = {"text": "Первый", "accounts": [world.acc["s_vk"].id], "go": "now", "form_key": key}
    assert client.post("/posts/new", data=data).status_code == 303
    again = client.post("/posts/new", data={**data, "text": "Второй (назад в браузере и правка)"})
    page = html(again)
    assert again.status_code == 422 and "возьмите новый ключ" not in page  # the web author has no key to take
    assert "уже создан" in page
    new_key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    assert new_key != key  # pressing again now makes the second post, as the author wants
    assert client.post("/posts/new", data={**data, "text": "Второй", "form_key": new_key}).status_code == 303
    assert db.session.scalar(select(func.count(Publication.id))) == 2


def test_the_list_says_when_it_shows_only_the_newest_posts(world, login, monkeypatch):
    from app.blueprints.publishing import routes
    monkeypatch.setattr(routes, "LIST_LIMIT", 3)
    for n in range(4):
        posts.create(world.users.smm, text=f"Пост {n}", account_ids=[world.acc["s_vk"].id])
    page = html(login(world.users.smm).get("/posts"))
    assert "Пост 3" in page and "Пост 0" not in page and "Показаны последние 3 постов" in page


def test_a_published_post_s_text_cannot_be_edited_while_a_copy_is_being_sent(world, login):
    # The copy in flight goes with the old text (its plan was made when it started) and no result would say so.
    u, acc = world.users, world.acc
    pub = posts.create(u.smm, text="Старый", account_ids=[acc["s_vk"].id, acc["s_telegram"].id]).publication
    db.session.commit()
    pub.state = "publishing"
    pub.deliveries[0].state, pub.deliveries[1].state = "published", "sending"
    db.session.commit()
    with pytest.raises(InvalidTransition) as caught:
        posts.edit_published(u.smm, pub, "Новый")
    assert "отправляется" in caught.value.message
    db.session.rollback()
    assert reload(pub).text == "Старый" and world.calls.edit == []


def test_a_scheduled_post_whose_moment_passed_unsent_can_be_moved_but_not_to_the_past(world, login):
    from datetime import timedelta

    from app.models.base import utcnow
    u, acc = world.users, world.acc
    soon = utcnow() + timedelta(minutes=5)
    pub = posts.create(u.smm, text="Утром", account_ids=[acc["s_vk"].id], at=soon).publication
    db.session.commit()
    # the moment passed, no worker has taken the copy yet (a scheduler restarting)
    later = soon + timedelta(minutes=1)
    with pytest.raises(ValidationFailed) as caught:
        posts.update(u.smm, pub, text="Утром", account_ids=[acc["s_vk"].id], at=soon, now=later)
    assert "уже прошло" in caught.value.message
    db.session.rollback()
    pub = reload(pub)
    posts.update(u.smm, pub, text="Вечером", account_ids=[acc["s_vk"].id], at=later + timedelta(hours=8), now=later)
    db.session.commit()
    pub = reload(pub)
    assert pub.text == "Вечером" and [d.state for d in pub.deliveries] == ["scheduled"]
    assert pub.scheduled_at == later + timedelta(hours=8)


def test_the_same_cli_key_after_the_press_service_approved_late_is_still_the_same_post(app, world):
    # Approval after the post's moment makes it go at once (scheduled_at cleared): the script's next run with the
    # same key and the same --at must be «ничего нового», not «ключ уже использован для другого поста».
    from datetime import datetime, timedelta, timezone
    world.school.posts_need_approval = True
    db.session.commit()
    at = (datetime.now(timezone.utc) + timedelta(days=2)).astimezone(posts.city_tz()).strftime("%Y-%m-%d %H:%M")
    args = ["posts", "publish", "--text", "Ярмарка", "--accounts", str(world.acc["s_vk"].id), "--at", at,
            "--key", "fair", "--as", world.users.smm.username]
    first = app.test_cli_runner().invoke(args=args)
    assert first.exit_code == 0, first.output
    pub = db.session.scalar(select(Publication))
    posts.approve(world.users.press, pub, now=pub.scheduled_at + timedelta(minutes=5))
    db.session.commit()
    assert pub.scheduled_at is None
    again = app.test_cli_runner().invoke(args=args)
    assert again.exit_code == 0 and "ничего нового" in again.output, again.output
    assert db.session.scalar(select(func.count(Publication.id))) == 1


# --- two press users at once, on PostgreSQL's row locks (real connections, no test transaction) ----------------
@pytest.mark.no_db_rollback
def test_two_press_users_approving_at_once_release_the_post_once(app, monkeypatch):
    import threading

    from app.models import Notification
    from tests.support import wipe_tables
    released_ids: list[int] = []
    monkeypatch.setattr(outbox, "release", lambda pub, now=None: released_ids.append(pub.id))
    try:
        school = make_institution()
        school.posts_need_approval = True
        smm = make_user("smm", institution=school)
        press = [make_user("press"), make_user("press")]
        vk = make_account(school, "vk")
        db.session.commit()
        pub_id = posts.create(smm, text="Согласуйте", account_ids=[vk.id]).publication.id
        db.session.commit()
        ids = [u.id for u in press]
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def approve(user_id: int):
            with app.app_context():
                try:
                    from app.models import User
                    user = db.session.get(User, user_id)
                    pub = db.session.get(Publication, pub_id)
                    barrier.wait()
                    posts.approve(user, pub)
                    db.session.commit()
                    outcomes.append("approved")
                except InvalidTransition:
                    db.session.rollback()
                    outcomes.append("refused")
                finally:
                    db.session.remove()

        runs = [threading.Thread(target=approve, args=(i,)) for i in ids]
        for t in runs:
            t.start()
        for t in runs:
            t.join(30)
        assert sorted(outcomes) == ["approved", "refused"]
        assert released_ids == [pub_id]
        db.session.expire_all()
        assert db.session.get(Publication, pub_id).state == "scheduled"
        notes = db.session.scalars(select(Notification).where(Notification.kind == "publication_approved")).all()
        assert len(notes) == 1  # the author is told once
    finally:
        db.session.rollback()
        wipe_tables()
